"""mlirfuse-map-to-gpu: run every kernel as a `gpu.launch`, its work spread over blocks and threads.

Matches: the entry function (`mlirfuse.abi`) on buffers, after bufferization
and mlirfuse-lower-guards; ops inside `scf.if` (the guard check) too.
Rewrites (the scalar code comes from gpu_codegen):
  * each `scf.forall` (a kernel: one iteration per tile, from
    mlirfuse-tile-kernels) → a launch of one block per iteration. The tile's
    ops run in order, each spread over the block's threads, with a barrier
    between them: parallel ops stride over the threads; reductions that fold
    with one combining op (sum, max, min...) reduce across the block
    (`gpu.all_reduce`); other reductions give each thread whole output points.
    The tile's temporaries (memref.alloc in the loop) become shared memory
    (workgroup attributions) when they fit in 48 KiB, else slices of one
    global buffer with a slice per block;
  * each linalg op outside a forall → a launch of its own: parallel ones over
    the whole grid, block-reducible reductions one block per output point
    (contractions cuBLAS can take are calls by then: mlirfuse-library-gemm);
  * memref.copy → a parallel copy launch (a copy onto itself is dropped);
  * any other op with memory effects (tm_tensor's scan, sort, topk) → a launch
    of one thread: correct, slow; the op stays visible in the "gpu" stage.
Buffer metadata (subviews, casts), constants and allocations stay on the host; a
constant table a kernel reads goes with the kernel (gpu_constants: a device global).

Before:
  scf.forall (%i) in (64) {
    %row = memref.subview %x[%i, 0] [1, 1024] [1, 1] ...
    %m = memref.alloc() : memref<1xf32>
    linalg.generic {parallel, reduction: max} ins(%row) outs(%m)
    linalg.generic {parallel, parallel: exp(x - m)} ins(%row, %m) outs(%out_row)
  }
After:
  gpu.launch blocks(%bx, ...) in (64, 1, 1) threads(%tx, ...) in (256, 1, 1)
      workgroup(%m : memref<1xf32, #gpu.address_space<workgroup>>) {
    %row = memref.subview %x[%bx, 0] ...
    %p = scf.for %j = %tx to 1024 step 256 iter_args(%acc = -inf) { max }
    %r = gpu.all_reduce maximumf %p uniform
    scf.if (%tx == 0) { memref.store (max of %m's value and %r), %m[0] }
    gpu.barrier
    scf.for %j = %tx to 1024 step 256 { ... exp(x - m) ... }
    gpu.terminator
  }
"""

from __future__ import annotations

import dataclasses
import math

from torch_mlir import ir
from torch_mlir.dialects import arith, gpu, scf

from ...compiler.passes import library_gemm
from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass, PassError
from ...compiler.passes.destination_style_abi import MARK
from . import gpu_body as gb
from . import gpu_codegen as cg
from . import gpu_constants as gc
from . import gpu_memory as gm
from . import gpu_registers as rg
from . import gpu_symbolic as sy
from . import gpu_tiles as gt
from . import gpu_vectors as gv

MAX_BLOCKS = gb.MAX_BLOCKS
SHARED_BYTES = gt.SHARED_BYTES


def _induction_values(tile: ir.Value, counts: list[int | ir.Value], lbs: list[int],
                      steps: list[int]) -> list[ir.Value]:
    """A kernel loop's induction values for tile number `tile` (row-major over `counts`,
    tile counts known at compile time or values computed on the host)."""
    ivs = []
    for p, lb, step in zip(gb.delinearize(tile, counts), lbs, steps):
        v = arith.MulIOp(p, gb.index(step)).result if step != 1 else p
        ivs.append(arith.AddIOp(v, gb.index(lb)).result if lb else v)
    return ivs


def _move_into(forall: ir.Operation, terminator: ir.Operation, body_ops: list[ir.Operation],
               ivs: list[ir.Value], allocs: list[ir.Operation], buffers: list[ir.Value]) -> None:
    """Moves a kernel loop's body before the launch's `terminator`: its induction
    variables become `ivs`, its temporaries `buffers` (shared memory or block slices); the
    loop goes."""
    for op in body_ops:
        op.move_before(terminator)
    for iv, value in zip(forall.regions[0].blocks[0].arguments, ivs):
        iv.replace_all_uses_with(value)
    for alloc, buffer in zip(allocs, buffers):
        alloc.results[0].replace_all_uses_with(buffer)
        alloc.erase()
        gm.retype_views(buffer)
    forall.erase()


