"""The decompositions applied at capture: torch-mlir's table, mlirfuse's own, and those
learned from compile failures.

mlirfuse's own replace ops whose torch-mlir lowering is wrong or slow, or missing where
a form in other ops is exact. Each returns NotImplemented where it does not apply (the
op then stays as it is). The learned ones are torch's own decompositions
(torch._decomp) of ops that failed to compile, for the signatures that failed.
"""

from __future__ import annotations

import functools
import math

import torch

from . import op_signature

aten = torch.ops.aten


def table() -> dict:
    """torch-mlir's decomposition table, plus ops whose torch-mlir lowering is off.

    aten.gelu(approximate="tanh"): torch-mlir's linalg lowering uses 0.79772 for
    sqrt(2/pi) (0.79788...), errors of 5e-5; torch's own decomposition is exact.
    aten.sort.stable: torch-mlir lowers only aten.sort, whose tm_tensor.sort is stable.
    Integer floor division: torch-mlir computes it in f64 (wrong past 2**53); here it
    is truncating division corrected where the remainder and the divisor differ in sign.
    aten._thnn_fused_lstm_cell: nn.LSTMCell's kernel on CUDA; the cell's pointwise math.
    aten.var_mean (layer_norm's): torch-mlir computes it in f64, a slow f64 row per tile on
    GPUs (and no vectors on the CPU); here it is two passes in f32 (f16/bf16 widened).
    aten.maximum, aten.minimum: torch-mlir selects with an ordered compare, so a NaN first
    operand gave the second (eager: NaN); here NaN is taken from either side.
    aten.hardtanh (relu6): torch-mlir makes it that maximum and minimum; here a clamp
    (whose NaN handling mlirfuse-clamp-nan mends).
    aten.fmax, aten.fmin (broadcast operands failed to lower), aten.isfinite (no lowering),
    aten.empty_strided with contiguous strides (new_zeros, new_ones, new_full: its strides
    argument was left unlowered): the same in ops that lower.
    Reductions of a 0-d tensor (amax, argmax, all...: a dimension 0 torch-mlir cannot
    reduce): the same reduction of the tensor as one element.
    Sums, means, products, scans and norms of float16 and bfloat16 tensors accumulate in
    float32 (F.normalize of f16 values near 1e-6: the squares underflowed, the norm was 0;
    bench/fuzz.py seeds 8458, 9102)
    and round once, as eager does (torch-mlir accumulated in the half type: a bf16 cumsum of
    a cumsum was 31% off eager's).
    No lowering in torch-mlir, exact in other ops: aten.roll (a concatenation of two
    slices per rolled dimension), aten.angle of real tensors, aten.isin (a broadcast
    compare, for up to 2**20 pairs), aten.median of all elements (the middle of the
    sorted elements; NaN if there is one, as eager), aten.bitwise_or.Scalar and
    aten.bitwise_xor.Scalar (the Tensor op on a 0-d tensor of the scalar, which promotes
    as the scalar does).
    Comparisons of tensors of two dtypes (eq, ne, lt, le, gt, ge): torch-mlir compared a
    float16 and a bfloat16 tensor in bfloat16 (`v == v.to(torch.bfloat16)` was all True;
    the fuzzer's seed 3114); here both are converted to the promoted type first, as eager.
    aten.hypot (no lowering): max * sqrt(1 + (min/max)^2), which neither overflows nor
    underflows where the squares would; inf if either is inf, as eager.
    aten.cat with inputs of no elements: torch-mlir dropped them and failed on a
    concatenation of none ('tensor.concat' op requires at least one input; bufferization
    failed on what was left), seen in 1 of 40 fuzzer programs; here they are dropped
    before (the result keeps the promoted dtype of all), and a concatenation of nothing
    is an empty tensor.
    Ordering comparisons of a bool tensor with a number (lt, le, gt, ge): torch-mlir
    compared i1 values signed, so True was -1 (`(x == x) > 0` was all False, seed 3978;
    `b > -1` too): the bools are compared as integers, as eager.
    A float16 or bfloat16 tensor with a Python number (add, sub, mul, div, rsub): computed
    in f32 with the number as it is, as eager (torch-mlir rounded the number to the half
    type: `x * 1e6` was inf in f16, found by the fuzzer's F.normalize programs).
    Reshapes (view, _unsafe_view, reshape) of a tensor with no elements: a new empty
    tensor of the view's sizes (convert-torch-to-linalg divides by the size of 0; they ran
    eager as a hazard, the fuzzer's most common eager op).
    Where one of these does not apply (NotImplemented), the decomposition it replaced
    (torch-mlir's, or a learned one) still does: the f16 accumulations on aten.cumprod hid
    the learned decomposition of an f32 cumprod with a dtype (masked.cumprod ran eager).
    """
    from torch._decomp import get_decompositions
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    out = dict(get_decomposition_table())
    out.update(get_decompositions([torch.ops.aten.gelu]))
    base = dict(out)
    out[torch.ops.aten.var_mean.correction] = _var_mean
    out[torch.ops.aten.sort.stable] = _sort_stable
    out[torch.ops.aten.div.Tensor_mode] = _int_floor_div
    out[torch.ops.aten._thnn_fused_lstm_cell.default] = _fused_lstm_cell
    out[torch.ops.aten.maximum.default] = _nan_maximum
    out[torch.ops.aten.minimum.default] = _nan_minimum
    out[torch.ops.aten.hardtanh.default] = _hardtanh
    for op in (aten.fmax.default, aten.fmin.default):
        out[op] = _ignoring_nan(op)
    out[aten.isfinite.default] = _isfinite
    out[aten.empty_strided.default] = _empty_contiguous
    for op in _RANK0_REDUCTIONS:
        out[op] = _rank0_reduction(op)
    out[aten.new_empty_strided.default] = _new_empty_contiguous
    out[aten.roll.default] = _roll
    out[aten.angle.default] = _angle
    out[aten.isin.Tensor_Tensor] = _isin
    out[aten.median.default] = _median
    for op in _COMPARISONS:
        out[op] = _compare_promoted(op)
    for op in (aten.view.default, aten._unsafe_view.default, aten.reshape.default):
        out[op] = _empty_reshape(op)
    for op in _SCALAR_ARITHMETIC:
        out[op] = _half_with_number_in_f32(op)
    out[aten.hypot.default] = _hypot
    out[aten.cat.default] = _cat_of_nonempty
    for op in _SCALAR_ORDERINGS:
        out[op] = _bool_as_integer(op)
    for scalar_op, tensor_op in _SCALAR_BITWISE.items():
        out[scalar_op] = _with_scalar_tensor(tensor_op)
    for op in _HALF_ACCUMULATIONS:
        out[op] = _accumulate_in_f32(op)
    for op, replaced in base.items():
        if out[op] is not replaced:
            out[op] = _first_of(out[op], replaced)
    for op, signatures in LEARNED.items():
        learned = _for_signatures(op, signatures, torch_decomposition(op))
        out[op] = _first_of(out[op], learned) if op in out else learned
    return out


