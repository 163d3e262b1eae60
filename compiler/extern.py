"""Extern calls: an op torch-mlir cannot compile runs torch's own kernel from compiled code.

Inductor calls aten's kernels ("extern kernels") where it generates no code of its own;
mlirfuse does the same for the ops it cannot compile natively and no decomposition
helps with: LAPACK's factorizations (qr, svd, eigh...), FFTs with real results, sorts
past the compiled sort's limit, the random ops (torch's kernel draws from torch's
generator in the program's order, so the values are eager's), special functions with
unbounded loops. The graph then still compiles whole, or its piece does, instead of
being split around an eager op: no Python runs between the compiled kernels.

How: a graph node marked here (`node.meta[MARK]`, its spec) is imported as a call of a
private function declaration, `func.call @mlirfuse_extern_op_<k>`, the spec in the
declaration's `mlirfuse.extern` attribute (replace_calls). torch-mlir's passes carry the
call to builtin tensors; mlirfuse-verify-backend-contract accepts it;
mlirfuse-bridge-extern-calls turns it into buffers and a call of the runtime's
`mlirfuse_extern_call` (runtime/cpu/mlirfuse_extern.cpp: the op through torch's
dispatcher on the buffers, results copied into buffers the compiled code allocated).

Eligible: an aten op overload with no mutated or aliased arguments, whose inputs are
tensors of the graph (or lists of them) and constants, whose results are tensors of
static sizes, all on the device the code runs on, of dtypes the compiled code has (no
complex). Sizes may be symbolic where each symbolic size of a result is an input's (a
convolution over a symbolic batch on the CPU, attention over a symbolic sequence on
CUDA).
"""

from __future__ import annotations

import math
import os

import torch
from torch.fx.experimental.symbolic_shapes import free_symbols, free_unbacked_symbols
from torch_mlir import ir
from torch_mlir.dialects import func

from ..runtime import extern as runtime_extern
from .errors import CompileError
from .importer import node_names

MARK = "mlirfuse_extern"  # node.meta key: the node's spec
WHY = "mlirfuse_extern_why"  # node.meta key: why it is not compiled natively
ATTR = "mlirfuse.extern"  # attribute of the declaration: the spec
PREFIX = "mlirfuse_extern_op_"

# c10::ScalarType's numbers (stable: serialized formats use them).
DTYPES = {torch.uint8: 0, torch.int8: 1, torch.int16: 2, torch.int32: 3, torch.int64: 4,
          torch.float16: 5, torch.float32: 6, torch.float64: 7, torch.bool: 11,
          torch.bfloat16: 15}
_LAYOUTS = {torch.strided: 0}
_MEMORY_FORMATS = {torch.contiguous_format: 0, torch.preserve_format: 1,
                   torch.channels_last: 2, torch.channels_last_3d: 3}


# Extern calls from CUDA host code (the H200: LAPACK through cusolver, FFTs, sorts, random
# ops). Two crashes kept them off until 2026-12-02: a constant operand is a global of the
# host code, which torch's CUDA kernels cannot read (now a `host` line in the spec, and the
# runtime copies it to the device: mlirfuse-bridge-extern-calls), and the runtime library
# exported the C++ library's template instantiations it holds, which cuDNN then called and
# crashed in (now it exports its C functions only: runtime/cpu/mlirfuse_extern.map).
# MLIRFUSE_CUDA_EXTERN=0 turns them off (a diagnostic switch).
CUDA = os.environ.get("MLIRFUSE_CUDA_EXTERN", "1") != "0"


class NotEligible(Exception):
    """Why a node cannot be an extern call."""


