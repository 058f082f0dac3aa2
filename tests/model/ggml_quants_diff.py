#!/usr/bin/env python3
"""GGUF models in llama.cpp's low-bit formats (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL,
IQ4_XS) against a NumPy decoding of the same bytes.

A random Llama (hidden 256, so every matrix row holds whole 256-value super-blocks) is written once
per format with random block bytes in every matrix (scales set so the weights stay small). NumPy
decodes those bytes as ggml-common.h lays the blocks out and re-quantizes them to Q8_0 as llama.cpp's
quantize_row_q8_0 does; that is written as a second, Q8_0, GGUF. pagellm loads the first by decoding
and re-quantizing it itself, so the two must give the same weights: the prompt logprobs and the greedy
continuation of both runs must be equal to the last bit. A wrong bit position, nibble order, scale
unpacking or rounding changes them.

usage: ggml_quants_diff.py PAGELLM SHARED_DIR [--keep DIR]   (run by ctest)
--keep writes the models into DIR and leaves them there (to run them through llama.cpp too)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

# ggml type id, values per block, bytes per block, offsets of the f16 fields to set, their typical size
FORMATS = {
    "q4_0": (2, 32, 18, [(0, 0.01)]),
    "q4_1": (3, 32, 20, [(0, 0.01), (2, -0.075)]),
    "q5_0": (6, 32, 22, [(0, 0.005)]),
    "q5_1": (7, 32, 24, [(0, 0.005), (2, -0.078)]),
    "q4_k": (12, 256, 144, [(0, 0.0002), (2, 0.0015)]),
    "q5_k": (13, 256, 176, [(0, 0.0001), (2, 0.0015)]),
    "q6_k": (14, 256, 210, [(208, 0.00003)]),
    "q2_k": (10, 256, 84, [(80, 0.003), (82, 0.0045)]),
    "q3_k": (11, 256, 110, [(108, 0.0005)]),
    "iq4_nl": (20, 32, 18, [(0, 0.0003)]),
    "iq4_xs": (23, 256, 136, [(0, 0.00001)]),
}

IQ4_LEVELS = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.int32)


def f16(raw, offset):
    return raw[:, offset:offset + 2].copy().view("<f2").astype(np.float32)[:, 0]


def nibbles(qs):
    return (qs & 0x0F).astype(np.int32), (qs >> 4).astype(np.int32)


def decode_legacy(raw, five_bits, has_min):
    d = f16(raw, 0)
    m = f16(raw, 2) if has_min else np.zeros_like(d)
    at = 4 if has_min else 2
    lo, hi = nibbles(raw[:, at + (4 if five_bits else 0):])
    if five_bits:
        high = raw[:, at:at + 4].copy().view("<u4")[:, 0].astype(np.int64)
        bits = (high[:, None] >> np.arange(32)) & 1
        lo |= (bits[:, :16] << 4).astype(np.int32)
        hi |= (bits[:, 16:] << 4).astype(np.int32)
    q = np.concatenate([lo, hi], axis=1)
    if not has_min:
        q -= 16 if five_bits else 8
    return q.astype(np.float32) * d[:, None] + m[:, None]


def k_scales(s):
    """The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K block from its 12 bytes."""
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    mn = np.empty((s.shape[0], 8), np.int32)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def decode_k45(raw, five_bits):
    d, dmin = f16(raw, 0), f16(raw, 2)
    sc, mn = k_scales(raw[:, 4:16])
    qs = raw[:, 48:] if five_bits else raw[:, 16:]
    out = np.empty((raw.shape[0], 256), np.float32)
    for pair in range(4):
        lo, hi = nibbles(qs[:, 32 * pair:32 * pair + 32])
        if five_bits:
            high = raw[:, 16:48].astype(np.int32)
            lo = lo + (((high >> (2 * pair)) & 1) << 4)
            hi = hi + (((high >> (2 * pair + 1)) & 1) << 4)
        for sub, q in ((2 * pair, lo), (2 * pair + 1, hi)):
            scale = d * sc[:, sub].astype(np.float32)
            offset = dmin * mn[:, sub].astype(np.float32)
            out[:, 32 * sub:32 * sub + 32] = scale[:, None] * q.astype(np.float32) - offset[:, None]
    return out


def decode_q6k(raw):
    ql, qh = raw[:, :128].astype(np.int32), raw[:, 128:192].astype(np.int32)
    sc = raw[:, 192:208].copy().view(np.int8).astype(np.int32)
    d = f16(raw, 208)
    out = np.empty((raw.shape[0], 256), np.float32)
    for half in range(2):
        l_, h_, s_ = ql[:, 64 * half:], qh[:, 32 * half:], sc[:, 8 * half:]
        runs = [(l_[:, :32] & 0x0F) | (((h_[:, :32] >> 0) & 3) << 4),
                (l_[:, 32:64] & 0x0F) | (((h_[:, :32] >> 2) & 3) << 4),
                (l_[:, :32] >> 4) | (((h_[:, :32] >> 4) & 3) << 4),
                (l_[:, 32:64] >> 4) | (((h_[:, :32] >> 6) & 3) << 4)]
        for r, q in enumerate(runs):
            for part in range(2):  # one int8 scale per 16 values
                scale = d * s_[:, 2 * r + part].astype(np.float32)
                cols = slice(128 * half + 32 * r + 16 * part, 128 * half + 32 * r + 16 * part + 16)
                out[:, cols] = scale[:, None] * (q[:, 16 * part:16 * part + 16] - 32).astype(np.float32)
    return out


def decode_q2k_q3k(raw, three_bits):
    """Two halves of 128: each reads 32 bytes of 2-bit values four times (bit pairs), in two runs of 16."""
    out = np.empty((raw.shape[0], 256), np.float32)
    if three_bits:
        packed = raw[:, 96:108].astype(np.int32)
        scale = np.empty((raw.shape[0], 16), np.int32)
        for i in range(16):
            low = packed[:, i] & 0x0F if i < 8 else packed[:, i - 8] >> 4
            scale[:, i] = (low | (((packed[:, 8 + i % 4] >> (2 * (i // 4))) & 3) << 4)) - 32
        d = f16(raw, 108)
        third = raw[:, :32].astype(np.int32)
    else:
        d, dmin = f16(raw, 80), f16(raw, 82)
    s = 0
    for half in range(2):
        q = raw[:, (32 if three_bits else 16) + 32 * half:][:, :32].astype(np.int32)
        for pass_ in range(4):
            for run in range(2):
                values = (q[:, 16 * run:16 * run + 16] >> (2 * pass_)) & 3
                cols = slice(128 * half + 32 * pass_ + 16 * run, 128 * half + 32 * pass_ + 16 * run + 16)
                if three_bits:
                    set_bit = (third[:, 16 * run:16 * run + 16] >> (4 * half + pass_)) & 1
                    dl = d * scale[:, s].astype(np.float32)
                    out[:, cols] = dl[:, None] * (values - 4 * (1 - set_bit)).astype(np.float32)
                else:
                    sc = raw[:, s].astype(np.int32)
                    dl, ml = d * (sc & 0x0F).astype(np.float32), dmin * (sc >> 4).astype(np.float32)
                    out[:, cols] = dl[:, None] * values.astype(np.float32) - ml[:, None]
                s += 1
    return out


def decode_iq4(raw, xs):
    d = f16(raw, 0)
    if not xs:
        lo, hi = nibbles(raw[:, 2:18])
        return d[:, None] * IQ4_LEVELS[np.concatenate([lo, hi], axis=1)].astype(np.float32)
    high = raw[:, 2:4].copy().view("<u2")[:, 0].astype(np.int32)
    out = np.empty((raw.shape[0], 256), np.float32)
    for sub in range(8):
        scale = ((raw[:, 4 + sub // 2].astype(np.int32) >> (4 * (sub % 2))) & 0x0F) | (((high >> (2 * sub)) & 3) << 4)
        dl = d * (scale - 32).astype(np.float32)
        lo, hi = nibbles(raw[:, 8 + 16 * sub:24 + 16 * sub])
        out[:, 32 * sub:32 * sub + 32] = dl[:, None] * IQ4_LEVELS[np.concatenate([lo, hi], axis=1)].astype(np.float32)
    return out


def decode(name, raw):
    if name in ("q2_k", "q3_k"):
        return decode_q2k_q3k(raw, name == "q3_k")
    if name.startswith("iq4"):
        return decode_iq4(raw, name == "iq4_xs")
    if name == "q6_k":
        return decode_q6k(raw)
    if name in ("q4_k", "q5_k"):
        return decode_k45(raw, name == "q5_k")
    return decode_legacy(raw, name.startswith("q5"), name.endswith("_1"))


def quantize_q8_0(values):
    """llama.cpp's quantize_row_q8_0: d = amax / 127 in float32, q = roundf(x * (1 / d))."""
    blocks = values.reshape(-1, 32).astype(np.float32)
    d = (np.abs(blocks).max(axis=1) / np.float32(127)).astype(np.float32)
    inverse = np.where(d != 0, np.float32(1) / np.where(d != 0, d, np.float32(1)), np.float32(0)).astype(np.float32)
    scaled = (blocks * inverse[:, None]).astype(np.float32).astype(np.float64)
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)  # exact in float64: roundf, half away from zero
    out = np.empty(blocks.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (32,))])
    out["d"] = d.astype(np.float16)
    out["qs"] = q.astype(np.int8)
    return out


