"""compiler/attention_masks.py: an attention mask built in the graph from constants that
is the causal pattern (transformers' GPT-2, Llama) becomes `is_causal=True`, one that
masks nothing (BERT without padding) is dropped, where torch's attention kernel runs it
(CUDA); the graph computes the same as before the rewrite."""

import copy

import pytest
import torch

from mlirfuse.compiler import capture, library_kernels
from mlirfuse.compiler.attention_masks import simplify
from mlirfuse.compiler.specialize import graph_inputs

aten = torch.ops.aten
sdpa = torch.nn.functional.scaled_dot_product_attention


def _captured(fn, *args):
    cap = capture.capture(fn, args, keep=library_kernels.KEPT_ON_CUDA)
    return cap.graph_module, graph_inputs(cap, args)


def _attention(gm):
    return [n for n in gm.graph.nodes if n.target is aten.scaled_dot_product_attention.default]


def _rewritten_computes_the_same(fn, *args) -> int:
    gm, ins = _captured(fn, *args)
    before = copy.deepcopy(gm)
    count = simplify(gm)
    with torch.no_grad():
        torch.testing.assert_close(gm(*ins), before(*ins), rtol=1e-5, atol=1e-5)
    return count


def test_transformers_gpt2s_mask_becomes_is_causal():
    tf = pytest.importorskip("transformers", reason="transformers is not installed")
    torch.manual_seed(0)
    model = tf.GPT2Model(tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=128)).eval()

    def hidden(ids):
        return model(ids).last_hidden_state

    ids = torch.randint(0, 128, (2, 16))
    gm, ins = _captured(hidden, ids)
    before = copy.deepcopy(gm)
    assert simplify(gm) == 2
    for node in _attention(gm):
        assert node.args[3] is None and node.args[5] is True
    assert not any(n.target is aten.le.Tensor for n in gm.graph.nodes)  # the mask is gone
    with torch.no_grad():
        torch.testing.assert_close(gm(*ins), before(*ins), rtol=1e-5, atol=1e-5)


def _masked(pattern):
    def f(q, k, v):
        i = torch.arange(q.shape[-2])
        j = torch.arange(k.shape[-2])
        return sdpa(q, k, v, attn_mask=pattern(i[:, None], j[None, :]))
    return f


@pytest.mark.parametrize("rows,columns", [(8, 8), (4, 8)])
def test_a_causal_mask_of_any_lengths(rows, columns):
    """`j <= i` is what is_causal means for any lengths (top-left aligned)."""
    q = torch.randn(2, 3, rows, 16)
    k, v = torch.randn(2, 3, columns, 16), torch.randn(2, 3, columns, 16)
    assert _rewritten_computes_the_same(_masked(lambda i, j: j <= i), q, k, v) == 1


@pytest.mark.parametrize("pattern", [lambda i, j: j < i + 2, lambda i, j: j >= i,
                                     lambda i, j: (j <= i).float()],
                         ids=["shifted", "anti", "float"])
def test_other_masks_stay(pattern):
    """(A float mask is added to the scores: 1.0 where j <= i is not the causal mask.)"""
    q = k = v = torch.randn(2, 3, 8, 16)
    assert _rewritten_computes_the_same(_masked(pattern), q, k, v) == 0


def test_a_mask_from_an_input_stays():
    """A padding mask (from the call's arguments) is not a constant of the graph."""
    def f(q, k, v, keep):
        return sdpa(q, k, v, attn_mask=keep[:, None, None, :] & torch.ones(
            8, 8, dtype=torch.bool).tril())

    q = k = v = torch.randn(2, 3, 8, 16)
    keep = torch.ones(2, 8, dtype=torch.bool)
    assert _rewritten_computes_the_same(f, q, k, v, keep) == 0


@pytest.mark.parametrize("pattern", [lambda i, j: (i >= 0) & (j >= 0),
                                     lambda i, j: torch.zeros(i.shape[0], j.shape[1])],
                         ids=["all-true", "zeros"])
def test_a_mask_that_masks_nothing_is_dropped(pattern):
    q = k = v = torch.randn(2, 3, 8, 16)
    gm, ins = _captured(_masked(pattern), q, k, v)
    before = copy.deepcopy(gm)
    assert simplify(gm) == 1
    (node,) = _attention(gm)
    assert node.args[3] is None and not node.args[5]
    torch.testing.assert_close(gm(*ins), before(*ins), rtol=1e-5, atol=1e-5)


def test_transformers_berts_mask_is_dropped():
    tf = pytest.importorskip("transformers", reason="transformers is not installed")
    torch.manual_seed(0)
    model = tf.BertModel(tf.BertConfig(hidden_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, intermediate_size=128,
                                       vocab_size=128)).eval()

    def hidden(ids):
        return model(ids).last_hidden_state

    assert _rewritten_computes_the_same(hidden, torch.randint(0, 128, (2, 16))) == 2

