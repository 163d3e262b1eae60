"""One specialization: a graph compiled for one set of argument shapes, dtypes and constants.

Building it runs the whole compile (capture → import → stages → JIT); calling
it is the hot path: resolve the graph's inputs (user tensors, the module's
current parameters and buffers), allocate the outputs with torch, run, write
back in-place mutations, and rebuild the user's result structure.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import torch
import torch.utils._pytree as pytree

from . import capture as capture_mod
from . import driver, importer, index_checks
from .context import make_context
from .options import Options
from ..runtime.engine import Executable

ALIGN = 16  # bytes of the GPU code's vector loads and stores

# Status of a call that needs autograd: compiled code is inference only.
NEEDS_AUTOGRAD = -1

# Ops that are a kernel of their own at the "loops" stage (CPU) or the "gpu" stage.
_LOOP_NESTS = ("scf.for", "scf.parallel", "scf.forall", "omp.parallel", "gpu.launch_func")


def _loop_nests(region) -> int:
    count = 0
    for block in region.blocks:
        for o in block.operations:
            name = o.operation.name
            if name in _LOOP_NESTS:
                count += 1
            elif name == "scf.if":  # the guard check: kernels run inside it
                count += sum(_loop_nests(r) for r in o.operation.regions)
    return count


def count_kernels(module) -> int:
    """Counts the outermost loop nests of each function: the kernels a call runs."""
    return sum(_loop_nests(op.operation.regions[0]) for op in module.body.operations
               if op.operation.name == "func.func")


def graph_inputs(captured: capture_mod.Captured, args: tuple) -> list[torch.Tensor]:
    """The tensors of the graph's inputs for `args`: user tensors, parameters, constants."""
    tensors = capture_mod.split_args(args)[0]
    out = []
    for inp in captured.inputs:
        if inp.kind == "user":
            out.append(tensors[inp.index])
        elif inp.kind == "state":
            out.append(capture_mod.state_getter(inp.path)(captured.module))
        else:
            out.append(inp.value)
    return out


def _attach_example_strides(module, tensors: list[torch.Tensor]) -> None:
    """Records the example inputs' strides on @main for mlirfuse-insert-guards."""
    from torch_mlir import ir

    from .passes.insert_guards import EXAMPLE_STRIDES

    with module.context:
        fn = next(op.operation for op in module.body.operations
                  if op.operation.name == "func.func")
        fn.attributes[EXAMPLE_STRIDES] = ir.ArrayAttr.get(
            [ir.DenseI64ArrayAttr.get(list(t.stride())) for t in tensors])


