"""mlirfuse-clamp-nan: clamps return NaN for a NaN input, as eager does.

torch-mlir lowers clamp (clamp_min, clamp_max, hardtanh) to a compare and a select
whose predicate is unordered: `ult` is true when either side is NaN, so a NaN input
took the bound (clamp(nan, -0.5, 0.5) was -0.5; eager gives nan). Eager's result is
NaN when the input or the bound is NaN.

Matches: `arith.select(arith.cmpf <u-predicate> %x, %b, ...), %b, %x` (in any region:
linalg bodies), the bound %b replacing %x when %x is past it, with predicate ult, ule,
ugt or uge.
Rewrites: the ordered predicate (false for a NaN %x, so %x, NaN, goes through); when %b
may be NaN (anything but a constant that is not), also taken when %b is NaN (`uno`).
Leaves alone: other selects, and ordered compares.

Before:
  %c = arith.cmpf ult, %x, %lo : f32
  %r = arith.select %c, %lo, %x : f32
After (a constant %lo):
  %c = arith.cmpf olt, %x, %lo : f32
  %r = arith.select %c, %lo, %x : f32
"""

from __future__ import annotations

import dataclasses
import math

from torch_mlir import ir
from torch_mlir.dialects import arith

from . import structured as st
from .base import Pass

P = arith.CmpFPredicate
_ORDERED = {int(P.ULT): P.OLT, int(P.ULE): P.OLE, int(P.UGT): P.OGT, int(P.UGE): P.OGE}


def _bound_may_be_nan(value: ir.Value) -> bool:
    c = st.constant_value(value)
    return not isinstance(c, (int, float)) or (isinstance(c, float) and math.isnan(c))


@dataclasses.dataclass
class ClampNan(Pass):
    """Makes clamps (cmpf unordered + select of the bound) return NaN for a NaN input."""

    ARGUMENT = "mlirfuse-clamp-nan"

    def run(self, module: ir.Operation) -> None:
        for select in [o for o in st.walk(module) if o.name == "arith.select"]:
            cmp = st.defining_op(select.operands[0])
            if cmp is None or cmp.name != "arith.cmpf":
                continue
            predicate = ir.IntegerAttr(cmp.attributes["predicate"]).value
            x, bound = cmp.operands[0], cmp.operands[1]
            if predicate not in _ORDERED or select.operands[1] != bound \
                    or select.operands[2] != x or not isinstance(x.type, ir.FloatType):
                continue
            with ir.InsertionPoint(select), select.location:
                ordered = arith.CmpFOp(_ORDERED[predicate], x, bound).result
                if _bound_may_be_nan(bound):
                    nan = arith.CmpFOp(P.UNO, bound, bound).result
                    ordered = arith.OrIOp(ordered, nan).result
            select.operands[0] = ordered
            if not list(cmp.results[0].uses):
                cmp.erase()
