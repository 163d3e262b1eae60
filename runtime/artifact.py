"""Running an ahead-of-time artifact (compiler/aot.py wrote it) with torch alone.

Not imported by compilation, and imports nothing of torch-mlir: a process that only runs
artifacts never loads LLVM. An artifact is a folder:

  manifest.json  the calling convention: the format, torch's version, each graph input
                 (an argument by position, or state: a tensor saved with the artifact),
                 the sizes, strides and dtype the code was built for, the results' sizes
                 and dtypes, where each output leaf comes from, the output's pytree spec;
                 the extern calls' specs; for CUDA also the chip, the alignment the
                 code assumes, its workspace's bytes, whether it calls cuBLAS or cuDNN;
  code.so        the compiled code (position-independent, linked with no library: the
                 runtime's libraries, built here from mlirfuse's C sources as for any
                 compile, are loaded first, global, and lend it their symbols); CUDA's is
                 the host code, its kernels inside, loaded by its constructors;
  state.pt       the parameters, buffers and constants, as exported (frozen), on the CPU.

`load(path)` returns an Artifact: calling it checks the arguments' count and types, runs the
code (whose guards check every size and stride) and raises GuardError naming the argument
a call breaks (there is nothing to recompile with). Extern calls (torch's kernels called
from the code) take the extern library, built here against this torch (about 10 s once).
"""

from __future__ import annotations

import ctypes
import json
import os

import torch
from torch.utils import _pytree as pytree

from ..compiler import index_checks  # torch only
from . import cpu_runtime, extern, native
from .memref import ArgumentLayout

FORMAT = 3  # 2: CUDA artifacts, extern calls; 3: extern calls on channels-last buffers
ALIGN = 16  # bytes; CUDA code built for aligned data checks it (compiled_graph.ALIGN)


class ArtifactError(RuntimeError):
    """An artifact that cannot be loaded here (its format, its files)."""


def _load_global(paths: list[str]) -> None:
    """Loads the libraries at `paths` with their symbols global (the artifact's code names
    none of them: it takes their functions from the global scope)."""
    for p in paths:
        ctypes.CDLL(p, mode=os.RTLD_NOW | os.RTLD_GLOBAL)


