"""One functional FX graph compiled whole for one device: tensors in, tensors out.

Building it runs import → stages → JIT on the graph; calling it is the hot path:
allocate the outputs with torch, run the compiled guards and kernels, and return
the status. A Specialization runs one (a graph that compiles whole) or several,
with eager ops between them (compiler/partition.py).
"""

from __future__ import annotations

import re
import time
from typing import Callable

import torch

from torch_mlir import ir

from . import extern, graph_cache, index_checks, timings
from .errors import CompileError
from .options import Options
from .size_expression import size_expression
from .symbolic import SymbolicShapes
from ..runtime.engine import Executable

ALIGN = 16  # bytes of the GPU code's vector loads and stores

# Ops that are a kernel of their own at the "loops" stage (CPU) or the "gpu" stage.
_LOOP_NESTS = ("scf.for", "scf.parallel", "scf.forall", "omp.parallel", "gpu.launch_func")


def _loop_nests(region) -> int:
    from ..lowering.cpu import share_kernels

    count = 0
    for block in region.blocks:
        for o in block.operations:
            name = o.operation.name
            if name in _LOOP_NESTS or (name == "func.call" and ir.FlatSymbolRefAttr(
                    o.operation.attributes["callee"]).value.startswith(share_kernels.PREFIX)):
                count += 1
            elif name == "scf.if":  # the guard check: kernels run inside it
                count += sum(_loop_nests(r) for r in o.operation.regions)
    return count


def count_kernels(module) -> int:
    """Counts the outermost loop nests of each function and the calls of kernels' shared
    functions (mlirfuse-share-kernels): the kernels a call runs."""
    from ..lowering.cpu import share_kernels

    return sum(_loop_nests(op.operation.regions[0]) for op in module.body.operations
               if op.operation.name == "func.func" and not ir.StringAttr(
                   op.operation.attributes["sym_name"]).value.startswith(share_kernels.PREFIX))


def target_name(device: torch.device, options: Options) -> str:
    """The driver's target for a device: "cpu", or "cuda:<chip>"."""
    if device.type == "cpu":
        return "cpu"
    chip = options.chip
    if chip is None:
        major, minor = torch.cuda.get_device_capability(device)
        chip = f"sm_{major}{minor}"
    return f"cuda:{chip}"


def _attach_examples(module, tensors: list[torch.Tensor], shapes: SymbolicShapes) -> None:
    """Records on @main, for mlirfuse-insert-guards, the example inputs' strides and,
    for a graph with dynamic sizes, each dimension's symbol and the symbols' ranges."""
    from torch_mlir import ir

    from . import importer
    from .passes.insert_guards import EXAMPLE_STRIDES, EXAMPLE_SYMBOLS, SYMBOL_RANGES

    with module.context:
        fn = next(op.operation for op in module.body.operations
                  if op.operation.name == "func.func"
                  and ir.StringAttr(op.operation.attributes["sym_name"]).value == importer.ENTRY)
        fn.attributes[EXAMPLE_STRIDES] = ir.ArrayAttr.get(
            [ir.DenseI64ArrayAttr.get(list(t.stride())) for t in tensors])
        if shapes.dynamic:
            fn.attributes[EXAMPLE_SYMBOLS] = ir.ArrayAttr.get(
                [ir.DenseI64ArrayAttr.get(names) for names in shapes.example_symbols])
            fn.attributes[SYMBOL_RANGES] = ir.DenseI64ArrayAttr.get(
                [bound for pair in shapes.ranges for bound in pair])


class _DevicesOnCpu:
    """While imported, tensors the graph creates (torch.zeros, arange...) name the CPU:
    torch-mlir lowers only the CPU's (`empty.memory_format` on a cuda device fails to
    legalize), and where the code runs is the target's business. The graph itself keeps
    its devices: its eager ops run where the user asked."""

    def __init__(self, gm: torch.fx.GraphModule):
        self.changed = [(n, n.kwargs["device"]) for n in gm.graph.nodes
                        if n.op == "call_function"
                        and isinstance(n.kwargs.get("device"), torch.device)
                        and n.kwargs["device"].type != "cpu"]

    def __enter__(self):
        for node, _ in self.changed:
            node.update_kwarg("device", torch.device("cpu"))

    def __exit__(self, *exc):
        for node, device in self.changed:
            node.update_kwarg("device", device)


