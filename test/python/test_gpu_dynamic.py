"""Code for symbolic sizes on the GPU (issue 17): kernels whose tile count is symbolic,
ops with one symbolic loop outside kernels, temporaries sized per call. The lowering runs
here (no GPU needed: it stops before PTX); the calls run on a CUDA device, with
MLIRFUSE_CUDA_DYNAMIC's switch on (compiler/api.py: the default; set here so that a run
with it off still tests the code)."""

import os
import re
import sys

import pytest
import torch

import mlirfuse
from conftest import assert_same
from mlirfuse.compiler import api
from mlirfuse.compiler import capture as capture_mod
from mlirfuse.compiler.compiled_graph import _workspace_bytes, lower_graph
from mlirfuse.compiler.options import Options
from mlirfuse.compiler.specialize import graph_inputs
from mlirfuse.compiler.symbolic import SymbolicShapes

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import workloads  # noqa: E402
import dynamic as bench_dynamic  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


def _gpu_stage(fn, inputs, dims, stage="gpu"):
    """The "gpu" stage (host code and launches) for the CUDA target, `dims` symbolic (or
    the text of `stage`)."""
    with torch.no_grad():
        cap = capture_mod.capture(fn, inputs, dynamic=dims)
        shapes = SymbolicShapes(cap.graph_module) if dims else None
        _, record = lower_graph(cap.graph_module, graph_inputs(cap, inputs), Options(), stage,
                                "cuda:sm_90", shapes)
    return record.texts[stage], cap


def _rows_symbolic(inputs):
    rows = inputs[0].shape[0]
    return [(0,) if t.dim() and t.shape[0] == rows else () for t in inputs]


@pytest.mark.parametrize("name", ["gelu_bias", "layer_norm", "softmax", "lstm_cell", "mlp"])
def test_bench_workloads_lower_for_symbolic_rows(name):
    """Every launch's grid is the symbolic row count, read on the host at the call (no
    launch has a grid fixed at compile time), and no op fell back to one thread."""
    fn, inputs = workloads.make(name)
    text, _ = _gpu_stage(fn, inputs, _rows_symbolic(inputs))
    launches = [line for line in text.splitlines() if "gpu.launch_func" in line]
    assert launches
    for line in launches:
        grid = re.search(r"blocks in \((%\w+), %c1, %c1\)", line).group(1)
        assert not re.fullmatch(r"%c\d+(_\d+)?", grid), line


@pytest.mark.parametrize("name", ["lstm_cell", "transformer"])
def test_symbolic_host_code_lowers_to_llvm(name):
    """A check of symbolic sizes (cf.assert) under the scf.if that skips launches of no
    tiles: gpu-to-llvm made it branches inside the scf.if ("'scf.if' op expects region #0
    to have 0 or 1 blocks"), and on the H200 every size compiled anew. scf becomes cf
    first now."""
    fn, inputs = workloads.make(name)
    text, _ = _gpu_stage(fn, inputs, _rows_symbolic(inputs), stage="llvm")
    assert "llvm.func @main" in text and "scf.if" not in text


def test_symbolic_kernels_take_vector_accesses_as_static_ones():
    """The transformer's kernels with a symbolic batch load and store vectors where its
    static kernels do: a view's dynamic stride is still a known multiple ([128, ?, 512]'s
    first is ? x 512) and temporaries in the workspace sit at 256-byte offsets. Before:
    4 of its 10 kernels scalar (the bias add of q, k, v 42.6 us on the H200 against 24.7,
    the output's transpose 98 against 7, together with a block per row)."""
    fn, inputs = workloads.make("transformer")

    def vector_loads(dims):
        text, _ = _gpu_stage(fn, inputs, dims)
        return [(kernel.count("vector.load"), kernel.count("memref.load"))
                for kernel in text.split("gpu.module @")[1:]]
    assert vector_loads(_rows_symbolic(inputs)) == vector_loads(None)


def test_convolution_over_a_symbolic_batch_calls_cudnn(monkeypatch):
    """A 2-D convolution over a symbolic batch on the GPU: a cuDNN call that reads the
    batch from its input per call (SYMBOLIC_BATCH, the default); with it off, and for a
    symbolic image size, the compile fails naming the convolution and its source line and
    the call's sizes are specialized (api.py). Before: a generated direct convolution in
    kernels, no cuDNN call, 130x eager's time."""
    from mlirfuse.compiler.errors import CompileError
    from mlirfuse.compiler.passes import convolution
    assert convolution.SYMBOLIC_BATCH
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.randn(4, 3, 16, 16)
    text, _ = _gpu_stage(m, (x,), [(0,)])
    call = next(line for line in text.splitlines() if "call @mlirfuse_conv2d" in line)
    batch = re.search(r"@mlirfuse_conv2d\(%\w+, %\w+, %\w+, (%\w+),", call).group(1)
    assert re.search(rf"{batch} = arith.index_cast %dim", text), call
    with pytest.raises(CompileError, match="convolution over symbolic sizes") as info:
        _gpu_stage(m, (x,), [(2, 3)])
    assert "conv.py" in str(info.value)
    monkeypatch.setattr(convolution, "SYMBOLIC_BATCH", False)
    with pytest.raises(CompileError, match="convolution over symbolic sizes"):
        _gpu_stage(m, (x,), [(0,)])


