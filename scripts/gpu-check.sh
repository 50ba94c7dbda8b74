#!/usr/bin/env bash
# The one command a lent GPU machine runs: the CUDA tests and bench_cuda from build-gpu/, then one summary.
#   scripts/gpu-check.sh --build-only   here (no GPU needed): configure and build build-gpu/ (nvcc, sm_90a)
#   scripts/gpu-check.sh                on the GPU machine: run what build-gpu/ holds (building it first
#                                       only if it is missing); results also go to $OUT (or build-gpu/results)
# Environment: UNIGEN_GPU_BUILD (build folder, default build-gpu), UNIGEN_CUDA_ARCH (default 90a),
# JOBS (build parallelism, default 1), BENCH_ARGS (extra bench_cuda arguments, e.g. --quick),
# TEST_TIMEOUT (s per test binary, default 150), BENCH_TIMEOUT (s, default 240),
# SANITIZE=1 (run the first 3 failing test cases again under compute-sanitizer, if the machine has it).
# A test binary that fails is run again one test case per process with UNIGEN_CUDA_SYNC=1, so that a
# fault in one case neither hides the others nor is reported by a later op.
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
  # OpenMP's runtime, carried in case the GPU machine's image lacks it (used there only if missing).
  mkdir -p "$BUILD/hostlib"
  cp -L "$(g++ -print-file-name=libgomp.so.1)" "$BUILD/hostlib/" || return 1
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

# A binary built elsewhere may miss a shared library here: use the carried copy, and name what is still missing.
missing() { for t in "${TARGETS[@]}"; do f=$(find_bin "$t"); [ -n "$f" ] && ldd "$f" | grep "not found" | sed "s/^/$t: missing library: /"; done; }
if [ -n "$(missing)" ] && [ -d "$BUILD/hostlib" ]; then
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$BUILD/hostlib"
fi
missing

# Logs go to $RES; with $OUT set (the device tool), they are also packed into $OUT/gpu-check-logs.tar.gz
# after every step, so a run stopped at its time limit still returns what it did.
RES=$BUILD/results
rm -rf "$RES"
mkdir -p "$RES"
pack() { [ -n "${OUT:-}" ] && tar -C "$RES" -czf "$OUT/gpu-check-logs.tar.gz" . 2>/dev/null; true; }
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-240}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
declare -a SUMMARY
status=0
sanitized=0  # compute-sanitizer runs so far (at most 3)
result_of() {
  case $1 in
    0) echo PASS ;;
    77) echo SKIP ;;
    124) echo TIMEOUT ;;
    *) echo "FAIL($1)" ;;
  esac
}
for t in test_cuda_runtime test_cuda_gemm test_cuda_ops test_cuda_attention; do
  bin=$(find_bin "$t")
  if [ -z "$bin" ]; then
    SUMMARY+=("$(printf '%-24s %-8s %s' "$t" MISSING "not built")")
    status=1
    continue
  fi
  echo "== $t"
  start=$(date +%s)
  timeout "$TEST_TIMEOUT" "$bin" --durations yes 2>&1 | tee "$RES/$t.log"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - start ))
  r=$(result_of "$rc")
  line=$(grep -E "^(All tests passed|test cases:)" "$RES/$t.log" | tail -1)
  SUMMARY+=("$(printf '%-24s %-8s %4ss  %s' "$t" "$r" "$secs" "$line")")
  pack
  case $rc in 0|77) continue ;; esac
  status=1
  # Each test case on its own, synchronising after every launch.
  mapfile -t cases < <("$bin" --list-test-names-only 2>/dev/null | grep -v -e '^$' -e 'CUDA device' -e 'test case')
  i=0
  for c in "${cases[@]}"; do
    i=$((i + 1))
    log="$RES/$t.case$i.log"
    UNIGEN_CUDA_SYNC=1 timeout "$TEST_TIMEOUT" "$bin" "$c" > "$log" 2>&1
    crc=$?
    SUMMARY+=("$(printf '  %-60.60s %s' "$c" "$(result_of "$crc")")")
    if [ "$crc" != 0 ]; then
      echo "---- $t: $c (UNIGEN_CUDA_SYNC=1): $(result_of "$crc")"
      grep -v -e '^~~~' -e '^\.\.\.' -e '^-----' -e '^$' "$log" | head -40
      if [ "${SANITIZE:-0}" = 1 ] && [ "$sanitized" -lt 3 ] && command -v compute-sanitizer > /dev/null; then
        sanitized=$((sanitized + 1))
        timeout 90 compute-sanitizer --print-limit 5 "$bin" "$c" > "$RES/$t.case$i.sanitizer.log" 2>&1
        echo "---- compute-sanitizer (memcheck), first lines:"
        grep -E "=========" "$RES/$t.case$i.sanitizer.log" | head -20
      fi
    fi
    pack
  done
done

echo "== bench_cuda"
bench=$(find_bin bench_cuda)
bench_rc=1
if [ -n "$bench" ]; then
  # shellcheck disable=SC2086
  timeout "$BENCH_TIMEOUT" "$bench" --json "$RES/bench_cuda.json" ${BENCH_ARGS:-} 2>&1 | tee "$RES/bench_cuda.log"
  bench_rc=${PIPESTATUS[0]}
fi
[ "$bench_rc" = 0 ] || status=1
[ -n "${OUT:-}" ] && [ -f "$RES/bench_cuda.json" ] && cp "$RES/bench_cuda.json" "$OUT/"
pack

echo
echo "================================ gpu-check summary ================================"
printf '%-24s %-8s %5s  %s\n' test result time detail
for l in "${SUMMARY[@]}"; do echo "$l"; done
echo "-----------------------------------------------------------------------------------"
if [ -f "$RES/bench_cuda.log" ]; then
  grep -E "^(device:|kernel |gemm|softmax|layer_norm|attention|[0-9]+ measurements)" "$RES/bench_cuda.log"
fi
echo "bench_cuda exit code $bench_rc; logs and bench_cuda.json in $RES${OUT:+ (packed into \$OUT/gpu-check-logs.tar.gz)}"
exit $status
