"""mlirfuse-recompute-pointwise: a cheap elementwise op read by several linalg ops is computed again in each.

`linalg-fuse-elementwise-ops` fuses a producer only into its single user, so an
elementwise value that two ops read is written to memory once and read back twice.
The backward of layer_norm reads x_hat = (x - mean) * rstd in a row reduction, in the
dx computation and in the dw column reduction, and g = dy * w in two more: both were
materialized (7 kernels, 13 full passes over memory for 4 needed). When the value is
cheap to compute and its inputs are no larger in all than itself, each reader computing
it again from those inputs costs no more memory traffic than reading it, and saves its
write and the kernel that writes it.

Matches: a `linalg.generic` P with only parallel loops, one result written at its loop
indices (an identity output map), a body of at most MAX_BODY_OPS arith ops (no math
calls: recomputing an exp per reader is not free on the CPU), and at least two uses, all
of them as inputs (never inits) of `linalg.generic` ops in P's block; and the traffic
rule: P reads k full-size tensors (inputs whose maps use every loop of P; broadcast rows
and columns are cached), with u readers, and u * k < k + 1 + u (writing P once and
reading it u times against reading its k inputs in each reader): k <= 1 always, k = 2 for
two readers.

Rewrites: every use but the first reads a fresh copy of P, placed just before P (same
operands), so each copy has one reader and `linalg-fuse-elementwise-ops` (run next)
fuses it there. Where a reader cannot take it, `cse` merges the copies back. Repeats
until nothing matches, so the single-use producers of P (P's own chain, not yet fused)
are copied in turn.

Before:
  %xh = linalg.generic {(x - m) * r} ins(%x, %m, %r)
  %s = linalg.generic {sum over d1 of xh * g} ins(%xh, %g)
  %dw = linalg.generic {sum over d0 of dy * xh} ins(%dy, %xh)
After:
  %xh = linalg.generic {(x - m) * r} ins(%x, %m, %r)
  %xh2 = linalg.generic {(x - m) * r} ins(%x, %m, %r)
  %s = linalg.generic {sum over d1 of xh * g} ins(%xh, %g)
  %dw = linalg.generic {sum over d0 of dy * xh} ins(%dy, %xh2)
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from . import structured as st
from .base import Pass

# Arith ops in P's body (the yield not counted): a layer_norm's x_hat is 2, a GELU
# derivative 10+ with its erf (a math op: never copied).
MAX_BODY_OPS = 6


def _body_ops(op: ir.Operation) -> list[ir.Operation]:
    return [o.operation for o in op.regions[0].blocks[0].operations][:-1]


def _cheap(op: ir.Operation) -> bool:
    body = _body_ops(op)
    return len(body) <= MAX_BODY_OPS and all(o.name.startswith("arith.") for o in body)


def _full_inputs(op: ir.Operation) -> int:
    """The inputs P reads at every point of its loops (the others are broadcast)."""
    n_in = len(op.operands) - st.num_dps_inits(op)
    loops = st.loop_count(op)
    return sum(1 for amap in st.indexing_maps(op)[:n_in]
               if len({d for d in st.dim_positions(amap) if d is not None}) == loops)


def _readers(op: ir.Operation) -> list | None:
    """P's uses, when every one is an input of a linalg.generic in P's block; else None."""
    uses = list(op.results[0].uses)
    for use in uses:
        reader = st.owner_op(use)
        if reader.name != "linalg.generic" or reader.block != op.block:
            return None
        if use.operand_number >= len(reader.operands) - st.num_dps_inits(reader):
            return None  # an init: the reader accumulates into P in place
    return uses


def _matches(op: ir.Operation) -> list | None:
    """P's uses when `op` is a P to copy (the rule above), else None."""
    if op.name != "linalg.generic" or len(op.results) != 1 \
            or st.reduction_loops(op) or not st.output_maps(op) \
            or st.dim_positions(st.output_maps(op)[0]) != list(range(st.loop_count(op))):
        return None
    uses = _readers(op)
    if uses is None or len(uses) < 2 or not _cheap(op):
        return None
    k, u = _full_inputs(op), len(uses)
    return uses if k <= 1 or u * k < k + 1 + u else None


def _copy(op: ir.Operation, uses: list) -> None:
    """Every use but the first reads its own copy of `op`, made just before it."""
    for reader, number in [(st.owner_op(u), u.operand_number) for u in uses[1:]]:
        copy = op.clone(ip=ir.InsertionPoint(op))
        reader.operands[number] = copy.results[0]


@dataclasses.dataclass
class RecomputePointwise(Pass):
    """Copies a cheap elementwise op read by several linalg ops into one op per reader."""

    ARGUMENT = "mlirfuse-recompute-pointwise"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            # A worklist, not a new walk of the function after each copy (GPT-2 124M's
            # 950 copies took 17 s so): copying P gives only P's producers more readers.
            work = [op for op in st.walk(fn) if op.name == "linalg.generic"]
            work.reverse()
            while work:
                op = work.pop()
                uses = _matches(op)
                if uses is None:
                    continue
                _copy(op, uses)
                work.extend(producer for producer in map(st.defining_op, op.operands)
                            if producer is not None and producer.name == "linalg.generic")
