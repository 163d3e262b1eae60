"""mlirfuse-reshape-to-expand: reshapes to computed sizes that only split or merge static
dimensions become tensor.expand_shape / tensor.collapse_shape.

torch-mlir lowers a view it cannot match dimension by dimension (more than one symbolic
size: attention's scores [b * h, s, s] viewed as [b, h, s, s]) to a tensor.reshape whose
shape is a tensor of computed sizes, each behind torch's "inferred dimension" arithmetic
(a size < 0 would be inferred). No fusion crosses a tensor.reshape, and its buffer form
copies: GPT-2's and Llama's dynamic code had more kernels than their static code, where
the same view is an expand_shape.

Matches: `tensor.reshape %src(%shape)` where %shape is a tensor.from_elements whose every
symbolic size is, through index casts and the inferred-dimension select (`select(x < 0,
inferred, x)` of a size x, never negative), the same value as a dimension of %src: read
with tensor.dim, or where %src was made (tensor.empty's operands, through the init
operands of the ops that wrote it). Then each symbolic dimension of the result is one
of %src, in order, and the static ones between them split or merge by their products.
Rewrites: the reshape into an expand_shape, a collapse_shape, or a collapse then an
expand (the sizes computed for it, and the assert on them, go with canonicalize).
Leaves alone: reshapes whose sizes it cannot trace (a size that is a product of
dimensions: those need the element count).

Before:
  %d1 = tensor.dim %t, %c1 ... (%t's sizes: tensor.empty(%s, %s2))
  %shape = tensor.from_elements %c2_i64, %c4_i64, %n1, %n2 : tensor<4xi64>
      (%n1 = select(%s_i64 < 0, %inferred, %s_i64), ...)
  %r = tensor.reshape %t(%shape) : (tensor<8x?x?xf32>, tensor<4xi64>) -> tensor<2x4x?x?xf32>
After:
  %r = tensor.expand_shape %t [[0, 1], [2], [3]] output_shape [2, 4, %s, %s2]
      : tensor<8x?x?xf32> into tensor<2x4x?x?xf32>
"""

from __future__ import annotations

import dataclasses
import math

from torch_mlir import ir
from torch_mlir.dialects import arith, tensor

from . import structured as st
from .base import Pass

_CASTS = ("arith.index_cast", "arith.index_castui", "arith.extsi", "arith.extui")
_SLT = 2  # arith.cmpi's predicate number of "slt"


def _dimension(value: ir.Value, j: int):
    """Dimension j of tensor `value`: its number when static, else the value it was made
    with (tensor.empty's operand, through the inits of destination-style ops), or
    ("dim", value, j) where it cannot be traced further."""
    t = ir.RankedTensorType(value.type)
    dynamic = ir.ShapedType.get_dynamic_size()
    if t.shape[j] != dynamic:
        return t.shape[j]
    op = st.defining_op(value)
    if op is not None and op.name == "tensor.empty":
        return _size(op.operands[sum(1 for n in t.shape[:j] if n == dynamic)])
    if op is not None and st.is_structured(op):
        inits = list(op.operands)[len(op.operands) - len(op.results):]
        r = next(i for i, res in enumerate(op.results) if res == value)
        if ir.RankedTensorType(inits[r].type).shape == t.shape:
            return _dimension(inits[r], j)
    return ("dim", value, j)


def _size(value: ir.Value):
    """A size, named as _dimension names it: through casts and tensor.dim of a constant
    dimension; a constant as its number; else the value itself."""
    op = st.defining_op(value)
    if op is None:
        return value
    if op.name in _CASTS:
        return _size(op.operands[0])
    if op.name == "arith.constant":
        return ir.IntegerAttr(op.attributes["value"]).value
    if op.name == "tensor.dim" and isinstance(st.constant_value(op.operands[1]), int):
        return _dimension(op.operands[0], st.constant_value(op.operands[1]))
    return value


