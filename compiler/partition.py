"""Partitioning: compile the parts of a graph that compile, run the rest as eager torch ops.

A captured graph that does not compile whole is split at the FX level, before import.
An oracle says which nodes run eager:
  * by looking (`screen`): ops that draw random numbers (eager's generator decides their
    values), that return Python values (`.item()`), whose shapes depend on the data
    (`nonzero`, boolean masks), or that touch tensors on another device than the target;
    and op signatures (op, dtypes, ranks, constant arguments) that failed to compile
    before in this process (`KNOWN`);
  * by trying: each partition is compiled; a CompileError names the graph node it is
    about (every op's location carries its node's name, compiler/importer.py). A node
    that does not import or lower to linalg runs eager from then on. A failure of a later
    stage (fusion, code generation: about what ops make together, a kernel too wide) or
    one that names no node splits its partition in two (topological halves), until the
    halves compile or a single node is left, which runs eager.
torch's CapabilityBasedPartitioner groups the other nodes into maximal partitions (no
cycles through eager nodes). Each partition becomes a submodule of the graph holding a
CompiledGraph; the graph's own generated Python code runs the eager ops between them on
the tensors the compiled pieces returned, without copies.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator

import torch
from torch.fx._lazy_graph_module import _use_lazy_graph_module
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase
from torch.fx.passes.tools_common import stable_topological_sort
from torch.fx.passes.utils.fuser_utils import (erase_nodes, fuse_as_graphmodule, insert_subgm,
                                               topo_sort)

from .screen import OP_STAGES, failure_reason, learn_failure, mark_externs, screen
from .capture import source_of
from .compiled_graph import CompiledGraph
from .pieces import Piece, PieceGuardFailure
from .errors import CompileError
from .options import Options

# Partitions tried before the rest of a graph is given up on (runs eager).
MAX_ATTEMPTS = 64

# Ops that only make a view (or nothing): a partition of these alone costs a compile and a
# copy, where eager costs nothing.
_FREE = {"aten.view", "aten._unsafe_view", "aten.reshape", "aten.expand", "aten.permute",
         "aten.t", "aten.transpose", "aten.squeeze", "aten.unsqueeze", "aten.slice",
         "aten.select", "aten.alias", "aten.detach", "aten.clone", "aten.lift_fresh_copy",
         "aten.as_strided", "aten.split", "aten.split_with_sizes", "aten.unbind",
         "aten.sym_size", "aten.sym_stride", "aten.sym_numel", "aten._assert_tensor_metadata"}


@dataclasses.dataclass
class EagerOp:
    """An op of the graph that runs as the eager torch op."""

    node: str
    op: str
    source: str | None
    reason: str


def op_name(node: torch.fx.Node) -> str:
    """`aten.add.Tensor` for an aten op; the callable's name otherwise."""
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._schema.name.split('::')[-1]}.{target._overloadname}"
    return getattr(target, "__name__", str(target))


def _packet(node: torch.fx.Node) -> str:
    return op_name(node).rsplit(".", 1)[0] if isinstance(
        node.target, torch._ops.OpOverload) else op_name(node)


class _Support(OperatorSupportBase):
    def __init__(self, eager: dict[str, str]):
        self.eager = eager

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:
        if node.op != "call_function" or node.name in self.eager:
            return False
        if node.target is operator.getitem:  # follows its producer
            return isinstance(node.args[0], torch.fx.Node) and self.is_node_supported(
                submodules, node.args[0])
        return True


