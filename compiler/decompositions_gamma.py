"""Decompositions of the gamma functions, which torch-mlir cannot lower (no linalg
lowering of aten.lgamma, digamma, polygamma, special_zeta), and, with this module's
helpers, of the error functions (erfc, erfinv, special_erfcx, special_ndtri,
special_log_ndtr: decompositions_erf.py): each is rebuilt from pointwise ops that it
lowers (arithmetic, where, exp, log, sin, tan, floor, pow), which the fusion passes make
one kernel. What follows is said of both.

The algorithms are those of eager's CPU kernels (torch's aten/src/ATen/native/Math.h,
from Cephes, SciPy and the Faddeeva package), with their coefficients; loops whose
count depends on the value (digamma's `while x < 10`, zeta's sum until the terms are
negligible) are unrolled to their bound with masks, `torch.where`, so that a finished
element keeps its value. Where eager calls a library (the C library's lgamma and
erfc, MKL's erfinv) the function is Cephes' (lgam; erfc and erf), accurate to a few ulp
in double, and erfinv takes a third Newton step. mvlgamma is torch's own decomposition
(a sum of lgamma), applied from the start rather than learned from a failed compile.

special.zeta (and polygamma, n >= 2) is as eager's for q >= -12, where Cephes' sum
runs at most 22 terms; below it is NaN (eager sums on, up to 9 - q terms).

Every function computes in float64 and rounds once to the result's dtype: eager's f32
kernels mostly compute in float (their own errors near the zeros of digamma are
larger than ours) or in double (zeta, polygamma), and a float chain would not reach
libm's lgammaf and erfcf. Integer inputs give torch.get_default_dtype(), as eager;
complex ones are left as they are (NotImplemented).

Accuracy against eager, compiled, measured on ~50,000 values per function over its
domain and the special values (test/python/test_decompositions_gamma.py asserts it):
f64 within 1.6e-15 relative, or absolute where the result is under 1 in magnitude
(near zeros: lgamma's negative zeros, digamma's, where the relative error reaches
7.7e-10 and 1.1e-13); f32 (computed in f64, rounded once) equal to eager's f64 result
rounded on all of them. Eager's own f32 kernels are further off that in places
(digamma near its zeros, erfcx(x < -6), trigamma near its poles): there the results
differ from eager's f32 by eager's error.

Writing these found two f64 bugs, fixed where they were: `number - t` rounded the
number to f32 (3.3e-8 off), and the CPU's log1p was log(1 + x) (0 for |x| < 1e-16).

Not decomposed: aten.igamma and aten.igammac. Eager's calc_igamma/calc_igammac pick
among a power series and a continued fraction of up to 2000 iterations each (stopping
at convergence, which takes hundreds of terms for a and x of some hundreds) and a
25x25-term asymptotic expansion: unrolled to their bounds they are graphs of
thousands of f64 ops per element, so those ops stay eager.
"""

from __future__ import annotations

import math

import torch

from .series import p1evl, polevl

aten = torch.ops.aten

INF = float("inf")
NAN = float("nan")
F64 = torch.float64
MACHEP = 1.11022302462515654042e-16  # Cephes' double epsilon (2**-53)


# ---------------------------------------------------------------------------- dtypes

def result_dtype(*tensors):
    """The floating dtype of a pointwise special function of `tensors`, as eager
    promotes (integers and bools to the default dtype); None for complex."""
    dtype = torch.result_type(*tensors) if len(tensors) > 1 else tensors[0].dtype
    if dtype.is_complex:
        return None
    return dtype if dtype.is_floating_point else torch.get_default_dtype()


def unary_in_f64(compute):
    """A decomposition of a unary op: `compute` in float64, rounded once to the
    result's dtype."""
    def decompose(x):
        dtype = result_dtype(x)
        if dtype is None:
            return NotImplemented
        return compute(x.to(F64)).to(dtype)
    decompose.__doc__ = compute.__doc__
    decompose.__name__ = compute.__name__
    decompose.__wrapped__ = compute  # the f64 body, for the functions built on it
    return decompose


def full(x, value):
    return torch.full_like(x, value)


def keep_nan(x, result):
    """NaN where `x` is NaN: the masks below compare, and a NaN compares false."""
    return torch.where(torch.isnan(x), x, result)


