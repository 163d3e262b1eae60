"""Decompositions of ops torch-mlir cannot lower (TODO: fill in; see decompositions.table)."""

from __future__ import annotations

import torch

aten = torch.ops.aten


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {}
