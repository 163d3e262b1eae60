"""The benchmark workloads of /work/shared/BENCH.md, one factory each.

Every factory takes the same keyword arguments and returns a `Workload`,
which unpacks as (fn_or_module, inputs):

    fn, inputs = swish(rows_scale=1, device="cpu", seed=0)

`rows_scale` multiplies the first dimension of the activations (BENCH.md: the
GPU uses 16x the CPU rows); weights and per-feature vectors keep their sizes.
`Workload.fn` is a plain function or an nn.Module (eval mode), `Workload.inputs`
a tuple of tensors to call it with: `fn(*inputs)`.

Training workloads (`train=True`) return the forward only; the step is
`out = fn(*inputs); out.sum().backward()` and its results are the gradients
of the inputs that require grad. `train_step` runs it for any compiled or eager
forward, so every system runs the same step.

`bytes_moved` is what the workload must read and write at least once (its
input and output tensors, weights included): the copy roofline moves as much.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN = 1024
ROWS = 4096


@dataclasses.dataclass
class Workload:
    """One benchmark workload.

    Attributes:
      name: the name in BENCH.md.
      fn: function or nn.Module (eval) to call as fn(*inputs).
      inputs: the arguments.
      train: if True, the measured step is forward + out.sum().backward().
      atol, rtol: tolerance of the check against eager.
      flops: approximate floating point operations of one call (matmul-bound workloads), or 0.
      note: anything the table should say about this workload.
    """

    name: str
    fn: Callable
    inputs: tuple
    train: bool = False
    atol: float = 1e-5
    rtol: float = 1e-5
    flops: float = 0.0
    note: str = ""

    def __iter__(self):
        """Unpacks as (fn_or_module, inputs): `fn, inputs = swish()`."""
        return iter((self.fn, self.inputs))

    def grad_inputs(self) -> list[torch.Tensor]:
        """The tensors whose gradients a training step produces (inputs and parameters)."""
        ts = [t for t in self.inputs if isinstance(t, torch.Tensor) and t.requires_grad]
        if isinstance(self.fn, nn.Module):
            ts += [p for p in self.fn.parameters() if p.requires_grad]
        return ts

    def output_bytes(self) -> int:
        """Bytes of the results of one call (for training: of the gradients)."""
        if self.train:
            return sum(t.numel() * t.element_size() for t in self.grad_inputs())
        with torch.no_grad():
            out = self.fn(*self.inputs)
        return sum(t.numel() * t.element_size() for t in _leaves(out))

    def input_bytes(self) -> int:
        """Bytes of the arguments, plus the module's parameters and buffers."""
        ts = [t for t in self.inputs if isinstance(t, torch.Tensor)]
        if isinstance(self.fn, nn.Module):
            ts += list(self.fn.parameters()) + list(self.fn.buffers())
        return sum(t.numel() * t.element_size() for t in ts)

    def bytes_moved(self) -> int:
        return self.input_bytes() + self.output_bytes()


def _leaves(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _leaves(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _leaves(o)]
    return []


def train_step(forward: Callable, workload: Workload) -> tuple[torch.Tensor, ...]:
    """One training step: forward, out.sum().backward(); returns the gradients."""
    params = workload.grad_inputs()
    for p in params:
        p.grad = None
    out = forward(*workload.inputs)
    out.sum().backward()
    return tuple(p.grad for p in params)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed, device, scale=1.0, requires_grad=False):
    t = torch.randn(*shape, generator=_gen(seed)) * scale
    return t.to(device).requires_grad_(requires_grad)


# ---------------------------------------------------------------- pointwise and normalization


def gelu_bias_fn(y, bias):
    x = bias + y
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


def swish_fn(x):
    return x * torch.sigmoid(x)


def mish_fn(x):
    return x.mul(torch.tanh(F.softplus(x)))


def hard_swish_fn(x):
    return x * (x + 3.0).clamp(min=0.0, max=6.0).div(6.0)


def layer_norm_fn(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b)


def rmsnorm_fn(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


def softmax_fn(x):
    return torch.softmax(x, -1)


def scaleshift_relu_fn(x, scale, shift):
    return torch.relu(x * scale + shift)


def gelu_bias(rows_scale=1, device="cpu", seed=0):
    y = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device)
    bias = _randn(HIDDEN, seed=seed + 1, device=device)
    return Workload("gelu_bias", gelu_bias_fn, (y, bias))


def swish(rows_scale=1, device="cpu", seed=0):
    return Workload("swish", swish_fn, (_randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device),))


def mish(rows_scale=1, device="cpu", seed=0):
    return Workload("mish", mish_fn, (_randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device),))


def hard_swish(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device, scale=4.0)  # cover both clamps
    return Workload("hard_swish", hard_swish_fn, (x,))


