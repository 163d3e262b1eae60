"""Models and functions of the numerics suite, small enough to compile in a second or two.

Each entry of a registry is a builder `() -> (fn, args)`: `fn` is an nn.Module
(in eval mode unless the case is about training) or a plain function, `args`
the tuple to call it with. Builders make fresh modules and tensors, seeded, so
a test may run eager and compiled on the same objects.

IMPORT_SPOT_CHECK holds the 27 modules of DESIGN.md item 7; MORE the other
functions of the suite (tm_tensor ops, more elementwise and reduction forms).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _g(seed=0):
    return torch.Generator(torch.get_default_device()).manual_seed(seed)


def randn(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=_g(seed)).to(dtype)


def randint(low, high, *shape, dtype=torch.int64, seed=0):
    return torch.randint(low, high, shape, generator=_g(seed)).to(dtype)


def _init(m: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initializes every parameter and BatchNorm statistic from `seed`, so buffers
    are not the trivial 0/1 and the numerics exercise them."""
    gen = _g(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
    return m


# --- the 27 modules of DESIGN.md item 7 ------------------------------------------------


def mlp():
    m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    return _init(m).eval(), (randn(3, 8),)


class ConvBnRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def conv_bn_relu():
    return _init(ConvBnRelu()).eval(), (randn(2, 3, 8, 8),)


def max_pool():
    return (lambda x: F.max_pool2d(x, kernel_size=3, stride=2, padding=1)), (randn(2, 3, 9, 9),)


def adaptive_avg_pool():
    return (lambda x: F.adaptive_avg_pool2d(x, (1, 1))), (randn(2, 3, 6, 6),)


def softmax():
    return (lambda x: torch.softmax(x, dim=-1)), (randn(4, 10) * 3,)


def log_softmax():
    return (lambda x: F.log_softmax(x, dim=1)), (randn(4, 10) * 3,)


def layer_norm():
    return _init(nn.LayerNorm(16)).eval(), (randn(2, 5, 16),)


def group_norm():
    return _init(nn.GroupNorm(4, 8)).eval(), (randn(2, 8, 3, 3),)


def gelu_tanh():
    return (lambda x: F.gelu(x, approximate="tanh")), (randn(4, 32) * 2,)


def sdpa():
    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return f, (randn(2, 2, 5, 8, seed=1), randn(2, 2, 5, 8, seed=2), randn(2, 2, 5, 8, seed=3))


def embedding():
    m = _init(nn.Embedding(20, 6)).eval()
    return m, (randint(0, 20, 3, 4),)


def cat_slice_transpose():
    def f(a, b):
        c = torch.cat([a, b], dim=1)
        return c[:, 1:7:2].transpose(0, 1) * 2.0
    return f, (randn(3, 4, seed=1), randn(3, 5, seed=2))


def reductions():
    def f(x):
        return (x.sum(dim=1), x.amax(dim=0), x.mean(dim=(0, 1)),
                torch.var(x, dim=1, unbiased=True), x.sum())
    return f, (randn(4, 6, 3),)


def where():
    def f(c, x, y):
        return torch.where(c > 0, x, y)
    return f, (randn(4, 5, seed=1), randn(4, 5, seed=2), randn(1, 5, seed=3))


def bmm():
    return torch.bmm, (randn(3, 4, 5, seed=1), randn(3, 5, 6, seed=2))


def einsum():
    return (lambda a, b: torch.einsum("bij,bjk->bik", a, b) + torch.einsum("bij->bi", a)[..., None]), (
        randn(2, 3, 4, seed=1), randn(2, 4, 3, seed=2))


def interpolate_nearest():
    return (lambda x: F.interpolate(x, scale_factor=2, mode="nearest")), (randn(1, 2, 3, 4),)


def index_select():
    return (lambda x, i: torch.index_select(x, 0, i)), (randn(6, 4), torch.tensor([5, 0, 2, 2]))


def cumsum():
    return (lambda x: torch.cumsum(x, dim=1)), (randn(3, 7),)


class LSTMCellModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(6, 8)

    def forward(self, x, h, c):
        return self.cell(x, (h, c))


def lstm_cell():
    return _init(LSTMCellModel()).eval(), (randn(3, 6, seed=1), randn(3, 8, seed=2),
                                           randn(3, 8, seed=3))


def transformer_block():
    m = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0,
                                   batch_first=True)
    return _init(m).eval(), (randn(2, 5, 16),)