class Artifact:
    """A loaded artifact: `artifact(*tensors)` as the exported function was called.

    Args:
      path: the artifact's folder.
      device: where a CUDA artifact runs (a CUDA device of the chip it was built for;
        default: the current one). CPU artifacts run on the CPU.
    """

    def __init__(self, path: str, device: "torch.device | str | int | None" = None):
        from ..compiler.errors import GuardError  # errors.py imports neither torch-mlir

        self._guard_error = GuardError
        try:
            with open(os.path.join(path, "manifest.json")) as f:
                self.manifest = m = json.load(f)
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{path}: no readable manifest.json ({e})") from None
        if m.get("format") != FORMAT:
            raise ArtifactError(f"{path}: artifact format {m.get('format')}, this mlirfuse "
                                f"reads {FORMAT}")
        self.device = self._device(path, device)
        self.state = [t.to(self.device) for t in
                      torch.load(os.path.join(path, "state.pt"), weights_only=True)]
        self._inputs = m["inputs"]
        self._results = [(tuple(shape), getattr(torch, dtype.removeprefix("torch.")))
                         for shape, dtype in m["results"]]
        ranks = [len(i["sizes"]) for i in self._inputs] + [len(s) for s, _ in self._results]
        specs = m["extern_specs"]
        self._extern = bool(specs)
        try:
            if specs:  # torch's kernels, called from the code through the extern library
                _load_global([extern.library_path()])
            if self.device.type == "cuda":
                from . import cuda

                _load_global([cuda.library_path()])
                self._workspace = m["workspace"]
                self._code = cuda.CudaExecutable.from_library(
                    os.path.join(path, "code.so"), ranks + ([1] if m["workspace"] is not None
                                                            else []),
                    self.device.index, m["gemm"], m["convolutions"], specs)
            else:
                # The runtime's libraries lend code.so their symbols (OpenMP, BLAS, conversions).
                cpu_runtime.load()
                extern.prepare_all(specs)
                self._code = native.HostLibrary(os.path.join(path, "code.so"))
                self._address = self._code.address("_mlir__mlir_ciface_main")
                self._layout = ArgumentLayout(ranks)
                self._errors = extern.errors_address() if self._extern else 0
        except (OSError, RuntimeError, native.BuildError) as e:  # (CudaError, ExternError)
            raise ArtifactError(f"{path}: the code does not load here: {e}") from None
        self._out_spec = pytree.treespec_loads(m["out_spec"])
        self._index_checks = [index_checks.IndexCheck(*c) for c in m.get("index_checks", [])]

    def __call__(self, *args):
        m = self.manifest
        if len(args) != m["arguments"] or not all(isinstance(a, torch.Tensor) for a in args):
            raise TypeError(f"this artifact takes {m['arguments']} tensors, got "
                            f"({', '.join(type(a).__name__ for a in args)})")
        if torch.is_grad_enabled() and any(a.requires_grad for a in args):
            raise RuntimeError("an artifact computes forward values only: call it under "
                               "torch.no_grad() or with tensors that do not require grad")
        ins = [args[i["index"]] if i["kind"] == "user" else self.state[i["index"]]
               for i in self._inputs]
        for n, (i, t) in enumerate(zip(self._inputs, ins)):
            if str(t.dtype) != i["dtype"] or t.device != self.device:
                raise self._guard_error(f"{self._name(n)}: {t.dtype} on {t.device}, built "
                                        f"for {i['dtype']} on {self.device}")
        if self._index_checks:  # IndexError as eager's, before the code reads out of bounds
            index_checks.run(self._index_checks, ins)
        outs = [torch.empty(shape, dtype=dtype, device=self.device)
                for shape, dtype in self._results]
        status = self._run(ins, outs)
        if status:
            n = status - 1
            got = ins[n]
            i = self._inputs[n]
            aligned = "" if not m.get("aligned") or got.data_ptr() % ALIGN == 0 else \
                f", data not {ALIGN}-byte aligned (built for aligned data)"
            raise self._guard_error(
                f"{self._name(n)}: sizes {tuple(got.shape)} strides {tuple(got.stride())}"
                f"{aligned}, built for sizes {tuple(i['sizes'])} strides {tuple(i['strides'])} "
                "(an artifact does not recompile: export it for these sizes)")
        leaves = []
        for leaf in m["outputs"]:
            kind, index = leaf["kind"], leaf.get("index", -1)
            value = outs[index] if kind == "result" else args[index] if kind == "input" \
                else self.state[index] if kind == "state" else leaf["value"]
            if "scalar" in leaf:
                value = {"int": int, "float": float, "bool": bool}[leaf["scalar"]](value.item())
            leaves.append(value)
        return pytree.tree_unflatten(leaves, self._out_spec)

    def _run(self, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> int:
        """Runs the code; returns its guard status."""
        if self.device.type == "cuda":
            scratch = [] if self._workspace is None else \
                [torch.empty(self._workspace, dtype=torch.uint8, device=self.device)]
            return self._code(ins + outs + scratch)  # (raises CudaError, ExternError)
        return extern.checked(self._layout.call(self._address, ins + outs, self._errors))

    def _device(self, path: str, device) -> torch.device:
        """Where the code runs: the CPU, or the CUDA device asked for (of the chip the
        code was built for)."""
        built = self.manifest["device"]
        if built == "cpu":
            if device is not None and torch.device(device).type != "cpu":
                raise ArtifactError(f"{path}: built for the CPU, asked to run on {device}")
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise ArtifactError(f"{path}: built for CUDA, and this process has no CUDA device")
        device = torch.device("cuda", torch.cuda.current_device()) if device is None else \
            torch.device(device) if not isinstance(device, int) else torch.device("cuda", device)
        if device.type != "cuda":
            raise ArtifactError(f"{path}: built for CUDA, asked to run on {device}")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        chip = list(torch.cuda.get_device_capability(device))
        if chip != self.manifest["capability"]:
            raise ArtifactError(f"{path}: built for a chip of compute capability "
                                f"{self.manifest['capability']}, {device} is {chip}")
        return device

    def _name(self, n: int) -> str:
        i = self._inputs[n]
        return f"argument {i['index']}" if i["kind"] == "user" else \
            f"saved tensor {i.get('name') or i['index']}"


def load(path: str, device=None) -> Artifact:
    """Loads the artifact folder `path` (mlirfuse.export wrote it) to run here; a CUDA
    artifact on `device` (default: the current CUDA device)."""
    return Artifact(path, device)
