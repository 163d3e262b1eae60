"""The registry of mlirfuse passes: pass argument → the module that defines it (imported lazily)."""

from __future__ import annotations

import importlib

from mlirfuse.compiler.passes.base import Pass, PassError

# One pass, one name everywhere: file compiler/passes/<name>.py, argument
# mlirfuse-<name with dashes>, lit test test/passes/<name with dashes>.mlir.
REGISTRY = {
    "mlirfuse-bubble-up-slices": "bubble_up_slices",
    "mlirfuse-concat-to-select": "concat_to_select",
    "mlirfuse-conv-bias-epilogue": "conv_bias_epilogue",
    "mlirfuse-conv-to-gemm": "conv_to_gemm",
    "mlirfuse-destination-style-abi": "destination_style_abi",
    "mlirfuse-drop-asserts": "drop_asserts",
    "mlirfuse-drop-destination-results": "drop_destination_results",
    "mlirfuse-expand-math": "expand_math",
    "mlirfuse-fold-accumulation": "fold_accumulation",
    "mlirfuse-form-fusion-groups": "form_fusion_groups",
    "mlirfuse-fuse-multi-use": "fuse_multi_use",
    "mlirfuse-insert-guards": "insert_guards",
    "mlirfuse-library-conv": "library_conv",
    "mlirfuse-library-gemm": "library_gemm",
    "mlirfuse-lower-guards": "lower_guards",
    "mlirfuse-map-to-gpu": "map_to_gpu",
    "mlirfuse-outline-fusion-groups": "outline_fusion_groups",
    "mlirfuse-reduce-in-lanes": "reduce_in_lanes",
    "mlirfuse-serialize-ptx": "serialize_ptx",
    "mlirfuse-shield-contractions": "shield_contractions",
    "mlirfuse-simplify-math": "simplify_math",
    "mlirfuse-split-reductions": "split_reductions",
    "mlirfuse-tile-kernels": "tile_kernels",
    "mlirfuse-vectorize-kernels": "vectorize_kernels",
    "mlirfuse-workspace": "workspace",
}


def lookup(argument: str) -> type[Pass]:
    """Returns the pass class registered under `argument`.

    Raises:
      KeyError if no mlirfuse pass has that argument.
    """
    module = importlib.import_module(f"mlirfuse.compiler.passes.{REGISTRY[argument]}")
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Pass) and obj.ARGUMENT == argument:
            return obj
    raise KeyError(argument)


__all__ = ["Pass", "PassError", "REGISTRY", "lookup"]
