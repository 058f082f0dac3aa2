#!/usr/bin/env bash
# llama.cpp (through the npm package node-llama-cpp, prebuilt) and `pagellm bench latency` on the
# same GGUF and the same shapes, printed side by side with the ratio. See docs/perf/peer_llamacpp.md.
#
#   bash bench/peer_llamacpp.sh MODEL.gguf [--threads 2] [--reps 3] [--batch 16,32]
#                               [--pagellm build/release/pagellm] [--peer-dir build/peer_llamacpp]
#                               [--dtype auto|float32|bfloat16|int8]   (pagellm's --dtype)
#
# node-llama-cpp is installed (npm ci, the version pinned in bench/peer_llamacpp/package-lock.json)
# into --peer-dir on first use; its benchmark is ../shared/tools/peer_llamacpp/bench.mjs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer_dir="$root/build/peer_llamacpp"
args=()
while (($#)); do
  case "$1" in
    --peer-dir) peer_dir="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

bash "$root/bench/peer_llamacpp/install.sh" "$peer_dir"

export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
exec node "$root/bench/peer_llamacpp.mjs" --root "$root" --peer-dir "$peer_dir" "${args[@]}"
