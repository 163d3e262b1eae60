"""How a kernel's tiles map onto GPU blocks and threads (mlirfuse-map-to-gpu's arithmetic).

Not a pass: the sizes mlirfuse-map-to-gpu decides with. The work an op gives a block
(elements, or vectors of them), the threads a block gets for it, how many tiles a block
runs at once (a row per warp for row reductions), and how many blocks one tile of a
symbolic count is spread over.
"""

from __future__ import annotations

import math

from torch_mlir import ir

from ...compiler.passes import structured as st
from . import gpu_body as gb
from . import gpu_registers as rg
from . import gpu_vectors as gv

# Ops that only compute addresses or scalars: they stay where they are.
_METADATA = ("memref.subview", "memref.cast", "memref.reinterpret_cast", "memref.view",
             "memref.extract_strided_metadata", "memref.expand_shape", "memref.collapse_shape",
             "memref.dim", "memref.alloc", "memref.get_global", "memref.transpose",
             "memref.extract_aligned_pointer_as_index",
             "memref.assume_alignment", "func.return", "scf.yield", "ub.poison")
_SCALAR_DIALECTS = ("arith.", "math.", "index.", "affine.")
SHARED_BYTES = 48 * 1024  # static shared memory a block may use without opting in


def is_metadata(op: ir.Operation) -> bool:
    """An op that only computes an address or a scalar (it stays where it is)."""
    return op.name in _METADATA or op.name.startswith(_SCALAR_DIALECTS)


def threads_for(work: int) -> int:
    """A block's threads for `work` pieces: whole warps, at most a block's."""
    return max(32, min(gb.MAX_THREADS, -(-work // 32) * 32))


def classify(op: ir.Operation):
    """(static loop extents, or None when one is symbolic; reduction loops; combining ops
    or None) of a structured op."""
    reductions = gb.reduction_loops(op)
    return st.static_extents(op), reductions, st.combiners(op) if reductions else None


def work(op: ir.Operation, vector_bytes: int) -> int:
    """The pieces (elements, or vectors of them) one op gives a block to spread over its
    threads."""
    if op.name == "memref.copy":  # a copy onto itself is dropped
        same = op.operands[0] == op.operands[1]
        return 0 if same else math.prod(ir.MemRefType(op.operands[0].type).shape)
    if not st.is_structured(op):
        return 1
    extents, reductions, folds = classify(op)
    if extents is None:  # symbolic sizes: as much as a block takes
        return gb.MAX_THREADS * rg.UNROLL
    if folds:
        return math.prod(extents[d] for d in reductions) // gv.chunk_width(
            op, extents, vector_bytes, reductions)
    if reductions:
        return math.prod(extents)
    return math.prod(extents) // gv.chunk_width(op, extents, vector_bytes)


def blocks_per_tile(body_ops: list[ir.Operation], allocs: list[ir.Operation], threads: int,
                    vector_bytes: int) -> int:
    """Blocks one tile of a symbolic count is spread over: a tile that is one parallel
    op of static extents (a row of an op outside kernels, rows_of) takes as many blocks
    as give each thread a piece, as the static code's grid does; else 1 (ops with
    barriers between them, or temporaries, need the tile in one block).

    Before: the transformer's [?, 128, 512] -> [128, ?, 512] transpose ran a block per
    batch row, 4 blocks of 256 threads for 256 K elements (62 us on the H200; static
    code 7)."""
    memory_ops = [o for o in body_ops if not is_metadata(o) and o.name != "memref.dealloc"]
    if allocs or len(memory_ops) != 1 or not st.is_structured(memory_ops[0]):
        return 1
    extents, reductions, _ = classify(memory_ops[0])
    if extents is None or reductions:
        return 1
    pieces = work(memory_ops[0], vector_bytes)
    return max(1, min(-(-pieces // threads), gb.MAX_BLOCKS))


def warps_per_block(body_ops: list[ir.Operation], tiles: int | None, tile_bytes: int,
                    vector_bytes: int) -> int:
    """Tiles a block runs at once, one per warp: 8 (256 threads) for row reductions
    whose every op gives each lane at most 8 pieces of work (a 1024-wide f32 row:
    8 vectors a lane, all in registers; shuffles reduce it, no shared memory, no
    barrier), when the tile count divides (None: symbolic, the caller guards) and
    the temporaries fit; else 1."""
    warps = gb.MAX_THREADS // 32
    memory_ops = [o for o in body_ops if not is_metadata(o) and o.name != "memref.dealloc"]
    reduces = any(st.is_structured(o) and classify(o)[2] for o in memory_ops)
    fits = all((st.is_structured(o) or o.name == "memref.copy")
               and work(o, vector_bytes) <= 32 * rg.UNROLL for o in memory_ops)
    if reduces and fits and (tiles is None or tiles % warps == 0) \
            and tile_bytes * warps <= SHARED_BYTES:
        return warps
    return 1
