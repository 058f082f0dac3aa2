// pagellm serve against the official openai client: the SDK must parse every response and see
// the right typed error for every failure. Run by ctest (PAGELLM_BIN, PAGELLM_SHARED_DIR set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const bin = process.env.PAGELLM_BIN;
const shared = process.env.PAGELLM_SHARED_DIR;
const model = `${shared}/models/stories260K/stories260K.gguf`;
const template = fileURLToPath(new URL('./fixtures/chatml.jinja', import.meta.url));
const greedy = JSON.parse(readFileSync(`${shared}/models/stories260K/expected/greedy.json`, 'utf8'));

async function startServer(extraArgs, env = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const proc = spawn(bin, ['serve', model, '--port', String(port), '--served-model-name', 'demo',
      '--max-model-len', '256', '--kv-cache-memory', '32MiB', '--chat-template', template,
      '--log-level', 'warning', ...extraArgs], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let exited = false;
    proc.on('exit', () => { exited = true; });
    for (let i = 0; i < 200 && !exited; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        if (r.status === 200) return { proc, port };
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
  }
  throw new Error('pagellm serve did not start');
}

function stopServer(proc) {
  return new Promise((resolve) => {
    proc.on('exit', (code) => resolve(code));
    proc.kill('SIGTERM');
  });
}

let server, client;
before(async () => {
  server = await startServer([]);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${server.port}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  assert.equal(await stopServer(server.proc), 0);
});

test('models list', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['demo']);
  assert.equal(models.data[0].object, 'model');
});

test('completions match the reference greedy continuation', async () => {
  for (const c of greedy.cases.filter((c) => c.safe_prefix === c.n_generated).slice(0, 3)) {
    const r = await client.completions.create({ model: 'demo', prompt: c.prompt, max_tokens: c.n_generated,
      temperature: 0, ignore_eos: true });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, c.generated_text);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens],
      [c.prompt_ids.length, c.n_generated, c.prompt_ids.length + c.n_generated]);
  }
});

test('streamed completion equals the whole one, usage last', async () => {
  const args = { model: 'demo', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 };
  const whole = await client.completions.create(args);
  const stream = await client.completions.create({ ...args, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      text += ch.text;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 40);
});

test('n > 1 and a list of prompts', async () => {
  const r = await client.completions.create({ model: 'demo', prompt: ['Once upon a time', 'Lily'], n: 3,
    max_tokens: 10, temperature: 0.8, seed: 7 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
  assert.equal(r.usage.completion_tokens, 60);
  const again = await client.completions.create({ model: 'demo', prompt: ['Once upon a time', 'Lily'], n: 3,
    max_tokens: 10, temperature: 0.8, seed: 7 });
  assert.deepEqual(again.choices.map((c) => c.text), r.choices.map((c) => c.text));  // seeded: reproducible
});

test('chat completion, whole and streamed', async () => {
  const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }];
  const whole = await client.chat.completions.create({ model: 'demo', messages, max_completion_tokens: 20,
    temperature: 0 });
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.equal(whole.choices[0].finish_reason, 'length');
  assert.equal(whole.usage.completion_tokens, 20);
  const stream = await client.chat.completions.create({ model: 'demo', messages, max_completion_tokens: 20,
    temperature: 0, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const deltas = chunks.filter((c) => c.choices.length > 0);
  assert.equal(deltas[0].choices[0].delta.role, 'assistant');
  assert.equal(deltas.at(-1).choices[0].finish_reason, 'length');
  assert.ok(deltas.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
  assert.equal(deltas.map((c) => c.choices[0].delta.content ?? '').join(''), whole.choices[0].message.content);
  assert.equal(chunks.at(-1).usage.completion_tokens, 20);
});

test('chat logprobs and stop strings', async () => {
  const r = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'Once upon a time' }],
    max_completion_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 5);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 2);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob);
  }
  const stopped = await client.completions.create({ model: 'demo', prompt: 'Once upon a time', max_tokens: 40,
    temperature: 0, stop: ['little girl'] });
  assert.equal(stopped.choices[0].text, ', there was a ');
  assert.equal(stopped.choices[0].finish_reason, 'stop');
});

test('errors arrive as the SDK typed errors', async () => {
  await assert.rejects(client.completions.create({ model: 'demo', prompt: 'x', temperature: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /temperature/.test(e.message));
  await assert.rejects(client.completions.create({ model: 'nope', prompt: 'x' }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(client.completions.create({ model: 'demo', prompt: 'x', max_tokens: 5000 }),
    (e) => e instanceof OpenAI.BadRequestError && /maximum context length is 256/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: 'demo', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message));
});

test('api key: required when configured', async () => {
  const keyed = await startServer([], { PAGELLM_API_KEY: 'sekrit' });
  try {
    const anonymous = new OpenAI({ baseURL: `http://127.0.0.1:${keyed.port}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(anonymous.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    const authed = new OpenAI({ baseURL: `http://127.0.0.1:${keyed.port}/v1`, apiKey: 'sekrit', maxRetries: 0 });
    assert.equal((await authed.models.list()).data[0].id, 'demo');
  } finally {
    assert.equal(await stopServer(keyed.proc), 0);
  }
});
