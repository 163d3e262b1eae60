"""Decompositions of nn ops and allocations that torch-mlir cannot lower
(decompositions.table merges table() after torch-mlir's and torch's own; distances, norms
and determinants are in decompositions_linalg.py). Each returns NotImplemented where it
does not apply (the op then runs eager, as before).

aten._embedding_bag_forward_only with per_sample_weights (torch-mlir ignores them): the
    weighted sums of each bag's rows, by index_add.
aten.empty_permuted, aten.new_empty_strided with strides that are not contiguous: an
    empty tensor of the sizes (the values are uninitialized either way; compiled
    results are contiguous).
aten.nonzero_static (no lowering): each nonzero's rank (a cumsum) is its row, placed
    by a scatter_add; rows past the count are fill_value.
aten.resize (Tensor.resize_as_): to its own sizes a copy, to fewer elements the first
    ones reshaped; growing (uninitialized memory) stays eager.
torch_nn._linear_cross_entropy_batch_chunked (and _no_reduction: F.linear_cross_entropy
    with options; custom ops torch-mlir does not know): linear then cross_entropy, the
    op's reference, when no gradient is precomputed.
Accuracy against eager (max relative error where |eager| >= 1% of the largest):
linear_cross_entropy 1e-6 / 2e-16. Pooling and sampling: decompositions_sampling.py.
"""

from __future__ import annotations

import math

import torch

aten = torch.ops.aten


def real_float(*tensors) -> bool:
    """Whether every tensor has a real floating-point dtype."""
    return all(t.dtype.is_floating_point for t in tensors)


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None,
                   pin_memory=None):
    """aten.empty_permuted: an empty tensor of `size` (its layout is not observable in
    compiled results, which are contiguous)."""
    return torch.empty(list(size), dtype=dtype, layout=layout, device=device)


def new_empty_strided(x, size, stride, *, dtype=None, layout=None, device=None,
                      pin_memory=None):
    """aten.new_empty_strided of any strides: an empty tensor of `size`, contiguous."""
    return torch.empty(list(size), dtype=dtype or x.dtype, layout=layout,
                       device=device or x.device)


def nonzero_static(x, *, size, fill_value=-1):
    """aten.nonzero_static: the coordinates of the first `size` nonzero elements in
    row-major order, the rows past their count `fill_value`. Each nonzero element's
    rank (a cumsum) is its row; a scatter_add of the flat positions onto zeros places
    them (each row receives at most one)."""
    if x.is_complex():
        return NotImplemented
    ndim, n = x.dim(), x.numel()
    if size == 0 or ndim == 0 or n == 0:
        return torch.full([size, ndim], fill_value, dtype=torch.int64, device=x.device)
    nonzero = (x != 0).flatten()
    rank = torch.cumsum(nonzero.to(torch.int64), 0) - 1
    slot = torch.where(nonzero & (rank < size), rank, size)  # the rest go to a spare row
    position = torch.arange(n, dtype=torch.int64, device=x.device)
    flat = torch.zeros(size + 1, dtype=torch.int64, device=x.device)
    flat = flat.scatter_add(0, slot, position)[:size]
    filled = torch.arange(size, device=x.device) < nonzero.to(torch.int64).sum()
    coords, stride = [], 1
    for extent in reversed(x.shape):
        coords.insert(0, torch.remainder(torch.div(flat, stride, rounding_mode="floor"), extent))
        stride *= extent
    coords = torch.stack(coords, 1)
    return torch.where(filled.unsqueeze(1), coords, torch.full_like(coords, fill_value))


def resize(x, size, *, memory_format=None):
    """aten.resize (Tensor.resize_as_, resize_): to its own sizes, a copy; to no more
    elements of a contiguous tensor, the first elements of its storage reshaped.
    Growing exposes uninitialized memory: NotImplemented."""
    size = [int(s) for s in size]
    if size == list(x.shape):
        return x.clone()
    if math.prod(size) > x.numel() or not x.is_contiguous():
        return NotImplemented
    return x.flatten()[:math.prod(size)].reshape(size).clone()


def _linear_then_cross_entropy(input, linear_weight, target, linear_bias, weight,
                               reduction, ignore_index, label_smoothing=0.0):
    """F.linear_cross_entropy's reference: cross_entropy of the linear map's logits."""
    logits = torch.nn.functional.linear(input, linear_weight, linear_bias)
    return torch.nn.functional.cross_entropy(
        logits, target, weight=weight, reduction=reduction, ignore_index=ignore_index,
        label_smoothing=label_smoothing)


