"""A function's own seeding of torch's generator, seen while it is traced.

`torch.manual_seed(42)` in a function runs in its Python, once, while torch.export traces
it: the graph does not hold it. Before, such a function could not be captured (it ran
through dynamo, split at the seeding). When every seeding is `manual_seed(int)` (or
`cuda.manual_seed(_all)`) and comes before the first random op of the function, its
effect is a prologue: the compiled call seeds as the function did, then runs the graph,
whose random ops (extern calls, compiler/extern.py) draw from the seeded generator in the
program's order, as eager's. Anything else (torch.seed(), a seed after a random op, a
draw on real tensors in the function's Python) still makes the capture fail.
"""

from __future__ import annotations

import torch

try:
    from torch.fx.experimental.proxy_tensor import get_proxy_mode
except ImportError:  # no tracer to ask: no seeding is replayed
    get_proxy_mode = None

_REPLAYABLE = {"manual_seed", "manual_seed_all"}


def _random_op_traced() -> bool | None:
    """Whether the graph traced so far holds a random op; None when there is no tracer."""
    mode = get_proxy_mode() if get_proxy_mode is not None else None
    if mode is None:
        return None
    return any(n.op == "call_function" and torch.Tag.nondeterministic_seeded in getattr(
        n.target, "tags", ()) for n in mode.tracer.graph.nodes)


class SeedWatch:
    """Notes calls of torch's seeding functions while tracing (export also keeps the
    generator's state, so the state alone does not show them).

    Attributes:
      records: (seeding function, arguments) of each call, in order.
      replayable: False once a call cannot be replayed as a prologue.
    """

    NAMES = [(torch, "manual_seed"), (torch, "seed"), (torch.random, "manual_seed"),
             (torch.random, "seed"), (torch.cuda, "manual_seed"),
             (torch.cuda, "manual_seed_all")]

    def __init__(self):
        self.records: list[tuple] = []
        self.replayable = True
        self.saved = []
        self._state_after = None

    @property
    def seeded(self) -> bool:
        return bool(self.records)

    def __enter__(self):
        for owner, name in self.NAMES:
            original = getattr(owner, name)
            self.saved.append((owner, name, original))

            def watch(*args, _original=original, _name=name, **kwargs):
                if _name not in _REPLAYABLE or kwargs or len(args) != 1 or \
                        type(args[0]) is not int or _random_op_traced() is not False:
                    self.replayable = False
                self.records.append((_original, args))
                result = _original(*args, **kwargs)
                self._state_after = torch.random.get_rng_state()
                return result

            setattr(owner, name, watch)
        return self

    def __exit__(self, *exc):
        for owner, name, original in self.saved:
            setattr(owner, name, original)
        self.saved = []

    def replay(self) -> list[tuple] | None:
        """The seeding to replay before each call (empty: none), or None when it cannot
        be replayed (then the capture fails)."""
        if not self.records:
            return []
        drew = not torch.equal(torch.random.get_rng_state(), self._state_after)
        return self.records if self.replayable and not drew else None


class RandomState:
    """The CPU generator's state. (The GPUs' is not compared: tracing a function of CUDA
    tensors changed it with no random op in the function, x.item() on the H200.)"""

    def __init__(self):
        self.state = torch.random.get_rng_state()

    def changed(self) -> bool:
        return not torch.equal(torch.random.get_rng_state(), self.state)

    def restore(self) -> None:
        torch.random.set_rng_state(self.state)
