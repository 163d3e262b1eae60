"""Decompositions of the error functions, which torch-mlir cannot lower (no linalg
lowering of aten.erfc, erfinv, special_erfcx, special_ndtri, special_log_ndtr): Cephes'
algorithms (ndtr.c, ndtri.c), the Faddeeva package's erfcx, erfinv with a third Newton
step, in float64 rounded once, as compiler/decompositions_gamma.py says of them all (its
docstring: the method, the dtypes, the accuracy against eager)."""

from __future__ import annotations

import torch

from .decompositions_gamma import INF, NAN, full, keep_nan, unary_in_f64
from .series import p1evl, polevl

aten = torch.ops.aten

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
    return torch.where(ax < 30.0, ax, full(ax, 30.0))


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
    return keep_nan(x, result)


@unary_in_f64
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
    x = torch.where(x >= 8.0, x, full(x, 8.0))
    t = x
    for k in range(12, 0, -1):
        t = x + (k / 2.0) / t
    return 0.56418958354775628694807945156 / t


@unary_in_f64
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
    negative = torch.where(x < -26.7, full(x, INF), negative)
    return keep_nan(x, torch.where(x >= 0, positive, negative))


@unary_in_f64
def log_ndtr(x):
    """aten.special_log_ndtr, log of the normal CDF: eager's formula,
    log(erfcx(-t)/2) - t^2 for x < -1 and log1p(-erfc(t)/2) otherwise, t = x/sqrt(2)."""
    t = x * 0.707106781186547524400844362104849039
    tail = torch.log(erfcx.__wrapped__(-t) / 2.0) - t * t
    body = torch.log1p(-_erfc(t) / 2.0)
    return keep_nan(x, torch.where(x < -1.0, tail, body))


@unary_in_f64
def erfinv(y):
    """aten.erfinv: torch's calc_erfinv, a rational first guess, then three Newton
    steps (calc_erfinv's two leave 5e-7 at y = 1 - 1e-12; eager's CPU kernel, MKL's
    vdErfInv, is exact to an ulp). The Newton residual erf(x) - y is computed as
    (1 - |y|) - erfc(|x|) for |y| >= 0.5, which keeps its accuracy near |y| = 1."""
    ay = y.abs()
    z = y * y
    central = y * polevl(z, [-0.140543331, 0.914624893, -1.645349621, 0.886226899]) \
        / polevl(z, [0.012229801, -0.329097515, 1.442710462, -2.118377725, 1.0])
    safe = torch.where(ay < 1.0, ay, full(y, 0.5))
    w = torch.sqrt(-torch.log((1.0 - safe) / 2.0))
    tail = torch.sign(y) * polevl(w, [1.641345311, 3.429567803, -1.624906493, -1.970840454]) \
        / polevl(w, [1.637067800, 3.543889200, 1.0])
    x = torch.where(ay <= 0.7, central, tail)
    for _ in range(3):
        ax = x.abs()
        # |x| < 6 for |y| < 1 in double: Cephes' first rational function is enough.
        ac = torch.where(ax < 7.0, ax, full(ax, 7.0))
        gauss = _exp_minus_square(ac)
        erfc_ax = torch.where(ac < 1.0, 1.0 - _erf_small(ac),
                              gauss * polevl(ac, ERFC_P) / p1evl(ac, ERFC_Q))
        residual = torch.where(ay >= 0.5, torch.sign(y) * ((1.0 - ay) - erfc_ax),
                               _erf_small(x) - y)
        x = x - residual / (1.1283791670955125739 * gauss)
    x = torch.where(ay == 1.0, torch.sign(y) * INF, x)
    return keep_nan(y, torch.where(ay > 1.0, full(y, NAN), x))


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


@unary_in_f64
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
    safe = torch.where((y > 0) & (y <= exp_minus_2), y, full(y, 0.1))
    x = torch.sqrt(-2.0 * torch.log(safe))
    x0 = x - torch.log(x) / x
    z = 1.0 / x
    x1 = torch.where(x < 8.0, z * polevl(z, NDTRI_P1) / polevl(z, NDTRI_Q1),
                     z * polevl(z, NDTRI_P2) / polevl(z, NDTRI_Q2))
    tail = torch.where(upper, x0 - x1, x1 - x0)
    result = torch.where(y > exp_minus_2, middle, tail)
    result = torch.where(y0 == 0, full(y0, -INF), torch.where(y0 == 1, full(y0, INF), result))
    return keep_nan(y0, torch.where((y0 < 0) | (y0 > 1), full(y0, NAN), result))


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.erfc.default: erfc,
        aten.erfinv.default: erfinv,
        aten.special_erfcx.default: erfcx,
        aten.special_ndtri.default: ndtri,
        aten.special_log_ndtr.default: log_ndtr,
    }
