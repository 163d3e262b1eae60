"""mlirfuse-simplify-math: tanh(softplus(x)) as one exponential and one division.

Matches: in a linalg body, on f32,
  %e = math.exp %x
  %l = math.log1p %e
  %c = arith.cmpf ogt, %x, %T          (softplus's threshold, 20 by default)
  %s = arith.select %c, %x, %l
  %t = math.tanh %s
(torch's softplus with beta 1, then tanh: mish, `x * tanh(softplus(x))`), with T a
constant in [9.1, 44]: above 9.1 tanh rounds to 1.0 in f32, and below 44 e^(2x) is
finite.
Rewrites: %t into select(%c, 1.0, n / (n + 2)) with n = e * (e + 2), which is
tanh(log1p(e)) = ((1 + e)^2 - 1) / ((1 + e)^2 + 1) exactly: exp, log1p and tanh
(three transcendental functions, each a libm or libdevice call or a polynomial)
become one exp, two multiplies and a division; within 4 ulp of the f64 result
(test_math). NaN stays NaN; x = -inf gives 0 as before.

Before:
  %e = math.exp %x
  %l = math.log1p %e
  %c = arith.cmpf ogt, %x, %cst_20
  %s = arith.select %c, %x, %l
  %t = math.tanh %s
After:
  %e = math.exp %x
  %c = arith.cmpf ogt, %x, %cst_20
  %n = arith.mulf %e, (%e + 2.0)
  %q = arith.divf %n, (%n + 2.0)
  %t = arith.select %c, %cst_1, %q
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import arith

from . import structured as st
from .base import Pass

# Thresholds T for which tanh(x) == 1.0 in f32 for every x > T, and e^(2T) is finite.
_LOWEST, _HIGHEST = 9.1, 44.0


def _owner(value: ir.Value, name: str) -> ir.Operation | None:
    op = st.defining_op(value)
    return op if op is not None and op.name == name else None


def _softplus_tanh(tanh: ir.Operation):
    """(x, exp op, the threshold's compare) when `tanh` is tanh(softplus(x)) as above."""
    if str(tanh.results[0].type) != "f32":
        return None
    select = _owner(tanh.operands[0], "arith.select")
    if select is None:
        return None
    cond, x, soft = select.operands
    compare = _owner(cond, "arith.cmpf")
    log1p = _owner(soft, "math.log1p")
    exp = _owner(log1p.operands[0], "math.exp") if log1p is not None else None
    if compare is None or exp is None or exp.operands[0] != x:
        return None
    predicate = ir.IntegerAttr(compare.attributes["predicate"]).value
    threshold = st.constant_value(compare.operands[1])
    if predicate != 2 or compare.operands[0] != x or not isinstance(threshold, float) \
            or not _LOWEST <= threshold <= _HIGHEST:  # 2: ogt
        return None
    return x, exp, compare


def _erase_if_dead(ops: list[ir.Operation]) -> None:
    for op in ops:
        if all(not list(r.uses) for r in op.results):
            op.erase()


@dataclasses.dataclass
class SimplifyMath(Pass):
    """Rewrites tanh(softplus(x)) in linalg bodies as one exp and one division."""

    ARGUMENT = "mlirfuse-simplify-math"

    def run(self, module: ir.Operation) -> None:
        for tanh in [op for op in st.walk(module) if op.name == "math.tanh"]:
            match = _softplus_tanh(tanh)
            if match is None:
                continue
            x, exp, compare = match
            select = st.defining_op(tanh.operands[0])
            log1p = st.defining_op(select.operands[2])
            f32 = x.type
            with ir.InsertionPoint(tanh), tanh.location:
                e = exp.results[0]
                two = st.float_constant(f32, 2.0)
                n = arith.MulFOp(e, arith.AddFOp(e, two).result).result
                q = arith.DivFOp(n, arith.AddFOp(n, two).result).result
                result = arith.SelectOp(compare.results[0], st.float_constant(f32, 1.0), q)
            tanh.results[0].replace_all_uses_with(result.result)
            tanh.erase()
            _erase_if_dead([select, log1p])
