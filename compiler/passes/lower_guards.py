"""mlirfuse-lower-guards: turn guards into run-time checks that run before any kernel.

Matches: entry functions (`mlirfuse.abi`) on buffers, after bufferization and
mlirfuse-drop-destination-results, whose `mlirfuse.guard` ops take
`bufferization.to_tensor` of an argument.
Rewrites:
  * every guarded argument becomes a fully dynamic memref (`memref<?x?xf32,
    strided<[?, ?], offset: ?>>`), so its sizes and strides are read from the
    caller's descriptor and never folded to the static type's constants;
  * at the top, the sizes and strides in each descriptor are compared with the
    guard's (strides only for dimensions of size > 1, none for empty tensors)
    into an i32 status: 0 when all hold, else 1 + the index of the first
    argument that breaks its guard (with option `alignment`, its data pointer must
    also be a multiple of that many bytes);
  * the rest of the body moves into `scf.if (status == 0)`, where each argument
    is viewed (`memref.reinterpret_cast`) as the type bufferization gave it: the static sizes
    and strides the code was built for (`bufferization.buffer_layout`, set by
    mlirfuse-insert-guards);
  * the function returns the status. A failed guard never runs a kernel.
Dynamic sizes (guard size -1): a dimension with symbol k binds k at its first
occurrence, where k's range (`mlirfuse.symbol_ranges` of the function) is checked; at
later occurrences it must equal it. Such an argument must be contiguous (each stride
the product of the later sizes, for sizes > 1), and its view has the sizes of the call.
Leaves alone: functions without guards.

Before:
  func.func @main(%x: memref<4xf32, strided<[?], offset: ?>>, ...) {
    %t = bufferization.to_tensor %x ...
    "mlirfuse.guard"(%t) {arg = 0 : i64, sizes = array<i64: 4>, strides = array<i64: 1>}
    ...kernels...
    return
  }
After:
  func.func @main(%x: memref<?xf32, strided<[?], offset: ?>>, ...) -> i32 {
    %base, %offset, %size, %stride = memref.extract_strided_metadata %x
    ... %status = arith.select %ok, %c0, %c1 : i32 ...
    scf.if %ok0 {
      %x4 = memref.reinterpret_cast %x to offset: [0], sizes: [4], strides: [1]
          : memref<?xf32, strided<[?], offset: ?>> to memref<4xf32>
      ...kernels on %x4...
    }
    return %status : i32
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import arith, func, memref, scf

from . import structured as st
from .base import Pass, PassError
from .destination_style_abi import MARK
from .insert_guards import DYNAMIC, SYMBOL_RANGES


def _dynamic_type(t: ir.MemRefType) -> ir.MemRefType:
    rank = len(t.shape)
    dyn = ir.ShapedType.get_dynamic_size()
    layout = ir.StridedLayoutAttr.get(offset=ir.ShapedType.get_dynamic_stride_or_offset(),
                                      strides=[ir.ShapedType.get_dynamic_stride_or_offset()] * rank)
    return ir.MemRefType.get([dyn] * rank, t.element_type, layout=layout)


def _contiguous_view(typ: ir.MemRefType, arg: ir.Value, sizes: list[ir.Value]) -> ir.Value:
    """The argument as `typ` (identity layout, dynamic sizes): the call's sizes and the
    contiguous strides of them."""
    dynamic = ir.ShapedType.get_dynamic_size()
    dyn_stride = ir.ShapedType.get_dynamic_stride_or_offset()
    static_strides, _ = typ.get_strides_and_offset()  # static where the later sizes are
    strides, step, known = [], _index(1), 1
    for size, n in reversed(list(zip(sizes, typ.shape))):
        strides.append(step)
        known = known * n if n != dynamic and known is not None else None
        step = _index(known) if known is not None else arith.MulIOp(step, size).result
    strides.reverse()
    dyn_sizes = [v for v, n in zip(sizes, typ.shape) if n == dynamic]
    dyn_strides = [v for v, s in zip(strides, static_strides) if s == dyn_stride]
    return memref.ReinterpretCastOp(typ, arg, [], dyn_sizes, dyn_strides, [0], list(typ.shape),
                                    static_strides).result


def _static_view(static: ir.MemRefType, arg: ir.Value) -> ir.Value:
    """The argument as the static type the code was built for. A reinterpret_cast, not a
    memref.cast: canonicalization folds casts into their users (linalg ops, vector
    loads), which then see the dynamic type again (and a vector load becomes invalid).
    The runtime passes every descriptor with offset 0 (allocated = aligned = data)."""
    strides, offset = static.get_strides_and_offset()
    dynamic = ir.ShapedType.get_dynamic_stride_or_offset()
    if dynamic in strides or offset != 0:  # (zero-element tensors): a cast then
        return memref.CastOp(static, arg).result
    return memref.ReinterpretCastOp(static, arg, [], [], [], [0], list(static.shape),
                                    strides).result


def _guarded_argument(guard: ir.Operation) -> ir.BlockArgument:
    owner = st.defining_op(guard.operands[0])
    if owner is None or owner.name != "bufferization.to_tensor":
        raise PassError("guard does not take an argument's buffer", guard.location)
    value = owner.operands[0]
    if not isinstance(value.owner, ir.Block):
        raise PassError("guard does not take an entry argument", guard.location)
    return value


def _index(value: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), value).result


def _equal(a: ir.Value, b: ir.Value) -> ir.Value:
    return arith.CmpIOp(arith.CmpIPredicate.eq, a, b).result


@dataclasses.dataclass
class LowerGuards(Pass):
    """Guards become descriptor checks returning a status; kernels run only when it is 0."""

    ARGUMENT = "mlirfuse-lower-guards"
    # Bytes every argument's data must be aligned to (0: any); the GPU target's vector
    # loads and stores need 16.
    alignment: int = 0

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module, marked=MARK):
            self._lower(fn)

    def _lower(self, fn: ir.Operation) -> None:
        block = fn.regions[0].blocks[0]
        guards = [o.operation for o in block.operations if o.operation.name == "mlirfuse.guard"]
        if not guards:
            return
        body_ops = [o.operation for o in block.operations]
        ret = body_ops[-1]
        checks = []  # (argument, arg index, sizes, strides, symbols or None)
        for g in guards:
            symbols = list(ir.DenseI64ArrayAttr(g.attributes["symbols"])) \
                if "symbols" in g.attributes else None
            checks.append((_guarded_argument(g),
                           ir.IntegerAttr(g.attributes["arg"]).value,
                           list(ir.DenseI64ArrayAttr(g.attributes["sizes"])),
                           list(ir.DenseI64ArrayAttr(g.attributes["strides"])), symbols))
            g.erase()
        ranges = list(ir.DenseI64ArrayAttr(fn.attributes[SYMBOL_RANGES])) \
            if SYMBOL_RANGES in fn.attributes else []
        body_ops = [o.operation for o in block.operations][:-1]
        i32 = ir.IntegerType.get_signless(32)
        index = ir.IndexType.get()
        first = body_ops[0] if body_ops else ret
        static_types = {}
        call_sizes = {}  # argument number -> its sizes in the call (dynamic arguments)
        bound = {}  # symbol -> its size in the call (its first occurrence)
        with ir.InsertionPoint(first), fn.location:
            status = arith.ConstantOp(i32, 0).result
            # The status is the first failing argument's: checks are made last to first,
            # each overriding; symbols bind at their first occurrence, so those are made
            # in order first.
            oks = {}
            for arg, number, sizes, strides, symbols in checks:
                static_types[arg.arg_number] = arg.type  # the layout the code was built for
                arg.set_type(_dynamic_type(arg.type))
                meta = memref.ExtractStridedMetadataOp(arg)
                rank = len(sizes)
                got_sizes = list(meta.results)[2:2 + rank]
                got_strides = list(meta.results)[2 + rank:]
                conditions = []
                if symbols is None:
                    pairs = list(zip(got_sizes, sizes))
                    if all(s != 0 for s in sizes):
                        pairs += [(g, s) for g, s, n in zip(got_strides, strides, sizes) if n > 1]
                    conditions += [_equal(got, _index(want)) for got, want in pairs]
                else:
                    call_sizes[arg.arg_number] = got_sizes
                    conditions += self._symbolic(got_sizes, got_strides, sizes, symbols,
                                                 bound, ranges)
                if self.alignment:  # code with vector accesses needs aligned data
                    pointer = memref.ExtractAlignedPointerAsIndexOp(arg).result
                    conditions.append(_equal(arith.RemUIOp(pointer, _index(self.alignment))
                                             .result, _index(0)))
                ok = arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result
                for condition in conditions:
                    ok = arith.AndIOp(ok, condition).result
                oks[number] = ok
            for arg, number, *_ in reversed(checks):
                code = arith.ConstantOp(i32, number + 1).result
                status = arith.SelectOp(oks[number], status, code).result
            zero = arith.ConstantOp(i32, 0).result
            passed = arith.CmpIOp(arith.CmpIPredicate.eq, status, zero).result
            branch = scf.IfOp(passed)
        then = branch.then_block
        with ir.InsertionPoint(then), fn.location:
            terminator = scf.YieldOp([])
        with ir.InsertionPoint(terminator), fn.location:
            casts = {}
            for arg, *_ in checks:
                typ = static_types[arg.arg_number]
                casts[arg.arg_number] = _static_view(typ, arg) \
                    if arg.arg_number not in call_sizes \
                    else _contiguous_view(typ, arg, call_sizes[arg.arg_number])
        for op in body_ops:
            op.move_before(terminator)
        for arg, *_ in checks:
            cast = casts[arg.arg_number]
            for use in list(arg.uses):
                owner = use.owner.operation
                if owner != cast.owner.operation and st.is_nested_in(owner, branch.operation):
                    owner.operands[use.operand_number] = cast
        with ir.InsertionPoint(ret), ret.location:
            func.ReturnOp([status])
        ret.erase()
        inputs = [a.type for a in block.arguments]
        fn.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, [i32]))


    @staticmethod
    def _symbolic(got_sizes, got_strides, sizes, symbols, bound, ranges) -> list[ir.Value]:
        """The conditions of a guard with dynamic sizes: static sizes equal, symbols
        equal to their binding (or bound here, in their range), contiguous strides."""
        conditions = []
        for got, want, symbol in zip(got_sizes, sizes, symbols):
            if want != DYNAMIC:
                conditions.append(_equal(got, _index(want)))
            elif symbol in bound:
                conditions.append(_equal(got, bound[symbol]))
            elif symbol != DYNAMIC:
                bound[symbol] = got
                low, high = ranges[2 * symbol:2 * symbol + 2] if 2 * symbol + 1 < len(ranges) \
                    else (0, DYNAMIC)
                conditions.append(arith.CmpIOp(arith.CmpIPredicate.sge, got, _index(low)).result)
                if high != DYNAMIC:
                    conditions.append(arith.CmpIOp(arith.CmpIPredicate.sle, got,
                                                   _index(high)).result)
        # Contiguous: stride_d == prod(sizes after d) wherever size_d > 1.
        one = _index(1)
        step = one
        for size, stride in reversed(list(zip(got_sizes, got_strides))):
            unit = arith.CmpIOp(arith.CmpIPredicate.sle, size, one).result
            conditions.append(arith.OrIOp(unit, _equal(stride, step)).result)
            step = arith.MulIOp(step, arith.MaxSIOp(size, one).result).result
        return conditions
