#!/usr/bin/env bash
# Times unigen's CPU sgemm at two versions of the headers in one process, alternating them, and prints
# new/old per shape and their geometric mean: on a noisy host the way to tell a kernel change from the
# host's swings (run it twice, and once with OLD_REV equal to the working tree to see the noise).
#   scripts/ab-gemm.sh OLD_REV [-- Google Benchmark flags]
# OLD_REV: a git revision (its include/); the new side is the working tree's include/.
# Shapes: UNIGEN_AB_SHAPES="tb:M:N:K:threads,..." (tb 1: C = A·Bᵀ, B [N,K]); default, the few-rows
# shapes of bench_gemm on 1 thread. UNIGEN_CPU_KERNEL=avx2|generic forces a kernel on both sides.
# Default flags: 5 repetitions of at least 0.15 s each, randomly interleaved. JSON: $OUT (default
# ab-gemm.json in a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "$1" = "--" ]; then
  echo "usage: scripts/ab-gemm.sh OLD_REV [-- benchmark flags]" >&2
  exit 2
fi
old_rev=$1
shift
[ "${1:-}" = "--" ] && shift
git rev-parse --verify --quiet "$old_rev^{commit}" > /dev/null || { echo "ab-gemm: no revision '$old_rev'" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$old_rev" include | tar -x -C "$work"
mkdir -p "$work/old" && mv "$work/include" "$work/old/include"

if [ -z "${UNIGEN_AB_SHAPES:-}" ]; then
  shapes=""
  for tb in 1 0; do
    for m in 1 4 16; do
      for nk in 768:256 3072:768 1024:1024; do shapes="$shapes,$tb:$m:$nk:1"; done
    done
  done
  export UNIGEN_AB_SHAPES=${shapes#,}
fi

flags=(-O3 -DNDEBUG -fopenmp -march=native -std=c++20)
c++ "${flags[@]}" -DUNIGEN_AB_SIDE=old -Dunigen=unigen_old -I"$work/old/include" -c benchmarks/ab/side.cpp \
  -o "$work/old.o" &
old_pid=$!
c++ "${flags[@]}" -DUNIGEN_AB_SIDE=new -Dunigen=unigen_new -Iinclude -c benchmarks/ab/side.cpp -o "$work/new.o" &
new_pid=$!
c++ "${flags[@]}" -c benchmarks/ab/main.cpp -o "$work/main.o"
wait $old_pid
wait $new_pid
c++ -fopenmp "$work/main.o" "$work/old.o" "$work/new.o" -o "$work/ab_gemm" -lbenchmark -lpthread

out=${OUT:-$work/ab-gemm.json}
if [ $# -eq 0 ]; then
  set -- --benchmark_min_time=0.15 --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
fi
"$work/ab_gemm" "$@" --benchmark_format=json --benchmark_out="$out" --benchmark_out_format=json > /dev/null
echo "old: $(git rev-parse --short "$old_rev"), new: the working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- include || echo ', changed'))"
python3 scripts/bench-tables.py ab "$out"
