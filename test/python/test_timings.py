"""Where compile time goes (compiler/timings.py, issue 19): seconds per phase of the last
specialization's compile, and timings.json in dump_dir."""

import json

import torch

import mlirfuse
from mlirfuse.lowering import stages


def test_timings_name_every_phase_and_add_up(tmp_path):
    def f(x, w):
        return torch.softmax(x @ w, -1) * 2

    x, w = torch.randn(16, 32), torch.randn(32, 8)
    compiled = mlirfuse.compile(f, dump_dir=str(tmp_path))
    compiled(x, w)
    t = compiled.timings()
    device = "cuda" if x.is_cuda else "cpu"
    names = stages.names("cuda:sm_90" if device == "cuda" else "cpu")
    assert {"capture", "import", "jit", "total", *names} <= set(t)
    assert all(v >= 0 for v in t.values())
    # The phases are disjoint (llc is nested in stages): their sum is the compile, but for
    # the bookkeeping between them.
    disjoint = sum(v for k, v in t.items() if k not in ("total", "llc"))
    assert disjoint <= t["total"] * 1.001 and disjoint >= 0.5 * t["total"]
    assert t["total"] == compiled.compile_seconds
    assert json.loads((tmp_path / "timings.json").read_text()) == t


def test_training_timings_sum_forward_and_backward():
    model = torch.nn.Linear(8, 4)
    compiled = mlirfuse.compile(model)
    compiled(torch.randn(3, 8)).sum().backward()
    assert len(compiled.graphs) == 2
    t = compiled.timings()
    assert abs(t["total"] - sum(g.timings()["total"] for g in compiled.graphs)) < 1e-9


def test_stage_texts_a_compile_did_not_keep_are_made_when_asked(tmp_path):
    """A compile keeps the final stage's text only (printing each stage cost a 12-layer
    GPT-2 0.25 s); ir(stage) runs the stages again for the others: the texts are those a
    compile writing every stage (dump_dir) records, and the timings are the compile's."""
    def f(x, w):
        return torch.nn.functional.gelu(x @ w).softmax(-1)

    x, w = torch.randn(16, 32), torch.randn(32, 8)
    lean = mlirfuse.compile(f)
    lean(x, w)
    phases = lean.timings()
    assert dict.keys(lean._last.stages) <= {"gpu", "llvm"}  # nothing else printed
    dumped = mlirfuse.compile(f, dump_dir=str(tmp_path))
    dumped(x, w)
    device = "cuda" if x.is_cuda else "cpu"
    names = stages.names("cuda:sm_90" if device == "cuda" else "cpu")
    for stage in ["raw", *names]:
        assert lean.ir(stage) == dumped.ir(stage), stage
    assert lean.timings() == phases


def test_the_garbage_collector_waits_for_the_compile_and_is_restored():
    """No collection runs inside a compile (GPT-2 12 layers: 0.55 s of full collections);
    after it, the collector is as it was, also after a compile that failed."""
    import gc

    import traceback

    collections = []

    def record(phase, info):  # a collection started from inside the compile's stages
        if phase == "start" and any(frame.name in ("_compile_all", "remember")
                                    for frame in traceback.extract_stack()):
            collections.append(info["generation"])

    def f(x):
        junk = [[i] for i in range(100_000)]  # enough allocations to start collections
        for item in junk:
            item.append(item)  # cycles: freed by the collector only
        return torch.tanh(x) + 1

    gc.callbacks.append(record)
    try:
        compiled = mlirfuse.compile(f)
        torch.testing.assert_close(compiled(torch.randn(8)).shape, torch.Size([8]))
    finally:
        gc.callbacks.remove(record)
    assert not collections and gc.isenabled()

    gc.disable()
    try:
        mlirfuse.compile(lambda x: x * 2)(torch.randn(4))
        assert not gc.isenabled()
    finally:
        gc.enable()

    def fails(x):
        raise ValueError("not traceable")

    try:
        mlirfuse.compile(fails, on_unsupported="error")(torch.randn(4))
    except Exception:  # noqa: BLE001 - the compile's error, whatever its type
        pass
    assert gc.isenabled()
