"""A short fixed-seed run of the differential fuzzer (bench/fuzz.py: random torch programs
against eager, in worker processes restarted when one dies): no program may crash the
process, raise, or give a result eager does not."""

from __future__ import annotations

import os
import sys

import pytest
import torch

import mlirfuse
from conftest import assert_same

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bench import fuzz  # noqa: E402

SEEDS = range(1000, 1040)


@pytest.mark.cpu_only("the H200 runs bench/fuzz.py --device cuda")
def test_fuzz_fixed_seeds():
    records = fuzz.run(list(SEEDS), "cpu", workers=2, options={}, out_path=None, quiet=True)
    assert len(records) == len(SEEDS)
    bad = [(r["seed"], r["status"], r["reason"]) for r in records
           if r["status"] in ("crash", "wrong", "error")]
    assert not bad, bad


@pytest.mark.cpu_only("runs a CPU program")
def test_a_program_renders_and_runs_as_eager():
    """The generator's programs run in eager, and render to the source the runner runs."""
    program = fuzz.generate(7)
    assert "def f(" in fuzz.render(program)
    assert fuzz.run_program(program, 7, "cpu")["status"] == "ok"


@pytest.mark.parametrize("fn", [
    lambda x: torch.nn.functional.layer_norm(x, x.shape[-1:]) * 2,
    lambda x: torch.softmax(x, -1) + 1,
    lambda x: x.var(-1) * 2,
    lambda x: x.sum(-1) + x.shape[0]], ids=["layer_norm", "softmax", "var", "sum"])
@pytest.mark.parametrize("shape", [(0, 32), (0, 70000)], ids=["rows", "long_rows"])
def test_row_reductions_of_zero_rows(fn, shape):
    """bench/fuzz.py seed 1141 (minimized: a layer_norm of `torch.cat([x1, x0], 1)[1:]`,
    zero rows): row reductions of zero rows crashed the process in mlirfuse-reduce-in-
    lanes (upstream splitting on a loop of extent 0), and long ones would in
    mlirfuse-split-reductions."""
    x = torch.randn(shape)
    assert_same(mlirfuse.compile(fn)(x), fn(x))
