#!/usr/bin/env bash
# Sets up, builds the demo and runs it: a small model trained with unigen's autograd, printing its loss.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target unigen-demo
./build/examples/unigen-demo "$@"
