"""Warm starts of a graph run as pieces (a model's repeated layers: repeated_layers.py):
the entry holds each distinct piece's code and calling convention, and the program that
wires them (which piece runs on which values); loaded, the pieces run with no graph.

Entry fields (warm_start.py writes them under "pieces" and "program"):
  pieces   per distinct piece: its library, ranks, extern specs, whether it calls cuBLAS
           or cuDNN, the sizes and strides it was built for, its results' sizes and
           dtypes, its workspace's bytes, its index checks, its kernels;
  program  per call of a piece, in order: the piece and its arguments;
  piece_outputs  the graph's outputs. A value is [v, k]: output k of step v (v < 0:
           graph input -v - 1).
"""

from __future__ import annotations

import torch

from .compiled_graph import CompiledGraph
from .partition import PartitionedGraph, PieceGuardFailure


def program(graph: PartitionedGraph) -> dict | None:
    """The program of a graph run as pieces, None when something else runs in it (an
    eager op: only a graph whose every op compiled takes a warm start)."""
    names = {}  # node -> value
    steps, pieces, index = [], [], {}
    placeholders = 0
    by_name = {f"piece_{i}": p for i, p in enumerate(graph.pieces)}
    for node in graph.module.graph.nodes:
        if node.op == "placeholder":
            placeholders += 1
            names[node] = [-placeholders, 0]
        elif node.op == "call_module" and node.target in by_name:
            piece = by_name[node.target]
            if id(piece) not in index:
                index[id(piece)] = len(pieces)
                pieces.append(piece)
            steps.append({"piece": index[id(piece)], "args": [names[a] for a in node.args]})
            names[node] = [len(steps) - 1, None]
        elif node.op == "call_function" and node.target.__name__ == "getitem" and \
                names.get(node.args[0], [0, 0])[1] is None:
            names[node] = [names[node.args[0]][0], node.args[1]]
        elif node.op == "output":
            outputs = [names.get(a) for a in node.args[0]]
            if any(o is None or o[1] is None for o in outputs):
                return None
            return {"pieces": pieces, "steps": steps, "outputs": outputs}
        else:
            return None
    return None


class WarmPieces:
    """The loaded pieces of a warm start (`graphs`: each distinct piece's WarmGraph), run
    as the entry's program says (PartitionedGraph's calls: a list of results,
    PieceGuardFailure when a piece's guards fail). What reads the graph compiles it, from
    the caches, when asked (`full`)."""

    def __init__(self, entry: dict, graphs: list[CompiledGraph], device: torch.device, full):
        self.device = device
        self.from_cache = True
        self._full = full
        self._graphs = graphs
        self._steps = [(s["piece"], [tuple(a) for a in s["args"]]) for s in entry["program"]]
        self._outputs = [tuple(o) for o in entry["piece_outputs"]]
        self.kernels = sum(graphs[p].kernels for p, _ in self._steps)

    def __call__(self, ins: list[torch.Tensor]) -> list[torch.Tensor]:
        results = []

        def value(ref):
            step, k = ref
            return ins[-step - 1] if step < 0 else results[step][k]

        for n, (piece, args) in enumerate(self._steps):
            graph, values = self._graphs[piece], [value(a) for a in args]
            status, outs = graph(values)
            if status:
                index = status - 1
                raise PieceGuardFailure(graph.explain(index, values[index],
                                                      f"input {index} of piece {n}")
                                        if index < len(values) else
                                        f"output {index - len(values)} of piece {n}")
            results.append(outs)
        return [value(o) for o in self._outputs]

    @property
    def pieces(self) -> list[CompiledGraph]:
        return self._full().graph.pieces

    @property
    def eager(self) -> list:
        return []

    @property
    def module(self):
        return self._full().graph.module