def layer_norm(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device)
    w = _randn(HIDDEN, seed=seed + 1, device=device)
    b = _randn(HIDDEN, seed=seed + 2, device=device)
    return Workload("layer_norm", layer_norm_fn, (x, w, b), atol=1e-4, rtol=1e-4)


def rmsnorm(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device)
    w = _randn(HIDDEN, seed=seed + 1, device=device)
    return Workload("rmsnorm", rmsnorm_fn, (x, w), atol=1e-4, rtol=1e-4)


def softmax(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device)
    return Workload("softmax", softmax_fn, (x,), atol=1e-6, rtol=1e-4)


def scaleshift_relu(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device)
    scale = _randn(HIDDEN, seed=seed + 1, device=device)
    shift = _randn(HIDDEN, seed=seed + 2, device=device)
    return Workload("scaleshift_relu", scaleshift_relu_fn, (x, scale, shift))


# ---------------------------------------------------------------- GEMM-bound


def lstm_cell_fn(x, hx, cx, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.t() + hx @ w_hh.t() + b_ih + b_hh
    i, f, g, o = gates.chunk(4, 1)
    i = torch.sigmoid(i)
    f = torch.sigmoid(f)
    g = torch.tanh(g)
    o = torch.sigmoid(o)
    cy = f * cx + i * g
    hy = o * torch.tanh(cy)
    return hy, cy


def lstm_cell(rows_scale=1, device="cpu", seed=0):
    batch, inp, hid = 64 * rows_scale, 512, 512
    k = 1.0 / math.sqrt(hid)
    args = (
        _randn(batch, inp, seed=seed, device=device),
        _randn(batch, hid, seed=seed + 1, device=device),
        _randn(batch, hid, seed=seed + 2, device=device),
        _randn(4 * hid, inp, seed=seed + 3, device=device, scale=k),
        _randn(4 * hid, hid, seed=seed + 4, device=device, scale=k),
        _randn(4 * hid, seed=seed + 5, device=device, scale=k),
        _randn(4 * hid, seed=seed + 6, device=device, scale=k),
    )
    flops = 2 * batch * 4 * hid * (inp + hid)
    return Workload("lstm_cell", lstm_cell_fn, args, atol=1e-4, rtol=1e-4, flops=flops)


def mlp(rows_scale=1, device="cpu", seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 1024)).to(device).eval()
    x = _randn(256 * rows_scale, 1024, seed=seed, device=device)
    flops = 2 * 2 * x.shape[0] * 1024 * 4096
    return Workload("mlp", model, (x,), atol=1e-4, rtol=1e-4, flops=flops)


def transformer(rows_scale=1, device="cpu", seed=0):
    torch.manual_seed(seed)
    d, heads, ffn = 512, 8, 2048
    model = nn.TransformerEncoderLayer(
        d, heads, ffn, dropout=0.0, batch_first=True, norm_first=True
    ).to(device).eval()
    batch, seq = 4 * rows_scale, 128
    x = _randn(batch, seq, d, seed=seed, device=device)
    tokens = batch * seq
    flops = 2 * tokens * d * (3 * d + d + 2 * ffn) + 2 * 2 * batch * seq * seq * d
    return Workload("transformer", model, (x,), atol=1e-4, rtol=1e-4, flops=flops,
                    note="nn.TransformerEncoderLayer(512, 8, 2048, norm_first=True), eval; under no_grad "
                         "eager takes PyTorch's fused fast path and dynamo captures that one op "
                         "(torch._transformer_encoder_layer_fwd), so inductor runs the same kernels as eager")


# ---------------------------------------------------------------- training (forward + backward)


def train_swish(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device, requires_grad=True)
    return Workload("train_swish", swish_fn, (x,), train=True)


def train_layer_norm(rows_scale=1, device="cpu", seed=0):
    x = _randn(ROWS * rows_scale, HIDDEN, seed=seed, device=device, requires_grad=True)
    w = _randn(HIDDEN, seed=seed + 1, device=device, requires_grad=True)
    b = _randn(HIDDEN, seed=seed + 2, device=device, requires_grad=True)
    # dw, db sum over 4096 rows: a different summation order than eager's
    return Workload("train_layer_norm", layer_norm_fn, (x, w, b), train=True, atol=1e-3, rtol=1e-4)


WORKLOADS: dict[str, Callable[..., Workload]] = {
    f.__name__: f
    for f in (
        gelu_bias, swish, mish, hard_swish, layer_norm, rmsnorm, softmax, scaleshift_relu,
        lstm_cell, mlp, transformer, train_swish, train_layer_norm,
    )
}


def make(name: str, rows_scale: int = 1, device: str = "cpu", seed: int = 0) -> Workload:
    """Builds the workload `name` (a key of WORKLOADS)."""
    try:
        factory = WORKLOADS[name]
    except KeyError:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
    return factory(rows_scale=rows_scale, device=device, seed=seed)
