"""The public compile API: `mlirfuse.compile` and the callable it returns.

A call: a cheap dispatch key (structure, constants, each tensor's dtype, shape,
device, requires_grad) selects the specializations built for it; each runs its
compiled guards (sizes, strides) before any kernel and returns a status. When
none accepts the call, that is a guard failure, handled by the policy
`on_guard_failure`: compile a new specialization (up to `recompile_limit`), run
eager PyTorch, or raise GuardError.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import torch

from . import stats as stats_mod
from . import module_state, warm_start
from .concurrency import COMPILE_LOCK
from .capture import is_fake
from .dispatch import (Key, bind_positional, dispatch_key, erase_sizes,
                       key_difference, symbolic_dims)
from .errors import CompileError, GuardError, InternalErrorWarning
from .fallback import Fallbacks
from .inspection import Inspection
from .options import Options
from .specialize import NEEDS_AUTOGRAD, Specialization
from .stats import Stats


# What CompiledFunction._serve returns when no specialization accepts a call.
_MISS = object()


# Code for symbolic sizes on the GPU (mlirfuse-map-to-gpu, gpu_symbolic.py,
# mlirfuse-workspace): grids computed on the host from the call's sizes, loops inside
# kernels bounded by sizes read at run time, temporaries placed at offsets computed per
# call. On by default since the H200 ran it (session 29: the CUDA suite with it on, GPT-2,
# Llama and their decode loops at 2 compilations, the BENCH workloads at 1.04x their
# static code's time); MLIRFUSE_CUDA_DYNAMIC=0 turns it off (every CUDA size specializes).
CUDA_DYNAMIC = os.environ.get("MLIRFUSE_CUDA_DYNAMIC", "1") != "0"

_SERVED = 4096  # exact Keys remembered for code for symbolic sizes before starting over


class CompiledFunction(Fallbacks, Inspection):
    """A callable that runs `fn` through compiled code.

    A call that needs autograd (grad mode on, and an argument or a parameter of the
    module requires grad) takes the training path: AOTAutograd traces the forward and
    backward once per dispatch key and each graph compiles as a CompiledFunction of its
    own (compiler/training.py), counting into this one's stats.

    Attributes:
      stats: a Stats record (compilations, cache hits, guard failures, fallbacks, and
        the kernels and eager ops of the last call).
    """

    def __init__(self, fn: Callable, options: Options, stats: Stats | None = None,
                 backward: bool = False, symbolic: list[tuple[int, ...]] | None = None):
        self.fn = fn
        # The dimensions per tensor argument that dynamo made symbolic (the backend).
        self._symbolic = symbolic
        self.options = options
        self.stats = Stats() if stats is None else stats
        self.backward = backward  # a backward graph: its compiles are counted apart too
        self._specializations: dict[Key, list[Specialization]] = {}
        # Specializations for symbolic sizes: per tuple of symbolic dimensions, by the Key
        # with those sizes erased (erase_sizes).
        self._dynamic_specs: dict[tuple, dict[Key, list[Specialization]]] = {}
        # Per exact Key seen, the specializations for symbolic sizes that may take it, and
        # the _dynamic_specs they were looked up in (stale once that is replaced).
        self._served: dict[Key, tuple[dict, list[Specialization]]] = {}
        self._dynamic_notes: list[str] = []
        # The symbolic dimensions whose code could not be made (a pass failed on them, or
        # the code differed from eager): not tried again at the next size.
        self._no_dynamic: set[tuple] = set()
        self._training: dict[Key, Any] = {}  # TrainingFunction, or None: dynamo splits it
        self._dynamo_training: Callable | None = None
        self._training_notes: list[str] = []
        self._last: Specialization | None = None
        self._last_key: Key | None = None
        self._modules = module_state.state_modules(fn)
        self._parameters = [p for m in self._modules for p in m.parameters(recurse=False)]
        self._warned_autograd = False
        # When the function cannot be captured whole (torch.export fails: data-dependent
        # Python control flow, int(tensor)...), dynamo runs it, graph by graph.
        self._dynamo: Callable | None = None
        self._children: list[CompiledFunction] = []
        self._capture_error: CompileError | None = None

    def _key(self, args: tuple) -> tuple[Key, list[torch.Tensor]]:
        return dispatch_key(args, self._modules)

    def _compile(self, key: tuple, args: tuple) -> Specialization:
        spec = None
        dims = self._dynamic_request(key)
        if dims is not None and tuple(map(tuple, dims)) in self._no_dynamic:
            dims = None
        if dims is not None:
            try:
                spec = Specialization(self.fn, args, self.options, dynamic=dims)
            except Exception as e:  # no code for symbolic sizes: these sizes, then
                reason = getattr(e, "reason", None) or (str(e).splitlines() or [""])[0]
                self._dynamic_notes.append(f"{type(e).__name__}: {reason}")
                # A capture that failed may be these sizes' (eager rejects them); a
                # compile that failed is the graph's: every size would fail the same way.
                if not (isinstance(e, CompileError) and e.stage == "capture"):
                    self._no_dynamic.add(tuple(map(tuple, dims)))
        if spec is not None:
            dims = tuple(spec.dynamic_dims)
            general = erase_sizes(key, dims)
            table = self._dynamic_specs.get(dims, {})
            # New containers, swapped in: threads calling meanwhile iterate the old ones.
            self._dynamic_specs = {**self._dynamic_specs, dims: {
                **table, general: [spec] + table.get(general, [])}}
        else:
            spec = warm_start.specialization(self.fn, args, self.options,
                                             warm=not self.backward and self._symbolic is None)
            self._specializations[key] = [spec] + self._specializations.get(key, [])
        stats_mod.count(self.stats, "compilations")
        if spec.from_cache:
            stats_mod.count(self.stats, "cache_loads")
        if self.backward:
            stats_mod.count(self.stats, "backward_compilations")
        self._last, self._last_key = spec, key
        return spec

    def compile_for(self, *args) -> "CompiledFunction":
        """Compiles a specialization for `args` now, without running it."""
        key, _ = self._key(args)
        with COMPILE_LOCK:
            if self._dynamo is None and next(self._specs_for(key), None) is None:
                try:
                    self._compile(key, args)
                except Exception as e:
                    self._not_compiled(e)
        return self

    def run_first(self, args) -> Any:
        """The call compile_for(*args) was for: the specialization it compiled runs, not
        counted as a cache hit (the call itself, where the compile failed)."""
        args = tuple(args)
        if self._last is None or self._dynamo is not None:
            return self(*args)
        key, tensors = self._key(args)
        return self._run_spec(self._last, key, args, tensors)

    def _specs_for(self, key: Key):
        """The specializations that may take a call with `key`: those for its exact sizes,
        then code for symbolic sizes (looked up only when those decline: the hot path of
        a static specialization stays one dictionary lookup, and so does that of code for
        symbolic sizes for sizes seen before: erasing the sizes cost 7 us a call)."""
        yield from self._specializations.get(key, ())
        tables = self._dynamic_specs
        served = self._served.get(key)
        if served is None or served[0] is not tables:
            served = (tables, [spec for dims, table in tables.items()
                               for spec in table.get(erase_sizes(key, dims), ())])
            if len(self._served) >= _SERVED:
                self._served = {}
            self._served[key] = served
        yield from served[1]

    def _serve(self, key: Key, tensors: list[torch.Tensor], args: tuple):
        """(the result of the first specialization for `key` that accepts the call, None),
        or (_MISS, why the last one rejected it: None when there is none)."""
        reason = None
        for spec in self._specs_for(key):
            status, result = spec(tensors)
            self._count_variants(spec)
            if status == NEEDS_AUTOGRAD:
                return self._eager_for_autograd(args), None
            if status == 0:
                stats_mod.count(self.stats, "cache_hits")
                stats_mod.ran(self.stats, spec.kernels, len(spec.eager), len(spec.externs))
                self._last, self._last_key = spec, key
                return result, None
            reason = spec.explain(status, tensors)
        return _MISS, reason

    def __call__(self, *args, **kwargs):
        if kwargs:
            args = bind_positional(self.fn, args, kwargs)
        if self._dynamo is not None:
            return self._run_dynamo(args)
        key, tensors = self._key(args)
        if is_fake(tensors):
            # Shape propagation while another compiler traces (dynamo's DDPOptimizer runs
            # each compiled piece on fake tensors): the graph itself runs, nothing compiles.
            return self.fn(*args)
        if torch.is_grad_enabled() and (any(t[3] for t in key.tensors)  # requires_grad
                                        or any(p.requires_grad for p in self._parameters)):
            return self._train(key, tensors, args)
        result, _ = self._serve(key, tensors, args)
        if result is not _MISS:
            return result
        with COMPILE_LOCK:
            # Another thread may have compiled what this call needs while it waited.
            result, reason = self._serve(key, tensors, args)
            if result is not _MISS:
                return result
            action, spec, error = self._miss(key, args, reason)
        # What runs user code or compiled code runs outside the lock.
        if action == "dynamo":
            return self._run_dynamo(args)
        if action == "eager":
            return self._eager(args)
        if action == "failed":
            return self._run_not_compiled(error, args)
        return self._run_spec(spec, key, args, tensors)

    def _train(self, key: Key, tensors: list[torch.Tensor], args: tuple):
        """A call that needs autograd: the forward and backward graphs of its key, compiled
        (compiler/training.py)."""
        fn = self._training.get(key, _MISS)
        if fn is _MISS:
            with COMPILE_LOCK:
                fn = self._training.get(key, _MISS)
                if fn is _MISS:
                    return self._first_training_call(key, tensors, args)
        return self._dynamo_training(*args) if fn is None else fn(tensors)

    def _first_training_call(self, key: Key, tensors: list[torch.Tensor], args: tuple):
        """Traces forward and backward together (AOTAutograd); where they cannot be
        (data-dependent Python, .item()), dynamo splits the function into graphs that can,
        each trained as under torch.compile, and the Python between them runs eager."""
        from . import training

        if (self._specializations or self._dynamic_specs or self._training) \
                and self._guard_failed(key_difference(key, self._last_key or key)):
            return self._eager(args)
        self._last_key = key
        make = graph_factory(self.options, self.stats)
        fn = training.TrainingFunction(self.fn, args, make, self._children)
        try:
            result = fn(tensors)
        except Exception as e:
            if self.options.on_unsupported == "error":
                raise CompileError(training.first_line(e), stage="capture") from e
            self._training[key] = None
            self._training_notes.append(
                f"the forward and backward could not be traced together "
                f"({training.first_line(e)}): dynamo split the function into graphs")
            if self._dynamo_training is None:
                def backend(gm, inputs, graphs=self._children):
                    return training.backend_for_training(gm, inputs, make, graphs)
                self._dynamo_training = torch.compile(self.fn, dynamic=False, backend=backend)
            return self._dynamo_training(*args)
        self._training[key] = fn
        return result

    def _guard_failed(self, reason: str) -> bool:
        """A call no compiled code accepts, after the first (which only compiles): counts
        it, raises GuardError under on_guard_failure="error", and says whether the call
        runs eager (policy "eager", or the recompile limit reached) instead of compiling."""
        stats_mod.count(self.stats, "guard_failures")
        if self.options.on_guard_failure == "error":
            raise GuardError(f"mlirfuse: guard failed: {reason}")
        return self.options.on_guard_failure == "eager" \
            or self.stats.compilations >= self.options.recompile_limit

    def _dynamic_request(self, key: Key) -> list[tuple[int, ...]] | None:
        """The dimensions to compile symbolic for a call that missed (dispatch.symbolic_dims),
        None for a backward graph, dynamic=False, or a call on the GPU unless CUDA_DYNAMIC
        (below)."""
        if self.options.dynamic is False or self.backward:
            return None
        if not CUDA_DYNAMIC and ((self.options.device or "cpu") != "cpu" or
                                 any(t[2].type != "cpu" for t in key.tensors)):
            return None
        compiled = list(self._specializations) + [
            k for table in self._dynamic_specs.values() for k in table]
        return symbolic_dims(key, compiled, self.options.dynamic, self._symbolic)

    def _miss(self, key: Key, args: tuple, reason: str | None):
        """Under the compile lock, decides what a call no specialization accepts does:
        ("compile"d: the new specialization), ("eager"), ("dynamo") or ("failed", error)."""
        if self._dynamo is not None:
            return "dynamo", None, None
        if (self._specializations or self._dynamic_specs) and self._guard_failed(
                reason or key_difference(key, self._last_key)):
            return "eager", None, None
        try:
            return "compiled", self._compile(key, args), None
        except Exception as e:
            if self.options.on_unsupported == "error":
                raise
            return "failed", None, e

    def _count_variants(self, spec: Specialization) -> None:
        n, eager = spec.new_counts()
        if n:
            stats_mod.count(self.stats, "compilations", n)
        if eager:
            stats_mod.count(self.stats, "fallbacks", eager)

    def _run_spec(self, spec: Specialization, key: Key, args: tuple,
                  tensors: list[torch.Tensor]):
        status, result = spec(tensors)
        self._count_variants(spec)
        if status == NEEDS_AUTOGRAD:
            return self._eager_for_autograd(args)
        if status and getattr(spec, "warm", False):  # a warm start's code that does not take
            # what it was keyed for (a bug): compiled the usual way instead, and said so
            warnings.warn(f"mlirfuse: internal error: code from a warm start rejected the "
                          f"arguments it was keyed for ({spec.explain(status, tensors)}); "
                          "compiled again", InternalErrorWarning, stacklevel=3)
            full = spec.full()
            self._specializations[key] = [full if s is spec else s
                                          for s in self._specializations.get(key, [])]
            self._last = full if self._last is spec else self._last
            return self._run_spec(full, key, args, tensors)
        if status:
            raise RuntimeError(f"mlirfuse: internal error: a new specialization rejected the "
                               f"arguments it was built for ({spec.explain(status, tensors)})")
        stats_mod.ran(self.stats, spec.kernels, len(spec.eager), len(spec.externs))
        return result


def compile(fn: Callable, example_inputs: tuple | None = None, **options) -> CompiledFunction:
    """Compiles a module or a function of tensors with mlirfuse.

    Args:
      fn: an nn.Module or a callable taking (possibly nested) tensors and Python scalars.
      example_inputs: a tuple of arguments to compile for at once; without it,
        the first call compiles.
      **options: fields of mlirfuse.compiler.options.Options (on_guard_failure,
        recompile_limit, opt_level, dump_dir, ...).
    Returns:
      A CompiledFunction: call it like `fn`.
    Raises:
      CompileError when the graph cannot be compiled and on_unsupported="error" (by
      default what cannot compile runs eager: see `explain()`).
    """
    compiled = CompiledFunction(fn, Options.from_kwargs(options))
    if example_inputs is not None:
        if not isinstance(example_inputs, tuple):
            example_inputs = (example_inputs,)
        compiled.compile_for(*example_inputs)
    return compiled


def graph_factory(options: Options, stats: Stats) -> Callable:
    """Makes the CompiledFunction of a forward or backward graph (training.py's `make`):
    `options`, counting into `stats`."""
    return lambda gm, backward: CompiledFunction(gm, options, stats=stats, backward=backward)
