"""mlirfuse-verify-backend-contract: torch-mlir's linalg-on-tensors contract, extern calls allowed.

Matches: the module after torch-mlir's lowering to linalg on tensors.
Checks: what `torch-verify-linalg-on-tensors-backend-contract` checks (only builtin
tensors, only ops the later stages lower), on a copy of the module where each extern
call (compiler/extern.py: a `func.call` of an `mlirfuse.extern` declaration, which
mlirfuse-bridge-extern-calls lowers) is replaced by `tensor.empty`s of its result types
(a symbolic size `?` given by an index constant). A module without extern calls is
checked as it is. Rewrites nothing.

Before and after (accepted; upstream's check rejects the call):
  func.func private @mlirfuse_extern_op_0(tensor<4x4xf32>) -> tensor<4x4xf32>
      attributes {mlirfuse.extern = "..."}
  %q = call @mlirfuse_extern_op_0(%a) : (tensor<4x4xf32>) -> tensor<4x4xf32>
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir, passmanager
from torch_mlir.dialects import arith, tensor

from .. import extern
from . import structured as st
from .base import Pass, PassError

UPSTREAM = "builtin.module(torch-verify-linalg-on-tensors-backend-contract)"


@dataclasses.dataclass
class VerifyBackendContract(Pass):
    """Checks the linalg-on-tensors backend contract, allowing extern calls."""

    ARGUMENT = "mlirfuse-verify-backend-contract"

    def run(self, module: ir.Operation) -> None:
        checked = module
        if extern.declarations(module):
            checked = module.clone()
            for fn in st.functions(checked):
                for call in [o for o in st.walk(fn) if extern.is_call(o)]:
                    with ir.InsertionPoint(call), call.location:
                        # A symbolic result size needs an operand; any index does on
                        # this copy, which only the check sees.
                        size = arith.ConstantOp(ir.IndexType.get(), 1).result
                        empties = [tensor.EmptyOp(
                            [size if ir.ShapedType.is_dynamic_size(d) else d
                             for d in ir.RankedTensorType(r.type).shape],
                            ir.RankedTensorType(r.type).element_type) for r in call.results]
                    for old, new in zip(call.results, empties):
                        old.replace_all_uses_with(new.result)
                    call.erase()
            for decl in extern.declarations(checked):
                decl.erase()
        try:
            passmanager.PassManager.parse(UPSTREAM).run(checked)
        except ir.MLIRError as e:
            diagnostics = e.error_diagnostics
            if not diagnostics:
                raise PassError(str(e)) from None
            # The copy's ops have the original's locations: the error names the op's line.
            raise PassError(diagnostics[0].message, diagnostics[0].location) from None
        finally:
            if checked is not module:
                checked.erase()
