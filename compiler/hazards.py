"""Graph nodes known to crash the toolchain or to compile to wrong results: they run
eager instead of reaching it.

A crash inside an upstream pass (a segmentation fault, a division by zero) kills the
user's process; no diagnostic comes back to partition around. A wrong lowering gives
no diagnostic at all. Each hazard here was found by bench/opinfo.py or the fuzzer,
reproduced with mlirfuse-opt, and is recognized at the FX level before import
(screen.screen asks `check`):

  * a reshape (view, flatten, im2col) of a tensor with no elements: convert-torch-to-
    linalg divides by a size of 0 (SIGFPE: nn.functional.unfold and bilinear on a batch
    of 0; other ops on such tensors compile). Eager does no work on it. The decompositions
    make view, _unsafe_view and reshape of such tensors new empty tensors first; this
    catches the rest.
  * index_put (index_copy, index_add: the same after decomposition) of no elements (no
    index or no values): convert-torch-to-linalg divides by a size of 0 (SIGFPE; found
    by hand after the fuzzer's zero-row findings). Eager does no work.
  * aten.index.Tensor with no index tensors, which torch-mlir's importer also makes of
    a 0-d as_strided (resize_ of a 0-d tensor): torch-decompose-complex-ops dereferences
    the missing first index (SIGSEGV).
  * max pooling's indices on CUDA (max_pool2d/3d_with_indices, adaptive_max_pool): the
    values are right, the indices not (found on the H200; max pooling without indices
    compiles).
  * embedding_bag with per_sample_weights: torch-mlir ignores the weights (the inference
    op's weighted sums are decomposed first, decompositions_nn; this catches the rest).
  * aten.logcumsumexp: torch-mlir lowers it as log(cumsum(exp(x))), which overflows to
    inf from x = 89 on (eager's scan adds logarithms: exact). A max-shifted form would
    underflow instead where values along the dimension differ by more than 88. Real
    tensors are decomposed first (decompositions_misc: a scan of log-add-exp); this
    catches the rest.
  * determinants (linalg_det, slogdet, logdet) that reach torch-mlir: its lowering
    eliminates without pivoting and aborts the process on a zero pivot ("unimplemented:
    determinants requiring permutations", e.g. [[0,1],[1,0]]). Matrices up to 16x16 are
    decomposed first (decompositions_linalg: pivoting elimination); larger ones run eager.
  * sorts (sort, topk, kthvalue) along more than SORT_LIMIT elements: tm_tensor's sort
    and top-k are quadratic loops, not a crash but a trap: a topk over a 32000-word
    vocabulary took 32 s compiled (eager: 1 ms). Short rows compile.
"""

from __future__ import annotations

import operator

import torch

aten = torch.ops.aten


# Reshapes: convert-torch-to-linalg computes their sizes by dividing by the input's.
_RESHAPES = {aten.view.default, aten._unsafe_view.default, aten.reshape.default,
             aten.view_copy.default, aten.flatten.using_ints, aten.unflatten.int,
             aten.im2col.default}

_INDEX_PUTS = {aten.index_put.default, aten.index_put_.default,
               aten._unsafe_index_put.default, aten.index_copy.default,
               aten.index_add.default}

_INDICES_WRONG_ON_GPU = {aten.max_pool2d_with_indices.default,
                         aten.max_pool3d_with_indices.default,
                         aten.adaptive_max_pool2d.default, aten.adaptive_max_pool3d.default}

_MISCOMPILED = {
    aten.logcumsumexp.default: "torch-mlir lowers it as log(cumsum(exp(x))): inf from x = 89 on",
}


_DETERMINANTS = {aten._linalg_det.default, aten.linalg_det.default, aten.det.default,
                 aten._linalg_slogdet.default, aten.linalg_slogdet.default,
                 aten.slogdet.default, aten.logdet.default}