def target_device(options: Options, examples: list[tuple[int, torch.Tensor]],
                  describe: Callable[[int], str]) -> torch.device:
    """The device to compile for: the option's, else the tensors' (all on one device).

    Args:
      examples: (graph input index, tensor) of the arguments, parameters and buffers.
    """
    if options.device is not None:
        device = torch.device(options.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    else:
        devices = {t.device for _, t in examples if t.device.type != "cpu"}
        if len(devices) > 1:
            raise capture_mod.CompileError(
                f"tensors on several devices ({sorted(map(str, devices))}): one compiled "
                "function runs on one device", stage="capture")
        device = devices.pop() if devices else torch.device("cpu")
    if device.type not in ("cpu", "cuda"):
        raise capture_mod.CompileError(f"tensors on {device}: mlirfuse compiles for the CPU "
                                       "and NVIDIA GPUs (cuda)", stage="capture")
    for i, t in examples:
        if t.device != device:
            raise capture_mod.CompileError(
                f"{describe(i)} is on {t.device}, but the code is compiled for {device}",
                stage="capture")
    return device


def target_name(device: torch.device, options: Options) -> str:
    """The driver's target for a device: "cpu", or "cuda:<chip>"."""
    if device.type == "cpu":
        return "cpu"
    chip = options.chip
    if chip is None:
        major, minor = torch.cuda.get_device_capability(device)
        chip = f"sm_{major}{minor}"
    return f"cuda:{chip}"


def lower(fn: Callable, args: tuple, options: Options, stop_after: str,
          target: str = "cpu"):
    """Captures `fn(*args)` and runs the stages up to `stop_after` ("raw" stops after import).

    Returns:
      (Captured, the module at that stage, the StageRecord of stage texts).
    """
    captured = capture_mod.capture(fn, args)
    module, record = lower_captured(captured, graph_inputs(captured, args), options,
                                    stop_after, target)
    return captured, module, record


def lower_captured(captured: capture_mod.Captured, examples: list[torch.Tensor],
                   options: Options, stop_after: str, target: str = "cpu"):
    """Imports a captured graph and runs the stages up to `stop_after`.

    Returns:
      (the module at that stage, the StageRecord of stage texts).
    """
    module = importer.import_graph(captured.graph_module, make_context())
    _attach_example_strides(module, examples)
    record = driver.StageRecord()
    record.texts["raw"] = str(module)
    if stop_after != "raw":
        driver.run_stages(module, target=target, stop_after=stop_after, record=record,
                          dump_dir=options.dump_dir, repro_dir=options.repro_dir,
                          fuse=options.fuse)
    return module, record


def _workspace_bytes(text: str) -> int:
    match = re.search(r"mlirfuse\.workspace = (\d+)", text)
    return int(match.group(1)) if match else 0


class Specialization:
    """A compiled graph and its calling convention.

    Attributes:
      stages: IR text per stage ("raw", "torch", "linalg", ..., "llvm").
      kernels: loop nests the compiled code runs per call.
      compile_seconds: wall time of the compile.
    """

    def __init__(self, fn: Callable, args: tuple, options: Options):
        start = time.perf_counter()
        self.captured = capture_mod.capture(fn, args)
        examples = graph_inputs(self.captured, args)
        self.device = target_device(
            options, [(i, t) for i, (t, inp) in enumerate(zip(examples, self.captured.inputs))
                      if inp.kind != "constant"], self.describe)
        target = target_name(self.device, options)
        # GPU code uses 16-byte vector loads when the arguments are that aligned; its guards
        # check it, so a call whose tensors are not fails them (and compiles without).
        self.aligned = self.device.type == "cuda" and all(
            t.data_ptr() % ALIGN == 0 for t in examples)
        if self.device.type == "cuda" and not self.aligned:
            target += ":unaligned"
        kernels_stage = "loops" if target == "cpu" else "gpu"
        module, record = lower_captured(self.captured, examples, options, kernels_stage, target)
        self.kernels = count_kernels(module)
        driver.run_stages(module, target=target, start_after=kernels_stage, record=record,
                          dump_dir=options.dump_dir, repro_dir=options.repro_dir,
                          fuse=options.fuse)
        self.stages = record.texts
        self.workspace = _workspace_bytes(record.texts.get("gpu", ""))
        # Constants captured with the graph live where the code runs.
        self._constants = [i.value.to(self.device) if i.kind == "constant" else None
                           for i in self.captured.inputs]
        try:
            self.expected = [(tuple(t.shape), tuple(t.stride())) for t in examples]
            ranks = [t.dim() for t in examples] + [len(s) for s, _ in self.captured.result_meta]
            if self.device.type == "cuda":
                from ..runtime.cuda import CudaExecutable

                ranks += [1] if self.workspace else []
                self.executable = CudaExecutable(module, ranks, self.device.index,
                                                 opt_level=options.opt_level)
            else:
                self.executable = Executable(module, ranks, opt_level=options.opt_level)
        except Exception as e:
            raise capture_mod.CompileError(f"{type(e).__name__}: {e}", stage="jit") from e
        self.compile_seconds = time.perf_counter() - start
        self._getters = [
            capture_mod.state_getter(i.path) if i.kind == "state" else None
            for i in self.captured.inputs
        ]
        self._mutation_getters = [
            capture_mod.state_getter(t.path) if t.kind == "state" else None
            for t, _ in self.captured.mutations
        ]
        # Index arguments are bounds-checked per call on the CPU (compiled code is not).
        self._index_checks = index_checks.find(self.captured.graph_module) \
            if self.device.type == "cpu" else []

    def describe(self, index: int) -> str:
        """Names graph input `index` for a message."""
        inp = self.captured.inputs[index]
        if inp.kind == "user":
            return f"tensor argument {inp.index}"
        if inp.kind == "state":
            return f"'{inp.path.removeprefix('fn.')}'"
        return f"constant {index}"

    def explain(self, status: int, tensors: list[torch.Tensor]) -> str:
        """Says which argument broke its guard, and how, for a failed status."""
        index = status - 1
        if index >= len(self.expected):
            return f"output {index - len(self.expected)} broke its guard"
        got = self._resolve(self.captured.inputs[index], self._getters[index], tensors)
        shape, strides = self.expected[index]
        if self.aligned and got.data_ptr() % ALIGN:
            return f"{self.describe(index)}: data not {ALIGN}-byte aligned, compiled for aligned data"
        if tuple(got.shape) != shape:
            return f"{self.describe(index)}: sizes {tuple(got.shape)}, compiled for {shape}"
        return f"{self.describe(index)}: strides {tuple(got.stride())}, compiled for {strides}"

    def _resolve(self, inp: capture_mod.Input, getter, tensors: list[torch.Tensor],
                 constant=None):
        if inp.kind == "user":
            return tensors[inp.index]
        if inp.kind == "state":
            return getter(self.captured.module)
        return inp.value if constant is None else constant

    def __call__(self, tensors: list[torch.Tensor]) -> tuple[int, Any]:
        """Runs the compiled code.

        Returns:
          (status, result): status 0 and the user's result when the guards held;
          NEEDS_AUTOGRAD when grad mode is on and an input requires grad (the compiled
          code computes forward values only: the caller runs eager); else 1 + the
          index of the first graph input that broke its guard; result None then.
        """
        cap = self.captured
        ins = [self._resolve(i, g, tensors, c)
               for i, g, c in zip(cap.inputs, self._getters, self._constants)]
        if torch.is_grad_enabled() and any(t.requires_grad for t in ins):
            return NEEDS_AUTOGRAD, None
        if self._index_checks:
            index_checks.run(self._index_checks, ins)
        device = self.device
        outs = [torch.empty(shape, dtype=dtype, device=device) for shape, dtype in cap.result_meta]
        scratch = [torch.empty(self.workspace, dtype=torch.uint8, device=device)] \
            if self.workspace else []
        with torch.no_grad():
            status = self.executable(ins + outs + scratch)
            if status:
                return status, None
            for (target, index), getter in zip(cap.mutations, self._mutation_getters):
                self._resolve(target, getter, tensors).copy_(outs[index])
        it = iter(cap.outputs)
        leaves = []
        for i in range(cap.out_spec.num_leaves):
            if i in cap.out_consts:
                leaves.append(cap.out_consts[i])
                continue
            out = next(it)
            if out.kind == "result":
                leaves.append(outs[out.index])
            elif out.kind == "input":
                leaves.append(tensors[out.index])
            else:  # a parameter or buffer returned as is: the module's own tensor
                leaves.append(capture_mod.state_getter(out.path)(cap.module))
        return 0, pytree.tree_unflatten(leaves, cap.out_spec)
