"""mlirfuse-bubble-up-slices: an elementwise op whose result is only sliced computes the slices.

`gates.chunk(4, 1)` after `gates = x @ w.t() + b` (the LSTM cell) slices the bias
add's result into four pieces, each read by its own sigmoid or tanh. Elementwise
fusion does not look through a `tensor.extract_slice`, so the bias add stays a
kernel of its own: one more round trip of the whole gates through memory, one more
launch on the GPU. Computed on the slices of its inputs instead, each piece of the
add is a producer of exactly one elementwise consumer, and fuses into it.

Matches: a one-result `linalg.generic` with only parallel loops, an identity output
map, projected-permutation input maps (broadcasts, transposes) and no `linalg.index`
in its body (an index would move with the slice), whose every use is a
`tensor.extract_slice` with static offsets and sizes, unit strides and no dropped
dimensions; the slices do not overlap (no element is computed twice) and each is read
only by linalg generics other than contractions (which would not take the producer in:
shield-contractions), so each piece does fuse.
Runs on linalg on tensors, before `linalg-fuse-elementwise-ops`; repeats until nothing
matches, so a chain of such ops (two bias adds) moves below the slices one by one.

Rewrites: each slice becomes a copy of the op over slices of its operands: an operand
read through a map takes the slice's offsets and sizes of the loops its dimensions
are (a broadcast bias [2048] over [B, 2048] takes the slice of its one dimension); a
`tensor.empty` init becomes an empty of the slice's shape.

Before:
  %g = linalg.generic {a + b} ins(%m, %bias : tensor<64x2048xf32>, tensor<2048xf32>) outs(%e)
  %i = tensor.extract_slice %g[0, 0] [64, 512] [1, 1]
  %f = tensor.extract_slice %g[0, 512] [64, 512] [1, 1]
After:
  %m0 = tensor.extract_slice %m[0, 0] [64, 512] [1, 1]
  %b0 = tensor.extract_slice %bias[0] [512] [1]
  %i = linalg.generic {a + b} ins(%m0, %b0) outs(%e0 : tensor<64x512xf32>)
  %m1 = tensor.extract_slice %m[0, 512] [64, 512] [1, 1]
  %b1 = tensor.extract_slice %bias[512] [512] [1]
  %f = linalg.generic {a + b} ins(%m1, %b1) outs(%e1 : tensor<64x512xf32>)
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import tensor

from . import structured as st
from .base import Pass


def _static_box(slice_op: ir.Operation) -> tuple[list[int], list[int]] | None:
    """(offsets, sizes) of a static, unit-stride, rank-keeping extract_slice, else None."""
    if slice_op.name != "tensor.extract_slice" or len(slice_op.operands) != 1:
        return None  # dynamic offsets, sizes or strides are operands
    offsets = list(ir.DenseI64ArrayAttr(slice_op.attributes["static_offsets"]))
    sizes = list(ir.DenseI64ArrayAttr(slice_op.attributes["static_sizes"]))
    strides = list(ir.DenseI64ArrayAttr(slice_op.attributes["static_strides"]))
    if any(s != 1 for s in strides) or slice_op.results[0].type.rank != len(sizes):
        return None
    return offsets, sizes


def _disjoint(a: tuple[list[int], list[int]], b: tuple[list[int], list[int]]) -> bool:
    """Two boxes share no element when they are apart along some dimension."""
    return any(oa + sa <= ob or ob + sb <= oa
               for oa, sa, ob, sb in zip(a[0], a[1], b[0], b[1]))


def _elementwise(op: ir.Operation) -> bool:
    """One result, parallel loops, identity output map, projected-permutation inputs,
    no linalg.index."""
    if op.name != "linalg.generic" or len(op.results) != 1 or st.reduction_loops(op):
        return False
    maps = st.indexing_maps(op)
    out = maps[-1]
    if not out.is_permutation or st.dim_positions(out) != list(range(out.n_dims)):
        return False
    if any(not m.is_projected_permutation for m in maps[:-1]):
        return False
    return not any(o.name == "linalg.index" for o in st.walk(op))


def _fuses(slice_op: ir.Operation) -> bool:
    """Every reader of the slice is a generic that elementwise fusion can merge it into."""
    users = [st.owner_op(u) for u in slice_op.results[0].uses]
    return all(u.name == "linalg.generic" and not st.is_contraction(u) for u in users)


def _slices(op: ir.Operation) -> list[tuple[ir.Operation, tuple[list[int], list[int]]]] | None:
    """The op's extract_slice users with their boxes, when the op is to be bubbled."""
    found = []
    for use in op.results[0].uses:
        user = st.owner_op(use)
        box = _static_box(user)
        if box is None or not _fuses(user):
            return None
        found.append((user, box))
    if not found:
        return None
    for i, (_, a) in enumerate(found):
        if any(not _disjoint(a, b) for _, b in found[i + 1:]):
            return None
    return found


def _slice_operand(value: ir.Value, amap: ir.AffineMap, box) -> ir.Value:
    """`value` restricted to the loops' box through `amap` (built at the insertion point)."""
    if not isinstance(value.type, ir.RankedTensorType):
        return value  # a scalar
    offsets, sizes = box
    positions = st.dim_positions(amap)
    sub_offsets = [offsets[p] for p in positions]
    sub_sizes = [sizes[p] for p in positions]
    element = value.type.element_type
    owner = st.defining_op(value)
    if owner is not None and owner.name == "tensor.empty":
        return tensor.EmptyOp(sub_sizes, element).result
    result_type = ir.RankedTensorType.get(sub_sizes, element)
    return tensor.ExtractSliceOp(result_type, value, [], [], [], sub_offsets, sub_sizes,
                                 [1] * len(sub_sizes)).result


def rewrite(op: ir.Operation, slices) -> None:
    maps = st.indexing_maps(op)
    for slice_op, box in slices:
        with ir.InsertionPoint(slice_op), slice_op.location:
            operands = [_slice_operand(v, m, box) for v, m in zip(op.operands, maps)]
            piece = op.clone(ip=ir.InsertionPoint(slice_op))
            for i, value in enumerate(operands):
                piece.operands[i] = value
            piece.results[0].set_type(slice_op.results[0].type)
        slice_op.results[0].replace_all_uses_with(piece.results[0])
        slice_op.erase()
    op.erase()


@dataclasses.dataclass
class BubbleUpSlices(Pass):
    """Computes an elementwise op on the non-overlapping slices taken of its result."""

    ARGUMENT = "mlirfuse-bubble-up-slices"

    def run(self, module: ir.Operation) -> None:
        changed = True
        while changed:  # a producer of a bubbled op may match now
            changed = False
            for fn in st.functions(module):
                for op in [o for o in st.walk(fn) if _elementwise(o)]:
                    slices = _slices(op)
                    if slices is not None:
                        rewrite(op, slices)
                        changed = True
