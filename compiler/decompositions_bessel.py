"""Decompositions of the Bessel and Airy functions: i0 and torch.special's i0e, i1, i1e,
modified_bessel_i0/i1/k0/k1, scaled_modified_bessel_k0/k1, bessel_j0/j1/y0/y1,
spherical_bessel_j0 and airy_ai.

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

from .series import chbevl, polevl

aten = torch.ops.aten


# --- dtypes -------------------------------------------------------------------------


def _unary(compute, *, halves: bool):
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


def _where(condition, a, b):
    """torch.where with Python numbers made tensors like the other operand."""
    like = a if isinstance(a, torch.Tensor) else b
    if not isinstance(a, torch.Tensor):
        a = torch.full_like(like, a)
    if not isinstance(b, torch.Tensor):
        b = torch.full_like(like, b)
    return torch.where(condition, a, b)


def _over(number, x):
    """number / x, one division as the kernels' (`number / x` in Python is x's reciprocal
    times the number: two roundings)."""
    return torch.full_like(x, number) / x


def _signed(x, magnitude):
    """`magnitude` negated where x < 0: the odd functions' symmetry."""
    return torch.where(x < 0, -magnitude, magnitude)


# --- modified Bessel functions of the first kind (i0, i0e, i1, i1e) -------------------

# exp(-x) I0(x) on [0, 8], Chebyshev in x/2 - 2.
I0E_A = (
    -4.41534164647933937950E-18, 3.33079451882223809783E-17,
    -2.43127984654795469359E-16, 1.71539128555513303061E-15,
    -1.16853328779934516808E-14, 7.67618549860493561688E-14,
    -4.85644678311192946090E-13, 2.95505266312963983461E-12,
    -1.72682629144155570723E-11, 9.67580903537323691224E-11,
    -5.18979560163526290666E-10, 2.65982372468238665035E-9,
    -1.30002500998624804212E-8, 6.04699502254191894932E-8,
    -2.67079385394061173391E-7, 1.11738753912010371815E-6,
    -4.41673835845875056359E-6, 1.64484480707288970893E-5,
    -5.75419501008210370398E-5, 1.88502885095841655729E-4,
    -5.76375574538582365885E-4, 1.63947561694133579842E-3,
    -4.32430999505057594430E-3, 1.05464603945949983183E-2,
    -2.37374148058994688156E-2, 4.93052842396707084878E-2,
    -9.49010970480476444210E-2, 1.71620901522208775349E-1,
    -3.04682672343198398683E-1, 6.76795274409476084995E-1)
# exp(-x) sqrt(x) I0(x) on [8, inf), Chebyshev in 32/x - 2.
I0E_B = (
    -7.23318048787475395456E-18, -4.83050448594418207126E-18,
    4.46562142029675999901E-17, 3.46122286769746109310E-17,
    -2.82762398051658348494E-16, -3.42548561967721913462E-16,
    1.77256013305652638360E-15, 3.81168066935262242075E-15,
    -9.55484669882830764870E-15, -4.15056934728722208663E-14,
    1.54008621752140982691E-14, 3.85277838274214270114E-13,
    7.18012445138366623367E-13, -1.79417853150680611778E-12,
    -1.32158118404477131188E-11, -3.14991652796324136454E-11,
    1.18891471078464383424E-11, 4.94060238822496958910E-10,
    3.39623202570838634515E-9, 2.26666899049817806459E-8,
    2.04891858946906374183E-7, 2.89137052083475648297E-6,
    6.88975834691682398426E-5, 3.36911647825569408990E-3,
    8.04490411014108831608E-1)
