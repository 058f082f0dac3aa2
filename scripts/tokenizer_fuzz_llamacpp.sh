#!/usr/bin/env bash
# Differential fuzzing of pagellm's GGUF tokenizers against llama.cpp (node-llama-cpp, installed
# into --peer-dir on first use as bench/peer_llamacpp.sh does), over every vocabulary in
# ../shared/tokenizers/llama.cpp-vocab. Not part of the test suite (node-llama-cpp is ~730 MB); the
# differences it found are pinned in tests/tokenizer/test_llamacpp_vectors.cpp. See docs/tokenizers.md.
#
#   bash scripts/tokenizer_fuzz_llamacpp.sh [--cases 1000] [--seed 1] [--only bert]
#                                           [--pagellm build/release/pagellm] [--peer-dir build/peer_llamacpp]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer_dir="$root/build/peer_llamacpp"
pagellm="$root/build/release/pagellm"
vocab_dir="$root/../shared/tokenizers/llama.cpp-vocab"
args=()
while (($#)); do
  case "$1" in
    --peer-dir) peer_dir="$2"; shift 2 ;;
    --pagellm) pagellm="$2"; shift 2 ;;
    --vocab-dir) vocab_dir="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

bash "$root/bench/peer_llamacpp/install.sh" "$peer_dir"
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
# llama.cpp logs a failed full-model load before it loads the vocabulary alone; keep only our lines.
node "$root/scripts/tokenizer_fuzz_llamacpp.mjs" --peer-dir "$peer_dir" --pagellm "$pagellm" \
  --vocab-dir "$vocab_dir" "${args[@]}" 2> >(grep -v '^\[node-llama-cpp\]' >&2)
