"""The decompositions applied at capture: torch-mlir's table, mlirfuse's own, and those
learned from compile failures.

mlirfuse's own replace ops whose torch-mlir lowering is wrong or slow, or missing where
a form in other ops is exact. Each returns NotImplemented where it does not apply (the
op then stays as it is). The learned ones are torch's own decompositions
(torch._decomp) of ops that failed to compile, for the signatures that failed.
"""

from __future__ import annotations

import torch

from . import decompositions_attention as attention
from . import decompositions_airy, decompositions_bessel, decompositions_bessel_modified
from . import decompositions_bits, decompositions_chebyshev, decompositions_erf
from . import decompositions_gamma, decompositions_linalg, decompositions_misc
from . import decompositions_nn, decompositions_sampling, decompositions_scatter
from . import decompositions_orderings as orderings
from . import op_signature
from . import own_decompositions as own

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
    aten.eq.Tensor of a float tensor with itself (`x == x`): torch-mlir folds it to true,
    NaN included (isfinite, and the NaN test of user code, said NaN was finite); here it
    is ~isnan(x).
    Orderings of floats with NaN (sort, topk, kthvalue, argmax, argmin, max.dim, min.dim): tm_tensor's
    sort and the arg-reductions compare with ordered predicates, so NaNs sorted among the
    numbers and argmax of a row with a NaN was 0; here NaN ranks above +inf in two stable
    sorts (NaN flags, then values) and the arg-reductions take the first NaN's index.
    number - x (aten.rsub.Scalar) of f32 and f64 tensors: torch-mlir rounded the number to
    f32 (an f64 1.1447298858494002 - x was 3.3e-8 off); here -x + number.
    aten.hypot (no lowering): max * sqrt(1 + (min/max)^2), which neither overflows nor
    underflows where the squares would; inf if either is inf, as eager.
    aten.cat with inputs of no elements: torch-mlir dropped them and failed on a
    concatenation of none ('tensor.concat' op requires at least one input; bufferization
    failed on what was left), seen in 1 of 40 fuzzer programs; here they are dropped
    before (the result keeps the promoted dtype of all), and a concatenation of nothing
    is an empty tensor.
    aten.index_put with one boolean mask (`x[mask] = v`): a nonzero of data-dependent size
    in torch-mlir (it ran eager); where v is the same for every selected position, a
    where(mask, v, x).
    Ordering comparisons of a bool tensor with a number (lt, le, gt, ge): torch-mlir
    compared i1 values signed, so True was -1 (`(x == x) > 0` was all False, seed 3978;
    `b > -1` too): the bools are compared as integers, as eager.
    A float16 or bfloat16 tensor with a Python number (add, sub, mul, div, rsub): computed
    in f32 with the number as it is, as eager (torch-mlir rounded the number to the half
    type: `x * 1e6` was inf in f16, found by the fuzzer's F.normalize programs).
    Reshapes (view, _unsafe_view, reshape) of a tensor with no elements: a new empty
    tensor of the view's sizes (convert-torch-to-linalg divides by the size of 0; they ran
    eager as a hazard, the fuzzer's most common eager op).
    aten._scaled_dot_product_flash_attention_for_cpu: torch's decomposition (torch-mlir's
    table holds it) returns the attention weights as the log-sum-exp output, which only a
    backward reads (GPT-2's gradients below each attention were wrong), and it and
    aten.scaled_dot_product_attention's made every symbolic sequence length the
    example's (C++ that reads sizes as numbers); here the kernel's computation, on
    symbolic sizes (torch's still for a dropout).
    aten.bernoulli stays whole (an extern call of torch's kernel): decomposed, it drew
    through aten.rand, whose numbers on CUDA are not CUDA's bernoulli kernel's.
    Where one of these does not apply (NotImplemented), the decomposition it replaced
    (torch-mlir's, or a learned one) still does: the f16 accumulations on aten.cumprod hid
    the learned decomposition of an f32 cumprod with a dtype (masked.cumprod ran eager).
    """
    from torch._decomp import get_decompositions
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    out = dict(get_decomposition_table())
    out.update(get_decompositions([torch.ops.aten.gelu]))
    base = dict(out)
    out[torch.ops.aten.var_mean.correction] = own.var_mean
    out[torch.ops.aten.sort.stable] = own.sort_stable
    out[torch.ops.aten.div.Tensor_mode] = own.int_floor_div
    out[torch.ops.aten._thnn_fused_lstm_cell.default] = own.fused_lstm_cell
    out[torch.ops.aten.maximum.default] = own.nan_maximum
    out[torch.ops.aten.minimum.default] = own.nan_minimum
    out[torch.ops.aten.hardtanh.default] = own.hardtanh
    for op in (aten.fmax.default, aten.fmin.default):
        out[op] = own.ignoring_nan(op)
    out[aten.isfinite.default] = own.isfinite
    out[aten.empty_strided.default] = own.empty_contiguous
    for op in own.RANK0_REDUCTIONS:
        out[op] = own.rank0_reduction(op)
    out[aten.new_empty_strided.default] = own.new_empty_contiguous
    out[aten.roll.default] = own.roll
    out[aten.angle.default] = own.angle
    out[aten.isin.Tensor_Tensor] = own.isin
    out[aten.median.default] = own.median
    for op in own.COMPARISONS:
        out[op] = own.compare_promoted(op)
    out[aten.eq.Tensor] = _first_of(own.equal_to_itself, out[aten.eq.Tensor])
    for op in (aten.view.default, aten._unsafe_view.default, aten.reshape.default):
        out[op] = own.empty_reshape(op)
    for op in own.SCALAR_ARITHMETIC:
        out[op] = own.half_with_number_in_f32(op)
    out[aten.hypot.default] = own.hypot
    out[aten.index_put.default] = own.masked_index_put
    out[aten.rsub.Scalar] = _first_of(own.rsub_as_add, out[aten.rsub.Scalar])
    out[aten.sort.default] = orderings.nan_ordered_sort
    out[aten.topk.default] = orderings.nan_ordered_topk
    out[aten.kthvalue.default] = orderings.nan_ordered_kthvalue
    for op in (aten.argmax.default, aten.argmin.default):
        out[op] = _first_of(orderings.nan_first_index(op), out[op]) if op in out \
            else orderings.nan_first_index(op)
    for op in (aten.max.dim, aten.min.dim):
        out[op] = orderings.nan_first_extreme(op)
    out[aten.cat.default] = own.cat_of_nonempty
    for op in own.SCALAR_ORDERINGS:
        out[op] = own.bool_as_integer(op)
    for scalar_op, tensor_op in own.SCALAR_BITWISE.items():
        out[scalar_op] = own.with_scalar_tensor(tensor_op)
    for op in own.HALF_ACCUMULATIONS:
        out[op] = own.accumulate_in_f32(op)
    for module in (decompositions_airy, decompositions_bessel, decompositions_bessel_modified,
                   decompositions_bits, decompositions_chebyshev, decompositions_erf,
                   decompositions_gamma, decompositions_linalg, decompositions_misc,
                   decompositions_nn, decompositions_sampling, decompositions_scatter):
        out.update(module.table())
    for op, replaced in base.items():
        if out[op] is not replaced:
            out[op] = _first_of(out[op], replaced)
    # torch.bernoulli(p) stays whole, an extern call of torch's kernel: decomposed, it drew
    # through aten.rand, whose numbers on CUDA are not those of CUDA's bernoulli kernel
    # (a seeded function's results differed from eager's on the H200; on the CPU they agree).
    out.pop(aten.bernoulli.default, None)
    # Attention as the kernels compute it, on symbolic sizes; torch's decompositions only
    # for a dropout (their log-sum-exp is wrong, but a dropout's graph is eager's).
    for op, own_op in ((aten._scaled_dot_product_flash_attention_for_cpu.default,
                        attention.flash_attention_for_cpu),
                       (aten.scaled_dot_product_attention.default,
                        attention.scaled_dot_product_attention)):
        out[op] = _first_of(own_op, out[op]) if op in out else own_op
    # Softmax over the last dimension on the CPU multiplies by the sum's reciprocal, as
    # eager's kernel does (attention.softmax_lastdim_cpu); elsewhere the op stays whole.
    out[aten._softmax.default] = attention.softmax_lastdim_cpu
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


def exhausted(node: torch.fx.Node) -> bool:
    """Whether torch's decomposition has nothing left to try for `node`'s call: its op
    has none, or it was learned for this signature (and did not apply: the node is
    still there), or it did not help. Only then is the op an extern call's
    (compiler/extern.py): compiled code of its own beats a library call."""
    op = node.target
    if not isinstance(op, torch._ops.OpOverload) or torch_decomposition(op) is None:
        return True
    sig = op_signature.of_node(node)
    return sig in LEARNED.get(op, ()) or (op, sig) in _UNHELPFUL


def forget(learned: list[tuple]) -> None:
    """Undoes learn, for good: the decomposition did not trace, or its
    parts do not compile either."""
    for op, sig in learned:
        LEARNED.get(op, set()).discard(sig)
        _UNHELPFUL.add((op, sig))


_UNHELPFUL: set = set()
