"""Decompositions of the Bessel functions torch.special's bessel_j0/j1/y0/y1 and
spherical_bessel_j0 here; of the modified ones (i0 and torch.special's i0e, i1, i1e,
modified_bessel_i0/i1/k0/k1, scaled_modified_bessel_k0/k1) in
decompositions_bessel_modified.py, of airy_ai in decompositions_airy.py, with this
module's helpers (`unary`, `choose`, `over`, `signed`). What follows is said of all.

torch-mlir has no lowering of any of them, so each ran as an eager island. Here each is
a port of torch's CPU kernel (aten/src/ATen/native/Math.h: calc_i0, calc_i0e, calc_i1,
calc_i1e, modified_bessel_*_forward, bessel_*_forward, spherical_bessel_j0_forward,
airy_ai_forward; Cephes' algorithms and coefficients) in pointwise torch ops that the
fusion passes make one kernel: the same Chebyshev series and rational approximations,
evaluated in the same order, in the op's own precision (float32 in float32, with the
kernel's float32 coefficient lists where it has them), so the results agree with eager's
to a few ulp. Each branch of the kernel is computed for all elements and chosen with
torch.where; the argument of a branch is replaced, where the branch is not taken, by a
value in its domain, so that it makes no inf or NaN that a later product (0 * inf) could
carry into a chosen element. A NaN argument keeps to the branch the kernel takes for it.
airy_ai's power series runs until its terms are below epsilon: the loop is unrolled to
the most iterations any argument of its domain needs (12 in float32, 20 in float64,
counted with the kernel's arithmetic: the terms are then below epsilon squared), the
sums left as they are where the kernel's loop has stopped. modified_bessel_k0 in float32
takes log(x/2) and the difference in float64, as its kernel does (a double literal).

Integer and bool arguments are computed in the default float type, as eager does;
float16 and bfloat16 ones of i0, i0e, i1 and i1e in float32, rounded once (the other ops
have no half kernels: they, and complex arguments, stay eager).

Accuracy against eager on the CPU (test/python/test_decompositions_bessel.py's inputs plus
a fine sweep of [-30, 30]), largest relative error where eager's result is normal, in
units of epsilon, float32 / float64: i0, i0e, modified_bessel_i0 3 / 3; i1, i1e,
modified_bessel_i1 8 / 8; k0, k1 and their scaled forms 5-9 / 4-8; spherical_bessel_j0
0.5 / 0.5; of the oscillating ones where |value| > 0.1, j0, j1, airy_ai 4 / 4, y0, y1
22 / 22 (near their zeros values of order 1 cancel: absolute errors 1e-6 / 2e-15). The ulps
are the Chebyshev and rational sums near the ends of their intervals: eager's build
contracts x * b1 - b2 into one FMA there, ours rounds twice; against float64 both are
equally far from the true value. NaN, infinities and signed zeros are eager's.
"""

from __future__ import annotations

import math

import torch

from .series import polevl

aten = torch.ops.aten


# --- dtypes -------------------------------------------------------------------------


def unary(compute, *, halves: bool):
    """A decomposition of a unary op computed by `compute` in float32 or float64.

    Integer and bool arguments are computed in the default float type (eager's
    promotion); float16/bfloat16 in float32 and rounded once where `halves` (the kernels
    of i0, i0e, i1, i1e widen them), else left to eager, as are complex arguments."""
    def decompose(x):
        if x.dtype.is_complex:
            return NotImplemented
        if not x.dtype.is_floating_point:
            x = x.to(torch.get_default_dtype())
        if x.dtype in (torch.float16, torch.bfloat16):
            return compute(x.to(torch.float32)).to(x.dtype) if halves else NotImplemented
        if x.dtype not in (torch.float32, torch.float64):
            return NotImplemented
        return compute(x)
    return decompose


def choose(condition, a, b):
    """torch.where with Python numbers made tensors like the other operand."""
    like = a if isinstance(a, torch.Tensor) else b
    if not isinstance(a, torch.Tensor):
        a = torch.full_like(like, a)
    if not isinstance(b, torch.Tensor):
        b = torch.full_like(like, b)
    return torch.where(condition, a, b)


def over(number, x):
    """number / x, one division as the kernels' (`number / x` in Python is x's reciprocal
    times the number: two roundings)."""
    return torch.full_like(x, number) / x


def signed(x, magnitude):
    """`magnitude` negated where x < 0: the odd functions' symmetry."""
    return torch.where(x < 0, -magnitude, magnitude)


# --- Bessel functions of the first and second kind (j0, j1, y0, y1) -------------------

# The asymptotic forms beyond x = 5: P/Q of the amplitude and phase, in 25/x^2.
J0_PP = (
    7.96936729297347051624e-04, 8.28352392107440799803e-02, 1.23953371646414299388e+00,
    5.44725003058768775090e+00, 8.74716500199817011941e+00, 5.30324038235394892183e+00,
    9.99999999999999997821e-01)
