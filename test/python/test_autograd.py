"""Compiled code is inference only: calls that need autograd run eager, never silently detached."""

import pytest
import torch

import mlirfuse


def swish(x):
    return x * torch.sigmoid(x)


def test_input_requiring_grad_runs_eager_and_backward_works():
    x = torch.randn(8, 4, requires_grad=True)
    compiled = mlirfuse.compile(swish)
    with pytest.warns(UserWarning, match="inference only"):
        y = compiled(x)
    assert y.requires_grad  # regression: was a detached result, and backward() failed
    y.sum().backward()
    torch.testing.assert_close(x.grad, (torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))).detach())
    assert compiled.stats.fallbacks == 1 and compiled.stats.kernels == 0


def test_no_grad_runs_compiled_code():
    x = torch.randn(8, 4, requires_grad=True)
    compiled = mlirfuse.compile(swish)
    with torch.no_grad():
        y = compiled(x)
    torch.testing.assert_close(y, swish(x).detach())
    assert compiled.stats.fallbacks == 0 and compiled.stats.kernels == 1


def test_module_parameters_requiring_grad():
    model = torch.nn.Linear(4, 2)
    compiled = mlirfuse.compile(model)
    with pytest.warns(UserWarning, match="inference only"):
        assert compiled(torch.randn(3, 4)).requires_grad
    with torch.inference_mode():
        out = compiled(torch.randn(3, 4))
    assert not out.requires_grad and compiled.stats.kernels >= 1
