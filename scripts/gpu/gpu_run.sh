#!/usr/bin/env bash
# The one GPU script: everything cskd checks and measures on a GPU machine
# with no Node, from the bundle `npm run bundle:gpu` makes (scripts/gpu/bundle.mjs),
# in under 10 minutes. Steps, each under its own time limit, each logged to
# $OUT/<step>.log, with a table of exit statuses and seconds in $OUT/summary.md:
#   rebuild_addon    only where the bundled addon does not load or sees no GPU
#   info             node, nvidia-smi, what the addon finds (devices, cuBLASLt, NCCL)
#   device_tests     test/device on the GPU (scripts/test_device.mjs)
#   gpu_vit_s_train  bench/gpu_train.ts --model vit-s16, with timm's peer
#   gpu_vit_b_train  bench/gpu_train.ts --model vit-b16, with timm's peer
#   nccl_smoke       a one-rank NCCL communicator (scripts/gpu/nccl_smoke.ts)
#   loader_ceiling   bench/loader_ceiling.ts on all cores, against gpu_vit_b_train
#   run_checks       scripts/gpu/run_checks.sh (kernel checks and timings, PyTorch peer)
#
#   OUT=/path bash scripts/gpu/gpu_run.sh [BUNDLE]            on the GPU machine
#   OUT=/path bash scripts/gpu/gpu_run.sh --dry-run [BUNDLE]  on a CPU machine
# BUNDLE defaults to ./cskd-gpu.tar.xz. The dry run takes a bundle made with
# --emu and runs the same steps on the emulated device (build-emu/ in the
# bundle): the device tests, the training bench on a narrow ViT (--tiny), the
# NCCL smoke over the test stand-in libnccl under `mpirun -np 1`; run_checks is
# built there only with --with-checks (nvcc, minutes on 2 cores) and its check
# fails without a GPU. Exit status: 0 when every step passed, else 1.
set -uo pipefail

dry=0
with_checks=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    --with-checks) with_checks=1; shift ;;
    *) break ;;
  esac
done
bundle="${1:-cskd-gpu.tar.xz}"
[ -f "$bundle" ] || { echo "gpu_run: no bundle at $bundle (npm run bundle:gpu)"; exit 2; }
bundle=$(realpath "$bundle")
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
started=$(date +%s)
deadline=$((started + 570)) # the whole run stays under 10 minutes
summary="$OUT/summary.md"
printf '| step | exit status | seconds |\n| --- | ---: | ---: |\n' > "$summary"
failures=0

# run_step NAME LIMIT_S COMMAND...: runs under `timeout`, never past the deadline.
run_step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - $(date +%s)))
  if [ "$left" -lt 15 ]; then
    echo "== $name: skipped, ${left} s left of the run's 570"
    printf '| %s | skipped (time) | 0 |\n' "$name" >> "$summary"
    failures=$((failures + 1))
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit} s)"
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local dt=$(($(date +%s) - t0))
  tail -n 12 "$OUT/$name.log"
  echo "== $name: exit status $rc in ${dt} s"
  printf '| %s | %s | %s |\n' "$name" "$rc$([ "$rc" -eq 124 ] && echo ' (time limit)')" "$dt" >> "$summary"
  [ "$rc" -eq 0 ] || failures=$((failures + 1))
}

work=$(mktemp -d "${TMPDIR:-/tmp}/cskd-gpu.XXXXXX")
tar -xJf "$bundle" -C "$work" || { echo "gpu_run: cannot unpack $bundle"; exit 2; }
cd "$work/cskd" || exit 2
export PATH="$PWD/node-bin:$PATH"
tsx=(node node_modules/tsx/dist/cli.mjs)
echo "gpu_run: bundle unpacked into $PWD in $(($(date +%s) - started)) s; $(node --version); dry run: $dry"

