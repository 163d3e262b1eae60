"""The errors mlirfuse raises, and how MLIR diagnostics become their messages."""

from __future__ import annotations

import os
import re

# A file location as MLIR prints it: "path/to/file.py":12:0
_FILE_LOC = re.compile(r'"([^"]+)":(\d+):(\d+)')
# The op an MLIR diagnostic is about: 'torch.aten.foo' in the message, or the
# generic form "torch.aten.foo"(...) of the "see current operation" note.
_OP_IN_MESSAGE = re.compile(r"'([a-z_][\w]*\.[\w.]+)'")
_OP_IN_NOTE = re.compile(r'"([a-z_][\w]*\.[\w.]+)"\(')


class CompileError(RuntimeError):
    """A model or IR that mlirfuse could not compile.

    Attributes:
      stage: the stage that failed ("capture", "import", "torch", "linalg", "llvm", "jit").
      op: the MLIR op the failure is about, when known (e.g. "torch.aten.foo").
      source: "file:line" of the user's code that produced the op, when known.
      pass_name: the pass that failed, when a pass failed.
      repro_path: a file holding the IR before the failing pass.
      repro_command: the mlirfuse-opt command that reproduces the failure.
      nodes: the FX graph nodes the failure is about (their names), when known.
      reason: the failure in one line (the first diagnostic's message).
    """

    def __init__(self, message, *, stage, op=None, source=None, pass_name=None,
                 repro_path=None, repro_command=None, diagnostics=(), nodes=(), reason=None):
        self.stage = stage
        self.nodes = list(nodes)
        self.reason = reason or (str(message).strip().splitlines() or [""])[0]
        self.op = op
        self.source = source
        self.pass_name = pass_name
        self.repro_path = repro_path
        self.repro_command = repro_command
        self.diagnostics = list(diagnostics)
        parts = [f"mlirfuse: compile failed at stage '{stage}'"]
        if pass_name:
            parts[0] += f" in pass '{pass_name}'"
        if op:
            parts.append(f"  op: {op}")
        if source:
            parts.append(f"  source: {source}")
        parts.append(f"  error: {message}")
        if repro_command:
            parts.append(f"  repro: {repro_command}")
        super().__init__("\n".join(parts))


class GuardError(RuntimeError):
    """A call whose arguments break an assumption the compiled code was built on."""


class InternalErrorWarning(UserWarning):
    """mlirfuse failed while compiling (a bug of ours): the function runs eager PyTorch."""


def source_of(text: str) -> str | None:
    """Returns "file:line" of the first file location in a diagnostic's text."""
    m = _FILE_LOC.search(text)
    return f"{m.group(1)}:{m.group(2)}" if m else None


def op_of(message: str, notes: list[str]) -> str | None:
    """Returns the op name a diagnostic is about, if it names one."""
    for note in notes:
        m = _OP_IN_NOTE.search(note)
        if m:
            return m.group(1)
    m = _OP_IN_MESSAGE.search(message)
    return m.group(1) if m else None


def describe_diagnostics(diags) -> tuple[str, str | None, str | None]:
    """Flattens MLIR DiagnosticInfo objects to (text, op, source)."""
    lines, op, source = [], None, None
    for d in diags:
        loc = str(d.location)
        notes = [f"{n.location}: {n.message}" for n in d.notes]
        lines.append(f"{loc}: {d.message}")
        lines.extend("    note: " + n for n in notes)
        op = op or op_of(d.message, notes)
        source = source or source_of(loc) or next(filter(None, map(source_of, notes)), None)
    return "\n".join(lines), op, source


def locations_of(diags) -> list[str]:
    """The printed locations of diagnostics and their notes, in order."""
    return [str(loc) for d in diags for loc in [d.location] + [n.location for n in d.notes]]


def raised_at(error: Exception) -> str:
    """" (raised at file:line in function)" of an internal error: its innermost frame in
    mlirfuse, and the innermost of all when that is elsewhere (in torch): what a bug
    report needs, in the warning's one line."""
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    if not frames:
        return ""
    where = [f for f in frames if f[0].co_filename.startswith(ours)][-1:]
    if frames[-1] not in where:
        where.append(frames[-1])
    return " (raised at " + ", then ".join(f"{c.co_filename}:{line} in {c.co_name}"
                                           for c, line in where) + ")"
