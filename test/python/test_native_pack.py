"""Calls packed in C (runtime/native_pack.py, runtime/cpu/mlirfuse_pack.cpp): the argument
block of compiled code built from torch's C++ tensors, with what Python's packing did:
the same results, a broken guard for a tensor of another rank, extern errors raised,
tensors it does not read handed back to Python."""

import ctypes
import os
import shutil
import sysconfig

import pytest
import torch

import mlirfuse
from conftest import DEVICE, assert_same, check_in_threads
from mlirfuse.runtime import native_pack
from mlirfuse.runtime.memref import ArgumentLayout


@pytest.fixture(scope="module")
def packer():
    if shutil.which("c++") is None:
        pytest.skip("no C++ compiler here: calls pack in Python (tested everywhere else)")
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("this Python has no headers (a python3-dev package): calls pack in Python")
    found = native_pack.wait()
    assert found is not None, "runtime/cpu/mlirfuse_pack.cpp did not build (see the INFO log)"
    return found


@pytest.fixture
def python_packing(monkeypatch, packer):
    """Calls pack in Python for the test (the C function built, but not handed out)."""
    monkeypatch.setattr(native_pack, "_caller", None)


class Many(torch.nn.Module):
    """Many parameters and buffers of several ranks, a strided input."""

    def __init__(self):
        super().__init__()
        self.scales = torch.nn.ParameterList([torch.nn.Parameter(torch.rand(8) + 0.5)
                                              for _ in range(40)])
        self.mix = torch.nn.Parameter(torch.randn(8, 8))
        self.register_buffer("shift", torch.randn(1, 8))

    def forward(self, x):
        for s in self.scales:
            x = torch.tanh(x * s) + self.shift
        return x @ self.mix


def _count(monkeypatch):
    """Counts the calls of the C function."""
    calls = []
    real = native_pack._caller

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(native_pack, "_caller", counted)
    return calls


def test_c_and_python_packing_give_eagers_results(packer, monkeypatch, no_grad):
    m = Many()
    x = torch.randn(8, 6).t()  # strided: its strides go into the descriptor
    compiled = mlirfuse.compile(m)
    calls = _count(monkeypatch)
    assert_same(compiled(x), m(x))
    assert calls, "the call did not go through the C function"
    monkeypatch.setattr(native_pack, "_caller", None)
    assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 1


@pytest.mark.parametrize("python", [False, True], ids=["c", "python"])
def test_a_parameter_of_another_rank_breaks_its_guard(packer, monkeypatch, python, no_grad):
    """A parameter replaced by one of another rank: its descriptor has other words than
    the code reads (Python packed them shifted); both packings answer a broken guard, and
    the call compiles again."""
    if python:
        monkeypatch.setattr(native_pack, "_caller", None)
    m = Many()
    compiled = mlirfuse.compile(m)
    x = torch.randn(6, 8)
    assert_same(compiled(x), m(x))
    m.scales[3] = torch.nn.Parameter(torch.rand(1, 8) + 0.5)  # [6, 8] * [1, 8]: [6, 8]
    assert_same(compiled(x), m(x))
    assert compiled.stats.guard_failures >= 1


def test_rank_checked_before_the_code_runs(packer):
    """The C function answers 1 + i for tensor i of another rank, before running anything
    (the entry here is a function that must not be called)."""
    layout = ArgumentLayout([1, 2])
    never = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda block: pytest.fail("ran"))
    address = ctypes.cast(never, ctypes.c_void_p).value
    assert layout.call(address, [torch.zeros(3), torch.zeros(3)]) == 2
    with pytest.raises(ValueError, match="taking 2 tensors got 1"):
        layout.call(address, [torch.zeros(3)])


def test_a_tensor_subclass_is_packed_in_python(packer, monkeypatch, no_grad):
    """A subclass other than nn.Parameter may answer data_ptr() or its sizes its own
    way: the C function hands the call back (nothing ran) and Python packs it."""
    class Tagged(torch.Tensor):
        pass

    def f(x, y):
        return torch.sin(x) + y

    compiled = mlirfuse.compile(f)
    x, y = torch.randn(5), torch.randn(5)
    assert_same(compiled(x, y), f(x, y))
    answers = []
    real = native_pack._caller

    def recorded(*args):
        answers.append(real(*args))
        return answers[-1]

    monkeypatch.setattr(native_pack, "_caller", recorded)
    tagged = y.as_subclass(Tagged)
    got = compiled(x, tagged)
    assert native_pack.FALLBACK in answers
    assert_same(torch.Tensor(got) if isinstance(got, Tagged) else got, f(x, y))


@pytest.mark.cpu_only("the op's error is a CPU one (CUDA asserts on the device)")
def test_an_extern_calls_error_is_raised_after_a_c_call(packer, monkeypatch):
    def f(p):
        return torch.multinomial(p * 1, 4, replacement=True) + 1

    compiled = mlirfuse.compile(f)
    p = torch.rand(3, 5) + 0.1
    compiled(p)
    calls = _count(monkeypatch)
    with pytest.raises(RuntimeError, match="multinomial distribution|probability"):
        compiled(-p)
    assert calls
    torch.manual_seed(5)
    got = compiled(p)
    torch.manual_seed(5)
    assert_same(got, f(p))


def test_c_calls_from_threads(packer, no_grad):
    """The block lives on each call's stack; the GIL is released while the code runs."""
    m = Many()
    compiled = mlirfuse.compile(m)
    xs = [torch.randn(6, 8) for _ in range(4)]
    compiled(xs[0])

    def check(x):
        for _ in range(30):
            assert_same(compiled(x), m(x))

    check_in_threads(check, xs)


def test_python_packing_still_works(python_packing, no_grad):
    m = Many()
    x = torch.randn(6, 8, device=DEVICE)
    m.to(DEVICE)
    assert_same(mlirfuse.compile(m)(x), m(x))


def test_a_process_loads_it_built_and_builds_it_only_after_many_calls(packer, monkeypatch,
                                                                     tmp_path):
    """A process finding the library built loads it at its first call; with a cache folder
    where it is not built, a process builds it only after BUILD_AFTER calls (a test's
    process with a folder of its own spent 15 s of CPU on it before)."""
    for name, value in (("_caller", None), ("_builder", None), ("_asks", 0)):
        monkeypatch.setattr(native_pack, name, value)
    assert native_pack.caller() is not None  # this session's folder has it
    for name, value in (("_caller", None), ("_builder", None), ("_asks", 0)):
        monkeypatch.setattr(native_pack, name, value)
    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    for _ in range(native_pack.BUILD_AFTER - 1):
        assert native_pack.caller() is None
    assert native_pack._builder is None
