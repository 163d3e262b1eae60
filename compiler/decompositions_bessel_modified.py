"""Decompositions of the modified Bessel functions: i0 and torch.special's i0e, i1, i1e,
modified_bessel_i0/i1/k0/k1 and scaled_modified_bessel_k0/k1: ports of torch's CPU
kernels (aten/src/ATen/native/Math.h), as compiler/decompositions_bessel.py says of them
all (its docstring: the method, the dtypes, the accuracy against eager)."""

from __future__ import annotations

import math

import torch

from .decompositions_bessel import choose, over, signed, unary
from .series import chbevl

aten = torch.ops.aten

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
    a_small = choose(small, a, 8.0)
    a_large = choose(small, 8.0, a)  # NaN stays: the kernel takes this side for it
    return (_i_near(a_small, small_coefficients),
            chbevl(over(32.0, a_large) - 2.0, large_coefficients), small, a_small, a_large)


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
    return signed(x, out)


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
    x_small = choose(small & (x > 0), x, 1.0)
    x_large = choose(small, 4.0, x)  # NaN stays: the kernel takes this side for it
    near = chbevl(x_small * x_small - 2.0, K0_A if order == 0 else K1_A)
    far = chbevl(over(8.0, x_large) - 2.0, K0_B if order == 0 else K1_B)
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
    out = choose(x < 0, math.nan, out)
    return choose(x == 0, math.inf, out)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.i0.default: unary(i0, halves=True),
        aten.special_i0e.default: unary(i0e, halves=True),
        aten.special_i1.default: unary(i1, halves=True),
        aten.special_i1e.default: unary(i1e, halves=True),
        aten.special_modified_bessel_i0.default: unary(i0, halves=False),
        aten.special_modified_bessel_i1.default: unary(modified_bessel_i1, halves=False),
        aten.special_modified_bessel_k0.default:
            unary(lambda x: _k(x, 0, scaled=False), halves=False),
        aten.special_modified_bessel_k1.default:
            unary(lambda x: _k(x, 1, scaled=False), halves=False),
        aten.special_scaled_modified_bessel_k0.default:
            unary(lambda x: _k(x, 0, scaled=True), halves=False),
        aten.special_scaled_modified_bessel_k1.default:
            unary(lambda x: _k(x, 1, scaled=True), halves=False),
    }
