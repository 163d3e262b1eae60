"""FX pass: compute 8-bit integer tensors in int16, wrapped back to 8 bits after every op.

torch-mlir turns ui8 and si8 into signless i8 and then gets them wrong: ui8 values
read as signed (200 as -56) in division, remainder, conversion to float, sums,
abs and sorting; si8 floor division and multiplication by a Python int crash
its linalg lowering. Eager 8-bit arithmetic is arithmetic modulo 256, so the
same values come out of computing each op in int16 and reducing its result to
the 8-bit range at once: `& 255` for uint8, sign-extension of the low byte for
int8. Inputs are widened where they enter the graph and results narrowed where
they leave it; the caller still passes and receives 8-bit tensors.
"""

from __future__ import annotations

import torch

aten = torch.ops.aten
NARROW = (torch.uint8, torch.int8)
WIDE = torch.int16


def _narrow_val(node: torch.fx.Node) -> bool:
    val = node.meta.get("val")
    return isinstance(val, torch.Tensor) and val.dtype in NARROW


def _retype(value, old: torch.dtype):
    """`value` with every occurrence of dtype `old` replaced by the wide type."""
    if value is old:
        return WIDE
    if isinstance(value, (list, tuple)):
        return type(value)(_retype(v, old) for v in value)
    if isinstance(value, dict):
        return {k: _retype(v, old) for k, v in value.items()}
    return value


def _fake(val: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mode = getattr(val, "fake_mode", None)
    if mode is None:
        return val.to(dtype)
    with mode:
        return val.to(dtype)


def _wrap(graph: torch.fx.Graph, node: torch.fx.Node, dtype: torch.dtype, val) -> list:
    """Nodes right after `node` reducing its int16 value to `dtype`'s range, in order."""
    chain = []

    def add(target, args):
        with graph.inserting_after(chain[-1] if chain else node):
            chain.append(graph.call_function(target, args))
        chain[-1].meta["val"] = val
        return chain[-1]

    low = add(aten.bitwise_and.Scalar, (node, 255))
    if dtype == torch.int8:  # sign-extend the low byte: low - 2 * (low & 128)
        sign = add(aten.bitwise_and.Scalar, (low, 128))
        twice = add(aten.mul.Scalar, (sign, 2))
        add(aten.sub.Tensor, (low, twice))
    return chain


def _narrow_in_tuple(node: torch.fx.Node) -> bool:
    val = node.meta.get("val")
    return isinstance(val, (tuple, list)) and any(
        isinstance(v, torch.Tensor) and v.dtype in NARROW for v in val)


def widen_narrow_ints(gm: torch.fx.GraphModule) -> bool:
    """Rewrites `gm` in place; returns whether it held any 8-bit integer tensor."""
    graph = gm.graph
    original = {}  # the last node of each widened value → the 8-bit dtype it stands for
    for node in list(graph.nodes):
        if node.op == "call_function" and _narrow_in_tuple(node):
            # Several results (sort: values, indices): retype them; the getitems wrap.
            dtype = next(v.dtype for v in node.meta["val"]
                         if isinstance(v, torch.Tensor) and v.dtype in NARROW)
            node.args, node.kwargs = _retype(node.args, dtype), _retype(node.kwargs, dtype)
            node.meta["val"] = type(node.meta["val"])(
                _fake(v, WIDE) if isinstance(v, torch.Tensor) and v.dtype in NARROW else v
                for v in node.meta["val"])
            node.meta.pop("tensor_meta", None)
            continue
        if node.op == "call_function" and node.target is aten._assert_tensor_metadata.default \
                and node.args and node.args[0] in original:
            # Export's dtype assertion on a widened value: it now holds int16.
            node.args = _retype(node.args, original[node.args[0]])
            node.kwargs = _retype(node.kwargs, original[node.args[0]])
            continue
        if node.op not in ("placeholder", "call_function") or not _narrow_val(node):
            continue
        old = node.meta["val"]
        dtype = old.dtype
        wide = _fake(old, WIDE)
        if node.op == "placeholder":
            with graph.inserting_after(node):
                chain = [graph.call_function(aten._to_copy.default, (node,), {"dtype": WIDE})]
            chain[0].meta["val"] = wide
        else:
            node.args = _retype(node.args, dtype)
            node.kwargs = _retype(node.kwargs, dtype)
            node.meta["val"] = wide
            node.meta.pop("tensor_meta", None)  # the importer prefers it to "val"
            chain = _wrap(graph, node, dtype, wide)
        node.replace_all_uses_with(chain[-1], delete_user_cb=lambda user: user not in chain)
        original[chain[-1]] = dtype
    if not original:
        return False
    output = next(n for n in graph.nodes if n.op == "output")
    results = []
    for value in output.args[0]:
        if value in original:
            with graph.inserting_before(output):
                narrowed = graph.call_function(aten._to_copy.default, (value,),
                                               {"dtype": original[value]})
            narrowed.meta["val"] = _fake(value.meta["val"], original[value])
            value = narrowed
        results.append(value)
    output.args = (tuple(results),)
    graph.lint()
    gm.recompile()
    return True
