"""Training: forward and backward compiled (compiler/training.py), against eager.

Every model of models.py that has parameters is trained one step in train mode through
mlirfuse.compile and through torch.compile(backend="mlirfuse"); its loss, the gradient
of every parameter and every buffer (BatchNorm's running statistics) must equal eager's
on a copy of the model. transformers' GPT-2 and Llama train 5 AdamW steps.
"""

from __future__ import annotations

import copy

import pytest
import torch

import mlirfuse
import models

CASES = {**models.IMPORT_SPOT_CHECK, **models.MORE}
TRAINABLE = [name for name, build in CASES.items()
             if isinstance(build()[0], torch.nn.Module) and any(True for _ in build()[0].parameters())]
TOLERANCE = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float16: dict(rtol=2e-2, atol=2e-2)}


def _loss(out) -> torch.Tensor:
    leaves = [x for x in torch.utils._pytree.tree_leaves(out)
              if isinstance(x, torch.Tensor) and x.is_floating_point()]
    return sum(x.float().square().mean() for x in leaves)


def _step(fn, args):
    loss = _loss(fn(*args))
    loss.backward()
    return loss.detach()


def _assert_trained_alike(model, reference, loss, expected_loss):
    dtype = next(model.parameters()).dtype
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(loss, expected_loss, **tol)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, **tol, msg=lambda m: f"{name}: {m}")
    for (name, b), c in zip(model.named_buffers(), reference.buffers()):
        torch.testing.assert_close(b, c, **tol, msg=lambda m: f"buffer {name}: {m}")


def test_fused_lstm_cell_workspace():
    """_thnn_fused_lstm_cell (nn.LSTMCell on CUDA) returns a workspace its backward reads:
    the activated gates. The decomposition returned the raw gates, and every gradient of
    an LSTMCell trained on CUDA was wrong; the workspace must equal the kernel's."""
    gi, gh = models.randn(3, 16, seed=1), models.randn(3, 16, seed=2)
    cx, bi, bh = models.randn(3, 4, seed=3), models.randn(16, seed=4), models.randn(16, seed=5)

    def f(gi, gh, cx, bi, bh):
        return torch.ops.aten._thnn_fused_lstm_cell(gi, gh, cx, bi, bh)

    got = mlirfuse.compile(f)(gi, gh, cx, bi, bh)
    if gi.is_cuda:
        want = f(gi, gh, cx, bi, bh)
    else:  # no CPU kernel: the gates as the CUDA kernel activates them
        i, fg, g, o = (gi + gh + bi + bh).chunk(4, 1)
        i, fg, g, o = i.sigmoid(), fg.sigmoid(), g.tanh(), o.sigmoid()
        cy = fg * cx + i * g
        want = (o * cy.tanh(), cy, torch.cat([i, fg, g, o], 1))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", TRAINABLE)
def test_models_train_as_eager(name):
    model, args = CASES[name]()
    model.train()
    reference = copy.deepcopy(model)
    compiled = mlirfuse.compile(model)
    loss = _step(compiled, args)
    _assert_trained_alike(model, reference, loss, _step(reference, args))
    # A second step is served by the same graphs (the gradients accumulate, as eager's).
    loss = _step(compiled, args)
    _assert_trained_alike(model, reference, loss, _step(reference, args))
    s = compiled.stats
    assert s.fallbacks == 0, compiled.explain()
    assert s.backward_compilations == 1 and s.compilations == 2, s


@pytest.mark.parametrize("name", ["mlp", "conv_bn_relu", "transformer_block"])
def test_backend_trains(name):
    model, args = CASES[name]()
    model.train()
    reference = copy.deepcopy(model)
    mlirfuse.reset_stats()
    compiled = torch.compile(model, backend="mlirfuse")
    for _ in range(2):
        loss = _step(compiled, args)
        _assert_trained_alike(model, reference, loss, _step(reference, args))
    totals = mlirfuse.stats()
    assert totals.backward_compilations >= 1 and totals.fallbacks == 0, totals


def test_function_with_inputs_requiring_grad():
    """Was: inference only, the call ran eager with a warning (stats.fallbacks)."""
    def swish(x, w):
        return (x @ w) * torch.sigmoid(x @ w)

    x, w = torch.randn(8, 4, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    compiled = mlirfuse.compile(swish)
    y = compiled(x, w)
    assert y.requires_grad
    y.sum().backward()
    gx, gw = x.grad, w.grad
    x.grad = w.grad = None
    swish(x, w).sum().backward()
    torch.testing.assert_close(gx, x.grad)
    torch.testing.assert_close(gw, w.grad)
    assert compiled.stats.fallbacks == 0 and compiled.stats.backward_compilations == 1
    forward, backward = compiled.graphs
    assert not forward.backward and backward.backward
    assert "linalg.generic" in backward.ir("linalg")
    with pytest.raises(RuntimeError, match="graphs"):
        compiled.ir("linalg")
    # No grad needed: the inference graph, compiled apart.
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, w), swish(x, w))
    assert compiled.stats.compilations == 3


def test_only_some_inputs_require_grad():
    def f(x, y):
        return (x * y).tanh().sum(0)

    x, y = torch.randn(5, 3), torch.randn(5, 3, requires_grad=True)
    compiled = mlirfuse.compile(f)
    compiled(x, y).pow(2).sum().backward()
    g = y.grad
    y.grad = None
    f(x, y).pow(2).sum().backward()
    torch.testing.assert_close(g, y.grad)
    assert x.grad is None


def test_frozen_parameters_get_no_gradient():
    model = models._init(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                             torch.nn.Linear(8, 2)))
    model[0].weight.requires_grad_(False)
    compiled = mlirfuse.compile(model)
    compiled(torch.randn(3, 4)).sum().backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None


