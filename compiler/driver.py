"""The staged driver: run named stages over a module, keep each stage's IR, report failures.

A stage is a name and a pipeline (lowering/stages.py). The driver runs
them in order on one module; after each, the IR text is kept (and written to
`dump_dir` when asked), so `compiled.ir(stage)` and `--stage` can show it and
any stage's IR is a valid input to `mlirfuse-opt`.

When a pipeline fails, the driver re-runs it one element at a time on a copy
of the stage's input to find the failing pass, saves the IR before that pass
and raises CompileError with the op, the source line and the mlirfuse-opt
command that reproduces the failure (torch-mlir's run_pipeline_with_repro_report, finer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex

from torch_mlir import ir

from . import pass_manager, timings
from .errors import CompileError, describe_diagnostics, locations_of
from .importer import node_names
from ..lowering import stages

@dataclasses.dataclass
class StageRecord:
    """The IR text a module had after each stage, in order."""

    texts: dict[str, str] = dataclasses.field(default_factory=dict)


def run_stages(module: ir.Module, *, target: str = "cpu", start_after: str | None = None,
               stop_after: str | None = None, record: StageRecord | None = None,
               dump_dir: str | None = None, repro_dir: str = "/tmp/mlirfuse-repro",
               print_ir_after_all: bool = False, fuse: bool = True,
               keep: frozenset[str] | None = None) -> StageRecord:
    """Runs the stages of `target` on `module` in place.

    Args:
      start_after: skip the stages up to and including this one (the input is its IR).
      stop_after: stop once this stage has run.
      record: where stage texts go (a new StageRecord if None).
      dump_dir: if set, write <n>-<stage>.mlir files there.
      fuse: False runs no fusion (one kernel per linalg op): the benchmarks' baseline.
      keep: the stages whose texts are recorded (None: all). Printing a 12-layer GPT-2's
        module after each stage took 0.25 s of its compile; a compile keeps the final one
        and makes the others when asked (compiled_graph._StagesOnDemand).
    Returns:
      The StageRecord.
    Raises:
      CompileError naming the stage, the pass, the op and the source line.
    """
    record = record or StageRecord()
    names = stages.names(target)
    if start_after is not None and start_after not in names:
        raise ValueError(f"unknown stage {start_after!r}; stages: {names}")
    started = start_after is None
    for i, (name, pipe) in enumerate(stages.for_target(target, fuse)):
        if not started:
            started = name == start_after
            continue
        with timings.phase(name):
            run_pipeline(module, pipe, stage=name, repro_dir=repro_dir,
                         print_ir_after_all=print_ir_after_all)
        if dump_dir or keep is None or name in keep:
            _record(module, name, record, dump_dir and os.path.join(dump_dir, f"{i}-{name}.mlir"))
        if name == stop_after:
            break
    return record


def _record(module: ir.Module, name: str, record: StageRecord, dump: str | None) -> None:
    """Records the module's text after stage `name` (and writes it to `dump`)."""
    text = str(module)
    if name == "ptx":  # the stage shows the PTX itself; the module text is the input
        from ..lowering.cuda import nvptx  # of the next stage, as for every other stage
        record.texts["ptx"] = nvptx.binaries_ptx(text)
    else:
        record.texts[name] = text
    if dump:
        os.makedirs(os.path.dirname(dump), exist_ok=True)
        with open(dump, "w") as f:
            f.write(text)


def run_pipeline(module: ir.Module, pipeline: list[str] | str, *, stage: str,
                 repro_dir: str, print_ir_after_all: bool = False) -> None:
    """Runs one pipeline on `module`; on failure raises CompileError with a repro."""
    ctx = module.context
    # The module as it was, printed for the repro only if the pipeline fails: a copy costs
    # 1/20 of the text (GPT-2 12 layers: 0.3 s of text per compile, over the stages).
    before = module.operation.clone()
    pm = pass_manager.build(pipeline, ctx)
    if print_ir_after_all:
        pm.enable_ir_printing(print_after_all=True)
    try:
        with ctx:
            pm.run(module.operation)
    except ir.MLIRError as e:
        raise _failure(before.get_asm(enable_debug_info=True), pipeline, stage, repro_dir,
                       e) from None
    finally:
        before.erase()


def _expand(element: str, ctx: ir.Context) -> list[str]:
    """Expands a pass pipeline (e.g. torch-mlir's) into its passes, so a repro names one pass."""
    if element.startswith("mlirfuse-"):
        return [element]
    return pass_manager.elements(pass_manager.canonical_text([element], ctx))


def _ops(op: ir.Operation):
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                yield child.operation
                yield from _ops(child.operation)


def _refine_op(module: ir.Module, op: str | None, source: str | None) -> str | None:
    """A conversion failure often names a constant feeding the real culprit; find the
    first non-trivial op from the same source line instead."""
    trivial = ("torch.constant.", "torch.prim.ListConstruct", "torch.vtensor.literal")
    if source is None or (op is not None and not op.startswith(trivial)):
        return op
    file, _, line = source.rpartition(":")
    needle = f'"{file}":{line}:'
    for child in _ops(module.operation):
        name = child.name
        if name.startswith("torch.") and not name.startswith(trivial) \
                and needle in str(child.location):
            return name
    return op


def _innermost_pass(element: str) -> str:
    """`func.func(foo{a=1})` → `foo`."""
    while "(" in element.split("{")[0]:
        element = element[element.index("(") + 1:element.rindex(")")]
    return element.split("{")[0].split(",")[0].strip()


def _failure(before: str, pipeline, stage: str, repro_dir: str, err) -> CompileError:
    """Finds the failing pass of `pipeline` on a copy of `before`; saves its input IR."""
    from .context import parse_module

    failing, ir_before, diags = None, before, err.error_diagnostics
    module = parse_module(before)
    expanded = [p for e in pass_manager.elements(pipeline) for p in _expand(e, module.context)]
    for element in expanded:
        asm = module.operation.get_asm(enable_debug_info=True)
        try:
            with module.context:
                pass_manager.build([element], module.context).run(module.operation)
        except ir.MLIRError as e:
            failing, ir_before, diags = element, asm, e.error_diagnostics
            break
    text, op, source = describe_diagnostics(diags)
    errors = [d for d in diags if "error" in str(d.severity).lower()] or list(diags)
    nodes = [n for loc in locations_of(errors) for n in node_names(loc)]
    reason = errors[0].message.strip().splitlines()[0] if errors else None
    op = _refine_op(parse_module(ir_before), op, source)
    os.makedirs(repro_dir, exist_ok=True)
    digest = hashlib.sha256(ir_before.encode()).hexdigest()[:12]
    path = os.path.join(repro_dir, f"{stage}-{digest}.mlir")
    with open(path, "w") as f:
        f.write(ir_before)
    failing_pipe = "builtin.module(" + (failing or ", ".join(expanded)) + ")"
    command = f"mlirfuse-opt {shlex.quote(path)} --pass-pipeline={shlex.quote(failing_pipe)}"
    pass_name = _innermost_pass(failing) if failing else None
    return CompileError(text or str(err), stage=stage, op=op, source=source,
                        pass_name=pass_name, repro_path=path, repro_command=command,
                        diagnostics=text.splitlines(), nodes=list(dict.fromkeys(nodes)),
                        reason=reason)
