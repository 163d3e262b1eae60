"""Scalar GPU code for linalg ops on buffers, spread over the threads of a launch.

Not a pass: mlirfuse-map-to-gpu calls these inside a `gpu.launch` body. Every
helper emits at the current insertion point and takes the "workers" it may use
as a linear id and a count (a block's threads, or the whole grid's).

  * `parallel`: the op's iteration space, flattened, strided over the workers
    (consecutive workers take consecutive elements: coalesced loads along
    the innermost loop). With one worker it is the op's sequential loop
    nest, which is also correct for reductions of any kind.
  * `block_reduce`: a reduction whose body folds each output with one
    combining op (add, mul, max, min, and, or, xor): each thread folds a
    strided share of the reduction loops, `gpu.all_reduce` combines the
    threads' partial values (warp shuffles, then shared memory), and thread 0
    folds in the output's initial value and stores it.
  * `copy`: memref.copy, strided over the workers.
"""

from __future__ import annotations

import math

from torch_mlir import ir
from torch_mlir.dialects import arith, gpu, memref, scf

from ...compiler.passes import structured as st
from . import gpu_body as gb
from . import gpu_registers as rg
from . import gpu_vectors as gv

_UNSIGNED = ("arith.maxui", "arith.minui", "arith.andi", "arith.ori", "arith.xori")


def _static(extents: list[int | ir.Value]) -> bool:
    return all(isinstance(e, int) for e in extents)


def parallel(op: ir.Operation, worker: ir.Value, workers: ir.Value,
             extents: list[int | ir.Value], vector_bytes: int = 0) -> None:
    """Every point of the op's iteration space, strided over the workers. With
    `vector_bytes`, a worker takes a chunk of consecutive points along the innermost loop
    when that loop is contiguous in every operand that varies along it: one vector load
    or store of that many bytes per operand (16: ld.global.v4.f32), the body once per
    point in between. Extents known only at run time (values: symbolic sizes) make a
    strided loop of scalar code."""
    total = gb.product(extents)
    if total == 0:
        return
    width = gv.chunk_width(op, extents, vector_bytes) if _static(extents) else 1
    if width > 1:
        return gv.parallel_vectors(op, worker, workers, extents, width)

    def point(i, _):
        _store_body(op, gb.delinearize(i, extents))
        return []
    rg.for_each(worker, total, workers, point)
    value = st.uniform_value(op)
    if value is not None and isinstance(total, int) and total <= rg.UNROLL:  # a fill of an accumulator: all know it
        (out,), (amap,) = gb.outputs(op), gb.output_maps(op)
        for at in rg.constant_points(extents):
            rg.current().know(out, gb.apply_map(amap, at), value)


def _loop_indices(count: int, *placed: tuple[list[int], list[ir.Value]]) -> list[ir.Value]:
    """The indices of all `count` loops from (loops, their indices) pieces."""
    loops = [None] * count
    for positions, values in placed:
        for d, v in zip(positions, values):
            loops[d] = v
    return loops


def per_point(op: ir.Operation, worker: ir.Value, workers: ir.Value,
              extents: list[int | ir.Value]) -> None:
    """Each point of the parallel loops to one worker, which runs the reduction loops in
    order: any reduction body is right this way (argmax, Welford), none is fast."""
    reductions = gb.reduction_loops(op)
    par = [d for d in range(len(extents)) if d not in reductions]
    par_extents = [extents[d] for d in par]
    red_extents = [extents[d] for d in reductions]
    if _static(extents) and math.prod(extents) == 0:
        return

    def point(i, _):
        par_idx = gb.delinearize(i, par_extents)

        def step(j, _):
            red_idx = gb.delinearize(j, red_extents)
            _store_body(op, _loop_indices(len(extents), (par, par_idx), (reductions, red_idx)))
            return []
        rg.for_each(gb.index(0), gb.product(red_extents), gb.index(1), step)
        return []
    rg.for_each(worker, gb.product(par_extents), workers, point)


