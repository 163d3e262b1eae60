"""Pipeline text ↔ PassManager, with mlirfuse passes beside upstream ones.

MLIR's parser knows only C++ passes, so a pipeline is split at its top level:
`mlirfuse-*` elements become Python passes, runs of other elements go to
`PassManager.add` as text. mlirfuse passes run on `builtin.module` only.
"""

from __future__ import annotations

from torch_mlir import ir, passmanager

from . import registry
from .passes.base import Pass


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Splits `text` at `sep` outside (), {} and []; strips each piece, drops empty ones."""
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == sep and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def elements(pipeline: str | list[str]) -> list[str]:
    """Returns the top-level elements of a pipeline given as text or as a list."""
    if isinstance(pipeline, list):
        return [e for item in pipeline for e in split_top_level(item)]
    text = pipeline.strip()
    if text.startswith("builtin.module(") and text.endswith(")"):
        text = text[len("builtin.module("):-1]
    return split_top_level(text)


def _mlirfuse_pass(element: str) -> Pass | None:
    name, _, rest = element.partition("{")
    name = name.strip()
    if not name.startswith("mlirfuse-"):
        if "mlirfuse-" in element:
            raise ValueError(
                f"'{element}': mlirfuse passes run on builtin.module only; "
                "put them at the top level of the pipeline")
        return None
    if name not in registry.REGISTRY:
        raise ValueError(f"'{name}' does not refer to a registered pass or pass pipeline")
    return registry.lookup(name).from_options(rest.rstrip("}"))


def build(pipeline: str | list[str], ctx: ir.Context) -> passmanager.PassManager:
    """Returns a PassManager on builtin.module that runs `pipeline`.

    Raises:
      ValueError when an element does not parse (unknown pass, bad option).
    """
    with ctx:
        pm = passmanager.PassManager("builtin.module")
        upstream: list[str] = []
        for element in elements(pipeline):
            own = _mlirfuse_pass(element)
            if own is None:
                upstream.append(element)
                continue
            if upstream:
                pm.add(", ".join(upstream))
                upstream = []
            own.add_to(pm)
        if upstream:
            pm.add(", ".join(upstream))
    return pm


def canonical_text(pipeline: str | list[str], ctx: ir.Context) -> str:
    """Returns the pipeline as MLIR prints it back, every option spelled out."""
    return str(build(pipeline, ctx))
