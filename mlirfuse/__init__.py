"""mlirfuse: a compiler for PyTorch graphs built on MLIR.

    compiled = mlirfuse.compile(model, example_inputs=(x,))
    y = compiled(x)

or, through dynamo, ``torch.compile(model, backend="mlirfuse")``.

Importing mlirfuse does not import torch (the command-line tools start in a
fraction of a second); the API names load on first use. The torch.compile
backend is registered at import when torch is already imported, when the API
is first used, and otherwise found by dynamo through the `torch_dynamo_backends`
entry point.
"""

import importlib
import sys

__version__ = "0.1.0"

_API = {
    "compile": "mlirfuse.compiler.api",
    "CompiledFunction": "mlirfuse.compiler.api",
    "CompileError": "mlirfuse.compiler.errors",
    "GuardError": "mlirfuse.compiler.errors",
    "InternalErrorWarning": "mlirfuse.compiler.errors",
    "Stats": "mlirfuse.compiler.stats",
    "memory_efficient_fusion": "mlirfuse.compiler.memory_efficient_fusion",
    "export": "mlirfuse.compiler.aot",
    "load": "mlirfuse.runtime.artifact",
}


def stats():
    """The process-wide totals of every compiled function (a Stats: the counters summed;
    kernels and eager_ops summed over every call). Under torch.compile(backend="mlirfuse")
    this is how the compiled graphs' counts are seen."""
    from .compiler import stats as stats_mod

    return stats_mod.totals()


def reset_stats() -> None:
    """Zeroes the process-wide totals of `stats()`."""
    from .compiler import stats as stats_mod

    stats_mod.reset()
__all__ = list(_API) + ["stats", "reset_stats"]


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        if _API[name] == "mlirfuse.compiler.api":  # the API imported torch: dynamo can see us
            _register_backend()
        return value
    raise AttributeError(f"module 'mlirfuse' has no attribute {name!r}")


def _backend(gm, example_inputs, **options):
    """torch.compile(backend="mlirfuse"): compiler/backend.py's, imported at the first
    graph (so `import mlirfuse` loads no torch-mlir: a process that only runs artifacts,
    mlirfuse.load, never does)."""
    from .compiler.backend import mlirfuse_backend

    return mlirfuse_backend(gm, example_inputs, **options)


def _register_backend():
    from torch._dynamo.backends import registry

    if "mlirfuse" not in registry._COMPILER_FNS:
        registry.register_backend(_backend, name="mlirfuse")


if "torch" in sys.modules:
    _register_backend()