def _first_of(*decompositions):
    """The first of `decompositions` that applies (does not return NotImplemented)."""
    def decompose(*args, **kwargs):
        for decomposition in decompositions:
            result = decomposition(*args, **kwargs)
            if result is not NotImplemented:
                return result
        return NotImplemented
    return decompose


# Decompositions learned from compile failures in this process: an op whose call failed
# to compile (partition.PartitionedGraph.failed) and that torch can decompose is
# decomposed at the next capture, for the signatures that failed (op_signature.py);
# other calls of it keep the op (softmax's amax compiles, a 0-d amax does not).
LEARNED: dict = {}


def torch_decomposition(op):
    """torch's own decomposition of an op overload (torch._decomp), or None."""
    from torch._decomp import decomposition_table

    return decomposition_table.get(op)


def _for_signatures(op, signatures: set, decomposition):
    def decompose(*args, **kwargs):
        if op_signature.signature(op, args, kwargs) not in signatures:
            return NotImplemented
        return decomposition(*args, **kwargs)
    return decompose


def learn(nodes: list[torch.fx.Node]) -> list[tuple]:
    """Learns to decompose the calls of `nodes` that failed to compile, where torch has
    a decomposition of their op. Returns what was new: (op, signature) pairs."""
    new = []
    for node in nodes:
        op = node.target
        if not isinstance(op, torch._ops.OpOverload) or torch_decomposition(op) is None:
            continue
        sig = op_signature.of_node(node)
        if sig not in LEARNED.get(op, ()) and (op, sig) not in _UNHELPFUL:
            LEARNED.setdefault(op, set()).add(sig)
            new.append((op, sig))
    return new


