"""MLIR contexts as mlirfuse makes them: torch-mlir's MLIR with every dialect our IR can hold."""

from torch_mlir import ir, passmanager
from torch_mlir.dialects import torch as torch_d

from .. import dialects

# torch-mlir registers torch_c and tm_tensor only as dependent dialects of its
# passes; running these passes on an empty module loads them, so any stage's
# IR (which may hold torch_c or tm_tensor ops) parses in a new context.
_LOADS_TORCH_DIALECTS = (
    "builtin.module(func.func(torch-finalizing-backend-type-conversion, "
    "convert-torch-to-tmtensor, tm-tensor-to-loops))"
)


def make_context() -> ir.Context:
    """Returns a new context with every dialect mlirfuse's IR can hold."""
    ctx = ir.Context()
    torch_d.register_dialect(ctx)
    dialects.load(ctx)
    with ctx, ir.Location.unknown():
        passmanager.PassManager.parse(_LOADS_TORCH_DIALECTS).run(
            ir.Module.create().operation)
    return ctx


def parse_module(text: str, ctx: ir.Context | None = None) -> ir.Module:
    """Parses IR text in a (new) mlirfuse context."""
    ctx = ctx or make_context()
    with ctx:
        return ir.Module.parse(text)