def _copy(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A graph module with a copy of the graph (same node names, same meta)."""
    graph = torch.fx.Graph()
    out = graph.graph_copy(gm.graph, {})
    graph.output(out)
    return torch.fx.GraphModule(gm, graph)


def graph_key(gm: torch.fx.GraphModule, examples: list[torch.Tensor]) -> tuple:
    """The structure of a graph up to value names, and what its inputs look like."""
    index = {}

    def ref(a):
        if isinstance(a, torch.fx.Node):
            return ("%", index[a])
        if isinstance(a, (list, tuple)):
            return tuple(ref(x) for x in a)
        if isinstance(a, dict):
            return tuple((k, ref(v)) for k, v in sorted(a.items()))
        return repr(a)

    nodes = []
    for i, n in enumerate(gm.graph.nodes):
        index[n] = i
        if n.op != "placeholder":
            nodes.append((n.op, str(n.target), ref(n.args), ref(n.kwargs)))
    inputs = tuple((t.dtype, tuple(t.shape), tuple(t.stride()), str(t.device),
                    t.data_ptr() % 16 == 0) for t in examples)
    return inputs, tuple(nodes)


def _contiguous(value):
    if isinstance(value, torch.Tensor):
        return value.contiguous()
    if isinstance(value, (list, tuple)):
        return type(value)(_contiguous(v) for v in value)
    return value


def example_values(gm: torch.fx.GraphModule, inputs: list[torch.Tensor],
                   device: torch.device, compiled=lambda node: False
                   ) -> dict[torch.fx.Node, object]:
    """Every node's value on the example inputs, computed eagerly (random state kept).
    A node `compiled` says may compile gets a contiguous value: a compiled piece returns
    its results in new contiguous tensors, whatever layout the eager op would give."""
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            values[n] = super().run_node(n)
            if n.op == "call_function" and compiled(n):
                values[n] = _contiguous(values[n])
            return values[n]

    devices = [device] if device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        Recorder(gm).run(*inputs)
    return values


_INSERTION_POINT = "insertion_point" in inspect.signature(insert_subgm).parameters


def _fuse_piece(top: torch.fx.GraphModule, part: list[torch.fx.Node], name: str):
    """(the nodes of `part` in topological order, fuse_as_graphmodule's (submodule, inputs,
    outputs) of them): the one way a piece is made, where it is compiled to be shared and
    where it is put in the graph. The submodule's inputs come in the order its nodes are
    copied, and torch's topo_sort did not keep a sorted list's order before torch 2.13
    (a FIFO queue; 2.13's is stable): on the H200's torch 2.11 the pieces compiled to be
    shared had other input orders than the graph's, whose GPT-2 layers each compiled
    again (12-layer cold compile 2.2x the 2-layer one).
    """
    nodes = topo_sort(list(part))
    return nodes, fuse_as_graphmodule(top, nodes, name, dict.fromkeys(part),
                                      always_return_tuple=True)


def _fuse(top: torch.fx.GraphModule, partitions: list[list[torch.fx.Node]],
          values: dict) -> list[list]:
    """torch's fuse_by_partitions (each partition a submodule `piece_<i>`), returning each
    submodule's example inputs in the order its call passes them. Its submodules' inputs
    may be ordered otherwise than another fuse_as_graphmodule of the same nodes: torch
    2.11 (the H200's) did, and every piece then failed its guards at the first call and
    compiled again."""
    examples = []
    for i, part in enumerate(partitions):
        nodes, (sub, inputs, outputs) = _fuse_piece(top, part, f"piece_{i}")
        if _INSERTION_POINT:  # (torch 2.13 asks where; older ones take the last output)
            insert_subgm(top, sub, inputs, outputs, nodes[-1])
        else:
            insert_subgm(top, sub, inputs, outputs)
        erase_nodes(top, nodes)
        examples.append([values[n] for n in inputs])
        call = next(n for n in top.graph.nodes if n.op == "call_module" and n.target == f"piece_{i}")
        for user in call.users:  # getitem(piece, k): output k's value, for the pieces after
            values[user] = values[outputs[user.args[1]]]
    stable_topological_sort(top)
    return examples


class PartitionedGraph:
    """A graph whose compilable partitions run compiled and whose other ops run eager.

    Args:
      gm: the captured functional graph (not changed).
      examples: one tensor per placeholder.
      first_error: the CompileError of compiling the whole graph, if that was tried.
      on_device: placeholders on `device` at run time whatever their example (screen).
      layers: graph node name -> group: partitions are also cut between groups (a model's
        repeated layers: repeated_layers.py), and identical pieces compile once.
    Attributes:
      module: the graph module that runs: eager ops and `piece_<i>` submodules.
      pieces: the CompiledGraph of each partition, in order.
      eager: one EagerOp per op that runs eager.
      kernels: kernels the pieces run per call.
      compilations: variants of pieces compiled at a call (for strides not seen before).
      eager_runs: pieces run eager at a call (their variant for its strides did not compile).
      failed: the nodes that failed to compile (not those the screen sent eager).
    """

    def __init__(self, gm: torch.fx.GraphModule, examples: list[torch.Tensor],
                 device: torch.device, options: Options, first_error: CompileError | None = None,
                 on_device=frozenset(), layers: dict[str, int] | None = None):
        with _use_lazy_graph_module(True):  # (graph modules' code made when run, once)
            self._build(gm, examples, device, options, first_error, on_device, layers)

    def _build(self, gm, examples, device, options, first_error, on_device, layers) -> None:
        top = _copy(gm)
        nodes = {n.name: n for n in top.graph.nodes}
        self.failed: list[torch.fx.Node] = []
        eager: dict[str, str] = {}
        if options.extern_calls:
            mark_externs(top, device, on_device)
        for n in top.graph.nodes:
            reason = screen(n, device, on_device)
            if reason:
                eager[n.name] = reason
        # The whole graph's failure is the first partition's, when that is the whole graph.
        whole = {n for n in top.graph.nodes if n.op == "call_function"}
        values = example_values(top, examples, device, lambda n: n.name not in eager)
        groups: dict[torch.fx.Node, int] = {nodes[name]: group for name, group in
                                             (layers or {}).items()}
        compiled: dict[tuple, CompiledGraph] = {}
        for _ in range(MAX_ATTEMPTS):
            partitions = self._propose(top, eager, groups)
            failed = False
            for part in partitions:
                _, (sub, inputs, _) = _fuse_piece(top, part, "piece")
                ins = [values[n] for n in inputs]
                key = graph_key(sub, ins)
                if key in compiled:
                    continue
                try:
                    if first_error is not None and set(part) == whole:
                        raise first_error
                    compiled[key] = CompiledGraph(sub, ins, device, options)
                except CompileError as e:
                    first_error = None
                    names = {n.name for n in part}
                    named = [n for n in e.nodes if n in names]
                    if (len(named) == 1 and e.stage in OP_STAGES) or len(part) == 1:
                        self._learn(e, named or [part[0].name], nodes, eager,
                                    device if options.extern_calls else None)
                    else:  # about a combination of ops (a kernel too wide...), or unknown
                        base = max(groups.values(), default=0) + 1
                        for i, n in enumerate(part):
                            groups[n] = base + (2 * i >= len(part))
                    failed = True
                    break
            if not failed:
                break
        else:
            for part in self._propose(top, eager, groups):
                for n in part:
                    eager[n.name] = "gave up compiling this part of the graph after " \
                                    f"{MAX_ATTEMPTS} attempts"
            partitions = []
        self._assemble(top, partitions, values, compiled, device, options)
        self.eager = [EagerOp(n.name, op_name(n), source_of(n),
                              eager.get(n.name, "a view alone between eager ops: free in eager"))
                      for n in self.module.graph.nodes
                      if n.op == "call_function" and n.target is not operator.getitem]

    def _learn(self, error: CompileError, names: list[str], nodes: dict, eager: dict,
               extern_device: torch.device | None) -> None:
        """Nodes that failed to compile become extern calls on `extern_device` where they
        can (torch's decompositions tried first; None: no extern calls) and run eager
        otherwise."""
        reason = failure_reason(error)
        for name in names:
            node = nodes[name]
            if learn_failure(node, reason, extern_device):
                continue
            eager[name] = reason
            self.failed.append(node)

    @staticmethod
    def _propose(top, eager, groups) -> list[list[torch.fx.Node]]:
        position = {n: i for i, n in enumerate(top.graph.nodes)}
        if eager:
            partitioner = CapabilityBasedPartitioner(top, _Support(eager),
                                                     allows_single_node_partition=True)
            proposed = [topo_sort(list(p.nodes)) for p in partitioner.propose_partitions()]
        else:  # one partition, in the graph's order (a topological one): the partitioner's
            proposed = [[n for n in top.graph.nodes if n.op == "call_function"]]  # 0.5 s
        out = []
        for nodes in proposed:
            split: dict[int, list] = {}
            for n in nodes:
                split.setdefault(groups.get(n, 0), []).append(n)
            for part in split.values():
                if all(n.target is operator.getitem or _packet(n) in _FREE for n in part):
                    continue  # views alone: free in eager
                out.append(part)
        return sorted(out, key=lambda part: position[part[0]])

    def _assemble(self, top, partitions, values, compiled, device, options) -> None:
        """Puts each partition in a submodule that runs its compiled code."""
        examples = _fuse(top, partitions, dict(values))
        self.pieces = []
        self.compilations = 0
        self.eager_runs = 0  # pieces run eager at calls (a variant that did not compile)
        for i, ins in enumerate(examples):
            name = f"piece_{i}"
            sub = top.get_submodule(name)
            key = graph_key(sub, ins)
            piece = compiled.get(key)
            if piece is None:  # (a piece _build did not compile: shared from here on)
                piece = compiled[key] = CompiledGraph(sub, ins, device, options)

            def recompile(tensors, sub=sub):
                self.compilations += 1
                return CompiledGraph(sub, tensors, device, options)

            setattr(top, name, Piece(piece, name, [t.dtype for t in ins], recompile, sub,
                                      self._ran_eager, options.on_unsupported == "error"))
            self.pieces.append(piece)
        top.recompile()
        self.module = top
        self.kernels = sum(p.kernels for p in self.pieces)

    def _ran_eager(self) -> None:
        self.eager_runs += 1

    def __call__(self, ins: list[torch.Tensor]) -> list[torch.Tensor]:
        """Runs the graph; raises PieceGuardFailure when a piece's guards fail."""
        return list(self.module(*ins))


