"""A check of code compiled for symbolic sizes against eager, once, when it is compiled.

torch-mlir lowers some ops wrongly on dynamic sizes (`x.view(-1, 4)` on a [?, ?] tensor
became no reshape at all: the kernel wrote 16 values a row into a result of 4, past its
end). Static compiles never met these lowerings. So code for symbolic sizes runs once at
compile time on the example inputs and on inputs of other sizes (each symbol a few
larger), into results with guard space after them, and is compared with the graph run
eagerly on the same inputs: a difference in values, or a write past a result's end,
rejects it (the caller specializes the sizes instead). Sizes eager rejects are skipped.
"""

from __future__ import annotations

import torch

from .compiled_graph import CompiledGraph
from .errors import CompileError

_GUARD = 4096  # elements of guard space after each result
_PROBE_STEPS = (3, 17)  # added to every symbol's example value for the probe calls


def check(graph: CompiledGraph, ins: list[torch.Tensor]) -> None:
    """Raises CompileError when the compiled code differs from eager on `ins` or on
    inputs of other sizes."""
    for inputs in [ins] + [p for step in _PROBE_STEPS if (p := _probe(graph, ins, step))]:
        try:
            with torch.no_grad():
                expected = graph.graph_module(*inputs)
        except Exception:  # eager rejects these sizes (a view needs a multiple of 4...)
            continue
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        outs, guards = _guarded(graph.allocate(inputs))
        status, got = graph.run_into(inputs, outs)
        if status:  # a guard (a range the probe left) rejected the call: nothing ran
            continue
        for i, guard in enumerate(guards):
            if not _untouched(guard):
                raise CompileError(f"the code for symbolic sizes wrote past the end of result "
                                   f"{i} (sizes {tuple(got[i].shape)})", stage="jit")
        for i, (g, e) in enumerate(zip(got, expected)):
            if tuple(g.shape) != tuple(e.shape) or not _close(g, e):
                raise CompileError(f"the code for symbolic sizes computed result {i} unlike "
                                   f"eager at sizes {[tuple(t.shape) for t in inputs]}",
                                   stage="jit")


def _guarded(outs: list[torch.Tensor]):
    """The results as views at the start of buffers with a filled guard region after."""
    views, guards = [], []
    for out in outs:
        flat = torch.empty(out.numel() + _GUARD, dtype=out.dtype, device=out.device)
        _fill(flat)
        views.append(flat[:out.numel()].view(out.shape))
        guards.append(flat[out.numel():])
    return views, guards


def _fill(t: torch.Tensor) -> None:
    t.view(torch.uint8).fill_(0xA5)


def _untouched(guard: torch.Tensor) -> bool:
    return bool((guard.view(torch.uint8) == 0xA5).all())


def _close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    if got.dtype.is_floating_point or got.dtype.is_complex:
        return torch.allclose(got.double(), expected.double(), rtol=1e-2, atol=1e-3,
                              equal_nan=True)
    return torch.equal(got, expected)


def _probe(graph: CompiledGraph, ins: list[torch.Tensor], step: int):
    """Inputs like `ins` with every symbol `step` larger, random values of each dtype."""
    shapes = graph.shapes
    values = [v + step for v in shapes.bind(ins)]
    out = []
    for t, names in zip(ins, shapes.example_symbols):
        if all(n < 0 for n in names):
            out.append(t)
            continue
        size = [values[n] if n >= 0 else s for n, s in zip(names, t.shape)]
        if t.dtype.is_floating_point:
            out.append(torch.randn(size, dtype=t.dtype, device=t.device))
        elif t.dtype == torch.bool:
            out.append(torch.rand(size, device=t.device) < 0.5)
        else:  # indices among them: small values stay in range more often
            high = max(int(t.max()) + 1, 1) if t.numel() else 2
            low = min(int(t.min()), 0) if t.numel() else 0
            out.append(torch.randint(low, high, size, dtype=t.dtype, device=t.device))
    return out