# exp(-x) I1(x) / x on [0, 8], Chebyshev in x/2 - 2 (calc_i1's float32 kernel uses
# the last 17).
I1E_A = (
    2.77791411276104639959E-18, -2.11142121435816608115E-17,
    1.55363195773620046921E-16, -1.10559694773538630805E-15,
    7.60068429473540693410E-15, -5.04218550472791168711E-14,
    3.22379336594557470981E-13, -1.98397439776494371520E-12,
    1.17361862988909016308E-11, -6.66348972350202774223E-11,
    3.62559028155211703701E-10, -1.88724975172282928790E-9,
    9.38153738649577178388E-9, -4.44505912879632808065E-8,
    2.00329475355213526229E-7, -8.56872026469545474066E-7,
    3.47025130813767847674E-6, -1.32731636560394358279E-5,
    4.78156510755005422638E-5, -1.61760815825896745588E-4,
    5.12285956168575772895E-4, -1.51357245063125314899E-3,
    4.15642294431288815669E-3, -1.05640848946261981558E-2,
    2.47264490306265168283E-2, -5.29459812080949914269E-2,
    1.02643658689847095384E-1, -1.76416518357834055153E-1,
    2.52587186443633654823E-1)
# exp(-x) sqrt(x) I1(x) on [8, inf), Chebyshev in 32/x - 2 (float32: the last 7).
I1E_B = (
    7.51729631084210481353E-18, 4.41434832307170791151E-18,
    -4.65030536848935832153E-17, -3.20952592199342395980E-17,
    2.96262899764595013876E-16, 3.30820231092092828324E-16,
    -1.88035477551078244854E-15, -3.81440307243700780478E-15,
    1.04202769841288027642E-14, 4.27244001671195135429E-14,
    -2.10154184277266431302E-14, -4.08355111109219731823E-13,
    -7.19855177624590851209E-13, 2.03562854414708950722E-12,
    1.41258074366137813316E-11, 3.25260358301548823856E-11,
    -1.89749581235054123450E-11, -5.58974346219658380687E-10,
    -3.83538038596423702205E-9, -2.63146884688951950684E-8,
    -2.51223623787020892529E-7, -3.88256480887769039346E-6,
    -1.10588938762623716291E-4, -9.76109749136146840777E-3,
    7.78576235018280120474E-1)


def _i_series(a, small_coefficients, large_coefficients):
    """The Chebyshev series of exp(-a) I(a) [/ a] on a <= 8 (its argument a/2 - 2) and of
    exp(-a) sqrt(a) I(a) beyond (32/a - 2), for a = |x|: (small, large, a <= 8, the
    guarded a of each side)."""
    small = a <= 8.0
    a_small = _where(small, a, 8.0)
    a_large = _where(small, 8.0, a)  # NaN stays: the kernel takes this side for it
    return (_i_near(a_small, small_coefficients),
            chbevl(_over(32.0, a_large) - 2.0, large_coefficients), small, a_small, a_large)


def _i_near(a, coefficients):
    """The Chebyshev series of exp(-a) I(a) [/ a] for 0 <= a <= 8."""
    return chbevl(a / 2.0 - 2.0, coefficients)


def _i0(x, scaled: bool):
    """calc_i0 (and modified_bessel_i0_forward, the same sums) or, scaled, calc_i0e."""
    a = x.abs()
    near, far, small, a_small, a_large = _i_series(a, I0E_A, I0E_B)
    if scaled:
        return torch.where(small, near, far / torch.sqrt(a_large))
    return torch.where(small, torch.exp(a_small) * near,
                       torch.exp(a_large) * far / torch.sqrt(a_large))


def _i1(x, scaled: bool, short_in_f32: bool):
    """calc_i1 or, scaled, calc_i1e; modified_bessel_i1_forward where not
    `short_in_f32` (calc_i1's float32 kernel has shorter series)."""
    short = short_in_f32 and x.dtype == torch.float32
    a = x.abs()
    near, far, small, a_small, a_large = _i_series(
        a, I1E_A[-17:] if short else I1E_A, I1E_B[-7:] if short else I1E_B)
    if scaled:
        out = torch.where(small, near * a_small, far / torch.sqrt(a_large))
    elif short_in_f32:  # calc_i1: exp(x) * x * series
        out = torch.where(small, torch.exp(a_small) * a_small * near,
                          torch.exp(a_large) * far / torch.sqrt(a_large))
    else:  # modified_bessel_i1_forward: series * x * exp(x)
        out = torch.where(small, near * a_small * torch.exp(a_small),
                          torch.exp(a_large) * far / torch.sqrt(a_large))
    return _signed(x, out)


