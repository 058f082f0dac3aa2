// Side-by-side peer run (started by bench/peer_llamacpp.sh, which installs node-llama-cpp first):
// llama.cpp through node-llama-cpp (../shared/tools/peer_llamacpp/bench.mjs) and
// `pagellm bench latency`, same GGUF, same shapes, same thread count, one table with the ratio.
//
// Shapes (those of the shared peer benchmark):
//   prefill   512 random tokens, one sequence                -> prompt tokens/s
//   decode    one sequence, 32-token prompt, 128 greedy tokens -> output tokens/s
//   batched   N sequences, 128-token prompts, 128 greedy tokens each -> total output tokens/s
// Both sides time only the phase named: llama.cpp prefills the batched prompts untimed, pagellm
// reports its decode phase separately from its prefill (docs/cli.md, `bench latency`).
import {spawnSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const argv = process.argv.slice(2);
function opt(name, def) {
  const i = argv.indexOf("--" + name);
  return i >= 0 ? argv[i + 1] : def;
}
const root = opt("root", path.resolve(path.dirname(new URL(import.meta.url).pathname), ".."));
const peerDir = opt("peer-dir", path.join(root, "build/peer_llamacpp"));
const sharedTool = opt("shared-tool", path.join(root, "../shared/tools/peer_llamacpp"));
const pagellm = opt("pagellm", path.join(root, "build/release/pagellm"));
const threads = Number(opt("threads", "2"));
const reps = Number(opt("reps", "3"));
const batches = opt("batch", "16,32").split(",").map(Number);
const dtype = opt("dtype", "auto");  // pagellm's --dtype (int8: a Q8_0 model's dot products as llama.cpp computes them)
const valueFlags = new Set(["--root", "--peer-dir", "--shared-tool", "--pagellm", "--threads", "--reps", "--batch", "--dtype"]);
const modelArg = argv.find((a, i) => !a.startsWith("--") && !valueFlags.has(argv[i - 1]));
if (!modelArg) {
  console.error("usage: bash bench/peer_llamacpp.sh MODEL.gguf [--threads 2] [--reps 3] [--batch 16,32] [--pagellm BIN] " +
    "[--dtype auto|float32|bfloat16|int8]");
  process.exit(2);
}
const model = path.resolve(modelArg);  // bench.mjs runs from peerDir
for (const f of [model, pagellm]) {
  if (!fs.existsSync(f)) {
    console.error(`peer_llamacpp: ${f} does not exist`);
    process.exit(2);
  }
}
const PP = 512, TG = 128, TG_PROMPT = 32, B_PROMPT = 128, B_GEN = 128;

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");
function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, {encoding: "utf8", maxBuffer: 64 << 20, ...options});
  if (r.status !== 0) {
    console.error(`peer_llamacpp: ${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    process.exit(1);
  }
  return r;
}

// ESM resolves `node-llama-cpp` next to the importing file: run the shared scripts from peerDir.
for (const f of ["bench.mjs", "info.mjs"]) fs.copyFileSync(path.join(sharedTool, f), path.join(peerDir, f));

// --- llama.cpp: what was installed and which CPU variant it loads -------------------------------
const nlcVersion = JSON.parse(fs.readFileSync(path.join(peerDir, "node_modules/node-llama-cpp/package.json"))).version;
const info = run("node", ["info.mjs"], {cwd: peerDir});
const infoText = info.stdout + info.stderr;
const grab = (re) => (infoText.match(re) || [, "?"])[1].trim();
const variant = grab(/loaded CPU backend from \S*libggml-cpu-([\w-]+)\.so/);
let release = grab(/release: (.*)/);
try {
  const r = JSON.parse(release);
  release = `${r.release} (${r.repo})`;
} catch { /* keep it as printed */ }
const buildType = grab(/buildType: (\S+)/);
const systemInfo = grab(/systemInfo: (.*)/);
let buildMeta = "";
try {
  const m = JSON.parse(fs.readFileSync(path.join(peerDir, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/_nlcBuildMetadata.json")));
  buildMeta = ` built on ${m.buildOptions.platformInfo.name} ${m.buildOptions.platformInfo.version}, gpu=${m.buildOptions.gpu}, custom cmake options ${JSON.stringify(m.buildOptions.customCmakeOptions)}`;
} catch { /* other platforms keep it elsewhere; the variant line says enough */ }

console.log(`model: ${model}`);
console.log(`threads: ${threads}, ${reps} timed repetitions each (+1 warm-up), host ${os.cpus()[0].model}, ${os.cpus().length} CPUs`);
console.log(`pagellm: ${pagellm} --dtype ${dtype}`);
console.log(`llama.cpp: node-llama-cpp ${nlcVersion}, llama.cpp release ${release}, ${buildType} binary${buildMeta};`);
console.log(`           ggml CPU variant loaded: ${variant} (ggml's dynamic backend picks the build for this CPU); ${systemInfo}`);

// --- llama.cpp ---------------------------------------------------------------------------------
const loadBeforePeer = load();
const bench = run("node", ["bench.mjs", model, "--threads", String(threads), "--reps", String(reps), "--only", "pp,tg,batch",
  "--batch", batches.join(","), "--pp", String(PP), "--tg", String(TG), "--tg-prompt", String(TG_PROMPT),
  "--b-prompt", String(B_PROMPT), "--b-gen", String(B_GEN)], {cwd: peerDir});
const loadAfterPeer = load();
for (const line of bench.stdout.split("\n")) if (line && !line.startsWith("JSON ")) console.log(`  llama.cpp | ${line}`);
const peer = JSON.parse(bench.stdout.split("\n").find((l) => l.startsWith("JSON ")).slice(5));
const peerFigure = (prefix) => peer.find((r) => r.figure.startsWith(prefix));

// --- pagellm -----------------------------------------------------------------------------------
const jsonPath = path.join(os.tmpdir(), `peer_llamacpp_${process.pid}.json`);
function pagellmLatency(batch, input, output) {
  const args = ["bench", "latency", "--model", model, "--batch-size", String(batch), "--input-len", String(input),
    "--output-len", String(output), "--num-iters", String(reps), "--num-iters-warmup", "1", "--temperature", "0",
    // As many sequences as the batch, like llama.cpp's context: one sequence stores BF16 weights coded
    // (--weight-coding auto, docs/cli.md).
    "--max-num-seqs", String(batch), "--dtype", dtype, "--output-json", jsonPath];
  const r = run(pagellm, args, {env: {...process.env, PAGELLM_NUM_THREADS: String(threads)}});
  // The latency percentiles are in the JSON; the rates are what this comparison is about.
  for (const line of r.stdout.split("\n")) if (line && !line.includes("percentile")) console.log(`  pagellm   | ${line}`);
  const j = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
  fs.rmSync(jsonPath);
  return j;
}
const loadBeforeOurs = load();
const ours = {prefill: pagellmLatency(1, PP, 1), decode: pagellmLatency(1, TG_PROMPT, TG)};
for (const n of batches) ours[`batch${n}`] = pagellmLatency(n, B_PROMPT, B_GEN);
const loadAfterOurs = load();

// --- side by side -------------------------------------------------------------------------------
const rows = [
  [`prefill ${PP} tokens, 1 sequence (prompt tok/s)`, peerFigure(`prefill pp${PP}`), ours.prefill.prefill_tokens_per_s],
  [`decode 1 stream, ${TG_PROMPT}-token prompt, ${TG} tokens (tok/s)`, peerFigure(`decode tg${TG}`), ours.decode.decode_tokens_per_s],
  ...batches.map((n) => [`batched decode N=${n}, ${B_PROMPT} in / ${B_GEN} out each (total tok/s)`,
    peerFigure(`batched decode N=${n} `), ours[`batch${n}`].decode_tokens_per_s]),
];
const w = Math.max(...rows.map((r) => r[0].length));
console.log("");
console.log(`${"figure".padEnd(w)}  ${"llama.cpp".padStart(10)}  ${"pagellm".padStart(10)}  pagellm/llama.cpp`);
for (const [name, p, o] of rows)
  console.log(`${name.padEnd(w)}  ${p.median.toFixed(1).padStart(10)}  ${o.toFixed(1).padStart(10)}  ${(o / p.median).toFixed(2)}x`);
console.log(`(medians; load average 1/5/15 min: llama.cpp run ${loadBeforePeer} -> ${loadAfterPeer}, pagellm run ${loadBeforeOurs} -> ${loadAfterOurs})`);
console.log(`pagellm decode step: ${ours.decode.decode_step_ms.toFixed(2)} ms (1 stream), ` +
  batches.map((n) => `${ours[`batch${n}`].decode_step_ms.toFixed(2)} ms (N=${n})`).join(", "));
