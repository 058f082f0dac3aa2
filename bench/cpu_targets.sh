#!/usr/bin/env bash
# The CPU performance issue's target table on this machine, in one run: `pagellm bench latency`
# (prefill 512 tokens, decode one stream) on the bench-110m and bench-0.5b BF16 GGUFs, each next to
# its roofline limit, then `pagellm serve` under ../shared/tools/bench_serving.py (128 in / 128 out)
# at concurrency 16 (both models) and 32 (0.5B) with the server's peak RSS. See docs/perf/cpu_targets.md.
#
#   bash bench/cpu_targets.sh [--models-dir /tmp/models] [--dtype auto] [--only latency|serving]
#                             [--batched-tokens N] [--pagellm build/release/pagellm]
#
# The models are generated on first use with ../shared/tools/make_random_model.py.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$root/../shared"
models="/tmp/models"
pagellm="$root/build/release/pagellm"
dtype="auto"
only=""
batched_tokens=""  # empty: serve's default (512)
while (($#)); do
  case "$1" in
    --models-dir) models="$2"; shift 2 ;;
    --dtype) dtype="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --batched-tokens) batched_tokens="$2"; shift 2 ;;
    --pagellm) pagellm="$2"; shift 2 ;;
    *) echo "cpu_targets.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
limits="$models/machine_limits.json"

for preset in bench-110m bench-0.5b; do
  if [ ! -f "$models/$preset/$preset-bf16.gguf" ]; then
    echo "making $preset in $models" >&2
    "$py" "$shared/tools/make_random_model.py" make --preset "$preset" --out "$models/$preset" --gguf-types bf16 >&2
  fi
done
if [ ! -f "$limits" ] && ! grep -qw avx512f /proc/cpuinfo; then
  echo "no AVX-512 on this CPU, so no machine_limits: decode is compared with the in-process read only" >&2
elif [ ! -f "$limits" ]; then
  echo "measuring machine limits into $limits" >&2
  # machine_limits is built with -march=native from AVX-512 intrinsics: on a CPU without AVX-512 it
  # does not compile, and the rows below are printed without their bandwidth limits.
  bash "$shared/tools/machine_limits/run.sh" --json "$limits" >&2 ||
    { rm -f "$limits"; echo "machine_limits did not run on this CPU (it needs AVX-512): no bandwidth limits" >&2; }
fi

# The one-stream decode with a plain read of the weights after each step (docs/cli.md): the step
# against what a read loop gets from this host in the same minutes, on any CPU.
weight_read_line() {
  "$pagellm" bench latency -m "$1" --dtype "$dtype" --input-len 16 --output-len 128 --batch-size 1 \
    --max-num-seqs 1 --num-iters 3 --num-iters-warmup 1 --weight-read 2>/dev/null | grep -E '^(Decode|Weight read):' |
    tr '\n' ' ' | awk '{
      for (i = 1; i <= NF; i++) { if ($i == "Decode:") d = $(i + 1); if ($i == "GB/s,") r = $(i - 1); if ($(i + 1) == "%" && $(i + 4) == "read") s = $i }
      sub(/^\(/, "", r); sub(/^\(/, "", s)
      printf "            with --weight-read: decode %s tok/s; the weights read at %s GB/s in the same minutes; a step is %s%% of that read rate\n", d, r, s }'
}

# The projections of one decode step alone (bench_kernels' BM_ProjectionChainM1, stored as a
# one-stream run stores them), against a plain read of their bytes in the same iterations: in one
# pool run, and a pool run per weight (the barriers' share). The rest of a step's gap to the read
# is outside the projections.
chain_line() {
  "$root/build/release/bench/bench_kernels" --benchmark_filter="BM_ProjectionChainM1/$1/1/" \
    --benchmark_min_time=2 2>/dev/null | awk '/^BM_ProjectionChainM1/ {
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^GB\/s=/ && g == "") { split($i, f, "="); g = f[2] }
        if ($i == "per-call" && $(i + 1) ~ /^read=/) { split($(i + 1), f, "="); pc = f[2] }
        if ($i == "%" && $(i + 1) == "of" && $(i + 2) ~ /^read=/) { split($(i + 2), f, "="); r = f[2] }
        if ($i == "projections") lbl = $(i + 2) " " $(i + 3)
      }
      printf "            projections alone (%s): %.1f GB/s = %.1f%% of a plain read of their bytes, %.1f%% of one read per weight\n", lbl, g, r, pc }'
}

