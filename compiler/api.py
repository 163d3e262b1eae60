"""The public compile API: `mlirfuse.compile` and the callable it returns."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

from mlirfuse.compiler.capture import split_args
from mlirfuse.compiler.errors import CompileError
from mlirfuse.compiler.options import Options
from mlirfuse.compiler.backend import register_backend
from mlirfuse.compiler.specialize import Specialization

register_backend()


@dataclasses.dataclass
class Stats:
    """What a compiled function has done.

    Attributes:
      compilations: specializations compiled.
      cache_hits: calls served by a specialization compiled before.
      guard_failures: calls whose arguments matched no compiled specialization.
      fallbacks: calls run by eager PyTorch instead of compiled code.
      kernels: kernels (loop nests) in the code the last call ran.
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


def dispatch_key(tensors: list[torch.Tensor], skeleton: list, spec) -> tuple:
    """What a specialization is built for: structure, constants, and each tensor's type."""
    return (
        spec,
        tuple(_hashable(x) for x in skeleton if x is not None),
        tuple((t.dtype, tuple(t.shape), t.device, t.requires_grad) for t in tensors),
    )


class CompiledFunction:
    """A callable that runs `fn` through compiled code.

    Attributes:
      stats: a Stats record.
    """

    def __init__(self, fn: Callable, options: Options):
        self.fn = fn
        self.options = options
        self.stats = Stats()
        self._specializations: dict[tuple, Specialization] = {}
        self._last: Specialization | None = None

    def _specialization(self, args: tuple) -> tuple[Specialization, list[torch.Tensor]]:
        if all(type(a) is torch.Tensor for a in args):  # the common case: no pytree walk
            tensors = list(args)
            key = (len(args), tuple((t.dtype, t.shape, t.device, t.requires_grad) for t in args))
        else:
            tensors, skeleton, spec = split_args(args)
            key = dispatch_key(tensors, skeleton, spec)
        found = self._specializations.get(key)
        if found is not None:
            self.stats.cache_hits += 1
            return found, tensors
        if self._specializations:
            self.stats.guard_failures += 1
        for t in tensors:
            if t.device.type != "cpu":
                raise CompileError(f"tensor on {t.device}: this version compiles for the CPU only",
                                   stage="capture")
        found = Specialization(self.fn, args, self.options)
        self._specializations[key] = found
        self.stats.compilations += 1
        return found, tensors

    def compile_for(self, *args) -> "CompiledFunction":
        """Compiles a specialization for `args` now, without running it."""
        self._last, _ = self._specialization(args)
        return self

    def __call__(self, *args):
        spec, tensors = self._specialization(args)
        self._last = spec
        self.stats.kernels = spec.kernels
        return spec(tensors)

    def ir(self, stage: str = "linalg") -> str:
        """Returns the IR text of the last compiled or called specialization at `stage`.

        Stages: "raw" (as imported), "torch", "linalg", "bufferized", "loops", "llvm".
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
      **options: fields of mlirfuse.compiler.options.Options.
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
