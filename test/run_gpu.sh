#!/bin/bash
# Runs the GPU test suites on the device machine (../shared/device/README.md): after
# .devpack/a was unpacked to /tmp/site by a first call, a second call carrying
# .devpack/b runs this. Logs go to $OUT (or /tmp/mlirfuse-gpu-logs).
OUT=${OUT:-/tmp/mlirfuse-gpu-logs}
mkdir -p "$OUT" /tmp/llvm
[ -x /tmp/llvm/bin/llc ] || tar xJf .devpack/b/llvm.tar.xz -C /tmp/llvm
export PYTHONPATH=/tmp/site LLC=/tmp/llvm/bin/llc MLIRFUSE_CACHE_DIR=${MLIRFUSE_CACHE_DIR:-/tmp/mlirfuse-cache}
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$OUT/pip.log" 2>&1 || tail -5 "$OUT/pip.log"
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
echo "== test_gpu.py, test_gpu_stages.py, test_gpu_constants.py, test_free_gpu.py, test_gpu_dynamic.py"
GPU_FILES="test/python/test_gpu.py test/python/test_gpu_stages.py test/python/test_gpu_constants.py test/python/test_free_gpu.py test/python/test_gpu_dynamic.py"
timeout ${GPU_TIMEOUT:-400} python3 -m pytest -o addopts= -q -rfE -p no:cacheprovider $GPU_FILES > "$OUT/gpu.log" 2>&1
tail -${TAIL:-25} "$OUT/gpu.log"
if [ -z "$ONLY_GPU" ]; then
  echo "== the numerics suite on CUDA tensors, one process per file (a crash costs one file), ${JOBS:-6} at a time"
  suite() {
    f=$1; log="$OUT/suite-$(basename $f .py).log"
    MLIRFUSE_TEST_DEVICE=cuda timeout ${SUITE_TIMEOUT:-300} python3 -m pytest -o addopts= -q -rfE \
      -p no:cacheprovider "$f" > "$log" 2>&1
    echo "$f: exit $? $(tail -1 "$log" | cut -c1-120)" > "$log.status"
  }
  for f in ${SUITE_FILES:-test/python/test_*.py}; do
    case " $GPU_FILES " in *" $f "*) continue;; esac
    while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-6}" ]; do wait -n; done
    suite "$f" &
  done
  wait
  for f in "$OUT"/suite-*.log; do
    cat "$f.status"; grep -E "^(FAILED|ERROR)" "$f" | cut -c1-160 | head -8
  done
fi
if [ -n "$BENCH" ]; then
  echo "== bench/gpu.py, one process per workload (a crash costs one row)"
  rm -f "$OUT/bench.jsonl"
  for name in ${BENCH_NAMES:-gelu_bias swish mish hard_swish layer_norm rmsnorm softmax scaleshift_relu lstm_cell mlp transformer}; do
    timeout ${BENCH_TIMEOUT:-120} python3 bench/gpu.py --only $name --append "$OUT/bench.jsonl" >> "$OUT/bench.log" 2>&1 \
      || echo "$name: exit $?" | tee -a "$OUT/bench.log"
  done
  python3 bench/gpu.py --table "$OUT/bench.jsonl"
fi
