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

Dynamic dimensions (`?`, compiled for every size): the guard's size is -1 and its
`symbols` entry names the symbol the size is (`mlirfuse.example_symbols`: one dense
i64 array per argument, the symbol's number or -1, set by the driver from torch's
shape environment); dimensions of different arguments with one symbol must be equal
at run time, and the symbol's range (`mlirfuse.symbol_ranges` on the function: min and
max per symbol, max -1 for none) holds. A dynamic dimension with no symbol (a result's
`2 * s0`, computed by the caller) is not checked. An argument with a dynamic dimension
is compiled for contiguous row-major data: its strides are -1 (the contiguous strides of
the sizes at run time) and its layout the identity.

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
EXAMPLE_SYMBOLS = "mlirfuse.example_symbols"
SYMBOL_RANGES = "mlirfuse.symbol_ranges"
DYNAMIC = -1  # a guard's size or stride that is not a constant


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


def _per_argument(fn: ir.Operation, name: str) -> list[list[int]] | None:
    if name not in fn.attributes:
        return None
    return [list(ir.DenseI64ArrayAttr(a)) for a in ir.ArrayAttr(fn.attributes[name])]


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
        examples = _per_argument(fn, EXAMPLE_STRIDES)
        symbols = _per_argument(fn, EXAMPLE_SYMBOLS)
        first = block.operations[0]
        arg_attrs = list(ir.ArrayAttr(fn.attributes["arg_attrs"])) if "arg_attrs" in fn.attributes \
            else [ir.DictAttr.get({})] * len(block.arguments)
        new_attrs = []
        for i, arg in enumerate(block.arguments):
            if not isinstance(arg.type, ir.RankedTensorType):
                raise PassError(f"argument {i} is not a ranked tensor", fn.location)
            if arg.type.has_static_shape:
                sizes = list(arg.type.shape)
                strides = examples[i] if examples and i < len(examples) else \
                    contiguous_strides(sizes)
                strides = normalize_strides(sizes, strides)
                names = None
            else:
                sizes = [DYNAMIC if arg.type.is_dynamic_dim(d) else n
                         for d, n in enumerate(arg.type.shape)]
                strides = [DYNAMIC] * len(sizes)
                names = symbols[i] if symbols and i < len(symbols) else [DYNAMIC] * len(sizes)
                if len(names) != len(sizes) or any(
                        n != DYNAMIC and s != DYNAMIC for n, s in zip(names, sizes)):
                    raise PassError(f"argument {i}: {EXAMPLE_SYMBOLS} does not match its type",
                                    fn.location)
            with ir.InsertionPoint(first), fn.location:
                dialects.guard(arg, i, sizes, strides, names)
            # Bufferization gives the argument this exact layout: the code is specialized on it.
            entries = {a.name: a.attr for a in ir.DictAttr(arg_attrs[i])}
            entries["bufferization.buffer_layout"] = _layout(sizes, strides) if names is None \
                else ir.AffineMapAttr.get(ir.AffineMap.get_identity(len(sizes)))
            new_attrs.append(ir.DictAttr.get(entries))
        fn.attributes["arg_attrs"] = ir.ArrayAttr.get(new_attrs)
