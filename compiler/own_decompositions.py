"""mlirfuse's own decompositions: each replaces an op whose torch-mlir lowering is wrong,
slow or missing by ops that lower exactly, and returns NotImplemented where it does not
apply. decompositions.table() says which op each serves and why.
"""

from __future__ import annotations

import functools
import math

import torch


aten = torch.ops.aten


def var_mean(x, dim=None, *, correction=None, keepdim=False):
    if not x.dtype.is_floating_point or x.dtype == torch.float64:
        return NotImplemented
    dims = list(range(x.dim())) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    count = 1
    for d in dims:
        count *= x.shape[d]
    wide = x.to(torch.float32)
    mean = wide.mean(dims, keepdim=True)
    centered = wide - mean
    var = (centered * centered).sum(dims, keepdim=keepdim) / max(
        0, count - (1 if correction is None else correction))
    if not keepdim:
        mean = mean.squeeze(dims)
    return var.to(x.dtype), mean.to(x.dtype)


def nan_maximum(a, b):
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
        return NotImplemented
    return torch.where((a > b) | torch.isnan(a), a, b)


def nan_minimum(a, b):
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
        return NotImplemented
    return torch.where((a < b) | torch.isnan(a), a, b)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    return torch.ops.aten.clamp.default(x, min_val, max_val)


