"""Graph capture: a module or function and its example arguments to a functional FX graph.

The user's arguments may be nested (tuple, list, dict, namedtuple) and may hold
Python scalars. They are flattened with torch's pytree: tensor leaves become
runtime inputs, every other leaf is a constant the graph is specialized on.
The callable is wrapped in a module whose forward takes the tensor leaves, so
torch.export lifts parameters, buffers and tensor constants into placeholders
(weights are arguments, not IR constants) and turns in-place mutation into
extra outputs (DESIGN.md, item 8).
"""

from __future__ import annotations

import dataclasses
import re
import types
import warnings
from typing import Any, Callable

import torch
import torch.fx.traceback as fx_traceback
import torch.utils._pytree as pytree
from torch._subclasses.fake_tensor import FakeTensor
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from torch.fx._lazy_graph_module import _LazyGraphModule, _use_lazy_graph_module

from .aten_export import (export_decomposed, frame_walk_stack_traces, portable_kernels,
                          quiet_fake_tensors)
from .decompositions import table as decomposition_table
from .effect_tokens import drop_effect_tokens
from .fold_item import fold_item_into_tensor
from .seeding import RandomState, RngReplay, SeedWatch, random_ops
from .errors import CompileError
from .identity_views import drop_identity_views, sizes_from_source
from .module_state import closed_modules
from .narrow_ints import widen_narrow_ints


@dataclasses.dataclass(frozen=True)
class Input:
    """Where a graph placeholder's tensor comes from at call time.

    kind "user": the index-th tensor leaf of the arguments; "state": a
    parameter or buffer read from the module by its dotted path at every call;
    "constant": a tensor captured at compile time.
    """

    kind: str
    index: int = -1
    path: str = ""
    value: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class Output:
    """Where a returned tensor comes from: result `index` of the compiled code, user
    input `index`, or the module's parameter or buffer at `path` (returned as is)."""

    kind: str  # "result", "input" or "state"
    index: int = -1
    path: str = ""


@dataclasses.dataclass
class Captured:
    """A captured graph and how to call it.

    Attributes:
      graph_module: the functional FX graph; placeholders are `inputs`, outputs are
        the mutations first, then the distinct user results.
      inputs: one Input per placeholder.
      mutations: (target Input, result index) for each tensor mutated in place.
      outputs: one Output per tensor leaf of the user's result.
      out_spec: pytree spec of the user's result; non-tensor leaves in out_consts.
      scalars: leaves that are Python numbers computed from the data (leaf index → int,
        float or bool): the graph returns them as 0-d tensors.
      rng: what the function itself does with torch's generator, replayed around each
        call (compiler/seeding.py: its seeding before, its restores after).
    """

    graph_module: torch.fx.GraphModule
    inputs: list[Input]
    mutations: list[tuple[Input, int]]
    outputs: list[Output]
    out_spec: Any
    out_consts: dict[int, Any]
    scalars: dict[int, type]
    module: torch.nn.Module
    rng: RngReplay = dataclasses.field(default_factory=lambda: RngReplay([], []))


@dataclasses.dataclass(frozen=True)
class TensorSlot:
    """A tensor leaf in the argument skeleton: the index of its distinct tensor."""

    index: int


def is_fake(tensors) -> bool:
    """Whether some of `tensors` are fake (FakeTensor: metadata, no data)."""
    return any(type(t) is not torch.Tensor and isinstance(t, FakeTensor) for t in tensors)


def join_args(tensors, skeleton: list, spec) -> Any:
    """split_args undone: the arguments with `tensors` put back in their slots."""
    leaves = [tensors[x.index] if isinstance(x, TensorSlot) else x for x in skeleton]
    return pytree.tree_unflatten(leaves, spec)


def split_args(args: tuple) -> tuple[list[torch.Tensor], list[Any], Any]:
    """Flattens arguments into (distinct tensors, skeleton, spec).

    The skeleton has every leaf, tensors replaced by TensorSlot(index into the
    distinct tensors). A tensor passed twice is one graph input, so a write
    through one alias is seen through the other, as in eager; the slots make
    the alias pattern part of the dispatch key.
    """
    leaves, spec = pytree.tree_flatten(args)
    tensors, slot_of, skeleton = [], {}, []
    for x in leaves:
        if isinstance(x, torch.Tensor):
            if id(x) not in slot_of:
                slot_of[id(x)] = len(tensors)
                tensors.append(x)
            skeleton.append(TensorSlot(slot_of[id(x)]))
        else:
            skeleton.append(x)
    return tensors, skeleton, spec