J0_PQ = (
    9.24408810558863637013e-04, 8.56288474354474431428e-02, 1.25352743901058953537e+00,
    5.47097740330417105182e+00, 8.76190883237069594232e+00, 5.30605288235394617618e+00,
    1.00000000000000000218e+00)
J0_QP = (
    -1.13663838898469149931e-02, -1.28252718670509318512e+00, -1.95539544257735972385e+01,
    -9.32060152123768231369e+01, -1.77681167980488050595e+02, -1.47077505154951170175e+02,
    -5.14105326766599330220e+01, -6.05014350600728481186e+00)
J0_QQ = (
    6.43178256118178023184e+01, 8.56430025976980587198e+02, 3.88240183605401609683e+03,
    7.24046774195652478189e+03, 5.93072701187316984827e+03, 2.06209331660327847417e+03,
    2.42005740240291393179e+02)
# j0 on [0, 5]: (x^2 - r1^2)(x^2 - r2^2) RP(x^2)/RQ(x^2), r1, r2 its first zeros.
J0_RP = (
    -4.79443220978201773821e+09, 1.95617491946556577543e+12, -2.49248344360967716204e+14,
    9.70862251047306323952e+15)
J0_RQ = (
    4.99563147152651017219e+02, 1.73785401676374683123e+05, 4.84409658339962045305e+07,
    1.11855537045356834862e+10, 2.11277520115489217587e+12, 3.10518229857422583814e+14,
    3.18121955943204943306e+16, 1.71086294081043136091e+18)
J1_PP = (
    7.62125616208173112003e-04, 7.31397056940917570436e-02, 1.12719608129684925192e+00,
    5.11207951146807644818e+00, 8.42404590141772420927e+00, 5.21451598682361504063e+00,
    1.00000000000000000254e+00)
J1_PQ = (
    5.71323128072548699714e-04, 6.88455908754495404082e-02, 1.10514232634061696926e+00,
    5.07386386128601488557e+00, 8.39985554327604159757e+00, 5.20982848682361821619e+00,
    9.99999999999999997461e-01)
J1_QP = (
    5.10862594750176621635e-02, 4.98213872951233449420e+00, 7.58238284132545283818e+01,
    3.66779609360150777800e+02, 7.10856304998926107277e+02, 5.97489612400613639965e+02,
    2.11688757100572135698e+02, 2.52070205858023719784e+01)
J1_QQ = (
    7.42373277035675149943e+01, 1.05644886038262816351e+03, 4.98641058337653607651e+03,
    9.56231892404756170795e+03, 7.99704160447350683650e+03, 2.82619278517639096600e+03,
    3.36093607810698293419e+02)
J1_RP = (
    -8.99971225705559398224e+08, 4.52228297998194034323e+11, -7.27494245221818276015e+13,
    3.68295732863852883286e+15)
J1_RQ = (
    6.20836478118054335476e+02, 2.56987256757748830383e+05, 8.35146791431949253037e+07,
    2.21511595479792499675e+10, 4.74914122079991414898e+12, 7.84369607876235854894e+14,
    8.95222336184627338078e+16, 5.32278620332680085395e+18)
# y0 on (0, 5]: YP(x^2)/YQ(x^2) + (2/pi) log(x) j0(x).
Y0_YP = (
    1.55924367855235737965e+04, -1.46639295903971606143e+07, 5.43526477051876500413e+09,
    -9.82136065717911466409e+11, 8.75906394395366999549e+13, -3.46628303384729719441e+15,
    4.42733268572569800351e+16, -1.84950800436986690637e+16)
Y0_YQ = (
    1.04128353664259848412e+03, 6.26107330137134956842e+05, 2.68919633393814121987e+08,
    8.64002487103935000337e+10, 2.02979612750105546709e+13, 3.17157752842975028269e+15,
    2.50596256172653059228e+17)
# y1 on (0, 5]: x YP(x^2)/YQ(x^2) + (2/pi) (j1(x) log(x) - 1/x).
Y1_YP = (
    1.26320474790178026440e+09, -6.47355876379160291031e+11, 1.14509511541823727583e+14,
    -8.12770255501325109621e+15, 2.02439475713594898196e+17, -7.78877196265950026825e+17)
Y1_YQ = (
    5.94301592346128195359e+02, 2.35564092943068577943e+05, 7.34811944459721705660e+07,
    1.87601316108706159478e+10, 3.88231277496238566008e+12, 6.20557727146953693363e+14,
    6.87141087355300489866e+16, 3.97270608116560655612e+18)

