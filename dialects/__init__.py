"""The mlirfuse dialect (mlirfuse.irdl.mlir) and its Python builders.

`load(ctx)` registers the dialect in a context (make_context does it for every
context mlirfuse makes). The builders create its ops in the generic form IRDL
ops have, segment sizes included.
"""

from __future__ import annotations

import os
import sys
import types

from torch_mlir import ir
from torch_mlir.dialects import gpu, irdl

DIALECT_FILE = os.path.join(os.path.dirname(__file__), "mlirfuse.irdl.mlir")
MAX_GROUP_INPUTS = 64
MAX_GROUP_OUTPUTS = 8

with open(DIALECT_FILE) as _f:
    _DIALECT_TEXT = _f.read()


# Each Python handle of an op looks for its dialect's Python module
# (torch_mlir.dialects.<namespace>) and, where there is none, tries the import again
# for every handle: 15,000 failed imports (0.9 s) in one pass over GPT-2's 12 layers.
# An empty module for the namespaces without one ends the search at the first handle.
for _namespace in ("mlirfuse", "tm_tensor", "omp", "torch_c"):
    _name = f"torch_mlir.dialects.{_namespace}"
    try:
        __import__(_name)
    except ImportError:
        sys.modules[_name] = types.ModuleType(_name, "no Python builders (mlirfuse.dialects)")


def load(ctx: ir.Context) -> None:
    """Registers the mlirfuse dialect in `ctx`."""
    with ctx:
        irdl.load_dialects(ir.Module.parse(_DIALECT_TEXT))


def _segments(count: int, slots: int) -> ir.Attribute:
    return ir.DenseI32ArrayAttr.get([1] * count + [0] * (slots - count))


def group(inputs: list[ir.Value], result_types: list[ir.Type], kernel: str) -> ir.Operation:
    """Creates an empty `mlirfuse.group` at the current insertion point.

    Its body block has one argument per input (same types) and no terminator yet.
    Raises ValueError past MAX_GROUP_INPUTS inputs or MAX_GROUP_OUTPUTS results.
    """
    if len(inputs) > MAX_GROUP_INPUTS or len(result_types) > MAX_GROUP_OUTPUTS:
        raise ValueError(f"a fusion group takes at most {MAX_GROUP_INPUTS} inputs and "
                         f"{MAX_GROUP_OUTPUTS} results")
    op = ir.Operation.create(
        "mlirfuse.group", results=result_types, operands=inputs,
        attributes={
            "kernel": ir.StringAttr.get(kernel),
            "operandSegmentSizes": _segments(len(inputs), MAX_GROUP_INPUTS),
            "resultSegmentSizes": _segments(len(result_types), MAX_GROUP_OUTPUTS),
        },
        regions=1)
    op.regions[0].blocks.append(*[v.type for v in inputs])
    return op


def group_yield(values: list[ir.Value]) -> ir.Operation:
    """The terminator of a group body."""
    return gpu.YieldOp(values).operation


def guard(value: ir.Value, arg: int, sizes: list[int], strides: list[int],
          symbols: list[int] | None = None) -> ir.Operation:
    """Creates `mlirfuse.guard` on entry argument `arg` at the current insertion point
    (`symbols`: for dynamic sizes, the symbol each dimension's size is, or -1)."""
    attributes = {
        "arg": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), arg),
        "sizes": ir.DenseI64ArrayAttr.get(sizes),
        "strides": ir.DenseI64ArrayAttr.get(strides),
    }
    if symbols is not None:
        attributes["symbols"] = ir.DenseI64ArrayAttr.get(symbols)
    return ir.Operation.create("mlirfuse.guard", results=[], operands=[value],
                               attributes=attributes)