# Sorting ops and the argument holding their dimension (position, name).
_SORTS = {aten.sort.default: (1, "dim"), aten.sort.stable: (None, "dim"),
          aten.topk.default: (2, "dim"), aten.kthvalue.default: (2, "dim")}
SORT_LIMIT = 64  # elements along the sorted dimension: n^2 / 2 compare-swaps, ~2 us

_EMBEDDING_BAGS = {aten._embedding_bag_forward_only.default, aten._embedding_bag.default,
                   aten.embedding_bag.padding_idx, aten.embedding_bag.default}


def _argument(node: torch.fx.Node, index: int, name: str):
    return node.args[index] if len(node.args) > index else node.kwargs.get(name)


def _empty(values: list[torch.Tensor]) -> bool:
    return any(0 in t.shape for t in values if all(type(s) is int for s in t.shape))


def check(node: torch.fx.Node, ins: list[torch.Tensor], outs: list[torch.Tensor],
          device: torch.device | None = None) -> str | None:
    """Why `node` would crash the toolchain, or None (static shapes: `ins` and `outs` are
    the example tensors of its tensor inputs and results; `device` the target's)."""
    if node.target in _RESHAPES and _empty(ins):
        return "a reshape of a tensor with no elements (convert-torch-to-linalg divides " \
               "by a size of 0)"
    if node.target in _INDEX_PUTS and _empty(ins):
        return "an index_put of no elements (convert-torch-to-linalg divides by a size of 0)"
    if node.target is aten.index.Tensor and not [i for i in node.args[1] if i is not None]:
        return "indexing with no index tensors (crashes torch-decompose-complex-ops)"
    if node.target in _DETERMINANTS:
        return "a determinant in torch-mlir (no pivoting: a zero pivot aborts the process)"
    if node.target in _SORTS and ins and ins[0].dim():
        position, name = _SORTS[node.target]
        dim = node.kwargs.get(name, -1) if position is None else _argument(node, position, name)
        extent = ins[0].shape[-1 if dim is None else dim]
        if type(extent) is int and extent > SORT_LIMIT:
            return f"a sort along {extent} elements (tm_tensor's sort is quadratic: " \
                   f"compiled only up to {SORT_LIMIT})"
    if node.target in _MISCOMPILED:
        return _MISCOMPILED[node.target]
    if node.target in _EMBEDDING_BAGS and _argument(node, 6, "per_sample_weights") is not None:
        return "torch-mlir's embedding_bag ignores per_sample_weights"
    if node.target in _INDICES_WRONG_ON_GPU and device is not None and device.type == "cuda" \
            and any(u.target is operator.getitem and u.args[1] == 1 for u in node.users):
        return "its indices come out wrong from the GPU code (the values are right)"
    if node.target is aten.as_strided.default and not outs[0].dim():
        # torch-mlir's importer rewrites as_strided into aten.index.Tensor: a 0-d result
        # has no index tensors (the case above).
        return "a 0-d as_strided (its rewrite crashes torch-decompose-complex-ops)"
    return None


def _example_tensors(node: torch.fx.Node) -> tuple[list, list]:
    def tensors(value):
        if isinstance(value, torch.Tensor):
            return [value]
        if isinstance(value, (list, tuple)):
            return [t for v in value for t in tensors(v)]
        return []
    ins = [t for n in node.all_input_nodes for t in tensors(n.meta.get("val"))]
    return ins, tensors(node.meta.get("val"))


def strict(node: torch.fx.Node, device: torch.device | None = None) -> str | None:
    """Why `node` cannot compile where nothing may run eager (on_unsupported="error"):
    a hazard (`check`, on its example tensors), or a random op: compiled, its numbers
    came from a seed of the code's own, another sequence than eager's, which
    torch.manual_seed did not reach."""
    if node.op != "call_function":
        return None
    if torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ()):
        return "draws random numbers: only torch's kernel draws them from torch's " \
               "generator, and on_unsupported='error' allows neither an eager op nor an " \
               "extern call"
    return check(node, *_example_tensors(node), device)
