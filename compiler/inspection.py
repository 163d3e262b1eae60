"""What a compiled function says about itself: explain(), ir(stage), its graphs and its
compile times (a mixin of api.CompiledFunction, reading its specializations and the
graphs compiled on its behalf)."""

from __future__ import annotations

import operator

import torch

from .dispatch import Explanation


def graph_ops(gm: torch.fx.GraphModule) -> int:
    """The ops of `gm` (its call_function nodes but getitem)."""
    return sum(1 for n in gm.graph.nodes
               if n.op == "call_function" and n.target is not operator.getitem)


class Inspection:
    """explain(), ir(), graphs, compile_seconds, timings() of a CompiledFunction (its
    `_last` specialization, `_children` graphs, `_capture_error`, training notes)."""

    def _explain_children(self, notes: list[str]) -> Explanation:
        pieces, eager, externs = [], [], []
        for child in self._children:
            if child._last is not None:
                sub = child.explain()
                pieces += sub.pieces
                eager += sub.eager
                externs += sub.externs
        return Explanation(pieces, eager, notes, externs)

    def explain(self) -> Explanation:
        """Says what ran where in the last compiled or called specialization: the compiled
        pieces of the graph, and every op that ran eager, with its source line and why."""
        if self._capture_error is not None:
            notes = [f"the function could not be captured whole ({self._capture_error.reason}"
                     ")" + (": dynamo split it into graphs, the Python between them runs "
                            "eager" if self._children else ": it runs eager")]
            return self._explain_children(notes)
        if self._last is None and self._training:
            # The training path: the pieces of the forward and backward graphs, in order.
            return self._explain_children([f"{len(self._children)} graph(s) compiled by "
                                           f"AOTAutograd: forward and backward"]
                                          + self._training_notes)
        if self._last is None:
            raise RuntimeError("nothing compiled yet: call the function or pass example_inputs")
        spec = self._last
        graph = spec.graph
        if hasattr(graph, "pieces"):
            pieces = [(graph_ops(p.graph_module), p.kernels) for p in graph.pieces]
        else:
            pieces = [(graph_ops(graph.graph_module), spec.kernels)]
        return Explanation(pieces, list(spec.eager), externs=list(spec.externs))

    def ir(self, stage: str = "linalg") -> str:
        """Returns the IR text of the last compiled or called specialization at `stage`.

        Stages: "raw" (as imported), "torch", "linalg", "fused", "guarded",
        "kernels", "bufferized", then on the CPU "loops", "llvm", and on CUDA
        "gpu" (launches and outlined kernels), "ptx" (the PTX text), "llvm".
        When some ops run eager, the stages of the first compiled piece. On the training
        path (or where dynamo split the function) each graph has its own: `graphs`.
        """
        if self._last is None and self._children:
            raise RuntimeError(f"this function ran as {len(self._children)} graphs (forward and "
                               f"backward, or dynamo's pieces): use .graphs[i].ir(stage)")
        if self._last is None:
            raise RuntimeError("nothing compiled yet: call the function or pass example_inputs")
        if stage not in self._last.stages:
            raise ValueError(f"unknown stage {stage!r}; stages: {list(self._last.stages)}")
        return self._last.stages[stage]

    @property
    def graphs(self) -> list["CompiledFunction"]:
        """The graphs compiled on its behalf, in compile order: the forward and backward
        graphs of the training path (`.backward` tells which), or the graphs dynamo split
        the function into; each has its own stats' share, explain() and ir()."""
        return list(self._children)

    @property
    def compile_seconds(self) -> float:
        """Compile time of the last specialization, in seconds; on the training path (or
        where dynamo split the function), of the last specialization of every graph."""
        if self._last is None:
            return sum(c.compile_seconds for c in self._children)
        return self._last.compile_seconds

    def timings(self) -> dict[str, float]:
        """Seconds per phase of the last specialization's compile (compiler/timings.py:
        "capture", "import", each stage, "jit", "llc" nested in stages, "total"); on the
        training path (or where dynamo split the function), summed over every graph's."""
        if self._last is None:
            out: dict[str, float] = {}
            for child in self._children:
                for k, v in child.timings().items():
                    out[k] = out.get(k, 0.0) + v
            return out
        return dict(self._last.timings)

    @property
    def backward_compile_seconds(self) -> float:
        """The part of compile_seconds spent on backward graphs."""
        return sum(c.compile_seconds for c in self._children if c.backward)
