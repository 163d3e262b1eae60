"""Repeated layers (compiler/repeated_layers.py, issue 19): a model whose layers are one
ModuleList's modules called in turn runs as pieces cut at the layers' boundaries, and the
layers' piece compiles once for all."""

import json
import os
import subprocess
import sys

import pytest
import torch

import mlirfuse
from mlirfuse.compiler.compiled_graph import CompiledGraph
from mlirfuse.compiler.partition import PartitionedGraph
from mlirfuse.compiler.repeated_layers import MIN_LAYERS
from models import LastHidden


class Block(torch.nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = torch.nn.LayerNorm(width)
        self.up = torch.nn.Linear(width, 2 * width)
        self.down = torch.nn.Linear(2 * width, width)

    def forward(self, x):
        return x + self.down(torch.nn.functional.gelu(self.up(self.norm(x))))


class Stack(torch.nn.Module):
    def __init__(self, depth: int, width: int = 32, blocks=None):
        super().__init__()
        self.embed = torch.nn.Linear(16, width)
        self.layers = torch.nn.ModuleList(blocks or [Block(width) for _ in range(depth)])
        self.head = torch.nn.Linear(width, 4)

    def forward(self, x):
        h = torch.tanh(self.embed(x))
        for layer in self.layers:
            h = layer(h)
        return self.head(h).softmax(-1)


def _compiled(model, x, **options):
    torch.manual_seed(0)
    compiled = mlirfuse.compile(model.eval(), **options)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(compiled(x + 1), model(x + 1), rtol=1e-5, atol=1e-5)
    assert compiled.stats.eager_ops == 0 and compiled.stats.compilations == 1
    return compiled


def test_the_layers_piece_compiles_once_for_all(cache_folder):
    """(An empty cache: compiled, not loaded by a warm start.)"""
    torch.manual_seed(0)
    x = torch.randn(8, 16)
    compiled = _compiled(Stack(6), x)
    graph = compiled._last.graph
    assert isinstance(graph, PartitionedGraph)
    # The ops before the layers, six layers, the ops after: three distinct pieces.
    assert len(graph.pieces) == 8
    assert len({id(p) for p in graph.pieces}) == 3
    assert compiled.explain().eager == []


@pytest.mark.parametrize("options,model", [
    ({}, lambda: Stack(MIN_LAYERS - 1)),
    ({"layers": False}, lambda: Stack(6)),
    # Layers of one list that differ (another width inside): compiled whole.
    ({}, lambda: Stack(0, 32, [Block(32) for _ in range(5)] + [torch.nn.Sequential(
        torch.nn.Linear(32, 32), torch.nn.ReLU())])),
], ids=["too-few", "off", "different"])
def test_a_graph_without_repeated_layers_compiles_whole(options, model, cache_folder):
    torch.manual_seed(0)
    compiled = _compiled(model(), torch.randn(8, 16), **options)
    assert isinstance(compiled._last.graph, CompiledGraph)


def test_a_transformers_gpt2_compiles_one_layer_for_all(cache_folder):
    tf = pytest.importorskip("transformers", reason="transformers is not installed")
    torch.manual_seed(0)
    model = LastHidden(tf.GPT2Model(tf.GPT2Config(n_embd=64, n_layer=MIN_LAYERS, n_head=4,
                                                   vocab_size=128)).eval())
    ids = torch.randint(0, 128, (2, 16))
    compiled = mlirfuse.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids), model(ids), rtol=1e-4, atol=1e-4)
    graph = compiled._last.graph
    assert isinstance(graph, PartitionedGraph) and compiled.stats.eager_ops == 0
    assert len({id(p) for p in graph.pieces}) == 3 and len(graph.pieces) == MIN_LAYERS + 2


def test_a_function_calling_a_model_it_closes_over_finds_its_layers(cache_folder):
    """torch.export records the module calls of the traced module's submodules only: the
    models a plain function names are made submodules of what is traced (before: compiled
    whole, the weights constants)."""
    torch.manual_seed(0)
    model, x = Stack(6).eval(), torch.randn(8, 16)

    def run(x):
        return model(x) + 1

    compiled = mlirfuse.compile(run)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), run(x), rtol=1e-5, atol=1e-5)
    graph = compiled._last.graph
    assert isinstance(graph, PartitionedGraph) and len({id(p) for p in graph.pieces}) == 3


def test_a_graph_of_pieces_starts_warm_in_another_process(tmp_path):
    """The warm start's entry holds each distinct piece's code and the program wiring
    them: a second process loads it with no capture and no compile, the same bits."""
    script = """
import json, sys, torch, mlirfuse
sys.path.insert(0, %r)
from test_repeated_layers import Stack
torch.manual_seed(0)
model = Stack(6).eval()
x = torch.randn(8, 16)
compiled = mlirfuse.compile(model)
with torch.no_grad():
    got = compiled(x)
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    again = compiled(x + 1)
    torch.testing.assert_close(again, model(x + 1), rtol=1e-5, atol=1e-5)
print(json.dumps({"loads": compiled.stats.cache_loads, "phases": sorted(compiled.timings()),
                  "bits": got.view(torch.int32).sum().item(), "kernels": compiled.stats.kernels,
                  "graph": type(compiled._last.graph).__name__}))
""" % os.path.dirname(__file__)
    env = {**os.environ, "MLIRFUSE_CACHE_DIR": str(tmp_path)}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    cold, warm = runs
    assert (cold["loads"], warm["loads"]) == (0, 1)
    assert warm["phases"] == ["load", "total"] and warm["graph"] == "WarmPieces"
    assert warm["bits"] == cold["bits"] and warm["kernels"] == cold["kernels"]


