"""Ahead-of-time artifacts: mlirfuse.export writes a folder, mlirfuse.load runs it with torch
alone (torch-mlir not importable), the guards name a broken argument."""

import os
import subprocess
import sys

import pytest
import torch

import mlirfuse

LOAD = """
import sys
sys.modules["torch_mlir"] = None  # importing torch-mlir fails in this process
import torch, mlirfuse
x, expected = torch.load(sys.argv[2])
run = mlirfuse.load(sys.argv[1])
with torch.no_grad():
    torch.testing.assert_close(run(x), expected)
    try:
        run(torch.randn(3, 32))
    except mlirfuse.GuardError as e:
        print("guard:", e)
print("loaded:", sorted(m for m in sys.modules if m.startswith("torch_mlir")
                        and sys.modules[m] is not None))
"""


@pytest.fixture(autouse=True)
def _cpu_tensors():
    """Artifacts are CPU code: under MLIRFUSE_TEST_DEVICE=cuda (whose default device is
    CUDA) these tests still make their modules and inputs on the CPU."""
    with torch.device("cpu"):
        yield


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.LayerNorm(64),
                               torch.nn.Linear(64, 8)).eval()


def test_an_artifact_runs_where_torch_mlir_cannot_be_imported(tmp_path):
    model, x = _mlp(), torch.randn(16, 32)
    mlirfuse.export(model, (x,), str(tmp_path / "mlp"))
    assert sorted(os.listdir(tmp_path / "mlp")) == ["code.so", "manifest.json", "state.pt"]
    with torch.no_grad():
        torch.save((x, model(x)), tmp_path / "expected.pt")
    done = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / "mlp"),
                           str(tmp_path / "expected.pt")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "guard: argument 0: sizes (3, 32) strides (32, 1), built for sizes (16, 32)" \
        in done.stdout
    assert "loaded: []" in done.stdout


class Stateful(torch.nn.Module):
    """Buffers (batch norm's statistics), a returned parameter, a dict and a constant."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(8)
        self.bn.running_mean.uniform_()
        self.scale = torch.nn.Parameter(torch.randn(8))

    def forward(self, x, y):
        z = self.bn(x) * self.scale + y.sum(0)
        return {"z": torch.relu(z), "parts": (z.mean(), 3), "scale": self.scale}


def test_an_artifact_keeps_state_and_the_result_structure(tmp_path):
    model = Stateful().eval()
    x, y = torch.randn(4, 8), torch.randn(5, 8)
    mlirfuse.export(model, (x, y), str(tmp_path / "a"))
    run = mlirfuse.load(str(tmp_path / "a"))
    with torch.no_grad():
        expected = model(x, y)
        got = run(x, y)
        torch.testing.assert_close(got, expected)
        assert got["parts"][1] == 3
        with pytest.raises(mlirfuse.GuardError, match="argument 1: sizes \\(6, 8\\)"):
            run(x, torch.randn(6, 8))
        with pytest.raises(TypeError, match="takes 2 tensors"):
            run(x)
    with pytest.raises(RuntimeError, match="forward values only"):
        run(x.requires_grad_(), y)


def test_a_convolution_is_compiled_code_in_an_artifact(tmp_path):
    """No extern call in an artifact: the convolution is an im2col gather and BLAS."""
    x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
    conv = lambda x, w: torch.relu(torch.nn.functional.conv2d(x, w))  # noqa: E731
    run = mlirfuse.load(mlirfuse.export(conv, (x, w), str(tmp_path / "c")))
    torch.testing.assert_close(run(x, w), conv(x, w))


def test_index_arguments_are_bounds_checked(tmp_path):
    x, i = torch.randn(8), torch.tensor([1, 3])
    gather = lambda x, i: x[i] * 2  # noqa: E731
    run = mlirfuse.load(mlirfuse.export(gather, (x, i), str(tmp_path / "g")))
    torch.testing.assert_close(run(x, torch.tensor([7, -8])), gather(x, torch.tensor([7, -8])))
    with pytest.raises(IndexError, match="index 8 is out of bounds for dimension 0 with size 8"):
        run(x, torch.tensor([0, 8]))


@pytest.mark.parametrize("fn,inputs,why", [
    (lambda x: x + torch.rand_like(x), lambda: (torch.randn(4),), "draws random numbers"),
])
def test_what_an_artifact_cannot_hold_is_refused(tmp_path, fn, inputs, why):
    with pytest.raises(mlirfuse.CompileError, match=why):
        mlirfuse.export(fn, inputs(), str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_no_artifact_is_reported(tmp_path):
    from mlirfuse.runtime.artifact import ArtifactError

    with pytest.raises(ArtifactError, match="manifest.json"):
        mlirfuse.load(str(tmp_path))


class _LastHidden(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(ids).last_hidden_state


def test_a_transformers_gpt2_as_an_artifact(tmp_path):
    """A real model (random weights): its token ids are index arguments, checked per call;
    the full ModelOutput holds a cache object, which an artifact cannot: refused, saying so."""
    tf = pytest.importorskip("transformers", reason="transformers is not installed")
    torch.manual_seed(0)
    model = tf.GPT2Model(tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=128)).eval()
    ids = torch.randint(0, 128, (2, 16))
    with pytest.raises(mlirfuse.CompileError, match="DynamicCache"):
        mlirfuse.export(model, (ids,), str(tmp_path / "full"))
    wrapped = _LastHidden(model)
    run = mlirfuse.load(mlirfuse.export(wrapped, (ids,), str(tmp_path / "gpt2")))
    with torch.no_grad():
        other = torch.randint(0, 128, (2, 16))
        torch.testing.assert_close(run(other), wrapped(other), rtol=1e-4, atol=1e-4)
        with pytest.raises(IndexError, match="out of bounds"):
            run(other + 128)
