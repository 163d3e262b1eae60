"""mlirfuse-insert-guards: state what the compiled code assumes about each entry argument.

Matches: entry functions in the runtime's calling convention (`mlirfuse.abi`),
on tensors.
Rewrites: adds at the top of the body one `mlirfuse.guard` per argument with
its static `sizes` and the `strides` the code is specialized for, and gives the
argument `bufferization.buffer_layout` with those strides, so bufferization
makes the code for exactly that layout. The strides are those of the
example inputs when the function carries `mlirfuse.example_strides` (one dense
i64 array per argument, set by the driver from the tensors it compiled for),
else contiguous row-major strides. Strides of dimensions of size 0 or 1 are
written as the contiguous ones (they never move an address).
Leaves alone: functions that already have guards, and non-entry functions.
Dtype, rank, device and requires_grad are in the types and in the runtime's
dispatch key; sizes and strides are checked by the compiled code
(mlirfuse-lower-guards), before any kernel runs.

Before:
  func.func @main(%x: tensor<4x8xf32> {...}, %out: tensor<4x8xf32> {...}) ... {mlirfuse.abi}
After:
  func.func @main(%x: tensor<4x8xf32> {...}, %out: tensor<4x8xf32> {...}) ... {mlirfuse.abi} {
    "mlirfuse.guard"(%x) {arg = 0 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 8, 1>}
    "mlirfuse.guard"(%out) {arg = 1 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 8, 1>}
    ...
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from ... import dialects
from . import structured as st
from .base import Pass, PassError
from .destination_style_abi import MARK

EXAMPLE_STRIDES = "mlirfuse.example_strides"


def contiguous_strides(sizes: list[int]) -> list[int]:
    strides, step = [], 1
    for size in reversed(sizes):
        strides.append(step)
        step *= max(size, 1)
    return strides[::-1]


def normalize_strides(sizes: list[int], strides: list[int]) -> list[int]:
    """Strides with those of size-0/1 dimensions replaced by the contiguous ones."""
    contiguous = contiguous_strides(sizes)
    return [c if size <= 1 else s for size, s, c in zip(sizes, strides, contiguous)]


def _layout(sizes: list[int], strides: list[int]) -> ir.Attribute:
    if strides == contiguous_strides(sizes):
        return ir.AffineMapAttr.get(ir.AffineMap.get_identity(len(sizes)))
    return ir.StridedLayoutAttr.get(offset=0, strides=strides)


@dataclasses.dataclass
class InsertGuards(Pass):
    """Adds a mlirfuse.guard (sizes, strides) for every argument of the entry function."""

    ARGUMENT = "mlirfuse-insert-guards"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module, marked=MARK):
            self._guard(fn)

    def _guard(self, fn: ir.Operation) -> None:
        block = fn.regions[0].blocks[0]
        if any(o.operation.name == "mlirfuse.guard" for o in block.operations):
            return
        examples = None
        if EXAMPLE_STRIDES in fn.attributes:
            examples = [list(ir.DenseI64ArrayAttr(a))
                        for a in ir.ArrayAttr(fn.attributes[EXAMPLE_STRIDES])]
        first = block.operations[0]
        arg_attrs = list(ir.ArrayAttr(fn.attributes["arg_attrs"])) if "arg_attrs" in fn.attributes \
            else [ir.DictAttr.get({})] * len(block.arguments)
        new_attrs = []
        for i, arg in enumerate(block.arguments):
            if not isinstance(arg.type, ir.RankedTensorType) or not arg.type.has_static_shape:
                raise PassError(f"argument {i} has no static shape to guard", fn.location)
            sizes = list(arg.type.shape)
            strides = examples[i] if examples and i < len(examples) else \
                contiguous_strides(sizes)
            strides = normalize_strides(sizes, strides)
            with ir.InsertionPoint(first), fn.location:
                dialects.guard(arg, i, sizes, strides)
            # Bufferization gives the argument this exact layout: the code is specialized on it.
            entries = {a.name: a.attr for a in ir.DictAttr(arg_attrs[i])}
            entries["bufferization.buffer_layout"] = _layout(sizes, strides)
            new_attrs.append(ir.DictAttr.get(entries))
        fn.attributes["arg_attrs"] = ir.ArrayAttr.get(new_attrs)
