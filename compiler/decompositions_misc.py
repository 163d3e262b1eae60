"""Decompositions of bit-level pointwise ops, order statistics and scatters that
torch-mlir cannot lower, into ops that it lowers exactly. decompositions.table() merges
`table()` after torch-mlir's and torch's own tables (these entries win).

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

aten.logcumsumexp (torch-mlir's log(cumsum(exp(x))) overflows): a scan of log-add-exp.

Order statistics (aten.cummax, aten.cummin, aten.median.dim, aten.nanmedian and .dim
(masked.median's), aten.mode, aten.searchsorted, aten.histc): no torch-mlir lowering.
Scans in log2(n) steps, stable sorts (NaN last, as eager), a broadcast compare (mode), eager's binary search unrolled
(searchsorted) and eager's bin formula with a scatter_add (histc). Values and indices
equal eager's, but for the indices eager's unstable sorts leave to chance: ties in mode
slices of more than 16 elements (78% of them differed in slices of 17), nanmedian's
all-NaN slices of more than 3. (Median's ties agreed in all 1,200 slices of 4 to 40
tried.)

Scatters (aten.scatter.reduce and .value_reduce, aten.index_reduce, aten.put,
aten.diagonal_scatter, aten.as_strided_scatter, aten.segment_reduce): no torch-mlir
lowering; each is a form of aten.scatter_reduce.two, aten.index_put or a `where`, which
it lowers. Equal to eager's (sums, means and products in the same order).
"""

from __future__ import annotations

import math

import torch

aten = torch.ops.aten

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _is_float(x) -> bool:
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
    if not _is_float(x):
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
    if not (_is_float(x) and isinstance(y, torch.Tensor) and y.dtype == x.dtype):
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


def _scan(x, dim: int, combine, identity=None):
    """The inclusive scan of `combine` (maximum, minimum, log-add-exp) along dim: log2(n)
    steps, each combining every element with the one 2**k before it (Hillis-Steele). The
    first 2**k elements have none: they combine with `identity` where one is given, else
    with themselves (which an idempotent combine, max or min, allows)."""
    n = x.shape[dim]
    shift = 1
    while shift < n:
        head = x.narrow(dim, 0, shift)
        if identity is not None:
            head = torch.full_like(head, identity)
        x = combine(x, torch.cat([head, x.narrow(dim, 0, n - shift)], dim))
        shift *= 2
    return x


def _log_add_exp(a, b):
    """log(exp(a) + exp(b)), without overflow; equal infinities give themselves."""
    high = torch.maximum(a, b)  # NaN from either side
    gap = torch.where(a == b, torch.zeros_like(a), -(a - b).abs())
    return torch.where(torch.isinf(high) & (high < 0), high, high + torch.log1p(torch.exp(gap)))


def logcumsumexp(x, dim):
    """aten.logcumsumexp: torch-mlir lowers it as log(cumsum(exp(x))), inf from x = 89 on
    (a hazard: it ran eager); here a scan of log-add-exp, as eager's, in log2(n) steps
    (the sums associate differently: a few ulp)."""
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        return NotImplemented
    if x.dim() == 0:
        return x.clone()
    wide = x.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else x
    return _scan(wide, dim, _log_add_exp, identity=-math.inf).to(x.dtype)


def _cumulative_extreme(greater: bool):
    def decompose(x, dim):
        """aten.cummax / aten.cummin: the running extreme (NaN from the first NaN on) and
        the index of its last occurrence so far (the last NaN once there is one), as eager.
        The index is the running maximum of j over the positions j where x[j] equals the
        running extreme at j: the extreme only moves on, so the last such j is in the
        current extreme's run."""
        if not isinstance(x, torch.Tensor) or x.is_complex():
            return NotImplemented
        if x.dim() == 0:
            return x.clone(), torch.zeros_like(x, dtype=torch.int64)
        dim = dim % x.dim()
        if x.shape[dim] == 0:
            return x.clone(), torch.zeros_like(x, dtype=torch.int64)
        work = x.to(torch.uint8) if x.dtype == torch.bool else x
        combine = torch.maximum if greater else torch.minimum
        values = _scan(work, dim, combine)
        shape = [1] * x.dim()
        shape[dim] = x.shape[dim]
        positions = torch.arange(x.shape[dim], device=x.device).reshape(shape).expand(x.shape)
        hit = work == values
        if x.dtype.is_floating_point:
            hit = hit | torch.isnan(work)
        indices = _scan(torch.where(hit, positions, torch.zeros_like(positions)), dim,
                        torch.maximum)
        return values.to(x.dtype), indices
    return decompose


def _pick(values, indices, dim: int, position, keepdim: bool):
    """values and indices at `position` (a tensor, one per slice) along dim."""
    position = position.unsqueeze(dim)
    value, index = torch.gather(values, dim, position), torch.gather(indices, dim, position)
    if not keepdim:
        value, index = value.squeeze(dim), index.squeeze(dim)
    return value, index


