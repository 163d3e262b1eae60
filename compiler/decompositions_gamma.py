"""Decompositions of the gamma and error functions, which torch-mlir cannot lower (no
linalg lowering of aten.lgamma, digamma, polygamma, special_zeta, erfc, erfinv,
special_erfcx, special_ndtri, special_log_ndtr): each is rebuilt from pointwise ops
that it lowers (arithmetic, where, exp, log, sin, tan, floor, pow), which the fusion
passes make one kernel.

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

def _result_dtype(*tensors):
    """The floating dtype of a pointwise special function of `tensors`, as eager
    promotes (integers and bools to the default dtype); None for complex."""
    dtype = torch.result_type(*tensors) if len(tensors) > 1 else tensors[0].dtype
    if dtype.is_complex:
        return None
    return dtype if dtype.is_floating_point else torch.get_default_dtype()


def _unary_in_f64(compute):
    """A decomposition of a unary op: `compute` in float64, rounded once to the
    result's dtype."""
    def decompose(x):
        dtype = _result_dtype(x)
        if dtype is None:
            return NotImplemented
        return compute(x.to(F64)).to(dtype)
    decompose.__doc__ = compute.__doc__
    decompose.__name__ = compute.__name__
    decompose.__wrapped__ = compute  # the f64 body, for the functions built on it
    return decompose


def _full(x, value):
    return torch.full_like(x, value)


def _keep_nan(x, result):
    """NaN where `x` is NaN: the masks below compare, and a NaN compares false."""
    return torch.where(torch.isnan(x), x, result)


# ----------------------------------------------------------------- error functions
# Cephes' ndtr.c: erf(x) = x T(x^2)/U(x^2) for |x| <= 1; erfc(x) = exp(-x^2) P(x)/Q(x)
# for 1 <= x < 8, exp(-x^2) R(x)/S(x) beyond.

ERF_T = [9.60497373987051638749E0, 9.00260197203842689217E1, 2.23200534594684319226E3,
         7.00332514112805075473E3, 5.55923013010394962768E4]
ERF_U = [3.35617141647503099647E1, 5.21357949780152679795E2, 4.59432382970980127987E3,
         2.26290000613890934246E4, 4.92673942608635921086E4]
ERFC_P = [2.46196981473530512524E-10, 5.64189564831068821977E-1, 7.46321056442269912687E0,
          4.86371970985681366614E1, 1.96520832956077098242E2, 5.26445194995477358631E2,
          9.34528527171957607540E2, 1.02755188689515710272E3, 5.57535335369399327526E2]
ERFC_Q = [1.32281951154744992508E1, 8.67072140885989742329E1, 3.54937778887819891062E2,
          9.75708501743205489753E2, 1.82390916687909736289E3, 2.24633760818710981792E3,
          1.65666309194161350182E3, 5.57535340817727675546E2]
ERFC_R = [5.64189583547755073984E-1, 1.27536670759978104416E0, 5.01905042251180477414E0,
          6.16021097993053585195E0, 7.40974269950448939160E0, 2.97886665372100240670E0]
ERFC_S = [2.26052863220117276590E0, 9.39603524938001434673E0, 1.20489539808096656605E1,
          1.70814450747565897222E1, 9.60896809063285878198E0, 3.36907645100081516050E0]


def _erf_small(x):
    """erf(x) for |x| <= 1 (Cephes)."""
    z = x * x
    return x * polevl(z, ERF_T) / p1evl(z, ERF_U)


def _erfc_ratio(ax):
    """erfc(x) exp(x^2) for 1 <= x < 27, where erfc underflows (Cephes' rational
    functions; past 27 they drift off erfcx: 33% at 40, so erfcx takes a continued
    fraction from 8)."""
    near = polevl(ax, ERFC_P) / p1evl(ax, ERFC_Q)
    far = polevl(ax, ERFC_R) / p1evl(ax, ERFC_S)
    return torch.where(ax < 8.0, near, far)


def _clamp30(ax):
    """min(|x|, 30), where erfc has long underflowed: keeps the unused branch finite."""
    return torch.where(ax < 30.0, ax, _full(ax, 30.0))


def _exp_minus_square(x):
    """exp(-x^2) without the error of rounding x^2 (Cephes' expx2): x = m + f with m a
    multiple of 1/128, m^2 exact, and exp(-m^2) exp(-(2mf + f^2))."""
    m = torch.floor(x * 128.0 + 0.5) / 128.0
    f = x - m
    return torch.exp(-(m * m)) * torch.exp(-(2.0 * m * f + f * f))


