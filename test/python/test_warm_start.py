"""Warm start (compiler/warm_start.py, compiler/fingerprint.py): a process compiling what an
earlier one compiled loads it before capture; anything that could change the graph
changes the key."""

import json
import os
import subprocess
import sys
import threading

import pytest
import torch

import mlirfuse
from mlirfuse.compiler import capture, fingerprint

# A GEMM (BLAS), a reduction, a constant tensor baked into the graph, a config attribute.
SCRIPT = """
import json, sys, torch, mlirfuse
torch.manual_seed(0)
class Block(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.lin = torch.nn.Linear(64, 64)
        self.scale = scale
        self.table = torch.arange(64.0)
    def forward(self, x):
        return torch.softmax(self.lin(x) * self.scale + self.table, -1)
model = Block(float(sys.argv[1])).eval().to(sys.argv[3])
model.table = model.table.to(sys.argv[3])
with torch.no_grad():
    model.lin.weight.add_(float(sys.argv[2]))
    x = torch.randn(8, 64).to(sys.argv[3])
    compiled = mlirfuse.compile(model)
    got = compiled(x)
    assert torch.allclose(got, model(x), atol=1e-5), (got - model(x)).abs().max()
    again = compiled(x)
print(json.dumps({"loads": compiled.stats.cache_loads, "phases": sorted(compiled.timings()),
                  "sum": got.double().sum().item(), "bits": got.view(torch.int32).sum().item(),
                  "stable": torch.equal(got, again)}))
"""


@pytest.fixture
def cache(cache_folder):
    return cache_folder


def _process(cache, script: str, *argv: str) -> dict:
    """`script` run in a process of its own on the cache folder `cache`: the JSON it
    prints last."""
    env = {**os.environ, "MLIRFUSE_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", script, *argv], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _run(cache, scale=2.0, shift=0.0, device="cpu"):
    return _process(cache, SCRIPT, str(scale), str(shift), device)


def test_a_second_process_loads_before_capture_and_computes_the_same_bits(cache):
    """No capture, no stage, no JIT: a load; the result bit for bit the cold process's
    (a load that left the BLAS library uninitialized ran plain-loop matmuls: 3e-6 off)."""
    cold = _run(cache)
    assert cold["loads"] == 0 and "capture" in cold["phases"]
    warm = _run(cache)
    assert warm["loads"] == 1 and warm["phases"] == ["load", "total"]
    assert warm["bits"] == cold["bits"] and warm["stable"]
    assert list((cache / "graphs").glob("warm-*.entry"))


CONV_SCRIPT = """
import json, os, torch, mlirfuse
os.environ["MLIRFUSE_CPU_SMALL_CONV_MACS"] = "0"  # a small convolution is torch's too
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU()).eval()
x = torch.randn(2, 8, 16, 16)
with torch.no_grad():
    compiled = mlirfuse.compile(model)
    got = compiled(x)
    assert torch.allclose(got, model(x), atol=1e-5)
print(json.dumps({"loads": compiled.stats.cache_loads, "externs": compiled.stats.extern_calls,
                  "bits": got.view(torch.int32).sum().item(),
                  "explained": len(compiled.explain().externs)}))
"""


def _twice(cache, script: str) -> list[dict]:
    """`script` run in two processes one after the other (a cold one, then a warm one)."""
    return [_process(cache, script) for _ in range(2)]


def test_extern_calls_load_warm(cache):
    """A CPU convolution is torch's kernel called from the code (an extern call by
    choice): its spec is kept in the entry and prepared again at the load."""
    cold, warm = _twice(cache, CONV_SCRIPT)
    assert (cold["loads"], warm["loads"]) == (0, 1)
    assert warm["externs"] == cold["externs"] == 1 and warm["explained"] == 1
    assert warm["bits"] == cold["bits"]


HELD_SCRIPT = """
import json, warnings, torch, mlirfuse
torch.manual_seed(0)
w = torch.randn(4, 3, requires_grad=True)
f = lambda x: (x @ w).relu()
compiled = mlirfuse.compile(f)
with torch.no_grad():
    compiled(torch.randn(2, 4))  # compiled (or loaded warm)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    compiled(torch.randn(2, 4)).sum().backward()  # under grad: eager, backward reaches w
print(json.dumps({"loads": compiled.stats.cache_loads, "grad": w.grad is not None,
                  "warned": any("holds requires grad" in str(c.message) for c in caught)}))
"""


