"""CPU code kept on disk (runtime/cpu_library.py): a process that compiles a module
another process compiled loads that one's shared library instead of running the JIT."""

import os
import subprocess
import sys

import pytest
import torch

import mlirfuse
from mlirfuse.runtime import cpu_library, native

SCRIPT = """
import torch, mlirfuse
def f(x, y):
    return torch.relu(x + y) * torch.sigmoid(x) + x.sum(-1, keepdim=True)
x, y = torch.randn(64, 48), torch.randn(64, 48)
compiled = mlirfuse.compile(f)
torch.testing.assert_close(compiled(x, y), f(x, y))
print("from_disk", compiled._last.graph.executable.from_disk)
"""


def f(x, y):
    return torch.relu(x + y) * torch.sigmoid(x) + x.sum(-1, keepdim=True)


def _executable(compiled):
    return compiled._last.graph.executable


def _compiled(x, y):
    """f compiled afresh and checked against eager at (x, y): its Executable."""
    compiled = mlirfuse.compile(f)
    torch.testing.assert_close(compiled(x, y), f(x, y))
    return _executable(compiled)


def _libraries(folder):
    cpu = os.path.join(folder, "cpu")
    return sorted(n for n in os.listdir(cpu) if n.endswith(".so")) if os.path.isdir(cpu) else []


@pytest.fixture(autouse=True)
def _cpu_tensors():
    """CPU code: under MLIRFUSE_TEST_DEVICE=cuda (whose default device is CUDA) these
    tests still compile for the CPU."""
    with torch.device("cpu"):
        yield


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLIRFUSE_CPU_CODE_CACHE", raising=False)
    return tmp_path


def _run(env):
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-1]


def test_a_second_process_loads_the_code_instead_of_compiling_it(cache):
    """The first process JIT-compiles and leaves a library (its exit waits for the link);
    the second loads it, runs no JIT, and its result is eager's; the runtime libraries
    built once are shared."""
    env = {**os.environ, "MLIRFUSE_CACHE_DIR": str(cache)}
    assert _run(env) == "False"
    assert len(_libraries(cache)) == 1
    assert _run(env) == "True"
    assert len(_libraries(cache)) == 1
    assert not [n for n in os.listdir(cache / "cpu") if n.startswith("mlirfuse-cpu-")]


def test_code_from_disk_runs_in_process(cache):
    x, y = torch.randn(16, 40), torch.randn(16, 40)
    first = _compiled(x, y)
    assert not first.from_disk
    first.stored.join()
    again = _compiled(x, y)
    assert again.from_disk and again.engine is None


def test_a_library_that_does_not_load_is_compiled_again(cache):
    """A truncated or foreign file under the library's name is a miss: the JIT runs, and
    its link replaces the file."""
    x, y = torch.randn(8, 24), torch.randn(8, 24)
    _compiled(x, y).stored.join()
    (name,) = _libraries(cache)
    (cache / "cpu" / name).write_bytes(b"\x7fELF not really")
    again = _compiled(x, y)
    assert not again.from_disk
    again.stored.join()
    assert _compiled(x, y).from_disk


def test_switched_off_nothing_is_written(cache, monkeypatch):
    monkeypatch.setenv("MLIRFUSE_CPU_CODE_CACHE", "0")
    assert _compiled(torch.randn(8, 8), torch.randn(8, 8)).stored is None
    assert _libraries(cache) == []


def test_the_key_changes_with_what_changes_the_code():
    from torch_mlir import ir

    with ir.Context():
        a = ir.Module.parse("func.func @main() { return }")
        b = ir.Module.parse("func.func @main() { %c = arith.constant 1 : i32\n return }")
        libs = ["/x/libmlirfuse_omp.so"]
        assert cpu_library.key(a, libs, 3) == cpu_library.key(a, libs, 3)
        assert cpu_library.key(a, libs, 3) != cpu_library.key(b, libs, 3)
        assert cpu_library.key(a, libs, 3) != cpu_library.key(a, libs, 2)
        assert cpu_library.key(a, libs, 3) != cpu_library.key(a, libs + ["/y/e.so"], 3)


def test_the_least_recently_used_libraries_go_over_the_limit(cache):
    """Three libraries of 100 bytes under a 250-byte limit: the one used longest ago goes;
    a lookup marks a library used."""
    folder = cache / "cpu"
    folder.mkdir(mode=0o700)
    for i, name in enumerate(["a", "b", "c"]):
        path = folder / f"cpu-{name}.so"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + i, 1000 + i))
    assert cpu_library.lookup("a") == str(folder / "cpu-a.so")  # now the most recent
    native.evict(str(folder), ".so", 250)
    assert _libraries(cache) == ["cpu-a.so", "cpu-c.so"]


def test_libraries_others_could_write_are_not_loaded(cache):
    """A library is machine code run in this process: one writable by others, or in a
    folder not private to the user, is refused with a warning and compiled again."""
    x, y = torch.randn(8, 16), torch.randn(8, 16)
    _compiled(x, y).stored.join()
    assert oct((cache / "cpu").stat().st_mode & 0o777) == "0o700"
    (name,) = _libraries(cache)
    (cache / "cpu" / name).chmod(0o666)
    cpu_library._warned = False
    with pytest.warns(UserWarning, match="writable by others"):
        assert not _compiled(x, y).from_disk


def test_runtime_libraries_are_never_loaded_from_a_folder_others_can_write(cache):
    """The runtime's own libraries (runtime/native.py) are code too: from a cache folder
    others could write, they are built in a folder private to this process (warned);
    a library others could write is built again."""
    source = os.path.join(os.path.dirname(native.__file__), "cpu", "mlirfuse_fp.c")
    path = native.build(source, "mlirfuse_fp_test")
    assert path.startswith(str(cache / "runtime"))
    os.chmod(path, 0o666)
    again = native.build(source, "mlirfuse_fp_test")
    assert again == path and os.stat(path).st_mode & 0o022 == 0  # rebuilt, replaced
    (cache / "runtime").chmod(0o777)
    with pytest.warns(UserWarning, match="not private"):
        elsewhere = native.build(source, "mlirfuse_fp_test")
    assert not elsewhere.startswith(str(cache))


def test_a_runtime_library_is_built_again_when_a_file_it_includes_changes(tmp_path):
    """The CUDA runtime is one library of several files (mlirfuse_cuda.c includes its
    cuBLAS and cuDNN parts): its name hashes them all, so a change to a part rebuilds it."""
    (tmp_path / "part.inc").write_text("int part(void) { return 1; }\n")
    source = tmp_path / "whole.c"
    source.write_text('#include "part.inc"\nint whole(void) { return part(); }\n')
    before = native.built_path(str(source), "whole")
    (tmp_path / "part.inc").write_text("int part(void) { return 2; }\n")
    assert native.built_path(str(source), "whole") != before