class _Record:
    """What tracing saw of the user's result: its pytree spec, its non-tensor leaves, and
    the leaves that are Python numbers computed from the data (leaf index → type)."""

    spec = None
    leaves: list = []
    scalars: dict = {}


class _Wrapper(torch.nn.Module):
    """Calls the user's callable with the constants put back among the tensor leaves."""

    def __init__(self, fn: Callable, skeleton: list, spec):
        super().__init__()
        self.fn = fn  # an nn.Module registers as a submodule: its weights become placeholders
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, torch.nn.Module) and owner is not fn:
            self.owner = owner  # a bound method's module: its weights are arguments too
        closed = closed_modules(fn)
        if closed:  # a plain function's models: their weights are arguments too (read at
            # each call, as the function reads them) and their layers are in the module stack
            self.closed = torch.nn.Module()
            for name, module in closed.items():
                self.closed.add_module(name, module)
        self._skeleton = skeleton
        self._spec = spec
        # Filled while tracing. Not a dict or list: export swaps those attributes for copies.
        self.record = _Record()

    def forward(self, *tensors):
        args = join_args(tensors, self._skeleton, self._spec)
        if isinstance(self.fn, torch.fx.GraphModule):
            # A graph dynamo (or AOTAutograd) made: run node by node with each node's
            # metadata kept for the nodes its ops make, so that they keep the user's
            # module stack (repeated_layers.py finds the layers by it) and source lines
            # (the graph's own generated code otherwise).
            with fx_traceback.preserve_node_meta():
                out = torch.fx.Interpreter(self.fn).run(*args)
        else:
            out = self.fn(*args)
        out_leaves, self.record.spec = pytree.tree_flatten(out)
        # A Python number computed from the data (`x.sum().item()`) is symbolic while
        # tracing: it leaves the graph as a 0-d tensor, made a number again per call.
        self.record.scalars = {}
        results = []
        for i, x in enumerate(out_leaves):
            if type(x) in _SCALARS:
                kind, dtype = _SCALARS[type(x)]
                self.record.scalars[i] = kind
                out_leaves[i] = torch.scalar_tensor(x, dtype=dtype)
            if isinstance(out_leaves[i], torch.Tensor):
                results.append(out_leaves[i])
        self.record.leaves = [TENSOR if isinstance(x, torch.Tensor) else x for x in out_leaves]
        return tuple(results)


# Marks the tensor leaves of a result (None is a leaf of its own: a backward graph returns
# None for the gradient of an input that needs none).
TENSOR = object()

_SCALARS = {torch.SymFloat: (float, torch.float64), torch.SymInt: (int, torch.int64),
            torch.SymBool: (bool, torch.bool)}


def _anchor_stack_traces(fn: Callable) -> Callable:
    """Makes export record the frames of a plain function, not only of `forward` methods.

    Export keeps only frames named "forward" in node stack traces unless the
    code is registered as an anchor; the user's function is where its ops come from.
    Torch versions without anchors (2.11) get a copy of the function whose code is
    named "forward" (same file, same lines): the function to trace is returned.
    """
    register = getattr(torch.fx.proxy, "_register_stack_trace_anchor", None)
    if isinstance(fn, torch.nn.Module):
        return fn
    if register is not None:
        register(getattr(fn, "__func__", fn))
        return fn
    func = getattr(fn, "__func__", fn)
    if not isinstance(func, types.FunctionType):
        return fn
    renamed = types.FunctionType(func.__code__.replace(co_name="forward"), func.__globals__,
                                 func.__name__, func.__defaults__, func.__closure__)
    renamed.__kwdefaults__ = func.__kwdefaults__
    return types.MethodType(renamed, fn.__self__) if hasattr(fn, "__func__") else renamed