def random_blocks(rng, name, n_blocks):
    _, _, block_bytes, scales = FORMATS[name]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for offset, typical in scales:
        value = (typical * rng.uniform(0.5, 1.5, size=n_blocks)).astype(np.float16)
        raw[:, offset:offset + 2] = value.view(np.uint8).reshape(n_blocks, 2)
    return raw


def write_variant(mrm, base, path, encode):
    """Copies base's metadata and tensors; encode(tensor) -> (type name, bytes) for each matrix."""
    w = mrm.GGUFWriter()
    for key, value in base.kv.items():
        vt, et = base.kv_types[key]
        w.add(key, vt, value, et)
    for t in base.tensors:  # the norms stay F32, as in llama.cpp's quantized files
        type_name, payload = encode(t) if len(t["dims"]) == 2 else ("f32", tensor_f32(base, t))
        w.add_tensor(t["name"], t["dims"], type_name, lambda p=payload: p)
    w.write(path)


def tensor_f32(base, t):
    n = int(np.prod(t["dims"]))
    start = base.data_start + t["offset"]
    return np.frombuffer(bytes(base.buf[start:start + 4 * n]), "<f4")


def run(pagellm, model, prompts):
    r = subprocess.run([pagellm, "generate", "-m", model, "--prompts-file", prompts], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"pagellm failed on {model}: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def main():
    pagellm, shared = sys.argv[1], sys.argv[2]
    keep = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--keep" else None
    sys.path.insert(0, os.path.join(shared, "tools"))
    import make_random_model as mrm
    for name, (type_id, block_elems, block_bytes, _) in FORMATS.items():  # its writer knows no IQ types
        mrm.GGML_TYPES.setdefault(name, (type_id, block_elems, block_bytes))
    if keep:
        os.makedirs(keep, exist_ok=True)
    scratch = None if keep else tempfile.TemporaryDirectory(prefix="pagellm_ggml_quants_")  # removed at exit
    work = type("Work", (), {"name": keep or scratch.name})
    subprocess.run([sys.executable, os.path.join(shared, "tools", "make_random_model.py"), "make", "--name", "base",
                    "--out", work.name, "--gguf-types", "f32", "--no-hf", "--hidden", "256", "--layers", "2",
                    "--heads", "4", "--kv-heads", "2", "--ffn", "512", "--ctx", "256", "--vocab", "512", "--vocab-gguf",
                    os.path.join(shared, "models", "stories260K", "stories260K.gguf")],
                   check=True, capture_output=True)
    base = mrm.GGUFReader(os.path.join(work.name, "base-f32.gguf"))
    prompts = os.path.join(work.name, "prompts.jsonl")
    with open(prompts, "w") as f:
        for text in ["Once upon a time", "The little dog ran to the park and"]:
            f.write(json.dumps({"prompt": text, "sampling_params": {"temperature": 0, "max_tokens": 12, "logprobs": 3,
                                                                     "prompt_logprobs": 3}}) + "\n")
    rng = np.random.default_rng(20261206)
    failures = 0
    for name, (_, block_elems, _, _) in FORMATS.items():
        blocks, decoded = {}, {}

        def quantized(t):
            n = int(np.prod(t["dims"]))
            blocks[t["name"]] = random_blocks(rng, name, n // block_elems)
            decoded[t["name"]] = decode(name, blocks[t["name"]]).reshape(-1)
            return name, blocks[t["name"]]

        def reference(t):
            return "q8_0", quantize_q8_0(decoded[t["name"]])

        ours, theirs = os.path.join(work.name, f"{name}.gguf"), os.path.join(work.name, f"{name}-as-q8_0.gguf")
        write_variant(mrm, base, ours, quantized)
        write_variant(mrm, base, theirs, reference)
        got, want = run(pagellm, ours, prompts), run(pagellm, theirs, prompts)
        failures_before = failures
        for g, w in zip(got, want):
            for key in ("prompt_logprobs", "outputs"):
                if g[key] != w[key]:
                    failures += 1
                    print(f"{name}: {key} differ\n  {name}:  {json.dumps(g[key])[:400]}\n  q8_0: {json.dumps(w[key])[:400]}")
        tokens = [o["token_ids"] for r in got for o in r["outputs"]]
        print(f"{name}: {'same' if failures == failures_before else 'DIFFERENT'} prompt logprobs and greedy tokens {tokens}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