@needs_cuda
def test_cuda_convolution_over_batches_matches_eager(monkeypatch):
    """A conv + batch norm + relu + conv block over batches 2, 5, 3, 7 on CUDA: the second
    batch compiles code for every batch (cuDNN called with the batch per call), each
    result eager's (TF32 off: float32 on both sides)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                            torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1)).cuda().eval()
    compiled = _calls_match_eager(m, lambda n: (torch.randn(n, 3, 16, 16, device="cuda"),),
                                  [2, 5, 3, 7])
    assert compiled._last.dynamic_dims is not None


@needs_cuda
def test_cuda_convolution_plans_past_the_runtime_table_match_eager(monkeypatch):
    """300 batch sizes through one convolution over a symbolic batch: the runtime's cuDNN
    plan table (256 shapes) reuses its oldest entries, and the first sizes called again
    plan anew; every result eager's. Before: every shape past the 256th failed."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).cuda().eval()
    sizes = list(range(2, 302))
    # 2 compilations: the first batch's static code, then the symbolic one for the rest.
    _calls_match_eager(m, lambda n: (torch.randn(n, 3, 6, 6, device="cuda"),),
                       sizes + sizes[:20])


def test_symbolic_workspace_is_sized_per_call():
    """The MLP's temporaries between its matmuls have a symbolic row count: the workspace
    size is an expression of the call's sizes, equal at each size to what the static
    compile of that size allocates."""
    fn, inputs = workloads.make("mlp")
    text, cap = _gpu_stage(fn, inputs, _rows_symbolic(inputs))
    size = _workspace_bytes(text)
    assert callable(size)
    for rows in (256, 100, 7):
        x = torch.randn(rows, inputs[0].shape[1])
        static_text, static_cap = _gpu_stage(fn, (x,), None)
        tensors = graph_inputs(static_cap, (x,))
        outs = [torch.empty(rows, inputs[0].shape[1])]
        assert size(tensors + outs) == _workspace_bytes(static_text)


def _calls_match_eager(fn, make, sizes, compilations=2):
    compiled = mlirfuse.compile(fn)
    for n in sizes:
        args = make(n)
        with torch.no_grad():
            assert_same(compiled(*args), fn(*args), rtol=1e-4, atol=1e-4)
    assert compiled.stats.compilations == compilations
    assert compiled.stats.eager_ops == 0
    return compiled


