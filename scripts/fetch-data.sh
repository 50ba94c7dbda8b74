#!/usr/bin/env bash
# Downloads the emoji packages unigen-prepare needs (npm pack) into a cache outside the repository and unpacks them.
# Usage: scripts/fetch-data.sh [CACHE_DIR]   (default: $UNIGEN_DATA_DIR, else ~/.cache/unigen)
# Result: CACHE_DIR/emoji-datasource-google/ (img/google/64/*.png, emoji.json) and CACHE_DIR/openmoji/ (data/openmoji.json).
# Fashion-MNIST comes from the Debian package dataset-fashion-mnist (scripts/setup.sh installs it).
set -euo pipefail

cache="${1:-${UNIGEN_DATA_DIR:-$HOME/.cache/unigen}}"
mkdir -p "$cache/tarballs"
command -v npm >/dev/null 2>&1 || { echo "fetch-data: npm is needed (apt-get install npm)" >&2; exit 1; }

# fetch NAME VERSION DIR: npm pack NAME@VERSION into the cache, then unpack it into CACHE/DIR (skipped when done).
fetch() {
  local name="$1" version="$2" dir="$3" check="$4"
  if [ -e "$cache/$dir/$check" ]; then
    echo "fetch-data: $name@$version already in $cache/$dir"
    return
  fi
  local tgz="$cache/tarballs/$name-$version.tgz"
  if [ ! -s "$tgz" ]; then
    echo "fetch-data: npm pack $name@$version"
    (cd "$cache/tarballs" && npm pack --silent "$name@$version" >/dev/null)
  fi
  [ -s "$tgz" ] || { echo "fetch-data: $tgz missing after npm pack" >&2; exit 1; }
  local tmp="$cache/.$dir.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  tar -xzf "$tgz" -C "$tmp"
  [ -e "$tmp/package/$check" ] || { echo "fetch-data: $name@$version has no $check" >&2; exit 1; }
  rm -rf "$cache/${dir:?}"
  mv "$tmp/package" "$cache/$dir"
  rm -rf "$tmp"
  echo "fetch-data: unpacked $name@$version into $cache/$dir"
}

fetch emoji-datasource-google 16.0.0 emoji-datasource-google emoji.json
fetch openmoji 17.0.0 openmoji data/openmoji.json
echo "fetch-data: done; next: unigen-prepare emoji --data $cache --out OUT_DIR"
