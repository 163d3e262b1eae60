"""FX graph → MLIR torch dialect, with torch-mlir's FX importer.

Each op gets the location of the user's source line that produced it (the
importer reads the FX node's stack trace), so diagnostics name that line. That
location is wrapped in a name location holding the FX node's name,
`loc("add_1"("model.py":12:0))`, so a failure in any later stage names the graph
node it came from (compiler/partition.py runs that node eager).
"""

from __future__ import annotations

import re

import torch
from torch_mlir import ir
from torch_mlir.extras.fx_importer import ContextCache, FxImporter

from .errors import CompileError

ENTRY = "main"

# A name location as MLIR prints it: a quoted name not followed by ":line:col" (that is
# a file location) — `"add_1"(` or `"add_1")`.
_NAME_LOC = re.compile(r'"([^"]+)"(?=[()\],])')


def node_names(location_text: str) -> list[str]:
    """The FX node names in a printed location (several where ops were fused)."""
    return _NAME_LOC.findall(location_text)


class _NamedLocations(ContextCache):
    """torch-mlir's per-context cache, whose node locations carry the node's name."""

    __slots__ = ["last"]

    def get_node_location(self, node: torch.fx.Node) -> ir.Location:
        self.last = node.name
        inner = super().get_node_location(node) or ir.Location.unknown(context=self._c)
        return ir.Location.name(node.name, childLoc=inner, context=self._c)


def import_graph(gm: torch.fx.GraphModule, ctx: ir.Context) -> ir.Module:
    """Imports a functional FX graph as `func.func @main` in the torch dialect (raw form).

    Raises:
      CompileError (stage "import") when the importer rejects a node; its `nodes` names it.
    """
    importer = FxImporter(context=ctx)
    cache = _NamedLocations(ctx, py_attr_tracker=importer._py_attr_tracker)
    cache.last = None
    importer._cc = cache
    try:
        importer.import_stateless_graph(gm.graph, func_name=ENTRY)
    except Exception as e:
        raise CompileError(f"{type(e).__name__}: {e}", stage="import",
                           nodes=[cache.last] if cache.last else []) from e
    return importer.module
