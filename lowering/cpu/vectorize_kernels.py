"""mlirfuse-vectorize-kernels: elementwise ops of CPU kernels become vector code.

Matches: `linalg.generic` on buffers (after bufferization) whose loops are all
parallel with static extents, whose innermost extent is a multiple of the vector
width, and whose operands each either run along the innermost loop contiguously
(it is their last index and their last stride is 1) or do not use it (a
broadcast).
Rewrites: tiles the innermost loop by `width` elements (two 256-bit registers:
16 f32 lanes on AVX2, when the extent allows; else one) and every other loop by 1
(`scf.for`), and vectorizes the tile (transform dialect: `tile_using_for`,
`structured.vectorize`): `vector.transfer_read`/`transfer_write` and arith and
math ops on vectors, which LLVM keeps as SIMD instructions (f32 exp, log, tanh
are arithmetic by then: mlirfuse-expand-math).
Leaves alone: reductions, dynamic shapes, strided or transposed operands, extents
that are not a multiple of the width, i1 buffers (bytes in memory, bits in a
vector); a tile the vectorizer rejects stays scalar.

Before:
  linalg.generic {parallel, parallel} ins(%x : memref<1x1024xf32, strided<[1024, 1], ...>>)
      outs(%y : ...) { exp(x) * x }
After:
  scf.for %i = 0 to 1 step 1 {
    scf.for %j = 0 to 1024 step 16 {
      %v = vector.transfer_read %x[%i, %j] : ..., vector<1x16xf32>
      %e = math.exp %v : vector<1x16xf32> ...
      vector.transfer_write %r, %y[%i, %j] : vector<1x16xf32>, ...
    }
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass
from ...compiler.passes.tile_kernels import TARGET_ATTR, transform_op

REGISTER_BYTES = 32  # AVX2

_VECTORIZE = """
    %op = transform.structured.match attributes {{{attr}}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %tiled, %loops:{count} = transform.structured.tile_using_for %op tile_sizes [{sizes}]
        : (!transform.any_op) -> (!transform.any_op{loop_types})
    transform.structured.vectorize %tiled : !transform.any_op"""


# A symbolic innermost extent: the innermost loop's full steps are peeled from its
# remainder (transform.loop.peel), so they have static sizes and vectorize; the remainder
# (fewer than `width` elements) stays scalar.
_VECTORIZE_PEELED = """
    %op = transform.structured.match attributes {{{attr}}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %tiled, %loops:{count} = transform.structured.tile_using_for %op tile_sizes [{sizes}]
        : (!transform.any_op) -> (!transform.any_op{loop_types})
    %main, %rest = transform.loop.peel %loops#{last}
        : (!transform.op<"scf.for">) -> (!transform.op<"scf.for">, !transform.op<"scf.for">)
    transform.apply_patterns to %main {{
      transform.apply_patterns.canonicalization
    }} : !transform.op<"scf.for">
    %full = transform.structured.match ops{{["linalg.generic"]}} in %main
        : (!transform.op<"scf.for">) -> !transform.any_op
    transform.structured.vectorize %full : !transform.any_op"""


def _width(op: ir.Operation, extents: list[int | None]) -> int | None:
    """Elements per vector step for `op`, or None when it does not qualify."""
    sizes = set()
    for value in op.operands:
        t = value.type
        if not isinstance(t, ir.MemRefType):
            return None
        element = t.element_type
        size = st.element_bytes(element)
        # i1 is a byte per element in memory but a bit per lane in a vector load.
        if not size or (isinstance(element, ir.IntegerType) and element.width % 8):
            return None
        sizes.add(size)
    lanes = REGISTER_BYTES // max(sizes)
    last = extents[-1]
    if last is None:  # symbolic: the full steps of two registers, peeled from the rest
        return 2 * lanes
    for width in (2 * lanes, lanes):
        if last % width == 0:
            return width
    return None


def _contiguous(op: ir.Operation, rank: int) -> bool:
    """Every operand reads the innermost loop at its last, unit-stride index, or not at all."""
    inner = rank - 1
    for value, amap in zip(op.operands, st.indexing_maps(op)):
        positions = st.dim_positions(amap)
        if None in positions:
            return False  # a gather (im2col's d1 floordiv 9 + ...): no plain vector access
        if inner not in positions:
            continue
        if positions[-1] != inner:
            return False
        strides, _ = ir.MemRefType(value.type).get_strides_and_offset()
        if strides[-1] != 1:
            return False
    return True


def _candidate(op: ir.Operation) -> int | None:
    """The vector width for an elementwise generic that qualifies, else None."""
    if op.name != "linalg.generic":
        return None
    if any("parallel" not in str(k) for k in op.attributes["iterator_types"]):
        return None
    if not all(isinstance(v.type, ir.MemRefType) for v in op.operands):
        return None
    extents = st.loop_extents(op)
    if not extents or not _contiguous(op, len(extents)):
        return None
    if any(e is None for e in extents[:-1]):  # only the innermost may be symbolic
        return None
    return _width(op, extents)


@dataclasses.dataclass
class VectorizeKernels(Pass):
    """Tiles and vectorizes the elementwise linalg ops of CPU kernels (buffers)."""

    ARGUMENT = "mlirfuse-vectorize-kernels"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            ops = [op for op in st.walk(fn) if op.name == "linalg.generic"]
            for op in ops:
                width = _candidate(op)
                if width is None:
                    continue
                rank = len(op.attributes["iterator_types"])
                sizes = ", ".join(["1"] * (rank - 1) + [str(width)])
                if st.loop_extents(op)[-1] is None:
                    transform_op(op, _VECTORIZE_PEELED.format(
                        attr=TARGET_ATTR, count=rank, sizes=sizes, last=rank - 1,
                        loop_types=', !transform.op<"scf.for">' * rank))
                    continue
                transform_op(op, _VECTORIZE.format(attr=TARGET_ATTR, count=rank, sizes=sizes,
                                                   loop_types=", !transform.any_op" * rank))