def i0(x):
    """aten.i0: I0(x), calc_i0."""
    return _i0(x, scaled=False)


def i0e(x):
    """aten.special_i0e: exp(-|x|) I0(x), calc_i0e."""
    return _i0(x, scaled=True)


def i1(x):
    """aten.special_i1: I1(x), calc_i1."""
    return _i1(x, scaled=False, short_in_f32=True)


def i1e(x):
    """aten.special_i1e: exp(-|x|) I1(x), calc_i1e."""
    return _i1(x, scaled=True, short_in_f32=True)


def modified_bessel_i1(x):
    """aten.special_modified_bessel_i1: I1(x), modified_bessel_i1_forward (the full
    series in float32 too)."""
    return _i1(x, scaled=False, short_in_f32=False)


# --- modified Bessel functions of the second kind (k0, k1, scaled) --------------------

# K0(x) + log(x/2) I0(x) on [0, 2], Chebyshev in x^2 - 2.
K0_A = (
    1.37446543561352307156e-16, 4.25981614279661018399e-14,
    1.03496952576338420167e-11, 1.90451637722020886025e-09,
    2.53479107902614945675e-07, 2.28621210311945178607e-05,
    1.26461541144692592338e-03, 3.59799365153615016266e-02,
    3.44289899924628486886e-01, -5.35327393233902768720e-01)
# exp(x) sqrt(x) K0(x) on [2, inf), Chebyshev in 8/x - 2.
K0_B = (
    5.30043377268626276149e-18, -1.64758043015242134646e-17,
    5.21039150503902756861e-17, -1.67823109680541210385e-16,
    5.51205597852431940784e-16, -1.84859337734377901440e-15,
    6.34007647740507060557e-15, -2.22751332699166985548e-14,
    8.03289077536357521100e-14, -2.98009692317273043925e-13,
    1.14034058820847496303e-12, -4.51459788337394416547e-12,
    1.85594911495471785253e-11, -7.95748924447710747776e-11,
    3.57739728140030116597e-10, -1.69753450938905987466e-09,
    8.57403401741422608519e-09, -4.66048989768794782956e-08,
    2.76681363944501510342e-07, -1.83175552271911948767e-06,
    1.39498137188764993662e-05, -1.28495495816278026384e-04,
    1.56988388573005337491e-03, -3.14481013119645005427e-02,
    2.44030308206595545468e+00)
# x (K1(x) - log(x/2) I1(x)) on [0, 2], Chebyshev in x^2 - 2.
K1_A = (
    -7.02386347938628759343e-18, -2.42744985051936593393e-15,
    -6.66690169419932900609e-13, -1.41148839263352776110e-10,
    -2.21338763073472585583e-08, -2.43340614156596823496e-06,
    -1.73028895751305206302e-04, -6.97572385963986435018e-03,
    -1.22611180822657148235e-01, -3.53155960776544875667e-01,
    1.52530022733894777053e+00)
# exp(x) sqrt(x) K1(x) on [2, inf), Chebyshev in 8/x - 2.
K1_B = (
    -5.75674448366501715755e-18, 1.79405087314755922667e-17,
    -5.68946255844285935196e-17, 1.83809354436663880070e-16,
    -6.05704724837331885336e-16, 2.03870316562433424052e-15,
    -7.01983709041831346144e-15, 2.47715442448130437068e-14,
    -8.97670518232499435011e-14, 3.34841966607842919884e-13,
    -1.28917396095102890680e-12, 5.13963967348173025100e-12,
    -2.12996783842756842877e-11, 9.21831518760500529508e-11,
    -4.19035475934189648750e-10, 2.01504975519703286596e-09,
    -1.03457624656780970260e-08, 5.74108412545004946722e-08,
    -3.50196060308781257119e-07, 2.40648494783721712015e-06,
    -1.93619797416608296024e-05, 1.95215518471351631108e-04,
    -2.85781685962277938680e-03, 1.03923736576817238437e-01,
    2.72062619048444266945e+00)