def _tensors_of(value) -> list[torch.Tensor] | None:
    """The result tensors of a node's value, None when it is not tensors only."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and \
            all(isinstance(v, torch.Tensor) for v in value):
        return list(value)
    return None


def _check_tensor(t: torch.Tensor, what: str, device: torch.device) -> None:
    if t.dtype not in DTYPES:
        raise NotEligible(f"{what} is {t.dtype}")
    if t.layout != torch.strided:
        raise NotEligible(f"{what} is {t.layout}")
    if t.device != device:
        raise NotEligible(f"{what} is on {t.device}, the code runs on {device}")
    if device.type != "cpu" and not CUDA:
        raise NotEligible("extern calls on CUDA are off (MLIRFUSE_CUDA_EXTERN=0)")
    sizes = (*t.shape, *t.stride())
    if any(free_unbacked_symbols(s) for s in sizes):  # data-dependent (a nonzero's count)
        raise NotEligible(f"{what} has data-dependent sizes")


def _number(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _constant(value, schema_type: str) -> str:
    """The spec of a constant argument (mlirfuse_extern.cpp's `arg` kinds)."""
    if value is None:
        return "N"
    if isinstance(value, bool):
        return f"B {int(value)}"
    if isinstance(value, int):
        return f"I {value}"
    if isinstance(value, float):
        return f"F {_number(value)}"
    if isinstance(value, str):
        if "\n" in value:
            raise NotEligible("a string argument holds a line break")
        return f"S {value}"
    if isinstance(value, torch.dtype):
        if value not in DTYPES:
            raise NotEligible(f"dtype argument {value}")
        return f"I {DTYPES[value]}"
    if isinstance(value, torch.layout) and value in _LAYOUTS:
        return f"I {_LAYOUTS[value]}"
    if isinstance(value, torch.memory_format) and value in _MEMORY_FORMATS:
        return f"I {_MEMORY_FORMATS[value]}"
    if isinstance(value, torch.device):
        return f"V {value}"
    if isinstance(value, (list, tuple)):
        items = list(value)
        if "float" in schema_type.lower() or any(type(v) is float for v in items):
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                raise NotEligible(f"list argument {value!r}")
            return "LF " + ",".join(_number(v) for v in items)
        if "bool" in schema_type.lower():
            return "LB " + ",".join(str(int(bool(v))) for v in items)
        if not all(type(v) is int for v in items):
            raise NotEligible(f"list argument {value!r}")
        return "LI " + ",".join(str(v) for v in items)
    raise NotEligible(f"argument {value!r} ({type(value).__name__})")


def _arguments(node: torch.fx.Node, schema=None):
    """(schema argument, the node's value for it) for each argument of the op (of `schema`
    when given: another overload's), in order.

    Raises:
      NotEligible for an argument the node does not give and that has no default.
    """
    for i, argument in enumerate((schema or node.target._schema).arguments):
        if not argument.kwarg_only and i < len(node.args):
            yield argument, node.args[i]
        elif argument.name in node.kwargs:
            yield argument, node.kwargs[argument.name]
        elif argument.has_default_value():
            yield argument, argument.default_value
        else:
            raise NotEligible(f"argument {argument.name} is missing")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, torch.fx.Node)


def _scalar_overload(node: torch.fx.Node) -> torch._ops.OpOverload:
    """The op to call for `node`: its own, or where it gives a number for a Tensor argument
    (`div.Tensor(x, 64)`: the dispatcher's boxed call takes no number for a Tensor; eager's
    Python binding wraps it) the overload taking a Scalar there (`div.Scalar`).

    Raises:
      NotEligible when there is no such overload.
    """
    op = node.target
    numbers = {a.name for a, v in _arguments(node)
               if str(a.type) == "Tensor" and _is_number(v)}
    if not numbers:
        return op
    packet = getattr(torch.ops.aten, op._schema.name.split("::")[-1])
    for name in packet.overloads():
        other = getattr(packet, name)
        arguments = other._schema.arguments
        if len(arguments) == len(op._schema.arguments) and all(
                a.name == b.name and (str(a.type) in ("Scalar", "number") if a.name in numbers
                                      else str(a.type) == str(b.type))
                for a, b in zip(arguments, op._schema.arguments)):
            return other
    raise NotEligible(f"a number for tensor argument {sorted(numbers)[0]} (no Scalar overload)")


