// Hugging Face tokenizers (Rust, through npm @anush008/tokenizers) on the same corpus and the same
// 4 KiB requests as `pagellm bench tokenizer`, one request at a time on one thread.
// usage: UV_THREADPOOL_SIZE=1 TOKENIZERS_PARALLELISM=false node bench/tokenizer_hf.mjs TOKENIZER_JSON CORPUS [--json]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/node/package.json', import.meta.url));
const { Tokenizer } = require('@anush008/tokenizers');

const [tokenizerPath, corpusPath] = process.argv.slice(2);
const asJson = process.argv.includes('--json');
const corpus = readFileSync(corpusPath);

// Same cut as the C++ side: 4096-byte pieces, moved back to a UTF-8 character start.
const chunks = [];
for (let start = 0; start < corpus.length;) {
  let end = Math.min(start + 4096, corpus.length);
  while (end < corpus.length && (corpus[end] & 0xc0) === 0x80) end--;
  chunks.push(corpus.subarray(start, end).toString('utf8'));
  start = end;
}

const tok = Tokenizer.fromFile(tokenizerPath);
for (const c of chunks.slice(0, 50)) await tok.encode(c, null, { addSpecialTokens: false });
let tokens = 0;
const t0 = process.hrtime.bigint();
for (const c of chunks) tokens += (await tok.encode(c, null, { addSpecialTokens: false })).getIds().length;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const mbps = corpus.length / 1e6 / seconds;
if (asJson) console.log(JSON.stringify({ bytes: corpus.length, tokens, seconds, mb_per_s: mbps }));
else console.log(`HF tokenizers: ${(corpus.length / 1e6).toFixed(2)} MB, ${tokens} tokens in ${seconds.toFixed(2)} s: ${mbps.toFixed(2)} MB/s`);