def test_tensor_held_by_the_function_runs_eager():
    """A tensor the function holds (not an argument, not a parameter) that requires grad:
    the compiled graph would see it as a constant, so the call runs eager, and says so."""
    w = torch.randn(4, 3, requires_grad=True)

    def f(x):
        return (x @ w).relu()

    compiled = mlirfuse.compile(f)
    with pytest.warns(UserWarning, match="holds requires grad"):
        compiled(torch.randn(2, 4)).sum().backward()
    assert w.grad is not None and compiled.stats.fallbacks == 1


def test_keyword_arguments():
    model = models._init(torch.nn.Linear(4, 2))

    def f(x, scale=1.0, *, bias=None):
        return model(x) * scale

    compiled = mlirfuse.compile(f)
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, scale=2.0), f(x, scale=2.0))
    with pytest.raises(TypeError, match="keyword-only"):
        compiled(x, bias=1)


@pytest.mark.cpu_only("the op is the CPU's flash attention")
def test_flash_attention_log_sum_exp():
    """torch's decomposition of _scaled_dot_product_flash_attention_for_cpu returned the
    attention weights as its log-sum-exp: the gradients below a GPT-2 attention were
    wrong. Its two results must equal eager's."""
    q, k, v = (models.randn(2, 3, 5, 8, seed=i) for i in range(3))

    def f(q, k, v):
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True)

    compiled = mlirfuse.compile(f)
    for got, want in zip(compiled(q, k, v), f(q, k, v)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def _transformers_model(name):
    transformers = pytest.importorskip("transformers", reason="transformers is in the test extra")
    if name == "gpt2":
        config = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64,
                                         n_positions=16, use_cache=False, resid_pdrop=0.0,
                                         embd_pdrop=0.0, attn_pdrop=0.0)
        return transformers.GPT2LMHeadModel(config)
    config = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=4, num_key_value_heads=2,
                                      vocab_size=64, max_position_embeddings=16,
                                      use_cache=False)
    return transformers.LlamaForCausalLM(config)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_transformers_train_five_adamw_steps(name):
    torch.manual_seed(0)
    model = _transformers_model(name).train()
    reference = copy.deepcopy(model)
    compiled = mlirfuse.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt_ref = torch.optim.AdamW(reference.parameters(), lr=1e-3)
    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(1),
                        device="cpu").to(next(model.parameters()).device)
    for _ in range(5):
        for m, o in ((compiled, opt), (reference, opt_ref)):
            loss = m(ids, labels=ids).loss
            loss.backward()
            o.step()
            o.zero_grad()
            losses = getattr(o, "_losses", [])
            o._losses = losses + [loss.detach()]
    torch.testing.assert_close(torch.stack(opt._losses), torch.stack(opt_ref._losses),
                               rtol=1e-4, atol=1e-5)
    for (n, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4, msg=lambda m: f"{n}: {m}")
    s = compiled.stats
    assert s.fallbacks == 0 and s.backward_compilations >= 1, s


def test_memory_efficient_fusion_is_functorchs_drop_in():
    """functorch.compile.memory_efficient_fusion's API: a module gives a module, a function
    a function; forward and backward compiled, min-cut partitioned."""
    model, (x,) = models.mlp()
    model.train()
    reference = copy.deepcopy(model)
    fused = mlirfuse.memory_efficient_fusion(model)
    assert isinstance(fused, torch.nn.Module)
    loss = _step(fused, (x,))
    _assert_trained_alike(model, reference, loss, _step(reference, (x,)))
    assert fused.stats.backward_compilations == 1 and fused.stats.fallbacks == 0

    def gelu_bias(x, b):
        return torch.nn.functional.gelu(x + b)

    x, b = torch.randn(4, 8, requires_grad=True), torch.randn(8, requires_grad=True)
    fn = mlirfuse.memory_efficient_fusion(gelu_bias)
    fn(x, b).sum().backward()
    got = x.grad, b.grad
    x.grad = b.grad = None
    gelu_bias(x, b).sum().backward()
    torch.testing.assert_close(got, (x.grad, b.grad))
    assert fn.stats.backward_compilations == 1


def test_dropout_draws_as_eager():
    """Dropout runs torch's kernel from the compiled code (random ops do: extern calls):
    under the same seed its masks, the outputs and the gradients are eager's
    (torch.compile with inductor draws its own, different numbers)."""
    model = models._init(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.5),
                                             torch.nn.GELU(), torch.nn.Linear(16, 2))).train()
    reference = copy.deepcopy(model)
    x = models.randn(4, 8)
    compiled = mlirfuse.compile(model)
    for seed in (1, 2):
        torch.manual_seed(seed)
        loss = _step(compiled, (x,))
        torch.manual_seed(seed)
        _assert_trained_alike(model, reference, loss, _step(reference, (x,)))
    report = compiled.explain()
    assert any("random" in e.reason for e in report.externs + report.eager)


def test_batch_size_changes():
    """A last batch of another size: dynamo recompiles with symbolic sizes (the AOTAutograd
    graphs take them as arguments), mlirfuse.compile traces a new key; gradients stay
    eager's and each new shape compiles once."""
    model, _ = models.mlp()
    model.train()
    reference = copy.deepcopy(model)
    backend = torch.compile(model, backend="mlirfuse")
    compiled = mlirfuse.compile(copy.deepcopy(model))
    for rows in (3, 5, 7, 5):
        x = models.randn(rows, 8, seed=rows)
        for m in (model, reference):
            m.zero_grad()
        loss = _step(backend, (x,))
        _assert_trained_alike(model, reference, loss, _step(reference, (x,)))
        _step(compiled, (x,))
    assert compiled.stats.backward_compilations == 3 and compiled.stats.fallbacks == 0
