"""The screen: which ops of a captured graph run eager (or as extern calls) untried.

compiler/partition.py asks `screen` about each node before compiling anything: ops that
draw random numbers (eager's generator decides their values), that return Python values
(`.item()`), whose shapes depend on the data (`nonzero`, boolean masks), that touch
tensors on another device than the target, inputs known to break the toolchain
(hazards.py), and op signatures that failed to compile before in this process (`KNOWN`).
`mark_externs` makes those that can be extern calls (compiler/extern.py) so: torch's
kernel from the compiled code instead of an eager op between compiled pieces.
"""

from __future__ import annotations

import operator

import torch
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from . import decompositions, extern, hazards, op_signature
from .errors import CompileError

# Stages whose failures are about one op (it has no lowering): later ones (fusion, code
# generation) fail on what ops make together, and split their partition instead.
OP_STAGES = ("capture", "import", "torch", "linalg")

# Op signatures that failed to compile in this process: signature → reason.
KNOWN: dict[tuple, str] = {}

# Checks that return nothing: they compile with the ops they check (torch-mlir drops
# them), so they do not make a graph partitioned.
_CHECKS = {torch.ops.aten._assert_tensor_metadata.default}


def signature(node: torch.fx.Node) -> tuple:
    """What a compile failure of `node` is taken to depend on (op_signature.py)."""
    return op_signature.of_node(node)


def _tensors(value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _input_size(value) -> bool:
    """Whether `value` is a symbolic size computed from the inputs' sizes (dynamic
    shapes: `x.size(1) * 2`), not from their data."""
    return isinstance(value, torch.SymInt) and not free_unbacked_symbols(value)


def _symbolic(t: torch.Tensor) -> bool:
    """Whether a size of `t` depends on the data (an unbacked symbol: `nonzero`); the
    symbols of dynamic input sizes do not count."""
    return any(isinstance(s, torch.SymInt) and free_unbacked_symbols(s) for s in t.shape)


def screen(node: torch.fx.Node, device: torch.device, on_device=frozenset()) -> str | None:
    """Why `node` runs eager without trying to compile it, or None.

    Args:
      on_device: names of placeholders that are on `device` at run time whatever their
        example's device (the constants a function holds are moved there).
    """
    if node.op != "call_function" or node.target is operator.getitem or extern.marked(node):
        return None
    target = node.target
    tags = getattr(target, "tags", ())
    if torch.Tag.nondeterministic_seeded in tags:
        return "draws random numbers: runs eager, so its values follow torch's generator"
    val = node.meta.get("val")
    outs = _tensors(val)
    if _input_size(val):  # a size of a dynamic input, or arithmetic on such sizes
        return None
    if target not in _CHECKS and (val is None or not outs or (
            isinstance(val, (list, tuple)) and len(outs) != len(val))):
        return f"returns a Python value ({type(val).__name__}), not a tensor"
    ins = [n.meta.get("val") for n in node.all_input_nodes]
    if any(not isinstance(v, torch.Tensor) and not _input_size(v) for v in ins):
        return "takes a Python value computed by the graph (a size or a scalar from the data)"
    ins = [v for v in ins if isinstance(v, torch.Tensor)]
    if any(_symbolic(t) for t in outs + ins):
        return "a shape depends on the data"
    placed = [t for n in node.all_input_nodes if n.name not in on_device
              for t in [n.meta.get("val")] if isinstance(t, torch.Tensor)]
    if any(t.device != device for t in outs + placed):
        return f"moves data between devices (the code runs on {device})"
    return hazards.check(node, ins, outs, device) or KNOWN.get(signature(node))


def failure_reason(error: CompileError) -> str:
    """Why an op did not compile, for reports: the stage, the pass, the diagnostic."""
    where = f"stage '{error.stage}'" + (f", pass '{error.pass_name}'" if error.pass_name else "")
    return f"does not compile ({where}): {error.reason}"


def mark_externs(gm: torch.fx.GraphModule, device: torch.device, on_device=frozenset()) -> None:
    """Marks the nodes the screen sends eager that can be extern calls instead
    (compiler/extern.py): random ops, toolchain hazards (long sorts), and ops that
    failed to compile before whose decompositions have nothing left to try."""
    for n in gm.graph.nodes:
        reason = screen(n, device, on_device)
        if reason and (signature(n) not in KNOWN or decompositions.exhausted(n)):
            if torch.Tag.nondeterministic_seeded in getattr(n.target, "tags", ()):
                reason = "draws random numbers: torch's kernel draws them from torch's " \
                         "generator, in the program's order, as eager does"
            extern.mark(n, reason, device)


def learn_failure(node: torch.fx.Node, reason: str, device: torch.device | None) -> bool:
    """Records that `node`'s op signature failed to compile (`KNOWN`) and makes the node an
    extern call on `device` when it can be one (its decompositions tried first; None: no
    extern calls). True when marked; an extern call that failed too is unmarked."""
    KNOWN[signature(node)] = reason
    if device is not None and not extern.marked(node) and decompositions.exhausted(node):
        return extern.mark(node, reason, device)
    extern.unmark(node)
    return False
