#!/usr/bin/env python3
"""Differential test of pagellm's forward pass against ../shared/tools/ref_llama.py (float64 numpy)
on random models from ../shared/tools/make_random_model.py: random shapes (hidden size, layers,
heads, KV heads from MHA to MQA, explicit head_dim, FFN), architectures (llama, qwen2 with q/k/v
bias, qwen3 with q/k norm), tied or separate LM head, RoPE theta and llama3 rope scaling, RMSNorm eps
and norm weights, weight scales; each run from the HF directory and, for llama, from a GGUF of a
random type (f32, f16, bf16, q8_0) whose reference is the GGUF's own weights dequantized
(convert_gguf_llama.py dequant-hf). pagellm computes in float32 (--dtype float32, float32 KV cache)
and returns vLLM's prompt_logprobs and logprobs (top 5 and the chosen/prompt token) for a random
prompt and 6 greedy tokens; every logprob must be within --atol plus 8 times the error of the same
pass in float32 numpy at that position (float32's own rounding, large where a random model is badly
conditioned) of the reference's log-softmax there, every greedy token the reference's best unless the two are within --atol, and the
top 5 the reference's top 5 unless the ranks tie within --atol.

usage: forward_diff_ref_llama.py PAGELLM SHARED_DIR [--cases N] [--seed S] [--atol A]
Run by ctest; a failure prints the model's make_random_model flags, the prompt and the position."""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np


def log_softmax(logits):
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


