"""Ahead-of-time artifacts: mlirfuse.export writes a folder, mlirfuse.load runs it with torch
alone (torch-mlir not importable), the guards name a broken argument."""

import json
import os
import subprocess
import sys

import pytest
import torch

import mlirfuse
from models import LastHidden

LOAD = """
import sys
sys.modules["torch_mlir"] = None  # importing torch-mlir fails in this process
import torch, mlirfuse
x, expected = torch.load(sys.argv[2])
run = mlirfuse.load(sys.argv[1])
with torch.no_grad():
    torch.testing.assert_close(run(x), expected)
    try:
        run(torch.randn(3, *x.shape[1:], device=x.device))
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
    x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
    conv = lambda x, w: torch.relu(torch.nn.functional.conv2d(x, w))  # noqa: E731
    run = mlirfuse.load(mlirfuse.export(conv, (x, w), str(tmp_path / "c")))
    torch.testing.assert_close(run(x, w), conv(x, w))


def _qr_between(x):
    q, r = torch.linalg.qr(x @ x.mT + torch.eye(x.shape[0], device=x.device))
    return q * 2, r.abs().sum(1)


def _load_elsewhere(folder, inputs, expected, tmp_path) -> str:
    """Runs the artifact in a process where importing torch-mlir fails; its output."""
    torch.save((inputs, expected), tmp_path / "expected.pt")
    done = subprocess.run([sys.executable, "-c", LOAD, str(folder), str(tmp_path / "expected.pt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded: []" in done.stdout
    return done.stdout


def test_an_extern_call_runs_from_an_artifact(tmp_path):
    """LAPACK's qr, an extern call: the artifact calls torch's kernel with torch alone."""
    x = torch.randn(6, 6, dtype=torch.float64)
    compiled = mlirfuse.compile(_qr_between)
    compiled(x)
    assert compiled.stats.extern_calls == 1
    folder = mlirfuse.export(_qr_between, (x,), str(tmp_path / "qr"))
    run = mlirfuse.load(folder)
    torch.testing.assert_close(run(x), _qr_between(x))
    y = torch.randn(6, 6, dtype=torch.float64)
    _load_elsewhere(folder, y, _qr_between(y), tmp_path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_artifact_runs_where_torch_mlir_cannot_be_imported(tmp_path):
    model, x = _mlp().cuda(), torch.randn(16, 32, device="cuda")
    folder = mlirfuse.export(model, (x,), str(tmp_path / "mlp"))
    manifest = json.loads((tmp_path / "mlp" / "manifest.json").read_text())
    assert manifest["device"] == "cuda" and manifest["gemm"]
    with torch.no_grad():
        out = _load_elsewhere(folder, x, model(x), tmp_path)
        assert "guard: argument 0: sizes (3, 32) strides (32, 1)" in out
        run = mlirfuse.load(folder)
        torch.testing.assert_close(run(x), model(x))
        with pytest.raises(mlirfuse.GuardError, match="on cpu, built for torch.float32 on cuda"):
            run(x.cpu())
        with pytest.raises(mlirfuse.GuardError, match="not 16-byte aligned"):
            run(torch.randn(16 * 32 + 1, device="cuda")[1:].view(16, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_transformers_gpt2_as_a_cuda_artifact(tmp_path):
    """GPT-2 on CUDA: its attention is an extern call (torch's kernel), its matmuls cuBLAS."""
    tf = pytest.importorskip("transformers", reason="transformers is not installed")
    torch.manual_seed(0)
    model = LastHidden(tf.GPT2Model(tf.GPT2Config(n_embd=64, n_layer=2, n_head=4,
                                                   vocab_size=128)).eval().cuda())
    ids = torch.randint(0, 128, (2, 16), device="cuda")
    folder = mlirfuse.export(model, (ids,), str(tmp_path / "gpt2"))
    with torch.no_grad():
        other = torch.randint(0, 128, (2, 16), device="cuda")
        _load_elsewhere(folder, other, model(other), tmp_path)


def test_index_arguments_are_bounds_checked(tmp_path):
    x, i = torch.randn(8), torch.tensor([1, 3])
    gather = lambda x, i: x[i] * 2  # noqa: E731
    run = mlirfuse.load(mlirfuse.export(gather, (x, i), str(tmp_path / "g")))
    torch.testing.assert_close(run(x, torch.tensor([7, -8])), gather(x, torch.tensor([7, -8])))
    with pytest.raises(IndexError, match="index 8 is out of bounds for dimension 0 with size 8"):
        run(x, torch.tensor([0, 8]))


@pytest.mark.parametrize("fn,inputs,why", [
    (lambda x: x + torch.rand_like(x), lambda: (torch.randn(4),), "random ops \\(aten.rand_like"),
    (lambda x: torch.nonzero(x > 0).float() * 2, lambda: (torch.randn(8),),
     "ops run eager \\(aten.nonzero.default at .*test_aot.py:\\d+: a shape depends on the data"),
])
def test_what_an_artifact_cannot_hold_is_refused(tmp_path, fn, inputs, why):
    with pytest.raises(mlirfuse.CompileError, match=why):
        mlirfuse.export(fn, inputs(), str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_no_artifact_is_reported(tmp_path):
    from mlirfuse.runtime.artifact import ArtifactError

    with pytest.raises(ArtifactError, match="manifest.json"):
        mlirfuse.load(str(tmp_path))


def test_a_transformers_gpt2_as_an_artifact(tmp_path):
    """A real model (random weights): its token ids are index arguments, checked per call;
    the full ModelOutput holds a cache object, which an artifact cannot: refused, saying so."""
    tf = pytest.importorskip("transformers", reason="transformers is not installed")
    torch.manual_seed(0)
    model = tf.GPT2Model(tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=128)).eval()
    ids = torch.randint(0, 128, (2, 16))
    with pytest.raises(mlirfuse.CompileError, match="DynamicCache"):
        mlirfuse.export(model, (ids,), str(tmp_path / "full"))
    wrapped = LastHidden(model)
    run = mlirfuse.load(mlirfuse.export(wrapped, (ids,), str(tmp_path / "gpt2")))
    with torch.no_grad():
        other = torch.randint(0, 128, (2, 16))
        torch.testing.assert_close(run(other), wrapped(other), rtol=1e-4, atol=1e-4)
        with pytest.raises(IndexError, match="out of bounds"):
            run(other + 128)


def test_attention_without_dropout_draws_nothing():
    """scaled_dot_product_attention is tagged as seeded (its dropout): at dropout_p 0 it
    draws nothing, so a CUDA artifact (where it is an extern call) may hold it; the same
    op with dropout, or dropout itself, draws."""
    from mlirfuse.compiler.seeding import draws

    q = torch.randn(1, 2, 4, 8)

    class Attention(torch.nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, q):
            return torch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=self.p)

    def ops(module, *args):
        graph = torch.export.export(module, args, strict=False).graph
        return [draws(n) for n in graph.nodes if n.op == "call_function"]

    assert ops(Attention(0.0), q) == [False]
    assert ops(Attention(0.1), q) == [True]
    assert ops(torch.nn.Dropout(0.5).train(), q) == [True]
