#!/usr/bin/env bash
# Builds and runs every CUDA test and every GPU benchmark in one go, then the SAM 2 tracking parity
# test (CPU and CUDA against the official goldens) and `rvos track --device cuda` on the bundled
# example scored against the CPU run, and prints a short table last.
#
#   bench/gpu_check.sh                 build here (needs the project's dependencies) and run
#   bench/gpu_check.sh --bundle DIR    build here and pack the CUDA test and benchmark binaries,
#                                      stripped, with the shared libraries they need that a bare
#                                      CUDA machine may lack, into DIR and DIR.tar.xz (e.g.
#                                      build-gpu-bundle: git ignores build-*)
#   bench/gpu_check.sh --run DIR       run a packed DIR (or DIR.tar.xz) on a GPU machine that has
#                                      the CUDA driver, cuBLAS and cuDNN
#
# Environment: BUILD_DIR (default build-gpu), GPU_CHECK_FILTER (a grep -E pattern selecting
# binaries by name), BENCH_ARGS (extra Google Benchmark flags, e.g. --benchmark_min_time=0.2s),
# OUT (a folder that receives the full logs; default: a temporary folder), RVOS_TEST_DATA (the
# tests/data folder; default: this tree's).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=build-and-run
dir=""
case "${1:-}" in
  --bundle) mode=bundle; dir="${2:?--bundle needs a folder}" ;;
  --run) mode=run; dir="${2:?--run needs a folder}" ;;
  "") ;;
  *) echo "usage: bench/gpu_check.sh [--bundle DIR | --run DIR]" >&2; exit 2 ;;
esac
filter="${GPU_CHECK_FILTER:-.}"
export RVOS_TEST_DATA="${RVOS_TEST_DATA:-$PWD/tests/data}"
build_dir="${BUILD_DIR:-build-gpu}"

build() {  # $1: ON or OFF, video files through FFmpeg (a bundle leaves out FFmpeg and its many libraries)
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRVOS_FFMPEG="$1" >/dev/null
  if ! grep -q "RVOS_HAVE_CUDA 1" "$build_dir/generated/rvos/version.h"; then
    echo "gpu_check: this build has no CUDA (no nvcc found at configure time)" >&2
    exit 1
  fi
  mapfile -t targets < <( (ninja -C "$build_dir" -t targets all | sed -n 's/^\(test_cuda_[a-z0-9_]*\|bench_gpu_[a-z0-9_]*\): .*/\1/p';
                          echo test_models_sam2_tracking; echo rvos) | sort -u | grep -E "$filter" || true)
  if [ "${#targets[@]}" -eq 0 ]; then
    echo "gpu_check: no CUDA test or GPU benchmark target matches '$filter'" >&2
    exit 1
  fi
  ninja -C "$build_dir" -j"${JOBS:-$(nproc)}" "${targets[@]}"
}

binaries_in() {  # the built test and benchmark executables, the tracking test and the CLI
  find "$1" -type f -perm -u+x \( -name 'test_cuda_*' -o -name 'bench_gpu_*' -o -name test_models_sam2_tracking \
    -o -name rvos \) | grep -E "$filter" | sort
}

bundle() {
  build OFF
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/lib"
  local bin lib
  for bin in $(binaries_in "$build_dir/tests") $(binaries_in "$build_dir/bench") $(binaries_in "$build_dir/tools"); do
    cp "$bin" "$dir/bin/"
    strip "$dir/bin/$(basename "$bin")"
    # Libraries a bare CUDA machine may lack; glibc, the driver, cuBLAS and cuDNN stay theirs.
    for lib in $(ldd "$bin" | awk '/=> \//{print $3}'); do
      case "$(basename "$lib")" in
        libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libcuda.so*|libcublas*|libcudnn*|libnvrtc*) ;;
        *) cp -n "$lib" "$dir/lib/" ;;
      esac
    done
  done
  cp "$0" "$dir/"
  # The binaries share most of their bytes (the kernels' device code): a dictionary larger than
  # all of them together lets xz store those bytes once.
  tar -C "$(dirname "$dir")" -cf - "$(basename "$dir")" | xz -6 -T2 --lzma2=dict=256MiB >"$dir.tar.xz"
  du -sh "$dir" "$dir.tar.xz"
}

