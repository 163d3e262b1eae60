"""mlirfuse-workspace: place the host's temporary buffers in one workspace the caller passes.

Matches: `memref.alloc` ops of static shape in the entry function (`mlirfuse.abi`)
outside any `gpu.launch`: buffers between kernels, and tile temporaries too
large for shared memory.
Rewrites: the function gets a last argument `memref<?xi8>`, the workspace, and
each allocation becomes a `memref.view` of it at its own 256-byte aligned
offset (its deallocations go). The workspace's size in bytes is recorded as
`mlirfuse.workspace` on the function: the runtime allocates it with torch's
caching allocator for each call (device memory for GPU kernels; the compiled
code never allocates). Functions without such allocations are left alone.

Symbolic sizes: a temporary whose sizes depend on the call (memref.alloc(%n)) is placed
after the static ones, each at an offset computed on the host from the sizes; the size
attribute is then an expression of the arguments' sizes (a string: `(dim K D)` is size D of
argument K, with `+`, `*`, `ceildiv`... in prefix form), which the runtime evaluates per
call. Such temporaries must sit in one block (each offset needs the sizes before it).

Before:
  func.func @main(%x: memref<...>, %out: memref<...>) -> i32 attributes {mlirfuse.abi} {
    %t = memref.alloc() : memref<64x16xf32>
    ...
  }
After:
  func.func @main(%x: memref<...>, %out: memref<...>, %ws: memref<?xi8>) -> i32
      attributes {mlirfuse.abi, mlirfuse.workspace = 4096 : i64} {
    %t = memref.view %ws[%c0][] : memref<?xi8> to memref<64x16xf32>
    ...
  }
"""

from __future__ import annotations

import dataclasses
import math

from torch_mlir import ir
from torch_mlir.dialects import arith, memref

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass, PassError
from ...compiler.passes.destination_style_abi import MARK

ATTR = "mlirfuse.workspace"
ALIGN = 256


def _host_allocs(op: ir.Operation) -> list[ir.Operation]:
    found = []
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                child = child.operation
                if child.name == "memref.alloc":
                    found.append(child)
                elif child.name != "gpu.launch":
                    found += _host_allocs(child)
    return found


@dataclasses.dataclass
class Workspace(Pass):
    """Turns the entry function's host allocations into views of one workspace argument."""

    ARGUMENT = "mlirfuse-workspace"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module, marked=MARK):
            allocs = _host_allocs(fn)
            if allocs:
                with fn.location:
                    self._place(fn, allocs)

    @staticmethod
    def _place(fn: ir.Operation, allocs: list[ir.Operation]) -> None:
        entry = fn.regions[0].blocks[0]
        bytes_type = ir.MemRefType.get([ir.ShapedType.get_dynamic_size()],
                                       ir.IntegerType.get_signless(8))
        workspace = entry.add_argument(bytes_type, fn.location)
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        fn.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(list(ftype.inputs) + [bytes_type], list(ftype.results)))
        if "arg_attrs" in fn.attributes:
            attrs = list(ir.ArrayAttr(fn.attributes["arg_attrs"]))
            fn.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs + [ir.DictAttr.get({})])
        offset = 0
        dynamic = []
        for alloc in allocs:
            t = ir.MemRefType(alloc.results[0].type)
            if ir.AffineMapAttr(t.layout).value != ir.AffineMap.get_identity(t.rank):
                raise PassError(f"a temporary buffer of non-identity layout: {t}",
                                alloc.location)
            if not t.has_static_shape:
                dynamic.append(alloc)
                continue
            with ir.InsertionPoint(alloc), alloc.location:
                at = arith.ConstantOp(ir.IndexType.get(), offset).result
                _replace(alloc, memref.ViewOp(t, workspace, at, []).result)
            size = math.prod(t.shape) * st.element_bytes(t.element_type)
            offset += -(-size // ALIGN) * ALIGN
        if not dynamic:
            fn.attributes[ATTR] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), offset)
            return
        if any(d.operation.block != dynamic[0].operation.block for d in dynamic):
            raise PassError("temporaries of symbolic sizes in several blocks",
                            dynamic[1].location)
        arguments = list(entry.arguments)
        terms = [str(offset)]  # the bytes of each temporary, padded; one sum of them
        at = None  # the next dynamic temporary's offset, a host value
        for alloc in dynamic:
            t = ir.MemRefType(alloc.results[0].type)
            sizes = list(alloc.operands)
            static = math.prod(n for n in t.shape if n != ir.ShapedType.get_dynamic_size())
            size_expr = _product([_expr(v, arguments) for v in sizes] +
                                 [str(static * st.element_bytes(t.element_type))])
            with ir.InsertionPoint(alloc), alloc.location:
                index = ir.IndexType.get()
                here = at if at is not None else arith.ConstantOp(index, offset).result
                view = memref.ViewOp(t, workspace, here, sizes).result
                nbytes = arith.ConstantOp(index, static * st.element_bytes(t.element_type)
                                          ).result
                for v in sizes:
                    nbytes = arith.MulIOp(nbytes, v).result
                align = arith.ConstantOp(index, ALIGN).result
                padded = arith.MulIOp(arith.CeilDivUIOp(nbytes, align).result, align).result
                at = arith.AddIOp(here, padded).result
            _replace(alloc, view)
            terms.append(f"(* (ceildiv {size_expr} {ALIGN}) {ALIGN})")
        fn.attributes[ATTR] = ir.StringAttr.get(f"(+ {' '.join(terms)})")


def _replace(alloc: ir.Operation, view: ir.Value) -> None:
    for use in list(alloc.results[0].uses):
        if st.owner_op(use).name == "memref.dealloc":
            st.owner_op(use).erase()
    alloc.results[0].replace_all_uses_with(view)
    alloc.erase()


