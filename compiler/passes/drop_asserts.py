"""mlirfuse-drop-asserts: remove the run-time asserts torch-mlir adds where eager has none.

torch-mlir's batch_norm lowering asserts, per element, that sqrt(var + eps) is not 0
(message "unimplemented: tensor with zero element"). Eager computes inf there and goes
on; compiled code aborted the process (a failed cf.assert calls abort()), and the
assert in the kernel body kept it from being vector code.

Matches: `cf.assert` ops whose message is one of MESSAGES.
Rewrites: erases them (their condition, if left unused, goes with canonicalize).
Leaves alone: every other assert (index bounds in embedding and gather lowerings).

Before:
  %ok = arith.cmpf one, %sqrt, %zero : f32
  cf.assert %ok, "unimplemented: tensor with zero element"
After:
  %ok = arith.cmpf one, %sqrt, %zero : f32
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from . import structured as st
from .base import Pass

MESSAGES = ("unimplemented: tensor with zero element",)


@dataclasses.dataclass
class DropAsserts(Pass):
    """Erases the cf.asserts torch-mlir adds where eager checks nothing."""

    ARGUMENT = "mlirfuse-drop-asserts"

    def run(self, module: ir.Operation) -> None:
        for op in [o for o in st.walk(module) if o.name == "cf.assert"]:
            if ir.StringAttr(op.attributes["msg"]).value in MESSAGES:
                op.erase()
