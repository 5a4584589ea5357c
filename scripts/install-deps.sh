#!/usr/bin/env bash
# Installs the Debian packages rvos needs to build, test and benchmark.
# Idempotent: prints nothing and changes nothing when everything is present.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libeigen3-dev          # CPU GEMM
  doctest-dev            # tests
  libbenchmark-dev       # bench/
  libcli11-dev           # the rvos command line
  nlohmann-json3-dev     # JSON
  libyaml-cpp-dev        # SAM 2 config files
  libstb-dev             # JPEG/PNG decoding
  libpng-dev             # palette PNGs (object ids)
  libjpeg-dev            # JPEG decoding as Pillow (libjpeg-turbo)
  libzip-dev             # PyTorch checkpoints, submission zips
  libsentencepiece-dev   # XLM-R tokenizer
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev   # video containers
  libgif-dev             # animated overlays
  clang libclang-rt-14-dev libomp-dev   # fuzzing (scripts/fuzz.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