def _store_body(op: ir.Operation, loops: list[ir.Value]) -> None:
    body = gb.Body(op, loops)
    for inner in body.ops():
        body.clone(inner)
    outs = gb.outputs(op)
    for value, out, amap in zip(body.yielded(), outs, gb.output_maps(op)):
        rg.current().store(body.lookup(value), out, gb.apply_map(amap, loops))


def _identity(combiner: ir.Operation, element: ir.Type) -> ir.Value:
    kind = st.COMBINERS[combiner.name][1]
    if isinstance(element, ir.IntegerType):
        width = element.width
        value = {"zero": 0, "one": 1, "all_ones": -1,
                 "lowest": -(1 << (width - 1)), "highest": (1 << (width - 1)) - 1}[kind]
        return arith.ConstantOp(element, ir.IntegerAttr.get(element, value)).result
    value = {"zero": 0.0, "one": 1.0, "lowest": -math.inf, "highest": math.inf}[kind]
    return arith.ConstantOp(element, ir.FloatAttr.get(element, value)).result


def _widened(value: ir.Value, combiner: ir.Operation):
    """`value` widened to 32 bits when narrower (shuffles move 32-bit words), and the
    function that narrows a result back."""
    kind = value.type
    if isinstance(kind, ir.IntegerType) and kind.width < 32:
        wide = ir.IntegerType.get_signless(32)
        extend = arith.ExtUIOp if combiner.name in _UNSIGNED else arith.ExtSIOp
        return extend(wide, value).result, lambda r: arith.TruncIOp(kind, r).result
    if isinstance(kind, (ir.F16Type, ir.BF16Type)):
        return arith.ExtFOp(ir.F32Type.get(), value).result, \
            lambda r: arith.TruncFOp(kind, r).result
    return value, lambda r: r


def _all_reduce(value: ir.Value, combiner: ir.Operation) -> ir.Value:
    """gpu.all_reduce over the block (narrow values widened first)."""
    operation = ir.Attribute.parse(f"#gpu<all_reduce_op {st.COMBINERS[combiner.name][0]}>")
    wide, narrow = _widened(value, combiner)
    return narrow(gpu.AllReduceOp(wide, op=operation, uniform=True).result)


def _warp_reduce(value: ir.Value, combiner: ir.Operation) -> ir.Value:
    """A butterfly over the 32 lanes of a warp (gpu.shuffle xor, no shared memory, no
    barrier): every lane ends with the warp's total."""
    wide, narrow = _widened(value, combiner)
    i32 = ir.IntegerType.get_signless(32)
    width = arith.ConstantOp(i32, 32).result
    for offset in (16, 8, 4, 2, 1):
        other = gpu.ShuffleOp(wide, arith.ConstantOp(i32, offset).result, width,
                              gpu.ShuffleMode.XOR).results[0]
        wide = ir.Operation.create(combiner.name, results=[wide.type],
                                   operands=[wide, other]).results[0]
    return narrow(wide)


