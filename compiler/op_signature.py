"""What a compile failure of an op is taken to depend on: the op, each tensor argument's
dtype and rank, and the other arguments' values, bound to the op's schema.

The same signature is computed from a graph node (its arguments are nodes, described by
their example values) and from the arguments a decomposition is called with while
tracing (fake tensors): screen.KNOWN and the learned decompositions of capture.py
are keyed by it.
"""

from __future__ import annotations

import torch


def describe(value):
    """A hashable description of an argument: tensors by dtype and rank."""
    if isinstance(value, torch.fx.Node):
        value = value.meta.get("val")
        if not isinstance(value, (torch.Tensor, list, tuple)):
            return ("value", type(value).__name__)
    if isinstance(value, torch.Tensor):
        return ("tensor", value.dtype, value.dim())
    if isinstance(value, (list, tuple)):
        return tuple(describe(v) for v in value)
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return ("value", type(value).__name__)
    return repr(value)


def signature(op, args: tuple, kwargs: dict) -> tuple:
    """The signature of a call of `op` (an OpOverload or another callable)."""
    schema = getattr(op, "_schema", None)
    if schema is None:
        return (str(op), describe(tuple(args)), describe(tuple(sorted(kwargs.items()))))
    bound = []
    for i, arg in enumerate(schema.arguments):
        if i < len(args) and not arg.kwarg_only:
            value = args[i]
        elif arg.name in kwargs:
            value = kwargs[arg.name]
        elif arg.has_default_value():
            value = arg.default_value
        else:
            value = None
        bound.append((arg.name, describe(value)))
    return (str(op), tuple(bound))


def of_node(node: torch.fx.Node) -> tuple:
    """The signature of a graph node's call."""
    return signature(node.target, node.args, node.kwargs)
