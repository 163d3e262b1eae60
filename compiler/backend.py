"""The torch.compile backend: `torch.compile(fn, backend="mlirfuse")`.

Dynamo hands the backend an FX GraphModule and example inputs. The backend
returns an mlirfuse CompiledFunction over the graph module, which compiles at
the first call with real tensors (example inputs may be fake or symbolic) and
specializes on shapes from then on.
"""

from __future__ import annotations

from .api import CompiledFunction
from .options import Options

NAME = "mlirfuse"


def mlirfuse_backend(gm, example_inputs, **options):
    """Dynamo backend entry point (also the `torch_dynamo_backends` entry point)."""
    options = dict(options.get("options") or {}, **{k: v for k, v in options.items() if k != "options"})
    compiled = CompiledFunction(gm, Options.from_kwargs(options))

    def run(*args):
        return compiled(*args)

    run.compiled = compiled
    return run


def register_backend() -> None:
    """Registers the backend with dynamo under "mlirfuse" (once)."""
    from torch._dynamo.backends import registry

    if NAME not in registry._COMPILER_FNS:
        registry.register_backend(mlirfuse_backend, name=NAME)
