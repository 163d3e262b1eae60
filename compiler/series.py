"""Polynomial and Chebyshev series over tensors, in Cephes' conventions (the special
functions of torch's aten/src/ATen/native/Math.h are built on them), for the
decompositions of special functions: each is a chain of pointwise torch ops that the
fusion passes make one kernel. Coefficients are Python floats, highest degree first, so
that no constant tensor is made on some device.
"""

from __future__ import annotations

from typing import Sequence

import torch


def polevl(x: torch.Tensor, coefficients: Sequence[float]) -> torch.Tensor:
    """c[0] x^n + c[1] x^(n-1) + ... + c[n], by Horner's rule."""
    result = torch.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        result = result * x + c
    return result


def p1evl(x: torch.Tensor, coefficients: Sequence[float]) -> torch.Tensor:
    """polevl with an implied leading coefficient of 1: x^n + c[0] x^(n-1) + ... + c[n-1]."""
    result = x + coefficients[0]
    for c in coefficients[1:]:
        result = result * x + c
    return result


def chbevl(x: torch.Tensor, coefficients: Sequence[float]) -> torch.Tensor:
    """The Chebyshev series sum' c[i] T_i(x/2) (Clenshaw's recurrence, as Cephes' chbevl:
    the argument is already mapped to [-2, 2], the first term halved)."""
    b0 = torch.full_like(x, coefficients[0])
    b1 = torch.zeros_like(x)
    b2 = b1
    for c in coefficients[1:]:
        b2 = b1
        b1 = b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)
