"""torch.compile(backend="mlirfuse"): registration and inference through dynamo."""

import importlib.metadata

import pytest
import torch

import mlirfuse


def test_backend_registered_on_import():
    assert "mlirfuse" in torch._dynamo.list_backends()


def test_entry_point_declared():
    eps = importlib.metadata.entry_points(group="torch_dynamo_backends")
    assert any(ep.name == "mlirfuse" for ep in eps)


def test_torch_compile_module_inference():
    torch._dynamo.reset()
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(),
                                torch.nn.Linear(32, 8)).eval()
    x = torch.randn(4, 16)
    compiled = torch.compile(model, backend="mlirfuse")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
        torch.testing.assert_close(compiled(x * 2), model(x * 2))


def test_torch_compile_function_with_graph_break():
    torch._dynamo.reset()

    def f(x, y):
        a = torch.sin(x) + y
        print("graph break")  # dynamo splits here: two graphs reach the backend
        return a * torch.cos(y)

    x, y = torch.randn(8), torch.randn(8)
    compiled = torch.compile(f, backend="mlirfuse")
    torch.testing.assert_close(compiled(x, y), f(x, y))


def test_torch_compile_new_shape_recompiles_correctly():
    torch._dynamo.reset()

    def f(x):
        return torch.softmax(x, dim=-1) * 3

    compiled = torch.compile(f, backend="mlirfuse")
    for n in (5, 7, 9):
        x = torch.randn(3, n)
        torch.testing.assert_close(compiled(x), f(x))


def test_backend_options_reach_mlirfuse():
    torch._dynamo.reset()

    def f(x):
        return x + 1

    ok = torch.compile(f, backend="mlirfuse", options={"opt_level": 1})
    torch.testing.assert_close(ok(torch.ones(3)), torch.full((3,), 2.0))
    torch._dynamo.reset()
    bad = torch.compile(f, backend="mlirfuse", options={"no_such_option": 1})
    with pytest.raises(Exception, match="unknown option"):
        bad(torch.ones(3))
