// Differential fuzzing of pagellm's GGUF tokenizers against llama.cpp (node-llama-cpp's prebuilt
// library, loading each vocabulary alone): random texts from tests/node/random_text.mjs, encoded
// with special-token parsing on and no BOS by both, and llama.cpp's ids decoded (special tokens
// shown) by both; prints, per vocabulary, how many differ and the first few. Exit status 1 when any differ. Run through scripts/tokenizer_fuzz_llamacpp.sh.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pagellmJsonLines } from '../tests/node/pagellm_jsonl.mjs';
import { makeRandom, makeTextGenerator, randomIdSequences } from '../tests/node/random_text.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const peerDir = opt('peer-dir');
const pagellm = opt('pagellm');
const vocabDir = opt('vocab-dir');
const cases = Number(opt('cases', 1000));
const seed = Number(opt('seed', 1));
const only = opt('only', '');

const { getLlama } = await import(pathToFileURL(path.join(peerDir, 'node_modules/node-llama-cpp/dist/index.js')));
const llama = await getLlama({ gpu: false, logLevel: 'error', build: 'never' });
// Special-token spellings of the common vocabularies, so texts hit them whole and cut.
const specials = ['<s>', '</s>', '<unk>', '<pad>', '<mask>', '<|endoftext|>', '[CLS]', '[SEP]', '[MASK]', '[PAD]',
  '<|user|>', '<|assistant|>', '<|system|>', '<|end|>', '<|im_start|>', '<|im_end|>', '<fim_prefix>',
  '<|fim_middle|>', '<｜begin▁of▁sentence｜>'];

// llama_detokenize's clean-up for the vocabularies that set clean_spaces (most byte-level BPE ones
// and WPM): " ?", " !", " .", " ," lose the space, " ' " becomes "'", " 's", " 'm", " 're", " 've"
// lose the space. pagellm's decode is the raw one (as Hugging Face tokenizers' decode is), so a decode
// that differs only by this clean-up is counted apart.
function llamacppCleanSpaces(text) {
  let s = text.replace(/ ([?!.,])/g, '$1');
  s = s.replace(/ ' /g, "'");
  return s.replace(/ '(s|m|re|ve)/g, "'$1");
}

let differing = 0;
const files = fs.readdirSync(vocabDir).filter((f) => f.endsWith('.gguf') && f.includes(only)).sort();
for (const [k, file] of files.entries()) {
  const modelPath = path.join(vocabDir, file);
  const model = await llama.loadModel({ modelPath, vocabOnly: true });
  const next = makeTextGenerator(makeRandom(seed + k), specials);
  const texts = Array.from({ length: cases }, next);
  const ours = pagellmJsonLines(pagellm, ['tokenize', '-m', modelPath, '--jsonl', '--no-special'], texts);
  // llama.cpp's ids of the texts, then random id sequences (byte pieces completing no character,
  // special tokens anywhere), all decoded by both.
  const refIds = texts.map((text) => Array.from(model.tokenize(text, true)));
  const random = makeRandom(seed + 1000 + k);
  const vocabSize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const idSequences = refIds.concat(randomIdSequences(random, cases, vocabSize, 10));
  const ourTexts = pagellmJsonLines(pagellm, ['detokenize', '-m', modelPath, '--jsonl'], idSequences);
  const shown = [];
  let bad = 0, badDecode = 0, cleanedOnly = 0;
  for (const [i, text] of texts.entries()) {
    const ref = refIds[i];
    if (JSON.stringify(ref) !== JSON.stringify(ours[i]) && ++bad <= 3)
      shown.push(`  encode ${JSON.stringify(text)}\n    pagellm   ${JSON.stringify(ours[i])}\n    llama.cpp ${JSON.stringify(ref)}`);
  }
  for (const [i, ref] of idSequences.entries()) {
    const refText = model.detokenize(ref, true);
    if (refText === ourTexts[i]) continue;
    if (llamacppCleanSpaces(ourTexts[i]) === refText) {
      ++cleanedOnly;
      continue;
    }
    if (++badDecode <= 3)
      shown.push(`  decode ${JSON.stringify(ref)}\n    pagellm   ${JSON.stringify(ourTexts[i])}\n    llama.cpp ${JSON.stringify(refText)}`);
  }
  console.log(`${file}: encode ${bad}/${cases}, decode ${badDecode}/${idSequences.length} differ, ` +
    `${cleanedOnly} decodes only by llama.cpp's space clean-up (seed ${seed + k})`);
  bad += badDecode;
  for (const s of shown) console.log(s);
  differing += bad;
  await model.dispose();
}
process.exit(differing ? 1 : 0);