def _k(x, order: int, scaled: bool):
    """modified_bessel_k0/k1_forward or, scaled, scaled_modified_bessel_k0/k1_forward:
    inf at 0, NaN below, a series with log(x/2) I(x) on (0, 2], one of exp(x) sqrt(x) K(x)
    beyond."""
    small = x <= 2.0
    x_small = _where(small & (x > 0), x, 1.0)
    x_large = _where(small, 4.0, x)  # NaN stays: the kernel takes this side for it
    near = chbevl(x_small * x_small - 2.0, K0_A if order == 0 else K1_A)
    far = chbevl(_over(8.0, x_large) - 2.0, K0_B if order == 0 else K1_B)
    if order == 0:
        # modified_bessel_i0_forward, on its side a <= 8
        i0_small = torch.exp(x_small) * _i_near(x_small, I0E_A)
        if scaled:
            near = (near - torch.log(x_small * 0.5) * i0_small) * torch.exp(x_small)
        elif x.dtype == torch.float32:
            # modified_bessel_k0_forward takes log(0.5 * x) in double (0.5 is a double),
            # and so the difference, rounded once to float.
            wide = near.to(torch.float64) - torch.log(x_small.to(torch.float64) * 0.5) \
                * i0_small.to(torch.float64)
            near = wide.to(torch.float32)
        else:
            near = near - torch.log(x_small * 0.5) * i0_small
    else:
        # modified_bessel_i1_forward, on its side a <= 8
        i1_small = _i_near(x_small, I1E_A) * x_small * torch.exp(x_small)
        near = torch.log(x_small * 0.5) * i1_small + near / x_small
        if scaled:
            near = near * torch.exp(x_small)
    if not scaled:
        far = torch.exp(-x_large) * far
    out = torch.where(small, near, far / torch.sqrt(x_large))
    out = _where(x < 0, math.nan, out)
    return _where(x == 0, math.inf, out)


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
        w = _over(25.0, x * x)
        pp, pq, qp, qq = J0_PP, J0_PQ, J0_QP, J0_QQ
        phase = x - _QUARTER_PI
    else:
        w = _over(5.0, x) * _over(5.0, x)
        pp, pq, qp, qq = J1_PP, J1_PQ, J1_QP, J1_QQ
        phase = x - _THREE_QUARTER_PI
    p = polevl(w, pp) / polevl(w, pq)
    q = _over(5.0, x) * (polevl(w, qp) / polevl(w, qq))
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
    return torch.where(small, _j0_near(_where(small, a, 0.0)),
                       _asymptotic(_where(small, 5.0, a), 0, second_kind=False))


def bessel_j1(x):
    """aten.special_bessel_j1: J1(x), bessel_j1_forward (odd: -J1(-x) below 0)."""
    a = torch.where(x < 0, -x, x)  # not abs: J1(-0.0) is -0.0, as the kernel's
    small = a <= 5.0
    out = torch.where(small, _j1_near(_where(small, a, 0.0)),
                      _asymptotic(_where(small, 5.0, a), 1, second_kind=False))
    return _signed(x, out)


