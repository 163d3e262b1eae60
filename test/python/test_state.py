"""State: weights are runtime arguments, in-place mutation of arguments and buffers is
written back as eager does it, and compiling alone runs nothing and mutates nothing."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

import mlirfuse
import models
from conftest import assert_same


pytestmark = pytest.mark.usefixtures("no_grad")  # compiled code runs, not the eager fallback


# --- in-place mutation of arguments -----------------------------------------------------


def test_inplace_argument_mutation_visible_to_caller():
    def f(a, b):
        a.sub_(b)
        return a

    a, b = models.randn(3, 4, seed=1), models.randn(3, 4, seed=2)
    a_ref = a.clone()
    compiled = mlirfuse.compile(f)
    out = compiled(a, b)
    expected = f(a_ref, b)
    assert out is a  # returns the mutated argument itself, as eager
    assert_same(a, expected)
    # Again: the compiled code reads the mutated value.
    compiled(a, b)
    f(a_ref, b)
    assert_same(a, a_ref)
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


def test_inplace_mutation_of_several_arguments_and_a_result():
    def f(a, b, c):
        a.mul_(2)
        c.add_(a)  # reads the already-mutated a
        b.clamp_(min=0)
        return (a + b + c).sum(dim=1)

    args = [models.randn(2, 5, seed=i) for i in range(3)]
    refs = [t.clone() for t in args]
    compiled = mlirfuse.compile(f)
    out = compiled(*args)
    assert compiled.stats.fallbacks == 0
    assert_same(out, f(*refs))
    assert_same(args, refs)


def test_inplace_mutation_of_non_contiguous_argument():
    def f(a, b):
        a.add_(b * 3)
        return a.sum()

    base, base_ref = models.randn(4, 6), models.randn(4, 6)
    b = models.randn(3, 3, seed=1)
    out = mlirfuse.compile(f)(base[1:, ::2].t(), b)
    expected = f(base_ref[1:, ::2].t(), b)
    assert_same(out, expected)
    assert_same(base, base_ref)  # only the viewed elements changed, as in eager


def test_inplace_mutation_of_integer_argument():
    def f(counts, idx):
        counts.index_add_(0, idx, torch.ones_like(idx))
        return counts * 2

    c, c_ref = torch.zeros(5, dtype=torch.int64), torch.zeros(5, dtype=torch.int64)
    idx = torch.tensor([0, 3, 3, 4, 0, 0])
    out = mlirfuse.compile(f)(c, idx)
    assert_same(out, f(c_ref, idx))
    assert_same(c, c_ref)


def test_mutated_argument_and_returned_view():
    def f(a):
        a.relu_()
        return a, a * 2

    a = models.randn(6)
    a_ref = a.clone()
    out = mlirfuse.compile(f)(a)
    expected = f(a_ref)
    assert out[0] is a
    assert_same(out, expected)


# --- BatchNorm in train mode --------------------------------------------------------------


def test_batchnorm_train_updates_running_stats():
    m = models._init(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8, momentum=0.1),
                                   nn.ReLU())).train()
    ref = copy.deepcopy(m)
    compiled = mlirfuse.compile(m)
    for seed in range(3):
        x = models.randn(5, 6, seed=seed)
        assert_same(compiled(x), ref(x))
        bn, bn_ref = m[1], ref[1]
        assert_same(bn.running_mean, bn_ref.running_mean, path="running_mean")
        assert_same(bn.running_var, bn_ref.running_var, path="running_var")
        assert_same(bn.num_batches_tracked, bn_ref.num_batches_tracked,
                    path="num_batches_tracked")
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0
    assert int(m[1].num_batches_tracked) == 3


def test_batchnorm2d_train_in_conv_block():
    m = models._init(models.ConvBnRelu()).train()
    ref = copy.deepcopy(m)
    x = models.randn(2, 3, 5, 5)
    out = mlirfuse.compile(m)(x)
    assert_same(out, ref(x))
    for name, buf in m.named_buffers():
        assert_same(buf, dict(ref.named_buffers())[name], path=name)


def test_batchnorm_eval_then_train_recompiles():
    """train() and eval() change the graph; the compiled function must follow the module's mode."""
    m = models._init(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))).eval()
    ref = copy.deepcopy(m)
    compiled = mlirfuse.compile(m)
    x = models.randn(3, 4)
    assert_same(compiled(x), ref(x))
    m.train()
    ref.train()
    assert_same(compiled(x), ref(x))
    assert_same(m[1].running_mean, ref[1].running_mean, path="running_mean")
    assert compiled.stats.compilations == 2 and compiled.stats.fallbacks == 0


