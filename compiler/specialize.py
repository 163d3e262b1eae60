"""One specialization: a graph compiled for one set of argument shapes, dtypes and constants.

Building it captures the callable and compiles the graph: whole when it compiles
(a CompiledGraph), else partitioned, its unsupported ops run as eager torch ops
between compiled pieces (a PartitionedGraph; with `on_unsupported="error"` the
CompileError is raised instead). Calling it is the hot path: resolve the graph's
inputs (user tensors, the module's current parameters and buffers), run, write
back in-place mutations, and rebuild the user's result structure.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable

import torch
import torch.utils._pytree as pytree

from . import capture as capture_mod
from . import decompositions, dynamic_check, extern, hazards, library_kernels, module_state
from . import collector, progress, timings
from .compiled_graph import ALIGN, CompiledGraph, lower_graph
from .errors import CompileError
from .options import Options
from .target import target_device
from .partition import EagerOp, PartitionedGraph, PieceGuardFailure, op_name
from .repeated_layers import layer_groups
from .screen import OP_STAGES, failure_reason, learn_failure, mark_externs, screen

# Captures of one specialization after learning decompositions of ops that failed.
MAX_DECOMPOSITION_ROUNDS = 3
# Compiles of a whole graph, each after making the op the last one failed on an extern
# call (compiler/extern.py); then the graph is partitioned around what still fails.
MAX_EXTERN_ROUNDS = 8

# Status of a call that needs autograd for a tensor the graph holds as a constant (the
# training path, compiler/training.py, takes arguments and parameters that require grad).
NEEDS_AUTOGRAD = -1
# Status of a call where a compiled piece of a partitioned graph rejected the tensors the
# eager ops before it made (Specialization.explain says which).
PIECE_GUARD = -2

__all__ = ["ALIGN", "NEEDS_AUTOGRAD", "PIECE_GUARD", "Specialization", "lower"]


def graph_inputs(captured: capture_mod.Captured, args: tuple) -> list[torch.Tensor]:
    """The tensors of the graph's inputs for `args`: user tensors, parameters, constants."""
    tensors = capture_mod.split_args(args)[0]
    out = []
    for inp in captured.inputs:
        if inp.kind == "user":
            out.append(tensors[inp.index])
        elif inp.kind == "state":
            out.append(module_state.state_getter(inp.path)(captured.module))
        else:
            out.append(inp.value)
    return out


def lower(fn: Callable, args: tuple, options: Options, stop_after: str,
          target: str = "cpu"):
    """Captures `fn(*args)` and runs the stages up to `stop_after` ("raw" stops after import).

    Returns:
      (Captured, the module at that stage, the StageRecord of stage texts).
    """
    captured = capture_mod.capture(fn, args)
    module, record = lower_graph(captured.graph_module, graph_inputs(captured, args), options,
                                 stop_after, target)
    return captured, module, record