def _erfc(x):
    ax = _clamp30(x.abs())
    large = _exp_minus_square(ax) * _erfc_ratio(ax)
    result = torch.where(ax < 1.0, 1.0 - _erf_small(x),
                         torch.where(x > 0, large, 2.0 - large))
    return _keep_nan(x, result)


@_unary_in_f64
def erfc(x):
    """aten.erfc: Cephes' erfc (eager: the C library's, or SLEEF's within 1.5 ulp):
    1 - erf for |x| < 1, exp(-x^2) times a rational function beyond (2 - that for
    x <= -1). Max relative error vs eager (f64): 1.6e-15, at x near 1 where 1 - erf
    cancels (as Cephes')."""
    return _erfc(x)


def _erfcx_continued_fraction(x):
    """erfcx for x >= 8: the continued fraction
    1/sqrt(pi) / (x + (1/2) / (x + (2/2) / (x + (3/2) / ...))), 12 terms (eager uses
    5 past 50; 10 reach 2e-16 from 8 on)."""
    x = torch.where(x >= 8.0, x, _full(x, 8.0))
    t = x
    for k in range(12, 0, -1):
        t = x + (k / 2.0) / t
    return 0.56418958354775628694807945156 / t


@_unary_in_f64
def erfcx(x):
    """aten.special_erfcx, exp(x^2) erfc(x): eager uses the Faddeeva package's 100
    Chebyshev pieces for 0 <= x <= 50; here exp(x^2)(1 - erf(x)) below 1, Cephes'
    erfc ratio (which is erfcx itself) from 1 to 8, a continued fraction beyond; for
    x < 0 eager's 2 exp(x^2) - erfcx(-x) (inf below -26.7)."""
    ax = x.abs()
    positive = torch.where(ax < 1.0, torch.exp(x * x) * (1.0 - _erf_small(ax)),
                           torch.where(ax < 8.0, _erfc_ratio(ax), _erfcx_continued_fraction(ax)))
    twice_exp = 2.0 * torch.exp(x * x)
    negative = torch.where(x < -6.1, twice_exp, twice_exp - positive)
    negative = torch.where(x < -26.7, _full(x, INF), negative)
    return _keep_nan(x, torch.where(x >= 0, positive, negative))


@_unary_in_f64
def log_ndtr(x):
    """aten.special_log_ndtr, log of the normal CDF: eager's formula,
    log(erfcx(-t)/2) - t^2 for x < -1 and log1p(-erfc(t)/2) otherwise, t = x/sqrt(2)."""
    t = x * 0.707106781186547524400844362104849039
    tail = torch.log(erfcx.__wrapped__(-t) / 2.0) - t * t
    body = torch.log1p(-_erfc(t) / 2.0)
    return _keep_nan(x, torch.where(x < -1.0, tail, body))


@_unary_in_f64
def erfinv(y):
    """aten.erfinv: torch's calc_erfinv, a rational first guess, then three Newton
    steps (calc_erfinv's two leave 5e-7 at y = 1 - 1e-12; eager's CPU kernel, MKL's
    vdErfInv, is exact to an ulp). The Newton residual erf(x) - y is computed as
    (1 - |y|) - erfc(|x|) for |y| >= 0.5, which keeps its accuracy near |y| = 1."""
    ay = y.abs()
    z = y * y
    central = y * polevl(z, [-0.140543331, 0.914624893, -1.645349621, 0.886226899]) \
        / polevl(z, [0.012229801, -0.329097515, 1.442710462, -2.118377725, 1.0])
    safe = torch.where(ay < 1.0, ay, _full(y, 0.5))
    w = torch.sqrt(-torch.log((1.0 - safe) / 2.0))
    tail = torch.sign(y) * polevl(w, [1.641345311, 3.429567803, -1.624906493, -1.970840454]) \
        / polevl(w, [1.637067800, 3.543889200, 1.0])
    x = torch.where(ay <= 0.7, central, tail)
    for _ in range(3):
        ax = x.abs()
        # |x| < 6 for |y| < 1 in double: Cephes' first rational function is enough.
        ac = torch.where(ax < 7.0, ax, _full(ax, 7.0))
        gauss = _exp_minus_square(ac)
        erfc_ax = torch.where(ac < 1.0, 1.0 - _erf_small(ac),
                              gauss * polevl(ac, ERFC_P) / p1evl(ac, ERFC_Q))
        residual = torch.where(ay >= 0.5, torch.sign(y) * ((1.0 - ay) - erfc_ax),
                               _erf_small(x) - y)
        x = x - residual / (1.1283791670955125739 * gauss)
    x = torch.where(ay == 1.0, torch.sign(y) * INF, x)
    return _keep_nan(y, torch.where(ay > 1.0, _full(y, NAN), x))