def _product(terms: list[str]) -> str:
    out = terms[0]
    for term in terms[1:]:
        out = f"(* {out} {term})"
    return out


# Host arithmetic the sizes of a temporary may be computed with, by expression name.
_ARITH = {"arith.muli": "*", "arith.addi": "+", "arith.subi": "-", "arith.divui": "/",
          "arith.divsi": "/", "arith.ceildivui": "ceildiv", "arith.ceildivsi": "ceildiv",
          "arith.remui": "%", "arith.remsi": "%", "arith.maxsi": "max", "arith.maxui": "max",
          "arith.minsi": "min", "arith.minui": "min"}


# arith.cmpi's predicates by number (eq, ne, slt, sle, sgt, sge, ult, ule, ugt, uge).
_PREDICATES = ["==", "!=", "<", "<=", ">", ">=", "<", "<=", ">", ">="]
_AFFINE = ((ir.AffineAddExpr, "+"), (ir.AffineMulExpr, "*"), (ir.AffineModExpr, "%"),
           (ir.AffineFloorDivExpr, "/"), (ir.AffineCeilDivExpr, "ceildiv"))


def _affine(expr: ir.AffineExpr, operands: list[str], dims: int) -> str:
    if isinstance(expr, ir.AffineDimExpr):
        return operands[expr.position]
    if isinstance(expr, ir.AffineSymbolExpr):
        return operands[dims + expr.position]
    if isinstance(expr, ir.AffineConstantExpr):
        return str(expr.value)
    for kind, name in _AFFINE:
        if isinstance(expr, kind):
            return f"({name} {_affine(expr.lhs, operands, dims)} " \
                   f"{_affine(expr.rhs, operands, dims)})"
    raise PassError(f"a temporary's size computed by the affine expression {expr}")


def _expr(value: ir.Value, arguments: list[ir.Value]) -> str:
    """`value` (an index computed on the host) as an expression of the arguments' sizes;
    PassError when it is computed otherwise (then the sizes are specialized)."""
    op = st.defining_op(value)
    if op is None:
        raise PassError("a temporary's size is not computed from the arguments' sizes",
                        None)
    name = op.name
    if name == "arith.constant":
        return str(ir.IntegerAttr(op.attributes["value"]).value)
    if name in _ARITH:
        a, b = (_expr(v, arguments) for v in op.operands)
        return f"({_ARITH[name]} {a} {b})"
    if name in ("arith.index_cast", "arith.index_castui", "arith.extui", "arith.extsi"):
        return _expr(op.operands[0], arguments)
    if name == "arith.cmpi":
        predicate = _PREDICATES[ir.IntegerAttr(op.attributes["predicate"]).value]
        a, b = (_expr(v, arguments) for v in op.operands)
        return f"({predicate} {a} {b})"
    if name == "arith.select":
        c, a, b = (_expr(v, arguments) for v in op.operands)
        return f"(select {c} {a} {b})"
    if name == "affine.apply":
        amap = ir.AffineMapAttr(op.attributes["map"]).value
        operands = [_expr(v, arguments) for v in op.operands]
        return _affine(amap.results[0], operands, amap.n_dims)
    if name == "memref.dim":
        d = st.defining_op(op.operands[1])
        if d is None or d.name != "arith.constant":
            raise PassError("memref.dim of a dimension known only at run time", op.location)
        return _size(op.operands[0], ir.IntegerAttr(d.attributes["value"]).value, arguments)
    if name == "memref.extract_strided_metadata":
        rank = ir.MemRefType(op.operands[0].type).rank
        position = next(i for i, r in enumerate(op.results) if r == value)
        if 2 <= position < 2 + rank:
            return _size(op.operands[0], position - 2, arguments)
    raise PassError(f"a temporary's size computed by '{name}', which the runtime cannot "
                    "evaluate", op.location)


# Ops whose result sizes are operands where dynamic: (attribute of all sizes, or None for
# the result type's; the operands).
_SIZE_OPERANDS = {"memref.reinterpret_cast": ("static_sizes", "sizes"),
                  "memref.subview": ("static_sizes", "sizes"),
                  "memref.expand_shape": ("static_output_shape", "output_shape"),
                  "memref.alloc": (None, "dynamicSizes"), "memref.view": (None, "sizes")}


def _size(buffer: ir.Value, d: int, arguments: list[ir.Value]) -> str:
    """Size `d` of `buffer` as an expression of the arguments' sizes."""
    for k, argument in enumerate(arguments):
        if buffer == argument:
            return f"(dim {k} {d})"
    t = ir.MemRefType(buffer.type)
    if t.shape[d] != ir.ShapedType.get_dynamic_size():
        return str(t.shape[d])
    op = st.defining_op(buffer)
    unknown = ir.ShapedType.get_dynamic_size()
    if op is not None and op.name in _SIZE_OPERANDS:
        # One operand per dynamic size, in order (a temporary placed in the workspace
        # already is a view).
        attr, operands = _SIZE_OPERANDS[op.name]
        static = list(ir.DenseI64ArrayAttr(op.attributes[attr])) if attr else t.shape
        position = sum(1 for n in static[:d] if n == unknown)
        return _expr(list(getattr(op.opview, operands))[position], arguments)
    if op is not None and op.name == "memref.collapse_shape":
        groups = [list(ir.ArrayAttr(g)) for g in ir.ArrayAttr(op.attributes["reassociation"])]
        return _product([_size(op.operands[0], ir.IntegerAttr(i).value, arguments)
                         for i in groups[d]])
    if op is not None and op.name == "memref.cast":
        return _size(op.operands[0], d, arguments)
    raise PassError("a temporary's size comes from a buffer the runtime cannot see",
                    None if op is None else op.location)
