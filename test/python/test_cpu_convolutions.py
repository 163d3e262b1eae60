"""2-D and 1-D convolutions on the CPU: torch's kernel (oneDNN) from the compiled code
by choice, or generated code when small (compiler/library_kernels.py)."""

import pytest
import torch

import mlirfuse
from conftest import assert_same


@pytest.mark.cpu_only("CUDA convolutions are cuDNN calls (test_gpu.py)")
def test_cpu_convolutions_run_torchs_kernel_the_rest_fused(every_convolution_torchs):
    """A 2-D convolution on the CPU is an extern call of torch's kernel by choice
    (compiler/library_kernels.py: oneDNN measured faster than im2col and BLAS); batch norm,
    residual add and relu around it stay compiled kernels. library_kernels=False compiles
    the convolution too."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "examples" / "models.py"
    spec = importlib.util.spec_from_file_location("example_models", path)
    example_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example_models)

    model, (x,) = example_models.resnet_block(channels=8, size=12)
    with torch.no_grad():
        compiled = mlirfuse.compile(model)
        assert_same(compiled(x), model(x), rtol=1e-4, atol=1e-4)
        assert compiled.stats.extern_calls == 2 and compiled.stats.eager_ops == 0
        assert compiled.stats.kernels >= 1
        assert {e.op for e in compiled.explain().externs} == {"aten.convolution.default"}
        native = mlirfuse.compile(model, library_kernels=False)
        assert_same(native(x), model(x), rtol=1e-4, atol=1e-4)
        assert native.stats.extern_calls == 0


@pytest.mark.cpu_only("CUDA convolutions are cuDNN calls (test_gpu.py)")
def test_cpu_small_convolutions_are_generated_code():
    """A 2-D convolution of at most SMALL_CONVOLUTION multiply-adds compiles as generated
    code: torch's kernel costs ~60 us a call whatever its size (ResNet's small model with
    every convolution torch's: 2.00 ms, generated 0.93, inductor 2.15); a larger one stays
    torch's kernel. Both match eager. Before, every one was an extern call."""
    small = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 8, 1, groups=8)).eval()
    x = torch.randn(2, 16, 8, 8)  # 0.59M and 8K multiply-adds
    big = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    y = torch.randn(1, 64, 32, 32)  # 37.7M
    with torch.no_grad():
        compiled = mlirfuse.compile(small)
        assert_same(compiled(x), small(x), rtol=1e-4, atol=1e-4)
        assert compiled.stats.extern_calls == 0 and compiled.stats.eager_ops == 0
        compiled = mlirfuse.compile(big)
        assert_same(compiled(y), big(y), rtol=1e-4, atol=1e-4)
        assert compiled.stats.extern_calls == 1


@pytest.mark.cpu_only("CUDA convolutions are cuDNN calls (test_gpu.py)")
def test_cpu_conv1d_runs_torchs_kernel():
    """A 1-D convolution (Whisper's audio front) is an extern call of torch's kernel by
    choice too: generated code was 15x eager's time ([2, 80, 200] -> 128: 12.6 ms against
    0.79; the extern call 0.85), and the Whisper encoder ran 2.85x inductor's time."""
    model = torch.nn.Sequential(torch.nn.Conv1d(8, 16, 3, padding=1), torch.nn.GELU(),
                                torch.nn.Conv1d(16, 16, 3, stride=2, padding=1)).eval()
    x = torch.randn(2, 8, 40)
    with torch.no_grad():
        compiled = mlirfuse.compile(model)
        assert_same(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    assert compiled.stats.extern_calls == 2 and compiled.stats.eager_ops == 0


@pytest.mark.cpu_only("CUDA convolutions are cuDNN calls (test_gpu.py)")
def test_cpu_depthwise_conv_gets_channels_last_inputs(every_convolution_torchs):
    """A depthwise 7x7 convolution (ConvNeXt's) hands torch's kernel its input and weight
    channels-last (the spec's `channels_last` lines; oneDNN ran it 1.2-2x faster so,
    copies included) and its result comes back into the compiled code's NCHW buffer:
    eager's result, a dense convolution beside it left NCHW."""
    from mlirfuse.compiler import extern
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 7, padding=3, groups=16),
                                torch.nn.GELU(), torch.nn.Conv2d(16, 8, 1)).eval()
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        compiled = mlirfuse.compile(model)
        assert_same(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    assert compiled.stats.extern_calls == 2 and compiled.stats.eager_ops == 0
    gm = compiled._last.graph.graph_module
    specs = [n.meta[extern.MARK] for n in extern.marked_nodes(gm)]
    assert ["channels_last 0" in s and "channels_last 1" in s for s in specs] == [True, False]
