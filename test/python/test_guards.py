"""Guards: what a call does when its arguments are not those the code was built for."""

import pytest
import torch

import mlirfuse


def axpb(a, b):
    return (a + b) * 2.0


def test_new_shape_recompiles():
    compiled = mlirfuse.compile(axpb, (torch.ones(1), torch.ones(1)))
    out = compiled(torch.ones(2), torch.ones(2))
    torch.testing.assert_close(out, torch.full((2,), 4.0))
    assert compiled.stats.guard_failures == 1
    assert compiled.stats.compilations == 2


def test_transposed_argument_is_right():
    x, y = torch.randn(4, 8), torch.randn(4, 8)
    compiled = mlirfuse.compile(lambda a, b: a * b + 1, (x, y))
    xt = torch.randn(8, 4).t()  # same shape, other strides: the strides guard fails
    torch.testing.assert_close(compiled(xt, y), xt * y + 1)
    assert compiled.stats.guard_failures == 1 and compiled.stats.compilations == 2
    torch.testing.assert_close(compiled(xt, y), xt * y + 1)  # now served, no recompile
    torch.testing.assert_close(compiled(x, y), x * y + 1)
    assert compiled.stats.compilations == 2 and compiled.stats.guard_failures == 1


def test_sliced_argument_is_right():
    base = torch.randn(8, 16)
    compiled = mlirfuse.compile(lambda a: a.exp(), (torch.randn(8, 8),))
    view = base[:, ::2]
    torch.testing.assert_close(compiled(view), view.exp())


@pytest.mark.parametrize("change,property_name", [
    (lambda x: x.double(), "dtype"),
    (lambda x: x[:2], "shape"),
    (lambda x: x.reshape(2, 2, 8), "rank"),
    (lambda x: x.t().contiguous().t(), "strides"),
    (lambda x: x.clone().requires_grad_(), "requires_grad"),
])
def test_error_policy_names_argument_and_property(change, property_name):
    x, y = torch.randn(4, 8), torch.randn(4, 8)
    compiled = mlirfuse.compile(lambda a, b: a - b, (x, y), on_guard_failure="error")
    with pytest.raises(mlirfuse.GuardError, match=f"tensor argument 0: {property_name}"):
        compiled(change(x), y if property_name not in ("shape", "rank") else change(y))
    assert compiled.stats.guard_failures == 1 and compiled.stats.compilations == 1


def test_eager_policy_falls_back():
    compiled = mlirfuse.compile(axpb, (torch.ones(3), torch.ones(3)), on_guard_failure="eager")
    torch.testing.assert_close(compiled(torch.ones(5), torch.ones(5)), torch.full((5,), 4.0))
    assert (compiled.stats.fallbacks, compiled.stats.compilations) == (1, 1)
    assert compiled.stats.kernels == 0


def test_recompile_limit_then_eager():
    compiled = mlirfuse.compile(axpb, (torch.ones(1), torch.ones(1)), recompile_limit=2,
                                dynamic=False)
    for n in range(2, 6):
        torch.testing.assert_close(compiled(torch.ones(n), torch.ones(n)), torch.full((n,), 4.0))
    assert compiled.stats.compilations == 2
    assert compiled.stats.fallbacks == 3
    assert compiled.stats.guard_failures == 4


def test_bad_policy_is_rejected():
    with pytest.raises(ValueError, match="on_guard_failure"):
        mlirfuse.compile(axpb, on_guard_failure="sometimes")


def test_guard_checks_run_in_compiled_code():
    compiled = mlirfuse.compile(lambda a: a + 1, (torch.randn(4, 8),))
    # The host code's last stage before LLVM: "loops" on the CPU, "gpu" for CUDA.
    llvm = compiled.ir("gpu" if torch.get_default_device().type == "cuda" else "loops")
    assert "memref.extract_strided_metadata" in llvm and "scf.if" in llvm