def integer_ops():
    def f(a, b):
        return (a + b) * 3 - (a // 2), a % 5, a & b, a >> 1, (a * b).sum(dim=1)
    return f, (randint(-50, 50, 4, 5, dtype=torch.int32, seed=1),
               randint(1, 50, 4, 5, dtype=torch.int32, seed=2))


def f16():
    m = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
    return _init(m).eval().half(), (randn(4, 8, dtype=torch.float16),)


def bf16_matmul():
    return torch.matmul, (randn(4, 16, dtype=torch.bfloat16, seed=1),
                          randn(16, 8, dtype=torch.bfloat16, seed=2))


def topk():
    return (lambda x: torch.topk(x, 3, dim=1)), (randn(4, 10),)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock with a projection shortcut."""

    def __init__(self, cin=4, cout=8, stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.down(x))


def resnet_block():
    return _init(BasicBlock()).eval(), (randn(2, 4, 8, 8),)


def mlp_dynamic_batch():
    """The MLP called with batch 3 then 7 (see test_import_coverage.py)."""
    m = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    return _init(m).eval(), (randn(3, 8, seed=1),)


IMPORT_SPOT_CHECK = {
    "mlp": mlp,
    "conv_bn_relu": conv_bn_relu,
    "max_pool": max_pool,
    "adaptive_avg_pool": adaptive_avg_pool,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "layer_norm": layer_norm,
    "group_norm": group_norm,
    "gelu_tanh": gelu_tanh,
    "sdpa": sdpa,
    "embedding": embedding,
    "cat_slice_transpose": cat_slice_transpose,
    "reductions": reductions,
    "where": where,
    "bmm": bmm,
    "einsum": einsum,
    "interpolate_nearest": interpolate_nearest,
    "index_select": index_select,
    "cumsum": cumsum,
    "lstm_cell": lstm_cell,
    "transformer_block": transformer_block,
    "integer_ops": integer_ops,
    "f16": f16,
    "bf16_matmul": bf16_matmul,
    "topk": topk,
    "resnet_block": resnet_block,
    "mlp_dynamic_batch": mlp_dynamic_batch,
}


# --- more functions ---------------------------------------------------------------------


def sort():
    return (lambda x: torch.sort(x, dim=-1, descending=True)), (randn(3, 8),)


def sort_int():
    """Distinct values: an unstable sort's indices are then unique too."""
    x = torch.stack([torch.randperm(9, generator=_g(1)), torch.randperm(9, generator=_g(2))], 1)
    return (lambda x: torch.sort(x, dim=0)), (x * 3 - 10,)


def sort_stable():
    """Ties: only a stable sort gives eager's indices."""
    return (lambda x: torch.sort(x, dim=0, stable=True)), (randint(0, 4, 9, 2),)


def scatter():
    def f(x, idx, src):
        return x.scatter(1, idx, src)
    idx = torch.tensor([[0, 2], [3, 1], [4, 0]])
    return f, (randn(3, 5, seed=1), idx, randn(3, 2, seed=2))


def scatter_add():
    def f(x, idx, src):
        return torch.scatter_add(x, 0, idx, src)
    idx = torch.tensor([[0, 1, 2], [0, 0, 1], [2, 2, 0], [1, 0, 0]])
    return f, (randn(3, 3, seed=1), idx, randn(4, 3, seed=2))


def index_put():
    def f(x, i, v):
        return torch.index_put(x, (i,), v, accumulate=True)
    return f, (randn(5, 3, seed=1), torch.tensor([0, 4, 0]), randn(3, 3, seed=2))


def argmax_min():
    return (lambda x: (x.argmax(dim=1), x.argmin(dim=0), x.max(dim=1))), (randn(4, 6),)


def elementwise_math():
    def f(x):
        return (torch.exp(x), torch.log1p(x.abs()), torch.sqrt(x.abs()), torch.rsqrt(x.abs() + 1),
                torch.sin(x), torch.cos(x), torch.sigmoid(x), torch.erf(x), torch.pow(x, 3),
                torch.clamp(x, -0.5, 0.5), torch.floor(x * 3), torch.round(x * 3))
    return f, (randn(4, 6),)


def broadcast_mixed():
    return (lambda a, b: (a[:, None, :] - b[None, :, :]).pow(2).sum(-1).sqrt()), (
        randn(4, 3, seed=1), randn(5, 3, seed=2))


def conv_transpose():
    m = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    return _init(m).eval(), (randn(1, 3, 4, 4),)


def mha():
    m = nn.MultiheadAttention(16, 4, batch_first=True)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = m

        def forward(self, q, k):
            return self.attn(q, k, k, need_weights=True)

    return _init(Wrap()).eval(), (randn(2, 3, 16, seed=1), randn(2, 4, 16, seed=2))


MORE = {
    "sort": sort,
    "sort_int": sort_int,
    "sort_stable": sort_stable,
    "scatter": scatter,
    "scatter_add": scatter_add,
    "index_put": index_put,
    "argmax_min": argmax_min,
    "elementwise_math": elementwise_math,
    "broadcast_mixed": broadcast_mixed,
    "conv_transpose": conv_transpose,
    "mha": mha,
}


class LastHidden(nn.Module):
    """A transformers model returning its last hidden state (its full ModelOutput holds a
    cache object, which a graph's output cannot)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(ids).last_hidden_state