def test_a_held_tensor_that_requires_grad_still_sends_grad_calls_eager(cache):
    """The warm entry keeps which constants require grad (they are saved detached): the
    warm process ran its code under grad mode and backward failed ("element 0 of tensors
    does not require grad"; found by a CI run after another had filled the cache)."""
    runs = _twice(cache, HELD_SCRIPT)
    assert [r["loads"] for r in runs] == [0, 1]
    assert all(r["grad"] and r["warned"] for r in runs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_code_loads_warm_from_its_host_library(cache):
    """The host library (kernels inside) loads; cuBLAS opened for the GEMM as a compile does."""
    cold = _run(cache, device="cuda")
    warm = _run(cache, device="cuda")
    assert (cold["loads"], warm["loads"], warm["phases"]) == (0, 1, ["load", "total"])
    assert warm["bits"] == cold["bits"] and warm["stable"]


def test_an_attribute_changes_the_key_and_the_weights_are_read_at_each_call(cache):
    """`scale` (a Python number the graph holds) compiles anew; other weights load warm and
    are the module's own (the script checks the result against eager)."""
    _run(cache, scale=2.0)
    assert _run(cache, scale=3.0)["loads"] == 0
    shifted = _run(cache, scale=3.0, shift=0.01)
    assert shifted["loads"] == 1


def _key(fn, *args):
    return fingerprint.fingerprint(fn, *capture.split_args(args))


def double(x):
    return x * 2


def test_the_key_follows_code_globals_closures_and_constant_values():
    x = torch.randn(4)

    def uses_global(x):
        return double(x) + 1

    base = _key(uses_global, x)
    assert _key(uses_global, x) == base  # stable
    global double
    original = double
    try:
        def double(x):  # noqa: F811 - the global the function calls, redefined
            return x * 3
        assert _key(uses_global, x) != base
    finally:
        double = original
    assert _key(uses_global, x) == base

    def make(k):
        return lambda x: x * k
    assert _key(make(2), x) != _key(make(3), x)  # a closure cell
    t = torch.ones(4)
    with_tensor = lambda x: x + t  # noqa: E731 - a tensor the graph bakes in
    before = _key(with_tensor, x)
    t.add_(1)
    assert _key(with_tensor, x) != before
    assert _key(uses_global, torch.randn(5)) != base  # the arguments' sizes
    with torch.no_grad():
        assert _key(uses_global, x) != base  # the state torch traces under


FLAG = True


class Scaled(torch.nn.Module):
    def forward(self, x):
        return x * 2 if FLAG else x * 3


def test_the_key_follows_a_classs_methods_and_the_flags_they_read():
    model, x = Scaled(), torch.randn(4)
    base = _key(model, x)
    global FLAG
    FLAG = False
    try:
        assert _key(model, x) != base  # a module-level flag forward reads
    finally:
        FLAG = True
    original = Scaled.forward
    Scaled.forward = lambda self, x: x * 4  # a method replaced at run time
    try:
        assert _key(model, x) != base
    finally:
        Scaled.forward = original
    model.extra = [1, 2]  # any attribute of a module
    assert _key(model, x) != base


def test_the_key_follows_a_function_reached_through_a_module_of_the_users(tmp_path,
                                                                        monkeypatch):
    """`helpers.scale(x)`: rebinding `helpers.scale` at run time changes the key."""
    (tmp_path / "warm_helpers.py").write_text("def scale(x):\n    return x * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import warm_helpers

    def f(x):
        return warm_helpers.scale(x) + 1

    x = torch.randn(3)
    base = _key(f, x)
    monkeypatch.setattr(warm_helpers, "scale", lambda x: x * 3)
    assert _key(f, x) != base


def test_weights_count_by_value_where_the_graph_holds_them():
    """A model a plain function names is read at each call: its weights count by metadata.
    One the function reaches otherwise (in a dict) is a constant of the graph: by value
    (before, by metadata: a warm start in another process ran the first one's weights)."""
    lin = torch.nn.Linear(3, 3)
    held = {"lin": torch.nn.Linear(3, 3)}

    def named(x):
        return lin(x)

    def in_a_dict(x):
        return held["lin"](x)

    x = torch.randn(2, 3)
    keys = _key(named, x), _key(in_a_dict, x)
    with torch.no_grad():
        lin.weight.add_(1)
        held["lin"].weight.add_(1)
    assert _key(named, x) == keys[0]
    assert _key(in_a_dict, x) != keys[1]


def test_a_namedtuple_class_is_described_by_its_fields():
    """A module holding a namedtuple class: its fields (`Pair.a`, objects with no state
    Python reads) count by their index; the key changes with the fields (before, no key:
    GPT-2 on the H200 took no warm start)."""
    import collections

    class Holds(torch.nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def forward(self, x):
            return self.kind(x, x + 1).b

    x = torch.randn(3)
    key = _key(Holds(collections.namedtuple("Pair", "a b")), x)
    assert key == _key(Holds(collections.namedtuple("Pair", "a b")), x)
    assert key != _key(Holds(collections.namedtuple("Pair", "b a")), x)


def _installed(site, name, editable=False):
    """A package `name` installed from a wheel into the folder `site` (its dist-info as
    pip writes it; editable: pip's direct_url.json says so)."""
    (site / name).mkdir()
    (site / name / "__init__.py").write_text("def scale(x):\n    return x * 2\n")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n{info.name}/METADATA,,\n")
    if editable:
        (info / "direct_url.json").write_text(
            json.dumps({"url": "file:///src", "dir_info": {"editable": True}}))
    return str(site / name / "__init__.py")


def test_a_wheel_installed_outside_site_packages_is_a_library(tmp_path, monkeypatch):
    """`pip install --target <folder>` with the folder on PYTHONPATH (how the H200 machine
    gets transformers): its code counts by its version, as site-packages' does; a package
    installed editable stays the user's code (changes without a new version)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    wheel = _installed(tmp_path, "warm_wheel")
    editable = _installed(tmp_path, "warm_editable", editable=True)
    fingerprint._library.cache_clear()
    fingerprint._installed_elsewhere.cache_clear()
    try:
        assert fingerprint._library(wheel)
        assert not fingerprint._library(editable)
        assert not fingerprint._library(__file__)
    finally:
        fingerprint._library.cache_clear()
        fingerprint._installed_elsewhere.cache_clear()


def test_parameters_count_by_metadata_and_a_config_by_value():
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    base = _key(lin, x)
    with torch.no_grad():
        lin.weight.add_(1)  # read at each call: the code does not change
    assert _key(lin, x) == base
    lin.weight.requires_grad_(False)
    assert _key(lin, x) != base
    lin.train(False)
    assert _key(lin, x) != _key(torch.nn.Linear(4, 4), x)


def test_what_cannot_be_described_takes_no_warm_start(cache):
    """An object whose state Python cannot read (here a lock held in a closure is fine,
    an opaque C object is not): compiled as usual."""
    handle = torch.Generator()  # a C object with no __dict__

    def f(x):
        assert handle is not None
        return x + 1

    with pytest.raises(fingerprint.Unkeyable):
        _key(f, torch.randn(3))
    lock = threading.Lock()

    def g(x):
        with lock:
            return x + 1
    _key(g, torch.randn(3))
    compiled = mlirfuse.compile(f)
    torch.testing.assert_close(compiled(torch.ones(3)), torch.full((3,), 2.0))
    assert not list((cache / "graphs").glob("warm-*.entry"))


def test_a_warm_specialization_shows_its_ir_and_explains_on_demand(cache):
    """What reads the graph compiles it (from the caches) when asked; other sizes compile."""
    def f(x):
        return torch.relu(x) * 2

    x = torch.randn(16)
    cold = mlirfuse.compile(f)
    cold(x)
    stored = getattr(cold._last.graph.executable, "stored", None)
    if stored is not None:  # the CPU code's library, linked meanwhile (CUDA's PTX: none)
        stored.join()
    warm = mlirfuse.compile(f)
    torch.testing.assert_close(warm(x), f(x))
    assert warm.stats.cache_loads == 1 and getattr(warm._last, "warm", False)
    assert "llvm.func" in warm.ir("llvm") and "linalg.generic" in warm.ir("linalg")
    explained = warm.explain()
    assert explained.pieces and explained.pieces[0][0] >= 2 and not explained.eager
    y = torch.randn(4, 3).t()  # other sizes and strides: a compile of their own
    torch.testing.assert_close(warm(y), f(y))
    assert warm.stats.compilations == 2


def test_a_compile_while_the_same_code_is_still_linking_waits_for_it(cache, tmp_path,
                                                                     monkeypatch):
    """A second compile of a function in the process whose link of its library is still
    running loads that library once linked (a bug: it found no library, compiled again,
    and a test expecting the warm start failed when CI's linker was slow)."""
    slow = tmp_path / "slow-cc"
    slow.write_text('#!/bin/sh\nsleep 1\nexec cc "$@"\n')
    slow.chmod(0o755)
    monkeypatch.setenv("CC", str(slow))

    def f(x):
        return torch.tanh(x) + 3

    x = torch.randn(32)
    mlirfuse.compile(f)(x)
    warm = mlirfuse.compile(f)
    torch.testing.assert_close(warm(x), f(x))
    assert warm.stats.cache_loads == 1 and getattr(warm._last, "warm", False)
