#!/usr/bin/env bash
# Sets up, configures, builds (Release, all cores) and runs the whole test suite with CTest.
#   scripts/test.sh              the normal build, in build/
#   scripts/test.sh --sanitize   the same suite under AddressSanitizer + UBSan, in build-asan/
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh
jobs=$(nproc)
if [ $sanitize -eq 1 ]; then
  dir=build-asan
  # no -Werror here: GCC 12 gives false -Wmaybe-uninitialized warnings inside libstdc++ under ASan;
  # the normal build is the one that holds the code to zero warnings. No CUDA either: the sanitizers
  # are for host code, and the normal build already compiles the CUDA targets.
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DUNIGEN_SANITIZE=ON -DUNIGEN_WERROR=OFF -DUNIGEN_BUILD_BENCHMARKS=OFF
         -DUNIGEN_CUDA=OFF)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  dir=build
  flags=(-DCMAKE_BUILD_TYPE=Release -DUNIGEN_WERROR=ON)
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
ctest --test-dir "$dir" --output-on-failure -j "$jobs"
