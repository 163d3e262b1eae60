"""mlirfuse-expand-math: f32 exp, log, log1p and tanh as arithmetic, for the CPU.

Matches: `math.exp`, `math.log`, `math.log1p`, `math.tanh` on f32 or vectors of f32;
`math.fpowi` by a constant of at most 8 (x ** 2: products; LLVM's powi takes no
vector exponent).
Rewrites: exp, log, log1p into range reduction, a polynomial and exponent bit
arithmetic (Cephes' single-precision approximations, about 1-2 ulp), tanh into a
rational function x * P(x^2) / Q(x^2) on [-7.9, 7.9] (one division, no exp: gelu
and mish spend their time there; 2.2 ulp), with selects for the
special values (NaN propagates, exp(-inf) = 0, exp(inf) = inf, log(0) = -inf,
log(x < 0) = NaN). Without this the CPU code calls libm's expf per element: one
call per lane even in vector code, and a call in a loop keeps LLVM from
vectorizing it. With it, exp-heavy kernels (softmax, swish, gelu, mish) are
straight-line arithmetic that vectorizes. exp flushes results below 2e-38 to zero.
Leaves alone: other types (f64 keeps libm), other math ops.

Also, where the JIT lacks a routine (it has no compiler-rt): an integer converted to
bf16 or f16 (sitofp, uitofp: torch.stack of a bool and a bf16 tensor needed
__truncsfbf2) is converted to f32 and truncated, as torch converts (c10::BFloat16(float
(x))), and arith-expand makes that truncation integer arithmetic; an f64 `math.erf`,
which refback-expand-ops-for-llvm rejects (it expands f32 only), and f64 `math.log1p`
and `math.expm1`, which convert-math-to-llvm makes log(1 + x) and exp(x) - 1 (all
accuracy lost for tiny x), become calls of libm's erf, log1p and expm1 per element.

Before:
  %y = math.exp %x : vector<8xf32>
After:
  %c = arith.minimumf (arith.maximumf %x, -86.9), 88.72...   // clamp
  %n = math.floor (%c * log2(e) + 0.5)
  %r = %c - %n * ln2_hi - %n * ln2_lo
  %p = 1 + %r + %r^2 * P(%r)                                  // degree 5
  %y = %p * bitcast((fptosi %n + 126) << 23) * 2.0            // * 2^n
  ... selects for x < -86.9 (0) and x > 88.72 (inf)
"""

from __future__ import annotations

import dataclasses
import math

from torch_mlir import ir
from torch_mlir.dialects import arith, func, ub, vector
from torch_mlir.dialects import math as math_d

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass

_EXP_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
          1.6666665459e-1, 5.0000001201e-1]
_LOG_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
          1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
          3.3333331174e-1]
_TANH_ALPHA = [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
               5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
               4.89352455891786e-03]
_TANH_BETA = [1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
              4.89352518554385e-03]
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
_EXP_LO, _EXP_HI = -104.0, 88.72283935546875  # below: 0 (under 2^-150); above: inf


