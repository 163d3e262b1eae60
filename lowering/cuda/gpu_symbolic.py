"""Symbolic sizes in mlirfuse-map-to-gpu: what runs on the host to size a launch from the
call's sizes, and ops outside kernels split into static tiles."""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, memref, scf

from ...compiler.passes import structured as st
from ...compiler.passes.base import PassError
from . import gpu_body as gb


def tile_counts(forall: ir.Operation) -> tuple[list[ir.Value], ir.Value, ir.Operation]:
    """Host values before `forall` (a kernel loop with symbolic upper bounds, static starts
    and steps): the tile count of each loop, their product, and the placeholder (an
    scf.yield) inside an `scf.if` on that product being positive, where the launch goes."""
    lbs, ubs, steps = (list(ir.DenseI64ArrayAttr(forall.attributes[k])) for k in
                       ("staticLowerBound", "staticUpperBound", "staticStep"))
    dynamic = ir.ShapedType.get_dynamic_size()
    upper = iter(forall.opview.dynamicUpperBound)
    with ir.InsertionPoint(forall), forall.location:
        counts = []
        for lb, ub, step in zip(lbs, ubs, steps):
            if ub != dynamic:
                counts.append(gb.index(-(-(ub - lb) // step)))
                continue
            extent = next(upper)
            if lb:
                extent = arith.SubIOp(extent, gb.index(lb)).result
            counts.append(arith.CeilDivUIOp(extent, gb.index(step)).result
                          if step != 1 else extent)
        tiles = counts[0]
        for count in counts[1:]:
            tiles = arith.MulIOp(tiles, count).result
        any_tile = scf.IfOp(arith.CmpIOp(arith.CmpIPredicate.sgt, tiles, gb.index(0)).result)
        with ir.InsertionPoint(any_tile.then_block):
            placeholder = scf.YieldOp([])
    return counts, tiles, placeholder


def rows_of(op: ir.Operation) -> ir.Operation:
    """A structured op outside any kernel with one loop of symbolic extent (the others
    static): wrapped in an scf.forall over that loop, the op applied to each point's
    slices of its operands (rank kept, size 1 along the loop), so each tile is static.

    Before:
      linalg.generic {parallel, parallel} ins(%a : memref<?x512xf32>) outs(%b : ...)
    After:
      scf.forall (%i) in (%n) {   // %n: memref.dim %a, 0
        %ai = memref.subview %a[%i, 0] [1, 512] [1, 1]
        %bi = memref.subview %b[%i, 0] [1, 512] [1, 1]
        linalg.generic {parallel, parallel} ins(%ai) outs(%bi)
      }
    """
    maps = st.indexing_maps(op)
    dynamic = ir.ShapedType.get_dynamic_size()
    unknown = set(range(st.loop_count(op)))
    for value, amap in zip(op.operands, maps):
        if isinstance(value.type, ir.MemRefType):
            for size, pos in zip(ir.MemRefType(value.type).shape, st.dim_positions(amap)):
                if pos is not None and size != dynamic:
                    unknown.discard(pos)
    if len(unknown) != 1 or (unknown & set(gb.reduction_loops(op))):
        raise PassError(f"'{op.name}' has dynamic sizes in {len(unknown)} loops (or a "
                        "reduction over one); the GPU target needs them static, or one "
                        "parallel loop of symbolic extent", op.location)
    (loop,) = unknown
    with ir.InsertionPoint(op), op.location:
        index = ir.IndexType.get()
        extent = None
        for value, amap in zip(op.operands, maps):
            if isinstance(value.type, ir.MemRefType) and loop in st.dim_positions(amap):
                at = st.dim_positions(amap).index(loop)
                extent = memref.DimOp(value, gb.index(at)).result
                break
        forall = ir.Operation.create(
            "scf.forall", results=[], operands=[extent], regions=1, attributes={
                "staticLowerBound": ir.DenseI64ArrayAttr.get([0]),
                "staticUpperBound": ir.DenseI64ArrayAttr.get([dynamic]),
                "staticStep": ir.DenseI64ArrayAttr.get([1]),
                "operandSegmentSizes": ir.DenseI32ArrayAttr.get([0, 1, 0, 0])})
        body = forall.regions[0].blocks.append(index)
        with ir.InsertionPoint(body):
            done = ir.Operation.create("scf.forall.in_parallel", regions=1)
            done.regions[0].blocks.append()
    row = body.arguments[0]
    with ir.InsertionPoint(done), op.location:
        for i, (value, amap) in enumerate(zip(op.operands, maps)):
            positions = st.dim_positions(amap)
            if isinstance(value.type, ir.MemRefType) and loop in positions:
                op.operands[i] = slice_at(value, positions.index(loop), row)
    op.move_before(done)
    return forall


def slice_at(buffer: ir.Value, dim: int, at: ir.Value) -> ir.Value:
    """The slice of `buffer` at index `at` of dimension `dim`, rank kept (size 1 there)."""
    t = ir.MemRefType(buffer.type)
    strides, _ = t.get_strides_and_offset()
    dyn = ir.ShapedType.get_dynamic_stride_or_offset()
    shape = [1 if d == dim else n for d, n in enumerate(t.shape)]
    layout = ir.StridedLayoutAttr.get(offset=dyn, strides=strides)
    view = ir.MemRefType.get(shape, t.element_type, layout=layout,
                             memory_space=t.memory_space)
    offsets = [dyn if d == dim else 0 for d in range(t.rank)]
    return memref.SubViewOp(view, buffer, [at], [], [], offsets, shape,
                            [1] * t.rank).result


def delinearize_by(linear: ir.Value, counts: list[ir.Value]) -> list[ir.Value]:
    """Row-major indices of `linear` in a box of `counts` (host values: symbolic sizes)."""
    out = []
    for d in range(len(counts)):
        q = linear
        for later in counts[d + 1:]:
            q = arith.DivUIOp(q, later).result
        out.append(arith.RemUIOp(q, counts[d]).result if d else q)
    return out
