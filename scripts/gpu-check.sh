#!/usr/bin/env bash
# The one command a lent GPU machine runs: the CUDA tests and bench_cuda from build-gpu/, then one summary.
#   scripts/gpu-check.sh --build-only   here (no GPU needed): configure and build build-gpu/ (nvcc, sm_90a)
#   scripts/gpu-check.sh                on the GPU machine: run what build-gpu/ holds (building it first
#                                       only if it is missing); results also go to $OUT (or build-gpu/results)
# Environment: UNIGEN_GPU_BUILD (build folder, default build-gpu), UNIGEN_CUDA_ARCH (default 90a),
# JOBS (build parallelism, default 1), BENCH_ARGS (extra bench_cuda arguments, e.g. --quick).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${UNIGEN_GPU_BUILD:-$ROOT/build-gpu}
ARCH=${UNIGEN_CUDA_ARCH:-90a}
JOBS=${JOBS:-1}
TARGETS=(test_cuda_gemm test_cuda_ops test_cuda_attention test_cuda_runtime bench_cuda)

build() {
  echo "== building CUDA tests and bench_cuda in $BUILD (sm_$ARCH)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DUNIGEN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DUNIGEN_BUILD_EXAMPLES=OFF -DUNIGEN_BUILD_TESTS=ON -DUNIGEN_BUILD_BENCHMARKS=ON || return 1
  cmake --build "$BUILD" --target "${TARGETS[@]}" -j "$JOBS" || return 1
  # The binaries need cuBLAS from the CUDA toolkit; list every other shared library they load, for the record.
  for t in "${TARGETS[@]}"; do
    f=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -1)
    [ -n "$f" ] && echo "$t: $(ldd "$f" | awk '{print $1}' | grep -v -e linux-vdso -e ld-linux | tr '\n' ' ')"
  done
  echo "== build done: carry $(realpath --relative-to="$ROOT" "$BUILD") to the GPU machine"
}

if [ "${1:-}" = "--build-only" ]; then
  build
  exit $?
fi

find_bin() { find "$BUILD" -type f -name "$1" -perm -u+x 2>/dev/null | head -1; }
if [ -z "$(find_bin bench_cuda)" ]; then
  echo "== $BUILD holds no build: building here first"
  build || { echo "gpu-check: build failed (build here with --build-only and carry $BUILD)"; exit 1; }
fi

# cuBLAS: the toolkit's, else the pip wheel's (nvidia-cublas), found once and put on the library path.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -e "$d/libcublas.so.13" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
if ! ldconfig -p 2>/dev/null | grep -q libcublas.so.13 && ! ls ${LD_LIBRARY_PATH//:/ } 2>/dev/null | grep -q libcublas.so.13; then
  w=$(find / -name libcublas.so.13 -not -path '*/proc/*' 2>/dev/null | head -1)
  [ -n "$w" ] && export LD_LIBRARY_PATH="$(dirname "$w"):${LD_LIBRARY_PATH:-}"
fi

RES=${OUT:-$BUILD/results}
mkdir -p "$RES"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
declare -a SUMMARY
status=0
for t in test_cuda_runtime test_cuda_gemm test_cuda_ops test_cuda_attention; do
  bin=$(find_bin "$t")
  if [ -z "$bin" ]; then
    SUMMARY+=("$(printf '%-24s %-8s %s' "$t" MISSING "not built")")
    status=1
    continue
  fi
  echo "== $t"
  start=$(date +%s)
  timeout 150 "$bin" --durations no 2>&1 | tee "$RES/$t.log"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - start ))
  case $rc in
    0) r=PASS ;;
    77) r=SKIP ;;
    124) r=TIMEOUT; status=1 ;;
    *) r="FAIL($rc)"; status=1 ;;
  esac
  line=$(grep -E "^(All tests passed|test cases:)" "$RES/$t.log" | tail -1)
  SUMMARY+=("$(printf '%-24s %-8s %4ss  %s' "$t" "$r" "$secs" "$line")")
done

echo "== bench_cuda"
bench=$(find_bin bench_cuda)
bench_rc=1
if [ -n "$bench" ]; then
  # shellcheck disable=SC2086
  timeout 240 "$bench" --json "$RES/bench_cuda.json" ${BENCH_ARGS:-} 2>&1 | tee "$RES/bench_cuda.log"
  bench_rc=${PIPESTATUS[0]}
fi
[ "$bench_rc" = 0 ] || status=1

echo
echo "================================ gpu-check summary ================================"
printf '%-24s %-8s %5s  %s\n' test result time detail
for l in "${SUMMARY[@]}"; do echo "$l"; done
echo "-----------------------------------------------------------------------------------"
if [ -f "$RES/bench_cuda.log" ]; then
  grep -E "^(device:|kernel |gemm|softmax|layer_norm|attention|[0-9]+ measurements)" "$RES/bench_cuda.log"
fi
echo "bench_cuda exit code $bench_rc; logs and bench_cuda.json in $RES"
exit $status
