"""mlirfuse-reduce-in-lanes: row reductions accumulate in vector lanes, for the CPU.

Matches: `linalg.generic` on tensors whose innermost loop is its only reduction
loop, with a static extent that is a multiple of the lane count, and whose
outputs each fold with one combining op (sum, max, min, ...).
Rewrites: the reduction into `lanes` partial results (transform dialect:
`tile_reduction_using_for`): a fill of the partials with the combiner's identity,
an `scf.for` over the row in steps of `lanes` whose body is an elementwise op
(partial[k] = combine(partial[k], x[j + k])), and one `linalg.reduce` of the
partials at the end. The body is what mlirfuse-vectorize-kernels makes vector
code: one dependency chain per lane instead of one per row (a scalar sum waits
on its previous add at every element). Summation order changes as it does for
eager's own vectorized reductions.
Leaves alone: contractions (matmuls), reductions over several loops or not innermost, dynamic or
indivisible extents, i1, reductions without a single combiner per output
(argmax); an op the transform rejects stays as it was.

Before:
  %s = linalg.generic {parallel, reduction} ins(%row : tensor<1x1024xf32>)
      outs(%init : tensor<1xf32>) { addf }
After:
  %p0 = linalg.fill 0.0 -> tensor<1x16xf32>
  %p = scf.for %j = 0 to 1024 step 16 iter_args(%p1 = %p0) {
    linalg.generic {parallel, parallel} ins(%row[0, %j][1, 16]) outs(%p1) { addf }
  }
  %s = linalg.reduce ins(%p) outs(%init) dimensions = [1] { addf }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass
from ...compiler.passes.tile_kernels import TARGET_ATTR, transform_op

LANES = 16  # two AVX2 registers of f32

_SPLIT = """
    %op = transform.structured.match attributes {{{attr}}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %fill, %partial, %combine, %loop = transform.structured.tile_reduction_using_for %op
        by tile_sizes = [{sizes}]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op,
                                  !transform.any_op)"""


def _candidate(op: ir.Operation) -> bool:
    # Contractions are the BLAS's (mlirfuse-library-gemm), or their own loop nests:
    # partials of a matmul are an [m, n, lanes] temporary, lanes times its output.
    if op.name != "linalg.generic" or st.is_contraction(op):
        return False
    kinds = [str(k) for k in op.attributes["iterator_types"]]
    if [i for i, k in enumerate(kinds) if "reduction" in k] != [len(kinds) - 1]:
        return False
    if not all(isinstance(v.type, ir.RankedTensorType) and v.type.has_static_shape
               for v in list(op.operands) + list(op.results)):
        return False
    if any(isinstance(v.type.element_type, ir.IntegerType) and v.type.element_type.width % 8
           for v in op.operands):
        return False
    extents = st.static_extents(op)
    return bool(extents) and extents[-1] % LANES == 0 and extents[-1] > LANES \
        and st.combiners(op) is not None


@dataclasses.dataclass
class ReduceInLanes(Pass):
    """Splits row reductions into lane partials (an elementwise loop body) plus one final reduce."""

    ARGUMENT = "mlirfuse-reduce-in-lanes"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            for op in [o for o in st.walk(fn) if _candidate(o)]:
                rank = len(op.attributes["iterator_types"])
                sizes = ", ".join(["0"] * (rank - 1) + [str(LANES)])
                transform_op(op, _SPLIT.format(attr=TARGET_ATTR, sizes=sizes))
