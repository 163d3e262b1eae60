"""mlirfuse-fold-accumulation: a sum of two products becomes one product accumulating.

`x @ w1.t() + h @ w2.t()` (the LSTM's gates, any sum of matmuls) computes two
zero-initialized contractions and adds them in an elementwise pass: one more
round trip of the whole result through memory, and on the GPU one more kernel.
A contraction accumulates into its init, so the second one can start from the
first's result (cuBLAS: beta = 1).

Matches: an elementwise `linalg.generic` whose body is exactly `a + b` of its two
inputs (identity maps, one output), where `b` is the result of a contraction
(structured.is_contraction) initialized by a zero fill (structured.fills_zero)
and used only here, and `a` is a result of an op in the function used only here
(so bufferization can accumulate in its buffer; an argument's would need a copy
first: no gain).
Runs on linalg on tensors after `linalg-generalize-named-ops`, before
elementwise fusion merges the add into its consumers.

Rewrites: the contraction takes `a` as its init, and its result replaces the add.

Before:
  %z = linalg.generic {fill 0.0} outs(%e)
  %m1 = linalg.generic {contraction} ins(%x, %w1) outs(%z)
  %m2 = linalg.generic {contraction} ins(%h, %w2) outs(%z)
  %s = linalg.generic {a + b} ins(%m1, %m2) outs(%e)
After:
  %m1 = linalg.generic {contraction} ins(%x, %w1) outs(%z)
  %s = linalg.generic {contraction} ins(%h, %w2) outs(%m1)
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from . import structured as st
from .base import Pass


def _is_sum(op: ir.Operation) -> bool:
    """An elementwise generic computing `in0 + in1` into one output, identity maps."""
    if op.name != "linalg.generic" or len(op.operands) != 3 or len(op.results) != 1:
        return False
    maps = st.indexing_maps(op)
    if any(not m.is_permutation or list(st.dim_positions(m)) != list(range(m.n_dims))
           for m in maps) or st.reduction_loops(op):
        return False
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if len(body) != 2 or body[0].name not in ("arith.addf", "arith.addi"):
        return False
    a, b, _ = block.arguments
    return set(body[0].operands) == {a, b} and a != b \
        and list(body[1].operands) == [body[0].results[0]]


def _only_use_is(value: ir.Value, op: ir.Operation) -> bool:
    uses = list(value.uses)
    return len(uses) == 1 and st.owner_op(uses[0]) == op


def _accumulator(op: ir.Operation, product: ir.Value, other: ir.Value) -> bool:
    """Whether `product` can accumulate into `other` in place of the sum `op`."""
    contraction = st.defining_op(product)
    if contraction is None or not st.is_contraction(contraction) \
            or not st.fills_zero(st.defining_op(contraction.operands[2])) or not _only_use_is(product, op):
        return False
    producer = st.defining_op(other)
    return producer is not None and producer.parent == op.parent == contraction.parent \
        and _only_use_is(other, op) and other.type == product.type


@dataclasses.dataclass
class FoldAccumulation(Pass):
    """Folds `a + contraction(zero init)` into the contraction accumulating into `a`."""

    ARGUMENT = "mlirfuse-fold-accumulation"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            for op in [o for o in st.walk(fn) if _is_sum(o)]:
                a, b = op.operands[0], op.operands[1]
                for product, other in ((b, a), (a, b)):
                    if _accumulator(op, product, other):
                        contraction = st.defining_op(product)
                        if _defined_after(other, contraction):
                            contraction.move_after(st.defining_op(other))
                        contraction.operands[2] = other
                        op.results[0].replace_all_uses_with(product)
                        op.erase()
                        break


def _defined_after(value: ir.Value, op: ir.Operation) -> bool:
    """Whether `value` is defined after `op` in their block (then `op` moves below it)."""
    ops = [o.operation for o in op.parent.regions[0].blocks[0].operations]
    return ops.index(st.defining_op(value)) > ops.index(op)