def _strip_own_frames(gm: torch.fx.GraphModule) -> None:
    """Drops this file's frames from node stack traces, so locations name the user's line."""
    for node in gm.graph.nodes:
        trace = node.meta.get("stack_trace")
        if not trace:
            continue
        frames = re.split(r'(?m)^(?=\s*File ")', trace)
        kept = [f for f in frames if f.strip() and __file__ not in f]
        node.meta["stack_trace"] = "".join(kept) if kept else None


def export(fn: Callable, args: tuple, dynamic: list[tuple[int, ...]] | None = None,
           keep: frozenset = frozenset()) -> tuple[ExportedProgram, _Wrapper]:
    """Runs torch.export on `fn(*args)` with torch-mlir's decompositions.

    Args:
      dynamic: per distinct tensor argument, the dimensions whose size is a symbol
        (torch.export's Dim.AUTO: torch keeps a dimension static where the code needs it
        to be, and sizes 0 and 1 always); None: every size static.
      keep: ops left whole, not decomposed (they run a library kernel by choice:
        compiler/library_kernels.py).

    Raises:
      CompileError (stage "capture") when torch.export cannot trace the callable.
    """
    tensors, skeleton, spec = split_args(args)
    if not keep:
        traced = _trace(fn, tensors, skeleton, spec, dynamic, keep, once=True)
        if traced is not None:
            return traced
    return _trace(fn, tensors, skeleton, spec, dynamic, keep, once=False)


def _trace(fn: Callable, tensors: list, skeleton: list, spec, dynamic, keep: frozenset,
           once: bool) -> tuple[ExportedProgram, _Wrapper] | None:
    """export's trace: `once`, straight to decomposed ATen IR (aten_export.export_decomposed), else
    torch.export's IR, decomposed after. Traced once, the function runs twice (AOTAutograd
    first runs it for its metadata, with no tracer), so its own seeding of the generator
    cannot be told from the graph's: None then, and for a trace that failed (traced twice,
    the IR of ops kept whole differs), for the two traces to try."""
    wrapper = _Wrapper(_anchor_stack_traces(fn), skeleton, spec)
    generator = RandomState()
    seeding = SeedWatch()
    try:
        # Lazy graph modules: torch.export's passes rewrite the graph several times, each
        # generating its Python code again (0.2 s for GPT-2's 12 layers), run by no one.
        with warnings.catch_warnings(), portable_kernels(), seeding, \
                frame_walk_stack_traces(_Wrapper.forward.__code__), \
                _use_lazy_graph_module(True):
            # torch's own deprecation inside export's copies of pytree specs.
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            shapes = None if dynamic is None else {"tensors": tuple(
                {d: torch.export.Dim.AUTO for d in dims} or None for dims in dynamic)}
            table = decomposition_table()
            with quiet_fake_tensors(dynamic is not None):
                if once:
                    prog = export_decomposed(wrapper, tuple(tensors), shapes, table)
                    traced_random_ops = random_ops(prog.graph)
                else:  # an op kept whole: torch.export's own IR, then decomposed around it
                    for op in keep:
                        table.pop(op, None)
                    prog = torch.export.export(wrapper, tuple(tensors), strict=False,
                                               dynamic_shapes=shapes)
                    traced_random_ops = random_ops(prog.graph)
                    prog = prog.run_decompositions(table)
    except Exception as e:  # torch.export raises many types; all mean "cannot capture"
        if once:
            generator.restore()
            return None
        raise CompileError(f"{type(e).__name__}: {e}", stage="capture") from e
    if once and (seeding.events or generator.changed()):
        generator.restore()
        return None
    replay = seeding.replay(traced_random_ops)
    if replay is None or (not seeding.events and generator.changed()):
        # torch.seed(), a seed after a random op, or a draw on real tensors ran in the
        # function's Python: it ran once, while tracing, and would not at each call.
        generator.restore()
        raise CompileError("the function seeds or draws from torch's random generator "
                           "outside its tensor ops (torch.seed(), a seed after a random "
                           "op...): a graph cannot hold that", stage="capture")
    generator.restore()  # the calls seed it (Captured.seeds), tracing does not
    wrapper.rng = replay
    return prog, wrapper