@needs_cuda
@pytest.mark.parametrize("name", ["gelu_bias", "layer_norm", "softmax", "lstm_cell", "mlp"])
def test_cuda_symbolic_rows_match_eager(name, monkeypatch):
    """One specialization for the first size, one symbolic for every later size; each
    result eager's."""
    monkeypatch.setattr(api, "CUDA_DYNAMIC", True)
    fn, inputs = workloads.make(name, device="cuda")
    rows = inputs[0].shape[0]

    def make(n):
        return tuple(t[:n].contiguous() if t.dim() and t.shape[0] == rows else t
                     for t in inputs)

    _calls_match_eager(fn, make, [rows, rows // 2, rows // 3 + 1, 5, rows - 3])


@needs_cuda
def test_cuda_position_embedding_over_lengths(monkeypatch):
    """wpe[arange(seq)] added to hidden states, the sequence length symbolic after a first
    static size: each row reads its own position's row of the table. (Before: every row
    read row 0 on the H200, and GPT-2 and Llama specialized every length.)"""
    monkeypatch.setattr(api, "CUDA_DYNAMIC", True)
    table = torch.randn(128, 64, device="cuda")

    def fn(x):
        return x + torch.nn.functional.embedding(torch.arange(x.shape[1], device="cuda"), table)

    _calls_match_eager(fn, lambda n: (torch.randn(2, n, 64, device="cuda"),), [17, 5, 33, 2])


def test_size_expression_evaluates_compares_selects_and_affine_maps():
    """mlirfuse-workspace's expression language, evaluated per call (the lit test
    workspace.mlir makes this expression from affine.apply, cmpi and select)."""
    from mlirfuse.compiler.size_expression import size_expression
    size = size_expression("(+ 0 (* (ceildiv (* (select (> (dim 0 0) 4) "
                           "(+ (* (dim 0 0) 2) 1) 4) 4) 256) 256))")
    for n, expected in ((3, 256), (10, 256), (100, 1024)):
        assert size([torch.empty(n)]) == expected
    size = size_expression("(+ 16 (max (- (dim 1 0) 3) (min 2 (% (dim 0 1) 5))) (/ -7 2) "
                           "(select (!= (dim 0 1) 4) 1 0))")
    assert size([torch.empty(2, 9), torch.empty(1)]) == 16 + 2 - 4 + 1
    assert size([torch.empty(2, 4), torch.empty(10)]) == 16 + 7 - 4 + 0


def test_size_expression_computes_each_subexpression_once():
    """A model's workspace sums many temporaries whose sizes share subexpressions (GPT-2's
    two layers: 50 temporaries, 15 KB of expression); evaluated node by node it cost 0.5 ms
    a call on the host, more than the model's kernels on the H200 (dynamic 1.58 ms against
    static 0.54). Each distinct subexpression is one line of the compiled function now, and
    sizes seen before are looked up."""
    from mlirfuse.compiler.size_expression import size_expression
    rows = "(select (< (dim 0 1) 0) (* (dim 0 1) 8) (* (dim 0 1) 16))"
    text = "(+ 512 " + " ".join(f"(* (ceildiv (* {rows} {k}) 256) 256)" for k in range(1, 40)) + ")"
    size = size_expression(text)
    assert size.source.count("(d0 * 16)") == 1 and size.source.count("(d0 < 0)") == 1
    expected = 512 + sum(-(-(n * 16 * k) // 256) * 256 for n in [5] for k in range(1, 40))
    assert size([torch.empty(2, 5)]) == expected == size([torch.empty(3, 5)])


def _tiny_model(name):
    transformers = pytest.importorskip("transformers", reason="transformers is in the test extra")
    torch.manual_seed(0)
    if name == "gpt2":
        config = transformers.GPT2Config(n_embd=64, n_layer=1, n_head=2, vocab_size=128,
                                         n_positions=256)
        return transformers.GPT2LMHeadModel(config).eval()
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=1, num_attention_heads=4,
                                      num_key_value_heads=2, vocab_size=128,
                                      max_position_embeddings=256)
    return transformers.LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_models_lower_for_a_symbolic_sequence_length(name):
    """GPT-2 and Llama with a symbolic sequence length lower for the GPU: attention's
    tiles over a symbolic key count loop to sizes read at run time, torch-mlir's
    reshapes to symbolic sizes are casts (their shape buffers would be device memory),
    and the temporaries are sized per call. (Before: 'linalg.generic has dynamic sizes'.)"""
    model = _tiny_model(name)
    ids = torch.randint(0, 128, (2, 24))
    text, _ = _gpu_stage(lambda i: model(input_ids=i, use_cache=False).logits, (ids,),
                         [(1,)])
    assert "memref.reshape" not in text
    assert callable(_workspace_bytes(text))
    # A loop inside a kernel bounded by a size the kernel is passed (run time).
    assert re.search(r"scf\.for %\w+ = %\w+ to %arg\d+ step", text)


@needs_cuda
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_cuda_models_over_sequence_lengths_match_eager(name, monkeypatch):
    """Two compilations for every length (the first specialized, then symbolic), each
    call's logits eager's."""
    monkeypatch.setattr(api, "CUDA_DYNAMIC", True)
    model = _tiny_model(name).cuda()

    def logits(ids):
        return model(input_ids=ids, use_cache=False).logits

    def make(n):
        return (torch.randint(0, 128, (2, n), device="cuda",
                              generator=torch.Generator("cuda").manual_seed(n)),)

    _calls_match_eager(logits, make, [17, 5, 64, 33, 128, 2])


def test_decode_step_lowers_for_a_symbolic_cache_length():
    """GPT-2's decode step with a symbolic cache length: attention's rows over the cache
    are tile temporaries of symbolic size, now slices of a global buffer sized on the host
    (before: "a tile temporary of symbolic size", and on the H200 every step compiled)."""
    model = _tiny_model("gpt2")
    step, layers = bench_dynamic.decode_step(model)
    ids = torch.randint(0, 128, (2, 1))
    cache = [torch.randn(2, 2, 9, 32) for _ in range(2 * layers)]
    text, _ = _gpu_stage(step, (ids, *cache), [()] + [(2,)] * (2 * layers), stage="llvm")
    assert "llvm.func @main" in text


@needs_cuda
def test_cuda_decode_steps_match_eager(monkeypatch):
    """12 greedy steps of GPT-2 with a growing cache: 2 compilations, each step's logits
    eager's."""
    monkeypatch.setattr(api, "CUDA_DYNAMIC", True)
    model = _tiny_model("gpt2").cuda()
    step, layers = bench_dynamic.decode_step(model)
    compiled = mlirfuse.compile(step)
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, 128, (2, 8), device="cuda"), use_cache=True)
        cache = bench_dynamic.cache_tensors(out.past_key_values, layers)
        token = out.logits[:, -1:].argmax(-1)
        for _ in range(12):
            expected = step(token, *cache)
            assert_same(compiled(token, *cache), expected, rtol=1e-4, atol=1e-4)
            token, cache = expected[0][:, -1:].argmax(-1), list(expected[1:])
    assert compiled.stats.compilations == 2 and compiled.stats.eager_ops == 0
