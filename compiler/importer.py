"""FX graph → MLIR torch dialect, with torch-mlir's FX importer.

Each op gets the location of the user's source line that produced it (the
importer reads the FX node's stack trace), so diagnostics name that line.
"""

from __future__ import annotations

import torch
from torch_mlir import ir
from torch_mlir.extras.fx_importer import FxImporter

from .errors import CompileError

ENTRY = "main"


def import_graph(gm: torch.fx.GraphModule, ctx: ir.Context) -> ir.Module:
    """Imports a functional FX graph as `func.func @main` in the torch dialect (raw form).

    Raises:
      CompileError (stage "import") when the importer rejects a node.
    """
    importer = FxImporter(context=ctx)
    try:
        importer.import_stateless_graph(gm.graph, func_name=ENTRY)
    except Exception as e:
        raise CompileError(f"{type(e).__name__}: {e}", stage="import") from e
    return importer.module