# ------------------------------------------------------------------- gamma family
# Cephes' gamma.c, lgam: Stirling's series past 13, a rational function on [2, 3)
# reached by the recurrence below it, the reflection formula for negative arguments.

LGAM_A = [8.11614167470508450300E-4, -5.95061904284301438324E-4, 7.93650340457716943945E-4,
          -2.77777777730099687205E-3, 8.33333333333331927722E-2]
LGAM_B = [-1.37825152569120859100E3, -3.88016315134637840924E4, -3.31612992738871184744E5,
          -1.16237097492762307383E6, -1.72173700820839662146E6, -8.53555664245765465627E5]
LGAM_C = [-3.51815701436523470549E2, -1.70642106651881159223E4, -2.20528590553854454839E5,
          -1.13933444367982507207E6, -2.53252307177582951285E6, -2.01889141433532773231E6]
LOG_SQRT_2PI = 0.91893853320467274178
LOG_PI = 1.14472988584940017414
MAXLGM = 2.556348e305


# lgamma(1 + e) = -euler e + sum_k (-1)^k zeta(k)/k e^k, k = 2..30, highest first:
# relative accuracy near the zeros at 1 and 2 (the recurrence's log z + rational
# cancels there), for |e| <= 1/4.
LGAM_NEAR_1 = [0.03333333336437758, -0.034482758684919304, 0.035714285847333355,
               -0.037037037312989324, 0.03846153903467518, -0.04000000119214014,
               0.04166666915034121, -0.04347826605304026, 0.04545455629320467,
               -0.047619070330142226, 0.05000004769810169, -0.05263167937961666,
               0.055555767627403614, -0.058823978658684585, 0.06250095514121304,
               -0.06666870588242046, 0.07143294629536133, -0.0769325164113522,
               0.083353840546109, -0.09095401714582904, 0.1000994575127818,
               -0.11133426586956469, 0.12550966952474304, -0.1440498967688461,
               0.1695571769974082, -0.20738555102867398, 0.27058080842778454,
               -0.40068563438653143, 0.8224670334241132]
EULER = 0.5772156649015329


def _lgamma_near_1(e):
    """lgamma(1 + e) for |e| <= 1/4, by its Taylor series."""
    return e * (e * polevl(e, LGAM_NEAR_1) - EULER)


def _lgamma_positive(x):
    """lgamma(x) for x > 0 (Cephes' lgam)."""
    # Below 13: z = x (x+1)... or (x-1)(x-2)... brings x + p into [2, 3) (at most 10
    # steps down, 2 up), lgamma(x) = log|z| + the rational function of x + p - 2.
    small = x < 13.0
    xs = torch.where(small, x, full(x, 2.5))
    z = torch.ones_like(x)
    p = torch.zeros_like(x)
    for _ in range(10):
        down = xs + p >= 3.0
        p = torch.where(down, p - 1.0, p)
        z = torch.where(down, z * (xs + p), z)
    for _ in range(2):
        up = xs + p < 2.0
        z = torch.where(up, z / (xs + p), z)
        p = torch.where(up, p + 1.0, p)
    w = xs + (p - 2.0)
    near = torch.log(z) + w * polevl(w, LGAM_B) / p1evl(w, LGAM_C)
    near = torch.where(w == 0, torch.log(z), near)
    # From 13: Stirling's series (its first three terms from 1000, none past 1e8).
    xl = torch.where(small, full(x, 13.0), torch.where(x > MAXLGM, full(x, 1e300), x))
    q = (xl - 0.5) * torch.log(xl) - xl + LOG_SQRT_2PI
    r = 1.0 / (xl * xl)
    series = torch.where(xl >= 1000.0,
                         (7.9365079365079365079365e-4 * r - 2.7777777777777777777778e-3) * r
                         + 0.0833333333333333333333, polevl(r, LGAM_A)) / xl
    far = torch.where(xl > 1e8, q, q + series)
    far = torch.where(x > MAXLGM, full(x, INF), far)
    e1 = torch.where((x - 1.0).abs() <= 0.25, x - 1.0, torch.zeros_like(x))
    e2 = torch.where((x - 2.0).abs() <= 0.25, x - 2.0, torch.zeros_like(x))
    near = torch.where(e1 != 0, _lgamma_near_1(e1), near)
    near = torch.where(e2 != 0, _lgamma_near_1(e2) + torch.log1p(e2), near)
    return torch.where(small, near, far)


