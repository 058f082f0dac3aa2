// `pagellm tokenize|detokenize --jsonl` from Node, for the differential tokenizer tests and
// scripts/tokenizer_fuzz_llamacpp.mjs: one process per call, one JSON value a line each way.
import { spawnSync } from 'node:child_process';

export function pagellmJsonLines(bin, args, values) {
  const r = spawnSync(bin, args, { input: values.map((v) => JSON.stringify(v)).join('\n') + '\n',
    maxBuffer: 1 << 28, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pagellm ${args.join(' ')} failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  lines.pop();  // after the last newline
  if (lines.length !== values.length)
    throw new Error(`pagellm ${args.join(' ')}: ${lines.length} lines for ${values.length} inputs`);
  return lines.map((line) => JSON.parse(line));
}
