#!/usr/bin/env bash
# Installs every Debian package unigen needs to build, test, benchmark and prepare data.
# Idempotent: silent when everything is already installed.
set -euo pipefail

packages=(
  g++ cmake make pkg-config          # toolchain
  libeigen3-dev                      # tests (reference products), Fréchet distance
  catch2                             # tests (Catch2 v2)
  libbenchmark-dev                   # benchmarks
  nlohmann-json3-dev                 # COCO json, configs
  libstb-dev                         # image load/resize/write
  libopenblas-dev libdnnl-dev        # benchmark peers
  dataset-fashion-mnist              # Fashion-MNIST (IDX files)
  clang libclang-rt-14-dev libomp-dev  # libFuzzer targets (clang, its sanitizer runtime and OpenMP)
  nodejs npm                         # npm pack for the emoji packages (scripts/fetch-data.sh)
  g++-aarch64-linux-gnu qemu-user    # test_vec_math's NEON path: cross-compiled, run under qemu
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    # a program that is already on the PATH (e.g. a non-Debian node or cmake) counts as installed
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm | cmake | g++ | make | clang) command -v "$p" >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
