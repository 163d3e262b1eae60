"""Symbolic sizes in mlirfuse-map-to-gpu: what runs on the host to size a launch from the
call's sizes, and ops outside kernels split into static tiles."""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, memref, scf

from ...compiler.passes import structured as st
from ...compiler.passes.base import PassError
from . import gpu_body as gb
from . import gpu_codegen as cg
from . import gpu_registers as rg


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


def runtime_extents(op: ir.Operation) -> list[int | ir.Value]:
    """The op's loop extents, each symbolic one read from an operand's size (memref.dim, at
    the current insertion point: inside the kernel, on the tile's views)."""
    extents: list[int | ir.Value | None] = list(st.loop_extents(op))
    for value, amap in zip(op.operands, st.indexing_maps(op)):
        if not isinstance(value.type, ir.MemRefType):
            continue
        for at, pos in enumerate(st.dim_positions(amap)):
            if pos is not None and extents[pos] is None:
                extents[pos] = memref.DimOp(value, gb.index(at)).result
    if any(e is None for e in extents):
        raise PassError(f"'{op.name}' has a loop no operand's size gives", op.location)
    return extents


def row_loop(op: ir.Operation) -> int | None:
    """The loop `rows_of` splits `op` along: its one symbolic loop when that is parallel and
    not the innermost (a row is then static, and long enough for vector code); None else."""
    unknown = [d for d, e in enumerate(st.loop_extents(op)) if e is None]
    if len(unknown) != 1:
        return None
    (loop,) = unknown
    if loop in gb.reduction_loops(op) or loop == st.loop_count(op) - 1:
        return None
    return loop


def rows_of(op: ir.Operation, loop: int) -> ir.Operation:
    """A structured op outside any kernel whose one symbolic loop is `loop` (row_loop):
    wrapped in an scf.forall over that loop, the op applied to each point's slices of its
    operands (rank kept, size 1 along the loop), so each tile is static.

    Before:
      linalg.generic {parallel, parallel} ins(%a : memref<?x512xf32>) outs(%b : ...)
    After:
      scf.forall (%i) in (%n) {   // %n: memref.dim %a, 0
        %ai = memref.subview %a[%i, 0] [1, 512] [1, 1]
        %bi = memref.subview %b[%i, 0] [1, 512] [1, 1]
        linalg.generic {parallel, parallel} ins(%ai) outs(%bi)   // linalg.index 0 -> %i
      }
    """
    maps = st.indexing_maps(op)
    dynamic = ir.ShapedType.get_dynamic_size()
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
    # The op now sees one row: its linalg.index along `loop` (0 in the slice) is the row.
    # (Before: GPT-2's position ids, arange(seq), read row 0 for every row.)
    for index in [o for o in st.walk(op) if o.name == "linalg.index"
                  and ir.IntegerAttr(o.attributes["dim"]).value == loop]:
        index.results[0].replace_all_uses_with(row)
        index.erase()
    return forall


def slice_at(buffer: ir.Value, dim: int, at: ir.Value) -> ir.Value:
    """The slice of `buffer` at index `at` of dimension `dim`, rank kept (size 1 there);
    its other sizes are the buffer's (read at run time where its type does not say)."""
    t = ir.MemRefType(buffer.type)
    strides, _ = t.get_strides_and_offset()
    dyn = ir.ShapedType.get_dynamic_stride_or_offset()
    shape = [1 if d == dim else n for d, n in enumerate(t.shape)]
    sizes = [memref.DimOp(buffer, gb.index(d)).result for d, n in enumerate(shape)
             if n == ir.ShapedType.get_dynamic_size()]
    layout = ir.StridedLayoutAttr.get(offset=dyn, strides=strides)
    view = ir.MemRefType.get(shape, t.element_type, layout=layout,
                             memory_space=t.memory_space)
    offsets = [dyn if d == dim else 0 for d in range(t.rank)]
    return memref.SubViewOp(view, buffer, [at], sizes, [], offsets, shape,
                            [1] * t.rank).result


def fold_reshape_shapes(fn: ir.Operation) -> None:
    """memref.reshape whose shape is a small buffer the host code fills (torch-mlir's
    reshape to symbolic sizes: an alloc, a store per dimension) → memref.reinterpret_cast
    with those sizes: on the GPU target that buffer would be device memory (the
    workspace), which the host cannot read, and the stores would each be a kernel.

    Before:
      %shape = memref.alloc() : memref<4xi64>
      memref.store %c2, %shape[%c0] ... memref.store %n, %shape[%c1] ...
      %r = memref.reshape %x(%shape) : (memref<2x?x128xf32>, memref<4xi64>) -> memref<2x?x4x32xf32>
    After:
      %r = memref.reinterpret_cast %x to offset: [0], sizes: [2, %n', 4, 32],
           strides: [%n' * 128, 128, 32, 1]      (%n' = index_cast %n)
    """
    shapes = []  # the shape buffers, each once (reshapes of q, k and v share one)
    for reshape in [o for o in st.walk(fn) if o.name == "memref.reshape"]:
        alloc = st.defining_op(reshape.operands[1])
        if alloc is not None and alloc.name == "memref.alloc" and alloc not in shapes:
            shapes.append(alloc)
    for alloc in shapes:
        users = [st.owner_op(u) for u in alloc.results[0].uses]
        stores = [u for u in users if u.name == "memref.store"]
        reshapes = [u for u in users if u.name == "memref.reshape"]
        if len(stores) + len(reshapes) != len(users) or any(
                ir.AffineMapAttr(ir.MemRefType(r.operands[0].type).layout).value !=
                ir.AffineMap.get_identity(ir.MemRefType(r.operands[0].type).rank)
                for r in reshapes):
            continue
        sizes: dict[int, ir.Value] = {}
        for store in stores:
            at = st.defining_op(store.operands[2])
            if at is None or at.name != "arith.constant":
                break
            sizes[ir.IntegerAttr(at.attributes["value"]).value] = store.operands[0]
        rank = ir.MemRefType(alloc.results[0].type).shape[0]
        if len(sizes) != len(stores) or sorted(sizes) != list(range(rank)):
            continue
        for reshape in reshapes:
            _as_reinterpret_cast(reshape, reshape.operands[0],
                                 ir.MemRefType(reshape.results[0].type),
                                 [sizes[d] for d in range(rank)])
        for store in stores:
            store.erase()
        alloc.erase()


