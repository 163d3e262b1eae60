"""Bounds checks of index tensors passed as arguments, before compiled CPU code runs.

torch-mlir lowers `x[i]`, index_select, gather and embedding to loads at the index's
values without a bounds check: an index past the end read other memory and returned
it as a result. Eager raises IndexError. The shapes of a specialization are static, so
the bound of each index is a constant; what is left to check per call is the index
tensor's smallest and largest value. Only indices that are graph inputs are checked
(an index computed inside the graph is not), and only on the CPU: on CUDA the check
would synchronize every call (eager itself stops there with a device-side assert).
"""

from __future__ import annotations

import dataclasses

import torch

aten = torch.ops.aten


@dataclasses.dataclass(frozen=True)
class IndexCheck:
    """Graph input `position` indexes dimension `dim` of a tensor of size `size`."""

    position: int
    dim: int
    size: int


def _shape(node) -> tuple[int, ...] | None:
    value = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _indexed(node: torch.fx.Node):
    """(index node, indexed dim, size) pairs of an indexing op; none for other ops."""
    target, args = node.target, node.args
    if target in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default):
        shape = _shape(args[0])
        for dim, index in enumerate(args[1]):
            if index is not None and shape is not None and dim < len(shape):
                yield index, dim, shape[dim]
    elif target in (aten.index_select.default, aten.gather.default):
        shape = _shape(args[0])
        if shape is not None:
            dim = args[1] % max(1, len(shape))
            yield args[2], dim, shape[dim] if shape else 1  # a 0-d tensor has one element
    elif target == aten.embedding.default:
        shape = _shape(args[0])
        if shape is not None:
            yield args[1], 0, shape[0]


def find(graph_module: torch.fx.GraphModule) -> list[IndexCheck]:
    """The checks for the integer index tensors among the graph's inputs."""
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    checks = []
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        for index, dim, size in _indexed(node):
            if index in placeholders:
                value = index.meta.get("val")
                if isinstance(value, torch.Tensor) and not value.dtype.is_floating_point \
                        and value.dtype != torch.bool:
                    checks.append(IndexCheck(placeholders.index(index), dim, size))
    return checks


def run(checks: list[IndexCheck], inputs: list[torch.Tensor]) -> None:
    """Raises IndexError, worded as eager's, when an index is outside [-size, size)."""
    for check in checks:
        index = inputs[check.position]
        if index.numel() == 0:
            continue
        low, high = (int(v) for v in torch.aminmax(index))
        bad = high if high >= check.size else low if low < -check.size else None
        if bad is not None:
            raise IndexError(f"index {bad} is out of bounds for dimension {check.dim} "
                             f"with size {check.size}")
