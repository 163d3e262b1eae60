"""Decompositions of bit-level pointwise ops that torch-mlir cannot lower, into ops
that it lowers exactly (decompositions.table() merges `table()` after torch-mlir's and
torch's own).

Bit-level pointwise ops (aten.copysign, aten.signbit, aten.frexp, aten.nextafter):
torch's own decompositions reinterpret the bits (`x.view(torch.int32)`), and torch-mlir
has no lowering of aten.view.dtype (the 'torch.constant.int' of its dtype is what failed
to legalize). Here they are arithmetic, exact: the sign from comparisons (1/x for
-0.0), exponents from log2 corrected by an exact compare, powers of two built by
multiplying constant powers of two chosen by the exponent's bits. The one thing
arithmetic cannot see is the sign bit of a NaN: signbit(NaN) is False, copysign takes
NaN's sign as positive (eager reads the bit). Measured: bit-exact against eager in f32
and f64 (zeros of both signs, infinities, subnormals, the largest numbers, 5,000 random
values over 40 binades); frexp and nextafter of f16 too.
"""

from __future__ import annotations

import math

import torch

aten = torch.ops.aten

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def is_float(x) -> bool:
    return isinstance(x, torch.Tensor) and x.dtype in _FLOATS


def _finite(x):
    """isfinite, from isnan and isinf: a compiled `x == x` (aten.isfinite's own
    decomposition) is True for NaN."""
    return ~(torch.isnan(x) | torch.isinf(x))


def _signbit(x):
    """True where x < 0 or x is -0.0 (1/-0.0 is -inf); False for NaN."""
    return (x < 0) | ((x == 0) & (1 / x < 0))


def signbit(x):
    """aten.signbit: exact but for NaN's sign, which arithmetic cannot see; x < 0 for
    integers."""
    if not isinstance(x, torch.Tensor) or x.is_complex():
        return NotImplemented
    if not x.dtype.is_floating_point:
        return x < 0 if x.is_signed() else torch.zeros_like(x, dtype=torch.bool)
    return _signbit(x)


def copysign(a, b):
    """aten.copysign.Tensor / .Scalar: |a| with b's sign (as signbit sees it)."""
    if not isinstance(a, torch.Tensor) or a.is_complex():
        return NotImplemented
    if not isinstance(b, torch.Tensor):
        if not isinstance(b, (int, float)) or isinstance(b, bool):
            return NotImplemented
        negative = b < 0 or (b == 0 and math.copysign(1.0, b) < 0)
        out = a.abs() if a.dtype in _FLOATS else a.to(torch.get_default_dtype()).abs()
        return -out if negative else out
    if b.is_complex():
        return NotImplemented
    dtype = torch.result_type(a, b)
    if dtype not in _FLOATS:
        dtype = torch.get_default_dtype()
    a, b = torch.broadcast_tensors(a.to(dtype), b.to(dtype))
    magnitude = a.abs()
    return torch.where(_signbit(b), -magnitude, magnitude)


def _pow2(k, dtype, bits: int):
    """2**k exactly, for an integer tensor k with |k| < 2**bits, in `dtype`: the product of
    constant powers of two picked by k's bits (each partial product is a power of two
    between 1 and the result, so none rounds)."""
    magnitude = k.abs()
    up = torch.ones_like(k, dtype=dtype)
    down = torch.ones_like(k, dtype=dtype)
    for i in range(bits):
        bit = (magnitude & (1 << i)) != 0
        big = 2.0 ** (1 << i) if (1 << i) < 1024 else math.inf
        up = torch.where(bit, up * big, up)
        down = torch.where(bit, down * 2.0 ** -(1 << i), down)
    return torch.where(k >= 0, up, down)


def _exponent_bits(dtype) -> int:
    """Bits enough for the exponents of `dtype`'s numbers and their spacings (f64's reach
    2**-1074; the others' 2**-149)."""
    return 11 if dtype == torch.float64 else 8


