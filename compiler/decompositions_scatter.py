"""Decompositions of scatters that torch-mlir cannot lower, into ops that it lowers
exactly (decompositions.table() merges `table()` after torch-mlir's and torch's own).

Scatters (aten.scatter.reduce and .value_reduce, aten.index_reduce, aten.put,
aten.diagonal_scatter, aten.as_strided_scatter, aten.segment_reduce): no torch-mlir
lowering; each is a form of aten.scatter_reduce.two, aten.index_put or a `where`, which
it lowers. Equal to eager's (sums, means and products in the same order).
"""

from __future__ import annotations

import math

import torch

aten = torch.ops.aten


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
        aten.scatter.reduce: scatter_reduce_legacy,
        aten.scatter.value_reduce: scatter_reduce_legacy,
        aten.index_reduce.default: index_reduce,
        aten.put.default: put,
        aten.diagonal_scatter.default: diagonal_scatter,
        aten.as_strided_scatter.default: as_strided_scatter,
        aten.segment_reduce.default: segment_reduce,
    }
