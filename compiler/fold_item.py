"""`x.item()` returned by a function, kept in the graph as a tensor.

capture.py's wrapper returns a Python number the function computed from the data as
scalar_tensor(item(x)); that is x itself converted to the number's dtype, so the graph
need not leave its tensors for it (`.item()` would run eager between compiled pieces).
"""

from __future__ import annotations

import torch


def fold_item_into_tensor(gm: torch.fx.GraphModule) -> None:
    """Replaces each scalar_tensor(item(x)) of `gm` (capture.py's _Wrapper.forward makes
    them) by x converted to the number's dtype (float64, int64, bool: exact for every
    tensor dtype of that kind), so nothing leaves the tensors."""
    aten = torch.ops.aten
    changed = False
    for node in list(gm.graph.nodes):
        if node.target is not aten.scalar_tensor.default or not isinstance(
                node.args[0], torch.fx.Node):
            continue
        item = node.args[0]
        if item.target not in (aten._local_scalar_dense.default, aten.item.default):
            continue
        source, dtype = item.args[0], node.kwargs.get("dtype")
        val = source.meta.get("val")
        kind = {torch.float64: lambda d: d.is_floating_point, torch.int64:
                lambda d: not d.is_floating_point and not d.is_complex and d != torch.bool,
                torch.bool: lambda d: d == torch.bool}.get(dtype)
        if not isinstance(val, torch.Tensor) or kind is None or not kind(val.dtype):
            continue
        trace = {k: v for k, v in node.meta.items() if k == "stack_trace"}
        with gm.graph.inserting_before(node):
            if val.dim():
                source = gm.graph.call_function(aten.reshape.default, (source, []))
                source.meta = dict(trace, val=val.reshape([]))
            new = gm.graph.call_function(aten._to_copy.default, (source,), {"dtype": dtype})
            new.meta = dict(trace, val=node.meta["val"])
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        if not item.users:
            gm.graph.erase_node(item)
        changed = True
    if changed:
        gm.graph.lint()
        gm.recompile()
