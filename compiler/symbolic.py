"""Symbolic sizes of a graph compiled for every size (dynamic shapes).

A graph captured with dynamic dimensions has SymInt sizes in its placeholders' and
results' metadata: symbols of torch's shape environment (`s0`, `s1`: backed, a size of
an input) and expressions of them (`2*s0`). SymbolicShapes numbers the input symbols in
order of first appearance, says which input dimension each is (the compiled guards
check the others against it: mlirfuse.example_symbols) and its range
(mlirfuse.symbol_ranges), and computes the results' sizes for a call from its inputs'
sizes: the caller allocates them (a key lookup and a few integer reads per call).
"""

from __future__ import annotations

import sympy
import torch

from .capture import source_of
from .errors import CompileError

NO_SYMBOL = -1  # a static dimension, or a dynamic one no input names


def _expr(size) -> int | sympy.Expr:
    return int(size) if not isinstance(size, torch.SymInt) else size.node.expr


class SymbolicShapes:
    """The symbols of a graph's input sizes and its results' sizes in terms of them.

    Args:
      gm: the graph; every placeholder's and result's meta "val" is set.
    Attributes:
      dynamic: whether any input size is a symbol.
      example_symbols: per placeholder, per dimension, the symbol's number or NO_SYMBOL.
      ranges: per symbol, (min, max), max -1 when unbounded.
    Raises:
      CompileError naming the node when a result's size depends on the data.
    """

    def __init__(self, gm: torch.fx.GraphModule):
        self.symbols: list[sympy.Symbol] = []
        self._first: list[tuple[int, int]] = []  # (input, dimension) binding each symbol
        self.example_symbols: list[list[int]] = []
        self.ranges: list[tuple[int, int]] = []
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        for i, node in enumerate(placeholders):
            val = node.meta.get("val")
            names = []
            for d, size in enumerate(val.shape if isinstance(val, torch.Tensor) else ()):
                expr = _expr(size)
                if isinstance(expr, sympy.Symbol):
                    if expr not in self.symbols:
                        self.symbols.append(expr)
                        self._first.append((i, d))
                        self.ranges.append(_range(size, expr))
                    names.append(self.symbols.index(expr))
                else:
                    names.append(NO_SYMBOL)
            self.example_symbols.append(names)
        self.dynamic = bool(self.symbols)
        self.results: list[tuple[tuple, torch.dtype]] = []
        out_node = next(n for n in gm.graph.nodes if n.op == "output")
        for node in out_node.args[0]:
            val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
            if not isinstance(val, torch.Tensor):
                raise CompileError(f"graph result {node} is not a tensor", stage="capture",
                                   nodes=[node.name] if isinstance(node, torch.fx.Node) else [])
            sizes = tuple(_expr(s) for s in val.shape)
            unknown = [s for s in sizes if not isinstance(s, int)
                       and not s.free_symbols <= set(self.symbols)]
            if unknown:
                raise CompileError(
                    f"the shape of {node.name} ({node.target}) depends on the data "
                    f"({tuple(val.shape)}): sizes computed from the data are not compiled",
                    stage="capture", op=str(node.target), source=source_of(node),
                    nodes=[node.name])
            self.results.append((sizes, val.dtype))
        # Per result dimension: (0, its size), (1, a symbol's number: an input's size) or
        # (2, an expression of the symbols, evaluated per call).
        self._plans = [tuple((0, s) if isinstance(s, int) else
                             (1, self.symbols.index(s)) if isinstance(s, sympy.Symbol) else
                             (2, s) for s in sizes) for sizes, _ in self.results]

    def bind(self, ins: list[torch.Tensor]) -> list[int]:
        """The value of each symbol in a call with inputs `ins`."""
        return [ins[i].shape[d] for i, d in self._first]

    def result_shapes(self, values: list[int]) -> list[tuple[int, ...]]:
        """The results' sizes for the symbols' `values` (bind)."""
        return [tuple(v if kind == 0 else values[v] if kind == 1 else
                      int(v.xreplace(dict(zip(self.symbols, values))))
                      for kind, v in plan) for plan in self._plans]

    def describe(self) -> str:
        """The symbols and their ranges, as the guards check them."""
        parts = []
        for sym, (i, d), (low, high) in zip(self.symbols, self._first, self.ranges):
            parts.append(f"{sym} = size {d} of input {i} in [{low}, "
                         f"{'inf' if high < 0 else high}]")
        return "; ".join(parts)


def _range(size: torch.SymInt, expr: sympy.Symbol) -> tuple[int, int]:
    """The symbol's value range in its shape environment; (2, -1) where none is known
    (torch specializes sizes 0 and 1)."""
    env = getattr(size.node, "shape_env", None)
    bounds = env.var_to_range.get(expr) if env is not None else None
    if bounds is None:
        return 2, -1
    return max(_finite(bounds.lower, 0), 0), _finite(bounds.upper, -1)


def _finite(bound, otherwise: int) -> int:
    """An integer bound, or `otherwise` for torch's infinities (int_oo)."""
    try:
        value = int(bound)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return otherwise
    return value if abs(value) < 2**62 else otherwise
