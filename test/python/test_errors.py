"""Failing compiles: a CompileError naming the stage, the op and the user's source line,
with a repro file; never another exception type, never a crash."""

from __future__ import annotations

import inspect
import os

import pytest
import torch

import mlirfuse
import models
from conftest import assert_same


pytestmark = pytest.mark.usefixtures("no_grad")  # compiled code runs, not the eager fallback


def _line_of(fn, text: str) -> int:
    """The line number in this file of the line of `fn` containing `text`."""
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, l in enumerate(lines) if text in l)


def fft_magnitude(x):
    y = x * 2
    return torch.fft.fft(y).abs()


def fft_complex(x):
    return torch.fft.fft(x)


@pytest.mark.parametrize("fn", [fft_magnitude, fft_complex])
def test_unlowerable_op_raises_compile_error(fn, tmp_path):
    line = _line_of(fn, "torch.fft.fft")
    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(fn, repro_dir=str(tmp_path), on_unsupported="error")(models.randn(8))
    e = info.value
    msg = str(e)
    assert e.stage in ("torch", "linalg")
    assert f"stage '{e.stage}'" in msg
    assert e.op and e.op in msg
    assert e.source == f"{__file__}:{line}"
    assert f"{__file__}:{line}" in msg
    assert e.repro_path and os.path.exists(e.repro_path)
    assert os.path.dirname(e.repro_path) == str(tmp_path)
    assert "func.func @main" in open(e.repro_path).read()
    assert e.repro_command and e.repro_path in e.repro_command


def test_compile_error_names_the_unlowerable_op(tmp_path):
    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(fft_complex, repro_dir=str(tmp_path),
                         on_unsupported="error")(models.randn(8))
    e = info.value
    assert e.op == "torch.aten.fft_fft"  # not an operand of it (a torch.constant.int)
    assert "torch.aten.fft_fft" in str(e)


def test_unsupported_op_at_torch_stage(tmp_path):
    def f(x):
        return torch.special.laguerre_polynomial_l(x, 3) + 1

    line = _line_of(f, "laguerre_polynomial_l")
    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(f, repro_dir=str(tmp_path), on_unsupported="error")(models.randn(4))
    e = info.value
    assert e.stage == "torch"
    assert "laguerre_polynomial_l" in str(e)
    assert e.source == f"{__file__}:{line}"
    assert os.path.exists(e.repro_path)


def test_source_line_without_stack_trace_anchors(tmp_path, monkeypatch):
    """torch 2.11 (the GPU machine's) has no stack-trace anchors and keeps only frames
    named "forward": a plain function's line must still be found."""
    monkeypatch.delattr(torch.fx.proxy, "_register_stack_trace_anchor", raising=False)
    monkeypatch.setattr(torch.fx.proxy, "_STACK_TRACE_ANCHORS", set(), raising=False)

    def unanchored(x):
        return torch.special.laguerre_polynomial_l(x, 3) + 1

    line = _line_of(unanchored, "laguerre_polynomial_l")
    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(unanchored, repro_dir=str(tmp_path),
                         on_unsupported="error")(models.randn(4))
    assert info.value.source == f"{__file__}:{line}"


class _Nested(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU())

    def forward(self, x):
        return self.inner(x).softmax(-1) * 2


def test_capture_records_torchs_own_stack_traces():
    """Capture reads stack traces from Python's frames (aten_export._FrameWalk, faster):
    every node gets the text torch's tracer would have given it."""
    from mlirfuse.compiler.aten_export import frame_walk_stack_traces

    def traces():
        prog = torch.export.export(_Nested(), (torch.randn(2, 4),), strict=False)
        return [(n.name, n.meta.get("stack_trace")) for n in prog.graph.nodes]

    own = traces()
    with frame_walk_stack_traces():
        walked = traces()
    # The frames from the model's forward outward read once and shared by every node.
    with frame_walk_stack_traces(_Nested.forward.__code__):
        shared = traces()
    assert walked == own and shared == own
    assert sum("self.inner(x)" in (t or "") for _, t in own) >= 2


def test_capture_error_is_a_compile_error():
    def f(x):
        return x.reshape(3, -1) @ torch.ones(5, 2)  # shapes do not match

    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(f, on_unsupported="error")(models.randn(4, 3))
    assert info.value.stage == "capture"


def test_arguments_eager_rejects_raise_eagers_error():
    """By default a function that cannot be captured runs eager: arguments eager rejects
    raise eager's own error, and the function is left as it was."""
    def f(x):
        return x.reshape(2, 4) * 3

    compiled = mlirfuse.compile(f)
    with pytest.raises(RuntimeError, match="invalid for input of size 7"):
        compiled(models.randn(7))
    x = models.randn(8)
    torch.testing.assert_close(compiled(x), f(x))
    assert compiled.stats.eager_ops == 0 and compiled.stats.compilations == 1


def test_compile_error_from_example_inputs():
    with pytest.raises(mlirfuse.CompileError):
        mlirfuse.compile(fft_complex, example_inputs=(models.randn(8),), on_unsupported="error")


def test_failed_compile_leaves_function_usable():
    """A failing specialization does not poison the cache: other shapes still compile."""
    def f(x):
        return x.reshape(2, 4) * 3

    compiled = mlirfuse.compile(f, on_unsupported="error")
    with pytest.raises(mlirfuse.CompileError):
        compiled(models.randn(7))
    x = models.randn(8)
    torch.testing.assert_close(compiled(x), f(x))
    with pytest.raises(mlirfuse.CompileError):
        compiled(models.randn(7))