def lower_graph(gm: torch.fx.GraphModule, examples: list[torch.Tensor], options: Options,
                stop_after: str, target: str = "cpu", shapes: SymbolicShapes | None = None,
                keep: frozenset[str] | None = None):
    """Imports a functional graph and runs the stages up to `stop_after` ("raw": none),
    recording the texts of the stages in `keep` (None: all; driver.run_stages).

    Returns:
      (the module at that stage, the StageRecord of stage texts).
    """
    # The stages' modules (the dialects' Python, every pass) load on a first compile:
    # a warm start (warm_start.py) runs none of them.
    from . import driver, importer
    from .context import make_context

    with _DevicesOnCpu(gm), timings.phase("import"):
        module = importer.import_graph(gm, make_context())
    extern.replace_calls(module, gm)
    _attach_examples(module, examples, shapes or SymbolicShapes(gm))
    record = driver.StageRecord()
    if keep is None or "raw" in keep or options.dump_dir:
        record.texts["raw"] = str(module)
    if stop_after != "raw":
        driver.run_stages(module, target=target, stop_after=stop_after, record=record,
                          dump_dir=options.dump_dir, repro_dir=options.repro_dir,
                          fuse=options.fuse, keep=keep)
    return module, record


def _workspace_spec(text: str) -> int | str | None:
    """The bytes of the workspace argument mlirfuse-workspace added, or None: none added;
    with symbolic sizes, the expression (size_expression) of the call's tensors (inputs
    then outputs) giving them. (0 bytes is an argument too: temporaries of no elements.
    Taken for none, the call passed one argument fewer and the host code crashed: a
    cumsum of a [0, 8] tensor.)"""
    match = re.search(r"mlirfuse\.workspace = (\d+)", text)
    if match:
        return int(match.group(1))
    match = re.search(r'mlirfuse\.workspace = "([^"]*)"', text)
    return match.group(1) if match else None


def _workspace_bytes(text: str) -> int | Callable[[list[torch.Tensor]], int] | None:
    """The workspace's bytes (_workspace_spec), an expression made a function of the
    call's tensors."""
    return _as_bytes(_workspace_spec(text))


def _as_bytes(spec: int | str | None) -> int | Callable[[list[torch.Tensor]], int] | None:
    return size_expression(spec) if isinstance(spec, str) else spec


class _StagesOnDemand(dict):
    """The stage texts of a compiled graph: those kept (the final one; all of them with a
    dump_dir), the others made on the first look at one (the stages run again; the code
    keeps running). Code loaded from the compiled-graph cache knows the final one only."""

    def __init__(self, make: Callable[[], dict], known: dict):
        super().__init__(known)
        self._make = make

    def _fill(self) -> None:
        if self._make is not None:
            make, self._make = self._make, None
            known = dict(self)
            self.clear()
            self.update(make())  # (in the stages' order)
            self.update(known)

    def __contains__(self, stage) -> bool:
        if not super().__contains__(stage):
            self._fill()
        return super().__contains__(stage)

    def __getitem__(self, stage):
        if not super().__contains__(stage):
            self._fill()
        return super().__getitem__(stage)

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def get(self, stage, default=None):
        return self[stage] if stage in self else default