def _y(x, order: int):
    """bessel_y0/y1_forward: -inf at 0, NaN below, a rational form with (2/pi) log(x)
    J(x) on (0, 5], the asymptotic form beyond."""
    small = x <= 5.0
    x_small = _where(small & (x > 0), x, 1.0)
    x_large = _where(small, 5.0, x)  # NaN stays: the kernel takes this side for it
    z = x_small * x_small
    if order == 0:
        near = polevl(z, Y0_YP) / polevl(z, Y0_YQ) \
            + _TWO_OVER_PI * torch.log(x_small) * _j0_near(x_small)
    else:
        near = x_small * (polevl(z, Y1_YP) / polevl(z, Y1_YQ)) \
            + _TWO_OVER_PI * (_j1_near(x_small) * torch.log(x_small) - _over(1.0, x_small))
    out = torch.where(small, near, _asymptotic(x_large, order, second_kind=True))
    out = _where(x < 0, math.nan, out)
    return _where(x == 0, -math.inf, out)


def spherical_bessel_j0(x):
    """aten.special_spherical_bessel_j0: sin(x)/x, its Taylor series below |x| = 0.5, 0
    at +-inf (spherical_bessel_j0_forward)."""
    small = x.abs() < 0.5
    x_small = _where(small, x, 0.0)
    z = x_small * x_small
    series = polevl(z, (1.0 / 6227020800.0, -1.0 / 39916800.0, 1.0 / 362880.0,
                        -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0))
    infinite = torch.isinf(x)
    x_large = _where(small | infinite, 1.0, x)
    out = torch.where(small, series, torch.sin(x_large) / x_large)
    return _where(infinite, 0.0, out)


# --- airy_ai ------------------------------------------------------------------------

AI_AN = (
    3.46538101525629032477e-01, 1.20075952739645805542e+01, 7.62796053615234516538e+01,
    1.68089224934630576269e+02, 1.59756391350164413639e+02, 7.05360906840444183113e+01,
    1.40264691163389668864e+01, 9.99999999999999995305e-01)
AI_AD = (
    5.67594532638770212846e-01, 1.47562562584847203173e+01, 8.45138970141474626562e+01,
    1.77318088145400459522e+02, 1.64234692871529701831e+02, 7.14778400825575695274e+01,
    1.40959135607834029598e+01, 1.00000000000000000470e+00)
AI_AFN = (
    -1.31696323418331795333e-01, -6.26456544431912369773e-01, -6.93158036036933542233e-01,
    -2.79779981545119124951e-01, -4.91900132609500318020e-02, -4.06265923594885404393e-03,
    -1.59276496239262096340e-04, -2.77649108155232920844e-06, -1.67787698489114633780e-08)
AI_AFD = (
    1.33560420706553243746e+01, 3.26825032795224613948e+01, 2.67367040941499554804e+01,
    9.18707402907259625840e+00, 1.47529146771666414581e+00, 1.15687173795188044134e-01,
    4.40291641615211203805e-03, 7.54720348287414296618e-05, 4.51850092970580378464e-07)
AI_AGN = (
    1.97339932091685679179e-02, 3.91103029615688277255e-01, 1.06579897599595591108e+00,
    9.39169229816650230044e-01, 3.51465656105547619242e-01, 6.33888919628925490927e-02,
    5.85804113048388458567e-03, 2.82851600836737019778e-04, 6.98793669997260967291e-06,
    8.11789239554389293311e-08, 3.41551784765923618484e-10)
AI_AGD = (
    9.30892908077441974853e+00, 1.98352928718312140417e+01, 1.55646628932864612953e+01,
    5.47686069422975497931e+00, 9.54293611618961883998e-01, 8.64580826352392193095e-02,
    4.12656523824222607191e-03, 1.01259085116509135510e-04, 1.17166733214413521882e-06,
    4.91834570062930015649e-09)
_ONE_OVER_SQRT_PI = 5.64189583547756286948e-01
# The most iterations airy_ai's power series takes on [-2.09, 2.09), by the dtype.
AIRY_SERIES_ITERATIONS = {torch.float32: 12, torch.float64: 20}


