// Random texts for the differential tokenizer tests (tests/node/tokenizer_diff.test.mjs against
// Hugging Face, scripts/tokenizer_fuzz_llamacpp.mjs against llama.cpp): pieces tokenizers get wrong
// (whitespace runs, contractions, digits, scripts, emoji, combining marks, controls, unassigned code
// points, the vocabulary's added tokens whole and cut), concatenated at random, seeded.

// mulberry32: small, seedable, good enough to spread the choices.
export function makeRandom(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeTextGenerator(random, addedTokens) {
  const int = (n) => Math.floor(random() * n);
  const pick = (list) => list[int(list.length)];
  const repeat = (fn, n) => Array.from({ length: n }, fn).join('');
  const codePoint = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
  const words = ['the', 'The', 'THE', 'hello', 'Hello', 'world', 'a', 'I', 'token', 'tokenizer', 'über',
    'naïve', 'café', 'Straße', 'ﬁne', 'don', 'isn', 'CamelCase', 'snake_case', 'http', 'www', 'com', 'x',
    'Once', 'upon', 'time', 'ünïcödé', 'ÅNGSTRÖM', 'español', 'año', 'Ελληνικά', 'русский', 'ПРИВЕТ'];
  const pieces = [
    () => pick(words),
    () => repeat(() => String.fromCharCode(97 + int(26)), 1 + int(12)),
    () => repeat(() => String.fromCharCode(65 + int(26)), 1 + int(6)),
    () => pick([' ', '  ', '   ', '    ', '\t', '\n', '\n\n', '\r\n', ' \n', '\n ', ' \t ', '\u00a0', '\u3000',
      '\u2009', '\u200b', '\u2028', '\u000b', '\u000c', '\u0085']),
    () => repeat(() => pick([' ', '\n', '\t']), 1 + int(8)),
    () => repeat(() => String(int(10)), 1 + int(14)),
    () => repeat(() => pick([...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~']), 1 + int(4)),
    () => pick(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "n't", "'", "''", "’s"]),
    () => pick(['e\u0301', 'a\u0308', 'n\u0303', '\u0301', '\u0300\u0301', 'A\u030a', 'ﬃ', '①', 'Ⅻ', '½', 'ｆｕｌｌ',
      'ＡＢＣ', '１２３', '²', 'µ', 'ǅ', 'İ', 'ς', 'ß']),
    () => repeat(() => codePoint(0x4e00, 0x9fff), 1 + int(6)),
    () => repeat(() => codePoint(0x3041, 0x30ff), 1 + int(6)),
    () => repeat(() => codePoint(0xac00, 0xd7a3), 1 + int(4)),
    () => pick(['مرحبا بالعالم', 'नमस्ते दुनिया', 'สวัสดีชาวโลก', 'שלום עולם', 'Γειά σου', 'Привет мир',
      'Xin chào thế giới', 'हिन्दी', 'ক্ষ', 'ஸ்ரீ', 'გამარჯობა', 'ᠮᠣᠩᠭᠣᠯ', 'ⴰⵣⵓⵍ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟘𝟙𝟚']),
    () => pick(['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '🏳️‍🌈', '🤖', '☃', '✓', '→', '∑', '∞', '€', '£', '¥', '₿']),
    () => codePoint(0x1f300, 0x1faff),
    () => pick(['\u0001', '\u0007', '\u001b', '\u007f', '\u0080', '\u009f', '\ufffd', '\ufeff', '\ue000',
      '\u{10fffd}', '\u{e0041}', '\u200d', '\u200e', '\u2060', '\ufe0f', '\u{1d11e}']),
    () => pick(['def f(x):\n    return x ** 2\n', '<div class="a">', '{"k": [1, 2.5e-3]}', 'a+=1;', '//', '#!',
      '    ', '\t\tif (x) {', '</s>', '<s>', '[INST]', '<|', '|>', '<unk>', '▁', 'Ġ', 'Ċ', '<0x0A>']),
    () => repeat(() => pick(['a', ' ', 'ab', '.']), 10 + int(60)),
    () => pick(addedTokens),
    () => {
      const t = pick(addedTokens);
      return t.slice(0, Math.max(1, int(t.length)));
    },
  ];
  // One text: 1 to 10 pieces.
  return () => {
    const parts = 1 + int(10);
    let s = '';
    for (let i = 0; i < parts; i++) s += pick(pieces)();
    return s;
  };
}

// `count` id sequences of 1 to maxLength ids, half of the ids below 300 (byte pieces and special
// tokens in the vocabularies here), the rest anywhere below vocabSize: pieces no encoder would put
// side by side, byte runs that complete no character.
export function randomIdSequences(random, count, vocabSize, maxLength) {
  return Array.from({ length: count }, () => Array.from({ length: 1 + Math.floor(random() * maxLength) },
    () => Math.floor(random() * (random() < 0.5 ? 300 : vocabSize))));
}