def test_an_artifact_of_a_layered_model_holds_one_library(tmp_path):
    torch.manual_seed(0)
    model, x = Stack(6).eval(), torch.randn(8, 16)
    run = mlirfuse.load(mlirfuse.export(model, (x,), str(tmp_path / "a")))
    with torch.no_grad():
        torch.testing.assert_close(run(x), model(x), rtol=1e-5, atol=1e-5)


def test_warm_code_that_rejects_its_arguments_compiles_again(cache_folder):
    """A warm start whose code does not take the call it was keyed for (its pieces wired
    wrong: the H200's torch once ordered a piece's inputs otherwise) is a bug, said as a
    warning; the call is compiled the usual way and its result is eager's."""
    from mlirfuse.compiler import graph_cache, warm_start
    from mlirfuse.compiler.errors import InternalErrorWarning

    torch.manual_seed(0)
    model, x = Stack(6).eval(), torch.randn(8, 16)
    with torch.no_grad():
        mlirfuse.compile(model)(x)
        name = warm_start.key(model, (x,), mlirfuse.compile(model).options)
        entry = graph_cache.load(name)
        first = entry["program"][0]["args"]
        first[0], first[1] = first[1], first[0]  # the first piece's inputs swapped
        graph_cache.put(name, entry, team=False)
        compiled = mlirfuse.compile(model)
        with pytest.warns(InternalErrorWarning, match="warm start rejected"):
            got = compiled(x)
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(compiled(x + 1), model(x + 1), rtol=1e-5, atol=1e-5)
    assert not getattr(compiled._last, "warm", False)


def test_dynamos_graph_is_cut_at_its_layers_and_names_the_users_lines(cache_folder):
    """torch.compile(backend="mlirfuse") hands a graph whose module stack is dynamo's
    (`L['self'].layers.3`): captured node by node with it kept, the layers are found, and
    an op's source line is the user's, not the graph module's generated code (before:
    compiled whole, every op at `forward` of `<eval_with_key>`)."""
    from mlirfuse.compiler.api import CompiledFunction

    torch.manual_seed(0)
    model, x = Stack(6).eval(), torch.randn(8, 16)
    graphs = []

    def backend(gm, example_inputs):
        compiled = CompiledFunction(gm, mlirfuse.compiler.options.Options())
        graphs.append(compiled)
        return compiled

    run = torch.compile(model, backend=backend)
    with torch.no_grad():
        torch.testing.assert_close(run(x), model(x), rtol=1e-5, atol=1e-5)
    (compiled,) = graphs
    graph = compiled._last.graph
    assert isinstance(graph, PartitionedGraph) and len(graph.pieces) == 8
    assert len({id(p) for p in graph.pieces}) == 3
    traces = [n.meta.get("stack_trace") or "" for n in
              compiled._last.captured.graph_module.graph.nodes if n.op == "call_function"]
    assert any("return x + self.down" in t for t in traces)
    assert not any("eval_with_key" in t for t in traces)


def _fifo_topo_sort(nodes):
    """torch's topo_sort before 2.13 (the H200's 2.11): a FIFO queue, which reorders a list
    already sorted where nodes do not depend on each other."""
    import collections

    indegree = dict.fromkeys(nodes, 0)
    queue = collections.deque()
    for n in nodes:
        indegree[n] = sum(1 for i in n.all_input_nodes if i in indegree)
        if indegree[n] == 0:
            queue.append(n)
    out = []
    while queue:
        n = queue.popleft()
        out.append(n)
        for user in n.users:
            if user in indegree:
                indegree[user] -= 1
                if indegree[user] == 0:
                    queue.append(user)
    return out


def test_pieces_are_shared_whatever_order_torchs_topo_sort_gives(cache_folder, monkeypatch):
    """A piece is made one way where it is compiled to be shared and where the graph gets
    it: with torch 2.11's topo_sort, the two orders differed, and every layer compiled
    again (8 pieces compiled, none shared; on the H200)."""
    from mlirfuse.compiler import compiled_graph, partition

    monkeypatch.setattr(partition, "topo_sort", _fifo_topo_sort)
    made = []
    real = compiled_graph.CompiledGraph.__init__

    def counted(self, *args, **kwargs):
        made.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(compiled_graph.CompiledGraph, "__init__", counted)
    torch.manual_seed(0)
    compiled = _compiled(Stack(6), torch.randn(8, 16))
    graph = compiled._last.graph
    assert len(graph.pieces) == 8 and len({id(p) for p in graph.pieces}) == 3
    assert len(made) == 3