def _plain_linear_cross_entropy(input, linear_weight, linear_bias, weight) -> bool:
    """Whether the reference computes what the chunked op does: real floats of one
    dtype (the chunked op also mixes an input dtype with another weight dtype)."""
    tensors = [t for t in (input, linear_weight, linear_bias, weight) if t is not None]
    return real_float(*tensors) and len({t.dtype for t in tensors}) == 1


def linear_cross_entropy_chunked(input, linear_weight, target, linear_bias, weight,
                                 reduction, ignore_index, label_smoothing,
                                 batch_chunk_size, acc_policy, acc_dtype,
                                 allow_retain_graph, compute_input_grad,
                                 compute_linear_weight_grad, compute_linear_bias_grad):
    """torch_nn._linear_cross_entropy_batch_chunked (F.linear_cross_entropy with
    options, mean/sum; a custom op torch-mlir does not know): the loss by the
    reference (linear, then cross_entropy) in one piece, with the empty gradients
    the op returns when none is asked for (asked for, the op precomputes them:
    NotImplemented)."""
    if compute_input_grad or compute_linear_weight_grad or compute_linear_bias_grad:
        return NotImplemented
    if not _plain_linear_cross_entropy(input, linear_weight, linear_bias, weight):
        return NotImplemented
    loss = _linear_then_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                      reduction, ignore_index, label_smoothing)
    empty = dict(dtype=input.dtype, device=input.device)
    return (loss, torch.empty([0, 0], **empty), torch.empty([0, 0], **empty),
            torch.empty([0], **empty))


def linear_cross_entropy_chunked_none(input, linear_weight, target, linear_bias, weight,
                                      ignore_index, batch_chunk_size, acc_policy,
                                      acc_dtype):
    """torch_nn._linear_cross_entropy_batch_chunked_no_reduction (reduction='none'):
    the per-sample losses by the reference."""
    if not _plain_linear_cross_entropy(input, linear_weight, linear_bias, weight):
        return NotImplemented
    return _linear_then_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                      "none", ignore_index)


def _linear_cross_entropy_ops() -> dict:
    """The chunked ops of F.linear_cross_entropy (registered on their module's import;
    torch before 2.12 has neither)."""
    try:
        from torch.nn.modules import linear_cross_entropy as module
    except ImportError:
        return {}

    return {module._linear_cross_entropy_batch_chunked._opoverload:
            linear_cross_entropy_chunked,
            module._linear_cross_entropy_batch_chunked_no_reduction._opoverload:
            linear_cross_entropy_chunked_none}


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    out = {
        aten.empty_permuted.default: empty_permuted,
        aten.new_empty_strided.default: new_empty_strided,
        aten.nonzero_static.default: nonzero_static,
        aten.resize.default: resize,
        aten._embedding_bag_forward_only.default: embedding_bag_weighted_sum,
    }
    out.update(_linear_cross_entropy_ops())
    return out


def embedding_bag_weighted_sum(weight, indices, offsets, scale_grad_by_freq=False, mode=0,
                               sparse=False, per_sample_weights=None,
                               include_last_offset=False, padding_idx=-1):
    """aten._embedding_bag_forward_only with per_sample_weights (mode 'sum'; torch-mlir's
    lowering ignores the weights: a hazard, it ran eager): each bag the sum of its rows
    times their weights, the bag of each index from a compare with the offsets (up to
    2**20 pairs). The other results are eager's for this mode on the CPU: no offset2bag,
    and zeros (nothing reads them after the forward)."""
    if per_sample_weights is None or mode != 0 or indices.dim() != 1 or offsets.dim() != 1 \
            or scale_grad_by_freq:
        return NotImplemented
    bags = offsets.shape[0] - (1 if include_last_offset else 0)
    if bags < 1 or indices.shape[0] * bags > 1 << 20:
        return NotImplemented
    position = torch.arange(indices.shape[0], device=indices.device)
    bag = (position.unsqueeze(1) >= offsets[1:bags].unsqueeze(0)).sum(1)
    rows = weight[indices] * per_sample_weights.unsqueeze(1).to(weight.dtype)
    if padding_idx >= 0:
        rows = torch.where((indices == padding_idx).unsqueeze(1), torch.zeros_like(rows), rows)
    out = torch.zeros(bags, weight.shape[1], dtype=weight.dtype, device=weight.device)
    out = out.index_add(0, bag, rows)
    zeros = torch.zeros(offsets.shape[0], dtype=torch.int64, device=offsets.device)
    return out, torch.zeros(0, dtype=torch.int64, device=indices.device), zeros, zeros.clone()
