"""CPU convolutions' extern calls on channels-last buffers (mlirfuse-channels-last-convs):
results equal eager's for every kind of convolution the pass rewrites, and it rewrites
the ones it should."""

import pytest
import torch

import mlirfuse
from mlirfuse.lowering.cpu import channels_last_convs

pytestmark = pytest.mark.cpu_only("the CPU pipeline's pass; CUDA's convolutions are cuDNN calls")


@pytest.fixture(autouse=True)
def always_channels_last(monkeypatch, cache_folder, every_convolution_torchs):
    """Every shape the rule takes measured faster channels-last (the timing itself is the
    machine's: a margin of 100 makes it certain), in a cache folder of its own. Every
    convolution runs torch's kernel (small ones are generated code by default)."""
    monkeypatch.setattr(channels_last_convs, "MARGIN", 100.0)
    monkeypatch.setattr(channels_last_convs, "_decisions", {})


class Block(torch.nn.Module):
    """conv -> batch norm -> ReLU -> conv, with a residual add reading the ReLU too."""

    def __init__(self, channels=16, stride=1, groups=1, dilation=1, bias=True):
        super().__init__()
        self.c1 = torch.nn.Conv2d(channels, channels, 3, stride=stride, padding=dilation,
                                  dilation=dilation, groups=groups, bias=bias)
        self.bn = torch.nn.BatchNorm2d(channels)
        self.c2 = torch.nn.Conv2d(channels, channels, 1, bias=bias)

    def forward(self, x):
        y = torch.relu(self.bn(self.c1(x)))
        return self.c2(y) + y, y.mean((2, 3))


@pytest.mark.parametrize("kind", [
    dict(), dict(stride=2), dict(dilation=2), dict(groups=4), dict(groups=16),
    dict(bias=False)])
def test_a_block_matches_eager_and_runs_its_convolutions_channels_last(kind):
    torch.manual_seed(0)
    model = Block(**kind).eval()
    with torch.no_grad():  # running statistics that are not 0 and 1
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 16, 12, 12)
    compiled = mlirfuse.compile(model)
    with torch.no_grad():
        got, expected = compiled(x), model(x)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    explained = compiled.explain()
    assert len(explained.externs) == 2 and not explained.eager
    assert compiled.ir("fused").count("nhwc_out 0") == 2


def test_a_stem_of_three_channels_stays_nchw_and_a_strided_input_is_read_as_it_is():
    """ResNet's stem (3 channels: slower channels-last) keeps NCHW; the input handed to
    a channels-last convolution may be a view with any strides."""
    torch.manual_seed(0)
    stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 7, stride=2, padding=3),
                               torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1)).eval()
    x = torch.randn(2, 3, 32, 32)
    compiled = mlirfuse.compile(stem)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), stem(x), rtol=1e-5, atol=1e-5)
    assert compiled.ir("fused").count("nhwc_out 0") == 1

    conv = torch.nn.Conv2d(16, 8, 3).eval()
    view = torch.randn(2, 12, 12, 16).permute(0, 3, 1, 2)  # channels-last strides
    compiled = mlirfuse.compile(conv)
    with torch.no_grad():
        torch.testing.assert_close(compiled(view), conv(view), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(compiled(view.contiguous()), conv(view), rtol=1e-5,
                                   atol=1e-5)


def test_the_runtime_refuses_a_spec_line_it_does_not_know():
    """A spec line the runtime does not read (one a newer compiler writes, as `nhwc` once
    was) would make it read a buffer the wrong way: refused, not ignored."""
    from mlirfuse.runtime import extern

    if not extern.available():
        pytest.skip("no C++ compiler for the extern library here")
    conv = "\n".join(["op aten::convolution", "overload ", "device cpu", "in 6 4", "in 6 4",
                      "out 6 4", "arg T 0", "arg T 1", "arg N", "arg LI 1,1", "arg LI 0,0",
                      "arg LI 1,1", "arg B 0", "arg LI 0,0", "arg I 1"])
    extern.prepare(conv + "\nnhwc 0\nnhwc_out 0")
    with pytest.raises(extern.ExternError, match="unknown spec line 'nchw_later 0'"):
        extern.prepare(conv + "\nnchw_later 0")


def test_a_shape_measured_no_faster_stays_nchw(monkeypatch):
    """The compile times torch's convolution both ways and keeps NCHW where channels-last
    is not MARGIN faster (a margin of 0: never), results the same."""
    monkeypatch.setattr(channels_last_convs, "MARGIN", 0.0)
    torch.manual_seed(0)
    model = Block().eval()
    x = torch.randn(2, 16, 12, 12)
    compiled = mlirfuse.compile(model)
    with torch.no_grad():
        for g, e in zip(compiled(x), model(x)):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    assert "nhwc" not in compiled.ir("fused") and len(channels_last_convs._decisions) == 2

    # A grouped convolution is handed channels-last copies otherwise: not timed, taken.
    grouped = Block(groups=4).eval()
    compiled = mlirfuse.compile(grouped)
    with torch.no_grad():
        for g, e in zip(compiled(x), grouped(x)):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    assert compiled.ir("fused").count("nhwc_out 0") == 1
