"""Tracing with torch.export: the contexts a capture traces under, and the one trace to
decomposed ATen IR (compiler/capture.py runs them and reads the result)."""

from __future__ import annotations

import contextlib
import functools
import logging

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
    composite, table = exported_program._split_decomp_table_to_cia_and_python_decomp(
        dict(table))
    # Most name the op's own decomposition, which dispatch runs anyway: overriding those
    # (461 ops, each given Python kernels for the trace) cost 0.7 s of GPT-2's capture.
    composite = {op: fn for op, fn in composite.items() if not (
        isinstance(fn, functools.partial) and fn.func.__name__ == "_special_op_to_decompose_cia")}
    original = _trace._export_to_aten_ir
    _trace._export_to_aten_ir = functools.partial(original, decomp_table=table)
    try:
        with exported_program._override_composite_implicit_decomp(composite):
            return _trace._export(wrapper, tensors, strict=False, pre_dispatch=False,
                                  dynamic_shapes=shapes)
    finally:
        _trace._export_to_aten_ir = original
