"""The Bessel and Airy functions (compiler/decompositions_bessel.py,
decompositions_bessel_modified.py, decompositions_airy.py: ports of torch's kernels, which
torch-mlir cannot lower) compile natively and agree with eager: within 10 ulp (the
kernels' Chebyshev sums at their ends, where eager's build contracts
x * b1 - b2 into one FMA and ours does not), absolutely where a function oscillates
through zero (j0, j1, y0, y1, airy_ai), with eager's NaNs, infinities and signed zeros."""

from __future__ import annotations

import pytest
import torch

import mlirfuse


pytestmark = pytest.mark.usefixtures("no_grad")

S = torch.special
# name -> (function, the power of |x| in its phase where it oscillates through zero, else
# None: compared absolutely there, values of order 1 cancelling near the zeros)
FUNCTIONS = {
    "i0": (torch.i0, None),
    "i0e": (S.i0e, None),
    "i1": (S.i1, None),
    "i1e": (S.i1e, None),
    "modified_bessel_i0": (S.modified_bessel_i0, None),
    "modified_bessel_i1": (S.modified_bessel_i1, None),
    "modified_bessel_k0": (S.modified_bessel_k0, None),
    "modified_bessel_k1": (S.modified_bessel_k1, None),
    "scaled_modified_bessel_k0": (S.scaled_modified_bessel_k0, None),
    "scaled_modified_bessel_k1": (S.scaled_modified_bessel_k1, None),
    "bessel_j0": (S.bessel_j0, 1.0),
    "bessel_j1": (S.bessel_j1, 1.0),
    "bessel_y0": (S.bessel_y0, 1.0),
    "bessel_y1": (S.bessel_y1, 1.0),
    "spherical_bessel_j0": (S.spherical_bessel_j0, None),
    "airy_ai": (S.airy_ai, 1.5),
}
# The kernels' branch points (and either side), overflow and underflow, NaN, infinities.
SPECIALS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-39, -1e-39, 1e-45,
            1e-5, 9.99e-6, 0.5, -0.5, 0.4999, 2.0, -2.0, 2.0001, 5.0, -5.0, 5.0001, 8.0, -8.0,
            8.0001, 2.09, -2.09, 2.0899, -2.0901, 8.3203353, 8.33, 103.892, 103.9, 88.7, 88.8,
            -88.8, 700.0, 710.0, -710.0, 1e30, -1e30, 3.4e38, -3.4e38]


def _inputs(dtype):
    gen = torch.Generator(torch.get_default_device()).manual_seed(0)
    return torch.cat([torch.linspace(-30, 30, 6001, dtype=dtype),
                      torch.linspace(-250, 250, 1001, dtype=dtype),
                      torch.randn(3000, generator=gen, dtype=dtype) * 4,
                      torch.rand(300, generator=gen, dtype=dtype) * 1e-3,
                      torch.logspace(-35, 35, 141, dtype=dtype),
                      -torch.logspace(-35, 35, 141, dtype=dtype),
                      torch.tensor(SPECIALS, dtype=dtype)])


def _all(x):
    return tuple(fn(x) for fn, _ in FUNCTIONS.values())


def _assert_matches(name, x, actual, expected, phase_power):
    """Within 10 ulp, plus 4 ulp absolutely for oscillating functions. On the CPU the
    compiled code rounds the phase (x - pi/4, 2/3 |x|^1.5 + pi/4) as eager's kernel does;
    elsewhere eager's kernel is another compilation (contracted, other libm), and a phase
    one ulp apart moves the result by up to ulp(phase): that is allowed there too."""
    dtype = expected.dtype
    ulp = torch.finfo(dtype).eps
    assert actual.dtype == dtype, name
    nan = torch.isnan(expected)
    assert torch.equal(torch.isnan(actual), nan), f"{name}: NaN at {x[torch.isnan(actual) != nan]}"
    finite = torch.isfinite(expected)
    assert torch.equal(actual[~finite & ~nan], expected[~finite & ~nan]), f"{name}: infinities"
    if phase_power is None:
        atol = torch.full_like(expected, torch.finfo(dtype).tiny)  # eager's subnormals
    else:
        atol = torch.full_like(expected, 4 * ulp)
        if torch.get_default_device().type != "cpu":
            atol = atol * (1 + x.abs() ** phase_power)
    error = (actual - expected).abs()
    bad = finite & ~(error <= atol + 10 * ulp * expected.abs())
    assert not bad.any(), (f"{name}: {int(bad.sum())} differ, at x = {x[bad][:4].tolist()}: "
                           f"{actual[bad][:4].tolist()} (eager {expected[bad][:4].tolist()})")
    zero = expected == 0
    assert torch.equal(actual[zero].signbit(), expected[zero].signbit()), f"{name}: -0.0"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bessel_functions_match_eager(dtype):
    x = _inputs(dtype)
    compiled = mlirfuse.compile(_all)
    got = compiled(x)
    assert compiled.stats.eager_ops == 0, compiled.explain()
    for (name, (_, phase_power)), actual, expected in zip(FUNCTIONS.items(), got, _all(x)):
        _assert_matches(name, x, actual, expected, phase_power)


def test_integer_and_half_arguments_promote_as_eager():
    """Integers and bools compute in the default float type; i0, i0e, i1 and i1e of
    float16 and bfloat16 in float32, rounded once (eager's kernels widen them)."""
    def fn(n, b, h, bf):
        return (torch.i0(n), S.i1e(n), S.bessel_j1(n), S.spherical_bessel_j0(b),
                torch.i0(h), S.i1(h), S.i0e(bf), S.i1e(bf))

    n = torch.arange(-20, 21)
    b = torch.tensor([True, False])
    h = torch.linspace(-12, 12, 2401).to(torch.float16)
    bf = torch.linspace(-12, 12, 2401).to(torch.bfloat16)
    compiled = mlirfuse.compile(fn)
    got = compiled(n, b, h, bf)
    assert compiled.stats.eager_ops == 0, compiled.explain()
    for actual, expected in zip(got, fn(n, b, h, bf)):
        assert actual.dtype == expected.dtype
        if expected.dtype in (torch.float16, torch.bfloat16):
            # one rounding of a float32 result a few ulp from eager's: 1 ulp apart at most
            rtol = torch.finfo(expected.dtype).eps
        else:
            assert expected.dtype == torch.get_default_dtype()
            rtol = 10 * torch.finfo(expected.dtype).eps
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=0, equal_nan=True)