NDTRI_P0 = [-5.99633501014107895267E1, 9.80010754185999661536E1, -5.66762857469070293439E1,
            1.39312609387279679503E1, -1.23916583867381258016E0]
NDTRI_Q0 = [1.0, 1.95448858338141759834E0, 4.67627912898881538453E0, 8.63602421390890590575E1,
            -2.25462687854119370527E2, 2.00260212380060660359E2, -8.20372256168333339912E1,
            1.59056225126211695515E1, -1.18331621121330003142E0]
NDTRI_P1 = [4.05544892305962419923E0, 3.15251094599893866154E1, 5.71628192246421288162E1,
            4.40805073893200834700E1, 1.46849561928858024014E1, 2.18663306850790267539E0,
            -1.40256079171354495875E-1, -3.50424626827848203418E-2, -8.57456785154685413611E-4]
NDTRI_Q1 = [1.0, 1.57799883256466749731E1, 4.53907635128879210584E1, 4.13172038254672030440E1,
            1.50425385692907503408E1, 2.50464946208309415979E0, -1.42182922854787788574E-1,
            -3.80806407691578277194E-2, -9.33259480895457427372E-4]
NDTRI_P2 = [3.23774891776946035970E0, 6.91522889068984211695E0, 3.93881025292474443415E0,
            1.33303460815807542389E0, 2.01485389549179081538E-1, 1.23716634817820021358E-2,
            3.01581553508235416007E-4, 2.65806974686737550832E-6, 6.23974539184983293730E-9]
NDTRI_Q2 = [1.0, 6.02427039364742014255E0, 3.67983563856160859403E0, 1.37702099489081330271E0,
            2.16236993594496635890E-1, 1.34204006088543189037E-2, 3.28014464682127739104E-4,
            2.89247864745380683936E-6, 6.79019408009981274425E-9]


@_unary_in_f64
def ndtri(y0):
    """aten.special_ndtri, the inverse of the normal CDF: eager's calc_ndtri (Cephes),
    a rational function of y - 1/2 in the middle and of 1/sqrt(-2 log y) in the tails."""
    exp_minus_2 = 0.13533528323661269189
    upper = y0 > 1.0 - exp_minus_2
    y = torch.where(upper, 1.0 - y0, y0)
    c = y - 0.5
    c2 = c * c
    middle = (c + c * (c2 * polevl(c2, NDTRI_P0) / polevl(c2, NDTRI_Q0))) \
        * 2.50662827463100050242
    safe = torch.where((y > 0) & (y <= exp_minus_2), y, _full(y, 0.1))
    x = torch.sqrt(-2.0 * torch.log(safe))
    x0 = x - torch.log(x) / x
    z = 1.0 / x
    x1 = torch.where(x < 8.0, z * polevl(z, NDTRI_P1) / polevl(z, NDTRI_Q1),
                     z * polevl(z, NDTRI_P2) / polevl(z, NDTRI_Q2))
    tail = torch.where(upper, x0 - x1, x1 - x0)
    result = torch.where(y > exp_minus_2, middle, tail)
    result = torch.where(y0 == 0, _full(y0, -INF), torch.where(y0 == 1, _full(y0, INF), result))
    return _keep_nan(y0, torch.where((y0 < 0) | (y0 > 1), _full(y0, NAN), result))


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
    xs = torch.where(small, x, _full(x, 2.5))
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
    xl = torch.where(small, _full(x, 13.0), torch.where(x > MAXLGM, _full(x, 1e300), x))
    q = (xl - 0.5) * torch.log(xl) - xl + LOG_SQRT_2PI
    r = 1.0 / (xl * xl)
    series = torch.where(xl >= 1000.0,
                         (7.9365079365079365079365e-4 * r - 2.7777777777777777777778e-3) * r
                         + 0.0833333333333333333333, polevl(r, LGAM_A)) / xl
    far = torch.where(xl > 1e8, q, q + series)
    far = torch.where(x > MAXLGM, _full(x, INF), far)
    e1 = torch.where((x - 1.0).abs() <= 0.25, x - 1.0, torch.zeros_like(x))
    e2 = torch.where((x - 2.0).abs() <= 0.25, x - 2.0, torch.zeros_like(x))
    near = torch.where(e1 != 0, _lgamma_near_1(e1), near)
    near = torch.where(e2 != 0, _lgamma_near_1(e2) + torch.log1p(e2), near)
    return torch.where(small, near, far)


