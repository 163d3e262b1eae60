"""Two small real models for the mlirfuse demo, each with example inputs.

    model, inputs = transformer_encoder()
    model, inputs = resnet_block()

Both are in eval mode with non-trivial weights and statistics, so that the
compiled result is checked against something other than an identity.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def transformer_encoder(batch: int = 2, seq: int = 32, seed: int = 0) -> tuple[nn.Module, tuple]:
    """nn.TransformerEncoder: 2 layers, d_model 128, 4 heads, ffn 512, eval; input [batch, seq, 128]."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(
        d_model=128, nhead=4, dim_feedforward=512, dropout=0.1, batch_first=True
    )
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    x = torch.randn(batch, seq, 128)
    return model, (x,)


class ResNetBlock(nn.Module):
    """ResNet basic block: conv3x3-bn-relu-conv3x3-bn, plus the identity, then relu."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


def resnet_block(channels: int = 64, size: int = 32, batch: int = 1, seed: int = 0) -> tuple[nn.Module, tuple]:
    """A ResNetBlock in eval mode with random batch-norm statistics; input [batch, channels, size, size]."""
    torch.manual_seed(seed)
    model = ResNetBlock(channels)
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.normal_(0.0, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.1)
    model.eval()
    x = torch.randn(batch, channels, size, size)
    return model, (x,)


MODELS = {
    "transformer_encoder": transformer_encoder,
    "resnet_block": resnet_block,
}