def forget(learned: list[tuple]) -> None:
    """Undoes learn, for good: the decomposition did not trace, or its
    parts do not compile either."""
    for op, sig in learned:
        LEARNED.get(op, set()).discard(sig)
        _UNHELPFUL.add((op, sig))


_UNHELPFUL: set = set()


def _var_mean(x, dim=None, *, correction=None, keepdim=False):
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


def _nan_maximum(a, b):
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
        return NotImplemented
    return torch.where((a > b) | torch.isnan(a), a, b)


def _nan_minimum(a, b):
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
        return NotImplemented
    return torch.where((a < b) | torch.isnan(a), a, b)


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    return torch.ops.aten.clamp.default(x, min_val, max_val)


def _fused_lstm_cell(input_gates, hidden_gates, cx, input_bias=None, hidden_bias=None):
    gates = input_gates + hidden_gates
    if input_bias is not None:
        gates = gates + input_bias + hidden_bias
    i, f, g, o = gates.chunk(4, 1)
    cy = torch.sigmoid(f) * cx + torch.sigmoid(i) * torch.tanh(g)
    hy = torch.sigmoid(o) * torch.tanh(cy)
    return hy, cy, gates  # the workspace (backward's) is never read: inference graphs


def _int_floor_div(a, b, *, rounding_mode=None):
    if rounding_mode != "floor" or a.dtype.is_floating_point or a.dtype == torch.bool \
            or (isinstance(b, torch.Tensor) and b.dtype.is_floating_point):
        return NotImplemented  # floats and true/trunc division: torch-mlir's own lowering
    quotient = torch.ops.aten.div.Tensor_mode(a, b, rounding_mode="trunc")
    remainder = a - quotient * b
    inexact = (remainder != 0) & ((remainder < 0) != (b < 0))
    return quotient - inexact.to(quotient.dtype)


def _sort_stable(self, *, stable=None, dim=-1, descending=False):
    return torch.ops.aten.sort.default(self, dim, descending)


def _ignoring_nan(op):
    """fmax/fmin: the other operand where one is NaN, NaN where both are."""
    greater = op is aten.fmax.default

    def decompose(a, b):
        if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
            return NotImplemented
        better = (a > b) if greater else (a < b)
        return torch.where(better | torch.isnan(b), a, b)
    return decompose


def _isfinite(x):
    if not x.dtype.is_floating_point:
        return NotImplemented
    return (x == x) & (x.abs() != float("inf"))


def _empty_contiguous(size, stride, *, dtype=None, layout=None, device=None,
                      pin_memory=None):
    expected, step = [], 1
    for n in reversed(list(size)):
        expected.insert(0, step)
        step *= max(int(n), 1)
    if [int(s) for s, n in zip(stride, size) if int(n) > 1] != \
            [e for e, n in zip(expected, size) if int(n) > 1]:
        return NotImplemented
    return torch.empty(size, dtype=dtype, layout=layout, device=device)


_RANK0_REDUCTIONS = (aten.amax.default, aten.amin.default, aten.argmax.default,
                     aten.argmin.default, aten.all.dim, aten.any.dim)


def _rank0_reduction(op):
    def decompose(x, dim=None, keepdim=False):
        if x.dim() != 0:
            return NotImplemented
        if op in (aten.amax.default, aten.amin.default):
            return op(x.reshape([1]), [0], False)
        return op(x.reshape([1]), 0, False)
    return decompose


def _new_empty_contiguous(x, size, stride, *, dtype=None, layout=None, device=None,
                          pin_memory=None):
    return _empty_contiguous(size, stride, dtype=dtype or x.dtype, layout=layout,
                             device=device or x.device)


def _roll(x, shifts, dims=()):
    shifts, dims = list(shifts), list(dims)
    if not dims:  # the flattened tensor, rolled
        if len(shifts) != 1:
            return NotImplemented
        return _roll(x.flatten(), shifts, [0]).reshape(x.shape)
    if len(shifts) != len(dims) or not x.dim():
        return NotImplemented
    for shift, dim in zip(shifts, dims):
        size = x.shape[dim]
        s = shift % size if size else 0
        if s:
            x = torch.cat([x.narrow(dim, size - s, s), x.narrow(dim, 0, size - s)], dim)
    return x.clone()


def _angle(x):
    if not x.dtype.is_floating_point:
        return NotImplemented
    pi = torch.full_like(x, 3.141592653589793)
    return torch.where(torch.isnan(x), x, torch.where(x < 0, pi, torch.zeros_like(x)))