def _as_reinterpret_cast(reshape: ir.Operation, source: ir.Value, result: ir.MemRefType,
                         stored: list[ir.Value]) -> None:
    dynamic = ir.ShapedType.get_dynamic_size()
    with ir.InsertionPoint(reshape), reshape.location:
        index = ir.IndexType.get()
        extents: list[int | ir.Value] = [
            n if n != dynamic else (v if v.type == index else arith.IndexCastOp(index, v).result)
            for n, v in zip(result.shape, stored)]
        dynamic_sizes = [e for e in extents if not isinstance(e, int)]
        strides, static_strides = [], []
        for d in range(result.rank):
            stride = gb.product(extents[d + 1:])
            static_strides.append(stride if isinstance(stride, int) else dynamic)
            if not isinstance(stride, int):
                strides.append(stride)
        cast = memref.ReinterpretCastOp(result, source, [], dynamic_sizes, strides,
                                        [0], list(result.shape), static_strides)
    reshape.results[0].replace_all_uses_with(cast.result)
    reshape.erase()


def standalone(op: ir.Operation, forall, tile_op) -> None:
    """An op outside kernels with symbolic sizes (`forall` and `tile_op`: the pass's, for
    a kernel loop and for an op spread over a block's threads): rows of static size when one outer
    parallel loop is symbolic (a block per row, vector code: rows_of);
    other parallel ops stride over a grid sized from the call's sizes (scalar code);
    reductions run in one block (correct, slow)."""
    rows = row_loop(op)
    if rows is not None:
        forall(rows_of(op, rows))
        return
    if gb.reduction_loops(op):
        body, (_, tx) = gb.launch(op, 1, gb.MAX_THREADS)
        with ir.InsertionPoint(body.operations[0]), op.location, rg.holding(body):
            tile_op(op, tx, gb.index(gb.MAX_THREADS))
    else:
        with ir.InsertionPoint(op), op.location:
            work = gb.product(runtime_extents(op))
        body, worker, workers = strided_launch(op, work, 1)
        with ir.InsertionPoint.at_block_terminator(body), op.location, rg.holding(body):
            cg.parallel(op, worker, workers, runtime_extents(op))
    op.erase()
    rg.drop_idle_barriers(body)


def strided_launch(op: ir.Operation, work: int | ir.Value, per_thread: int
                   ) -> tuple[ir.Block, ir.Value, ir.Value]:
    """A launch before `op` over a grid for `work` elements, `per_thread` a thread: a block
    count fixed at compile time for a number; else computed on the host from the call's
    sizes, the launch (and `op`, which the caller lowers into it and erases) under an
    scf.if that skips no work. Returns the body and each thread's (worker id, worker
    count) to stride with."""
    per_block = per_thread * gb.MAX_THREADS
    if isinstance(work, int):
        blocks = max(1, min(-(-work // per_block), gb.MAX_BLOCKS))
        body, (bx, tx) = gb.launch(op, blocks, gb.MAX_THREADS)
    else:
        with ir.InsertionPoint(op), op.location:
            blocks = arith.MinUIOp(arith.CeilDivUIOp(work, gb.index(per_block)).result,
                                   gb.index(gb.MAX_BLOCKS)).result
            any_work = scf.IfOp(arith.CmpIOp(arith.CmpIPredicate.sgt, work,
                                             gb.index(0)).result)
            with ir.InsertionPoint(any_work.then_block):
                placeholder = scf.YieldOp([])
        op.move_before(placeholder)
        body, (bx, tx) = gb.launch(op, blocks, gb.MAX_THREADS)
    with ir.InsertionPoint.at_block_terminator(body), op.location:
        worker = arith.AddIOp(arith.MulIOp(bx, gb.index(gb.MAX_THREADS)).result, tx).result
        workers = gb.index(blocks * gb.MAX_THREADS) if isinstance(blocks, int) else \
            arith.MulIOp(blocks, gb.index(gb.MAX_THREADS)).result
    return body, worker, workers


def standalone_copy(op: ir.Operation, copy) -> None:
    """A memref.copy outside kernels, strided over the whole grid (a copy can be an
    activation's 16 MB), four elements a thread; of symbolic shape (torch-mlir's
    concatenations into a result of symbolic length) the grid is sized on the host from
    the source's sizes (`copy(op, worker, workers)`: the pass's strided copy). The caller
    erases `op`."""
    with ir.InsertionPoint(op), op.location:
        work = gb.product(cg.copy_extents(op.operands[0]))
    body, worker, workers = strided_launch(op, work, 4)
    with ir.InsertionPoint.at_block_terminator(body), op.location, rg.holding(body):
        copy(op, worker, workers)