def _airy_negative(x):
    """airy_ai_forward below -2.09: the oscillating asymptotic form."""
    zeta = -2.0 * x * torch.sqrt(-x) / 3.0
    z = _over(1.0, zeta)
    zz = z * z
    amplitude = 1.0 + zz * polevl(zz, AI_AFN) / polevl(zz, AI_AFD)
    phase = z * polevl(zz, AI_AGN) / polevl(zz, AI_AGD)
    t = zeta + 0.25 * math.pi
    return _over(_ONE_OVER_SQRT_PI, torch.sqrt(torch.sqrt(-x))) \
        * (torch.sin(t) * amplitude - torch.cos(t) * phase)


def _airy_positive(x):
    """airy_ai_forward from 2.09: the decaying asymptotic form."""
    zeta = 2.0 * x * torch.sqrt(x) / 3.0
    w = _over(1.0, zeta)
    ratio = polevl(w, AI_AN) / polevl(w, AI_AD)
    return _ONE_OVER_SQRT_PI * ratio / (2.0 * torch.sqrt(torch.sqrt(x)) * torch.exp(zeta))


def _airy_series(x):
    """airy_ai_forward on [-2.09, 2.09): c1 f(x) - c2 g(x), the Maclaurin series of f and
    g summed until a term of f is below epsilon of f. The loop is unrolled; f and g stop
    where the kernel's loop has stopped. Its counter k takes the same integers whatever
    x, so it is a Python number here."""
    epsilon = torch.finfo(x.dtype).eps
    z = x * x * x
    f, g, m, n = torch.ones_like(x), x, torch.ones_like(x), x
    running = torch.ones_like(x, dtype=torch.bool)
    for i in range(1, AIRY_SERIES_ITERATIONS[x.dtype] + 1):
        k = 3.0 * i  # the kernel's k: 3i - 1, 3i, 3i + 1 in turn
        m = m * z / (k - 1.0)
        n = n * z / k
        m = m / k
        n = n / (k + 1.0)
        f_next, g_next = f + m, g + n
        f = torch.where(running, f_next, f)
        g = torch.where(running, g_next, g)
        running = running & ((m / f_next).abs() > epsilon)
    return 0.355028053887817239260 * f - 0.258819403792806798405 * g


def airy_ai(x):
    """aten.special_airy_ai: Ai(x), airy_ai_forward (NaN at +-inf, 0 beyond 103.892)."""
    negative = x < -2.09
    positive = x >= 2.09
    out = torch.where(positive, _airy_positive(_where(positive, x, 2.09)),
                      _airy_series(_where(negative | positive, 0.0, x)))
    out = torch.where(negative, _airy_negative(_where(negative, x, -2.09)), out)
    out = _where(x > 103.892, 0.0, out)
    return _where(torch.isinf(x), math.nan, out)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.i0.default: _unary(i0, halves=True),
        aten.special_i0e.default: _unary(i0e, halves=True),
        aten.special_i1.default: _unary(i1, halves=True),
        aten.special_i1e.default: _unary(i1e, halves=True),
        aten.special_modified_bessel_i0.default: _unary(i0, halves=False),
        aten.special_modified_bessel_i1.default: _unary(modified_bessel_i1, halves=False),
        aten.special_modified_bessel_k0.default:
            _unary(lambda x: _k(x, 0, scaled=False), halves=False),
        aten.special_modified_bessel_k1.default:
            _unary(lambda x: _k(x, 1, scaled=False), halves=False),
        aten.special_scaled_modified_bessel_k0.default:
            _unary(lambda x: _k(x, 0, scaled=True), halves=False),
        aten.special_scaled_modified_bessel_k1.default:
            _unary(lambda x: _k(x, 1, scaled=True), halves=False),
        aten.special_bessel_j0.default: _unary(bessel_j0, halves=False),
        aten.special_bessel_j1.default: _unary(bessel_j1, halves=False),
        aten.special_bessel_y0.default: _unary(lambda x: _y(x, 0), halves=False),
        aten.special_bessel_y1.default: _unary(lambda x: _y(x, 1), halves=False),
        aten.special_spherical_bessel_j0.default: _unary(spherical_bessel_j0, halves=False),
        aten.special_airy_ai.default: _unary(airy_ai, halves=False),
    }
