#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each for a bounded time.
#   scripts/fuzz.sh [SECONDS]      default 30 s per target; corpora are kept in build-fuzz/corpus/<target>
# Seeds are written by fuzz/make_seeds (small valid inputs); a crash leaves its input in build-fuzz/ and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
cxx="${CXX_FUZZ:-clang++}"
command -v "$cxx" >/dev/null 2>&1 || { echo "fuzz: $cxx not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
jobs="${JOBS:-2}"

dir=build-fuzz
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUNIGEN_BUILD_FUZZERS=ON \
  -DUNIGEN_BUILD_TESTS=OFF -DUNIGEN_BUILD_EXAMPLES=OFF -DUNIGEN_BUILD_BENCHMARKS=OFF -DUNIGEN_NATIVE=OFF >/dev/null
targets=(fuzz_coco fuzz_split fuzz_captions fuzz_image fuzz_idx)
cmake --build "$dir" -j "$jobs" --target "${targets[@]}" make_seeds

# seed corpora: one small valid input per format (plus the caption fixture and a gzip IDX)
corpus="$dir/corpus"
"$dir/fuzz/make_seeds" "$corpus"
[ -f ../shared/fixtures/caption_metrics_golden.json ] && cp ../shared/fixtures/caption_metrics_golden.json "$corpus/fuzz_captions/"
gzip -c "$corpus/fuzz_idx/seed.idx" >"$corpus/fuzz_idx/seed.idx.gz"

status=0
for t in "${targets[@]}"; do
  echo "fuzz: $t for ${seconds}s"
  if ! (cd "$dir" && ./fuzz/"$t" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
      -print_final_stats=1 "corpus/$t" 2>"$t.log"); then
    echo "fuzz: $t FAILED, see $dir/$t.log" >&2
    tail -40 "$dir/$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$dir/$t.log" | tail -2 || true
  fi
done
exit $status