def spec_of(node: torch.fx.Node, device: torch.device) -> tuple[str, list[torch.fx.Node]]:
    """The spec of `node`'s extern call on `device` (where the compiled code runs) and its
    distinct tensor inputs, in order.

    Raises:
      NotEligible saying why the node cannot be an extern call.
    """
    op = node.target
    if node.op != "call_function" or not isinstance(op, torch._ops.OpOverload):
        raise NotEligible("not an op overload")
    if op.namespace == "aten":
        op = _scalar_overload(node)
    schema = op._schema
    if op.namespace != "aten":
        raise NotEligible(f"an op of namespace {op.namespace}")
    if schema.is_mutable or any(r.alias_info is not None for r in schema.returns):
        raise NotEligible("mutates or aliases its arguments")
    if any(str(r.type).startswith("List") for r in schema.returns):
        raise NotEligible("returns a list")
    results = _tensors_of(node.meta.get("val"))
    if results is None and not schema.returns and node.meta.get("val") is None:
        results = []  # a check (_linalg_check_errors): run for its error alone
    if results is None:
        raise NotEligible("returns something else than tensors")
    for i, t in enumerate(results):
        _check_tensor(t, f"result {i}", device)
    inputs: list[torch.fx.Node] = []

    def tensor_index(arg) -> int:
        if not isinstance(arg, torch.fx.Node) or not isinstance(arg.meta.get("val"),
                                                                torch.Tensor):
            raise NotEligible(f"argument {arg} is not a tensor of the graph")
        if arg not in inputs:
            _check_tensor(arg.meta["val"], f"input {arg.name}", device)
            inputs.append(arg)
        return inputs.index(arg)

    lines = []
    for argument, value in _arguments(node, schema):
        kind = str(argument.type)
        if isinstance(value, torch.fx.Node):
            lines.append(f"arg T {tensor_index(value)}")
        elif isinstance(value, (list, tuple)) and ("Tensor" in kind or any(
                isinstance(v, torch.fx.Node) for v in value)):
            indices = [-1 if v is None else tensor_index(v) for v in value]
            tag = "LO" if "Optional[Tensor]" in kind or -1 in indices else "LT"
            lines.append(f"arg {tag} " + ",".join(map(str, indices)))
        elif "Generator" in kind and value is not None:
            raise NotEligible("takes a generator object")
        else:
            lines.append("arg " + _constant(value, kind))
    overload = "" if op._overloadname == "default" else op._overloadname
    head = [f"op {schema.name}", f"overload {overload}", f"device {device}"]
    head += [f"in {DTYPES[n.meta['val'].dtype]} {n.meta['val'].dim()}" for n in inputs]
    head += [f"out {DTYPES[t.dtype]} {t.dim()}" for t in results]
    head += _result_sizes(results, [n.meta["val"] for n in inputs])
    return "\n".join(head + lines), inputs


def _result_sizes(results: list[torch.Tensor], inputs: list[torch.Tensor]) -> list[str]:
    """`size R D I J` lines: result R's symbolic size D is input I's size J (the compiled
    code allocates the result with it: mlirfuse-bridge-extern-calls). A symbolic size no
    input has as it is (a convolution's output rows, computed from the input's) makes
    the node not eligible."""
    where = {}
    for i, t in enumerate(inputs):
        for j, size in enumerate(t.shape):
            if free_symbols(size):
                where.setdefault(size.node.expr, (i, j))
    lines = []
    for r, t in enumerate(results):
        for d, size in enumerate(t.shape):
            if not free_symbols(size):
                continue
            if size.node.expr not in where:
                raise NotEligible(f"result {r}'s size {d} ({size}) is no input's size")
            lines.append(f"size {r} {d} {where[size.node.expr][0]} {where[size.node.expr][1]}")
    return lines


def mark(node: torch.fx.Node, why: str, device: torch.device,
         channels_last: tuple = ()) -> bool:
    """Marks `node` to compile as an extern call on `device` (`why`: why not natively);
    False (unmarked) when it cannot be one. `channels_last`: the node's arguments (by
    position) the op gets as channels-last copies (the runtime's `channels_last` line)."""
    try:
        spec, inputs = spec_of(node, device)
    except NotEligible:
        return False
    for position in channels_last:
        arg = node.args[position] if position < len(node.args) else None
        if arg in inputs:
            spec += f"\nchannels_last {inputs.index(arg)}"
    if not runtime_extern.available():
        return False
    node.meta[MARK] = spec
    node.meta[WHY] = why
    return True


def unmark(node: torch.fx.Node) -> None:
    """The node runs eager after all (its extern call did not compile)."""
    node.meta.pop(MARK, None)
    node.meta.pop(WHY, None)


def marked(node: torch.fx.Node) -> bool:
    """Whether `node` compiles as an extern call. Only an op's node is: a graph built from
    another (AOTAutograd's backward from the forward, a partition's pieces) can copy the
    mark into the meta of a placeholder, whose target is a name (on the H200 that was an
    internal error, "'str' object has no attribute '_schema'", and the graph ran eager)."""
    return MARK in node.meta and node.op == "call_function" \
        and isinstance(node.target, torch._ops.OpOverload)


