// Bad input against `pagellm serve`: seeded random mutations of valid completions, chat, tokenize
// and detokenize requests (fields of the wrong type, out of range, huge, missing; truncated or
// non-JSON bodies; odd messages), eight at a time, then malformed HTTP on raw sockets. Every answer
// must be 2xx or 4xx with an OpenAI error body (never 5xx, never a dropped connection or a hang),
// and afterwards the server must still produce the reference greedy continuation.
// Run by ctest (PAGELLM_BIN, PAGELLM_SHARED_DIR set); PAGELLM_FUZZ_SEED / PAGELLM_FUZZ_CASES change
// the draw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { makeRandom } from './random_text.mjs';

const bin = process.env.PAGELLM_BIN;
const shared = process.env.PAGELLM_SHARED_DIR;
const model = `${shared}/models/stories260K/stories260K.gguf`;
const template = fileURLToPath(new URL('./fixtures/chatml.jinja', import.meta.url));
const greedy = JSON.parse(readFileSync(`${shared}/models/stories260K/expected/greedy.json`, 'utf8'));
const seed = Number(process.env.PAGELLM_FUZZ_SEED ?? 20261206);
const cases = Number(process.env.PAGELLM_FUZZ_CASES ?? 400);

async function startServer() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const proc = spawn(bin, ['serve', model, '--port', String(port), '--served-model-name', 'demo',
      '--max-model-len', '256', '--kv-cache-memory', '32MiB', '--chat-template', template, '--log-level', 'error'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    let exited = false;
    proc.on('exit', () => { exited = true; });
    for (let i = 0; i < 200 && !exited; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) return { proc, port, stderr: () => stderr };
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
  }
  throw new Error('pagellm serve did not start');
}

function makeBodies(random) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const odd = () => pick([null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53, '', 'x', '\u0000', '\ud800', [], {},
    [1, 2], { a: 1 }, 'a'.repeat(100000), Array(10000).fill(1), 65536, 2147483648, -2147483649, '1', [[[]]], [null],
    ['a', 1], 'NaN', 'Infinity']);
  const fields = ['model', 'prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'n', 'best_of', 'stream',
    'stop', 'seed', 'logprobs', 'echo', 'presence_penalty', 'frequency_penalty', 'repetition_penalty', 'logit_bias',
    'min_tokens', 'ignore_eos', 'stop_token_ids', 'skip_special_tokens', 'bad_words', 'stream_options',
    'use_beam_search', 'prompt_logprobs', 'truncate_prompt_tokens', 'max_completion_tokens', 'top_logprobs', 'messages',
    'tools', 'tool_choice', 'response_format', 'add_generation_prompt', 'continue_final_message', 'allowed_token_ids',
    'tokens', 'add_special_tokens'];
  const oddMessages = [[], [{}], [{ role: 'x', content: 1 }], [{ role: 'user' }],
    [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    [{ role: 'assistant', content: null, tool_calls: [{}] }], 'str', null];
  const brokenBodies = ['', 'null', '[]', '"x"', '{"a":', '\u00ff\u00fe', '{"prompt": "\\ud800"}',
    '{'.repeat(5000) + '}'.repeat(5000)];
  return Array.from({ length: cases }, () => {
    const chat = random() < 0.4;
    const body = chat ? { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0 }
      : { model: 'demo', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 };
    for (let j = 1 + Math.floor(random() * 3); j > 0; j--) {
      const f = pick(fields);
      if (random() < 0.15) delete body[f];
      else body[f] = odd();
    }
    if (chat && random() < 0.2) body.messages = pick(oddMessages);
    let raw = JSON.stringify(body);
    if (random() < 0.1) raw = raw.slice(0, Math.floor(random() * raw.length));
    if (random() < 0.05) raw = pick(brokenBodies);
    const path = chat ? '/v1/chat/completions' : pick(['/v1/completions', '/v1/completions', '/tokenize', '/detokenize']);
    return { path, raw, stream: body.stream === true };
  });
}

function rawExchange(port, bytes) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('data', (d) => { reply += d; });
    socket.on('close', () => resolve(reply));
    socket.on('error', () => resolve(reply));
  });
}

test('bad requests get 4xx with an error body; the server keeps serving', async () => {
  const server = await startServer();
  const base = `http://127.0.0.1:${server.port}`;
  const problems = [];
  const statuses = {};
  try {
    const bodies = makeBodies(makeRandom(seed));
    for (let i = 0; i < bodies.length; i += 8) {
      await Promise.all(bodies.slice(i, i + 8).map(async ({ path, raw, stream }) => {
        try {
          const r = await fetch(base + path, { method: 'POST', body: raw, headers: { 'Content-Type': 'application/json' },
            signal: AbortSignal.timeout(30000) });
          const text = await r.text();
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status >= 500) problems.push(`${r.status} ${path} ${raw.slice(0, 200)} -> ${text.slice(0, 200)}`);
          else if (r.status >= 400 && !/"error"/.test(text))
            problems.push(`${r.status} without an error body: ${path} ${raw.slice(0, 200)}`);
          else if (r.status === 200 && !stream && !text.startsWith('{'))
            problems.push(`200 that is not JSON: ${path} ${raw.slice(0, 200)}`);
        } catch (e) {
          problems.push(`${e.name} on ${path} ${raw.slice(0, 200)}`);
        }
      }));
    }
    for (const bytes of ['GET / HTTP/1.1\r\n\r\n', 'POST /v1/completions HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}',
      'POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', '\x00\x01\x02 garbage\r\n\r\n',
      'POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\n{']) {
      const reply = await rawExchange(server.port, bytes);
      if (/^HTTP\/1\.[01] 5/.test(reply)) problems.push(`raw ${JSON.stringify(bytes.slice(0, 40))} -> ${reply.slice(0, 80)}`);
    }
    // Still serving, and still right.
    const c = greedy.cases.find((x) => x.safe_prefix === x.n_generated);
    const r = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'demo', prompt: c.prompt, max_tokens: c.n_generated, temperature: 0, ignore_eos: true }) });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).choices[0].text, c.generated_text);
  } finally {
    server.proc.kill('SIGTERM');
  }
  assert.ok((statuses[200] ?? 0) > 0 && (statuses[400] ?? 0) > 0, `statuses ${JSON.stringify(statuses)}`);
  assert.deepEqual(problems.slice(0, 10), [], `seed ${seed}: ${problems.length} problems; statuses ${JSON.stringify(statuses)}`);
  assert.doesNotMatch(server.stderr(), /AddressSanitizer|runtime error|terminate called|Aborted/);
});
