"""mlirfuse-destination-style-abi: put the entry function in the runtime's calling convention.

Matches: every public `func.func` with tensor results, on linalg on tensors.
Rewrites:
  * each result becomes a trailing argument, a destination the caller
    allocates (a torch tensor); the returned value is materialized into it, so
    after bufferization the kernels write straight into the caller's tensor
    and no result is returned;
  * inputs are marked `bufferization.writable = false`: compiled code never
    writes into the caller's input tensors;
  * the function gets `llvm.emit_c_interface`, so the runtime calls it with
    pointers to memref descriptors.
A value returned twice is materialized once and copied into the second
destination. Leaves alone: private functions, and functions already rewritten
(`mlirfuse.abi` attribute).

Before:
  func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
    ...
    return %r : tensor<4xf32>
  }
After:
  func.func @main(%a: tensor<4xf32> {bufferization.writable = false},
                  %out: tensor<4xf32> {bufferization.writable = true})
      -> tensor<4xf32> attributes {llvm.emit_c_interface, mlirfuse.abi} {
    ...
    %0 = bufferization.materialize_in_destination %r in %out : (...) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
(`drop-equivalent-buffer-results` removes the returned buffer after bufferization.)
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import bufferization

from . import structured as st
from .base import Pass, PassError

MARK = "mlirfuse.abi"


def _arg_attrs(writable: bool) -> ir.DictAttr:
    return ir.DictAttr.get({"bufferization.writable": ir.BoolAttr.get(writable)})


@dataclasses.dataclass
class DestinationStyleAbi(Pass):
    """Results become caller-allocated destination arguments; inputs are read-only."""

    ARGUMENT = "mlirfuse-destination-style-abi"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            attrs = fn.attributes
            if MARK in attrs or "sym_visibility" in attrs and \
                    ir.StringAttr(attrs["sym_visibility"]).value == "private":
                continue
            self._rewrite(fn)

    def _rewrite(self, fn: ir.Operation) -> None:
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        inputs, results = list(ftype.inputs), list(ftype.results)
        if any(not isinstance(t, ir.RankedTensorType) for t in inputs + results):
            raise PassError("entry function arguments and results must be ranked tensors",
                            fn.location)
        if len(fn.regions[0].blocks) != 1:
            raise PassError("entry function must have a single block", fn.location)
        block = fn.regions[0].blocks[0]
        ret = list(block.operations)[-1]
        dests = [block.add_argument(t, fn.location) for t in results]
        done = {}  # value → its first materialized result
        with ir.InsertionPoint(ret), ret.location:
            for i, dest in enumerate(dests):
                value = ret.operands[i]
                # A value returned twice (results CSE made equal) is computed into the first
                # destination and copied from there: one producer cannot write two buffers.
                source = done.get(value, value)
                ret.operands[i] = bufferization.MaterializeInDestinationOp(
                    value.type, source, dest).result
                done.setdefault(value, ret.operands[i])
        fn.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(inputs + results, results))
        fn.attributes["arg_attrs"] = ir.ArrayAttr.get(
            [_arg_attrs(False)] * len(inputs) + [_arg_attrs(True)] * len(results))
        fn.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        fn.attributes[MARK] = ir.UnitAttr.get()
