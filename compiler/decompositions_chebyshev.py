"""Decompositions of the Chebyshev polynomials of the four kinds, plain and shifted
(aten.special_chebyshev_polynomial_{t,u,v,w} and special_shifted_chebyshev_polynomial_*):
torch-mlir has no lowering; each ran eager.

Eager (aten/src/ATen/native/Math.h) truncates the degree n to an integer, returns 0 for
n < 0 and fixed values at y = 1 and y = -1 (y = x, or 2x - 1 for the shifted kinds), uses
the trigonometric form for |y| < 1 past a small degree (cos(n acos y) for the first kind),
and otherwise runs the three-term recurrence r = 2y q - p for n steps: a loop whose count
is data, which a graph cannot hold. Here the recurrence is unrolled for the degrees below
the trigonometric threshold (so every value eager computes by it for |y| < 1 is computed
the same way), and past it, for |y| > 1, the recurrence's closed hyperbolic form
(cosh(n acosh y) for the first kind, and its relatives) gives the same polynomial; where
the recurrence would have overflowed two steps before the end (inf - inf), NaN, as eager.
The hyperbolic form differs from the recurrence by rounding only (measured in
test_decompositions_chebyshev.py: within 1e-5 relative in float32, 1e-12 in float64).
"""

from __future__ import annotations

import dataclasses

import torch

aten = torch.ops.aten


@dataclasses.dataclass(frozen=True)
class _Kind:
    shifted: bool
    first: str         # q at degree 1, in y: "y", "2y", "2y-1", "2y+1"
    threshold: int     # eager's trigonometric form applies for n > threshold and |y| < 1


_KINDS = {
    aten.special_chebyshev_polynomial_t.default: ("t", _Kind(False, "y", 6)),
    aten.special_chebyshev_polynomial_u.default: ("u", _Kind(False, "2y", 8)),
    aten.special_chebyshev_polynomial_v.default: ("v", _Kind(False, "2y-1", 8)),
    aten.special_chebyshev_polynomial_w.default: ("w", _Kind(False, "2y+1", 8)),
    aten.special_shifted_chebyshev_polynomial_t.default: ("t", _Kind(True, "y", 6)),
    aten.special_shifted_chebyshev_polynomial_u.default: ("u", _Kind(True, "2y", 6)),
    aten.special_shifted_chebyshev_polynomial_v.default: ("v", _Kind(True, "2y-1", 6)),
    aten.special_shifted_chebyshev_polynomial_w.default: ("w", _Kind(True, "2y+1", 4)),
}


def _degree_one(y, first):
    return {"y": y, "2y": y + y, "2y-1": y + y - 1.0, "2y+1": y + y + 1.0}[first]


def _recurrence(y, n, kind):
    """The value eager's loop computes for degrees 0..threshold (selected by n)."""
    p = torch.ones_like(y)
    q = _degree_one(y, kind.first)
    result = torch.where(n == 0, p, q)
    for k in range(2, kind.threshold + 1):
        p, q = q, (y + y) * q - p
        result = torch.where(n == k, q, result)
    return result


def _trigonometric(name, y, n, kind):
    """Eager's form for |y| < 1 past the threshold (theta = acos y)."""
    theta = torch.acos(y.clamp(-1.0, 1.0))
    odd = torch.remainder(n, 2) == 1
    if name == "t":
        return torch.cos(n * theta)
    if name == "u":
        s = torch.sin(theta)
        return torch.where(s != 0, torch.sin((n + 1) * theta) / s,
                           (n + 1) * torch.cos((n + 1) * theta) / y)
    if name == "v":
        parity = torch.where(odd, -(n + n + 1), n + n + 1)
        return torch.where(torch.sin(theta / 2) != 1,
                           torch.cos((n + 0.5) * theta) / torch.cos(theta / 2), parity)
    # w: eager's value where cos(theta / 2) rounds to 1 (y within an ulp or so of 1)
    near_one = (torch.where(odd, -1.0, 1.0) * torch.ones_like(y)) if kind.shifted \
        else torch.where(y > 0, n + n + 1, torch.where(odd, -1.0, 1.0))
    return torch.where(torch.cos(theta / 2) != 1,
                       torch.sin((n + 0.5) * theta) / torch.sin(theta / 2), near_one)