def random_flags(rng, vocab_gguf):
    arch = rng.choice(["llama", "llama", "qwen2", "qwen3"])
    heads = rng.choice([2, 4, 6, 8])
    kv = rng.choice([k for k in (1, 2, 3, 4, 6, 8) if heads % k == 0])
    flags = ["--arch", arch, "--heads", str(heads), "--kv-heads", str(kv), "--layers", str(rng.randint(1, 3)),
             "--ffn", str(rng.choice([40, 64, 100, 172])), "--vocab", "512", "--vocab-gguf", vocab_gguf,
             "--ctx", "256", "--seed", str(rng.randint(0, 10 ** 6)),
             "--rope-theta", str(rng.choice([10000, 500000, 1000000])), "--rms-eps", str(rng.choice([1e-5, 1e-6])),
             "--norm-std", str(rng.choice([0.0, 0.1, 0.5])), "--std", str(rng.choice([0.02, 0.1, 0.3]))]
    if arch != "llama" or rng.random() < 0.3:  # explicit head_dim, hidden size unrelated to heads x head_dim
        flags += ["--head-dim", str(rng.choice([8, 16, 32, 64])), "--hidden", str(rng.choice([32, 48, 64, 96, 128]))]
    else:
        flags += ["--hidden", str(heads * rng.choice([8, 16, 24]))]
    if rng.random() < 0.4:
        flags.append("--tie")
    if arch == "llama" and rng.random() < 0.4:
        flags += ["--rope-scaling-llama3", rng.choice(["8,1,4,64", "32,1,4,32", "2,1,2,128"])]
    if arch == "qwen2":
        flags += ["--bias-std", str(rng.choice([0.02, 0.5]))]
    gguf_type = rng.choice(["f32", "f16", "bf16", "q8_0"]) if arch == "llama" else None
    return flags, gguf_type


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pagellm")
    p.add_argument("shared")
    p.add_argument("--cases", type=int, default=24)
    p.add_argument("--seed", type=int, default=20261206)
    p.add_argument("--atol", type=float, default=1e-4)
    a = p.parse_args()
    tools = os.path.join(a.shared, "tools")
    sys.path.insert(0, tools)
    import ref_llama  # noqa: E402 (the shared reference, imported from its directory)

    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="pagellm_forward_diff_")
    failures, checked, worst = [], 0, 0.0
    try:
        for case in range(a.cases):
            flags, gguf_type = random_flags(rng, os.path.join(a.shared, "models/stories260K/stories260K.gguf"))
            out = os.path.join(work, f"m{case}")
            make = subprocess.run([sys.executable, os.path.join(tools, "make_random_model.py"), "make", "--out", out,
                                   "--hf-dtype", "f32", "--gguf-types", gguf_type or ""] + flags,
                                  capture_output=True, text=True)
            if make.returncode:
                failures.append(f"case {case}: make_random_model failed ({' '.join(flags)}): {make.stderr[-400:]}")
                continue
            targets = [(os.path.join(out, "hf"), os.path.join(out, "hf"))]
            if gguf_type:
                gguf = next(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".gguf"))
                ref_dir = os.path.join(out, "dequant")
                conv = subprocess.run([sys.executable, os.path.join(tools, "convert_gguf_llama.py"), "dequant-hf", gguf,
                                       os.path.join(out, "hf"), ref_dir], capture_output=True, text=True)
                if conv.returncode:
                    failures.append(f"case {case}: dequant-hf failed: {conv.stderr[-400:]}")
                    continue
                targets.append((gguf, ref_dir))
            prompt = [1] + [rng.randint(3, 511) for _ in range(rng.randint(1, 40))]
            for model, ref_dir in targets:
                what = f"case {case} {os.path.basename(model)} ({' '.join(flags)}), prompt {prompt}"
                line = {"prompt_token_ids": prompt, "sampling_params": {
                    "temperature": 0, "max_tokens": 6, "ignore_eos": True, "logprobs": 5, "prompt_logprobs": 5}}
                prompts = os.path.join(work, "prompts.jsonl")
                with open(prompts, "w") as f:
                    f.write(json.dumps(line) + "\n")
                r = subprocess.run([a.pagellm, "generate", "--model", model, "--prompts-file", prompts, "--dtype", "float32",
                                    "--kv-cache-dtype", "float32"], capture_output=True, text=True)
                if r.returncode:
                    failures.append(f"{what}: pagellm failed: {r.stderr[-400:]}")
                    continue
                result = json.loads(r.stdout)
                generated = result["outputs"][0]["token_ids"]
                cfg, weights = ref_llama.load(ref_dir)
                ids = prompt + generated
                ref = log_softmax(ref_llama.forward(cfg, weights, ids))
                # The same pass in float32 numpy: how far float32 arithmetic itself strays at each
                # position (badly conditioned positions of these random models reach 2e-4).
                weights32 = {k: v.astype(np.float32) for k, v in weights.items()}
                noise = np.abs(log_softmax(ref_llama.forward(cfg, weights32, ids).astype(np.float64)) - ref).max(-1)
                # Position i's entry scores token i+1 (prompt) or generated token j.
                positions = [(i, result["prompt_logprobs"][i + 1], prompt[i + 1]) for i in range(len(prompt) - 1)]
                positions += [(len(prompt) - 1 + j, lp, generated[j])
                              for j, lp in enumerate(result["outputs"][0]["logprobs"])]
                for pos, entry, token in positions:
                    want = ref[pos]
                    tol = a.atol + 8 * float(noise[pos])
                    order = np.argsort(-want, kind="stable")
                    for key, lp in entry.items():
                        tid = int(key)
                        err = abs(lp["logprob"] - want[tid])
                        worst = max(worst, err / tol)
                        checked += 1
                        if err > tol:
                            failures.append(f"{what}: position {pos} token {tid}: logprob {lp['logprob']:.7f}, "
                                            f"reference {want[tid]:.7f}")
                        # rank: 1 + tokens the reference scores above this one by more than atol ... at most
                        # 1 + tokens it scores above it at all.
                        above = int((want > want[tid] + tol).sum())
                        above_or_tied = int((want > want[tid] - tol).sum()) - 1
                        if not above + 1 <= lp["rank"] <= above_or_tied + 1:
                            failures.append(f"{what}: position {pos} token {tid}: rank {lp['rank']}, reference "
                                            f"{above + 1}..{above_or_tied + 1}")
                    top = [int(k) for k, lp in entry.items() if lp["rank"] <= 5]
                    for tid in order[:5]:
                        if tid not in [int(k) for k in entry] and want[tid] > want[order[4]] + tol:
                            failures.append(f"{what}: position {pos}: the reference's top-5 token {tid} is missing "
                                            f"(ours {top})")
                    if pos >= len(prompt) - 1 and want[order[0]] - want[token] > tol:
                        failures.append(f"{what}: position {pos}: greedy token {token}, reference best {order[0]} "
                                        f"by {want[order[0]] - want[token]:.3g}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.cases} models, {checked} logprobs checked, largest error {worst:.3g} of its tolerance, "
          f"{len(failures)} failures")
    for f in failures[:8]:
        print(f)
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
