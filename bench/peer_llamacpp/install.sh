#!/usr/bin/env bash
# Installs node-llama-cpp (npm ci, the version pinned in bench/peer_llamacpp/package-lock.json) into
# PEER_DIR unless that exact lock is there already. Used by bench/peer_llamacpp.sh and
# scripts/tokenizer_fuzz_llamacpp.sh.
#
#   bash bench/peer_llamacpp/install.sh PEER_DIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peer_dir="$1"
if [ ! -f "$peer_dir/node_modules/node-llama-cpp/package.json" ] ||
   ! cmp -s "$here/package-lock.json" "$peer_dir/package-lock.json"; then
  echo "peer_llamacpp: installing node-llama-cpp into $peer_dir (npm ci, ~30 s)" >&2
  mkdir -p "$peer_dir"
  cp "$here/package.json" "$here/package-lock.json" "$peer_dir/"
  # The prebuilt binaries come with the npm package; its postinstall must not try to fetch or build llama.cpp.
  (cd "$peer_dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error >&2)
fi
