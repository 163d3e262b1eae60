"""Compiled graphs on disk (compiler/graph_cache.py): a hit skips the import and every
stage; damaged, foreign or writable-by-others entries are never loaded."""

import os
import subprocess
import sys
import warnings

import pytest
import torch

import mlirfuse
from mlirfuse.compiler import graph_cache

SCRIPT = """
import torch, mlirfuse
def f(x, y):
    return torch.tanh(x @ y) * 2 + x.mean()
x, y = torch.randn(32, 32), torch.randn(32, 32)
compiled = mlirfuse.compile(f)
torch.testing.assert_close(compiled(x, y), f(x, y))
graph = compiled._last.graph
print(graph.from_cache, graph.executable.from_disk, "fused" in compiled.timings())
"""


def f(x, y):
    return torch.tanh(x @ y) * 2 + x.mean()


@pytest.fixture
def cache(cache_folder, monkeypatch):
    """The compiled graphs' entries (a warm start would find the code before them, in a
    later process or once the code's library is linked: test_warm_start.py)."""
    monkeypatch.setenv("MLIRFUSE_WARM_START", "0")
    return cache_folder


def _entries(cache):
    folder = cache / "graphs"
    return sorted(folder.glob("*.entry")) if folder.exists() else []


def _compile(x, y, **options):
    compiled = mlirfuse.compile(f, **options)
    torch.testing.assert_close(compiled(x, y), f(x, y))
    return compiled._last.graph


def _run(cache, count=1):
    env = {**os.environ, "MLIRFUSE_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(count)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        outs.append(out.split()[-3:])
    return outs


def test_a_second_process_skips_every_stage(cache):
    """The first process compiles (and writes the entry, private to the user); the
    second loads the module and the machine code: no stage and no JIT run."""
    assert _run(cache) == [["False", "False", "True"]]
    (entry,) = _entries(cache)
    assert oct(entry.stat().st_mode & 0o777) == "0o600"
    assert oct((cache / "graphs").stat().st_mode & 0o777) == "0o700"
    assert _run(cache) == [["True", "True", "False"]]


def test_processes_compiling_the_same_graph_at_once_both_succeed(cache):
    """Both match eager (the script checks it); the first to finish may have served the
    other; one entry is left."""
    assert len(_run(cache, count=2)) == 2
    assert len(_entries(cache)) == 1
    assert _run(cache) == [["True", "True", "False"]]


def test_a_hit_shows_every_stage_when_asked(cache):
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    first = mlirfuse.compile(f)
    first(x, y)
    again = mlirfuse.compile(f)
    torch.testing.assert_close(again(x, y), f(x, y))
    assert again._last.graph.from_cache
    assert (first.stats.cache_loads, again.stats.cache_loads) == (0, 1)
    assert again.stats.compilations == 1
    assert again.ir("fused") == first.ir("fused")
    assert "linalg.generic" in again.ir("linalg")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_entry_is_reported_and_compiled_again(cache, damage):
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    _compile(x, y)
    (entry,) = _entries(cache)
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    else:
        del data[len(data) // 2:]
    entry.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="damaged"):
        graph = _compile(x, y)
    assert not graph.from_cache
    assert _compile(x, y).from_cache  # rewritten whole


def test_entries_others_could_write_are_not_loaded(cache):
    """Cached code becomes machine code in this process: an entry writable by others, or
    a folder others could write, is refused with a warning and never loaded."""
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    _compile(x, y)
    (entry,) = _entries(cache)
    entry.chmod(0o666)
    with pytest.warns(UserWarning, match="writable by others"):
        assert not _compile(x, y).from_cache
    (cache / "graphs").chmod(0o775)
    graph_cache._warned.clear()
    with pytest.warns(UserWarning, match="not private"):
        assert not _compile(x, y).from_cache


def test_a_folder_only_this_user_can_write_is_made_private(cache):
    """A 0755 folder (an older mlirfuse made it so) is this user's alone to write: it is
    made 0700 and used."""
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    _compile(x, y)
    (cache / "graphs").chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _compile(x, y).from_cache
    assert oct((cache / "graphs").stat().st_mode & 0o777) == "0o700"


def test_options_that_change_the_code_change_the_key(cache):
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    _compile(x, y)
    assert not _compile(x, y, fuse=False).from_cache
    assert not _compile(x, y, opt_level=1).from_cache
    assert not _compile(x.t().contiguous().t(), y).from_cache  # other strides
    assert not _compile(x.double(), y.double()).from_cache
    assert _compile(x, y, recompile_limit=3).from_cache  # changes no code
    assert len(_entries(cache)) == 5


def test_switched_off_nothing_is_written(cache, monkeypatch):
    monkeypatch.setenv("MLIRFUSE_GRAPH_CACHE", "0")
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    assert not _compile(x, y).from_cache and not _compile(x, y).from_cache
    assert _entries(cache) == []


def test_an_edit_of_mlirfuse_changes_every_key(cache, monkeypatch):
    """The key holds a hash of mlirfuse's sources: code an older mlirfuse made is never
    loaded by a newer one."""
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    _compile(x, y)
    monkeypatch.setattr(graph_cache, "_versions", lambda: "torch ?, mlirfuse edited")
    assert not _compile(x, y).from_cache
