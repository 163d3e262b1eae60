"""The Chebyshev polynomials of the four kinds, plain and shifted (no torch-mlir lowering;
compiler/decompositions_chebyshev.py): compiled natively, against eager over degrees on
both sides of eager's trigonometric threshold, arguments inside and outside [-1, 1], the
ends, NaN, and degrees where eager's recurrence overflows."""

from __future__ import annotations

import pytest
import torch

import mlirfuse

pytestmark = pytest.mark.usefixtures("no_grad")

OPS = [torch.special.chebyshev_polynomial_t, torch.special.chebyshev_polynomial_u,
       torch.special.chebyshev_polynomial_v, torch.special.chebyshev_polynomial_w,
       torch.special.shifted_chebyshev_polynomial_t,
       torch.special.shifted_chebyshev_polynomial_u,
       torch.special.shifted_chebyshev_polynomial_v,
       torch.special.shifted_chebyshev_polynomial_w]
# The hyperbolic closed form past the threshold differs from eager's recurrence by
# rounding: up to n ulp of the recurrence's own error.
RTOL = {torch.float32: 5e-5, torch.float64: 1e-11}


def _all(x, n):
    return tuple(op(x, n) for op in OPS)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chebyshev_polynomials_match_eager(dtype):
    x = torch.cat([torch.linspace(-3, 3, 241, dtype=dtype),
                   torch.tensor([1.0, -1.0, 0.0, 0.5, -8.48, 0.99999994, -0.99999994,
                                 float("nan")], dtype=dtype)])
    n = torch.tensor([-2.0, -0.5, 0, 0.7, 1, 2, 3, 3.61, 4, 5, 6, 7, 8, 9, 10, 13, 20, 40,
                      100, 300, float("nan")], dtype=dtype)
    x, n = torch.broadcast_tensors(x[:, None], n[None, :])
    compiled = mlirfuse.compile(_all)
    for op, got, expected in zip(OPS, compiled(x, n), _all(x, n)):
        torch.testing.assert_close(got, expected, rtol=RTOL[dtype], atol=1e-6,
                                   equal_nan=True, msg=lambda m: f"{op.__name__}: {m}")
    assert compiled.stats.eager_ops == 0
