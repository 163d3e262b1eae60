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

from .errors import CompileError, describe_diagnostics, locations_of

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
      CompileError (stage "import") when the importer rejects a node, or makes an op the
      verifier rejects (a NumToTensor of a bool: a decomposition's `scalar_tensor(True)`);
      its `nodes` names the node.
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
    # Verify here: the passes would fail on such IR, and the IR printed for a repro
    # would not parse.
    try:
        importer.module.operation.verify()
    except ir.MLIRError as e:
        diags = e.error_diagnostics
        text, op, source = describe_diagnostics(diags)
        nodes = [n for loc in locations_of(diags) for n in node_names(loc)]
        raise CompileError(text or str(e), stage="import", op=op, source=source,
                           nodes=list(dict.fromkeys(nodes)),
                           reason=diags[0].message.splitlines()[0] if diags else None) from None
    return importer.module