def _isin(elements, test_elements, *, assume_unique=False, invert=False):
    if elements.numel() * test_elements.numel() > 1 << 20:
        return NotImplemented
    hits = (elements.unsqueeze(-1) == test_elements.flatten()).any(-1)
    return ~hits if invert else hits


def _median(x):
    if not x.dtype.is_floating_point or x.numel() == 0:
        return NotImplemented
    flat = x.flatten()
    middle = torch.sort(flat)[0][(flat.numel() - 1) // 2]
    return torch.where(torch.isnan(flat).any(), torch.full_like(middle, float("nan")), middle)


_HALF = (torch.float16, torch.bfloat16)
_HALF_ACCUMULATIONS = (aten.sum.default, aten.sum.dim_IntList, aten.mean.default,
                       aten.mean.dim, aten.prod.default, aten.prod.dim_int,
                       aten.cumsum.default, aten.cumprod.default,
                       aten.linalg_vector_norm.default)


_COMPARISONS = (aten.eq.Tensor, aten.ne.Tensor, aten.lt.Tensor, aten.le.Tensor,
                aten.gt.Tensor, aten.ge.Tensor)


def _compare_promoted(op):
    def decompose(a, b):
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            return NotImplemented
        if a.dtype == b.dtype:
            return NotImplemented
        common = torch.result_type(a, b)
        return op(a.to(common), b.to(common))
    return decompose


def _empty_reshape(op):
    def decompose(x, size):
        if x.numel():
            return NotImplemented
        # No elements: nothing to alias or move; a new empty tensor of the view's sizes.
        sizes = [0 if s == -1 else s for s in size]  # (eager rejects an ambiguous -1)
        return torch.empty(sizes, dtype=x.dtype, device=x.device)
    return decompose


_SCALAR_ARITHMETIC = (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
                      aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar,
                      aten.rsub.Scalar)


def _half_with_number_in_f32(op):
    def decompose(x, other, **kwargs):
        if not isinstance(x, torch.Tensor) or x.dtype not in _HALF \
                or isinstance(other, (torch.Tensor, bool)) \
                or not isinstance(other, (int, float)):
            return NotImplemented
        # Eager computes in f32 with the number as it is; torch-mlir rounded the number to
        # the tensor's type first (x * 1e6 was inf in f16).
        return op(x.to(torch.float32), other, **kwargs).to(x.dtype)
    return decompose


def _hypot(a, b):
    a, b = torch.broadcast_tensors(a.abs(), b.abs())
    big, small = torch.maximum(a, b), torch.minimum(a, b)
    ratio = small / big
    h = big * torch.sqrt(1 + ratio * ratio)
    h = torch.where(big == 0, torch.zeros_like(h), h)
    return torch.where(torch.isinf(a) | torch.isinf(b), torch.full_like(h, math.inf), h)


def _cat_of_nonempty(tensors, dim=0):
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


_SCALAR_ORDERINGS = (aten.lt.Scalar, aten.le.Scalar, aten.gt.Scalar, aten.ge.Scalar)


def _bool_as_integer(op):
    def decompose(a, b):
        if not isinstance(a, torch.Tensor) or a.dtype != torch.bool or isinstance(b, torch.Tensor):
            return NotImplemented
        common = torch.result_type(a, b)
        return op(a.to(torch.uint8 if common == torch.bool else common), b)
    return decompose


_SCALAR_BITWISE = {aten.bitwise_or.Scalar: aten.bitwise_or.Tensor,
                   aten.bitwise_xor.Scalar: aten.bitwise_xor.Tensor}


def _with_scalar_tensor(tensor_op):
    def decompose(x, other):
        # A 0-d tensor does not promote an integer tensor past its dtype, as a Python
        # number does not: int32 ^ 7 stays int32, bool ^ 7 is int64.
        dtype = torch.bool if isinstance(other, bool) else torch.int64
        return tensor_op(x, torch.full((), other, dtype=dtype, device=x.device))
    return decompose


def _accumulate_in_f32(op):
    def decompose(x, *args, dtype=None, **kwargs):
        if x.dtype not in _HALF or (dtype is not None and dtype not in _HALF):
            return NotImplemented
        out = op(x.to(torch.float32), *args, **kwargs)
        return out.to(dtype or x.dtype)
    return decompose