@_unary_in_f64
def lgamma(x):
    """aten.lgamma (eager: the C library's lgamma): Cephes' lgam, with its reflection
    log(pi) - log|x sin(pi x)| - lgamma(-x) for all x < 0; +inf at 0 and the negative
    integers, +inf at +-inf. Near the zeros at 1 and 2 a Taylor series keeps the relative
    accuracy (glibc's does too). Max error vs eager (f64): 8e-16 relative where
    |lgamma| >= 1, absolute below (7.7e-10 relative at the negative zeros)."""
    q = x.abs()
    w = _lgamma_positive(torch.where(q > 0, q, _full(q, 1.0)))
    frac = q - torch.floor(q)
    z = torch.where(frac > 0.5, 1.0 - frac, frac)
    # log(q) + log(sin) rather than log(q sin): q sin(pi q) underflows for q < 1e-154.
    reflected = -torch.log(q) - torch.log(torch.sin(math.pi * z)) - w + LOG_PI
    reflected = torch.where(frac == 0, _full(x, INF), reflected)
    result = torch.where(x > 0, w, reflected)
    result = torch.where(q == INF, _full(x, INF), torch.where(x == 0, _full(x, INF), result))
    return _keep_nan(x, result)


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


@_unary_in_f64
def digamma(x):
    """aten.digamma: eager's calc_digamma in double, with its reflection
    digamma(1 - x) - pi / tan(pi frac(x)) for x < 0; -inf at +0, +inf at -0, NaN at
    the negative integers and -inf. Max error vs eager (f64): 9e-16 relative, or absolute
    near its zeros (1.1e-13 relative there); eager's f32 kernel computes in float."""
    negative = x < 0
    r = x - torch.trunc(x)
    shifted = torch.where(negative, 1.0 - x, torch.where(x == 0, _full(x, 1.0), x))
    reflection = math.pi / torch.tan(math.pi * torch.where(negative, r, _full(r, 0.5)))
    result = _digamma_positive(shifted) - torch.where(negative, reflection, torch.zeros_like(x))
    zero = torch.where(torch.signbit(x), _full(x, INF), _full(x, -INF))
    result = torch.where(x == 0, zero, result)
    result = torch.where(negative & (r == 0), _full(x, NAN), result)
    return _keep_nan(x, result)


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
    result = torch.where(unfinished, _full(q, NAN), s)
    # Cephes' special cases, in its order.
    integer_q = q == torch.floor(q)
    result = torch.where((q <= 0) & (x != torch.floor(x)), _full(q, NAN), result)
    result = torch.where((q <= 0) & integer_q, _full(q, INF), result)
    result = torch.where(x < 1.0, _full(q, NAN), result)
    result = torch.where(x == 1.0, _full(q, INF), result)
    return torch.where(torch.isnan(x) | torch.isnan(q), x + q, result)


def zeta(x, q):
    """aten.special_zeta (two tensors): eager's zeta (Cephes), in double as eager's
    (its acc_type), the sum's loop unrolled to 22 terms: as eager for q >= -12, NaN
    below (eager sums on)."""
    if not isinstance(x, torch.Tensor) or not isinstance(q, torch.Tensor):
        return NotImplemented
    dtype = _result_dtype(x, q)
    if dtype is None:
        return NotImplemented
    return _zeta(x.to(F64), q.to(F64)).to(dtype)


def polygamma(n, x):
    """aten.polygamma: as eager's polygamma kernel, digamma for n = 0, trigamma for
    n = 1, (-1)^(n+1) n! zeta(n + 1, x) beyond."""
    dtype = _result_dtype(x)
    if dtype is None or n < 0:
        return NotImplemented
    x64 = x.to(F64)
    if n == 0:
        result = digamma.__wrapped__(x64)
    elif n == 1:
        result = _keep_nan(x64, _trigamma(x64))
    else:
        result = (-1.0) ** (n + 1) * float(math.factorial(n)) * _zeta(_full(x64, n + 1.0), x64)
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
        aten.erfc.default: erfc,
        aten.erfinv.default: erfinv,
        aten.special_erfcx.default: erfcx,
        aten.special_ndtri.default: ndtri,
        aten.special_log_ndtr.default: log_ndtr,
    }
