"""The torch.compile backend: `torch.compile(fn, backend="mlirfuse")`.

Dynamo hands the backend an FX GraphModule and example inputs. For inference the
backend returns an mlirfuse CompiledFunction over the graph module, which compiles at
the first call with real tensors (example inputs may be fake or symbolic) and
specializes on shapes from then on. When grad mode is on and an input requires grad
(a parameter: dynamo makes them graph inputs), the graph trains: AOTAutograd splits it
into a forward and a backward graph, each compiled by mlirfuse (compiler/training.py).
"""

from __future__ import annotations

import torch

from . import training
from .api import CompiledFunction, graph_factory
from .options import Options
from .stats import Stats

NAME = "mlirfuse"


def mlirfuse_backend(gm, example_inputs, **options):
    """Dynamo backend entry point (also the `torch_dynamo_backends` entry point)."""
    options = dict(options.get("options") or {}, **{k: v for k, v in options.items() if k != "options"})
    return compile_graph(gm, example_inputs, Options.from_kwargs(options))


def compile_graph(gm, example_inputs, options: Options, stats: Stats | None = None,
                  graphs: list | None = None):
    """What the backend returns for one of dynamo's graphs; its compiled graphs count into
    `stats` and are appended to `graphs` (new ones by default: the result's .stats and
    .graphs)."""
    stats = Stats() if stats is None else stats
    graphs = [] if graphs is None else graphs
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad
                                       for t in example_inputs):
        run = training.backend_for_training(
            gm, example_inputs,
            graph_factory(options, stats),
            graphs)
    else:
        compiled = CompiledFunction(gm, options, stats=stats)
        graphs.append(compiled)

        def run(*args):
            return compiled(*args)

        run.compiled = compiled
    run.stats, run.graphs = stats, graphs
    return run


def register_backend() -> None:
    """Registers the backend with dynamo under "mlirfuse" (once)."""
    from torch._dynamo.backends import registry

    if NAME not in registry._COMPILER_FNS:
        registry.register_backend(mlirfuse_backend, name=NAME)
