"""A fixed sample of PyTorch's op database through mlirfuse.compile, in worker processes
that are restarted when one dies (bench/opinfo.py; the whole sweep is there): no op may
crash, give a wrong result or raise; the ops listed as native compile whole (those listed
as extern through torch's kernel for the op)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
opinfo = pytest.importorskip("bench.opinfo", reason="bench/opinfo.py needs expecttest "
                             "(torch's op database imports it): pip install expecttest")

# Ops that compile whole, among them the ones a bug once broke.
NATIVE = ["abs", "add", "mul", "softmax", "nn.functional.layer_norm", "sum",
          "mean", "matmul", "cat", "where", "clamp", "nn.functional.gelu", "cumsum",
          "nn.functional.cosine_similarity", "addmv", "nn.functional.max_pool2d",
          "index_select", "nn.functional.embedding", "amax", "argmax", "fmax", "isfinite",
          "new_zeros", "nn.functional.relu6", "special.bessel_j0", "special.i0e", "lgamma",
          "erfinv", "special.chebyshev_polynomial_t", "cummax", "searchsorted", "signbit",
          "index_put", "logcumsumexp", "nn.functional.embedding_bag",
          "nn.functional.unfold", "nn.functional.bilinear"]
# Ops with no native code that compile whole as extern calls (torch's kernel called from the
# compiled code, compiler/extern.py): one sample of sort sorts 8000 elements, past
# hazards.SORT_LIMIT; svd is LAPACK's; laguerre's loop has no bound.
EXTERN = ["sort", "linalg.svd", "special.laguerre_polynomial_l"]
# Ops that run partly eager (and were wrong, crashed or failed before the partitioning;
# the database's random ops and item seed the generator inside the function: a graph break).
PARTLY = ["nonzero", "resize_", "randn", "nn.functional.dropout", "masked_select", "fft.fft",
          "item"]


@pytest.mark.cpu_only("the H200 runs the whole sweep (bench/opinfo.py --device cuda)")
def test_op_database_sample(tmp_path):
    out = str(tmp_path / "opinfo.jsonl")
    names = set(NATIVE + EXTERN + PARTLY)
    records = opinfo.sweep("cpu", "float32", samples=2, workers=2, names=names,
                           options={}, out_path=out, timeout=600)
    status = {r["op"]: r for r in records}
    assert names <= set(status)  # (and variants: softmax.with_dtype)
    bad = {op: r["reason"] for op, r in status.items()
           if r["status"] in ("crash", "wrong", "error")}
    assert not bad, bad
    not_native = {op: status[op]["reason"] for op in NATIVE + EXTERN
                  if status[op]["status"] != "native"}
    assert not not_native, not_native
    assert all(status[op].get("extern_calls") for op in EXTERN), \
        {op: status[op] for op in EXTERN}
    assert not any(status[op].get("extern_calls") for op in NATIVE)


def test_benchmark_report_never_overwrites_the_results_page():
    """`python bench/run.py` (and `make bench`) wrote its report over bench/RESULTS.md,
    which holds every run's figures: its page goes to bench/out/ now."""
    from bench import report

    for quick in (False, True):
        path = report.default_out(quick)
        assert os.path.dirname(path).endswith(os.path.join("bench", "out"))
        assert os.path.basename(path) != "RESULTS.md"
