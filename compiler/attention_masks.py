"""Attention masks the graph builds from constants, simplified for torch's kernel: the
causal pattern becomes `is_causal`, a mask that masks nothing is dropped.

transformers builds a causal model's mask in the graph, from `arange`s and a comparison
(GPT-2: `le(kv_idx, q_idx)` expanded to [batch, 1, L, S]) and passes it to
scaled_dot_product_attention. Where that op runs torch's kernel (an extern call on CUDA:
library_kernels.py) the mask is a buffer the compiled code writes at each call, and torch
converts it (a boolean mask becomes an additive one: `where`, two `scalar_tensor`s) and
picks a kernel that reads it, at each call: about 125 us of host time per attention call
of GPT-2 124M on the H200 (bench/RESULTS.md, session 36), where `is_causal=True` reads no
mask at all.

BERT and ViT without a padding mask pass one of all True ([batch, 1, L, S]): the same
per-call cost for nothing.

`simplify(gm)` matches an attention node whose mask depends on no graph input (only
constants and sizes: the node and what it reads are evaluated once, here). A boolean mask
that is exactly the causal pattern, `j <= i` for query row i and key column j (what
torch's is_causal means, top-left aligned), at every batch and head, is rewritten

    %mask = expand(le(unsqueeze(arange(0, 32)), unsqueeze(arange(0, 32))), [2, -1, 32, 32])
    %out = scaled_dot_product_attention(%q, %k, %v, %mask, scale=0.125)
to
    %out = scaled_dot_product_attention(%q, %k, %v, None, 0.0, True, scale=0.125)

a boolean mask of all True, or a float one of all zeros, becomes None; the mask's nodes
that nothing else reads are erased. Static sizes only (a symbolic length keeps its mask);
a mask of any other value, or one computed from an input (a padding mask), is left as it
is.
"""

from __future__ import annotations

import torch

aten = torch.ops.aten

# An op with this tag draws from the random generator: not a function of its arguments.
_RANDOM = torch.Tag.nondeterministic_seeded


def simplify(gm: torch.fx.GraphModule) -> int:
    """Rewrites attention nodes whose mask is the causal pattern or masks nothing (module
    docstring); returns how many."""
    rewritten = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not aten.scaled_dot_product_attention.default:
            continue
        args = list(node.args) + [None] * (8 - len(node.args))
        q, k, _, mask, dropout, causal = args[:6]
        if not isinstance(mask, torch.fx.Node) or causal or \
                "attn_mask" in node.kwargs or "is_causal" in node.kwargs:
            continue
        rows, columns = _length(q), _length(k)
        value = _constant_value(mask)
        if rows is None or columns is None or value is None:
            continue
        if _causal(value, rows, columns):
            causal = True
        elif not _masks_nothing(value):
            continue
        node.args = (*node.args[:3], None, dropout if dropout is not None else 0.0,
                     bool(causal), *node.args[6:])
        _erase_unused(gm, mask)
        rewritten += 1
    if rewritten:
        gm.recompile()
    return rewritten


def _length(node) -> int | None:
    """The sequence length (size -2) of a query or key node, None when not static."""
    val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    if not isinstance(val, torch.Tensor) or val.dim() < 2:
        return None
    size = val.shape[-2]
    return size if isinstance(size, int) else None


def _constant_value(mask: torch.fx.Node) -> torch.Tensor | None:
    """The mask's value when it depends on no placeholder: its ancestors evaluated in
    order; None otherwise (or when one of them cannot be evaluated here)."""
    order, seen = [], set()

    def visit(n) -> bool:
        if n in seen:
            return True
        seen.add(n)
        if n.op != "call_function" or not isinstance(n.target, torch._ops.OpOverload) or \
                _RANDOM in n.target.tags or n.target._schema.is_mutable:
            return False
        if not all(visit(a) for a in n.all_input_nodes):
            return False
        order.append(n)
        return True

    if not visit(mask):
        return None
    values: dict[torch.fx.Node, object] = {}
    try:
        for n in order:
            args, kwargs = torch.fx.node.map_arg((n.args, n.kwargs), values.__getitem__)
            values[n] = n.target(*args, **kwargs)
    except Exception:  # noqa: BLE001 - an op that does not run here: left as it is
        return None
    value = values[mask]
    return value if isinstance(value, torch.Tensor) else None


def _causal(mask: torch.Tensor, rows: int, columns: int) -> bool:
    """Whether `mask` is boolean, [..., rows, columns], and `j <= i` at every [..., i, j]."""
    if mask.dtype != torch.bool or mask.dim() < 2 or tuple(mask.shape[-2:]) != (rows, columns):
        return False
    pattern = torch.ones(rows, columns, dtype=torch.bool, device=mask.device).tril()
    return bool((mask == pattern).all())


def _masks_nothing(mask: torch.Tensor) -> bool:
    """Whether `mask` lets every score through: all True, or (added to the scores) all 0."""
    if mask.dtype == torch.bool:
        return bool(mask.all())
    return mask.is_floating_point() and not bool(mask.any())


def _erase_unused(gm: torch.fx.GraphModule, node: torch.fx.Node) -> None:
    """Erases `node` and its ancestors that nothing reads any more."""
    pending = [node]
    while pending:
        n = pending.pop()
        if n.users or n.op != "call_function":
            continue
        inputs = n.all_input_nodes
        gm.graph.erase_node(n)
        pending.extend(inputs)