@unary_in_f64
def lgamma(x):
    """aten.lgamma (eager: the C library's lgamma): Cephes' lgam, with its reflection
    log(pi) - log|x sin(pi x)| - lgamma(-x) for all x < 0; +inf at 0 and the negative
    integers, +inf at +-inf. Near the zeros at 1 and 2 a Taylor series keeps the relative
    accuracy (glibc's does too). Max error vs eager (f64): 8e-16 relative where
    |lgamma| >= 1, absolute below (7.7e-10 relative at the negative zeros)."""
    q = x.abs()
    w = _lgamma_positive(torch.where(q > 0, q, full(q, 1.0)))
    frac = q - torch.floor(q)
    z = torch.where(frac > 0.5, 1.0 - frac, frac)
    # log(q) + log(sin) rather than log(q sin): q sin(pi q) underflows for q < 1e-154.
    reflected = -torch.log(q) - torch.log(torch.sin(math.pi * z)) - w + LOG_PI
    reflected = torch.where(frac == 0, full(x, INF), reflected)
    result = torch.where(x > 0, w, reflected)
    result = torch.where(q == INF, full(x, INF), torch.where(x == 0, full(x, INF), result))
    return keep_nan(x, result)


PSI_A = [8.33333333333333333333E-2, -2.10927960927960927961E-2, 7.57575757575757575758E-3,
         -4.16666666666666666667E-3, 3.96825396825396825397E-3, -8.33333333333333333333E-3,
         8.33333333333333333333E-2]


def _digamma_positive(x):
    """digamma(x) for x > 0: eager's calc_digamma, the recurrence to x >= 10 unrolled
    (at most 10 steps) and the asymptotic series."""
    result = torch.zeros_like(x)
    for _ in range(10):
        below = x < 10.0
        result = torch.where(below, result - 1.0 / x, result)
        x = torch.where(below, x + 1.0, x)
    z = 1.0 / (x * x)
    y = torch.where(x < 1e17, z * polevl(z, PSI_A), torch.zeros_like(x))
    series = result + torch.log(x) - 0.5 / x - y
    return torch.where(x == 10.0, result + 2.25175258906672110764, series)


@unary_in_f64
def digamma(x):
    """aten.digamma: eager's calc_digamma in double, with its reflection
    digamma(1 - x) - pi / tan(pi frac(x)) for x < 0; -inf at +0, +inf at -0, NaN at
    the negative integers and -inf. Max error vs eager (f64): 9e-16 relative, or absolute
    near its zeros (1.1e-13 relative there); eager's f32 kernel computes in float."""
    negative = x < 0
    r = x - torch.trunc(x)
    shifted = torch.where(negative, 1.0 - x, torch.where(x == 0, full(x, 1.0), x))
    reflection = math.pi / torch.tan(math.pi * torch.where(negative, r, full(r, 0.5)))
    result = _digamma_positive(shifted) - torch.where(negative, reflection, torch.zeros_like(x))
    zero = torch.where(torch.signbit(x), full(x, INF), full(x, -INF))
    result = torch.where(x == 0, zero, result)
    result = torch.where(negative & (r == 0), full(x, NAN), result)
    return keep_nan(x, result)


def _trigamma(x):
    """eager's trigamma: reflection below 1/2, 6 steps of the recurrence, and the
    asymptotic series."""
    small = x < 0.5
    sin_pi_x = torch.sin(math.pi * x)
    result = torch.where(small, -(math.pi * math.pi) / (sin_pi_x * sin_pi_x), torch.zeros_like(x))
    x = torch.where(small, 1.0 - x, x)
    for _ in range(6):
        result = result + 1.0 / (x * x)
        x = x + 1.0
    ixx = 1.0 / (x * x)
    series = 1.0 / 6 - ixx * (1.0 / 30 - ixx * (1.0 / 42))
    result = result + (1.0 + 1.0 / (2.0 * x) + ixx * series) / x
    return torch.where(small, -result, result)