# --- weights are runtime arguments -------------------------------------------------------


def test_weight_modified_in_place_is_seen():
    m = models._init(nn.Linear(5, 3)).eval()
    x = models.randn(4, 5)
    compiled = mlirfuse.compile(m)
    assert_same(compiled(x), m(x))
    with torch.no_grad():
        m.weight.add_(1)
        m.bias.mul_(-3)
    assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


def test_load_state_dict_is_seen():
    m = models._init(models.ConvBnRelu(), seed=0).eval()
    other = models._init(models.ConvBnRelu(), seed=1).eval()
    x = models.randn(1, 3, 6, 6)
    compiled = mlirfuse.compile(m)
    before = compiled(x)
    m.load_state_dict(other.state_dict())
    after = compiled(x)
    assert_same(after, other(x))
    assert not torch.allclose(before, after)
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


def test_load_state_dict_assign_replaces_parameters():
    """load_state_dict(assign=True) swaps the Parameter objects: read fresh at each call."""
    m = models._init(nn.Linear(4, 4), seed=0).eval()
    other = models._init(nn.Linear(4, 4), seed=1).eval()
    x = models.randn(2, 4)
    compiled = mlirfuse.compile(m)
    compiled(x)
    m.load_state_dict(other.state_dict(), assign=True)
    assert_same(compiled(x), other(x))
    m.weight = nn.Parameter(torch.ones(4, 4))
    assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


def test_replaced_submodule_and_parametrized_weight_are_read_fresh():
    """The parameters are read through the modules' dictionaries at each call
    (module_state.StateReader): a submodule replaced by another of its class, then by one
    whose weight is a parametrization (a property of a generated class: read with
    getattr), each seen at the next call."""
    m = models._init(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), seed=0).eval()
    x = models.randn(3, 4)
    compiled = mlirfuse.compile(m)
    assert_same(compiled(x), m(x))
    m[2] = models._init(nn.Linear(4, 2), seed=1)
    assert_same(compiled(x), m(x))
    torch.nn.utils.parametrize.register_parametrization(m[0], "weight", _Doubled())
    assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


class _Doubled(nn.Module):
    def forward(self, w):
        return w * 2


def test_state_reader_reads_what_getattr_does():
    """Every parameter and buffer of a transformers model, read by StateReader, is the
    object getattr finds (it was 9 Python __getattr__ calls a parameter: 0.65 ms a call
    of a small ResNet)."""
    import operator
    from mlirfuse.compiler import module_state
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])
    m = transformers.ResNetModel(config).eval()
    paths = [n for n, _ in m.named_parameters()] + [n for n, _ in m.named_buffers()]
    read = module_state.StateReader(paths)
    for _ in range(2):  # the first read checks the classes, the second trusts them
        assert all(a is operator.attrgetter(p)(m) for a, p in zip(read(m), paths))


def test_large_weights_are_not_in_the_ir():
    m = nn.Linear(2048, 2048).eval()
    x = models.randn(2, 2048)
    compiled = mlirfuse.compile(m, example_inputs=(x,))
    for stage in ("raw", "torch", "linalg", "llvm"):
        assert len(compiled.ir(stage)) < 100_000, stage  # 16 MiB of weights would be far more
    assert_same(compiled(x), m(x), rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        m.weight.zero_()
    assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


def test_tensor_constant_captured_by_closure():
    """A tensor the function closes over (not a parameter) is captured at compile time."""
    table = models.randn(4, 3, seed=7)

    def f(x):
        return x @ table

    x = models.randn(2, 4)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), f(x))


def test_a_model_a_function_closes_over_is_read_at_each_call():
    """A plain function calling a model it closes over: the model's weights are arguments
    of the graph (before: constants, so a replaced parameter was not seen) and its
    train/eval mode selects the code."""
    m = models._init(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))).eval()
    ref = copy.deepcopy(m)

    def f(x):
        return m(x) * 2

    def g(x):
        return ref(x) * 2

    x = models.randn(3, 4)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), g(x))
    m.load_state_dict(models._init(copy.deepcopy(m), seed=3).state_dict(), assign=True)
    ref.load_state_dict(m.state_dict())
    assert_same(compiled(x), g(x))
    assert compiled._last.describe(0).startswith("'m.")  # named as the function names it
    m.train()
    ref.train()
    assert_same(compiled(x), g(x))
    assert_same(m[1].running_mean, ref[1].running_mean, path="running_mean")
    assert compiled.stats.compilations == 2 and compiled.stats.fallbacks == 0


