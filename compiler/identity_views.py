"""Views to the shape a tensor already has, dropped from a captured graph.

torch's decompositions leave `expand`, `view` and `reshape` calls whose result has the
input's own sizes (attention's q and k expanded to [2, 4, s0, 16] before the batched
matmul). With static sizes torch-mlir folds them; with a symbolic size it cannot tell
that the size is not 1, and lowers each such expand as a copy that re-checks for a
broadcast per element (a kernel and a pass over memory each, in every attention
layer). Equal sizes are equal symbols, so here they go: their users take the input.
"""

from __future__ import annotations

import torch

aten = torch.ops.aten

_VIEWS = {aten.expand.default, aten.view.default, aten.reshape.default,
          aten._unsafe_view.default}


def _same(a, b) -> bool:
    if isinstance(a, torch.SymInt) or isinstance(b, torch.SymInt):
        if not (isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt)):
            return False
        return a.node.expr == b.node.expr
    return a == b


def drop_identity_views(gm: torch.fx.GraphModule) -> int:
    """Replaces each view of a tensor to its own sizes by the tensor; returns how many."""
    dropped = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in _VIEWS:
            continue
        source = node.args[0]
        val, src = node.meta.get("val"), getattr(source, "meta", {}).get("val")
        if not isinstance(val, torch.Tensor) or not isinstance(src, torch.Tensor):
            continue
        if val.dim() != src.dim() or val.dtype != src.dtype or not all(
                _same(a, b) for a, b in zip(val.shape, src.shape)):
            continue
        node.replace_all_uses_with(source)
        gm.graph.erase_node(node)
        dropped += 1
    if dropped:
        gm.recompile()
    return dropped