def _requested(value: ir.Value):
    """A size of the reshape's shape operand, as _size names it; torch's inferred-dimension
    select `select(x < 0, inferred, x)` is x where x is a size (never negative)."""
    op = st.defining_op(value)
    if op is not None and op.name == "arith.select":
        cond, kept = st.defining_op(op.operands[0]), op.operands[2]
        if cond is not None and cond.name == "arith.cmpi" \
                and ir.IntegerAttr(cond.attributes["predicate"]).value == _SLT \
                and cond.operands[0] == kept and st.constant_value(cond.operands[1]) == 0:
            size = _size(kept)
            return size if _is_size(size) else None
    size = _size(value)
    return size if isinstance(size, int) or _is_size(size) else None


def _is_size(size) -> bool:
    """Whether _size's answer is a tensor's dimension (an index value or a traced
    ("dim", ...)), which is never negative."""
    return isinstance(size, tuple) or (isinstance(size, ir.Value)
                                       and isinstance(size.type, ir.IndexType))


def _groups(source: list, result: list) -> list[tuple[list[int], list[int]]] | None:
    """Source and result dimensions in order, in groups: a symbolic dimension alone on
    each side (the same size on both), or runs of static ones of equal products; None
    when they do not line up so."""
    if 0 in source or 0 in result:
        return None
    groups, i, k = [], 0, 0
    while i < len(source) or k < len(result):
        if i < len(source) and k < len(result) and not isinstance(source[i], int) \
                and not isinstance(result[k], int):
            if source[i] != result[k]:
                return None
            groups.append(([i], [k]))
            i, k = i + 1, k + 1
            continue
        gi, gk, a, b = [], [], 1, 1
        while not (gi and gk and a == b):
            if (not gi or a < b) and i < len(source) and isinstance(source[i], int):
                a, i = a * source[i], i + 1
                gi.append(i - 1)
            elif (not gk or b < a) and k < len(result) and isinstance(result[k], int):
                b, k = b * result[k], k + 1
                gk.append(k - 1)
            else:
                return None
        groups.append((gi, gk))
    return groups


def _reassociation(groups: list[list[int]]) -> ir.ArrayAttr:
    i64 = ir.IntegerType.get_signless(64)
    return ir.ArrayAttr.get([ir.ArrayAttr.get([ir.IntegerAttr.get(i64, d) for d in g])
                             for g in groups])


@dataclasses.dataclass
class ReshapeToExpand(Pass):
    """Turns reshapes that split or merge static dimensions into expand/collapse_shape."""

    ARGUMENT = "mlirfuse-reshape-to-expand"

    def run(self, module: ir.Operation) -> None:
        for op in [o for o in st.walk(module) if o.name == "tensor.reshape"]:
            _rewrite(op)


def _rewrite(op: ir.Operation) -> None:
    source_value, shape = op.operands
    elements = st.defining_op(shape)
    if elements is None or elements.name != "tensor.from_elements":
        return
    src = ir.RankedTensorType(source_value.type)
    out = ir.RankedTensorType(op.results[0].type)
    dynamic = ir.ShapedType.get_dynamic_size()
    source = [_dimension(source_value, j) for j in range(src.rank)]
    result = [n if n != dynamic else _requested(v)
              for n, v in zip(out.shape, elements.operands)]
    if any(r is None or (n == dynamic and isinstance(r, int))
           for n, r in zip(out.shape, result)):
        return
    groups = _groups(source, result)
    if groups is None:
        return
    with ir.InsertionPoint(op), op.location:
        value = source_value
        if any(len(gi) != 1 for gi, _ in groups):  # merge static runs first
            mid = [math.prod(src.shape[j] for j in gi) if len(gi) > 1 else src.shape[gi[0]]
                   for gi, _ in groups]
            value = tensor.CollapseShapeOp(ir.RankedTensorType.get(mid, src.element_type),
                                           value, _reassociation([gi for gi, _ in groups])
                                           ).result
        if any(len(gk) != 1 for _, gk in groups):  # then split them
            sizes = [tensor.DimOp(value, arith.ConstantOp(ir.IndexType.get(), g).result
                                  ).result
                     for g, (_, gk) in enumerate(groups) if out.shape[gk[0]] == dynamic]
            value = tensor.ExpandShapeOp(out, value, _reassociation([gk for _, gk in groups]),
                                         sizes, list(out.shape)).result
        elif value.type != out:
            value = tensor.CastOp(out, value).result
    op.results[0].replace_all_uses_with(value)
    op.erase()