@dataclasses.dataclass
class MapToGpu(Pass):
    """Turns every kernel (scf.forall) and every op touching memory into a gpu.launch."""

    ARGUMENT = "mlirfuse-map-to-gpu"
    # Bytes of the vector loads and stores of parallel ops (0: scalar accesses only). The
    # entry's arguments must then be that aligned (the runtime checks it per call).
    vector_bytes: int = 16

    def run(self, module: ir.Operation) -> None:
        module.attributes["gpu.container_module"] = ir.UnitAttr.get()
        for fn in st.functions(module, marked=MARK):
            sy.fold_reshape_shapes(fn)
            self._region(fn.regions[0])
            # Kernels read the graph's constant tables from device memory, not the host's.
            gc.into_kernels(fn)
            gc.check_library_calls(fn)

    def _region(self, region: ir.Region) -> None:
        for block in region.blocks:
            for op in [o.operation for o in block.operations]:
                self._top_level(op)

    def _top_level(self, op: ir.Operation) -> None:
        with op.location:
            self._dispatch(op)

    def _dispatch(self, op: ir.Operation) -> None:
        name = op.name
        if name == "scf.if":
            for region in op.regions:
                self._region(region)
        elif name == "scf.forall":
            self._forall(op)
        elif gt.is_metadata(op) or name in ("memref.dealloc", "func.call", "cf.assert") \
                or library_gemm.HOST_ATTR in op.attributes:
            # Host work: the runtime's cuBLAS gemm calls, and loops of them; torch-mlir's
            # checks of symbolic sizes (cf.assert of a condition on sizes), as on the CPU.
            return
        elif st.is_structured(op) and st.static_extents(op) is None:
            sy.standalone(op, self._forall, self._tile_op)
        elif st.is_structured(op):
            self._standalone(op)
        elif name == "memref.copy":
            if op.operands[0] != op.operands[1]:
                sy.standalone_copy(op, self._copy)
            op.erase()
        else:
            self._single_thread(op)

    def _single_thread(self, op: ir.Operation) -> None:
        if any(not isinstance(r.type, ir.MemRefType) for r in op.results) and op.results:
            raise PassError(f"'{op.name}' computes a value the host needs; the GPU target "
                            "cannot run it", op.location)
        body, _ = gb.launch(op, 1, 1)
        op.move_before(body.operations[0])

    def _standalone(self, op: ir.Operation) -> None:
        extents, reductions, folds = gt.classify(op)
        if folds:
            points = math.prod(e for d, e in enumerate(extents) if d not in reductions)
            threads = gt.threads_for(math.prod(extents[d] for d in reductions))
            body, (bx, tx) = gb.launch(op, max(1, min(points, MAX_BLOCKS)), threads)
            with ir.InsertionPoint(body.operations[0]), op.location, rg.holding(body):
                cg.block_reduce(op, tx, gb.index(threads), extents, folds,
                                points=bx if points <= MAX_BLOCKS else None,
                                vector_bytes=self.vector_bytes)
        else:
            # Parallel ops: a thread per vector (4x fewer blocks for float32, all busy).
            work = math.prod(extents) if reductions else gt.work(op, self.vector_bytes)
            threads = gt.threads_for(work)
            blocks = max(1, min(-(-work // threads), MAX_BLOCKS))
            body, (bx, tx) = gb.launch(op, blocks, threads)
            with ir.InsertionPoint(body.operations[0]), op.location, rg.holding(body):
                worker = arith.AddIOp(arith.MulIOp(bx, gb.index(threads)).result, tx).result
                if reductions:
                    cg.per_point(op, worker, gb.index(blocks * threads), extents)
                else:
                    cg.parallel(op, worker, gb.index(blocks * threads), extents,
                                self.vector_bytes)
        op.erase()
        rg.drop_idle_barriers(body)

    def _forall(self, forall: ir.Operation) -> None:
        attrs = forall.attributes
        lbs, ubs, steps = (list(ir.DenseI64ArrayAttr(attrs[k])) for k in
                           ("staticLowerBound", "staticUpperBound", "staticStep"))
        dynamic = ir.ShapedType.get_dynamic_size()
        view = forall.opview
        if dynamic in lbs + steps or len(view.outputs):
            raise PassError("a kernel loop with dynamic starts or steps; the GPU target "
                            "needs static ones", forall.location)
        body_ops = [o.operation for o in forall.regions[0].blocks[0].operations][:-1]
        allocs = [o for o in body_ops if o.name == "memref.alloc"]
        gv.share_lanes(body_ops, self.vector_bytes)  # before the widths decide the tiling
        # A temporary of symbolic size (a row of attention scores over a symbolic cache
        # length) lives in global memory, a slice per tile, sized on the host: its sizes
        # must be known there (defined outside the loop).
        symbolic = any(not ir.MemRefType(a.results[0].type).has_static_shape for a in allocs)
        if symbolic and (dynamic in ubs or any(
                st.is_nested_in(st.defining_op(v), forall) for a in allocs
                for v in a.operands if st.defining_op(v) is not None)):
            raise PassError("a tile temporary of symbolic size; the GPU target needs static "
                            "ones", forall.location)
        per_tile = sum(gm.nbytes(ir.MemRefType(a.results[0].type)) for a in allocs
                       if ir.MemRefType(a.results[0].type).has_static_shape)
        if dynamic in ubs:  # symbolic sizes: as many tiles as the sizes of the call make
            self._dynamic_forall(forall, body_ops, allocs, per_tile)
            return
        counts = [-(-(u - lb) // s) for lb, u, s in zip(lbs, ubs, steps)]
        tiles = math.prod(counts)
        warps = 1 if symbolic else gt.warps_per_block(body_ops, tiles, per_tile, self.vector_bytes)
        threads = 32 * warps if warps > 1 else gt.threads_for(
            max([gt.work(o, self.vector_bytes) for o in body_ops] + [1]))
        shared = per_tile * warps <= SHARED_BYTES and not symbolic
        wg_types = [gm.workgroup_type(a, warps) for a in allocs] if shared else []
        hoisted = [] if shared else gm.hoist(allocs, forall, tiles)
        if tiles == 0:
            forall.erase()
            return
        body, (bx, tx, *wg) = gb.launch(forall, tiles // warps, threads, wg_types)
        terminator = body.operations[0]
        with ir.InsertionPoint(terminator), forall.location:
            tile, worker = bx, tx
            if warps > 1:  # a tile per warp: warp w of block b runs tile b * warps + w
                warp = arith.DivUIOp(tx, gb.index(32)).result
                worker = arith.RemUIOp(tx, gb.index(32)).result
                tile = arith.AddIOp(arith.MulIOp(bx, gb.index(warps)).result, warp).result
                wg = [gm.block_slice(buffer, warp) for buffer in wg]
            ivs = _induction_values(tile, counts, lbs, steps)
            if not shared:
                wg = [gm.block_slice(big, tile) for big in hoisted]
        _move_into(forall, terminator, body_ops, ivs, allocs, wg)
        self._distribute(body, worker, 32 if warps > 1 else threads, warp=warps > 1)
        for buffer in wg if shared else []:
            rg.drop_unread(buffer)
        rg.drop_idle_barriers(body)

    def _dynamic_forall(self, forall: ir.Operation, body_ops: list[ir.Operation],
                        allocs: list[ir.Operation], per_tile: int) -> None:
        """A kernel whose tile count depends on symbolic sizes (each tile's own sizes are
        static: a row of a [?, 256] tensor): the grid computed on the host from the call's
        sizes, no launch when there is no tile; tile temporaries must fit in shared memory.
        Row reductions pack a tile per warp as static ones do (gpu_tiles.warps_per_block), the grid
        rounded up and the last block's extra warps skipping the body (a warp-uniform
        branch: the shuffles stay within a warp, and a barrier left inside becomes a warp's
        sync); other tiles take a block each.

        Before (softmax over [?, 1024]): a block of 256 threads per row, reduced through
        shared memory with barriers, 1.23x the static code's time on the H200. After: 8 rows
        a block as static code, `scf.if %tile < %tiles` around each warp's row."""
        lbs, steps = (list(ir.DenseI64ArrayAttr(forall.attributes[k])) for k in
                      ("staticLowerBound", "staticStep"))
        if per_tile > SHARED_BYTES:
            raise PassError("a kernel on symbolic sizes whose tile temporaries exceed "
                            "shared memory; the GPU target needs static sizes for it",
                            forall.location)
        counts, tiles, placeholder = sy.tile_counts(forall)
        forall.move_before(placeholder)
        warps = gt.warps_per_block(body_ops, None, per_tile, self.vector_bytes)
        parts = 1
        if warps > 1:
            threads = 32 * warps
            with ir.InsertionPoint(forall), forall.location:
                blocks = arith.CeilDivUIOp(tiles, gb.index(warps)).result
        else:
            threads = gt.threads_for(max([gt.work(o, self.vector_bytes) for o in body_ops] + [1]))
            parts = gt.blocks_per_tile(body_ops, allocs, threads, self.vector_bytes)
            blocks = tiles
            if parts > 1:
                with ir.InsertionPoint(forall), forall.location:
                    blocks = arith.MulIOp(tiles, gb.index(parts)).result
        wg_types = [gm.workgroup_type(a, warps) for a in allocs]
        body, (bx, tx, *wg) = gb.launch(forall, blocks, threads, wg_types)
        tile_body, terminator = body, body.operations[0]
        with ir.InsertionPoint(terminator), forall.location:
            tile, worker = bx, tx
            if warps > 1:  # warp w of block b runs tile b * warps + w, if there is one
                warp = arith.DivUIOp(tx, gb.index(32)).result
                worker = arith.RemUIOp(tx, gb.index(32)).result
                tile = arith.AddIOp(arith.MulIOp(bx, gb.index(warps)).result, warp).result
                wg = [gm.block_slice(buffer, warp) for buffer in wg]
                guard = scf.IfOp(arith.CmpIOp(arith.CmpIPredicate.ult, tile, tiles).result)
                tile_body = guard.then_block
                with ir.InsertionPoint(tile_body):
                    terminator = scf.YieldOp([])
            elif parts > 1:  # block b runs part b % parts of tile b / parts
                tile = arith.DivUIOp(bx, gb.index(parts)).result
                part = arith.RemUIOp(bx, gb.index(parts)).result
                worker = arith.AddIOp(arith.MulIOp(part, gb.index(threads)).result, tx).result
        with ir.InsertionPoint(terminator), forall.location:
            ivs = _induction_values(tile, counts, lbs, steps)
        _move_into(forall, terminator, body_ops, ivs, allocs, wg)
        self._distribute(tile_body, worker, 32 if warps > 1 else threads * parts,
                         warp=warps > 1)
        for buffer in wg:
            rg.drop_unread(buffer)
        rg.drop_idle_barriers(tile_body)
        if warps > 1:
            gb.barriers_to_warp_syncs(tile_body)

    def _distribute(self, body: ir.Block, tx: ir.Value, threads: int,
                    warp: bool = False) -> None:
        """Spreads each op of a kernel's tile over the block's threads (the lanes of a
        warp when `warp`, `tx` being the lane), barriers between."""
        ops = [o.operation for o in body.operations][:-1]
        memory_ops = [o for o in ops if not gt.is_metadata(o) and o.name != "memref.dealloc"]
        with rg.holding(body) as registers:
            for op in ops:
                if op.name == "memref.dealloc":
                    op.erase()
                    continue
                if gt.is_metadata(op):
                    continue
                with ir.InsertionPoint(op), op.location:
                    count = gb.index(threads)
                    if op.name == "memref.copy":
                        with registers.writes([op.operands[1]]):
                            self._copy(op, tx, count)
                    elif st.is_structured(op):
                        with registers.writes(gb.outputs(op)):
                            self._tile_op(op, tx, count, warp)
                    else:
                        registers.forget()
                        self._on_thread_zero(op, tx)
                    if op != memory_ops[-1]:
                        gpu.BarrierOp()
                if op.name == "memref.copy" or st.is_structured(op):
                    op.erase()

    @staticmethod
    def _copy(op: ir.Operation, worker: ir.Value, workers: ir.Value) -> None:
        if op.operands[0] != op.operands[1]:
            cg.copy(op.operands[0], op.operands[1], worker, workers)

    def _tile_op(self, op: ir.Operation, tx: ir.Value, threads: ir.Value,
                 warp: bool = False) -> None:
        extents, reductions, folds = gt.classify(op)
        if extents is None:  # a tile of symbolic sizes: loops bounded at run time
            extents = sy.runtime_extents(op)
        if folds:
            cg.block_reduce(op, tx, threads, extents, folds, vector_bytes=self.vector_bytes,
                            warp=warp)
        elif reductions:
            cg.per_point(op, tx, threads, extents)
        else:
            cg.parallel(op, tx, threads, extents, self.vector_bytes)

    @staticmethod
    def _on_thread_zero(op: ir.Operation, tx: ir.Value) -> None:
        if op.results:
            raise PassError(f"'{op.name}' inside a kernel computes a value; the GPU target "
                            "cannot spread it over threads", op.location)
        first = arith.CmpIOp(arith.CmpIPredicate.eq, tx, gb.index(0)).result
        when = scf.IfOp(first)
        with ir.InsertionPoint(when.then_block):
            done = scf.YieldOp([])
        op.move_before(done)
