"""The registry of mlirfuse passes: each pass argument and the folder that holds it.

One pass, one name in three places: pass `mlirfuse-foo-bar` is defined in `foo_bar.py` of
its folder and tested by `test/<folder>/foo-bar.mlir` (test/ mirrors the source). The
folder says which targets run the pass:

  compiler/passes/   every target (fusion groups, guards, the calling convention)
  lowering/cpu/      the CPU target (the CUDA target's host code is CPU code too)
  lowering/cuda/     the CUDA target (GPU mapping, code generation, PTX)

A pass module is imported when its pass is first looked up.
"""

from __future__ import annotations

import importlib

from .passes.base import Pass

# The folder (as a package below mlirfuse) → the targets its passes serve.
FOLDERS = {
    "compiler.passes": "every target",
    "lowering.cpu": "cpu",
    "lowering.cuda": "cuda",
}

REGISTRY = {
    "mlirfuse-bridge-extern-calls": "compiler.passes",
    "mlirfuse-bubble-up-slices": "compiler.passes",
    "mlirfuse-clamp-nan": "compiler.passes",
    "mlirfuse-destination-style-abi": "compiler.passes",
    "mlirfuse-drop-asserts": "compiler.passes",
    "mlirfuse-drop-destination-results": "compiler.passes",
    "mlirfuse-fold-accumulation": "compiler.passes",
    "mlirfuse-form-fusion-groups": "compiler.passes",
    "mlirfuse-fuse-multi-use": "compiler.passes",
    "mlirfuse-insert-guards": "compiler.passes",
    "mlirfuse-library-gemm": "compiler.passes",
    "mlirfuse-lower-guards": "compiler.passes",
    "mlirfuse-outline-fusion-groups": "compiler.passes",
    "mlirfuse-recompute-pointwise": "compiler.passes",
    "mlirfuse-reshape-to-expand": "compiler.passes",
    "mlirfuse-shield-contractions": "compiler.passes",
    "mlirfuse-simplify-math": "compiler.passes",
    "mlirfuse-split-reductions": "compiler.passes",
    "mlirfuse-tile-kernels": "compiler.passes",
    "mlirfuse-verify-backend-contract": "compiler.passes",
    "mlirfuse-widen-half": "compiler.passes",
    "mlirfuse-channels-last-convs": "lowering.cpu",
    "mlirfuse-concat-to-select": "lowering.cpu",
    "mlirfuse-conv-to-gemm": "lowering.cpu",
    "mlirfuse-expand-math": "lowering.cpu",
    "mlirfuse-reduce-in-lanes": "lowering.cpu",
    "mlirfuse-share-kernels": "lowering.cpu",
    "mlirfuse-stack-temporaries": "lowering.cpu",
    "mlirfuse-vectorize-kernels": "lowering.cpu",
    "mlirfuse-align-gemm-rows": "lowering.cuda",
    "mlirfuse-conv-bias-epilogue": "lowering.cuda",
    "mlirfuse-library-conv": "lowering.cuda",
    "mlirfuse-map-to-gpu": "lowering.cuda",
    "mlirfuse-serialize-ptx": "lowering.cuda",
    "mlirfuse-workgroup-buffers": "lowering.cuda",
    "mlirfuse-workspace": "lowering.cuda",
}


def module_name(argument: str) -> str:
    """`mlirfuse-map-to-gpu` → `lowering.cuda.map_to_gpu` (relative to the mlirfuse package)."""
    return f"{REGISTRY[argument]}.{argument.removeprefix('mlirfuse-').replace('-', '_')}"


def target(argument: str) -> str:
    """The targets the pass serves: "every target", "cpu" or "cuda"."""
    return FOLDERS[REGISTRY[argument]]


def lookup(argument: str) -> type[Pass]:
    """Returns the pass class registered under `argument`.

    Raises:
      KeyError if no mlirfuse pass has that argument.
    """
    module = importlib.import_module(f"..{module_name(argument)}", __package__)
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Pass) and obj.ARGUMENT == argument:
            return obj
    raise KeyError(argument)