def block_reduce(op: ir.Operation, thread: ir.Value, threads: ir.Value,
                 extents: list[int | ir.Value], folds: list[ir.Operation],
                 points: ir.Value | None = None, vector_bytes: int = 0,
                 warp: bool = False) -> None:
    """A reduction whose outputs each fold with one combining op, spread over a block
    (or over the 32 lanes of a warp, `thread` being the lane, when `warp`).

    Each point of the parallel loops (all of them in sequence, or only `points`'
    one when given) is reduced by the whole block (warp). Every thread ends with the
    folded outputs (gpu.all_reduce is uniform); thread (lane) 0 stores them.
    """
    reductions = gb.reduction_loops(op)
    par = [d for d in range(len(extents)) if d not in reductions]
    red_total = gb.product([extents[d] for d in reductions])
    outs = gb.outputs(op)
    elements = [ir.MemRefType(o.type).element_type for o in outs]
    par_extents = [extents[d] for d in par]
    width = gv.chunk_width(op, extents, vector_bytes, reductions) if _static(extents) else 1
    out_args = list(op.regions[0].blocks[0].arguments)[len(op.operands) - len(outs):]

    def chunk(par_idx, i, accs):
        """Folds the chunk at reduction position `i` into the thread's partial values."""
        red_idx = gb.delinearize(i, [extents[d] for d in reductions[:-1]]
                              + [extents[reductions[-1]] // width if width > 1
                                 else extents[reductions[-1]]])
        if width > 1:
            red_idx[-1] = arith.MulIOp(red_idx[-1], gb.index(width)).result
        loops = _loop_indices(len(extents), (par, par_idx), (reductions, red_idx))
        lanes = gv.load_lanes(op, loops, width, skip=len(outs)) if width > 1 else [None]
        accs = list(accs)
        for k, lane in enumerate(lanes):
            if lane is None:
                body = gb.Body(op, loops)
            else:
                at = loops[:-1] + [arith.AddIOp(loops[-1], gb.index(k)).result if k
                                   else loops[-1]]
                body = gv.lane_body(op, at, lane)
            for inner_op in body.ops():
                if inner_op in folds:
                    n = folds.index(inner_op)
                    x = [v for v in inner_op.operands if v != out_args[n]][0]
                    accs[n] = body.clone(inner_op, [accs[n], body.lookup(x)]).results[0]
                else:
                    body.clone(inner_op)
        return accs

    def reduce_point(point, _):
        par_idx = gb.delinearize(point, par_extents)
        identities = [_identity(f, e) for f, e in zip(folds, elements)]
        partial = rg.for_each(thread, red_total // width if width > 1 else red_total, threads,
                              lambda i, accs: chunk(par_idx, i, accs), identities)
        zero = gb.index(0)
        loops = _loop_indices(len(extents), (par, par_idx), (reductions, [zero] * len(reductions)))
        results = []
        for out, amap, fold, value in zip(outs, gb.output_maps(op), folds, partial):
            where = gb.apply_map(amap, loops)
            init = rg.current().load(out, where)  # read before any thread writes it
            total = (_warp_reduce if warp else _all_reduce)(value, fold)
            folded = fold.clone(ip=ir.InsertionPoint.current)
            folded.operands[0], folded.operands[1] = init, total
            results.append((out, where, folded.results[0]))
        first = arith.CmpIOp(arith.CmpIPredicate.eq, thread, zero).result
        when = scf.IfOp(first)
        with ir.InsertionPoint(when.then_block):
            for out, where, value in results:
                memref.StoreOp(value, out, where)
            scf.YieldOp([])
        for out, where, value in results:
            rg.current().know(out, where, value)
        gpu.BarrierOp()  # every thread has read `init` before the next point's writes
        return []

    if points is None:
        rg.for_each(gb.index(0), gb.product(par_extents), gb.index(1), reduce_point)
    else:
        reduce_point(points, [])


def copy_extents(source: ir.Value) -> list[int | ir.Value]:
    """A buffer's sizes: numbers, and memref.dim values (at the insertion point) for the
    symbolic ones."""
    dynamic = ir.ShapedType.get_dynamic_size()
    return [memref.DimOp(source, gb.index(d)).result if n == dynamic else n
            for d, n in enumerate(ir.MemRefType(source.type).shape)]


def copy(source: ir.Value, target: ir.Value, worker: ir.Value, workers: ir.Value) -> None:
    """memref.copy strided over the workers; a symbolic size is read with memref.dim (in
    the kernel: the launch passes the source's descriptor)."""
    shape = copy_extents(source)
    total = gb.product(shape)
    if total == 0:
        return
    registers = rg.current()

    def element(i, _):
        where = gb.delinearize(i, list(shape)) if shape else []
        registers.store(registers.load(source, where), target, where)
        return []
    rg.for_each(worker, total, workers, element)
    if isinstance(total, int) and total <= rg.UNROLL:
        # A small buffer (an accumulator's initial value): every thread knows it.
        for where in rg.constant_points(list(shape)):
            registers.know(target, where, registers.load(source, where))