# The pip wheels' cuBLASLt (dlopen'ed by the addon) and NCCL, where present.
wheel_lib() {
  python3 -c "import importlib, os; m = importlib.import_module('$1'); print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null || true
}
cublas=$(wheel_lib nvidia.cublas)
[ -n "$cublas" ] && [ -d "$cublas" ] && export LD_LIBRARY_PATH="$cublas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nccl=$(wheel_lib nvidia.nccl)
[ -n "$nccl" ] && [ -f "$nccl/libnccl.so.2" ] && export CSKD_NCCL="${CSKD_NCCL:-$nccl/libnccl.so.2}"

if [ "$dry" -eq 1 ]; then
  [ -f build-emu/Release/cskd.node ] || { echo "gpu_run --dry-run: the bundle has no emulated addon (make it with --emu)"; exit 2; }
  export CSKD_EMULATED_DEVICE=1
  nccl_smoke=(mpirun --allow-run-as-root --oversubscribe -np 1 -x CSKD_EMULATED_DEVICE -x CSKD_DIST=mpi
    -x CSKD_MPI_MODULE="$PWD/build-emu/Release/cskd_mpi.node" -x CSKD_NCCL="$PWD/build-emu/Release/libnccl_standin.so"
    -x PATH "${tsx[@]}" scripts/gpu/nccl_smoke.ts --elements 65536)
else
  export CSKD_EMULATED_DEVICE=0
  export CSKD_CUDA_ARCHS="${CSKD_CUDA_ARCHS:-90a-real}"
  nccl_smoke=("${tsx[@]}" scripts/gpu/nccl_smoke.ts)
fi

# The addon was built on the CPU machine (npm run build:sm90a). Where it does
# not load or sees no GPU here, it is rebuilt with plain CMake against the
# bundle's Node headers (a binary from one machine's image may not run on
# another's).
if [ "$dry" -eq 0 ] && ! node -e "process.exit(require('./build/Release/cskd.node').deviceCount() > 0 ? 0 : 1)" > "$OUT/addon_load.log" 2>&1; then
  echo "gpu_run: the bundled addon does not load or sees no GPU ($(tail -n 1 "$OUT/addon_load.log")); rebuilding it here"
  run_step rebuild_addon 240 bash -c 'cmake -S . -B build-addon -DCMAKE_BUILD_TYPE=Release -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" &&
    cmake --build build-addon --target cskd -j"$(nproc)" && cp build-addon/cskd.node build/Release/cskd.node'
fi
run_step info 30 bash -c 'nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,memory.total --format=csv; cat BUNDLE.txt;
  node -e "const a = require(process.env.CSKD_EMULATED_DEVICE === \"1\" ? \"./build-emu/Release/cskd.node\" : \"./build/Release/cskd.node\");
    console.log(JSON.stringify({ cuda: a.cudaInfo(), nccl: a.ncclInfo() }, null, 2)); if (a.deviceCount() === 0) process.exit(1);"'
# The emulated device runs them in 2.5-4 minutes on 2 cores; a GPU in seconds.
run_step device_tests "$([ "$dry" -eq 1 ] && echo 420 || echo 200)" node scripts/test_device.mjs
if [ "$dry" -eq 1 ]; then
  run_step gpu_train_dry_run 240 "${tsx[@]}" bench/gpu_train.ts --tiny --json "$OUT/gpu_train_dry_run.json"
else
  run_step gpu_vit_s_train 100 "${tsx[@]}" bench/gpu_train.ts --model vit-s16 --json "$OUT/gpu_vit_s_train.json"
  run_step gpu_vit_b_train 120 "${tsx[@]}" bench/gpu_train.ts --model vit-b16 --json "$OUT/gpu_vit_b_train.json"
fi
run_step nccl_smoke 60 "${nccl_smoke[@]}"
run_step loader_ceiling 60 env UV_THREADPOOL_SIZE="$(nproc)" "${tsx[@]}" bench/loader_ceiling.ts --need "$OUT/gpu_vit_b_train.json"
if [ "$dry" -eq 0 ] || [ "$with_checks" -eq 1 ]; then
  run_step run_checks 300 env OUT="$OUT/run_checks" bash scripts/gpu/run_checks.sh
fi

total=$(($(date +%s) - started))
echo "total ${total} s" >> "$summary"
echo
cat "$summary"
rm -rf "$work"
[ "$failures" -eq 0 ]
