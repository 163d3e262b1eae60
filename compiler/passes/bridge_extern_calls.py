"""mlirfuse-bridge-extern-calls: extern calls on tensors become runtime calls on buffers.

Matches: `func.call`s of extern declarations (compiler/extern.py: `func.func private
@mlirfuse_extern_op_<k>` with the op's spec in `mlirfuse.extern`) on tensors, before
bufferization.
Rewrites: each call's operands become buffers (`bufferization.to_buffer`, read-only,
right before the call), each result a new buffer (`memref.alloc`) the call writes,
seen as a tensor again (`bufferization.to_tensor restrict writable`), so one-shot
bufferization places everything around it; the declaration gets a body on those buffers
that writes their addresses, offsets, sizes and strides after the spec's address and
length into a memref<?xindex> and calls the runtime's `mlirfuse_extern_call`
(runtime/cpu/mlirfuse_extern.cpp: the op through torch's dispatcher). The spec is a
constant global of its bytes; an operand that is a constant (a global of the host code
after bufferization, while the op may run on a GPU) adds a `host <input index>` line.

Before:
  func.func private @mlirfuse_extern_op_0(tensor<4x4xf32>) -> tensor<4x4xf32>
      attributes {mlirfuse.extern = "op aten::linalg_qr ..."}
  %q = call @mlirfuse_extern_op_0(%a) : (tensor<4x4xf32>) -> tensor<4x4xf32>
After:
  memref.global "private" constant @mlirfuse_extern_op_0_spec : memref<97xi8> = dense<...>
  func.func private @mlirfuse_extern_op_0(%in: memref<4x4xf32, strided<[?, ?], offset: ?>>,
                                          %out: memref<4x4xf32>) {
    ... words = [spec, 97, %in's address, offset, sizes, strides, %out's ...]
    call @mlirfuse_extern_call(%words) : (memref<?xindex>) -> ()
  }
  %b = bufferization.to_buffer %a read_only : ...
  %o = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
  call @mlirfuse_extern_op_0(%b, %o) : (...) -> ()
  %q = bufferization.to_tensor %o restrict writable : memref<4x4xf32> to tensor<4x4xf32>
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, func, memref

from .. import extern
from . import structured as st
from .base import Pass, PassError

RUNTIME = "mlirfuse_extern_call"

# Ops through which a constant stays a constant's memory after bufferization (views).
_VIEWS = {"tensor.cast", "tensor.expand_shape", "tensor.collapse_shape",
          "tensor.extract_slice"}


def _is_host_constant(value: ir.Value) -> bool:
    """Whether `value` is a constant (or a view of one): after bufferization, a global of
    the host module, in host memory on every target. A kernel reads the device's copy of
    such a global, but an extern call gets the host's address."""
    op = st.defining_op(value)
    while op is not None and op.name in _VIEWS:
        op = st.defining_op(op.operands[0])
    return op is not None and op.name == "arith.constant"


def _dynamic_layout(t: ir.RankedTensorType) -> ir.Type:
    """The memref type of a tensor's buffer with any strides and offset."""
    rank = len(t.shape)
    layout = ir.StridedLayoutAttr.get(ir.ShapedType.get_dynamic_stride_or_offset(),
                                      [ir.ShapedType.get_dynamic_stride_or_offset()] * rank)
    return ir.MemRefType.get(t.shape, t.element_type, layout)


def _result_sizes(spec: str) -> dict[tuple[int, int], tuple[int, int]]:
    """The spec's `size R D I J` lines: (result, dimension) -> (input, dimension)."""
    out = {}
    for line in spec.splitlines():
        if line.startswith("size "):
            r, d, i, j = map(int, line.split()[1:])
            out[r, d] = (i, j)
    return out


def _body(name: str, arg_types: list[ir.Type], spec_len: int) -> str:
    """The text of the declaration's new body: the words, then the runtime call."""
    ranks = [ir.MemRefType(t).rank for t in arg_types]
    count = 2 + sum(2 + 2 * r for r in ranks)
    lines = [f"%words = memref.alloca() : memref<{count}xindex>",
             f"%spec = memref.get_global @{name}_spec : memref<{spec_len}xi8>",
             f"%spec_ptr = memref.extract_aligned_pointer_as_index %spec : "
             f"memref<{spec_len}xi8> -> index",
             f"%spec_len = arith.constant {spec_len} : index"]
    words = ["%spec_ptr", "%spec_len"]
    for i, (t, r) in enumerate(zip(arg_types, ranks)):
        element = ir.MemRefType(t).element_type
        outs = [f"%base{i}", f"%offset{i}"] + \
            ([f"%sizes{i}:{r}", f"%strides{i}:{r}"] if r else [])
        lines.append(f"{', '.join(outs)} = memref.extract_strided_metadata %a{i} : {t} -> "
                     f"memref<{element}>, " + ", ".join(["index"] * (1 + 2 * r)))
        lines.append(f"%ptr{i} = memref.extract_aligned_pointer_as_index %a{i} : {t} -> index")
        words += [f"%ptr{i}", f"%offset{i}"]
        words += [f"%sizes{i}#{d}" for d in range(r)] + [f"%strides{i}#{d}" for d in range(r)]
    for w, value in enumerate(words):
        lines.append(f"%i{w} = arith.constant {w} : index")
        lines.append(f"memref.store {value}, %words[%i{w}] : memref<{count}xindex>")
    lines.append(f"%all = memref.cast %words : memref<{count}xindex> to memref<?xindex>")
    lines.append(f"func.call @{RUNTIME}(%all) : (memref<?xindex>) -> ()")
    lines.append("func.return")
    args = ", ".join(f"%a{i}: {t}" for i, t in enumerate(arg_types))
    return f"func.func private @{name}({args}) {{\n" + "\n".join(lines) + "\n}"


