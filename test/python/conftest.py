"""Shared helpers of the numerics suite: comparing compiled results against eager PyTorch."""

from __future__ import annotations

import os
import sys

import pytest
import torch

# test/python holds `models.py`, imported by the tests as a plain module.
sys.path.insert(0, os.path.dirname(__file__))

# MLIRFUSE_TEST_DEVICE=cuda runs the whole numerics suite on CUDA tensors: every tensor
# and module the tests make without naming a device is made there.
DEVICE = os.environ.get("MLIRFUSE_TEST_DEVICE", "cpu")
if DEVICE != "cpu":
    torch.set_default_device(DEVICE)


def extern_calls_here() -> bool:
    """Whether ops without native code are extern calls on the test device (CUDA's are
    off for now: compiler/extern.py, CUDA); else they run eager."""
    from mlirfuse.compiler import extern

    return DEVICE == "cpu" or extern.CUDA


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only(reason): checks CPU code; skipped when "
                            "MLIRFUSE_TEST_DEVICE names another device")


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("cpu_only")
        if marker and DEVICE != "cpu":
            item.add_marker(pytest.mark.skip(reason=f"CPU only: {marker.args[0]}"))

# Tolerances per dtype, for results that went through the same math as eager but
# possibly in another order (fused loops, other reduction order, libm vs. SLEEF).
# f16/bf16 are looser: eager CPU often computes them in f32 and rounds once, the
# compiled code may round after each op.
TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-7),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
    torch.float16: dict(rtol=1e-2, atol=1e-2),
    torch.bfloat16: dict(rtol=4e-2, atol=4e-2),
}


def tolerance(dtype: torch.dtype) -> dict:
    """rtol/atol for comparing a result of `dtype`; exact (0, 0) for integers and bool."""
    return TOLERANCES.get(dtype, dict(rtol=0, atol=0))


def assert_same(actual, expected, *, rtol=None, atol=None, path="result"):
    """Asserts `actual` matches eager's `expected`: same nesting, same container
    types (tuple/list/dict/namedtuple), same constants, and tensors with the same
    dtype, shape, device and layout whose values agree within the dtype's tolerance.
    """
    assert type(actual) is type(expected), (
        f"{path}: type {type(actual).__name__}, eager gives {type(expected).__name__}")
    if isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{path}: shape {actual.shape} != {expected.shape}"
        assert actual.device == expected.device, f"{path}: device {actual.device} != {expected.device}"
        assert actual.layout == expected.layout, f"{path}: layout {actual.layout} != {expected.layout}"
        tol = tolerance(expected.dtype)
        if rtol is not None:
            tol = dict(rtol=rtol, atol=atol)
        torch.testing.assert_close(actual.detach(), expected.detach(), equal_nan=True,
                                   msg=lambda m: f"{path}: {m}", **tol)
    elif isinstance(expected, dict):
        assert list(actual.keys()) == list(expected.keys()), f"{path}: keys differ"
        for k in expected:
            assert_same(actual[k], expected[k], rtol=rtol, atol=atol, path=f"{path}[{k!r}]")
    elif isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        if hasattr(expected, "_fields"):
            assert actual._fields == expected._fields, f"{path}: namedtuple fields differ"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, rtol=rtol, atol=atol, path=f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.fixture
def no_grad():
    """Runs a test under torch.no_grad(): mlirfuse compiles inference, and a call whose
    parameters require grad under grad mode runs eager PyTorch (stats.fallbacks)."""
    with torch.no_grad():
        yield


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    """An empty cache folder (MLIRFUSE_CACHE_DIR) with the on-disk caches and warm starts
    on, whatever the environment says."""
    from mlirfuse.compiler import graph_cache

    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    for name in ("MLIRFUSE_GRAPH_CACHE", "MLIRFUSE_CPU_CODE_CACHE", "MLIRFUSE_WARM_START"):
        monkeypatch.delenv(name, raising=False)
    graph_cache._warned.clear()
    return tmp_path


@pytest.fixture
def every_convolution_torchs(monkeypatch):
    """Convolutions of any size run torch's kernel (small ones are generated code by
    default: library_kernels.SMALL_CONVOLUTION); the switch is in the cache key."""
    monkeypatch.setenv("MLIRFUSE_CPU_SMALL_CONV_MACS", "0")


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    yield


def check_in_threads(check, items) -> None:
    """Runs `check(item)` for each item, each in a thread of its own, all at once; raises
    the first assertion or error a thread met."""
    import threading

    errors = []

    def work(item):
        try:
            check(item)
        except Exception as e:  # noqa: BLE001 (raised below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]

