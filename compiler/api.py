"""The public compile API: `mlirfuse.compile` and the callable it returns.

A call: a cheap dispatch key (structure, constants, each tensor's dtype, shape,
device, requires_grad) selects the specializations built for it; each runs its
compiled guards (sizes, strides) before any kernel and returns a status. When
none accepts the call, that is a guard failure, handled by the policy
`on_guard_failure`: compile a new specialization (up to `recompile_limit`), run
eager PyTorch, or raise GuardError.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable, NamedTuple

import torch

from .capture import split_args
from .errors import CompileError, GuardError
from .options import Options
from .specialize import NEEDS_AUTOGRAD, Specialization



@dataclasses.dataclass
class Stats:
    """What a compiled function has done.

    Attributes:
      compilations: specializations compiled.
      cache_hits: calls served by a specialization compiled before the call.
      guard_failures: calls whose arguments no compiled specialization accepted.
      fallbacks: calls run by eager PyTorch instead of compiled code (a guard policy, or
        inputs that require grad under grad mode: compiled code is inference only).
      kernels: kernels in the code the last call ran (0 after an eager fallback).
    """

    compilations: int = 0
    cache_hits: int = 0
    guard_failures: int = 0
    fallbacks: int = 0
    kernels: int = 0


def _hashable(x: Any) -> Any:
    try:
        hash(x)
        return (type(x), x)
    except TypeError:
        return (type(x), repr(x))


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
    modes = tuple(m.training for m in modules)  # train() and eval() change the graph
    if all(type(a) is torch.Tensor for a in args) and len({id(a) for a in args}) == len(args):
        return Key((len(args),), tuple(_tensor_key(t) for t in args), modes), list(args)
    tensors, skeleton, spec = split_args(args)
    structure = (spec, tuple(_hashable(x) for x in skeleton))
    return Key(structure, tuple(_tensor_key(t) for t in tensors), modes), tensors


def _modules_of(fn: Callable) -> list[torch.nn.Module]:
    """The modules whose train/eval mode the graph depends on."""
    owner = fn if isinstance(fn, torch.nn.Module) else getattr(fn, "__self__", None)
    return list(owner.modules()) if isinstance(owner, torch.nn.Module) else []


def _key_difference(new: Key, old: Key) -> str:
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


class CompiledFunction:
    """A callable that runs `fn` through compiled code.

    Attributes:
      stats: a Stats record.
    """

    def __init__(self, fn: Callable, options: Options):
        self.fn = fn
        self.options = options
        self.stats = Stats()
        self._specializations: dict[Key, list[Specialization]] = {}
        self._last: Specialization | None = None
        self._last_key: Key | None = None
        self._modules = _modules_of(fn)
        self._warned_autograd = False

    def _key(self, args: tuple) -> tuple[Key, list[torch.Tensor]]:
        return dispatch_key(args, self._modules)

    def _compile(self, key: tuple, args: tuple) -> Specialization:
        spec = Specialization(self.fn, args, self.options)
        self._specializations.setdefault(key, []).insert(0, spec)
        self.stats.compilations += 1
        self._last, self._last_key = spec, key
        return spec

    def compile_for(self, *args) -> "CompiledFunction":
        """Compiles a specialization for `args` now, without running it."""
        key, _ = self._key(args)
        if key not in self._specializations:
            self._compile(key, args)
        return self

    def __call__(self, *args):
        key, tensors = self._key(args)
        reason = None
        for spec in self._specializations.get(key, ()):
            status, result = spec(tensors)
            if status == NEEDS_AUTOGRAD:
                return self._eager_for_autograd(args)
            if status == 0:
                self.stats.cache_hits += 1
                self.stats.kernels = spec.kernels
                self._last, self._last_key = spec, key
                return result
            reason = spec.explain(status, tensors)
        if not self._specializations:  # the first call: compiling is not a failure
            return self._run_new(key, args, tensors)
        self.stats.guard_failures += 1
        if reason is None:
            reason = _key_difference(key, self._last_key)
        policy = self.options.on_guard_failure
        if policy == "error":
            raise GuardError(f"mlirfuse: guard failed: {reason}")
        if policy == "eager" or self.stats.compilations >= self.options.recompile_limit:
            self.stats.fallbacks += 1
            self.stats.kernels = 0
            return self.fn(*args)
        return self._run_new(key, args, tensors)

    def _eager_for_autograd(self, args: tuple):
        """Inputs that require grad under grad mode: eager, so that backward works."""
        if not self._warned_autograd:
            warnings.warn("mlirfuse compiles inference only: inputs or parameters require grad "
                          "and grad mode is on, so this call runs eager PyTorch (wrap the call "
                          "in torch.no_grad() or torch.inference_mode() to run compiled code)",
                          stacklevel=3)
            self._warned_autograd = True
        self.stats.fallbacks += 1
        self.stats.kernels = 0
        return self.fn(*args)

    def _run_new(self, key: tuple, args: tuple, tensors: list[torch.Tensor]):
        spec = self._compile(key, args)
        status, result = spec(tensors)
        if status == NEEDS_AUTOGRAD:
            return self._eager_for_autograd(args)
        if status:
            raise RuntimeError(f"mlirfuse: internal error: a new specialization rejected the "
                               f"arguments it was built for ({spec.explain(status, tensors)})")
        self.stats.kernels = spec.kernels
        return result

    def ir(self, stage: str = "linalg") -> str:
        """Returns the IR text of the last compiled or called specialization at `stage`.

        Stages: "raw" (as imported), "torch", "linalg", "fused", "guarded",
        "kernels", "bufferized", then on the CPU "loops", "llvm", and on CUDA
        "gpu" (launches and outlined kernels), "ptx" (the PTX text), "llvm".
        """
        if self._last is None:
            raise RuntimeError("nothing compiled yet: call the function or pass example_inputs")
        if stage not in self._last.stages:
            raise ValueError(f"unknown stage {stage!r}; stages: {list(self._last.stages)}")
        return self._last.stages[stage]

    @property
    def compile_seconds(self) -> float:
        """Compile time of the last specialization, in seconds."""
        return self._last.compile_seconds if self._last else 0.0


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
      CompileError when the graph cannot be compiled.
    """
    compiled = CompiledFunction(fn, Options.from_kwargs(options))
    if example_inputs is not None:
        if not isinstance(example_inputs, tuple):
            example_inputs = (example_inputs,)
        compiled.compile_for(*example_inputs)
    return compiled