class _Builder:
    """Arithmetic on f32 or vector<...xf32> values of one type, at the insertion point."""

    def __init__(self, t: ir.Type):
        self.t = t
        shape = ir.VectorType(t).shape if isinstance(t, ir.VectorType) else None
        i32 = ir.IntegerType.get_signless(32)
        self.int_t = ir.VectorType.get(shape, i32) if shape else i32

    def f(self, value: float) -> ir.Value:
        return st.float_constant(self.t, value)

    def i(self, value: int) -> ir.Value:
        scalar = ir.IntegerAttr.get(ir.IntegerType.get_signless(32), value)
        attr = ir.DenseElementsAttr.get_splat(self.int_t, scalar) \
            if isinstance(self.int_t, ir.VectorType) else scalar
        return arith.ConstantOp(self.int_t, attr).result

    def poly(self, x: ir.Value, coefficients: list[float]) -> ir.Value:
        """Horner's rule, highest degree first."""
        acc = self.f(coefficients[0])
        for c in coefficients[1:]:
            acc = math_d.FmaOp(acc, x, self.f(c)).result
        return acc

    def cmp(self, predicate, a: ir.Value, b: ir.Value) -> ir.Value:
        return arith.CmpFOp(predicate, a, b).result

    def select(self, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
        return arith.SelectOp(cond, a, b).result


def _exp(b: _Builder, x: ir.Value) -> ir.Value:
    clamped = arith.MinimumFOp(arith.MaximumFOp(x, b.f(_EXP_LO)).result, b.f(_EXP_HI)).result
    n = math_d.FloorOp(math_d.FmaOp(clamped, b.f(math.log2(math.e)), b.f(0.5)).result).result
    r = math_d.FmaOp(n, b.f(-_LN2_HI), clamped).result
    r = math_d.FmaOp(n, b.f(-_LN2_LO), r).result
    r2 = arith.MulFOp(r, r).result
    p = arith.AddFOp(math_d.FmaOp(r2, b.poly(r, _EXP_P), r).result, b.f(1.0)).result
    # 2^n as 2^h * 2^(n-h), h = n >> 1: both factors are normal numbers for every n in
    # [-150, 128], so x up to ln(FLT_MAX) stays finite and results below 2^-126 come out
    # subnormal (rounded once, by the last multiply), as libm's.
    ni = arith.FPToSIOp(b.int_t, n).result
    half = arith.ShRSIOp(ni, b.i(1)).result
    y = p
    for e in (half, arith.SubIOp(ni, half).result):
        bits = arith.ShLIOp(arith.AddIOp(e, b.i(127)).result, b.i(23)).result
        y = arith.MulFOp(y, arith.BitcastOp(b.t, bits).result).result
    y = b.select(b.cmp(arith.CmpFPredicate.OLT, x, b.f(_EXP_LO)), b.f(0.0), y)
    return b.select(b.cmp(arith.CmpFPredicate.OGT, x, b.f(_EXP_HI)), b.f(math.inf), y)


def _log(b: _Builder, x: ir.Value) -> ir.Value:
    # Subnormal inputs: scaled by 2^23 first, the exponent corrected after.
    tiny = b.cmp(arith.CmpFPredicate.OLT, x, b.f(1.1754943508222875e-38))
    scaled = b.select(tiny, arith.MulFOp(x, b.f(8388608.0)).result, x)
    bits = arith.BitcastOp(b.int_t, scaled).result
    exponent = arith.SubIOp(arith.AndIOp(arith.ShRUIOp(bits, b.i(23)).result,
                                         b.i(0xFF)).result, b.i(126)).result
    e = arith.SIToFPOp(b.t, exponent).result
    e = b.select(tiny, arith.SubFOp(e, b.f(23.0)).result, e)
    m = arith.BitcastOp(b.t, arith.OrIOp(arith.AndIOp(bits, b.i(0x007FFFFF)).result,
                                         b.i(0x3F000000)).result).result  # [0.5, 1)
    low = b.cmp(arith.CmpFPredicate.OLT, m, b.f(0.707106781186547524))
    e = b.select(low, arith.SubFOp(e, b.f(1.0)).result, e)
    m = arith.SubFOp(b.select(low, arith.AddFOp(m, m).result, m), b.f(1.0)).result
    z = arith.MulFOp(m, m).result
    y = arith.MulFOp(arith.MulFOp(b.poly(m, _LOG_P), m).result, z).result
    y = math_d.FmaOp(e, b.f(_LN2_LO), y).result
    y = math_d.FmaOp(z, b.f(-0.5), y).result
    y = math_d.FmaOp(e, b.f(_LN2_HI), arith.AddFOp(m, y).result).result
    y = b.select(b.cmp(arith.CmpFPredicate.OEQ, x, b.f(math.inf)), x, y)
    y = b.select(b.cmp(arith.CmpFPredicate.OEQ, x, b.f(0.0)), b.f(-math.inf), y)
    # x < 0 and NaN: NaN (unordered-or-less-than is true for both).
    return b.select(b.cmp(arith.CmpFPredicate.ULT, x, b.f(0.0)), b.f(math.nan), y)


def _log1p(b: _Builder, x: ir.Value) -> ir.Value:
    # log(u) * x / (u - 1) with u = 1 + x corrects the rounding of 1 + x.
    u = arith.AddFOp(x, b.f(1.0)).result
    y = arith.MulFOp(_log(b, u), arith.DivFOp(x, arith.SubFOp(u, b.f(1.0)).result).result).result
    y = b.select(b.cmp(arith.CmpFPredicate.OEQ, u, b.f(math.inf)), u, y)
    return b.select(b.cmp(arith.CmpFPredicate.OEQ, u, b.f(1.0)), x, y)


def _tanh(b: _Builder, x: ir.Value) -> ir.Value:
    # A rational approximation on [-9, 9] (tanh is +-1 in f32 beyond): x * P(x^2) / Q(x^2),
    # one division and no exp; below 4e-4 tanh(x) rounds to x.
    c = arith.MinimumFOp(arith.MaximumFOp(x, b.f(-7.90531110763549805)).result,
                         b.f(7.90531110763549805)).result
    z = arith.MulFOp(c, c).result
    p = arith.MulFOp(b.poly(z, _TANH_ALPHA), c).result
    q = b.poly(z, _TANH_BETA)
    y = arith.DivFOp(p, q).result
    return b.select(b.cmp(arith.CmpFPredicate.OLT, math_d.AbsFOp(x).result, b.f(0.0004)), x, y)


_EXPANSIONS = {"math.exp": _exp, "math.log": _log, "math.log1p": _log1p, "math.tanh": _tanh}


def _is_f32(t: ir.Type) -> bool:
    element = ir.VectorType(t).element_type if isinstance(t, ir.VectorType) else t
    return isinstance(element, ir.F32Type)


@dataclasses.dataclass
class ExpandMath(Pass):
    """Expands f32 exp, log, log1p and tanh into arithmetic (no libm calls)."""

    ARGUMENT = "mlirfuse-expand-math"

    def run(self, module: ir.Operation) -> None:
        _integers_to_half_via_f32(module)
        _double_to_libm(module)
        ops = [op for op in st.walk(module)
               if (op.name in _EXPANSIONS and _is_f32(op.results[0].type))
               or (op.name == "math.fpowi" and st.small_constant(op.operands[1]) is not None)]
        for op in ops:
            with ir.InsertionPoint(op), op.location:
                if op.name == "math.fpowi":  # any float type: only products
                    value = st.power(op.operands[0], st.small_constant(op.operands[1]))
                else:
                    value = _EXPANSIONS[op.name](_Builder(op.results[0].type), op.operands[0])
            op.results[0].replace_all_uses_with(value)
            op.erase()


def _element(t: ir.Type) -> ir.Type:
    return ir.VectorType(t).element_type if isinstance(t, ir.VectorType) else t


def _like(t: ir.Type, element: ir.Type) -> ir.Type:
    return ir.VectorType.get(ir.VectorType(t).shape, element) \
        if isinstance(t, ir.VectorType) else element


def _integers_to_half_via_f32(module: ir.Operation) -> None:
    for op in [o for o in st.walk(module) if o.name in ("arith.sitofp", "arith.uitofp")
               and str(_element(o.results[0].type)) in ("bf16", "f16")]:
        t = op.results[0].type
        with ir.InsertionPoint(op), op.location:
            wide = ir.Operation.create(op.name, results=[_like(t, ir.F32Type.get())],
                                       operands=list(op.operands)).results[0]
            value = arith.TruncFOp(t, wide).result
        op.results[0].replace_all_uses_with(value)
        op.erase()


# f64 math ops the LLVM lowering gets wrong or rejects, and the libm routine called
# instead: erf (refback-expand-ops-for-llvm expands f32 only), log1p and expm1
# (convert-math-to-llvm makes them log(1 + x) and exp(x) - 1: log1p(1e-17) was 0, and
# 1e-10 was 8e-9 off).
_F64_LIBM = {"math.erf": "erf", "math.log1p": "log1p", "math.expm1": "expm1"}


def _double_to_libm(module: ir.Operation) -> None:
    calls = [o for o in st.walk(module)
             if o.name in _F64_LIBM and isinstance(_element(o.results[0].type), ir.F64Type)]
    if not calls:
        return
    f64 = ir.F64Type.get()
    body = module.regions[0].blocks[0]
    declared = {ir.StringAttr(o.attributes["sym_name"]).value for o in body.operations
                if o.name == "func.func"}
    for name in sorted({_F64_LIBM[o.name] for o in calls} - declared):
        with ir.InsertionPoint.at_block_begin(body), module.location:
            decl = func.FuncOp(name, ir.FunctionType.get([f64], [f64]))
            decl.attributes["sym_visibility"] = ir.StringAttr.get("private")
    for op in calls:
        name, x, t = _F64_LIBM[op.name], op.operands[0], op.results[0].type
        with ir.InsertionPoint(op), op.location:
            if not isinstance(t, ir.VectorType):
                value = func.CallOp([f64], name, [x]).result
            else:  # one call per lane, on the vector made 1-D
                shape = ir.VectorType(t).shape
                flat = ir.VectorType.get([math.prod(shape)], f64)
                lanes = vector.ShapeCastOp(flat, x).result if len(shape) > 1 else x
                value = ub.PoisonOp(flat).result
                for i in range(math.prod(shape)):
                    lane = vector.ExtractOp(lanes, [], [i]).result
                    y = func.CallOp([f64], name, [lane]).result
                    value = vector.InsertOp(y, value, [], [i]).result
                if len(shape) > 1:
                    value = vector.ShapeCastOp(t, value).result
        op.results[0].replace_all_uses_with(value)
        op.erase()
