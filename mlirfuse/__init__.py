"""mlirfuse: a compiler for PyTorch graphs built on MLIR.

    compiled = mlirfuse.compile(model, example_inputs=(x,))
    y = compiled(x)

or, through dynamo, ``torch.compile(model, backend="mlirfuse")``.
"""

from mlirfuse.compiler.api import CompiledFunction, compile
from mlirfuse.compiler.errors import CompileError, GuardError
from mlirfuse.compiler.backend import register_backend as _register_backend

_register_backend()

__all__ = ["compile", "CompiledFunction", "CompileError", "GuardError"]
__version__ = "0.1.0"
