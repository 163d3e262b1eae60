"""The fallbacks, exercised: every module with kernels fails in the JIT.

    python bench/failing_jit.py [name ...]

BENCH's workloads (inference) and the small transformers models of bench/models.py are
compiled in one process while the JIT refuses every module holding kernels, so their ops
run as extern calls (torch's kernels, called from compiled code) or eager, and pieces
compiled at calls fail too. Each result must match eager's; the line per program says
how its ops ran. A user's call must never fail because it was compiled: a FAILED line is
a bug.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mlirfuse  # noqa: E402
from mlirfuse.runtime import engine  # noqa: E402

import models  # noqa: E402
import workloads  # noqa: E402


def main() -> None:
    jit = engine.jit

    def failing(module, *args):
        if "@mlirfuse_k" in str(module):  # kernel functions: mlirfuse_kernel_<n>, mlirfuse_k_<hash>
            raise RuntimeError("the JIT failed (bench/failing_jit.py)")
        return jit(module, *args)

    engine.jit = failing
    os.environ["MLIRFUSE_CPU_CODE_CACHE"] = "0"  # (a library on disk would load instead)
    warnings.simplefilter("ignore")
    cases = [(name, lambda make=make: make()) for name, make in workloads.WORKLOADS.items()]
    cases += [(name, lambda name=name: models.build(name, "small", "cpu", torch.float32))
              for name in models.ARCHITECTURES]
    only = sys.argv[1:]
    failed = 0
    for name, make in cases:
        if only and name not in only:
            continue
        made = make()
        if getattr(made, "train", False):
            continue
        fn, inputs = made
        try:
            with torch.no_grad():
                compiled = mlirfuse.compile(fn)
                got, want = models._output(compiled(*inputs)), models._output(fn(*inputs))
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
            s = compiled.stats
            print(f"{name}: ok, {s.extern_calls} extern calls, {s.eager_ops} eager ops, "
                  f"{s.fallbacks} fallbacks", flush=True)
        except Exception as e:  # noqa: BLE001 - reported, and the run goes on
            failed += 1
            print(f"{name}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
            traceback.print_exc(limit=-6)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
