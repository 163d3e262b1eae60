"""mlirfuse-show: print the IR of a real model at a chosen stage.

    mlirfuse-show examples/models.py resnet_block --input 1x16x32x32xf32 --stage linalg
    mlirfuse-show my.py MyModule --input 8x64xf32 --input 8xi64 --stage torch

NAME is an nn.Module class (built with no arguments, in eval mode), a function
of tensors, or a function with no parameters returning (model, example_inputs).
Each --input is `DIMSxDTYPE` (`f32`, `f16`, `bf16`, `f64`, `i1`, `i8`, `i16`,
`i32`, `i64`, `ui8`); a bare dtype is a 0-d tensor. The output is a valid
input to mlirfuse-opt, so IR tests can start from real models.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys

DTYPES = {
    "f32": "float32", "f16": "float16", "bf16": "bfloat16", "f64": "float64",
    "i1": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "ui8": "uint8",
}


def make_input(spec: str):
    """Returns a random tensor for a `DIMSxDTYPE` spec such as `4x8xf32`."""
    import torch

    *dims, dtype_name = spec.split("x")
    if dtype_name not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype_name}' in --input {spec}; known: {sorted(DTYPES)}")
    shape = [int(d) for d in dims]
    dtype = getattr(torch, DTYPES[dtype_name])
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    return torch.randint(0, 10, shape, dtype=dtype)


def load(path: str, name: str):
    """Returns the object `name` defined in the Python file at `path`."""
    spec = importlib.util.spec_from_file_location("mlirfuse_show_target", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise AttributeError(f"{path} defines no '{name}'")
    return getattr(module, name)


def resolve(obj, inputs: list):
    """Turns the named object and --input tensors into (callable, example args)."""
    import torch

    if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
        return obj().eval(), tuple(inputs)
    if callable(obj) and not inputs and not inspect.signature(obj).parameters:
        model, example = obj()
        return model, tuple(example)
    return obj, tuple(inputs)


def main(argv: list[str] | None = None) -> int:
    from ...lowering import stages
    from ..errors import CompileError
    from ..options import Options
    from ..specialize import lower

    p = argparse.ArgumentParser(prog="mlirfuse-show", description=__doc__.splitlines()[0])
    p.add_argument("file", help="a Python file")
    p.add_argument("name", help="a module class or function defined in it")
    p.add_argument("--input", action="append", default=[], help="DIMSxDTYPE, once per argument")
    p.add_argument("--stage", default="linalg", choices=["raw"] + stages.names())
    p.add_argument("-o", dest="output", default="-")
    args = p.parse_args(argv)
    try:
        inputs = [make_input(s) for s in args.input]
        fn, example = resolve(load(args.file, args.name), inputs)
        _, module, _ = lower(fn, example, Options(), stop_after=args.stage)
    except (CompileError, ValueError, AttributeError, OSError) as e:
        print(f"mlirfuse-show: {e}", file=sys.stderr)
        return 1
    text = str(module)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
