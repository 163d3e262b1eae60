"""mlirfuse-outline-fusion-groups: turn each fusion group into a kernel function.

Matches: every `mlirfuse.group` (its body is isolated from above).
Rewrites: the body becomes `func.func private @<kernel>` with the group's
operands as arguments and its yielded values as results, marked
`mlirfuse.kernel`; the group becomes a `func.call` of it. Kernel functions go
to the end of the module, in group order.
Leaves alone: everything that is not in a group.

Before:
  %r = "mlirfuse.group"(%x) ({
  ^bb0(%in: tensor<8x64xf32>):
    %0 = linalg.generic ... ins(%in ...)
    gpu.yield %0 : tensor<8x64xf32>
  }) {kernel = "kernel_0", ...} : (tensor<8x64xf32>) -> tensor<8x64xf32>
After:
  %r = call @kernel_0(%x) : (tensor<8x64xf32>) -> tensor<8x64xf32>
  ...
  func.func private @kernel_0(%in: tensor<8x64xf32>) -> tensor<8x64xf32>
      attributes {mlirfuse.kernel} {
    %0 = linalg.generic ... ins(%in ...)
    return %0 : tensor<8x64xf32>
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import func

from . import structured as st
from .base import Pass

KERNEL_ATTR = "mlirfuse.kernel"


def outline(group: ir.Operation, module_body: ir.Block) -> ir.Operation:
    """Moves the body of `group` into a new private function at the end of the module."""
    name = ir.StringAttr(group.attributes["kernel"]).value
    body = group.regions[0].blocks[0]
    arg_types = [a.type for a in body.arguments]
    result_types = [r.type for r in group.results]
    with ir.InsertionPoint(module_body), group.location:
        fn = func.FuncOp(name, (arg_types, result_types), visibility="private")
        fn.attributes[KERNEL_ATTR] = ir.UnitAttr.get()
        entry = fn.add_entry_block()
    ops = [o.operation for o in body.operations]
    terminator = ops[-1]
    with ir.InsertionPoint(entry), terminator.location:
        ret = func.ReturnOp(list(terminator.operands))
    for op in ops[:-1]:
        op.move_before(ret.operation)
    for old, new in zip(body.arguments, entry.arguments):
        old.replace_all_uses_with(new)
    with ir.InsertionPoint(group), group.location:
        call = func.CallOp(result_types, ir.FlatSymbolRefAttr.get(name), list(group.operands))
    for old, new in zip(group.results, call.results):
        old.replace_all_uses_with(new)
    terminator.erase()
    group.erase()
    return fn.operation


@dataclasses.dataclass
class OutlineFusionGroups(Pass):
    """Turns each mlirfuse.group into a private kernel function and a call to it."""

    ARGUMENT = "mlirfuse-outline-fusion-groups"

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        for fn in st.functions(module):
            for group in [op for op in st.walk(fn) if op.name == "mlirfuse.group"]:
                outline(group, body)
