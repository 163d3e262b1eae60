"""What selects a compiled specialization for a call: its dispatch Key, and what a
compiled function says of itself (Explanation).

A Key is cheap to make per call: the argument structure (or only the argument count
when every argument is a distinct plain tensor), each distinct tensor's dtype, shape,
device and requires_grad, and each module's train/eval flag. Strides and sizes that
matter beyond it are the compiled guards' (specialize.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from typing import Any, Callable, NamedTuple

import torch

from .capture import split_args
from .partition import EagerOp


def _hashable(x: Any) -> Any:
    try:
        hash(x)
        return (type(x), x)
    except TypeError:
        return (type(x), repr(x))


_TRAINING = operator.attrgetter("training")


def _tensor_key(t: torch.Tensor) -> tuple:
    return (t.dtype, t.shape, t.device, t.requires_grad)


class Key(NamedTuple):
    """What a specialization is built for, beyond its guards.

    structure: the argument count, or the pytree spec with every non-tensor leaf
      and which leaves are the same tensor; tensors: each distinct tensor's dtype,
      shape, device, requires_grad; modes: the train/eval flag of each module.
    """

    structure: tuple
    tensors: tuple
    modes: tuple = ()


def dispatch_key(args: tuple, modules=()) -> tuple[Key, list[torch.Tensor]]:
    """The Key of a call, and its distinct tensors."""
    modes = tuple(map(_TRAINING, modules))  # train() and eval() change the graph
    if all(type(a) is torch.Tensor for a in args) and len({id(a) for a in args}) == len(args):
        return Key((len(args),), tuple(_tensor_key(t) for t in args), modes), list(args)
    tensors, skeleton, spec = split_args(args)
    structure = (spec, tuple(_hashable(x) for x in skeleton))
    return Key(structure, tuple(_tensor_key(t) for t in tensors), modes), tensors


def erase_sizes(key: Key, dims) -> Key:
    """`key` with the sizes of `dims` (per tensor, the symbolic dimensions of a
    specialization for symbolic sizes) written -1: every call it serves has this Key."""
    tensors = tuple(
        (t[0], torch.Size([-1 if d in ds else n for d, n in enumerate(t[1])]), *t[2:])
        for t, ds in zip(key.tensors, dims)) if len(dims) == len(key.tensors) else key.tensors
    return Key(key.structure, tensors, key.modes)


def symbolic_dims(key: Key, compiled: list[Key], dynamic: bool | None,
                  symbolic: list[tuple[int, ...]] | None = None) -> list[tuple[int, ...]] | None:
    """Per tensor, the dimensions a call with `key` compiles symbolic, or None: the
    dimensions dynamo made symbolic (`symbolic`), every size of 2 or more
    (dynamic=True), or under automatic dynamic (None) the sizes in which the call
    differs from a `compiled` Key otherwise like it (sizes 0 and 1 stay specialized)."""
    shapes = [t[1] for t in key.tensors]
    if symbolic is not None and len(symbolic) == len(shapes):
        dims = [tuple(d for d in ds if shape[d] >= 2) for ds, shape in zip(symbolic, shapes)]
        return dims if any(dims) else None
    if dynamic:
        dims = [tuple(d for d, n in enumerate(shape) if n >= 2) for shape in shapes]
        return dims if any(dims) else None
    for old in compiled:
        if old.structure != key.structure or old.modes != key.modes or \
                len(old.tensors) != len(key.tensors) or any(
                    a[0] != b[0] or a[2:] != b[2:] or len(a[1]) != len(b[1])
                    for a, b in zip(old.tensors, key.tensors)):
            continue
        dims = [tuple(d for d, (m, n) in enumerate(zip(a[1], b[1]))
                      if (m != n or m == -1) and n >= 2)
                for a, b in zip(old.tensors, key.tensors)]
        if any(dims):
            return dims
    return None


def key_difference(new: Key, old: Key) -> str:
    """Says how a call's Key differs from the one a specialization was built for."""
    if new.structure != old.structure or len(new.tensors) != len(old.tensors):
        return "the argument structure, a Python scalar or the aliasing of arguments changed"
    if new.modes != old.modes:
        return "a module switched between train() and eval()"
    names = ("dtype", "shape", "device", "requires_grad")
    for i, (a, b) in enumerate(zip(new.tensors, old.tensors)):
        for name, x, y in zip(names, a, b):
            if x != y:
                what = "rank" if name == "shape" and len(x) != len(y) else name
                shown = (tuple(x), tuple(y)) if name == "shape" else (x, y)
                return f"tensor argument {i}: {what} {shown[0]}, compiled for {shown[1]}"
    return "the arguments changed"


def bind_positional(fn: Callable, args: tuple, kwargs: dict) -> tuple:
    """Keyword arguments bound to their positions, defaults filled in between: one call,
    one argument tuple (`model(input_ids=ids, labels=ids)`)."""
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        bound = inspect.signature(target).bind(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{getattr(target, '__qualname__', target)}: {e}") from None
    bound.apply_defaults()
    given = [name for name in bound.kwargs if name in kwargs or name not in
             bound.signature.parameters]
    if given:
        raise TypeError(f"mlirfuse: keyword-only arguments are not supported "
                        f"({', '.join(given)}): pass them by position")
    return bound.args


@dataclasses.dataclass
class Explanation:
    """What ran where in a compiled function's last specialization.

    Attributes:
      pieces: the compiled parts of the graph, in order: (graph ops, kernels) each.
      eager: the ops that ran as eager torch ops: node, op, the user's source line and
        the reason (the stage, the pass and the first line of the diagnostic).
      notes: what else ran outside compiled code (a function dynamo had to split).
      externs: the ops the compiled code ran with torch's own kernel (extern calls),
        with why they have no code of their own.
    """

    pieces: list[tuple[int, int]]
    eager: list[EagerOp]
    notes: list[str] = dataclasses.field(default_factory=list)
    externs: list[EagerOp] = dataclasses.field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.pieces)} compiled piece(s), {len(self.eager)} eager op(s)"
                 + (f", {len(self.externs)} extern call(s)" if self.externs else "")]
        for i, (ops, kernels) in enumerate(self.pieces):
            lines.append(f"  piece {i}: {ops} ops, {kernels} kernels")
        for e in self.eager:
            lines.append(f"  eager {e.op} ({e.node}) at {e.source or 'unknown source'}: "
                         f"{e.reason}")
        for e in self.externs:
            lines.append(f"  extern {e.op} ({e.node}) at {e.source or 'unknown source'}: "
                         f"torch's kernel, called from the compiled code ({e.reason})")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)
