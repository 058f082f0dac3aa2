// Differential test of pagellm's tokenizer.json tokenizers against Hugging Face `tokenizers` (the
// Rust library, npm @anush008/tokenizers: the reference that produced ../shared/tokenizers'
// vectors). Random texts, built from the pieces tokenizers get wrong (whitespace runs, contractions,
// digits, scripts, emoji, combining marks, control characters, added tokens whole and cut), must give
// the same ids in both add-special modes and the same decodes with and without special tokens; so
// must random id sequences.
// Seeded: PAGELLM_FUZZ_SEED and PAGELLM_FUZZ_CASES override; a failure prints the seed and the text.
// Run by ctest (PAGELLM_BIN, PAGELLM_SHARED_DIR set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pagellmJsonLines } from './pagellm_jsonl.mjs';
import { makeRandom, makeTextGenerator, randomIdSequences } from './random_text.mjs';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('@anush008/tokenizers');

const bin = process.env.PAGELLM_BIN;
const shared = process.env.PAGELLM_SHARED_DIR;
const seed = Number(process.env.PAGELLM_FUZZ_SEED ?? 20261206);
const casesPerTokenizer = Number(process.env.PAGELLM_FUZZ_CASES ?? 300);

const names = ['gpt2', 'mistral-7b-v0.1', 'mistral-7b-v0.1-legacy', 'llama-3-8b-instruct', 'qwen3'];

for (const [index, name] of names.entries()) {
  test(`${name}: random texts encode and decode as Hugging Face tokenizers does`, async () => {
    const path = `${shared}/tokenizers/${name}/tokenizer.json`;
    const json = JSON.parse(readFileSync(path, 'utf8'));
    const added = (json.added_tokens ?? []).map((t) => t.content).filter((c) => c.length > 0);
    const next = makeTextGenerator(makeRandom(seed + index), added.length ? added : ['<|endoftext|>']);
    const texts = Array.from({ length: casesPerTokenizer }, next);
    const hf = Tokenizer.fromFile(path);

    const ours = pagellmJsonLines(bin, ['tokenize', '-m', path, '--jsonl', '--no-special'], texts);
    const oursSpecial = pagellmJsonLines(bin, ['tokenize', '-m', path, '--jsonl'], texts);
    const refSpecial = [];
    const failures = [];
    for (const [i, text] of texts.entries()) {
      const ref = Array.from((await hf.encode(text, null, { addSpecialTokens: false })).getIds());
      const withSpecial = Array.from((await hf.encode(text, null, { addSpecialTokens: true })).getIds());
      refSpecial.push(withSpecial);
      if (JSON.stringify(ours[i]) !== JSON.stringify(ref))
        failures.push(`encode ${JSON.stringify(text)}: ours ${JSON.stringify(ours[i])} hf ${JSON.stringify(ref)}`);
      if (JSON.stringify(oursSpecial[i]) !== JSON.stringify(withSpecial))
        failures.push(`encode+special ${JSON.stringify(text)}: ours ${JSON.stringify(oursSpecial[i])} ` +
          `hf ${JSON.stringify(withSpecial)}`);
    }
    // Besides the ids of real texts, random id sequences: byte pieces that do not complete a character,
    // special tokens anywhere, pieces no encoder would put side by side.
    const random = makeRandom(seed + 100 + index);
    const vocabSize = 1 + [...Object.values(json.model.vocab), ...(json.added_tokens ?? []).map((t) => t.id)]
      .reduce((a, b) => Math.max(a, b), 0);
    const idSequences = refSpecial.concat(randomIdSequences(random, casesPerTokenizer, vocabSize, 12));
    for (const skip of [false, true]) {
      const decoded = pagellmJsonLines(bin, ['detokenize', '-m', path, '--jsonl', ...(skip ? ['--skip-special'] : [])],
        idSequences);
      for (const [i, ids] of idSequences.entries()) {
        const ref = await hf.decode(ids, skip);
        if (decoded[i] !== ref)
          failures.push(`decode(skip=${skip}) ${JSON.stringify(ids)}: ours ${JSON.stringify(decoded[i])} ` +
            `hf ${JSON.stringify(ref)}`);
      }
    }
    assert.deepEqual(failures.slice(0, 10), [],
      `seed ${seed + index}, ${failures.length} of ${texts.length * 2 + idSequences.length * 2} differ`);
  });
}
