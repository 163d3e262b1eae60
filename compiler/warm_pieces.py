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

from . import index_checks
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
    """The loaded pieces of a warm start, run as the program says (PartitionedGraph's
    calls: a list of results, PieceGuardFailure when a piece's guards fail). What reads
    the graph compiles it, from the caches, when asked (`full`)."""

    def __init__(self, entry: dict, executables: list, device: torch.device, full):
        self.device = device
        self.from_cache = True
        self._full = full
        self._pieces = [_Piece(p, executable, device)
                        for p, executable in zip(entry["pieces"], executables)]
        self._steps = [(s["piece"], [tuple(a) for a in s["args"]]) for s in entry["program"]]
        self._outputs = [tuple(o) for o in entry["piece_outputs"]]
        self.kernels = sum(self._pieces[p].kernels for p, _ in self._steps)

    def __call__(self, ins: list[torch.Tensor]) -> list[torch.Tensor]:
        results = []

        def value(ref):
            step, k = ref
            return ins[-step - 1] if step < 0 else results[step][k]

        for n, (piece, args) in enumerate(self._steps):
            results.append(self._pieces[piece](n, [value(a) for a in args]))
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


class _Piece:
    def __init__(self, entry: dict, executable, device: torch.device):
        self.executable = executable
        self.kernels = entry["kernels"]
        self.workspace = entry["workspace"]
        self.aligned = entry["aligned"]
        self.expected = [(tuple(s), tuple(st)) for s, st in entry["expected"]]
        self.results = [(tuple(s), getattr(torch, d)) for s, d in entry["results"]]
        self.index_checks = [index_checks.IndexCheck(*c) for c in entry["index_checks"]]
        self.device = device

    def __call__(self, step: int, ins: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.index_checks:
            index_checks.run(self.index_checks, ins)
        outs = [torch.empty(s, dtype=d, device=self.device) for s, d in self.results]
        scratch = [torch.empty(self.workspace, dtype=torch.uint8, device=self.device)] \
            if self.workspace is not None else []
        status = self.executable(ins + outs + scratch)
        if status:
            index = status - 1
            raise PieceGuardFailure(
                f"input {index} of piece {step}: sizes {tuple(ins[index].shape)} strides "
                f"{tuple(ins[index].stride())}, compiled for {self.expected[index]}"
                if index < len(ins) else f"output {index - len(ins)} of piece {step}")
        return outs
