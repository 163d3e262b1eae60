"""The torch.compile backend: `torch.compile(fn, backend="mlirfuse")`.

Dynamo hands the backend an FX GraphModule and example inputs. For inference the
backend returns an mlirfuse CompiledFunction over the graph module, which compiles at
the first call with real tensors (example inputs may be fake or symbolic) and
specializes on shapes from then on. When grad mode is on and an input requires grad
(a parameter: dynamo makes them graph inputs), the graph trains: AOTAutograd splits it
into a forward and a backward graph, each compiled by mlirfuse (compiler/training.py).
"""

from __future__ import annotations

import copy

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
        gm, symbolic, keep = _symbolic_inputs(gm, example_inputs) \
            if options.dynamic is not False else (gm, None, None)
        compiled = CompiledFunction(gm, options, stats=stats, symbolic=symbolic)
        graphs.append(compiled)

        def run(*args):
            return compiled(*(args if keep is None else [args[i] for i in keep]))

        run.compiled = compiled
    run.stats, run.graphs = stats, graphs
    return run


def _symbolic_inputs(gm: torch.fx.GraphModule, example_inputs):
    """Dynamo's symbolic shapes (dynamic=True, mark_dynamic, automatic dynamic): the
    dimensions of each tensor input whose size is a symbol, and the inputs the compiled
    graph takes. Dynamo also passes each symbol as an int input: one the graph does not
    use is dropped, one it uses is read from a tensor's size instead (sym_size), so the
    code serves every size. Returns (the graph to compile, the dimensions, the indices of
    the inputs it takes); (gm, None, None) when the graph has no symbolic size, or a
    size input that no tensor has (then each value specializes, as before)."""
    if len([n for n in gm.graph.nodes if n.op == "placeholder"]) != len(example_inputs):
        return gm, None, None
    # A copy: dynamo calls the graph it handed over with all its inputs.
    copied = torch.fx.GraphModule(gm, copy.deepcopy(gm.graph))
    placeholders = [n for n in copied.graph.nodes if n.op == "placeholder"]
    metas = [n.meta.get("example_value", n.meta.get("val")) for n in placeholders]
    where = {}  # symbol -> (placeholder, dimension) of a tensor input with that size
    dims, keep = [], []
    for i, (node, meta) in enumerate(zip(placeholders, metas)):
        if isinstance(meta, torch.Tensor):
            sym = [d for d, size in enumerate(meta.shape) if isinstance(size, torch.SymInt)
                   and not isinstance(size.node.maybe_as_int(), int)]
            for d in sym:
                where.setdefault(str(meta.shape[d].node.expr), (node, d))
            dims.append(tuple(sym))
            keep.append(i)
    if not any(dims):
        return gm, None, None
    for node, meta in zip(placeholders, metas):
        if isinstance(meta, torch.Tensor):
            continue
        if not isinstance(meta, torch.SymInt) or (node.users and
                                                  str(meta.node.expr) not in where):
            return gm, None, None  # an input the graph needs that no tensor's size gives
        if node.users:
            tensor, d = where[str(meta.node.expr)]
            with copied.graph.inserting_after(placeholders[-1]):
                size = copied.graph.call_function(torch.ops.aten.sym_size.int, (tensor, d))
            node.replace_all_uses_with(size)
        copied.graph.erase_node(node)
    copied.recompile()
    return copied, dims, keep


def register_backend() -> None:
    """Registers the backend with dynamo under "mlirfuse" (once)."""
    from torch._dynamo.backends import registry

    if NAME not in registry._COMPILER_FNS:
        registry.register_backend(mlirfuse_backend, name=NAME)
