"""A function's own handling of torch's generator, seen while it is traced.

`torch.manual_seed(42)` in a function runs in its Python, once, while torch.export traces
it: the graph does not hold it. Before, such a function could not be captured (dynamo
split it at the seeding). Now a function whose generator calls all come before its first
random op (`manual_seed(int)`, `cuda.manual_seed(_all)(int)`, `get_rng_state()`) or
after its last one (`set_rng_state(s)` of a state it got before: torch.testing's
`freeze_rng_state`) has a prologue and an epilogue (RngReplay): the compiled call does
what the function did before its tensor ops, runs the graph, whose random ops (extern
calls, compiler/extern.py) draw from the generator in the program's order as eager's
do, then restores what the function restored. Anything else (torch.seed(), a seed
between random ops, a draw on real tensors in the function's Python) still makes the
capture fail.
"""

from __future__ import annotations

import torch

try:
    from torch.fx.experimental.proxy_tensor import get_proxy_mode
except ImportError:  # no tracer to ask: nothing is replayed
    get_proxy_mode = None

_SEEDS = {"manual_seed", "manual_seed_all"}
_GET_STATE = torch.random.get_rng_state  # the real one: the watch replaces it


def _random_ops_traced() -> int | None:
    """The random ops in the graph traced so far; None when there is no tracer."""
    mode = get_proxy_mode() if get_proxy_mode is not None else None
    return None if mode is None else random_ops(mode.tracer.graph)


class RngReplay:
    """What a compiled call does with the generator: `before()` the graph runs (seeds,
    and the states it saves, returned), `after(saved)` it (the states it restores)."""

    def __init__(self, before: list[tuple], after: list[tuple]):
        self._before, self._after = before, after

    def __bool__(self) -> bool:
        return bool(self._before or self._after)

    def before(self) -> list:
        saved = []
        for kind, fn, arg in self._before:
            if kind == "get":
                saved.append(fn())
            else:
                fn(arg)
        return saved

    def after(self, saved: list) -> None:
        for _, fn, slot in self._after:
            fn(saved[slot])


class SeedWatch:
    """Notes calls of torch's generator functions while tracing (export also keeps the
    generator's state, so the state alone does not show them)."""

    NAMES = [(torch, "manual_seed"), (torch, "seed"), (torch.random, "manual_seed"),
             (torch.random, "seed"), (torch.cuda, "manual_seed"),
             (torch.cuda, "manual_seed_all"), (torch, "get_rng_state"),
             (torch.random, "get_rng_state"), (torch, "set_rng_state"),
             (torch.random, "set_rng_state"), (torch.cuda, "get_rng_state"),
             (torch.cuda, "set_rng_state")]

    def __init__(self):
        self.events: list[tuple] = []  # (kind, original function, argument or slot)
        self.replayable = True
        self.saved = []
        self._states: list = []  # what each get returned (identity tells a set's slot)
        self._last_set_ops = 0
        self._state_after = None

    @property
    def seeded(self) -> bool:
        return bool(self.events)

    def _note(self, name: str, original, args: tuple, kwargs: dict, result) -> None:
        traced = _random_ops_traced()
        if traced is None and name in ("get_rng_state", "set_rng_state"):
            return  # export's own keeping of the state, outside the function's trace
        if traced is None or kwargs:
            self.replayable = False
            self.events.append(("seed", original, None))
        elif name in _SEEDS:
            if len(args) != 1 or type(args[0]) is not int or traced:
                self.replayable = False
            self.events.append(("seed", original, args[0] if args else None))
        elif name == "get_rng_state":
            if args or traced:
                self.replayable = False
            self._states.append(result)
            self.events.append(("get", original, len(self._states) - 1))
        elif name == "set_rng_state":
            slot = next((i for i, s in enumerate(self._states)
                         if len(args) == 1 and args[0] is s), None)
            if slot is None:
                self.replayable = False
            self._last_set_ops = traced
            self.events.append(("set", original, slot))
        else:  # torch.seed(): a new random seed each call
            self.replayable = False
            self.events.append(("seed", original, None))

    def __enter__(self):
        for owner, name in self.NAMES:
            original = getattr(owner, name)
            self.saved.append((owner, name, original))

            def watch(*args, _original=original, _name=name, **kwargs):
                result = _original(*args, **kwargs)
                self._note(_name, _original, args, kwargs, result)
                self._state_after = _GET_STATE()
                return result

            setattr(owner, name, watch)
        return self

    def __exit__(self, *exc):
        for owner, name, original in self.saved:
            setattr(owner, name, original)
        self.saved = []

    def replay(self, random_ops: int) -> RngReplay | None:
        """The RngReplay of the function (empty when it never touched the generator), or
        None when its generator calls cannot be replayed around the graph.

        Args:
          random_ops: the random ops of the traced graph (a restore must come after all).
        """
        if not self.events:
            return RngReplay([], [])
        if not self.replayable or not torch.equal(_GET_STATE(), self._state_after):
            return None
        before = [e for e in self.events if e[0] != "set"]
        after = [e for e in self.events if e[0] == "set"]
        if after and (self._last_set_ops != random_ops or
                      self.events.index(after[0]) < len(before)):
            return None  # a restore before a random op, or a seed after a restore
        return RngReplay(before, after)


def draws(node: torch.fx.Node) -> bool:
    """Whether a graph node draws from torch's generator: an op tagged as seeded, but
    for one whose draws are dropout's and whose `dropout_p` is 0 (attention in eval: a
    GPT-2's scaled_dot_product_attention, tagged for its dropout)."""
    if node.op != "call_function" or \
            torch.Tag.nondeterministic_seeded not in getattr(node.target, "tags", ()):
        return False
    schema = getattr(node.target, "_schema", None)
    names = [a.name for a in schema.arguments] if schema is not None else []
    if "dropout_p" not in names:
        return True
    at = names.index("dropout_p")
    p = node.args[at] if at < len(node.args) else node.kwargs.get(
        "dropout_p", schema.arguments[at].default_value)
    return not (isinstance(p, (int, float)) and p == 0)


def random_ops(graph: torch.fx.Graph) -> int:
    """The random ops of a traced graph."""
    return sum(1 for n in graph.nodes if draws(n))


class RandomState:
    """The generators' states before a trace, to restore after it: the CPU's, and each
    CUDA device's when CUDA is initialized (a trace runs the function's own
    `torch.manual_seed(1)` for real, which seeds the GPUs too: left so, a capture that
    failed had the function's eager run draw from a reseeded generator). Only the CPU's is
    compared (`changed`): tracing a function of CUDA tensors changed the GPU's with no
    random op in the function, x.item() on the H200."""

    def __init__(self):
        self.state = torch.random.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    def changed(self) -> bool:
        return not torch.equal(torch.random.get_rng_state(), self.state)

    def restore(self) -> None:
        torch.random.set_rng_state(self.state)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