class _Pipeline:
    """Not a module: a method of it calls the model it holds."""

    def __init__(self):
        self.model = models._init(nn.Linear(3, 3))

    def run(self, x):
        return torch.tanh(self.model(x))


def test_a_model_held_by_an_object_whose_method_is_compiled_is_read_at_each_call():
    pipeline = _Pipeline()
    x = models.randn(2, 3)
    compiled = mlirfuse.compile(pipeline.run)
    assert_same(compiled(x), pipeline.run(x))
    pipeline.model.weight = nn.Parameter(torch.ones(3, 3))
    assert_same(compiled(x), pipeline.run(x))
    assert compiled.stats.compilations == 1


model_of_the_module = nn.Linear(3, 3)


def test_a_global_model_a_function_names_is_read_at_each_call():
    def f(x):
        return torch.relu(model_of_the_module(x))

    x = models.randn(2, 3)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), f(x))
    model_of_the_module.weight = nn.Parameter(torch.ones(3, 3))
    assert_same(compiled(x), f(x))
    assert compiled.stats.compilations == 1


# --- compiling runs nothing ------------------------------------------------------------------


def test_compile_with_example_inputs_runs_nothing():
    m = models._init(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8))).train()
    state = copy.deepcopy(m.state_dict())
    x = models.randn(4, 6)
    x_before = x.clone()
    compiled = mlirfuse.compile(m, example_inputs=(x,))
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0
    assert "linalg" in compiled.ir("linalg")
    for k, v in m.state_dict().items():
        assert_same(v, state[k], path=k)  # running stats, num_batches_tracked untouched
    assert_same(x, x_before)
    ref = copy.deepcopy(m)
    assert_same(compiled(x), ref(x))  # the first call is the first update
    assert compiled.stats.compilations == 1 and compiled.stats.cache_hits == 1
    assert compiled.stats.fallbacks == 0
    assert_same(m[1].running_mean, ref[1].running_mean)


def test_compile_with_example_inputs_does_not_mutate_arguments():
    def f(a, b):
        a.add_(b)
        return a * 2

    a, b = models.randn(3), models.randn(3, seed=1)
    a_before = a.clone()
    compiled = mlirfuse.compile(f, example_inputs=(a, b))
    assert_same(a, a_before)
    a_ref = a.clone()
    assert_same(compiled(a, b), f(a_ref, b))
    assert_same(a, a_ref)


def test_compile_with_example_inputs_calls_forward_only_on_fake_tensors():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(type(x).__name__)
            return x * 2

    x = models.randn(3)
    mlirfuse.compile(Spy(), example_inputs=(x,))
    assert "Tensor" not in seen  # traced with fake tensors or proxies, never the real one


def test_custom_buffer_mutation():
    """A module's own buffers mutated in forward are written back, as BatchNorm's are."""
    class Accumulate(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("total", torch.zeros(3))
            self.register_buffer("steps", torch.tensor(0))

        def forward(self, x):
            self.total.add_(x.sum(dim=0))
            self.steps += 1
            return x - self.total / self.steps

    m, ref = Accumulate(), Accumulate()
    compiled = mlirfuse.compile(m)
    for seed in range(3):
        x = models.randn(4, 3, seed=seed)
        assert_same(compiled(x), ref(x))
    assert_same(m.total, ref.total, path="total")
    assert_same(m.steps, ref.steps, path="steps")
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0


def test_grad_mode_with_parameters_compiles_forward_and_backward():
    """Under grad mode with parameters that require grad, the call trains: forward and
    backward compiled (was: inference only, the call ran eager); under no_grad the
    inference graph is compiled apart."""
    m = models._init(nn.Linear(4, 3))
    x = models.randn(2, 4)
    compiled = mlirfuse.compile(m)
    with torch.enable_grad():
        out = compiled(x)
        assert out.requires_grad
        out.sum().backward()
    assert_same(m.weight.grad, x.sum(0).expand(3, 4))
    assert compiled.stats.fallbacks == 0 and compiled.stats.backward_compilations == 1
    with torch.no_grad():
        assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 3 and compiled.stats.fallbacks == 0
