"""Warm start: a compiled specialization found before capture, loaded with no trace and no JIT.

A process compiling a function another process compiled before found the code in the
caches (the compiled-graph entry, the CPU code's library) only after torch.export had
traced it again: GPT-2 with 12 layers, 5.3 s warm of which capture 3.9. Here the key is
the function's fingerprint (compiler/fingerprint.py: its code, its modules' attributes and
state's metadata, the arguments, torch's state) with everything else that changes the code
(graph_cache.settings), and the entry is what a call needs: the calling convention (where
each graph input comes from, where each output goes, the result's structure), the
sizes the code was built for, its constants, and the name of the code's library on disk
(runtime/cpu_library.py, or the CUDA host library). A hit builds a WarmSpecialization from it: the library is
loaded, nothing traced or compiled.

The entry is written after a cold compile of a specialization that takes it: the graph
compiled whole (extern calls included: their specs are kept and prepared again), static
sizes, no seeding of torch's generator, a result structure torch can serialize. On
CUDA the code is the host library (runtime/host_library.py) whose constructors load the
kernels; the key holds the chip and which arguments were 16-byte aligned. Entries
live with the compiled graphs ("warm-<key>.entry": the same checksum, private folder,
eviction) and are off with them (MLIRFUSE_GRAPH_CACHE=0, dump_dir), or alone
(MLIRFUSE_WARM_START=0). The team cache (team_cache.py) gets each entry with the code's
library inside, once linked: a machine of the team loads it into its own cache folder.
What needs the graph (`compiled.ir(stage)`, `explain()`, an export) compiles it then, from
the caches.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import threading
import time
import warnings

import torch
from torch.utils import _pytree as pytree

from ..runtime import cpu_library
from ..runtime.engine import Executable
from . import capture as capture_mod
from . import collector, graph_cache, index_checks, team_cache
from .compiled_graph import ALIGN, CompiledGraph, _StagesOnDemand
from .fingerprint import Unkeyable, fingerprint
from .options import Options
from .partition import EagerOp, PartitionedGraph
from .specialize import Specialization
from .warm_pieces import WarmPieces, program

FORMAT = 3  # 2: graphs run as pieces (warm_pieces.py); 3: constants' requires_grad
_SCALAR_TYPES = {"int": int, "float": float, "bool": bool}


def specialization(fn, args: tuple, options: Options, warm: bool = True) -> Specialization:
    """The specialization of `fn` for `args`' sizes: from a warm start when a process
    compiled it before, else compiled (and remembered for one); `warm` False: compiled
    (a backward graph, a graph dynamo made symbolic)."""
    with collector.paused():  # (the entry's load and writing too: Specialization's own)
        name = key(fn, args, options) if warm else None
        spec = load(name, fn, args, options) if name else None
        if spec is None:
            spec = Specialization(fn, args, options)
            if name:
                remember(name, spec)
    return spec


def key(fn, args: tuple, options: Options) -> str | None:
    """The warm-start key of compiling `fn(*args)`; None when there is none (caches off,
    a graph dynamo traced, something the fingerprint cannot describe)."""
    if not graph_cache.enabled(options) or not cpu_library.enabled() or \
            os.environ.get("MLIRFUSE_WARM_START", "1") == "0" or \
            isinstance(fn, torch.fx.GraphModule):
        return None
    try:
        tensors, skeleton, spec = capture_mod.split_args(args)
        found = fingerprint(fn, tensors, skeleton, spec)
        # CUDA code: built for the chip, and for 16-byte aligned data where it was.
        found += repr([(torch.cuda.get_device_capability(t.device), t.data_ptr() % 16 == 0)
                       for t in tensors if t.device.type == "cuda"])
    except Unkeyable as e:  # (logged: why a function takes no warm start)
        logging.getLogger(__name__).info("mlirfuse: no warm start: %s", e)
        return None
    except Exception as e:  # noqa: BLE001 - a warm start is optional: compiled as usual
        warnings.warn(f"mlirfuse: warm start: the function's fingerprint failed "
                      f"({type(e).__name__}: {e}); compiled as usual", stacklevel=3)
        return None
    digest = hashlib.sha256(f"{FORMAT}|{found}|{graph_cache.settings(options)}".encode())
    return "warm-" + digest.hexdigest()[:40]


def load(name: str, fn, args: tuple, options: Options) -> "WarmSpecialization | None":
    """The specialization the entry `name` holds, None when there is none or its code is
    no longer on disk."""
    start = time.perf_counter()
    entry = graph_cache.load(name)
    if entry is None or entry.get("format") != FORMAT:
        return None
    device = torch.device(entry["device"])
    try:
        if "pieces" in entry:  # a graph run as pieces (warm_pieces.py)
            executable = [_executable(p, device) for p in entry["pieces"]]
            if None in executable:
                return None
        else:
            executable = _executable(entry, device)
            if executable is None:
                return None
    except (OSError, RuntimeError):  # gone, does not load here, an extern call this torch
        return None                  # lacks (ExternError): compiled again
    return WarmSpecialization(entry, executable, device, fn, args, options, start)


def _executable(code: dict, device: torch.device):
    """The code an entry (or a piece of one) names, loaded; None when its library is
    no longer on disk (nor in the entry)."""
    from ..runtime import native

    path = _library_path({**code, "device": str(device)})
    cpu_library.wait(path)  # this process's link of it still running
    if not native.usable(path, mark_used=True) and not _install(code, path):
        return None
    if device.type == "cpu":
        return Executable.from_library(path, code["ranks"], code["extern_specs"])
    from ..runtime import cuda

    return cuda.CudaExecutable.from_library(path, code["ranks"], device.index, code["gemm"],
                                            code["convolutions"], code["extern_specs"])


def remember(name: str, spec: Specialization) -> None:
    """Writes the entry `name` for `spec` when a warm start can take it (see the module's
    docstring); never raises."""
    try:
        payload = _payload(spec)
    except Exception as e:  # noqa: BLE001 - a constant torch.save refuses...: no entry
        warnings.warn(f"mlirfuse: warm start: the entry could not be made: {e}", stacklevel=3)
        return
    if payload is None:
        return
    graph_cache.put(name, payload, team=False)
    # With the code's library: the team's machines lack it (one library: not pieces').
    if team_cache.active() and "pieces" not in payload:
        thread = getattr(spec.graph.executable, "stored", None)  # the CPU code's link
        threading.Thread(target=_share, args=(name, payload, thread, _library_path(payload)),
                         name="mlirfuse-warm-share").start()


def _share(name: str, payload: dict, link: threading.Thread | None, path: str) -> None:
    if link is not None:
        link.join()
    try:
        with open(path, "rb") as f:
            code = f.read()
    except OSError:  # not linked after all: the team gets the graph's entry only
        return
    team_cache.put(name, graph_cache.encode({**payload, "code": base64.b64encode(code)
                                             .decode()}))


def _library_path(entry: dict) -> str:
    from ..runtime import host_library, native

    if entry["device"] == "cpu":
        return cpu_library.path_of(entry["library"])
    return os.path.join(native.code_folder(host_library.cache_dir()), entry["library"])


def _install(entry: dict, path: str) -> bool:
    """Writes the library a team's entry carries where this process keeps code (private,
    atomically); False when it carries none or it cannot be written."""
    if "code" not in entry:
        return False
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700), "wb") as f:
            f.write(base64.b64decode(entry["code"]))
        os.replace(partial, path)
    except OSError:
        return False
    return True


def _payload(spec: Specialization) -> dict | None:
    graph = spec.graph
    if spec.dynamic_dims is not None or spec._rng:
        return None
    if isinstance(graph, PartitionedGraph):  # a model's layers as pieces: no eager op
        wired = program(graph) if not spec.eager else None
        if wired is None:
            return None
        pieces = [_code(p, spec.device) for p in wired["pieces"]]
        if None in pieces:
            return None
        code = {"pieces": pieces, "program": wired["steps"],
                "piece_outputs": wired["outputs"],
                "kernels": spec.kernels}
    elif isinstance(graph, CompiledGraph):
        code = _code(graph, spec.device)
        if code is None:
            return None
    else:
        return None
    cap = spec.captured
    if any(not isinstance(v, (int, float, bool, str, type(None)))
           for v in cap.out_consts.values()):
        return None
    try:
        out_spec = pytree.treespec_dumps(cap.out_spec)
    except Exception:  # noqa: BLE001 - a custom container torch cannot serialize
        return None
    constants = [c if c is not None else i.value for i, c in zip(cap.inputs, spec._constants)
                 if i.kind == "constant"]
    saved = io.BytesIO()
    torch.save([c.detach().cpu() for c in constants], saved)
    return {
        "format": FORMAT, "device": str(spec.device), **code,
        "externs": [[e.node, e.op, e.source, e.reason] for e in spec.externs],
        "inputs": [_slot(i) for i in cap.inputs],
        "mutations": [[_slot(t), index] for t, index in cap.mutations],
        "outputs": [_slot(o) for o in cap.outputs],
        "out_spec": out_spec,
        "out_consts": [[i, v] for i, v in cap.out_consts.items()],
        "scalars": [[i, kind.__name__] for i, kind in cap.scalars.items()],
        "constants": base64.b64encode(saved.getvalue()).decode(),
        # (saved detached: a constant that requires grad sends a call under grad mode to
        # eager, for backward to reach the tensor the function holds)
        "constants_grad": [bool(c.requires_grad) for c in constants],
        "timings": {k: round(v, 4) for k, v in spec.timings.items()},
    }


def _code(graph: CompiledGraph, device: torch.device) -> dict | None:
    """What loads and calls a compiled graph's code (its library, its calling
    convention), None when its code is not in a library on disk or its workspace's
    size is symbolic."""
    executable, workspace = graph.executable, graph.workspace
    if device.type == "cpu":
        library = executable.library_name
        ranks = []
    else:
        library = os.path.basename(executable.library_path)
        ranks = [1] if workspace is not None else []
    if library is None or not isinstance(workspace, (int, type(None))):
        return None
    return {
        "library": library, "kernels": graph.kernels, "aligned": graph.aligned,
        "gemm": getattr(executable, "gemm", False),
        "extern_specs": list(executable.extern_specs),
        "convolutions": getattr(executable, "_convolutions", False),
        "ranks": [len(s) for s, _ in graph.expected] + [len(s) for s in graph._fixed] + ranks,
        "expected": [[list(s), list(st)] for s, st in graph.expected],
        "results": [[list(s), str(d).removeprefix("torch.")]
                    for s, (_, d) in zip(graph._fixed, graph.shapes.results)],
        "workspace": workspace,
        "index_checks": [[c.position, c.dim, c.size] for c in graph._index_checks],
    }


def _slot(x) -> dict:
    return {"kind": x.kind, "index": x.index, "path": x.path}


class WarmGraph(CompiledGraph):
    """The compiled code of a warm start: CompiledGraph's calls, without its graph. What
    reads the graph (graph_module, shapes, stages) compiles it, from the caches, when asked."""

    def __init__(self, entry: dict, executable, device: torch.device, full):
        self.device = device
        self.executable = executable
        self.aligned = entry["aligned"]
        self.from_cache = True
        self.compile_seconds = 0.0
        self.kernels = entry["kernels"]
        self.workspace = entry["workspace"]
        self.expected = [(tuple(s), tuple(st)) for s, st in entry["expected"]]
        self._fixed = [tuple(s) for s, _ in entry["results"]]
        self._dtypes = [getattr(torch, d) for _, d in entry["results"]]
        self._index_checks = [index_checks.IndexCheck(*c) for c in entry["index_checks"]]
        self._full = full

    def allocate(self, ins: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.empty(s, dtype=d, device=self.device)
                for s, d in zip(self._fixed, self._dtypes)]

    def explain(self, index: int, got: torch.Tensor, name: str) -> str:
        shape, strides = self.expected[index]
        if self.aligned and got.data_ptr() % ALIGN:
            return f"{name}: data not {ALIGN}-byte aligned, compiled for aligned data"
        if tuple(got.shape) != shape:
            return f"{name}: sizes {tuple(got.shape)}, compiled for {shape}"
        return f"{name}: strides {tuple(got.stride())}, compiled for {strides}"

    @property
    def graph_module(self) -> torch.fx.GraphModule:
        return self._full().graph.graph_module

    @property
    def shapes(self):
        return self._full().graph.shapes

    @property
    def stages(self):
        return self._full().stages


class WarmSpecialization(Specialization):
    """A Specialization loaded by a warm start (no capture, no compile). `full()` is the
    specialization compiled the usual way (from the caches), for what needs its graph."""

    warm = True

    def __init__(self, entry: dict, executable, device: torch.device, fn, args: tuple,
                 options: Options, start: float):
        self._fn, self._args, self._options, self._full_spec = fn, args, options, None
        _, skeleton, spec = capture_mod.split_args(args)
        loaded = torch.load(io.BytesIO(base64.b64decode(entry["constants"])), weights_only=True)
        constants = iter([c.requires_grad_() if grad else c
                          for c, grad in zip(loaded, entry["constants_grad"])])
        inputs = [capture_mod.Input(d["kind"], d["index"], d["path"],
                                    next(constants) if d["kind"] == "constant" else None)
                  for d in entry["inputs"]]
        mutations = [(capture_mod.Input(d["kind"], d["index"], d["path"]), index)
                     for d, index in entry["mutations"]]
        outputs = [capture_mod.Output(d["kind"], d["index"], d["path"]) for d in entry["outputs"]]
        self.captured = capture_mod.Captured(
            None, inputs, mutations, outputs, pytree.treespec_loads(entry["out_spec"]),
            {i: v for i, v in entry["out_consts"]},
            {i: _SCALAR_TYPES[k] for i, k in entry["scalars"]},
            capture_mod._Wrapper(fn, skeleton, spec))
        self.graph = WarmPieces(entry, [WarmGraph(p, e, device, self.full) for p, e in zip(
            entry["pieces"], executable)], device, self.full) if "pieces" in entry \
            else WarmGraph(entry, executable, device, self.full)
        self.device = device
        # Constants live where the code runs (saved from the CPU).
        self._constants = [i.value.to(device) if i.kind == "constant" else None
                           for i in inputs]
        self._dynamic = self.dynamic_dims = None
        self._rng = None
        self.eager = []
        self.externs = [EagerOp(*e) for e in entry["externs"]]
        self.kernels = entry["kernels"]
        self.from_cache = True
        self.stages = _StagesOnDemand(self._full_stages, {})
        self._bind_state()
        self.compile_seconds = time.perf_counter() - start
        #: The load's seconds; "cold" holds the compile's timings that made the entry.
        self.timings = {"load": self.compile_seconds, "total": self.compile_seconds}
        self.cold_timings = dict(entry.get("timings", {}))

    def _full_stages(self) -> dict:
        stages = self.full().stages  # (from the graph's cache: made on the first look)
        return {stage: stages[stage] for stage in stages}

    def full(self) -> Specialization:
        """The specialization compiled the usual way (once)."""
        if self._full_spec is None:
            self._full_spec = Specialization(self._fn, self._args, self._options)
        return self._full_spec