cuda_library_path() {  # folders holding cuBLAS and cuDNN on the GPU machine
  local found=""
  for name in libcublas.so.* libcudnn.so.*; do
    while IFS= read -r f; do
      found="$found:$(dirname "$f")"
    done < <(find / -xdev -name "$name" -not -path '*/proc/*' 2>/dev/null | head -n 3)
  done
  echo "${found#:}"
}

track_vs_cpu() {  # $1: the rvos binary, $2: log folder. Tracks the bundled example on both devices.
  local rvos="$1" out="$2/track" data="${RVOS_TEST_DATA}/sam2_micro"
  rm -rf "$out"
  local device
  for device in cpu cuda; do
    # (set -e does not apply inside a function called from a condition: every step checks itself)
    "$rvos" track --model "$data/checkpoint.pt" --config "$data/config.yaml" --frames "$data/frames" \
      --point 170,80 --point 30,180,0 --device "$device" --out "$out/$device/example" --no-progress ||
      { echo "rvos track --device $device failed"; return 1; }
  done
  "$rvos" eval --dataset davis --pred "$out/cuda" --gt "$out/cpu" --summary-only --no-progress ||
    { echo "rvos eval failed"; return 1; }
  echo "masks of the CUDA run scored against the CPU run: $(grep -o '"J&F[^,]*' "$out/cuda/metrics.json" | head -n 1)"
}

run_all() {  # $1: folder of binaries; prints the summary table last
  local bins=("$@")
  local logs="${OUT:-$(mktemp -d)}"
  mkdir -p "$logs"
  local rows=()
  local failed=0
  for bin in "${bins[@]}"; do
    local name
    name="$(basename "$bin")"
    local log="$logs/$name.log"
    local status
    if [[ "$name" == rvos ]]; then
      track_vs_cpu "$bin" "$logs" >"$log" 2>&1 && status=ran || { status=FAIL; failed=1; }
      rows+=("$(printf '%-32s %-22s %s' "rvos track --device cuda" "$status" "$(tail -n 1 "$log")")")
    elif [[ "$name" == test_* ]]; then
      if "$bin" --no-intro=true --no-version=true >"$log" 2>&1; then status=pass; else status=FAIL; failed=1; fi
      local summary
      summary="$(grep -E '^\[doctest\] test cases' "$log" | sed 's/\[doctest\] test cases: *//' | tr -s ' ')"
      grep -q "skipped: no CUDA device" "$log" && status="$status (skipped: no GPU)"
      rows+=("$(printf '%-32s %-22s %s' "$name" "$status" "$summary")")
    else
      # shellcheck disable=SC2086
      if "$bin" --benchmark_counters_tabular=true ${BENCH_ARGS:-} >"$log" 2>&1; then status=ran; else status=FAIL; failed=1; fi
      rows+=("$(printf '%-32s %-22s %s' "$name" "$status" "$(grep -c '^BM_\|^[A-Za-z].*/' "$log" || true) benchmark lines")")
    fi
  done
  echo
  echo "== benchmark output =="
  for bin in "${bins[@]}"; do
    [[ "$(basename "$bin")" == bench_gpu_* ]] && cat "$logs/$(basename "$bin").log"
  done
  echo
  echo "== gpu_check summary ($(date -u +%F), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || echo 'no nvidia-smi')) =="
  printf '%s\n' "${rows[@]}"
  echo "full logs: $logs"
  return $failed
}

case "$mode" in
  bundle) bundle ;;
  build-and-run)
    build ON
    mapfile -t bins < <(binaries_in "$build_dir/tests"; binaries_in "$build_dir/bench"; binaries_in "$build_dir/tools")
    run_all "${bins[@]}"
    ;;
  run)
    if [ ! -d "$dir" ] && [ -f "$dir.tar.xz" ]; then
      tar -C "$(dirname "$dir")" -xJf "$dir.tar.xz"
    fi
    export LD_LIBRARY_PATH="$(cd "$dir" && pwd)/lib:$(cuda_library_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    mapfile -t bins < <(binaries_in "$dir/bin")
    run_all "${bins[@]}"
    ;;
esac
