"""Tracing with torch.export: the contexts a capture traces under, and the one trace to
decomposed ATen IR (compiler/capture.py runs them and reads the result)."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback

import torch
from torch.export import ExportedProgram


@contextlib.contextmanager
def portable_kernels():
    """Traces the device-independent forms of ops that pick a fused kernel by device:
    attention through SDPA's math backend (on CUDA it would be the efficient or flash
    kernel, which torch-mlir does not lower) and nn.MultiheadAttention without its
    fast path (a single _native_multi_head_attention op under no_grad)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


@contextlib.contextmanager
def quiet_fake_tensors(quiet: bool):
    """torch logs a failed symbolic trace (sizes eager would reject: `a + b` of 3 and 4
    rows) at ERROR level before raising; the caller specializes then, and says so."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    if quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class _FrameWalk:
    """torch.fx's stack trace of a node, read from Python's frames (torch.fx.proxy's
    CapturedTraceback, replaced while capture traces).

    torch's own gathers the stack in C++, symbolizes it, and reads the source line of
    every frame of it (~100 per node, most of them torch's own and filtered out after):
    0.5 s of GPT-2 12 layers' 3.7 s capture. This keeps (file, line, function) per frame
    and leaves the source lines to be read when formatted, for the frames the tracer keeps
    (the user's): the same text on every node."""

    __slots__ = ["frames"]
    # One summary per (code, line), shared by every node traced there (~100 frames a node,
    # the outer ones the same for all): kept across captures, cleared past LIMIT.
    _summaries: dict = {}
    LIMIT = 100_000
    # The code of the frame every node of a trace is made below (the traced function's
    # caller), and (that frame, the summaries from it outward): walked once per trace.
    anchor = None
    _tail: tuple = (None, [])

    def __init__(self, frames: list):
        self.frames = frames

    @staticmethod
    def extract(*, script: bool = False, cpp: bool = False, skip: int = 0) -> "_FrameWalk":
        return _FrameWalk(_FrameWalk._walk(sys._getframe(1 + skip), _FrameWalk.anchor))

    @staticmethod
    def _walk(frame, anchor) -> list:
        """The summaries of `frame` and its callers; below a frame of `anchor`'s code,
        those of that frame outward are the trace's shared tail, walked once."""
        summaries, frames = _FrameWalk._summaries, []
        while frame is not None:
            code, line = frame.f_code, frame.f_lineno
            if code is anchor:
                if _FrameWalk._tail[0] is not frame:
                    _FrameWalk._tail = (frame, _FrameWalk._walk(frame, None))
                frames += _FrameWalk._tail[1]
                break
            # By the code's id (a code object's hash reads its whole contents), the code
            # kept beside the summary so that the id is not another's later.
            found = summaries.get((id(code), line))
            if found is None or found[0] is not code:
                if len(summaries) > _FrameWalk.LIMIT:
                    summaries.clear()
                found = summaries[id(code), line] = (code, traceback.FrameSummary(
                    code.co_filename, line, code.co_name, lookup_line=False))
            frames.append(found[1])
            frame = frame.f_back
        return frames

    def summary(self) -> traceback.StackSummary:
        return traceback.StackSummary(reversed(self.frames))


@contextlib.contextmanager
def frame_walk_stack_traces(anchor=None):
    """Nodes traced in this context get their stack traces from _FrameWalk; `anchor`: the
    code of the function that calls the traced one (the frames from there outward are
    every node's: read once per call of it)."""
    import torch.fx.proxy as proxy

    original = proxy.CapturedTraceback
    proxy.CapturedTraceback = _FrameWalk
    _FrameWalk.anchor = anchor
    try:
        yield
    finally:
        proxy.CapturedTraceback = original
        _FrameWalk.anchor, _FrameWalk._tail = None, (None, [])


@functools.lru_cache(maxsize=4)
def _split(table: frozenset) -> tuple[dict, dict]:
    """The composite ops to override and the Python decompositions of `table` (two
    scans of torch's operator registry, 0.1 s: the same table again takes them here)."""
    from torch.export import exported_program

    composite, python = exported_program._split_decomp_table_to_cia_and_python_decomp(
        dict(table))
    # Most name the op's own decomposition, which dispatch runs anyway: overriding those
    # (461 ops, each given Python kernels for the trace) cost 0.7 s of GPT-2's capture.
    composite = {op: fn for op, fn in composite.items() if not (
        isinstance(fn, functools.partial) and fn.func.__name__ == "_special_op_to_decompose_cia")}
    return composite, python


def export_decomposed(wrapper: torch.nn.Module, tensors: tuple, shapes, table: dict
                       ) -> ExportedProgram:
    """torch.export traced once, straight to ATen IR with `table`'s decompositions.

    torch.export.export followed by run_decompositions traces the model twice (its
    pre-dispatch IR, then that graph again through AOTAutograd): GPT-2's 12 layers took
    0.97 s and 2.55 s. torch's non-strict export to ATen IR (pre_dispatch=False) takes a
    decomposition table where it calls AOTAutograd, not through its public API: it is
    given here for this export (compiles run one at a time: concurrency.py). 2.8 s.
    """
    from torch.export import _trace, exported_program

    # As run_decompositions: composite ops the table does not name stay whole (fft_fft,
    # which torch-mlir's importer then names), those it names take its decomposition.
    composite, table = _split(frozenset(table.items()))
    original = _trace._export_to_aten_ir
    _trace._export_to_aten_ir = functools.partial(original, decomp_table=dict(table))
    try:
        with exported_program._override_composite_implicit_decomp(dict(composite)):
            return _trace._export(wrapper, tensors, strict=False, pre_dispatch=False,
                                  dynamic_shapes=shapes)
    finally:
        _trace._export_to_aten_ir = original
