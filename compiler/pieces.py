"""A partitioned graph's compiled pieces at call time (compiler/partition.py assembles
them): the variants a piece compiles for new strides, and the eager run of one whose
variant did not compile."""

from __future__ import annotations

import warnings

import torch

from .compiled_graph import CompiledGraph
from .concurrency import COMPILE_LOCK


class PieceGuardFailure(Exception):
    """A compiled piece's guards rejected the tensors the graph gave it."""

    def __init__(self, message: str):
        super().__init__(message)


class Piece(torch.nn.Module):
    """A partition's submodule: runs its compiled code. Tensors the eager ops before it
    made with other strides than when it was compiled get a variant of their own
    (compiled then, up to MAX_VARIANTS; then the call fails its guard). A variant that
    does not compile runs the partition's ops eager (`eager`, its FX module; said once,
    counted by `on_eager`), unless `strict` (on_unsupported="error")."""

    MAX_VARIANTS = 4

    @staticmethod
    def _run(variants, ins):
        status, outs, compiled = 1, None, None
        for compiled in variants:
            status, outs = compiled(ins)
            if not status:
                break
        return status, outs, compiled

    def __init__(self, compiled: CompiledGraph, name: str, dtypes: list[torch.dtype],
                 recompile, eager: torch.fx.GraphModule, on_eager, strict: bool):
        super().__init__()
        self.variants = [compiled]
        self.piece = name
        self.dtypes = dtypes
        self.recompile = recompile
        self.eager, self.on_eager, self.strict = eager, on_eager, strict
        self.failed: str | None = None  # why a variant did not compile

    def forward(self, *ins):
        # The guards check sizes and strides; the dtypes of what eager ops made are
        # checked here (an eager op whose result type differs from its trace's).
        for i, (t, dtype) in enumerate(zip(ins, self.dtypes)):
            if t.dtype != dtype:
                raise PieceGuardFailure(f"input {i} of {self.piece}: dtype {t.dtype}, "
                                        f"compiled for {dtype}")
        ins = list(ins)
        seen = self.variants
        status, outs, compiled = self._run(seen, ins)
        if not status:
            return tuple(outs)
        with COMPILE_LOCK:
            variants = self.variants  # another thread may have compiled one meanwhile
            if len(variants) > len(seen):
                status, outs, compiled = self._run(variants[len(seen):], ins)
            if status and len(variants) < self.MAX_VARIANTS and self.failed is None:
                try:
                    compiled = self.recompile(ins)
                except Exception as e:  # the user's call must not fail for it: eager
                    if self.strict:
                        raise
                    self.failed = str(e).splitlines()[0] if str(e) else type(e).__name__
                    warnings.warn(f"mlirfuse: {self.piece} did not compile for the strides "
                                  f"of this call ({self.failed}); its ops run eager for "
                                  "them", stacklevel=2)
                else:
                    self.variants = variants + [compiled]  # swapped in whole: calls read it
                    status, outs = compiled(ins)
        if not status:
            return tuple(outs)
        if self.failed is not None:
            self.on_eager()
            return tuple(self.eager(*ins))
        index = status - 1
        if index < len(ins):
            why = compiled.explain(index, ins[index], f"input {index} of {self.piece}")
        else:
            why = f"output {index - len(ins)} of {self.piece} broke its guard"
        raise PieceGuardFailure(why)