def _exponent(a, bits: int):
    """(e, m) with a = m * 2**e, 0.5 <= |m| < 1, for finite nonzero f64 a (other values:
    anything), |e| < 2**bits. log2 may be one off near powers of two: m is corrected by an
    exact compare and a multiplication by 2."""
    magnitude = a.abs()
    safe = torch.where(_finite(a) & (a != 0), magnitude, torch.ones_like(a))
    e = torch.floor(torch.log2(safe)).to(torch.int64) + 1
    # Two halves: 2**-e alone overflows for the smallest subnormals (e = -1073).
    half = torch.div(e, 2, rounding_mode="trunc")
    m = a * _pow2(-half, a.dtype, bits) * _pow2(half - e, a.dtype, bits)
    big = m.abs() >= 1
    m, e = torch.where(big, m * 0.5, m), torch.where(big, e + 1, e)
    small = m.abs() < 0.5
    m, e = torch.where(small, m * 2.0, m), torch.where(small, e - 1, e)
    return e, m


def frexp(x):
    """aten.frexp.Tensor: (mantissa, int32 exponent), x = mantissa * 2**exponent with
    0.5 <= |mantissa| < 1; 0, inf and NaN are their own mantissa with exponent 0, as eager
    (computed in f64: exact for f16, bf16, f32 and f64)."""
    if not is_float(x):
        return NotImplemented
    wide = x.to(torch.float64)
    e, m = _exponent(wide, _exponent_bits(x.dtype))
    special = ~_finite(wide) | (wide == 0)
    mantissa = torch.where(special, wide, m).to(x.dtype)
    exponent = torch.where(special, torch.zeros_like(e), e).to(torch.int32)
    return mantissa, exponent


# (significand bits, least exponent of a normal number in frexp's convention, largest finite)
_FORMATS = {torch.float32: (24, -125, 3.4028234663852886e38),
            torch.float64: (53, -1021, 1.7976931348623157e308),
            torch.float16: (11, -13, 65504.0),
            torch.bfloat16: (8, -125, 3.3895313892515355e38)}


def nextafter(x, y):
    """aten.nextafter: the next number of x's dtype after x toward y. x plus or minus one
    unit in the last place of x (half of it going toward zero from a power of two; the
    subnormals' spacing below the normal range), added exactly in f64."""
    if not (is_float(x) and isinstance(y, torch.Tensor) and y.dtype == x.dtype):
        return NotImplemented
    digits, least, largest = _FORMATS[x.dtype]
    a, b = torch.broadcast_tensors(x.to(torch.float64), y.to(torch.float64))
    bits = _exponent_bits(x.dtype)
    e, m = _exponent(a, bits)
    e = torch.clamp(e, min=least)  # subnormals: the spacing of the smallest normals
    ulp = _pow2(e - digits, torch.float64, bits)
    toward_zero = (b > a) == (a < 0)
    # Toward zero from a power of two, the spacing below is half.
    ulp = torch.where(toward_zero & (m.abs() == 0.5) & (e > least), ulp * 0.5, ulp)
    step = torch.where(b > a, ulp, -ulp)
    out = a + step
    out = torch.where(out == 0, a * 0.0, out)  # from the smallest subnormal: zero of x's sign
    # Constants made in f64 (a Python number in `where` is a default-dtype tensor).
    tiny = torch.full_like(a, 2.0 ** (least - digits))
    out = torch.where(a == 0, torch.where(b > a, tiny, -tiny), out)
    big = torch.full_like(a, largest)
    out = torch.where(torch.isinf(a), torch.where(a > 0, big, -big), out)
    out = torch.where(a == b, b, out)
    out = torch.where(torch.isnan(a) | torch.isnan(b), a + b, out)
    return out.to(x.dtype)


# Order statistics. torch-mlir lowers sort (tm_tensor.sort, stable; NaN ordered by
# own_decompositions.nan_ordered_sort), gather, and the pointwise and reduction ops.


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.signbit.default: signbit,
        aten.copysign.Tensor: copysign,
        aten.copysign.Scalar: copysign,
        aten.frexp.Tensor: frexp,
        aten.nextafter.default: nextafter,
    }
