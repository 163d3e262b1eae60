"""Where a compiled function runs eager PyTorch instead (a mixin of api.CompiledFunction):
a graph that cannot be captured whole goes to dynamo, which splits it into graphs compiled
on their own; what cannot be compiled at all, or held tensors that need autograd, run
eager; every such call is counted (stats' fallbacks and eager ops)."""

from __future__ import annotations

import warnings

import torch

from . import stats as stats_mod
from .concurrency import COMPILE_LOCK
from .errors import CompileError, InternalErrorWarning, raised_at
from .inspection import graph_ops


class Fallbacks:
    """The eager routes of a CompiledFunction (its `fn`, `options`, `stats`, `_dynamo`,
    `_children`, `_capture_error`)."""

    def _eager(self, args: tuple, eager_ops: int = 0):
        stats_mod.count(self.stats, "fallbacks")
        stats_mod.ran(self.stats, 0, eager_ops)
        return self.fn(*args)

    def _eager_for_autograd(self, args: tuple):
        """A tensor the function holds (not an argument, not a parameter of its module)
        requires grad under grad mode: eager, so that backward reaches it."""
        if not self._warned_autograd:
            warnings.warn("mlirfuse: a tensor the function holds requires grad and grad mode "
                          "is on, so this call runs eager PyTorch (pass it as an argument, or "
                          "make it a parameter of the module, to compile forward and backward)",
                          stacklevel=3)
            self._warned_autograd = True
        return self._eager(args)

    def _not_compiled(self, error: Exception) -> None:
        """Compiling failed before a graph could be partitioned: raise (on_unsupported=
        "error"); else let dynamo split a function that torch.export cannot capture whole
        (its graphs compile as functions of their own), and run eager a graph dynamo
        handed over that cannot be captured, or what failed inside mlirfuse (a bug: a
        warning says so)."""
        if self.options.on_unsupported == "error":
            raise error
        self._capture_error = error if isinstance(error, CompileError) else CompileError(
            f"{type(error).__name__}: {error}", stage="internal")
        if isinstance(error, CompileError) and error.stage == "capture" \
                and not isinstance(self.fn, torch.fx.GraphModule):
            children, options, compiled_function = self._children, self.options, type(self)

            def backend(gm, example_inputs):
                child = compiled_function(gm, options)
                children.append(child)
                return child

            self._dynamo = torch.compile(self.fn, backend=backend, dynamic=False)
            return
        if not isinstance(error, CompileError):
            warnings.warn(f"mlirfuse: internal error while compiling, the function runs eager "
                          f"PyTorch: {type(error).__name__}: {error}{raised_at(error)}",
                          InternalErrorWarning, stacklevel=4)
        self._dynamo = self.fn

    def _eager_ops(self) -> int:
        return graph_ops(self.fn) if isinstance(self.fn, torch.fx.GraphModule) else 1

    def _run_dynamo(self, args: tuple):
        if self._dynamo is self.fn:
            return self._eager(args, self._eager_ops())
        result = self._dynamo(*args)
        # The Python between dynamo's graphs ran eager: at least one op (what could not
        # be captured), one per graph break where there are several graphs.
        breaks = max(1, len(self._children) - 1)
        stats_mod.ran(self.stats, sum(c.stats.kernels for c in self._children),
                      sum(c.stats.eager_ops for c in self._children) + breaks,
                      sum(c.stats.extern_calls for c in self._children))
        return result

    def _run_not_compiled(self, error: Exception, args: tuple):
        """Eager first: arguments eager rejects raise eager's error, and the function stays
        as it is; otherwise later calls take the route _not_compiled sets."""
        result = self._eager(args, self._eager_ops())
        with COMPILE_LOCK:
            if self._dynamo is None:
                self._not_compiled(error)
        return result