def fused_lstm_cell(input_gates, hidden_gates, cx, input_bias=None, hidden_bias=None):
    gates = input_gates + hidden_gates
    if input_bias is not None:
        gates = gates + input_bias + hidden_bias
    i, f, g, o = gates.chunk(4, 1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    cy = f * cx + i * g
    hy = o * torch.tanh(cy)
    # The workspace, which the backward (_thnn_fused_lstm_cell_backward_impl) reads: the
    # activated gates, as CUDA's kernel stores them (the raw gates made every gradient of a
    # trained LSTMCell wrong on CUDA).
    return hy, cy, torch.cat([i, f, g, o], 1)


def int_floor_div(a, b, *, rounding_mode=None):
    if rounding_mode != "floor" or a.dtype.is_floating_point or a.dtype == torch.bool \
            or (isinstance(b, torch.Tensor) and b.dtype.is_floating_point):
        return NotImplemented  # floats and true/trunc division: torch-mlir's own lowering
    quotient = torch.ops.aten.div.Tensor_mode(a, b, rounding_mode="trunc")
    remainder = a - quotient * b
    inexact = (remainder != 0) & ((remainder < 0) != (b < 0))
    return quotient - inexact.to(quotient.dtype)


def sort_stable(self, *, stable=None, dim=-1, descending=False):
    return torch.ops.aten.sort.default(self, dim, descending)


def ignoring_nan(op):
    """fmax/fmin: the other operand where one is NaN, NaN where both are."""
    greater = op is aten.fmax.default

    def decompose(a, b):
        if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
            return NotImplemented
        better = (a > b) if greater else (a < b)
        return torch.where(better | torch.isnan(b), a, b)
    return decompose


def isfinite(x):
    if not x.dtype.is_floating_point:
        return NotImplemented
    return ~torch.isnan(x) & (x.abs() != float("inf"))


def equal_to_itself(a, b):
    """x == x: torch-mlir folds aten.eq.Tensor of one value with itself to true, which a
    NaN is not (isfinite, written `x == x & ...`, was True for NaN)."""
    if a is not b or not isinstance(a, torch.Tensor) or not a.dtype.is_floating_point:
        return NotImplemented
    return ~torch.isnan(a)


def empty_contiguous(size, stride, *, dtype=None, layout=None, device=None,
                      pin_memory=None):
    """empty_strided with a contiguous stride: empty. Symbolic sizes are compared without
    reading them as numbers (int() of one made it the example's: a causal attention's
    softmax at sequence length 5 specialized)."""
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    expected, step = [], 1
    for n in reversed(list(size)):
        expected.insert(0, step)
        step = step * torch.sym_max(n, 1)
    for s, e, n in zip(stride, expected, size):
        if not (statically_known_true(n <= 1) or statically_known_true(s == e)):
            return NotImplemented
    return torch.empty(size, dtype=dtype, layout=layout, device=device)


RANK0_REDUCTIONS = (aten.amax.default, aten.amin.default, aten.argmax.default,
                     aten.argmin.default, aten.all.dim, aten.any.dim)


def rank0_reduction(op):
    def decompose(x, dim=None, keepdim=False):
        if x.dim() != 0:
            return NotImplemented
        if op in (aten.amax.default, aten.amin.default):
            return op(x.reshape([1]), [0], False)
        return op(x.reshape([1]), 0, False)
    return decompose


def new_empty_contiguous(x, size, stride, *, dtype=None, layout=None, device=None,
                          pin_memory=None):
    return empty_contiguous(size, stride, dtype=dtype or x.dtype, layout=layout,
                             device=device or x.device)


def roll(x, shifts, dims=()):
    shifts, dims = list(shifts), list(dims)
    if not dims:  # the flattened tensor, rolled
        if len(shifts) != 1:
            return NotImplemented
        return roll(x.flatten(), shifts, [0]).reshape(x.shape)
    if len(shifts) != len(dims) or not x.dim():
        return NotImplemented
    for shift, dim in zip(shifts, dims):
        size = x.shape[dim]
        s = shift % size if size else 0
        if s:
            x = torch.cat([x.narrow(dim, size - s, s), x.narrow(dim, 0, size - s)], dim)
    return x.clone()


def angle(x):
    if not x.dtype.is_floating_point:
        return NotImplemented
    pi = torch.full_like(x, 3.141592653589793)
    return torch.where(torch.isnan(x), x, torch.where(x < 0, pi, torch.zeros_like(x)))


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    if elements.numel() * test_elements.numel() > 1 << 20:
        return NotImplemented
    hits = (elements.unsqueeze(-1) == test_elements.flatten()).any(-1)
    return ~hits if invert else hits


def median(x):
    if not x.dtype.is_floating_point or x.numel() == 0:
        return NotImplemented
    flat = x.flatten()
    middle = torch.sort(flat)[0][(flat.numel() - 1) // 2]
    return torch.where(torch.isnan(flat).any(), torch.full_like(middle, float("nan")), middle)


_HALF = (torch.float16, torch.bfloat16)
HALF_ACCUMULATIONS = (aten.sum.default, aten.sum.dim_IntList, aten.mean.default,
                       aten.mean.dim, aten.prod.default, aten.prod.dim_int,
                       aten.cumsum.default, aten.cumprod.default,
                       aten.linalg_vector_norm.default)


COMPARISONS = (aten.eq.Tensor, aten.ne.Tensor, aten.lt.Tensor, aten.le.Tensor,
                aten.gt.Tensor, aten.ge.Tensor)


def compare_promoted(op):
    def decompose(a, b):
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            return NotImplemented
        if a.dtype == b.dtype:
            return NotImplemented
        common = torch.result_type(a, b)
        return op(a.to(common), b.to(common))
    return decompose


def empty_reshape(op):
    def decompose(x, size):
        if x.numel():
            return NotImplemented
        # No elements: nothing to alias or move; a new empty tensor of the view's sizes.
        sizes = [0 if s == -1 else s for s in size]  # (eager rejects an ambiguous -1)
        return torch.empty(sizes, dtype=x.dtype, device=x.device)
    return decompose


SCALAR_ARITHMETIC = (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
                      aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar,
                      aten.rsub.Scalar)


def half_with_number_in_f32(op):
    def decompose(x, other, **kwargs):
        if not isinstance(x, torch.Tensor) or x.dtype not in _HALF \
                or isinstance(other, (torch.Tensor, bool)) \
                or not isinstance(other, (int, float)):
            return NotImplemented
        # Eager computes in f32 with the number as it is; torch-mlir rounded the number to
        # the tensor's type first (x * 1e6 was inf in f16).
        return op(x.to(torch.float32), other, **kwargs).to(x.dtype)
    return decompose


def hypot(a, b):
    a, b = torch.broadcast_tensors(a.abs(), b.abs())
    big, small = torch.maximum(a, b), torch.minimum(a, b)
    ratio = small / big
    h = big * torch.sqrt(1 + ratio * ratio)
    h = torch.where(big == 0, torch.zeros_like(h), h)
    return torch.where(torch.isinf(a) | torch.isinf(b), torch.full_like(h, math.inf), h)


def cat_of_nonempty(tensors, dim=0):
    if all(t.numel() for t in tensors):
        return NotImplemented
    dtype = functools.reduce(torch.promote_types, [t.dtype for t in tensors])
    kept = [t for t in tensors if t.numel()]
    if kept:
        out = aten.cat.default(kept, dim)
        return out if out.dtype == dtype else out.to(dtype)
    # All empty: the result's sizes, skipping legacy 1-D empty tensors (any rank joins them).
    shaped = [t for t in tensors if t.dim() != 1 or t.shape[0] != 0] or tensors[:1]
    sizes = list(shaped[0].shape)
    d = dim % len(sizes)
    sizes[d] = sum(t.shape[d] for t in shaped)
    return torch.empty(sizes, dtype=dtype, device=tensors[0].device)


SCALAR_ORDERINGS = (aten.lt.Scalar, aten.le.Scalar, aten.gt.Scalar, aten.ge.Scalar)


def bool_as_integer(op):
    def decompose(a, b):
        if not isinstance(a, torch.Tensor) or a.dtype != torch.bool or isinstance(b, torch.Tensor):
            return NotImplemented
        common = torch.result_type(a, b)
        return op(a.to(torch.uint8 if common == torch.bool else common), b)
    return decompose


SCALAR_BITWISE = {aten.bitwise_or.Scalar: aten.bitwise_or.Tensor,
                   aten.bitwise_xor.Scalar: aten.bitwise_xor.Tensor}


def with_scalar_tensor(tensor_op):
    def decompose(x, other):
        # A 0-d tensor does not promote an integer tensor past its dtype, as a Python
        # number does not: int32 ^ 7 stays int32, bool ^ 7 is int64.
        dtype = torch.bool if isinstance(other, bool) else torch.int64
        return tensor_op(x, torch.full((), other, dtype=dtype, device=x.device))
    return decompose


def accumulate_in_f32(op):
    def decompose(x, *args, dtype=None, **kwargs):
        if x.dtype not in _HALF or (dtype is not None and dtype not in _HALF):
            return NotImplemented
        out = op(x.to(torch.float32), *args, **kwargs)
        return out.to(dtype or x.dtype)
    return decompose


def masked_index_put(x, indices, values, accumulate=False):
    """x[mask] = values, index_put with one boolean index over x's leading dimensions.

    Eager puts values at the positions where mask holds, a count known only at run time:
    torch-mlir lowers it through a nonzero of that size, which does not compile (a masked
    fill ran eager). Where values are the same for every selected position (no leading
    dimension, or one of size 1), that is a select: where(mask, values, x), or x + values
    where mask holds when accumulating (each position is selected at most once).
    """
    if len(indices) != 1 or indices[0] is None or values.dtype != x.dtype \
            or values.device != x.device:
        # eager raises for mismatched dtypes: so does the op; `y[m] = 0.5` on CUDA holds
        # the value as a CPU constant, which compiled CUDA code cannot read
        return NotImplemented
    mask = indices[0]
    if mask.dtype not in (torch.bool, torch.uint8) or mask.dim() == 0 \
            or tuple(mask.shape) != tuple(x.shape[:mask.dim()]):
        return NotImplemented
    rest = tuple(x.shape[mask.dim():])
    if values.dim() == len(rest) + 1:
        if values.shape[0] != 1:
            return NotImplemented  # one value per selected position: the count matters
        values = values.squeeze(0)
    if values.dim() > len(rest) or torch.broadcast_shapes(values.shape, rest) != rest:
        return NotImplemented
    selected = mask.to(torch.bool).reshape(tuple(mask.shape) + (1,) * len(rest))
    return torch.where(selected, x + values if accumulate else values, x)


def rsub_as_add(x, other, alpha=1):
    """number - x (aten.rsub.Scalar) of a float tensor: torch-mlir rounded the number to
    f32 for an f64 tensor (1.1447298858494002 - x was 3.3e-8 off); -alpha * x + number
    is the same value in every float type, and add takes the number exactly."""
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point \
            or x.dtype in _HALF or isinstance(other, (torch.Tensor, bool)):
        return NotImplemented
    return aten.add.Scalar(aten.mul.Scalar(x, -alpha), other)
