"""Each distinct kernel compiled once (issue 19): a model's repeated layers call the same
kernel functions, so deeper models add calls, not code (lowering/cpu/share_kernels.py);
other modules of the process call the code of a kernel compiled before, in this process
and, through their libraries on disk, in the next (runtime/shared_kernels.py)."""

import gc
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

import mlirfuse
from conftest import assert_same
from mlirfuse.compiler.context import make_context  # noqa: F401 (loads the dialect)

cpu_only = pytest.mark.skipif(torch.empty(0).is_cuda,
                              reason="the CPU's lowering (kernels are gpu.launch on CUDA)")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.norm = torch.nn.Linear(64, 64), torch.nn.LayerNorm(64)

    def forward(self, x):
        return self.norm(x + torch.nn.functional.gelu(self.linear(x)))


def _compile(layers: int):
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[Block() for _ in range(layers)]).eval()
    x = torch.randn(4, 16, 64)
    # Whole (at 4 layers the graph would be cut at the layers: repeated_layers.py): the
    # kernels are shared inside one module here.
    compiled = mlirfuse.compile(model, layers=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    return compiled


def _functions(text: str, prefix: str) -> set[str]:
    return set(re.findall(rf"func\.func private @({prefix}\d+)", text))


@cpu_only
def test_repeated_layers_share_their_kernel_functions():
    compiled = {layers: _compile(layers) for layers in (2, 3, 4)}
    loops = {layers: c.ir("loops") for layers, c in compiled.items()}
    kernels = _functions(loops[2], "mlirfuse_kernel_")
    assert kernels and all(_functions(t, "mlirfuse_kernel_") == kernels for t in loops.values())
    # Every kernel run is a call: each layer adds the same calls, and no function.
    calls = {layers: len(re.findall(r"call @mlirfuse_kernel_", t)) for layers, t in loops.items()}
    assert calls[4] - calls[3] == calls[3] - calls[2] > 0
    assert all(c.stats.kernels == calls[layers] for layers, c in compiled.items())
    # The GEMMs' calls with their constant sizes: one function per distinct matmul.
    assert _functions(loops[4], "mlirfuse_call_") == _functions(loops[2], "mlirfuse_call_")


def test_the_dialects_without_python_builders_are_looked_up_once():
    """Op handles of a dialect with no Python module (mlirfuse, tm_tensor) no longer try
    to import one at every handle (15,000 failed imports in one pass over GPT-2)."""
    import importlib
    import sys

    for namespace in ("mlirfuse", "tm_tensor", "omp", "torch_c"):
        assert f"torch_mlir.dialects.{namespace}" in sys.modules
        importlib.import_module(f"torch_mlir.dialects.{namespace}")


def norm(x):
    y = torch.nn.functional.layer_norm(x, (61,))
    return y, y @ x.t()  # a GEMM: its call function is @mlirfuse_call_0, as below


def norm_and_softmax(x):  # norm's kernel, then others
    y = torch.nn.functional.layer_norm(x, (61,))
    return y, (y.t() @ y).softmax(-1)


def _executables(compiled):
    graph = compiled._last.graph
    return [p.executable for p in graph.pieces] if hasattr(graph, "pieces") \
        else [graph.executable]


def _lenders(compiled) -> int:
    return sum(len(e.lenders) for e in _executables(compiled))


@pytest.fixture
def sharing(monkeypatch):
    """Kernel sharing across modules on, whatever the environment says."""
    monkeypatch.setenv("MLIRFUSE_SHARE_KERNELS", "1")


@cpu_only
def test_a_kernel_compiled_before_in_the_process_is_not_compiled_again(cache_folder, sharing):
    x = torch.randn(7, 61)
    first = mlirfuse.compile(norm)
    torch.testing.assert_close(first(x), norm(x))
    second = mlirfuse.compile(norm_and_softmax)
    torch.testing.assert_close(second(x), norm_and_softmax(x))
    assert _lenders(first) == 0 and _lenders(second) == 1
    # The lender's code lives as long as the borrower does.
    del first
    gc.collect()
    torch.testing.assert_close(second(x * 2), norm_and_softmax(x * 2))


@cpu_only
def test_kernels_are_compiled_by_each_module_when_sharing_is_off(cache_folder, monkeypatch):
    monkeypatch.setenv("MLIRFUSE_SHARE_KERNELS", "0")
    x = torch.randn(7, 61)
    first, second = mlirfuse.compile(norm), mlirfuse.compile(norm_and_softmax)
    torch.testing.assert_close(first(x), norm(x))
    torch.testing.assert_close(second(x), norm_and_softmax(x))
    assert _lenders(second) == 0


@needs_cuda
@pytest.mark.parametrize("share", ["1", "0"])
def test_a_cuda_kernel_loaded_before_in_the_process_is_loaded_once(cache_folder, monkeypatch,
                                                                   share):
    """On CUDA the same kernel's PTX comes from llc once (the PTX cache: the same LLVM IR)
    and the driver loads it once while a module using it lives (the runtime's table)."""
    from mlirfuse.runtime import cuda

    # y @ x.t() over the normalized y: cuBLAS's kernel and eager's sum 61 terms in other
    # orders (1.5e-5 apart near zero on the H200).
    tolerance = dict(rtol=1e-4, atol=1e-4)

    monkeypatch.setenv("MLIRFUSE_SHARE_KERNELS", share)
    x = torch.randn(7, 61, device="cuda")
    first = mlirfuse.compile(norm)
    assert_same(first(x), norm(x), **tolerance)
    loaded, shared = cuda.module_counts()
    second = mlirfuse.compile(norm_and_softmax)
    assert_same(second(x), norm_and_softmax(x), **tolerance)
    new_loaded, new_shared = cuda.module_counts()
    assert new_loaded > loaded  # the softmax's kernels
    assert (new_shared > shared) == (share == "1")  # the norm's kernel
    # A shared module lives while a module using it does.
    del first
    gc.collect()
    assert_same(second(x * 2), norm_and_softmax(x * 2), **tolerance)
    again = mlirfuse.compile(norm)
    assert_same(again(x - 1), norm(x - 1), **tolerance)
    del second
    gc.collect()
    assert_same(again(x + 1), norm(x + 1), **tolerance)


SCRIPT = """
import json, sys, torch, mlirfuse
sys.path.insert(0, sys.argv[1])
from test_share_kernels import norm, norm_and_softmax, _executables
x = torch.randn(7, 61)
out = {}
order = {"both": (norm, norm_and_softmax), "second": (norm_and_softmax,),
         "reverse": (norm_and_softmax, norm)}[sys.argv[2]]
for fn in order:
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(x), fn(x))
    out[fn.__name__] = [e.from_disk for e in _executables(compiled)]
    for e in _executables(compiled):
        if e.stored is not None:
            e.stored.join()
print(json.dumps(out))
"""


def _process(cache, which: str) -> dict:
    env = {**os.environ, "MLIRFUSE_CACHE_DIR": str(cache), "MLIRFUSE_WARM_START": "0",
           "MLIRFUSE_SHARE_KERNELS": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, os.path.dirname(__file__), which],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@cpu_only
def test_a_borrowers_library_on_disk_loads_its_lenders(cache_folder, sharing):
    """The second module's library calls the first's kernel: a new process loads it (and
    the first's with it); with the first's library gone, it compiles again."""
    assert _process(cache_folder, "both") == {"norm": [False], "norm_and_softmax": [False]}
    assert _process(cache_folder, "second") == {"norm_and_softmax": [True]}
    # The lender loaded as the borrower's dependency first, then for itself: it runs its
    # own code (it ran the borrower's `main`, its names bound in the borrower's scope).
    assert _process(cache_folder, "reverse") == {"norm_and_softmax": [True], "norm": [True]}
    libraries = list((cache_folder / "code" / "cpu").glob("cpu-*.so")) or \
        [p for p in cache_folder.rglob("cpu-*.so")]
    assert len(libraries) == 2
    needed = re.findall(r"\(NEEDED\).*\[(.*)\]", subprocess.run(
        ["readelf", "-d", *map(str, libraries)], capture_output=True, text=True).stdout) \
        if shutil.which("readelf") else []
    lender = [p for p in libraries if str(p) in needed]
    if shutil.which("readelf"):
        assert len(lender) == 1
        lender[0].unlink()
    else:
        for p in libraries:
            p.unlink()
    assert _process(cache_folder, "second") == {"norm_and_softmax": [False]}