def marked_nodes(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """The nodes of `gm` compiled as extern calls."""
    return [n for n in gm.graph.nodes if marked(n)]


def _flat_tensor_operands(op: ir.Operation) -> list[ir.Value]:
    """The tensor operands of an imported op in argument order, lists flattened."""
    out = []
    for value in op.operands:
        if str(value.type).startswith("!torch.vtensor"):
            out.append(value)
        elif str(value.type).startswith("!torch.list") and isinstance(value.owner, ir.Operation) \
                and value.owner.name == "torch.prim.ListConstruct":
            out.extend(v for v in value.owner.operands
                       if str(v.type).startswith("!torch.vtensor"))
    return out


def _location_name(op: ir.Operation) -> str | None:
    """The FX node an imported op came from (compiler/importer.py names locations)."""
    names = node_names(str(op.location))
    return names[0] if len(names) == 1 else None


def replace_calls(module: ir.Module, gm: torch.fx.GraphModule) -> int:
    """Replaces the imported op of each marked node by a call of an extern declaration.

    Returns the number of extern calls.
    Raises:
      CompileError (stage "import") naming the node when its imported op is not found
      as expected (then the node runs eager).
    """
    nodes = {n.name: n for n in gm.graph.nodes if marked(n)}
    if not nodes:
        return 0
    main = next(o.operation for o in module.body.operations
                if o.operation.name == "func.func")
    found: dict[str, ir.Operation] = {}
    for op in main.regions[0].blocks[0].operations:
        op = op.operation
        name = _location_name(op)
        if name in nodes and (any(str(r.type).startswith("!torch.vtensor") for r in op.results)
                              or not len(op.results)):
            found[name] = op  # the last op of the node with tensor results (or none)
    count = 0
    with module.context:
        for name, node in nodes.items():
            op = found.get(name)
            spec = node.meta[MARK]
            inputs = _distinct_tensor_inputs(node)
            flat_nodes = _flat_node_inputs(node)
            operands = _flat_tensor_operands(op) if op is not None else []
            if op is None or len(operands) != len(flat_nodes) or \
                    len(op.results) != spec.count("\nout "):
                raise CompileError(f"the extern call of {node.name} did not import as one op",
                                   stage="import", nodes=[node.name])
            value_of = dict(zip(flat_nodes, operands))
            args = [value_of[n] for n in inputs]
            symbol = f"{PREFIX}{count}"
            with ir.InsertionPoint.at_block_begin(module.body), ir.Location.unknown():
                decl = func.FuncOp(symbol, ir.FunctionType.get(
                    [a.type for a in args], [r.type for r in op.results]), visibility="private")
                decl.operation.attributes[ATTR] = ir.StringAttr.get(spec)
            with ir.InsertionPoint(op), op.location:
                call = func.CallOp(list(op.results.types), ir.FlatSymbolRefAttr.get(symbol), args)
            for old, new in zip(op.results, call.results):
                old.replace_all_uses_with(new)
            op.erase()
            count += 1
    return count


def _distinct_tensor_inputs(node: torch.fx.Node) -> list[torch.fx.Node]:
    """The node's distinct tensor inputs in the order spec_of numbers them."""
    return list(dict.fromkeys(_flat_node_inputs(node)))


def _flat_node_inputs(node: torch.fx.Node) -> list[torch.fx.Node]:
    """The node's tensor inputs as its imported op takes them: argument order, lists
    flattened, None left out, repeats kept."""
    out = []
    for _, value in _arguments(node):
        values = value if isinstance(value, (list, tuple)) else [value]
        out.extend(v for v in values if isinstance(v, torch.fx.Node))
    return out


def declarations(module: ir.Operation) -> list[ir.Operation]:
    """The extern declarations of a module (func.func with the `mlirfuse.extern` spec)."""
    return [o.operation for o in module.regions[0].blocks[0].operations
            if o.operation.name == "func.func" and ATTR in o.operation.attributes]


def is_call(op: ir.Operation) -> bool:
    """Whether `op` is a func.call of an extern declaration."""
    return op.name == "func.call" and \
        ir.FlatSymbolRefAttr(op.attributes["callee"]).value.startswith(PREFIX)