def median_dim(x, dim, keepdim=False):
    """aten.median.dim: the lower median of each slice (the ((n-1)//2)-th of the sorted)
    and its index; NaN and the index of the first NaN where the slice has one, as eager.
    Among equal values eager's index is its selection algorithm's; here it is the stable
    sort's, which agreed with eager's in all the slices with ties tried (4 to 40)."""
    if not isinstance(x, torch.Tensor) or x.is_complex() or x.dtype == torch.bool:
        return NotImplemented
    if x.dim() == 0:
        return x.clone(), torch.zeros_like(x, dtype=torch.int64)
    dim = dim % x.dim()
    n = x.shape[dim]
    if n == 0:
        return NotImplemented
    values, indices = torch.sort(x, dim=dim, stable=True)
    count = torch.full_like(values.select(dim, 0), (n - 1) // 2, dtype=torch.int64)
    if x.dtype.is_floating_point:
        numbers = (~torch.isnan(x)).sum(dim)  # the first NaN's sorted position
        count = torch.where(numbers < n, numbers, count)
    return _pick(values, indices, dim, count, keepdim)


def nanmedian_dim(x, dim, keepdim=False):
    """aten.nanmedian.dim: the lower median of each slice's numbers, ignoring NaNs (NaN and
    the first NaN's index where all are NaN), as eager."""
    if not isinstance(x, torch.Tensor) or x.is_complex() or x.dtype == torch.bool:
        return NotImplemented
    if not x.dtype.is_floating_point:
        return median_dim(x, dim, keepdim)
    if x.dim() == 0:
        return x.clone(), torch.zeros_like(x, dtype=torch.int64)
    dim = dim % x.dim()
    if x.shape[dim] == 0:
        return NotImplemented
    values, indices = torch.sort(x, dim=dim, stable=True)
    numbers = (~torch.isnan(x)).sum(dim)
    position = torch.clamp(torch.div(numbers - 1, 2, rounding_mode="floor"), min=0)
    return _pick(values, indices, dim, position, keepdim)


def nanmedian(x):
    """aten.nanmedian: of all elements."""
    if not isinstance(x, torch.Tensor) or x.numel() == 0:
        return NotImplemented
    result = nanmedian_dim(x.reshape(-1), 0)
    return NotImplemented if result is NotImplemented else result[0]


def mode(x, dim=-1, keepdim=False):
    """aten.mode: the most frequent value of each slice, the smallest of equally frequent
    ones, and the index of its last occurrence, as eager's sort-and-count (whose sort is
    stable up to 16 elements; past that eager's index among equal values is its sort's).
    Counts from a broadcast compare, for up to 2**20 pairs. NaNs count as different from
    each other (and from everything), not as eager's sort happens to order them."""
    if not isinstance(x, torch.Tensor) or x.is_complex():
        return NotImplemented
    if x.dim() == 0:
        return x.clone(), torch.zeros_like(x, dtype=torch.int64)
    dim = dim % x.dim()
    n = x.shape[dim]
    if n == 0 or x.numel() * n > 1 << 20:
        return NotImplemented
    work = x.to(torch.uint8) if x.dtype == torch.bool else x
    last = work.movedim(dim, -1)
    counts = (last.unsqueeze(-1) == last.unsqueeze(-2)).sum(-1)
    frequent = counts == counts.amax(-1, keepdim=True)
    if work.dtype.is_floating_point:
        biggest = math.inf
    else:
        biggest = torch.iinfo(work.dtype).max
    smallest = torch.where(frequent, last, torch.full_like(last, biggest)).amin(-1, keepdim=True)
    positions = torch.arange(n, device=x.device).expand(last.shape)
    index = torch.where(frequent & (last == smallest), positions,
                        torch.full_like(positions, -1)).amax(-1, keepdim=True)
    value = torch.gather(last, -1, index).to(x.dtype)
    value, index = value.movedim(-1, dim), index.movedim(-1, dim)
    if not keepdim:
        value, index = value.squeeze(dim), index.squeeze(dim)
    return value, index


# Scatters. torch-mlir lowers aten.scatter_reduce.two (sum, prod, mean, amax, amin,
# include_self or not) and aten.index_put; the ops below are forms of those.

_SCATTER_REDUCE = {"add": "sum", "multiply": "prod"}


def scatter_reduce_legacy(x, dim, index, src, reduce):
    """aten.scatter.reduce / aten.scatter.value_reduce (reduce='add' or 'multiply'): a
    scatter_reduce (sum, prod) that includes self."""
    if reduce not in _SCATTER_REDUCE or x.is_complex():
        return NotImplemented
    if not isinstance(src, torch.Tensor):
        src = torch.full(index.shape, src, dtype=x.dtype, device=x.device)
    if x.dim() == 0:
        return aten.scatter_reduce.two(x.reshape(1), 0, index.reshape(1), src.reshape(1),
                                       _SCATTER_REDUCE[reduce]).reshape(())
    return aten.scatter_reduce.two(x, dim, index, src.to(x.dtype), _SCATTER_REDUCE[reduce])


def index_reduce(x, dim, index, source, reduce, *, include_self=True):
    """aten.index_reduce (prod, mean, amax, amin): scatter_reduce with the index broadcast
    over source's other dimensions (a mean of integers stays eager's: its rounding was
    not checked)."""
    if x.is_complex() or reduce not in ("prod", "mean", "amax", "amin") \
            or (reduce == "mean" and not x.dtype.is_floating_point):
        return NotImplemented
    if x.dim() == 0:
        out = index_reduce(x.reshape(1), 0, index.reshape(-1), source.reshape(1), reduce,
                           include_self=include_self)
        return out if out is NotImplemented else out.reshape(())
    dim = dim % x.dim()
    shape = [1] * source.dim()
    shape[dim] = -1
    expanded = index.reshape(shape).expand(source.shape)
    return aten.scatter_reduce.two(x, dim, expanded, source, reduce, include_self=include_self)


def put(x, index, source, accumulate=False):
    """aten.put: index_put on the flattened tensor (negative indices count from the end)."""
    if x.is_complex():
        return NotImplemented
    flat = x.reshape(-1)
    index = index.reshape(-1)
    index = torch.where(index < 0, index + flat.numel(), index)
    out = aten.index_put.default(flat, [index], source.reshape(-1).to(x.dtype), accumulate)
    return out.reshape(x.shape)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """aten.searchsorted.Tensor / .Scalar: eager's binary search itself, unrolled (one
    step per bit of the length, each a gather and a compare), so that its results agree
    with eager's also where the sequence holds NaNs or is not sorted."""
    if not isinstance(sorted_sequence, torch.Tensor) or sorted_sequence.is_complex():
        return NotImplemented
    right = right or side == "right"
    sequence = sorted_sequence
    if sorter is not None:
        sequence = torch.gather(sequence, -1, sorter)
    scalar = not isinstance(values, torch.Tensor)
    if scalar:
        values = torch.full((), values, device=sequence.device)
    dtype = torch.result_type(sequence, values)
    sequence, values = sequence.to(dtype), values.to(dtype)
    n = sequence.shape[-1]
    shape = values.shape
    if sequence.dim() == 1:
        sequence, values = sequence.reshape(1, n), values.reshape(1, -1)
    else:
        sequence, values = sequence.reshape(-1, n), values.reshape(sequence.shape[:-1].numel(), -1)
    start = torch.zeros_like(values, dtype=torch.int64)
    end = torch.full_like(values, n, dtype=torch.int64)
    for _ in range(n.bit_length()):
        active = start < end
        mid = start + torch.div(end - start, 2, rounding_mode="floor")
        at_mid = torch.gather(sequence, 1, torch.clamp(mid, max=max(n - 1, 0)))
        # As eager: right goes on past values not greater; left past those not >= (NaN).
        onward = ~(at_mid > values) if right else ~(at_mid >= values)
        start = torch.where(active & onward, mid + 1, start)
        end = torch.where(active & ~onward, mid, end)
    out = start.reshape(shape)
    return out.to(torch.int32) if out_int32 else out


def histc(x, bins=100, min=0, max=0):
    """aten.histc: eager's linear bin selection, in x's dtype, as its kernel: bin
    trunc((v - min) * bins / (max - min)), the last bin closed; values outside (and NaN)
    not counted. min == max takes the range of x (widened by 1 each way if x is
    constant), as eager. The counts are a scatter_add of ones."""
    if not _is_float(x):
        return NotImplemented
    flat = x.reshape(-1)
    if min == max and flat.numel():
        lo, hi = flat.amin(), flat.amax()
        same = lo == hi
        lo, hi = torch.where(same, lo - 1, lo), torch.where(same, hi + 1, hi)
    else:
        lo = torch.full((), float(min), dtype=x.dtype, device=x.device)
        hi = torch.full((), float(max), dtype=x.dtype, device=x.device)
    inside = (flat >= lo) & (flat <= hi)
    position = ((flat - lo) * bins / (hi - lo))
    position = torch.where(inside, position, torch.zeros_like(position)).to(torch.int64)
    position = torch.clamp(position, 0, bins - 1)
    counts = torch.zeros(bins, dtype=x.dtype, device=x.device)
    return counts.scatter_add(0, position, inside.to(x.dtype))


def diagonal_scatter(x, src, offset=0, dim1=0, dim2=1):
    """aten.diagonal_scatter (torch-mlir has no lowering): a `where` over the plane of dim1
    and dim2, on the diagonal taking src's element of that row (a gather)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return NotImplemented
    dim1, dim2 = dim1 % x.dim(), dim2 % x.dim()
    plane = x.movedim((dim1, dim2), (-2, -1))
    rows, cols = plane.shape[-2], plane.shape[-1]
    length = src.shape[-1]
    if length == 0:
        return x.clone()
    i = torch.arange(rows, device=x.device).unsqueeze(-1)
    j = torch.arange(cols, device=x.device)
    on_diagonal = (j - i) == offset
    k = torch.clamp(torch.arange(rows, device=x.device) - max(-offset, 0), 0, length - 1)
    along_rows = torch.index_select(src.to(x.dtype), -1, k).unsqueeze(-1)
    out = torch.where(on_diagonal, along_rows, plane)
    return out.movedim((-2, -1), (dim1, dim2)).contiguous()


def as_strided_scatter(x, src, size, stride, storage_offset=None):
    """aten.as_strided_scatter (torch-mlir has no lowering): an index_put of src at the
    view's positions in the flattened (contiguous) tensor."""
    if not isinstance(x, torch.Tensor):
        return NotImplemented
    position = torch.full((), storage_offset or 0, dtype=torch.int64, device=x.device)
    for d, (n, step) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        position = position + (torch.arange(n, device=x.device) * step).reshape(shape)
    position = position.expand(list(size)).reshape(-1)
    flat = x.reshape(-1)
    values = src.to(x.dtype).expand(list(size)).reshape(-1)
    return aten.index_put.default(flat, [position], values).reshape(x.shape)


_SEGMENT = {"sum": "sum", "mean": "sum", "prod": "prod", "max": "amax", "min": "amin"}


def segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0,
                   unsafe=False, initial=None):
    """aten.segment_reduce with 1-D lengths or offsets, along dim 0: a scatter_reduce of
    data's rows onto their segments (a segment's id: how many segment ends are at or
    before the row), which includes `initial` where given (or the reduction's identity).
    As eager: an empty segment is `initial`, else 0, 1, -inf, inf, or NaN for mean; mean
    divides the sum (with initial) by the count."""
    if reduce not in _SEGMENT or indices is not None or data.is_complex() \
            or not data.dtype.is_floating_point or axis % max(data.dim(), 1) != 0:
        return NotImplemented
    if lengths is not None and lengths.dim() == 1:
        ends = torch.cumsum(lengths, 0)
        begin = torch.zeros((), dtype=ends.dtype, device=ends.device)
        counts = lengths
    elif offsets is not None and offsets.dim() == 1:
        ends, begin = offsets[1:], offsets[0]
        counts = offsets[1:] - offsets[:-1]
    else:
        return NotImplemented
    segments = ends.shape[0]
    rows = torch.arange(data.shape[0], device=data.device)
    segment = (rows.unsqueeze(-1) >= ends.unsqueeze(0)).sum(-1)
    # Rows before the first segment or after the last: onto an extra segment, dropped.
    segment = torch.where(rows < begin, torch.full_like(segment, segments), segment)
    shape = [-1] + [1] * (data.dim() - 1)
    index = segment.reshape(shape).expand(data.shape)
    identity = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "max": -math.inf, "min": math.inf}
    start = identity[reduce] if initial is None else float(initial)
    out = torch.full([segments + 1] + list(data.shape[1:]), start, dtype=data.dtype,
                     device=data.device)
    out = aten.scatter_reduce.two(out, 0, index, data, _SEGMENT[reduce])[:segments]
    if reduce == "mean":
        count = counts.reshape(shape).to(data.dtype)
        empty = torch.full_like(out, math.nan if initial is None else float(initial))
        out = torch.where(count == 0, empty, out / count)
    return out


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.signbit.default: signbit,
        aten.copysign.Tensor: copysign,
        aten.copysign.Scalar: copysign,
        aten.frexp.Tensor: frexp,
        aten.nextafter.default: nextafter,
        aten.cummax.default: _cumulative_extreme(True),
        aten.cummin.default: _cumulative_extreme(False),
        aten.median.dim: median_dim,
        aten.nanmedian.dim: nanmedian_dim,
        aten.nanmedian.default: nanmedian,
        aten.scatter.reduce: scatter_reduce_legacy,
        aten.scatter.value_reduce: scatter_reduce_legacy,
        aten.index_reduce.default: index_reduce,
        aten.put.default: put,
        aten.mode.default: mode,
        aten.searchsorted.Tensor: searchsorted,
        aten.searchsorted.Scalar: searchsorted,
        aten.histc.default: histc,
        aten.diagonal_scatter.default: diagonal_scatter,
        aten.as_strided_scatter.default: as_strided_scatter,
        aten.segment_reduce.default: segment_reduce,
        aten.logcumsumexp.default: logcumsumexp,
    }