class CompiledGraph:
    """A functional graph (placeholders in, a tuple of tensors out) compiled for a device.

    Args:
      gm: the graph; every placeholder's meta "val" and every result's are set.
      examples: one tensor per placeholder, for the strides and alignment compiled for.
      device: where the code runs.
    Attributes:
      stages: IR text per stage ("raw", "torch", "linalg", ..., "llvm").
      kernels: loop nests the compiled code runs per call.
      compile_seconds: wall time of the compile.
      expected: (sizes, strides) of each input, as compiled for.
      aligned: the GPU code assumes 16-byte aligned inputs (its guards check it).
    Raises:
      CompileError naming the stage, the pass, the op and the graph nodes.
    """

    def __init__(self, gm: torch.fx.GraphModule, examples: list[torch.Tensor],
                 device: torch.device, options: Options):
        from . import driver
        from .context import make_context

        start = time.perf_counter()
        self.graph_module = gm
        self.device = device
        self.shapes = SymbolicShapes(gm)
        # Sizes of the results: fixed, or computed per call from the inputs' (dynamic).
        self._fixed = None if self.shapes.dynamic else self.shapes.result_shapes([])
        target = target_name(device, options)
        # GPU code uses 16-byte vector loads when the arguments are that aligned; its guards
        # check it, so a call whose tensors are not fails them (and compiles without).
        self.aligned = device.type == "cuda" and all(t.data_ptr() % ALIGN == 0 for t in examples)
        if device.type == "cuda" and not self.aligned:
            target += ":unaligned"
        cache_key = graph_cache.key(gm, examples, options, target, self.shapes) \
            if graph_cache.enabled(options) else None
        entry = graph_cache.load(cache_key) if cache_key else None
        #: True when the code came from the compiled-graph cache (no stage ran).
        self.from_cache = entry is not None
        # The stage texts not kept are made when asked, by running the stages again: from
        # the examples' strides (what the stages read of them), not holding the tensors.
        shaped = [torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
                  for t in examples]

        def all_stages() -> dict:
            return lower_graph(gm, shaped, options, "llvm", target, self.shapes)[1].texts

        if entry is not None:
            with timings.phase("load"):
                module = ir.Module.parse(entry["module"], make_context())
            self.kernels, workspace = entry["kernels"], entry["workspace"]
            self.stages = _StagesOnDemand(all_stages, {"llvm": entry["module"]})
        else:
            kernels_stage = "loops" if target == "cpu" else "gpu"
            keep = frozenset({"gpu", "llvm"})  # (the workspace's size, the cache's entry)
            module, record = lower_graph(gm, examples, options, kernels_stage, target,
                                         self.shapes, keep)
            self.kernels = count_kernels(module)
            driver.run_stages(module, target=target, start_after=kernels_stage, record=record,
                              dump_dir=options.dump_dir, repro_dir=options.repro_dir,
                              fuse=options.fuse, keep=keep)
            self.stages = _StagesOnDemand(all_stages, record.texts)
            workspace = _workspace_spec(record.texts.get("gpu", ""))
            if cache_key:
                graph_cache.store(cache_key, record.texts["llvm"], self.kernels, workspace)
        self.workspace = _as_bytes(workspace)
        self.expected = [(tuple(t.shape), tuple(t.stride())) for t in examples]
        try:
            ranks = [t.dim() for t in examples] + [len(s) for s, _ in self.shapes.results]
            with timings.phase("jit"):
                if device.type == "cuda":
                    from ..runtime.cuda import CudaExecutable

                    ranks += [1] if self.workspace is not None else []
                    self.executable = CudaExecutable(module, ranks, device.index,
                                                     opt_level=options.opt_level)
                else:
                    self.executable = Executable(module, ranks, opt_level=options.opt_level)
        except Exception as e:
            raise CompileError(f"{type(e).__name__}: {e}", stage="jit") from e
        # Index arguments are bounds-checked per call on the CPU (compiled code is not).
        self._index_checks = index_checks.find(gm) if device.type == "cpu" else []
        self.compile_seconds = time.perf_counter() - start

    def explain(self, index: int, got: torch.Tensor, name: str) -> str:
        """Says how input `index` (called `name`) broke its guard."""
        shape, strides = self.expected[index]
        if self.aligned and got.data_ptr() % ALIGN:
            return f"{name}: data not {ALIGN}-byte aligned, compiled for aligned data"
        if self.shapes.dynamic:
            names = self.shapes.example_symbols[index]
            compiled = tuple(str(self.shapes.symbols[n]) if n >= 0 else str(s)
                             for n, s in zip(names, shape))
            return f"{name}: sizes {tuple(got.shape)} strides {tuple(got.stride())}, " \
                   f"compiled for sizes {compiled}, contiguous, where " \
                   f"{self.shapes.describe()}"
        if tuple(got.shape) != shape:
            return f"{name}: sizes {tuple(got.shape)}, compiled for {shape}"
        return f"{name}: strides {tuple(got.stride())}, compiled for {strides}"

    def __call__(self, ins: list[torch.Tensor]) -> tuple[int, list[torch.Tensor] | None]:
        """Runs the code on `ins`.

        Returns:
          (0, the results) when the guards held; else (1 + the index of the first
          input, or of an output after the inputs, that broke its guard, None).
        """
        if self._index_checks:
            index_checks.run(self._index_checks, ins)
        return self.run_into(ins, self.allocate(ins))

    def allocate(self, ins: list[torch.Tensor]) -> list[torch.Tensor]:
        """Empty result tensors for a call with inputs `ins`."""
        sizes = self._fixed if self._fixed is not None else \
            self.shapes.result_shapes(self.shapes.bind(ins))
        return [torch.empty(shape, dtype=dtype, device=self.device)
                for shape, (_, dtype) in zip(sizes, self.shapes.results)]

    def run_into(self, ins: list[torch.Tensor], outs: list[torch.Tensor]
                 ) -> tuple[int, list[torch.Tensor] | None]:
        """Runs the code on `ins`, writing the results into `outs` (allocate's sizes)."""
        device = self.device
        workspace = self.workspace
        if callable(workspace):  # symbolic sizes: its bytes for this call's sizes
            workspace = workspace(ins + outs)
        scratch = [torch.empty(workspace, dtype=torch.uint8, device=device)] \
            if workspace is not None else []
        status = self.executable(ins + outs + scratch)
        return (status, None) if status else (0, outs)
