"""Orderings of floats with NaN, as eager: NaN ranks above +inf (sort, topk, kthvalue),
and the arg-reductions take the first NaN's index (argmax, argmin, max.dim, min.dim).
decompositions.table() registers them; each returns NotImplemented for other dtypes and,
for the sorts, past hazards.SORT_LIMIT (there the op runs eager, NaN ordered by eager).
"""

from __future__ import annotations

import contextlib
import math
import threading

import torch

from .hazards import SORT_LIMIT

aten = torch.ops.aten

# tm_tensor's sort and top-k compare with ordered predicates, and the
# arg-reductions update the index only where the ordered compare holds: a compiled sort
# put NaNs among the numbers (eager: NaN above +inf), and argmax of a row with a NaN gave
# index 0 (eager: the first NaN's).
_ORDERING = threading.local()


@contextlib.contextmanager
def _inner_ops():
    """Inside, the decompositions below step aside (return NotImplemented), so that the op
    a decomposition calls again (a sort in the sort) is traced as itself."""
    _ORDERING.active = True
    try:
        yield
    finally:
        _ORDERING.active = False


def _stepping_aside() -> bool:
    return getattr(_ORDERING, "active", False)


def _long(x, dim) -> bool:
    """Rows too long to sort compiled (hazards.SORT_LIMIT): the op stays one eager op
    (which orders NaN itself), not two sorts."""
    return x.dim() > 0 and x.shape[dim] > SORT_LIMIT


def nan_ordered_sort(x, dim=-1, descending=False):
    """aten.sort of floats: NaN sorts above +inf, as eager. Two stable sorts: the NaN
    flags first, then the values with NaN read as +inf (ties keep the flags' order)."""
    if not x.dtype.is_floating_point or _stepping_aside() or _long(x, dim):
        return NotImplemented
    with _inner_ops():
        nan = torch.isnan(x)
        _, by_flag = aten.sort.default(nan.to(torch.float32), dim, descending)
        key = torch.gather(torch.where(nan, torch.full_like(x, math.inf), x), dim, by_flag)
        _, order = aten.sort.default(key, dim, descending)
    indices = torch.gather(by_flag, dim, order)
    return torch.gather(x, dim, indices), indices


def nan_ordered_topk(x, k, dim=-1, largest=True, sorted=True):
    """aten.topk of floats (short rows only: hazards.SORT_LIMIT): the first k of the sort
    above, NaN the largest."""
    if not x.dtype.is_floating_point or x.dim() == 0 or _long(x, dim):
        return NotImplemented
    values, indices = nan_ordered_sort(x, dim, largest)
    return values.narrow(dim, 0, k), indices.narrow(dim, 0, k)


def nan_ordered_kthvalue(x, k, dim=-1, keepdim=False):
    """aten.kthvalue of floats (short rows only): the k-th of the sort above, NaN the
    largest (tm_tensor's selection gave inf where eager gives NaN)."""
    if not x.dtype.is_floating_point or x.dim() == 0 or _long(x, dim):
        return NotImplemented
    values, indices = nan_ordered_sort(x, dim, False)
    value, index = values.narrow(dim, k - 1, 1), indices.narrow(dim, k - 1, 1)
    if not keepdim:
        value, index = value.squeeze(dim), index.squeeze(dim)
    return value, index


def nan_first_index(op):
    """argmax/argmin of floats: the first NaN's index where the slice has one, as eager."""
    def decompose(x, dim=None, keepdim=False):
        if not x.dtype.is_floating_point or x.dim() == 0 or _stepping_aside():
            return NotImplemented
        nan = torch.isnan(x)
        fill = -math.inf if op is aten.argmax.default else math.inf
        with _inner_ops():
            index = op(torch.where(nan, torch.full_like(x, fill), x), dim, keepdim)
        first_nan = aten.argmax.default(nan.to(torch.uint8), dim, keepdim)
        return torch.where(nan.any() if dim is None else nan.any(dim, keepdim), first_nan, index)
    return decompose


def nan_first_extreme(op):
    """max.dim/min.dim of floats: NaN and the first NaN's index where the slice has one."""
    arg = aten.argmax.default if op is aten.max.dim else aten.argmin.default

    def decompose(x, dim, keepdim=False):
        if not x.dtype.is_floating_point or x.dim() == 0:
            return NotImplemented
        index = nan_first_index(arg)(x, dim, True)
        value = torch.gather(x, dim, index)
        if not keepdim:
            value, index = value.squeeze(dim), index.squeeze(dim)
        return value, index
    return decompose
