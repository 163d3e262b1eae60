"""GPU code is freed with its function (runtime/host_library.py): each specialization's
host code is a shared library, unloaded with its kernel modules.

The first test needs no GPU: it builds and loads a host library (its constructor tries
the driver and records the error where there is none). The others need a CUDA device."""

import gc
import os

import pytest
import torch

import mlirfuse
from mlirfuse.compiler.options import Options
from mlirfuse.compiler.specialize import lower
from mlirfuse.runtime import cuda as runtime
from mlirfuse.runtime import host_library, native

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


def test_host_code_is_a_cached_shared_library_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    _, module, _ = lower(lambda x: torch.softmax(x @ x, -1) * 2, (torch.randn(8, 8),),
                         Options(), "llvm", target="cuda:sm_90")
    path = host_library.build(module, [runtime.library_path()])
    assert path.startswith(str(tmp_path)) and path.endswith(".so")
    built = os.stat(path).st_mtime_ns
    assert host_library.build(module, [runtime.library_path()]) == path  # the cache
    assert os.stat(path).st_mtime_ns == built
    errors = runtime._errors()
    before = errors.value
    library = host_library.HostLibrary(path)  # its constructor loads the kernel module
    if not torch.cuda.is_available():
        assert errors.value == before + 1 and "libcuda" in runtime.last_error()
    assert library.address("_mlir_ciface_main")
    assert library.address("no_such_function") is None
    library.close()
    library.close()  # twice: nothing


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="with a driver the kernels launch, here on CPU tensors (an illegal "
                           "address): the CUDA tests call the entry there")
def test_packed_entry_passes_the_arguments_without_a_gpu(tmp_path, monkeypatch):
    """The library's `_mlir__mlir_ciface_main` takes the ExecutionEngine's packed block
    (runtime/memref.py): its guards see the arguments' sizes (0 for the compiled sizes, 1 +
    the argument's index for others); the launches fail without a driver and say so.
    (Before: the unpacked entry was called with the block, and crashed on the H200.)"""
    import ctypes

    from mlirfuse.runtime.memref import ArgumentLayout

    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    _, module, _ = lower(lambda x: torch.softmax(x, -1) * 2, (torch.randn(8, 32),),
                         Options(), "llvm", target="cuda:sm_90")
    library = host_library.HostLibrary(host_library.build(module, [runtime.library_path()]))
    entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(library.address("_mlir__mlir_ciface_main"))
    layout = ArgumentLayout([2, 2])
    for x, status in ((torch.randn(8, 32), 0), (torch.randn(8, 16), 1)):
        block = layout.pack([x, torch.empty(8, 32)])
        entry(ctypes.addressof(block))
        assert block[layout.result] & 0xFFFFFFFF == status
    library.close()


@needs_cuda
def test_cuda_functions_freed_between_cpp_exceptions(no_grad):
    """Compiling, calling and dropping GPU code between C++ exceptions (torch's, caught
    as IndexError). With the JIT's code freed, the unwinder read its stale frame tables
    once new code was mapped where the old had been (SIGSEGV in _Unwind_Find_FDE on the
    H200, in test_decompositions_misc/_nn and test_training on CUDA tensors)."""
    for k in range(40):
        x = torch.randn(8 + k, 32, device="cuda")
        fn = (lambda t, k=k: torch.softmax(t * (k + 1), -1) @ t.T + k)
        compiled = mlirfuse.compile(fn)
        torch.testing.assert_close(compiled(x), fn(x))
        del compiled
        gc.collect()
        with pytest.raises(IndexError):
            torch.zeros(2)[5]
    torch.cuda.synchronize()


@needs_cuda
def test_cuda_kernel_modules_are_unloaded_with_their_function(no_grad):
    """The driver's memory is back where it was once 50 dropped specializations are
    collected (each held its kernel module)."""
    x = torch.randn(64, 64, device="cuda")
    mlirfuse.compile(lambda t: t * 2)(x)  # the runtime's own memory: before the count
    torch.cuda.synchronize()
    free_before = torch.cuda.mem_get_info()[0]
    for k in range(50):
        compiled = mlirfuse.compile(lambda t, k=k: torch.tanh(t + k) * t)
        compiled(x[: 8 + k])
        del compiled
    gc.collect()
    torch.cuda.synchronize()
    assert torch.cuda.mem_get_info()[0] >= free_before - 8 * 2**20



def test_a_library_closes_after_its_module_globals_are_gone(tmp_path, monkeypatch):
    """At interpreter exit a module's globals are None before the objects they held are
    freed: a host library closed then still closes. (Before: "Exception ignored in
    HostLibrary.__del__: 'NoneType' object has no attribute 'dlclose'" at the end of
    test_backend on the H200.)"""
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    _, module, _ = lower(lambda x: x * 2, (torch.randn(4),), Options(), "llvm",
                         target="cuda:sm_90")
    library = host_library.HostLibrary(host_library.build(module, [runtime.library_path()]))
    monkeypatch.setattr(native, "_ctypes", None)  # as at exit (HostLibrary lives in native)
    library.close()
    assert library._handle is None