@pytest.mark.parametrize("fn", [lambda x: torch.nonzero(x > 0), lambda x: x[x > 0]],
                         ids=["nonzero", "mask"])
def test_data_dependent_shape_is_a_compile_error(fn):
    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(fn, on_unsupported="error")(models.randn(8))
    assert info.value.stage == "capture"


def test_data_dependent_control_flow_is_a_compile_error():
    def f(x):
        return x if x.sum() > 0 else -x

    with pytest.raises(mlirfuse.CompileError) as info:
        mlirfuse.compile(f, on_unsupported="error")(models.randn(8))
    assert info.value.stage == "capture"


def test_unknown_option_is_rejected():
    with pytest.raises(TypeError):
        mlirfuse.compile(lambda x: x, no_such_option=1)


def test_non_cpu_tensor_is_rejected():
    with pytest.raises(mlirfuse.CompileError):
        mlirfuse.compile(lambda x: x + 1, on_unsupported="error")(torch.ones(2, device="meta"))


def test_tensor_on_another_device_runs_eager():
    compiled = mlirfuse.compile(lambda x: x + 1)
    out = compiled(torch.ones(2, device="meta"))
    assert out.device.type == "meta" and out.shape == (2,)
    assert compiled.stats.fallbacks == 1


INDEXING = {
    "index": (lambda x, i: x[i], lambda: torch.tensor([1, 12])),
    "negative": (lambda x, i: x[i], lambda: torch.tensor([1, -11])),
    "second_dim": (lambda x, i: x[:, i] * 2, lambda: torch.tensor([0, 4])),
    "index_select": (lambda x, i: torch.index_select(x, 0, i), lambda: torch.tensor([10])),
    "embedding": (lambda x, i: torch.nn.functional.embedding(i, x), lambda: torch.tensor([[3, 10]])),
    "gather": (lambda x, i: torch.gather(x, 1, i), lambda: torch.full((10, 2), 4)),
}


@pytest.mark.cpu_only("on CUDA a bounds check would synchronize every call; not checked there")
@pytest.mark.parametrize("name", sorted(INDEXING))
def test_index_out_of_bounds_raises(name):
    """An index argument past the end raises IndexError, as eager raises: the compiled
    code read other memory and returned it (torch-mlir's loads are unchecked). The same
    compiled function then runs an index in range."""
    fn, make = INDEXING[name]
    x = torch.randn(10, 4)
    compiled = mlirfuse.compile(fn)
    with pytest.raises(IndexError, match="out of bounds"):
        compiled(x, make())
    ok = make().clamp(-3, 3)
    torch.testing.assert_close(compiled(x, ok), fn(x, ok))


@pytest.mark.cpu_only("index checks are made on the CPU only")
def test_index_select_of_a_0d_tensor():
    """The index check took dimension 0 of a 0-d tensor's shape (IndexError while
    compiling); index_select treats a 0-d tensor as one element."""
    fn = lambda x, i: torch.index_select(x, 0, i) * 2  # noqa: E731
    x, i = torch.tensor(3.0), torch.tensor([0])
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(x, i), fn(x, i))
    assert compiled.stats.fallbacks == 0
    with pytest.raises(IndexError, match="out of bounds"):
        compiled(x, torch.tensor([1]))


@pytest.mark.cpu_only("runs a CPU subprocess")
def test_batch_norm_of_zero_variance_does_not_abort(tmp_path):
    """A zero variance with eps = 0 makes sqrt(var + eps) 0: eager returns nan. torch-mlir's
    assert on it aborted the whole process (mlirfuse-drop-asserts); run in a child so
    an abort fails this test instead of ending the run."""
    script = tmp_path / "bn.py"
    script.write_text(
        "import torch, mlirfuse\n"
        "bn = torch.nn.BatchNorm2d(3, eps=0.0).eval()\n"
        "bn.running_var.zero_()\n"
        "x = torch.randn(2, 3, 4, 4)\n"
        "with torch.no_grad():\n"
        "    got, want = mlirfuse.compile(bn)(x), bn(x)\n"
        # Eager folds the scale into x * a + b (nan here); compiled code computes
        # (x - mean) / 0 (+-inf): both say the variance is degenerate.
        "assert not got.isfinite().any() and not want.isfinite().any()\n"
        "print('not finite, as eager')\n")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "not finite, as eager" in done.stdout, done.stderr[-2000:]


def test_internal_error_warning_says_where_it_was_raised(monkeypatch):
    """A bug inside mlirfuse runs the function eager with a warning; the warning names
    the innermost frame in mlirfuse and the one that raised (before: the message only, as
    "'int' object has no attribute 'dtype'" on the H200, with nothing to find it by)."""
    from mlirfuse.compiler import specialize
    from mlirfuse.compiler.errors import InternalErrorWarning

    def broken(*args, **kwargs):
        raise AttributeError("'int' object has no attribute 'dtype'")

    monkeypatch.setattr(specialize.Specialization, "__init__", broken)
    compiled = mlirfuse.compile(lambda x: x + 1)
    x = torch.ones(3)
    with pytest.warns(InternalErrorWarning) as caught:
        assert_same(compiled(x), x + 1)
    (message,) = [str(w.message) for w in caught if w.category is InternalErrorWarning]
    assert "'int' object has no attribute 'dtype' (raised at " in message
    assert "test_errors.py:" in message and message.endswith("in broken)")
