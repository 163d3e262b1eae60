"""Every option of mlirfuse, in one place.

Options come from keyword arguments of ``mlirfuse.compile`` and of the
torch.compile backend (``options={...}``); a few have environment defaults,
read here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile


def _env_path(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclasses.dataclass(frozen=True)
class Options:
    """Compile options.

    Attributes:
      device: "cpu", "cuda" or "cuda:N"; None follows the arguments' device.
      chip: the NVIDIA GPU architecture to compile for ("sm_90"); None asks the device.
      opt_level: LLVM optimization level given to the ExecutionEngine (0-3).
      dump_dir: if set, every stage's IR is written there as <stage>.mlir.
      repro_dir: where a failing compile saves the IR before the failing pass.
      on_guard_failure: what a call does when its arguments match no compiled
        specialization: "recompile" (a new one, up to recompile_limit, then
        eager), "eager" (run eager PyTorch), "error" (raise GuardError).
      recompile_limit: the most specializations one compiled function compiles.
      fuse: False compiles one kernel per linalg op (the baseline fusion is measured against).
      on_unsupported: what a graph with ops that cannot compile does: "eager" (default:
        what compiles runs compiled, the rest as eager torch ops between, reported by
        `explain()` and counted in `stats.eager_ops`) or "error" (raise CompileError).
      extern_calls: True (default): an op that compiles neither natively nor through a
        decomposition, and that torch has a kernel for, runs that kernel from the
        compiled code (an extern call, as inductor's extern kernels: LAPACK, FFTs with
        real results, long sorts, random ops on torch's generator), so the graph still
        compiles whole; counted in `stats.extern_calls`. False runs such ops eager
        between compiled pieces. With on_unsupported="error" there are none either.
      library_kernels: True (default): ops for which a library kernel was measured faster
        than mlirfuse's code (on the CPU, 1-D and 2-D convolutions: torch's oneDNN kernel) run it
        as extern calls, the ops around them still fused (compiler/library_kernels.py).
        False compiles them as generated code; without extern calls there are none.
      layers: True (default): a graph whose layers are one ModuleList's modules called in
        turn (MIN_LAYERS or more, the same ops each: a transformer's blocks) runs as pieces
        cut at the layers' boundaries, and the layers' piece compiles once for all
        (compiler/repeated_layers.py): the compile costs about one layer's, not the depth's.
        False compiles the graph whole.
      dynamic: as torch.compile's: None (default) specializes the first call's sizes, and
        when a later call differs from a compiled one only in sizes, compiles once more
        with those dimensions symbolic, for every size; True: symbolic from the first
        compile (every dimension of size 2 or more); False: every size specialized. Where
        code for symbolic sizes cannot be made (a graph that needs eager ops, a pass that
        cannot take symbolic sizes; on CUDA, MLIRFUSE_CUDA_DYNAMIC=0), the call's sizes are
        specialized instead.
      progress: True (default): a compile that takes over a second shows a progress line
        on standard error when that is a terminal (the stage it is in, the time so far;
        compiler/progress.py); False: never.
    """

    device: str | None = None
    chip: str | None = None
    opt_level: int = 3
    on_guard_failure: str = "recompile"
    recompile_limit: int = 8
    fuse: bool = True
    on_unsupported: str = "eager"
    extern_calls: bool = True
    library_kernels: bool = True
    layers: bool = True
    dynamic: bool | None = None
    progress: bool = True
    dump_dir: str | None = None
    repro_dir: str = dataclasses.field(
        default_factory=lambda: _env_path(
            "MLIRFUSE_REPRO_DIR", os.path.join(tempfile.gettempdir(), "mlirfuse-repro")
        )
    )

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "Options":
        """Builds Options from keyword arguments; unknown names raise TypeError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(
                f"mlirfuse.compile: unknown option(s) {unknown}; known: {sorted(names)}"
            )
        opts = cls(**kwargs)
        device = opts.device
        if device is not None and not (device in ("cpu", "cuda") or (
                device.startswith("cuda:") and device[5:].isdigit())):
            raise ValueError(f"mlirfuse: device={device!r} is not supported; use 'cpu', "
                             "'cuda' or 'cuda:N'")
        if opts.chip is not None and not (opts.chip.startswith("sm_")
                                          and opts.chip[3:].rstrip("a").isdigit()):
            raise ValueError(f"mlirfuse: chip={opts.chip!r} is not an NVIDIA architecture "
                             "name such as 'sm_90'")
        if opts.on_guard_failure not in ("recompile", "eager", "error"):
            raise ValueError("mlirfuse: on_guard_failure must be 'recompile', 'eager' or 'error', "
                             f"got {opts.on_guard_failure!r}")
        if opts.on_unsupported not in ("eager", "error"):
            raise ValueError("mlirfuse: on_unsupported must be 'eager' or 'error', "
                             f"got {opts.on_unsupported!r}")
        if opts.dynamic not in (None, True, False):
            raise ValueError(f"mlirfuse: dynamic must be None, True or False, got {opts.dynamic!r}")
        if opts.progress not in (True, False):
            raise ValueError(f"mlirfuse: progress must be True or False, got {opts.progress!r}")
        if opts.recompile_limit < 1:
            raise ValueError(f"mlirfuse: recompile_limit must be >= 1, got {opts.recompile_limit}")
        if not 0 <= opts.opt_level <= 3:
            raise ValueError(f"mlirfuse: opt_level must be 0..3, got {opts.opt_level}")
        return opts
