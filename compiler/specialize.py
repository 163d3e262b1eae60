"""One specialization: a graph compiled for one set of argument shapes, dtypes and constants.

Building it runs the whole compile (capture → import → stages → JIT); calling
it is the hot path: resolve the graph's inputs (user tensors, the module's
current parameters and buffers), allocate the outputs with torch, run, write
back in-place mutations, and rebuild the user's result structure.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
import torch.utils._pytree as pytree

from mlirfuse.compiler import capture as capture_mod
from mlirfuse.compiler import driver, importer
from mlirfuse.compiler.context import make_context
from mlirfuse.compiler.options import Options
from mlirfuse.runtime.engine import Executable

# Ops that are a loop nest of their own at the "loops" stage.
_LOOP_NESTS = ("scf.for", "scf.parallel", "scf.forall")


def count_kernels(module) -> int:
    """Counts the top-level loop nests of the entry function: the kernels a call runs."""
    count = 0
    for op in module.body.operations:
        if op.operation.name != "func.func":
            continue
        for block in op.regions[0].blocks:
            count += sum(1 for o in block.operations if o.operation.name in _LOOP_NESTS)
    return count


def lower(fn: Callable, args: tuple, options: Options, stop_after: str):
    """Captures `fn(*args)` and runs the stages up to `stop_after` ("raw" stops after import).

    Returns:
      (Captured, the module at that stage, the StageRecord of stage texts).
    """
    captured = capture_mod.capture(fn, args)
    module = importer.import_graph(captured.graph_module, make_context())
    record = driver.StageRecord()
    record.texts["raw"] = str(module)
    if stop_after != "raw":
        driver.run_stages(module, stop_after=stop_after, record=record,
                          dump_dir=options.dump_dir, repro_dir=options.repro_dir)
    return captured, module, record


class Specialization:
    """A compiled graph and its calling convention.

    Attributes:
      stages: IR text per stage ("raw", "torch", "linalg", ..., "llvm").
      kernels: loop nests the compiled code runs per call.
      compile_seconds: wall time of the compile.
    """

    def __init__(self, fn: Callable, args: tuple, options: Options):
        start = time.perf_counter()
        self.captured, module, record = lower(fn, args, options, stop_after="loops")
        self.kernels = count_kernels(module)
        driver.run_stages(module, start_after="loops", record=record,
                          dump_dir=options.dump_dir, repro_dir=options.repro_dir)
        self.stages = record.texts
        try:
            self.executable = Executable(module, self._ranks(args),
                                         opt_level=options.opt_level)
        except Exception as e:
            raise capture_mod.CompileError(f"{type(e).__name__}: {e}", stage="jit") from e
        self.compile_seconds = time.perf_counter() - start
        self._getters = [
            capture_mod.state_getter(i.path) if i.kind == "state" else None
            for i in self.captured.inputs
        ]

    def _ranks(self, args: tuple) -> list[int]:
        """Ranks of the entry function's memref arguments: graph inputs, then results."""
        tensors = capture_mod.split_args(args)[0]
        ranks = []
        for inp in self.captured.inputs:
            if inp.kind == "user":
                ranks.append(tensors[inp.index].dim())
            elif inp.kind == "state":
                ranks.append(capture_mod.state_getter(inp.path)(self.captured.module).dim())
            else:
                ranks.append(inp.value.dim())
        return ranks + [len(shape) for shape, _ in self.captured.result_meta]

    def _resolve(self, inp: capture_mod.Input, getter, tensors: list[torch.Tensor]):
        if inp.kind == "user":
            return tensors[inp.index]
        if inp.kind == "state":
            return getter(self.captured.module)
        return inp.value

    def __call__(self, tensors: list[torch.Tensor]) -> Any:
        cap = self.captured
        ins = [self._resolve(i, g, tensors) for i, g in zip(cap.inputs, self._getters)]
        outs = [torch.empty(shape, dtype=dtype) for shape, dtype in cap.result_meta]
        with torch.no_grad():
            self.executable(ins + outs)
            for target, index in cap.mutations:
                getter = capture_mod.state_getter(target.path) if target.kind == "state" else None
                self._resolve(target, getter, tensors).copy_(outs[index])
        it = iter(cap.outputs)
        leaves = []
        for i in range(cap.out_spec.num_leaves):
            if i in cap.out_consts:
                leaves.append(cap.out_consts[i])
                continue
            out = next(it)
            leaves.append(outs[out.index] if out.kind == "result" else tensors[out.index])
        return pytree.tree_unflatten(leaves, cap.out_spec)