echo "pagellm $(git -C "$root" rev-parse --short HEAD), --dtype $dtype, load $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$only" != "serving" ]; then
  for preset in bench-110m bench-0.5b; do
    gguf="$models/$preset/$preset-bf16.gguf"
    chain_index=$([ "$preset" = bench-110m ] && echo 0 || echo 1)
    if [ ! -f "$limits" ]; then
      prefill=$("$pagellm" bench latency -m "$gguf" --dtype "$dtype" --input-len 512 --output-len 1 --batch-size 1 \
        --num-iters 3 --num-iters-warmup 1 2>/dev/null | awk '/^Prefill:/ {print $2}')
      decode=$("$pagellm" bench latency -m "$gguf" --dtype "$dtype" --input-len 16 --output-len 128 --batch-size 1 \
        --max-num-seqs 1 --num-iters 3 --num-iters-warmup 1 2>/dev/null | awk '/^Decode:/ {print $2}')
      printf "%-11s prefill 512: %8.1f tok/s   decode 1 stream: %6.1f tok/s (no machine_limits on this CPU)\n" \
        "$preset" "$prefill" "$decode"
      weight_read_line "$gguf"
      chain_line "$chain_index"
      continue
    fi
    limit=$("$py" "$shared/tools/roofline.py" --manifest "$models/$preset/MANIFEST.json" --limits "$limits" \
      --dtype bf16 --threads 2 | awk '$1 == "1" {print $NF}')
    # The shared host's bandwidth drifts (best 2-thread read seen here from 53 to 68 GB/s within an
    # hour): measure it again right before the decode run and give the limit at that bandwidth too.
    bw_now=$(bash "$shared/tools/machine_limits/run.sh" --threads 2 --flop-ms 10 2>/dev/null |
      awk '$1 == "read" && $2 == "threads=2" {print $4}')
    limit_now=$("$py" "$shared/tools/roofline.py" --manifest "$models/$preset/MANIFEST.json" --limits "$limits" \
      --dtype bf16 --threads 2 --bw "$bw_now" | awk '$1 == "1" {print $NF}')
    prefill=$("$pagellm" bench latency -m "$gguf" --dtype "$dtype" --input-len 512 --output-len 1 --batch-size 1 \
      --num-iters 3 --num-iters-warmup 1 2>/dev/null | awk '/^Prefill:/ {print $2}')
    # One stream: --max-num-seqs 1, so --weight-coding auto stores the BF16 weights coded (19 %
    # fewer bytes a step, docs/perf/kernels.md); the raw weights' figure follows for comparison.
    decode=$("$pagellm" bench latency -m "$gguf" --dtype "$dtype" --input-len 16 --output-len 128 --batch-size 1 \
      --max-num-seqs 1 --num-iters 3 --num-iters-warmup 1 2>/dev/null | awk '/^Decode:/ {print $2}')
    decode_raw=$("$pagellm" bench latency -m "$gguf" --dtype "$dtype" --input-len 16 --output-len 128 --batch-size 1 \
      --max-num-seqs 1 --weight-coding off --num-iters 3 --num-iters-warmup 1 2>/dev/null | awk '/^Decode:/ {print $2}')
    awk -v p="$preset" -v pf="$prefill" -v d="$decode" -v dr="$decode_raw" -v l="$limit" -v ln="$limit_now" -v bw="$bw_now" 'BEGIN {
      printf "%-11s prefill 512: %8.1f tok/s   decode 1 stream: %6.1f tok/s = %5.1f%% of the %.1f tok/s bandwidth limit", p, pf, d, 100 * d / l, l
      printf " (%5.1f%% of %.1f tok/s at the %.1f GB/s read just before); raw weights %.1f tok/s\n", 100 * d / ln, ln, bw, dr }'
    weight_read_line "$gguf"
    chain_line "$chain_index"
    # Paired rounds: machine_limits' read, then one decode run, three times; each decode against the
    # limit at the read just before it, and the median of the three ratios (one read and one decode
    # minutes apart can differ by a third on this kind of shared host).
    pairs=""
    for _ in 1 2 3; do
      bw_r=$(bash "$shared/tools/machine_limits/run.sh" --threads 2 --flop-ms 10 2>/dev/null |
        awk '$1 == "read" && $2 == "threads=2" {print $4}')
      limit_r=$("$py" "$shared/tools/roofline.py" --manifest "$models/$preset/MANIFEST.json" --limits "$limits" \
        --dtype bf16 --threads 2 --bw "$bw_r" | awk '$1 == "1" {print $NF}')
      decode_r=$("$pagellm" bench latency -m "$gguf" --dtype "$dtype" --input-len 16 --output-len 128 --batch-size 1 \
        --max-num-seqs 1 --num-iters 1 --num-iters-warmup 1 2>/dev/null | awk '/^Decode:/ {print $2}')
      pairs="$pairs $decode_r:$limit_r:$bw_r"
    done
    echo "$pairs" | awk '{
      printf "            paired rounds (decode tok/s of the limit at the read just before):"
      for (i = 1; i <= NF; i++) { split($i, f, ":"); r[i] = 100 * f[1] / f[2]; printf " %.1f of %.1f at %.1f GB/s (%.1f%%)%s", f[1], f[2], f[3], r[i], i < NF ? ";" : "" }
      for (i = 2; i <= NF; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
      printf "; median %.1f%%\n", r[int((NF + 1) / 2)] }'
  done
fi

if [ "$only" != "latency" ]; then
  port=18631
  for spec in "bench-110m 16 32" "bench-0.5b 16 32" "bench-0.5b 32 64"; do
    read -r preset conc prompts <<<"$spec"
    "$pagellm" serve "$models/$preset/$preset-bf16.gguf" --port "$port" --served-model-name m --max-model-len 1024 \
      --kv-cache-memory 2GiB --dtype "$dtype" ${batched_tokens:+--max-num-batched-tokens "$batched_tokens"} --disable-log-requests \
      --log-level warning >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    out=$("$py" "$shared/tools/bench_serving.py" --base-url "http://127.0.0.1:$port" --model m \
      --num-prompts "$prompts" --concurrency "$conc" --input-len 128 --output-len 128 --prompt-mode ids \
      --id-range 3:31999 --monitor-pid "$pid" 2>&1)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$preset concurrency $conc ($prompts requests):"
    echo "$out" | grep -E "output token throughput|TTFT|TPOT|ITL|RSS|failed" | sed 's/^/    /'
  done
fi