# Cephes' zeta: the first terms of the sum, then Euler-Maclaurin's with these
# denominators (2k)! / B_2k.
ZETA_A = [12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
          7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
          -4.5979787224074726105e15, 1.8152105401943546773e17, -7.1661652561756670113e18]
# Sum terms unrolled past Cephes' minimum of 9: enough for q >= -ZETA_NEGATIVE_REACH
# (the sum runs until q + i > 9); below that the result is NaN (eager sums on).
ZETA_NEGATIVE_REACH = 12


def _power(a, e, odd):
    """a**e, for a < 0 too where e is an integer (`odd`: e is odd)."""
    magnitude = torch.pow(a.abs(), e)
    return torch.where((a < 0) & odd, -magnitude, magnitude)


def _zeta(x, q):
    """Hurwitz's zeta(x, q) (eager's zeta: Cephes). Cephes sums q^-x + (q+1)^-x + ...
    for at least 9 terms and until q + i > 9, then adds Euler-Maclaurin's terms until
    one is under 2^-53 of the sum. Its sum also stops early at a term under 2^-53 of the
    sum (large x): here it goes on to its count (the terms after it are smaller still,
    and Euler-Maclaurin's first term then ends it), which changes the sum by an ulp."""
    odd = torch.remainder(x, 2.0) == 1.0
    s = _power(q, -x, odd)
    a, b = q, torch.zeros_like(q)
    for i in range(9 + ZETA_NEGATIVE_REACH + 1):
        if i < 9:
            a = a + 1.0
            b = _power(a, -x, odd)
            s = s + b
        else:
            going = a <= 9.0
            a = torch.where(going, a + 1.0, a)
            b = torch.where(going, _power(a, -x, odd), b)
            s = torch.where(going, s + b, s)
    unfinished = a <= 9.0
    w = a
    s = s + b * w / (x - 1.0) - 0.5 * b
    factor = torch.ones_like(q)
    k = 0.0
    converged = torch.zeros_like(q, dtype=torch.bool)
    for denominator in ZETA_A:
        factor = factor * (x + k)
        b = b / w
        t = factor * b / denominator
        s = torch.where(converged, s, s + t)
        converged = converged | ((t / s).abs() < MACHEP)
        k += 1.0
        factor = factor * (x + k)
        b = b / w
        k += 1.0
    result = torch.where(unfinished, full(q, NAN), s)
    # Cephes' special cases, in its order.
    integer_q = q == torch.floor(q)
    result = torch.where((q <= 0) & (x != torch.floor(x)), full(q, NAN), result)
    result = torch.where((q <= 0) & integer_q, full(q, INF), result)
    result = torch.where(x < 1.0, full(q, NAN), result)
    result = torch.where(x == 1.0, full(q, INF), result)
    return torch.where(torch.isnan(x) | torch.isnan(q), x + q, result)


def zeta(x, q):
    """aten.special_zeta (two tensors): eager's zeta (Cephes), in double as eager's
    (its acc_type), the sum's loop unrolled to 22 terms: as eager for q >= -12, NaN
    below (eager sums on)."""
    if not isinstance(x, torch.Tensor) or not isinstance(q, torch.Tensor):
        return NotImplemented
    dtype = result_dtype(x, q)
    if dtype is None:
        return NotImplemented
    return _zeta(x.to(F64), q.to(F64)).to(dtype)


def polygamma(n, x):
    """aten.polygamma: as eager's polygamma kernel, digamma for n = 0, trigamma for
    n = 1, (-1)^(n+1) n! zeta(n + 1, x) beyond."""
    dtype = result_dtype(x)
    if dtype is None or n < 0:
        return NotImplemented
    x64 = x.to(F64)
    if n == 0:
        result = digamma.__wrapped__(x64)
    elif n == 1:
        result = keep_nan(x64, _trigamma(x64))
    else:
        result = (-1.0) ** (n + 1) * float(math.factorial(n)) * _zeta(full(x64, n + 1.0), x64)
    return result.to(dtype)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    from torch._decomp import decomposition_table

    return {
        aten.mvlgamma.default: decomposition_table[aten.mvlgamma.default],
        aten.lgamma.default: lgamma,
        aten.digamma.default: digamma,
        aten.polygamma.default: polygamma,
        aten.special_zeta.default: zeta,
    }