class Specialization:
    """A compiled graph and its calling convention.

    Attributes:
      graph: the CompiledGraph, or the PartitionedGraph when some ops run eager.
      stages: IR text per stage ("raw", "torch", "linalg", ..., "llvm"); of the first
        compiled piece when partitioned (none when nothing compiled).
      kernels: loop nests the compiled code runs per call.
      eager: the ops that run eager (partition.EagerOp), empty when compiled whole.
      externs: the ops the compiled code runs with torch's kernel (extern calls), as
        EagerOps: the reason is why they have no native code.
      compile_seconds: wall time of the compile.
      timings: seconds per phase of the compile (compiler/timings.py), and "total".
      dynamic_dims: per distinct tensor argument, the dimensions compiled for every size
        (None: every size specialized).
    Raises:
      CompileError, with `dynamic` (the dimensions to make symbolic per distinct tensor
      argument), when no code for symbolic sizes could be made (the caller specializes).
    """

    def __init__(self, fn: Callable, args: tuple, options: Options,
                 dynamic: list[tuple[int, ...]] | None = None):
        start = time.perf_counter()
        self._dynamic = dynamic
        label = getattr(fn, "__qualname__", None) or type(fn).__name__
        with timings.recording() as self.timings, progress.showing(label, options.progress), \
                collector.paused():
            self._compile_all(fn, args, options)
        self.compile_seconds = time.perf_counter() - start
        self.timings["total"] = self.compile_seconds
        if options.dump_dir:
            os.makedirs(options.dump_dir, exist_ok=True)
            with open(os.path.join(options.dump_dir, "timings.json"), "w") as f:
                json.dump(self.timings, f, indent=1)
        self._bind_state()

    def _bind_state(self) -> None:
        """What a call reads of the module and writes back, from the calling convention."""
        self._getters = [
            module_state.state_getter(i.path) if i.kind == "state" else None
            for i in self.captured.inputs
        ]
        inputs = self.captured.inputs
        self._state = module_state.StateReader([i.path for i in inputs if i.kind == "state"])
        states = [k for k, i in enumerate(inputs) if i.kind == "state"]
        users = [k for k, i in enumerate(inputs) if i.kind == "user"]
        fixed = [k for k, i in enumerate(inputs) if i.kind not in ("state", "user")]
        self._user_indices = [inputs[k].index for k in users]
        self._fixed = [inputs[k].value if self._constants[k] is None else self._constants[k]
                       for k in fixed]
        position = {k: p for p, k in enumerate(states + users + fixed)}
        order = [position[k] for k in range(len(inputs))]
        self._order = None if order == list(range(len(inputs))) else order
        self._mutation_getters = [
            module_state.state_getter(t.path) if t.kind == "state" else None
            for t, _ in self.captured.mutations
        ]
        self._last_piece_failure = ""
        self._counted = self._counted_eager = 0
        self._count_lock = threading.Lock()

    def _compile_all(self, fn: Callable, args: tuple, options: Options) -> None:
        self._capture(fn, args, options)
        # Ops that failed to compile and that torch can decompose: decomposed, captured
        # and compiled again (decompositions.LEARNED; a few rounds, decompositions make ops).
        for _ in range(MAX_DECOMPOSITION_ROUNDS):
            if not isinstance(self.graph, PartitionedGraph) or options.on_unsupported == "error":
                break
            learned = decompositions.learn(self.graph.failed)
            if not learned:
                break
            before = (self.captured, self.graph, self._constants, self._on_device, self.device)
            try:
                self._capture(fn, args, options)
                helped = not isinstance(self.graph, PartitionedGraph) or \
                    len(self.graph.eager) < len(before[1].eager)
            except CompileError:  # the decomposition does not trace
                helped = False
            if not helped:  # (its parts do not compile either: prims.bessel_j0...)
                decompositions.forget(learned)
                self.captured, self.graph, self._constants, self._on_device, self.device = before
                if options.extern_calls:  # nothing left to try: extern calls, where they can
                    self._capture_again(fn, args, options, before)
                break
        self.dynamic_dims = self._symbolic_dims()
        if isinstance(self.graph, PartitionedGraph):
            self.eager = self.graph.eager
            self.stages = self.graph.pieces[0].stages if self.graph.pieces else {}
            compiled = self.graph.pieces
        else:
            self.eager = []
            self.stages = self.graph.stages
            compiled = [self.graph]
        self.externs = [EagerOp(n.name, op_name(n), capture_mod.source_of(n), n.meta[extern.WHY])
                        for g in compiled for n in extern.marked_nodes(g.graph_module)]
        #: Whether every compiled graph's code came from the on-disk cache (graph_cache).
        self.from_cache = bool(compiled) and all(g.from_cache for g in compiled)
        self.kernels = self.graph.kernels
        self._rng = self.captured.rng or None  # (tested once here, not at every call)

    def _symbolic_dims(self) -> list[tuple[int, ...]] | None:
        """The dimensions of each distinct tensor argument the code takes at any size
        (the code checked against eager first: compiler/dynamic_check.py)."""
        if self._dynamic is None:
            return None
        if not isinstance(self.graph, CompiledGraph) or not self.graph.shapes.dynamic:
            why = "it runs partly eager" if isinstance(self.graph, PartitionedGraph) else \
                "torch kept every size static"
            raise CompileError(f"no code for symbolic sizes: {why}", stage="capture")
        dynamic_check.check(self.graph, self._examples)
        dims = [()] * len(self._dynamic)
        for inp, names in zip(self.captured.inputs, self.graph.shapes.example_symbols):
            if inp.kind == "user":
                dims[inp.index] = tuple(d for d, n in enumerate(names) if n >= 0)
        return dims

    def _capture_again(self, fn: Callable, args: tuple, options: Options, before) -> None:
        """Captures and compiles again; keeps the new graph if fewer ops run eager."""
        try:
            self._capture(fn, args, options)
            if not isinstance(self.graph, PartitionedGraph) or \
                    len(self.graph.eager) < len(before[1].eager):
                return
        except CompileError:
            pass
        self.captured, self.graph, self._constants, self._on_device, self.device = before

    def _capture(self, fn: Callable, args: tuple, options: Options) -> None:
        """Captures `fn(*args)` and compiles its graph."""
        keep = library_kernels.kept(args, options)
        while True:
            with timings.phase("capture"):
                self.captured = capture_mod.capture(fn, args, self._dynamic, keep)
            examples = graph_inputs(self.captured, args)
            gm = self.captured.graph_module
            self.device = target_device(options, list(enumerate(examples)), self.describe, gm)
            if not keep or library_kernels.mark_kept(gm, self.device, keep):
                break
            keep = frozenset()  # an op kept whole that no library kernel takes here
        # Constants captured with the graph live where the code runs.
        self._constants = [i.value.to(self.device) if i.kind == "constant" else None
                           for i in self.captured.inputs]
        examples = [c if c is not None else t for c, t in zip(self._constants, examples)]
        self._examples = examples
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        self._on_device = {n.name for n, i in zip(placeholders, self.captured.inputs)
                           if i.kind == "constant"}
        self.graph = self._compile(gm, examples, options)

    def _compile(self, gm: torch.fx.GraphModule, examples: list[torch.Tensor],
                 options: Options):
        """The whole graph compiled, or partitioned around what does not compile."""
        first_error = None
        if options.on_unsupported == "error":
            for n in gm.graph.nodes:  # what would crash the toolchain never reaches it
                reason = hazards.strict(n, self.device)
                if reason:
                    raise CompileError(reason, stage="capture", op=str(n.target),
                                       source=capture_mod.source_of(n), nodes=[n.name])
            return CompiledGraph(gm, examples, self.device, options)
        if options.extern_calls and options.library_kernels:
            library_kernels.mark(gm, self.device)
            if self._dynamic is not None:  # the caller specializes instead
                library_kernels.check_symbolic(gm, self.device)
        layered = self._layered(gm, examples, options)
        if layered is not None:
            return layered
        for _ in range(MAX_EXTERN_ROUNDS):
            if options.extern_calls:  # (each round: the op that failed may occur again)
                mark_externs(gm, self.device, self._on_device)
            if any(screen(n, self.device, self._on_device) for n in gm.graph.nodes):
                break
            try:
                return CompiledGraph(gm, examples, self.device, options)
            except CompileError as e:
                if self._dynamic is not None:  # the caller specializes instead
                    raise
                first_error = e
                if not (options.extern_calls and self._extern_instead(e, gm, self.device)):
                    break
        if self._dynamic is not None:
            raise CompileError("no code for symbolic sizes: the graph needs eager ops",
                               stage="capture")
        return PartitionedGraph(gm, examples, self.device, options, first_error,
                                self._on_device)

    def _layered(self, gm: torch.fx.GraphModule, examples: list[torch.Tensor],
                  options: Options) -> PartitionedGraph | None:
        """The graph cut at its repeated layers' boundaries, each distinct piece compiled
        once (repeated_layers.py); None when it has no such layers, or a piece does not
        compile whole (then the graph compiles as any other)."""
        if not options.layers or self._dynamic is not None:
            return None
        groups = layer_groups(gm)
        if groups is None:
            return None
        try:
            graph = PartitionedGraph(gm, examples, self.device, options, None,
                                     self._on_device, {n.name: g for n, g in groups.items()})
        except CompileError:
            return None
        if graph.eager:  # what runs eager partitions the graph by itself
            return None
        return graph

    @staticmethod
    def _extern_instead(error: CompileError, gm: torch.fx.GraphModule,
                        device: torch.device) -> bool:
        """Marks the one op `error` is about as an extern call when it can be one (an op
        without a lowering, whose decompositions have nothing left to try); True when
        marked (compile the whole graph again)."""
        if error.stage not in OP_STAGES or len(error.nodes) != 1:
            return False
        node = next((n for n in gm.graph.nodes if n.name == error.nodes[0]), None)
        # Not yet where torch's decomposition may help: partitioning records the failure
        # (PartitionedGraph.failed), and the decomposition is learned from there.
        if node is None or node.op != "call_function" or extern.marked(node) or \
                not decompositions.exhausted(node):
            return False
        return learn_failure(node, failure_reason(error), device)

    def new_counts(self) -> tuple[int, int]:
        """(variants of pieces compiled, pieces run eager because theirs did not compile)
        at calls since the last time this was asked."""
        if not isinstance(self.graph, PartitionedGraph):
            return 0, 0
        with self._count_lock:  # threads call one specialization at once
            n = self.graph.compilations - self._counted
            self._counted += n
            e = self.graph.eager_runs - self._counted_eager
            self._counted_eager += e
        return n, e

    def describe(self, index: int) -> str:
        """Names graph input `index` for a message."""
        inp = self.captured.inputs[index]
        if inp.kind == "user":
            return f"tensor argument {inp.index}"
        if inp.kind == "state":
            return f"'{inp.path.removeprefix('fn.').removeprefix('closed.')}'"
        return f"constant {index}"

    def explain(self, status: int, tensors: list[torch.Tensor]) -> str:
        """Says which argument broke its guard, and how, for a failed status."""
        if status == PIECE_GUARD:
            return self._last_piece_failure
        index = status - 1
        if index >= len(self.captured.inputs):
            return f"output {index - len(self.captured.inputs)} broke its guard"
        got = self._resolve(self.captured.inputs[index], self._getters[index], tensors)
        return self.graph.explain(index, got, self.describe(index))

    def _resolve(self, inp: capture_mod.Input, getter, tensors: list[torch.Tensor],
                 constant=None):
        if inp.kind == "user":
            return tensors[inp.index]
        if inp.kind == "state":
            return getter(self.captured.module)
        return inp.value if constant is None else constant

    def __call__(self, tensors: list[torch.Tensor]) -> tuple[int, Any]:
        """Runs the compiled code.

        Returns:
          (status, result): status 0 and the user's result when the guards held;
          NEEDS_AUTOGRAD when grad mode is on and an input requires grad (the compiled
          code computes forward values only: the caller runs eager); PIECE_GUARD when a
          compiled piece rejected what the eager ops before it made; else 1 + the index
          of the first graph input that broke its guard; result None then.
        """
        cap = self.captured
        # The state in its order, then the user's tensors, then the constants: put in the
        # graph's order where that is another (_bind_state).
        ins = self._state(cap.module)
        ins += [tensors[i] for i in self._user_indices]
        ins += self._fixed
        if self._order is not None:
            ins = [ins[k] for k in self._order]
        if torch.is_grad_enabled() and any(t.requires_grad for t in ins):
            return NEEDS_AUTOGRAD, None
        if self._rng:  # the function's own seeding and restores (compiler/seeding.py)
            saved = self._rng.before()
            try:
                return self._run(cap, ins, tensors)
            finally:
                self._rng.after(saved)
        return self._run(cap, ins, tensors)

    def _run(self, cap: capture_mod.Captured, ins: list[torch.Tensor],
             tensors: list[torch.Tensor]) -> tuple[int, Any]:
        with torch.no_grad():
            if isinstance(self.graph, CompiledGraph):
                status, outs = self.graph(ins)
                if status:
                    return status, None
            else:
                try:
                    outs = self.graph(ins)
                except PieceGuardFailure as e:
                    self._last_piece_failure = str(e)
                    return PIECE_GUARD, None
            for (target, index), getter in zip(cap.mutations, self._mutation_getters):
                self._resolve(target, getter, tensors).copy_(outs[index])
        it = iter(cap.outputs)
        leaves = []
        for i in range(cap.out_spec.num_leaves):
            if i in cap.out_consts:
                leaves.append(cap.out_consts[i])
                continue
            out = next(it)
            if out.kind == "result":
                leaves.append(outs[out.index])
            elif out.kind == "input":
                leaves.append(tensors[out.index])
            else:  # a parameter or buffer returned as is: the module's own tensor
                leaves.append(module_state.state_getter(out.path)(cap.module))
        for i, kind in cap.scalars.items():
            leaves[i] = kind(leaves[i].item())
        return 0, pytree.tree_unflatten(leaves, cap.out_spec)