@dataclasses.dataclass
class BridgeExternCalls(Pass):
    """Turns extern calls on tensors into runtime calls on buffers (before bufferization)."""

    ARGUMENT = "mlirfuse-bridge-extern-calls"

    def run(self, module: ir.Operation) -> None:
        decls = {ir.StringAttr(d.attributes["sym_name"]).value: d
                 for d in extern.declarations(module)}
        if not decls:
            return
        arg_types: dict[str, list[ir.Type]] = {}
        host: dict[str, list[int]] = {}  # the inputs that are host constants, per call
        for fn in st.functions(module):
            for op in [o for o in st.walk(fn) if extern.is_call(o)]:
                callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
                if callee in arg_types:  # compiler/extern.py: a declaration per call
                    raise PassError(f"extern declaration @{callee} called twice", op.location)
                host[callee] = [i for i, v in enumerate(op.operands) if _is_host_constant(v)]
                spec = ir.StringAttr(decls[callee].attributes[extern.ATTR]).value
                arg_types[callee] = self._bridge(op, spec)
        # Parsed together: each body's get_global and call must find their symbols to
        # verify; then moved into the module.
        texts = [f"func.func private @{RUNTIME}(memref<?xindex>)"]
        for name, decl in decls.items():
            if name not in arg_types:  # no call left (its results were unused and folded)
                continue
            text = ir.StringAttr(decl.attributes[extern.ATTR]).value + \
                "".join(f"\nhost {i}" for i in host[name])
            decl.attributes[extern.ATTR] = ir.StringAttr.get(text)
            spec = text.encode()
            data = ", ".join(str(b - 256 if b > 127 else b) for b in spec)
            texts.append(f'memref.global "private" constant @{name}_spec : '
                         f"memref<{len(spec)}xi8> = dense<[{data}]>")
            texts.append(_body(name, arg_types[name], len(spec)))
        parsed = ir.Module.parse("\n".join(texts))
        first = module.regions[0].blocks[0].operations[0]
        for op in list(parsed.body.operations):
            op = op.operation
            op.move_before(first)
            if op.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value in decls:
                name = ir.StringAttr(op.attributes["sym_name"]).value
                op.attributes[extern.ATTR] = decls[name].attributes[extern.ATTR]
        for decl in decls.values():
            decl.erase()

    @staticmethod
    def _bridge(call: ir.Operation, spec: str) -> list[ir.Type]:
        """Rewrites one call (`spec`: its declaration's); returns the buffer types the
        declaration takes. A result of symbolic sizes is allocated with the input sizes the
        spec's `size` lines name."""
        results = [ir.RankedTensorType(r.type) for r in call.results]
        sizes = _result_sizes(spec)
        dynamic = ir.ShapedType.get_dynamic_size()
        if any(n == dynamic and (r, d) not in sizes for r, t in enumerate(results)
               for d, n in enumerate(t.shape)):
            raise PassError("an extern call with dynamic result sizes no input gives",
                            call.location)
        with ir.InsertionPoint(call), call.location:
            buffers = []
            for value in call.operands:
                buffers.append(bufferization.ToBufferOp(
                    _dynamic_layout(ir.RankedTensorType(value.type)), value,
                    read_only=True).result)
            outs = []
            for r, t in enumerate(results):
                dims = [memref.DimOp(buffers[sizes[r, d][0]], arith.ConstantOp(
                    ir.IndexType.get(), sizes[r, d][1]).result).result
                    for d, n in enumerate(t.shape) if n == dynamic]
                alloc = memref.AllocOp(ir.MemRefType.get(t.shape, t.element_type), dims, [])
                alloc.attributes["alignment"] = ir.IntegerAttr.get(
                    ir.IntegerType.get_signless(64), 64)
                outs.append(alloc.result)
            callee = ir.FlatSymbolRefAttr(call.attributes["callee"]).value
            func.CallOp([], ir.FlatSymbolRefAttr.get(callee), buffers + outs)
            tensors = [bufferization.ToTensorOp(t, o, restrict=True, writable=True).result
                       for t, o in zip(results, outs)]
        for old, new in zip(call.results, tensors):
            old.replace_all_uses_with(new)
        types = [b.type for b in buffers + outs]
        call.erase()
        return types
