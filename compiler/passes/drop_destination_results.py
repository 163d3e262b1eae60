"""mlirfuse-drop-destination-results: stop returning the destination buffers after bufferization.

Matches: functions rewritten by mlirfuse-destination-style-abi (`mlirfuse.abi`),
on buffers, whose returned values are their own destination arguments
(upstream `drop-equivalent-buffer-results` does this for private functions only).
Rewrites: removes those results; the function returns nothing it does not own.
Leaves alone: a function returning anything else (it fails: the result would leak).

Before:
  func.func @main(%in: memref<4xf32>, %out: memref<4xf32>) -> memref<4xf32>
      attributes {mlirfuse.abi} {
    ...
    return %out : memref<4xf32>
  }
After:
  func.func @main(%in: memref<4xf32>, %out: memref<4xf32>) attributes {mlirfuse.abi} {
    ...
    return
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import func

from . import structured as st
from .base import Pass, PassError
from .destination_style_abi import MARK


@dataclasses.dataclass
class DropDestinationResults(Pass):
    """Removes the results of entry functions that only return their destination arguments."""

    ARGUMENT = "mlirfuse-drop-destination-results"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module, marked=MARK):
            self._rewrite(fn)

    def _rewrite(self, fn: ir.Operation) -> None:
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        if not ftype.results:
            return
        block = fn.regions[0].blocks[0]
        args = list(block.arguments)
        dests = args[len(args) - len(ftype.results):]
        ret = list(block.operations)[-1]
        for value, dest in zip(ret.operands, dests):
            # Casts to a more dynamic layout may sit between the argument and the return.
            owner = st.defining_op(value)
            while owner is not None and owner.name == "memref.cast":
                value = owner.operands[0]
                owner = st.defining_op(value)
            if value != dest:
                raise PassError("entry function returns a buffer other than its destination",
                                ret.location)
        with ir.InsertionPoint(ret), ret.location:
            func.ReturnOp([])
        ret.erase()
        fn.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(list(ftype.inputs), []))
