#!/usr/bin/env bash
# Builds the CUDA backend and its check program with plain CMake (no Node),
# runs the checks and timings, then times the same work in PyTorch.
# Logs go to $OUT (or ./gpu-logs). Exit status: that of cskd_cuda_check.
#   scripts/gpu/run_checks.sh [--quick]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/gpu-logs}"
mkdir -p "$OUT"
export CSKD_CUDA_ARCHS="${CSKD_CUDA_ARCHS:-90a-real}"

# cuBLASLt from the pip wheel nvidia-cublas, where present (dlopen'ed at run time).
CUBLAS_DIR=$(python3 -c "import nvidia.cublas as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null || true)
if [ -n "$CUBLAS_DIR" ] && [ -d "$CUBLAS_DIR" ]; then
  export LD_LIBRARY_PATH="$CUBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv > "$OUT/gpu.txt" 2>&1 || true
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$CSKD_CUDA_ARCHS" \
  > "$OUT/build.log" 2>&1 &&
  cmake --build build-gpu --target cskd_cuda_check -j"$(nproc)" >> "$OUT/build.log" 2>&1
if [ $? -ne 0 ]; then
  tail -40 "$OUT/build.log"
  echo "build failed"
  exit 2
fi
echo "build ok"

./build-gpu/cskd_cuda_check "$@" 2>&1 | tee "$OUT/check.log"
status=${PIPESTATUS[0]}
echo "cskd_cuda_check exit status: $status"

if [ "${1:-}" != "--quick" ]; then
  PYTHONUNBUFFERED=1 python3 scripts/gpu/torch_peer.py --cskd-log "$OUT/check.log" \
    --json "$OUT/peer.json" 2>&1 | tee "$OUT/peer.log"
fi
exit "$status"
