"""Running an ahead-of-time artifact (compiler/aot.py wrote it) with torch alone.

Not imported by compilation, and imports nothing of torch-mlir: a process that only runs
artifacts never loads LLVM. An artifact is a folder:

  manifest.json  the calling convention: the format, torch's version, each graph input
                 (an argument by position, or state: a tensor saved with the artifact),
                 the sizes, strides and dtype the code was built for, the results' sizes
                 and dtypes, where each output leaf comes from, the output's pytree spec;
  code.so        the compiled code (position-independent, linked with no library: the
                 runtime's libraries, built here from mlirfuse's C sources as for any
                 compile, are loaded first and lend it their symbols);
  state.pt       the parameters, buffers and constants, as exported (frozen).

`load(path)` returns an Artifact: calling it checks the arguments' count and types, runs the
code (whose guards check every size and stride) and raises GuardError naming the argument
a call breaks (there is nothing to recompile with).
"""

from __future__ import annotations

import ctypes
import json
import os

import torch
from torch.utils import _pytree as pytree

from ..compiler import index_checks  # torch only
from . import cpu_runtime, native
from .memref import PACKED, ArgumentLayout

FORMAT = 1


class ArtifactError(RuntimeError):
    """An artifact that cannot be loaded here (its format, its files)."""


class Artifact:
    """A loaded artifact: `artifact(*tensors)` as the exported function was called."""

    def __init__(self, path: str):
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
        if m["device"] != "cpu":
            raise ArtifactError(f"{path}: built for {m['device']}, only CPU artifacts load")
        self.state = torch.load(os.path.join(path, "state.pt"), weights_only=True)
        # The runtime's libraries lend code.so their symbols (OpenMP, BLAS, conversions).
        cpu_runtime.load()
        self._code = native.HostLibrary(os.path.join(path, "code.so"))
        self._fn = PACKED(self._code.address("_mlir__mlir_ciface_main"))
        self._inputs = m["inputs"]
        self._results = [(tuple(shape), getattr(torch, dtype.removeprefix("torch.")))
                         for shape, dtype in m["results"]]
        self._layout = ArgumentLayout([len(i["sizes"]) for i in self._inputs]
                                      + [len(shape) for shape, _ in self._results])
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
            if str(t.dtype) != i["dtype"] or t.device.type != "cpu":
                raise self._guard_error(f"{self._name(n)}: {t.dtype} on {t.device}, built "
                                        f"for {i['dtype']} on cpu")
        if self._index_checks:  # IndexError as eager's, before the code reads out of bounds
            index_checks.run(self._index_checks, ins)
        outs = [torch.empty(shape, dtype=dtype) for shape, dtype in self._results]
        block = self._layout.pack(ins + outs)
        self._fn(ctypes.addressof(block))
        status = block[self._layout.result] & 0xFFFFFFFF
        if status:
            n = status - 1
            got = ins[n]
            i = self._inputs[n]
            raise self._guard_error(
                f"{self._name(n)}: sizes {tuple(got.shape)} strides {tuple(got.stride())}, "
                f"built for sizes {tuple(i['sizes'])} strides {tuple(i['strides'])} (an "
                "artifact does not recompile: export it for these sizes)")
        leaves = []
        for leaf in m["outputs"]:
            kind, index = leaf["kind"], leaf.get("index", -1)
            value = outs[index] if kind == "result" else args[index] if kind == "input" \
                else self.state[index] if kind == "state" else leaf["value"]
            if "scalar" in leaf:
                value = {"int": int, "float": float, "bool": bool}[leaf["scalar"]](value.item())
            leaves.append(value)
        return pytree.tree_unflatten(leaves, self._out_spec)

    def _name(self, n: int) -> str:
        i = self._inputs[n]
        return f"argument {i['index']}" if i["kind"] == "user" else \
            f"saved tensor {i.get('name') or i['index']}"


def load(path: str) -> Artifact:
    """Loads the artifact folder `path` (mlirfuse.export wrote it) to run here."""
    return Artifact(path)
