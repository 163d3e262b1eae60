"""Decompositions of order statistics (and logcumsumexp) that torch-mlir cannot
lower, into ops that it lowers exactly. decompositions.table() merges
`table()` after torch-mlir's and torch's own tables (these entries win).

aten.logcumsumexp (torch-mlir's log(cumsum(exp(x))) overflows): a scan of log-add-exp.

Order statistics (aten.cummax, aten.cummin, aten.median.dim, aten.nanmedian and .dim
(masked.median's), aten.mode, aten.searchsorted, aten.histc): no torch-mlir lowering.
Scans in log2(n) steps, stable sorts (NaN last, as eager), a broadcast compare (mode),
eager's binary search unrolled (searchsorted) and eager's bin formula with a
scatter_add (histc). Values and indices
equal eager's, but for the indices eager's unstable sorts leave to chance: ties in mode
slices of more than 16 elements (78% of them differed in slices of 17), nanmedian's
all-NaN slices of more than 3. (Median's ties agreed in all 1,200 slices of 4 to 40
tried.)

Bit-level pointwise ops: decompositions_bits.py; scatters: decompositions_scatter.py.
"""

from __future__ import annotations

import math

import torch

from .decompositions_bits import is_float

aten = torch.ops.aten


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
    if not is_float(x):
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


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.cummax.default: _cumulative_extreme(True),
        aten.cummin.default: _cumulative_extreme(False),
        aten.median.dim: median_dim,
        aten.nanmedian.dim: nanmedian_dim,
        aten.nanmedian.default: nanmedian,
        aten.mode.default: mode,
        aten.searchsorted.Tensor: searchsorted,
        aten.searchsorted.Scalar: searchsorted,
        aten.histc.default: histc,
        aten.logcumsumexp.default: logcumsumexp,
    }