_TWO_OVER_PI = 0.636619772367581343075535053490057448
_SQRT_TWO_OVER_PI = 0.797884560802865355879892119868763737
_QUARTER_PI = 0.785398163397448309615660845819875721
_THREE_QUARTER_PI = 2.356194490192344928846982537459627163


def _asymptotic(x, order: int, second_kind: bool):
    """The kernels' form beyond x = 5: sqrt(2/(pi x)) (P cos(phase) - 5/x Q sin(phase)) for
    j (sin and cos exchanged, Q added, for y), phase x - pi/4 (order 0), x - 3pi/4 (1)."""
    if order == 0:
        w = over(25.0, x * x)
        pp, pq, qp, qq = J0_PP, J0_PQ, J0_QP, J0_QQ
        phase = x - _QUARTER_PI
    else:
        w = over(5.0, x) * over(5.0, x)
        pp, pq, qp, qq = J1_PP, J1_PQ, J1_QP, J1_QQ
        phase = x - _THREE_QUARTER_PI
    p = polevl(w, pp) / polevl(w, pq)
    q = over(5.0, x) * (polevl(w, qp) / polevl(w, qq))
    if second_kind:
        wave = p * torch.sin(phase) + q * torch.cos(phase)
    else:
        wave = p * torch.cos(phase) - q * torch.sin(phase)
    return wave * _SQRT_TWO_OVER_PI / torch.sqrt(x)


def _j0_near(a):
    """bessel_j0_forward on 0 <= a <= 5."""
    z = a * a
    rational = (z - 5.78318596294678452118e+00) * (z - 3.04712623436620863991e+01) \
        * polevl(z, J0_RP) / polevl(z, J0_RQ)
    return torch.where(a < 0.00001, 1.0 - z / 4.0, rational)


def _j1_near(a):
    """bessel_j1_forward on 0 <= a <= 5."""
    z = a * a
    return polevl(z, J1_RP) / polevl(z, J1_RQ) * a * (z - 1.46819706421238932572e+01) \
        * (z - 4.92184563216946036703e+01)


def bessel_j0(x):
    """aten.special_bessel_j0: J0(x), bessel_j0_forward."""
    a = x.abs()
    small = a <= 5.0
    return torch.where(small, _j0_near(choose(small, a, 0.0)),
                       _asymptotic(choose(small, 5.0, a), 0, second_kind=False))


def bessel_j1(x):
    """aten.special_bessel_j1: J1(x), bessel_j1_forward (odd: -J1(-x) below 0)."""
    a = torch.where(x < 0, -x, x)  # not abs: J1(-0.0) is -0.0, as the kernel's
    small = a <= 5.0
    out = torch.where(small, _j1_near(choose(small, a, 0.0)),
                      _asymptotic(choose(small, 5.0, a), 1, second_kind=False))
    return signed(x, out)


def _y(x, order: int):
    """bessel_y0/y1_forward: -inf at 0, NaN below, a rational form with (2/pi) log(x)
    J(x) on (0, 5], the asymptotic form beyond."""
    small = x <= 5.0
    x_small = choose(small & (x > 0), x, 1.0)
    x_large = choose(small, 5.0, x)  # NaN stays: the kernel takes this side for it
    z = x_small * x_small
    if order == 0:
        near = polevl(z, Y0_YP) / polevl(z, Y0_YQ) \
            + _TWO_OVER_PI * torch.log(x_small) * _j0_near(x_small)
    else:
        near = x_small * (polevl(z, Y1_YP) / polevl(z, Y1_YQ)) \
            + _TWO_OVER_PI * (_j1_near(x_small) * torch.log(x_small) - over(1.0, x_small))
    out = torch.where(small, near, _asymptotic(x_large, order, second_kind=True))
    out = choose(x < 0, math.nan, out)
    return choose(x == 0, -math.inf, out)


def spherical_bessel_j0(x):
    """aten.special_spherical_bessel_j0: sin(x)/x, its Taylor series below |x| = 0.5, 0
    at +-inf (spherical_bessel_j0_forward)."""
    small = x.abs() < 0.5
    x_small = choose(small, x, 0.0)
    z = x_small * x_small
    series = polevl(z, (1.0 / 6227020800.0, -1.0 / 39916800.0, 1.0 / 362880.0,
                        -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0))
    infinite = torch.isinf(x)
    x_large = choose(small | infinite, 1.0, x)
    out = torch.where(small, series, torch.sin(x_large) / x_large)
    return choose(infinite, 0.0, out)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.special_bessel_j0.default: unary(bessel_j0, halves=False),
        aten.special_bessel_j1.default: unary(bessel_j1, halves=False),
        aten.special_bessel_y0.default: unary(lambda x: _y(x, 0), halves=False),
        aten.special_bessel_y1.default: unary(lambda x: _y(x, 1), halves=False),
        aten.special_spherical_bessel_j0.default: unary(spherical_bessel_j0, halves=False),
    }
