"""The progress line of long compiles (compiler/progress.py, issue 19): the stages on a
terminal, nothing elsewhere or with progress=False."""

import io
import sys

import torch

import mlirfuse
from mlirfuse.compiler import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _softmax_matmul(x, w):
    return torch.softmax(x @ w, -1) * 2


def _compile_once(monkeypatch, stream, **options):
    monkeypatch.setattr(progress, "DELAY", 0)  # show at once: no timing in the test
    monkeypatch.setattr(sys, "stderr", stream)
    x, w = torch.randn(16, 32), torch.randn(32, 8)
    compiled = mlirfuse.compile(_softmax_matmul, **options)
    torch.testing.assert_close(compiled(x, w), _softmax_matmul(x, w))
    assert compiled.stats.compilations == 1
    return stream.getvalue()


def test_a_compile_shows_its_stages_on_a_terminal(monkeypatch):
    # The stages run only where no earlier compile left this graph on disk (graph_cache):
    # with the cache on, this test failed in a checkout whose tests had run before.
    monkeypatch.setenv("MLIRFUSE_GRAPH_CACHE", "0")
    text = _compile_once(monkeypatch, _Terminal())
    assert "mlirfuse: compiling _softmax_matmul" in text
    for stage in ("capture", "import", "linalg", "llvm"):
        assert stage in text, stage


def test_a_compile_from_the_disk_cache_shows_the_load(monkeypatch, tmp_path):
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLIRFUSE_GRAPH_CACHE", raising=False)
    monkeypatch.setenv("MLIRFUSE_WARM_START", "0")  # (a warm start loads in milliseconds)
    _compile_once(monkeypatch, _Terminal())
    text = _compile_once(monkeypatch, _Terminal())
    assert "load" in text and "linalg" not in text


def test_no_line_off_a_terminal_or_when_off(monkeypatch):
    assert _compile_once(monkeypatch, io.StringIO()) == ""
    assert _compile_once(monkeypatch, _Terminal(), progress=False) == ""


def test_progress_is_true_or_false():
    import pytest
    with pytest.raises(ValueError, match="progress must be True or False"):
        mlirfuse.compile(_softmax_matmul, progress="yes")
