"""Each distinct kernel compiled once (lowering/cpu/share_kernels.py, issue 19): a model's
repeated layers call the same kernel functions, so deeper models add calls, not code."""

import re

import pytest
import torch

import mlirfuse
from mlirfuse.compiler.context import make_context  # noqa: F401 (loads the dialect)

cpu_only = pytest.mark.skipif(torch.empty(0).is_cuda,
                              reason="the CPU's lowering (kernels are gpu.launch on CUDA)")


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.norm = torch.nn.Linear(64, 64), torch.nn.LayerNorm(64)

    def forward(self, x):
        return self.norm(x + torch.nn.functional.gelu(self.linear(x)))


def _compile(layers: int):
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[Block() for _ in range(layers)]).eval()
    x = torch.randn(4, 16, 64)
    # Whole (at 4 layers the graph would be cut at the layers: repeated_layers.py): the
    # kernels are shared inside one module here.
    compiled = mlirfuse.compile(model, layers=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    return compiled


def _functions(text: str, prefix: str) -> set[str]:
    return set(re.findall(rf"func\.func private @({prefix}\d+)", text))


@cpu_only
def test_repeated_layers_share_their_kernel_functions():
    compiled = {layers: _compile(layers) for layers in (2, 3, 4)}
    loops = {layers: c.ir("loops") for layers, c in compiled.items()}
    kernels = _functions(loops[2], "mlirfuse_kernel_")
    assert kernels and all(_functions(t, "mlirfuse_kernel_") == kernels for t in loops.values())
    # Every kernel run is a call: each layer adds the same calls, and no function.
    calls = {layers: len(re.findall(r"call @mlirfuse_kernel_", t)) for layers, t in loops.items()}
    assert calls[4] - calls[3] == calls[3] - calls[2] > 0
    assert all(c.stats.kernels == calls[layers] for layers, c in compiled.items())
    # The GEMMs' calls with their constant sizes: one function per distinct matmul.
    assert _functions(loops[4], "mlirfuse_call_") == _functions(loops[2], "mlirfuse_call_")


def test_the_dialects_without_python_builders_are_looked_up_once():
    """Op handles of a dialect with no Python module (mlirfuse, tm_tensor) no longer try
    to import one at every handle (15,000 failed imports in one pass over GPT-2)."""
    import importlib
    import sys

    for namespace in ("mlirfuse", "tm_tensor", "omp", "torch_c"):
        assert f"torch_mlir.dialects.{namespace}" in sys.modules
        importlib.import_module(f"torch_mlir.dialects.{namespace}")
