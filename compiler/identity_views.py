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


def _views(gm: torch.fx.GraphModule, targets: set):
    """Yields (node, its input, the node's value, the input's value) of each view in
    `targets` whose input and result are tensors. A generator over a copy of the node list:
    callers change the graph, and a view's input is read when its turn comes (a view of a
    view dropped before it has a new input by then)."""
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in targets:
            continue
        source = node.args[0]
        val, src = node.meta.get("val"), getattr(source, "meta", {}).get("val")
        if isinstance(val, torch.Tensor) and isinstance(src, torch.Tensor):
            yield node, source, val, src


def drop_identity_views(gm: torch.fx.GraphModule) -> int:
    """Replaces each view of a tensor to its own sizes by the tensor; returns how many."""
    dropped = 0
    for node, source, val, src in _views(gm, _VIEWS):
        if val.dim() != src.dim() or val.dtype != src.dtype or not all(
                _same(a, b) for a, b in zip(val.shape, src.shape)):
            continue
        node.replace_all_uses_with(source)
        gm.graph.erase_node(node)
        dropped += 1
    if dropped:
        gm.recompile()
    return dropped


_SIZED_VIEWS = {aten.view.default, aten.reshape.default, aten._unsafe_view.default}


def sizes_from_source(gm: torch.fx.GraphModule) -> int:
    """Gives a view to symbolic sizes its sizes as the input's own dimensions; returns how
    many views changed.

    `x.view(2, s0, -1, 32)` of an x [2, s0, 64], where s0 is read from another tensor
    (the input ids' sequence length) and the heads' count is -1: torch-mlir cannot tell
    that the symbolic size is x's dimension 1, and lowers the view as a tensor.reshape of
    computed sizes, which no fusion crosses (GPT-2's attention: extra kernels per layer,
    its dynamic code 1.2x its static code on the CPU). Each size that equals a dimension
    of x (the same symbol) becomes `sym_size(x, j)`, each static one its number, so the
    lowering sees which dimensions are kept and makes an expand or collapse of x.
    """
    changed = 0
    for node, source, val, src in _views(gm, _SIZED_VIEWS):
        if not any(isinstance(s, torch.SymInt) for s in val.shape):
            continue
        sizes, dims = [], {}
        for j, s in enumerate(src.shape):  # each symbol's dimensions of x, in order
            if isinstance(s, torch.SymInt):
                dims.setdefault(s.node.expr, []).append(j)
        used: dict = {}
        for s in val.shape:
            if not isinstance(s, torch.SymInt):
                sizes.append(int(s))
            elif s.node.expr in dims:
                # The k-th use of a symbol takes its k-th dimension of x (attention's
                # [4, s, s] scores viewed as [2, 2, s, s]), the last when x has fewer.
                js = dims[s.node.expr]
                j = js[min(used.get(s.node.expr, 0), len(js) - 1)]
                used[s.node.expr] = used.get(s.node.expr, 0) + 1
                with gm.graph.inserting_before(node):
                    size = gm.graph.call_function(aten.sym_size.int, (source, j))
                size.meta["val"] = s
                sizes.append(size)
            else:
                sizes = None  # a size x does not have (a product of its dimensions)
                break
        if sizes is None:
            continue
        node.args = (source, sizes) + tuple(node.args[2:])
        changed += 1
    if changed:
        gm.recompile()
    return changed