def _hyperbolic(name, y, n):
    """The polynomial of degree n at |y| > 1, in closed form (t = acosh |y|): cosh(nt),
    sinh((n+1)t) / sinh(t), cosh((n+1/2)t) / cosh(t/2), sinh((n+1/2)t) / sinh(t/2), each
    as exp(nt + log(ratio)) with a ratio of terms in exp(-t) (cosh and sinh alone, and
    exp(nt) alone, overflow before the polynomial does). The recurrence's sign for y < -1 is (-1)^n, with V and W
    trading places there."""
    t = torch.acosh(y.abs().clamp(min=1.0))
    negative = y < 0
    sign = torch.where(negative & (torch.remainder(n, 2) == 1), -1.0, 1.0)

    def grown(ratio):  # exp(nt) * ratio, finite wherever the product is
        return sign * torch.exp(n * t + torch.log(ratio))

    if name == "t":
        return grown(0.5 * (1 + torch.exp(-2 * n * t)))
    if name == "u":
        return grown(torch.expm1(-2 * (n + 1) * t) / torch.expm1(-2 * t))
    cosh_form = (1 + torch.exp(-(2 * n + 1) * t)) / (1 + torch.exp(-t))
    sinh_form = torch.expm1(-(2 * n + 1) * t) / torch.expm1(-t)
    if name == "v":
        return grown(torch.where(negative, sinh_form, cosh_form))
    return grown(torch.where(negative, cosh_form, sinh_form))


def _at_ends(name, y, n, value):
    """Eager's fixed values at y = 1 and y = -1."""
    odd = torch.remainder(n, 2) == 1
    alternating = {"t": torch.ones_like(n), "u": n + 1, "v": n + n + 1, "w": torch.ones_like(n)}
    at_one = {"t": torch.ones_like(n), "u": n + 1, "v": torch.ones_like(n), "w": n + n + 1}
    at_minus_one = torch.where(odd, -alternating[name], alternating[name])
    return torch.where(y == 1, at_one[name], torch.where(y == -1, at_minus_one, value))


def chebyshev(op):
    """The decomposition of one of the eight ops (see the module's docstring)."""
    name, kind = _KINDS[op]

    def decompose(x, n):
        if not isinstance(x, torch.Tensor) or not isinstance(n, torch.Tensor) \
                or not x.dtype.is_floating_point or x.dtype != n.dtype:
            return NotImplemented  # Python-number degrees, integer inputs: eager's kernel
        x, n = torch.broadcast_tensors(x, n)
        # eager's static_cast<int64_t>(n); NaN and inf become INT64_MIN on the CPU: n < 0
        n = torch.where(torch.isfinite(n), torch.trunc(n), torch.full_like(n, -1.0))
        y = x + x - 1.0 if kind.shifted else x
        inside = y.abs() < 1
        high = n > kind.threshold
        value = torch.where(high & inside, _trigonometric(name, y, n, kind),
                            torch.where(high, _hyperbolic(name, y, n), _recurrence(y, n, kind)))
        # The recurrence overflowed at degree n - 2 or before: inf - inf, NaN in eager.
        overflowed = high & ~inside & torch.isinf(_hyperbolic(name, y, n - 2))
        value = torch.where(overflowed, torch.full_like(value, float("nan")), value)
        return torch.where(n < 0, torch.zeros_like(value), _at_ends(name, y, n, value))
    return decompose


def table() -> dict:
    """op overload -> decomposition, for the eight Chebyshev ops."""
    return {op: chebyshev(op) for op in _KINDS}