def capture(fn: Callable, args: tuple, dynamic: list[tuple[int, ...]] | None = None,
            keep: frozenset = frozenset()) -> Captured:
    """Captures `fn(*args)` as a functional graph plus its calling convention
    (`dynamic`: the symbolic dimensions of each distinct tensor argument, `keep`: ops
    not decomposed; see export)."""
    prog, wrapper = export(fn, args, dynamic, keep)
    # Lazy: the graph's Python code is generated when something runs it (an eager piece),
    # not at each rewrite below (0.1 s each for GPT-2's 12 layers).
    gm = _LazyGraphModule.from_graphmodule(prog.graph_module)
    _strip_own_frames(gm)
    fold_item_into_tensor(gm)
    widen_narrow_ints(gm)
    drop_identity_views(gm)
    sizes_from_source(gm)
    sig = prog.graph_signature
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    outs = list(next(n for n in gm.graph.nodes if n.op == "output").args[0])
    tokens = [n for n, s in zip(placeholders, sig.input_specs) if s.kind == InputKind.TOKEN]
    if tokens:
        try:
            drop_effect_tokens(gm, tokens, [n for n, s in zip(outs, sig.output_specs)
                                            if s.kind == OutputKind.TOKEN])
        except ValueError as e:
            raise CompileError(f"effect tokens: {e}", stage="capture") from e
    input_specs = [s for s in sig.input_specs if s.kind != InputKind.TOKEN]
    output_specs = [s for s in sig.output_specs if s.kind != OutputKind.TOKEN]
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]

    inputs, user_of_name, user_count = [], {}, 0
    for node, spec in zip(placeholders, input_specs):
        if spec.kind == InputKind.USER_INPUT:
            inputs.append(Input("user", index=user_count))
            user_of_name[spec.arg.name] = inputs[-1]
            user_count += 1
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            inputs.append(Input("state", path=spec.target))
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            inputs.append(Input("constant", value=prog.constants[spec.target]))
        else:
            raise CompileError(f"unsupported graph input kind {spec.kind}", stage="capture")

    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    out_nodes = list(out_node.args[0])
    mutations, results, result_of_node, outputs = [], [], {}, []
    mutated_input_of_node = {}

    def result_index(node) -> int:
        if node not in result_of_node:
            result_of_node[node] = len(results)
            results.append(node)
        return result_of_node[node]

    for node, spec in zip(out_nodes, output_specs):
        if spec.kind == OutputKind.BUFFER_MUTATION:
            mutations.append((Input("state", path=spec.target), result_index(node)))
        elif spec.kind == OutputKind.USER_INPUT_MUTATION:
            target = user_of_name[spec.target]
            mutations.append((target, result_index(node)))
            mutated_input_of_node[node] = target
        elif spec.kind == OutputKind.USER_OUTPUT:
            if node in mutated_input_of_node:  # returns the tensor it mutated: same object as eager
                outputs.append(Output("input", mutated_input_of_node[node].index))
            elif node.op == "placeholder" and inputs[placeholders.index(node)].kind == "user":
                outputs.append(Output("input", inputs[placeholders.index(node)].index))
            elif node.op == "placeholder" and inputs[placeholders.index(node)].kind == "state":
                outputs.append(Output("state", path=inputs[placeholders.index(node)].path))
            else:
                outputs.append(Output("result", result_index(node)))
        else:
            raise CompileError(f"unsupported graph output kind {spec.kind}", stage="capture")

    # The compiled code returns each distinct result once; aliases are resolved in Python.
    out_node.args = (tuple(results),)
    gm.graph.lint()
    gm.recompile()

    out_consts = {i: v for i, v in enumerate(wrapper.record.leaves) if v is not TENSOR}
    return Captured(gm, inputs, mutations, outputs, wrapper.record.spec, out_consts,
                    dict(wrapper.record.scalars), wrapper, wrapper.rng)


def source_of(node: torch.fx.Node) -> str | None:
    """The user's `file:line` that made the node (the innermost frame of its stack trace)."""
    found = re.findall(r'File "([^"]+)", line (\d+)', node.meta.get("stack_trace") or "")
    return f"{found[-1][0]}:{found[-1][1]}" if found else None
