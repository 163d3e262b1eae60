"""mlirfuse-split-reductions: long reductions become blocked partial sums.

Matches: linalg.generic ops on tensors with exactly one reduction loop whose
extent is at least `min-extent` and a multiple of `block`.
Rewrites: with upstream `transform.structured.split_reduction`, the reduction
over n elements becomes a reduction over `block` elements for each of
n / block partial results, then a reduction of the partials. Accumulating
sequentially in f32, the error of one long accumulator grows like n * eps;
blocked, like (block + n / block) * eps (eager's sums are blocked too). The
partials' loop is parallel, so their kernel tiles over it.
Leaves alone: shorter reductions (rows of norms and softmax stay one kernel),
several reduction loops, combiners split_reduction does not recognize (the op is
then unchanged), and ops with a loop of symbolic extent: a reduction of symbolic
length (not known to be long, nor a multiple of `block`), and a long one over rows of
symbolic count (upstream split_reduction creates the partials as a tensor.empty
without their symbolic size, `tensor.empty() : tensor<?x128xf32>`: IR that does not
verify, and the compile failed).

Before (x.sum() over 2**20 elements):
  %s = linalg.generic {iterator_types = ["reduction"]} ins(%x : tensor<1048576xf32>) ...
After:
  %p = linalg.generic {iterator_types = ["parallel", "reduction"]}   // 1024 partial sums
  %s = linalg.generic {iterator_types = ["reduction"]} ins(%p : tensor<1024xf32>) ...
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from . import structured as st
from .base import Pass
from .tile_kernels import apply_transform, has_empty_tensor

MARK = "mlirfuse.split"

_SPLIT = """
    %op = transform.structured.match attributes {{{mark}}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %init, %fill, %split, %combine = transform.structured.split_reduction %op
        {{split_factor = {factor}, insert_split_dimension = {dim}}}
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op,
                                  !transform.any_op, !transform.any_op)"""


@dataclasses.dataclass
class SplitReductions(Pass):
    """Splits long reductions into blocked partial sums (accuracy; a parallel loop)."""

    ARGUMENT = "mlirfuse-split-reductions"
    min_extent: int = 65536
    block: int = 1024

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            for op in [o.operation for o in fn.regions[0].blocks[0].operations]:
                if op.name == "linalg.generic" and self._splittable(op):
                    self._split(fn, op)

    def _splittable(self, op: ir.Operation) -> bool:
        loops = st.reduction_loops(op)
        if len(loops) != 1 or has_empty_tensor([op]):  # (transform_op says why)
            return False
        if st.static_extents(op) is None:  # a symbolic size: the split would not verify
            return False
        extent = st.loop_extent(op, loops[0])
        return extent is not None and extent >= self.min_extent and extent % self.block == 0

    def _split(self, fn: ir.Operation, op: ir.Operation) -> None:
        loop = st.reduction_loops(op)[0]
        extent = st.loop_extent(op, loop)
        # The number of partials is the new outer loop; each reduces `block` elements.
        op.attributes[MARK] = ir.UnitAttr.get()
        apply_transform(fn, _SPLIT.format(mark=MARK, factor=extent // self.block,
                                          dim=len(st.output_maps(op)[0].results)))
        for child in st.walk(fn):
            if MARK in child.attributes:
                del child.attributes[MARK]
