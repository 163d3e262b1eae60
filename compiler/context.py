"""MLIR contexts as mlirfuse makes them: torch-mlir's MLIR with the torch dialect loaded."""

from torch_mlir import ir
from torch_mlir.dialects import torch as torch_d


def make_context() -> ir.Context:
    """Returns a new context with every dialect mlirfuse's IR can hold."""
    ctx = ir.Context()
    torch_d.register_dialect(ctx)
    ctx.allow_unregistered_dialects = False
    return ctx


def parse_module(text: str, ctx: ir.Context | None = None) -> ir.Module:
    """Parses IR text in a (new) mlirfuse context."""
    ctx = ctx or make_context()
    with ctx:
        return ir.Module.parse(text)
