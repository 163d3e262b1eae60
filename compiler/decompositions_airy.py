"""The decomposition of torch.special's airy_ai: a port of torch's CPU kernel
(airy_ai_forward), as compiler/decompositions_bessel.py says of the Bessel functions (its
docstring: the method, the dtypes, the accuracy against eager)."""

from __future__ import annotations

import math

import torch

from .decompositions_bessel import choose, over, unary
from .series import polevl

aten = torch.ops.aten

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
    z = over(1.0, zeta)
    zz = z * z
    amplitude = 1.0 + zz * polevl(zz, AI_AFN) / polevl(zz, AI_AFD)
    phase = z * polevl(zz, AI_AGN) / polevl(zz, AI_AGD)
    t = zeta + 0.25 * math.pi
    return over(_ONE_OVER_SQRT_PI, torch.sqrt(torch.sqrt(-x))) \
        * (torch.sin(t) * amplitude - torch.cos(t) * phase)


def _airy_positive(x):
    """airy_ai_forward from 2.09: the decaying asymptotic form."""
    zeta = 2.0 * x * torch.sqrt(x) / 3.0
    w = over(1.0, zeta)
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
    out = torch.where(positive, _airy_positive(choose(positive, x, 2.09)),
                      _airy_series(choose(negative | positive, 0.0, x)))
    out = torch.where(negative, _airy_negative(choose(negative, x, -2.09)), out)
    out = choose(x > 103.892, 0.0, out)
    return choose(torch.isinf(x), math.nan, out)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.special_airy_ai.default: unary(airy_ai, halves=False),
    }
