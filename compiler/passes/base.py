"""What every mlirfuse pass is: a Python function over a module, run by MLIR's PassManager.

A pass is a dataclass whose fields are its options; `str(pass)` prints it as
the pipeline text that parses back into it (`mlirfuse-foo{bar=1}`). Passes run
on `builtin.module` (the Python pass API cannot anchor on nested ops).
"""

from __future__ import annotations

import dataclasses
import traceback
import typing

from torch_mlir import ir, passmanager


class PassError(Exception):
    """Raised inside a pass: reported as an MLIR error at `location`, and the pass fails."""

    def __init__(self, message: str, location: ir.Location | None = None):
        super().__init__(message)
        self.location = location


@dataclasses.dataclass
class Pass:
    """Base of mlirfuse passes. Subclasses set ARGUMENT and implement run(module_op)."""

    ARGUMENT: typing.ClassVar[str] = ""

    def run(self, module: ir.Operation) -> None:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def from_options(cls, text: str) -> "Pass":
        """Builds the pass from its option text, `a=1 b=x` (braces stripped)."""
        hints = typing.get_type_hints(cls)
        values = {}
        for item in text.split():
            key, _, raw = item.partition("=")
            field = key.replace("-", "_")
            if field not in {f.name for f in dataclasses.fields(cls)}:
                raise ValueError(f"pass '{cls.ARGUMENT}' has no option '{key}'")
            kind = hints[field]
            if kind is bool:
                values[field] = raw in ("", "1", "true", "True")
            else:
                values[field] = kind(raw)
        return cls(**values)

    def __str__(self) -> str:
        opts = " ".join(
            f"{f.name.replace('_', '-')}={str(getattr(self, f.name)).lower() if isinstance(getattr(self, f.name), bool) else getattr(self, f.name)}"
            for f in dataclasses.fields(self)
        )
        return f"{self.ARGUMENT}{{{opts}}}" if opts else self.ARGUMENT

    def add_to(self, pm: passmanager.PassManager) -> None:
        """Appends this pass to a PassManager; a PassError becomes an MLIR error."""

        def run(op, pass_):
            try:
                self.run(op)
            except PassError as e:
                (e.location or op.location).emit_error(f"{self.ARGUMENT}: {e}")
                pass_.signal_pass_failure()
            except Exception as e:  # a bug in the pass: still a diagnostic, never a crash
                where = traceback.extract_tb(e.__traceback__)[-1]
                op.location.emit_error(
                    f"{self.ARGUMENT}: internal error: {type(e).__name__}: {e} "
                    f"(at {where.filename}:{where.lineno})")
                pass_.signal_pass_failure()

        pm.add(run, name=type(self).__name__, argument=self.ARGUMENT,
               description=self.summary())
