#!/usr/bin/env bash
# Configures, builds and runs the whole test suite: the release build (every test), then the
# ASan+UBSan build (tests labelled `sanitize`: loaders, forward pass, kernels).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
jobs="$(nproc)"

cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs" --timeout 900

if [ "${PAGELLM_SKIP_ASAN:-0}" != "1" ]; then
  cmake --preset asan >/dev/null
  # Only the binaries of the tests labelled `sanitize` (loaders, forward pass, kernels, tensor).
  mapfile -t targets < <(ctest --test-dir build/asan -L sanitize -N | awk '/Test +#/ {print $3}')
  cmake --build --preset asan -j "$jobs" --target "${targets[@]}"
  ctest --preset asan -j "$jobs" --timeout 900
fi
