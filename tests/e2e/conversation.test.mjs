// A tutor that talks like one, in Debian's Chromium with the real SmolLM2-135M-Instruct model
// (its own ChatML template, end of turn at <|im_end|>) and the real `tutor-gateway` on 127.0.0.1:
//   - a first visit on a throttled network (DevTools protocol, 20 Mbit/s): the gateway answers
//     within 2 s of page load while the model downloads; the first question after the load is
//     answered on the device;
//   - a conversation: each turn's prefill runs only its new tokens (the KV cache holds the turns
//     before), and that is faster than prefilling the whole history again;
//   - a conversation longer than the context window: the oldest turns are dropped, and the final
//     chunk says how many;
//   - SmolLM2 on WebGPU (SwiftShader): llama.cpp's prompt length and first 10 greedy tokens.
// Run: cd web && node --test ../tests/e2e/conversation.test.mjs   (needs web/build.sh, models, tutor-gateway)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SMOLLM2_POLICY, ROOT, WEB, launch, openTestPage, smollm2Model, tempDirs } from '../../web/test/browser.mjs';
import { startGateway } from '../../web/test/gateway.mjs';
import { startRealGateway } from '../../web/test/realgateway.mjs';
import { startServer } from '../../web/test/server.mjs';

const MODEL_URL = '/models/smollm2/manifest.json';
/** 20 Mbit/s, in bytes per second (a typical school or home connection). */
const THROTTLE = (20 * 1000 * 1000) / 8;
/** The calibrated policy with both gates open: a loaded model answers (the router still runs). */
const LOCAL_POLICY = JSON.stringify({ ...SMOLLM2_POLICY, threshold_pre: 0, threshold_full: 0 });

let srv;
let model;
const temp = tempDirs();
const profile = () => temp.make();

let policyDir;
before(async () => {
  model = smollm2Model();
  policyDir = temp.keep(mkdtempSync(path.join(os.tmpdir(), 'tutor-policy-')));
  writeFileSync(path.join(policyDir, 'local.json'), LOCAL_POLICY);
  srv = await startServer({ root: WEB, mounts: { '/models/smollm2/': model.dir, '/policy/': policyDir } });
});
after(async () => {
  await srv?.close();
  temp.removeAll();
});

describe('answers from the first second', () => {
  test('first visit at 20 Mbit/s: the gateway answers within 2 s of page load while the model downloads; the next question after the load is local', async () => {
    // The gateway's own default engine (Gemma 3 270M with its chat template).
    const gw = await startRealGateway({ origin: srv.url });
    const ctx = await launch(profile());
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      // The browser's own network throttling (DevTools protocol), for the page and its worker.
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: THROTTLE, uploadThroughput: THROTTLE });
      page.on('pageerror', (e) => console.error('[page error]', e.message));
      await page.goto(`${srv.url}/test/page.html`);
      const first = await page.evaluate(
        async ([model, gateway, policy]) => {
          await new Promise((r) => (window.trReady ? r() : window.addEventListener('load', r)));
          const startMs = performance.now();
          // When the gateway request left and its response head came back, as the page saw them.
          const request = {};
          const fetch0 = window.fetch;
          window.fetch = async (url, init) => {
            const gatewayCall = String(url).endsWith('/v1/chat/completions') && request.start === undefined;
            if (gatewayCall) request.start = performance.now();
            const res = await fetch0(url, init);
            if (gatewayCall) request.responseStart = performance.now();
            return res;
          };
          window.progress = [];
          const t = await window.TR.Tutor.create({ model, gateway, policy, onProgress: (p) => window.progress.push(p) });
          window.tutor = t;
          const createdMs = performance.now();
          const chunks = [];
          let firstText = null;
          for await (const c of t.ask('Why is the sky blue?', { maxTokens: 16 })) {
            if (firstText === null && c.text) firstText = { ms: performance.now(), state: t.modelState, progress: t.progress };
            chunks.push(c);
          }
          window.fetch = fetch0;
          return { startMs, createdMs, firstText, chunks, request };
        },
        [MODEL_URL, gw.url, LOCAL_POLICY],
      );
      // performance.now() counts from the navigation's start: "from page load".
      assert.ok(first.firstText, `no text from the gateway: ${JSON.stringify(first.chunks)}`);
      const pct = Number(/\((\d+)%\)/.exec(first.chunks[0].reason)?.[1]);
      console.log(`first visit: page ready at ${first.startMs.toFixed(0)} ms, Tutor.create resolved at ${first.createdMs.toFixed(0)} ms, gateway request sent at ${first.request?.start.toFixed(0)} ms, response head at ${first.request?.responseStart.toFixed(0)} ms, first text at ${first.firstText.ms.toFixed(0)} ms (model ${pct}% downloaded): ${JSON.stringify(first.chunks.map((c) => c.text).join(''))}`);
      assert.ok(first.chunks.every((c) => c.source === 'server'), 'answered by the gateway');
      assert.match(first.chunks[0].reason, /^the on-device model is still downloading \(\d+%\)$/);
      assert.equal(first.firstText.state, 'loading');
      assert.ok(first.firstText.progress === null || first.firstText.progress.bytesDone < model.manifest.total_bytes, 'the download was still running');
      assert.ok(first.firstText.ms < 2000, `first gateway text ${first.firstText.ms.toFixed(0)} ms after page load`);

      // The download goes on at 20 Mbit/s; then the next question is answered on the device.
      const loaded = await page.evaluate(async () => {
        const info = await window.tutor.ready;
        const phases = [...new Set(window.progress.map((p) => p.phase))];
        return { info, ms: performance.now(), phases };
      });
      assert.ok(loaded.info, 'the model loaded');
      assert.ok(loaded.phases.includes('downloading'));
      // The throttle held: the shards cannot have arrived faster than 20 Mbit/s allows.
      const floorMs = (model.manifest.total_bytes / THROTTLE) * 1000;
      assert.ok(loaded.ms >= floorMs * 0.9, `model ready after ${loaded.ms.toFixed(0)} ms; at 20 Mbit/s the download alone takes ${floorMs.toFixed(0)} ms`);
      const next = await page.evaluate(() => window.trAsk('What is 7 times 8?', 24, { continue: true }));
      assert.equal(next.error, undefined, JSON.stringify(next.error));
      assert.equal(next.chunks[0].route?.code, 'confident', JSON.stringify(next.chunks[0]));
      assert.ok(next.chunks.every((c) => c.source === 'local'), 'answered on the device');
      assert.ok(next.tokens.length > 0);
      // The question after the gateway's answer continues the same conversation.
      const conv = await page.evaluate(() => window.tutor.conversation);
      assert.deepEqual(conv.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
      assert.equal(conv[1].content, first.chunks.map((c) => c.text).join(''));
      console.log(`model ready ${loaded.ms.toFixed(0)} ms after page load (20 Mbit/s floor ${floorMs.toFixed(0)} ms); next question local: ${JSON.stringify(next.text)}`);
    } finally {
      await ctx.close();
      await gw.stop();
    }
  });
  test('<tutor-chat> with a gateway: Ask works while the model downloads beside the conversation, then the model answers', async () => {
    const gw = await startGateway('Sunlight scatters off the air; blue light scatters most.');
    for (const s of model.manifest.shards) srv.throttle(`/models/smollm2/${s.url}`, 4 * 1024 * 1024);
    const ctx = await launch(profile());
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${srv.url}/demo/?gateway=${encodeURIComponent(gw.url)}&policy=/policy/local.json`);
      const el = page.locator('tutor-chat');
      const shadow = (sel) => el.locator(sel);
      await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('q').disabled, null, { timeout: 30_000 });
      assert.equal(await el.getAttribute('model-state'), 'loading');
      await shadow('input').fill('Why is the sky blue?');
      await shadow('input').press('Enter');
      await page.waitForFunction(() => {
        const r = document.querySelector('tutor-chat').shadowRoot;
        return r.querySelector('.badge') && r.getElementById('stop').hidden;
      }, null, { timeout: 30_000 });
      assert.equal(await shadow('.badge').textContent(), 'server');
      assert.match(await shadow('.meta').textContent(), /from the server — the on-device model is still downloading \(\d+%\)/);
      assert.equal(await shadow('.a').textContent(), 'Sunlight scatters off the air; blue light scatters most.');
      // Still downloading, shown beside the conversation.
      assert.equal(await el.getAttribute('model-state'), 'loading');
      assert.ok(await shadow('#progress').isVisible());
      assert.match(await shadow('#plabel').textContent(), /Downloading|Checking|Loading/);
      for (const s of model.manifest.shards) srv.throttle(`/models/smollm2/${s.url}`, 0);
      await page.waitForFunction(() => document.querySelector('tutor-chat').getAttribute('model-state') === 'ready', null, { timeout: 180_000 });
      assert.ok(!(await shadow('#progress').isVisible()));
      await shadow('input').fill('What is 3 plus 5?');
      await shadow('input').press('Enter');
      await page.waitForFunction(() => {
        const r = document.querySelector('tutor-chat').shadowRoot;
        return r.querySelectorAll('.badge').length === 2 && r.getElementById('stop').hidden;
      }, null, { timeout: 120_000 });
      const badges = await shadow('.badge').allTextContents();
      assert.deepEqual(badges, ['server', 'local']);
      // The follow-up was answered on the device: one gateway request in all.
      assert.equal(gw.requests.length, 1);
      assert.deepEqual(errors, []);
      console.log(`<tutor-chat>: gateway answer while downloading, then local: ${JSON.stringify((await shadow('.a').allTextContents())[1])}`);
    } finally {
      for (const s of model.manifest.shards) srv.throttle(`/models/smollm2/${s.url}`, 0);
      await ctx.close();
      await gw.close();
    }
  });
});

describe('conversations', () => {
  test('a 3-turn conversation: turns 2 and 3 prefill only their new tokens, faster than prefilling the whole history', async () => {
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate((m) => window.trLoad({ model: m }), MODEL_URL);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.info.architecture, 'llama');
      // The engine ships a route policy calibrated on this very file (by sha256): no mismatch.
      assert.equal(SMOLLM2_POLICY.calibrated_for.model, 'smollm2-135m-instruct-q4_1.gguf');
      assert.equal(r.info.policyMismatch, null);
      const turns = [];
      for (const [i, q] of ['What is photosynthesis?', 'Which gas does it release?', 'Why do plants need that gas less than animals?'].entries()) {
        const a = await page.evaluate(([q, keep]) => window.trAsk(q, 48, { continue: keep }), [q, i > 0]);
        assert.equal(a.error, undefined, JSON.stringify(a.error));
        assert.ok(['stop', 'length'].includes(a.last.finish));
        turns.push(a);
      }
      const u = turns.map((t) => t.last.usage);
      assert.equal(u[0].cachedTokens, 0, 'a fresh engine prefills the whole first prompt');
      for (const i of [1, 2]) {
        // What the KV cache held after turn i-1: its prompt and every token of its answer but the
        // last (a sampled token is run only when the next one is wanted).
        const held = u[i - 1].promptTokens + u[i - 1].completionTokens - 1;
        assert.ok(u[i].cachedTokens > 0);
        assert.equal(u[i].cachedTokens, held, `turn ${i + 1}: cached ${u[i].cachedTokens}, the cache held ${held}`);
        assert.equal(u[i].promptTokens - u[i].cachedTokens, u[i].promptTokens - held, 'only the new tokens were prefilled');
        assert.ok(u[i].promptTokens - u[i].cachedTokens < u[i].promptTokens / 2);
      }
      const conv = await page.evaluate(() => window.tutor.conversation);
      assert.deepEqual(conv.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
      assert.deepEqual(conv.filter((m) => m.role === 'assistant').map((m) => m.content), turns.map((t) => t.text));

      // Turn 2 again, its whole history prefilled: a raw prompt first leaves nothing in the KV
      // cache that the conversation shares.
      const other = await page.evaluate(() => window.trAsk('The capital of France is', 2, { raw: true }));
      assert.equal(other.error, undefined, JSON.stringify(other.error));
      const turn2 = conv.slice(0, 3);
      const whole = await page.evaluate(([m]) => window.trChatTurn(m, 48), [turn2]);
      assert.equal(whole.usage.prompt_tokens, u[1].promptTokens);
      assert.equal(whole.usage.prompt_tokens_details.cached_tokens, 0);
      assert.equal(whole.text, turns[1].text, 'the same greedy answer with and without the cached prefix');
      const cachedMs = turns[1].last.timing.firstTokenMs;
      const wholeMs = whole.tutor.timing.firstTokenMs;
      console.log(`conversation: turn 2 prompt ${u[1].promptTokens} tokens, ${u[1].cachedTokens} cached, ${u[1].promptTokens - u[1].cachedTokens} prefilled: first token ${cachedMs.toFixed(0)} ms; whole history prefilled: ${wholeMs.toFixed(0)} ms`);
      console.log(`conversation: turn 3 prompt ${u[2].promptTokens} tokens, ${u[2].cachedTokens} cached; answers ${turns.map((t) => JSON.stringify(t.text)).join(' | ')}`);
      assert.ok(cachedMs < wholeMs, `cached prefix ${cachedMs.toFixed(0)} ms, whole history ${wholeMs.toFixed(0)} ms`);
    } finally {
      await ctx.close();
    }
  });

  test('a conversation longer than the context window: the oldest turns are dropped and the final chunk says how many', async () => {
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate((m) => window.trLoad({ model: m, maxContext: 256 }), MODEL_URL);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      const long = [];
      for (let i = 0; i < 8; i++) {
        long.push({ role: 'user', content: `Question ${i + 1}: tell me one fact about the number ${i + 11}.` });
        long.push({ role: 'assistant', content: `The number ${i + 11} is ${i % 2 ? 'odd' : 'even'}, and it comes right after ${i + 10} when you count up from one.` });
      }
      long.push({ role: 'user', content: 'And what is 2 plus 2?' });
      const a = await page.evaluate(async ([m]) => {
        const chunks = [];
        for await (const c of window.tutor.chat.completions.create({ messages: m, stream: true, max_tokens: 24 })) chunks.push(c);
        return chunks.at(-1);
      }, [long]);
      assert.ok(['stop', 'length'].includes(a.choices[0].finish_reason));
      assert.ok(a.tutor.droppedMessages > 0, JSON.stringify(a.tutor));
      assert.ok(a.usage.prompt_tokens + 24 <= 256, `prompt ${a.usage.prompt_tokens} tokens`);
      console.log(`context window 256: ${a.tutor.droppedMessages} of ${long.length} messages dropped, prompt ${a.usage.prompt_tokens} tokens`);
    } finally {
      await ctx.close();
    }
  });
});

describe('SmolLM2 on WebGPU', () => {
  // Natively (crate/tests/native/smollm2.rs) 7 of the 8 follow llama.cpp for 10 tokens; the
  // Python question leaves it at token 9 (a near-tie), here as there.
  test("on the CPU (wasm, SIMD128 Q4_1 kernels) SmolLM2's first 10 greedy tokens equal llama.cpp's for 7 of the 8 reference questions", async () => {
    const cases = JSON.parse(readFileSync(path.join(ROOT, 'tests/reference/smollm2/greedy.json'), 'utf8')).cases;
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate((m) => window.trLoad({ model: m, backend: 'cpu' }), MODEL_URL);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.info.backend, 'cpu');
      const report = [];
      let agree = 0;
      for (const ref of cases) {
        assert.equal(ref.messages.length, 1);
        const a = await page.evaluate((q) => window.trAsk(q, 10), ref.messages[0].content);
        assert.equal(a.error, undefined, JSON.stringify(a.error));
        assert.equal(a.last.usage.promptTokens, ref.prompt_ids.length, ref.messages[0].content);
        const want = ref.gen_ids.slice(0, 10);
        let same = 0;
        while (same < want.length && a.tokens[same] === want[same]) same++;
        agree += same === want.length ? 1 : 0;
        report.push(`${JSON.stringify(ref.messages[0].content)}: ${same}/${want.length} ${JSON.stringify(a.text)}`);
      }
      console.log(report.join('\n'));
      assert.ok(agree >= 7, `only ${agree} of ${cases.length} follow llama.cpp for 10 tokens:\n${report.join('\n')}`);
    } finally {
      await ctx.close();
    }
  });

  test("on WebGPU (SwiftShader, asked for) SmolLM2 answers a chat question with llama.cpp's prompt and first 10 greedy tokens (its Q4_1 kernels in the browser)", async () => {
    // llama-server's rendering and greedy tokens for [user: "Why is the sky blue?"] (tests/reference/smollm2/).
    const ref = JSON.parse(readFileSync(path.join(ROOT, 'tests/reference/smollm2/greedy.json'), 'utf8')).cases[0];
    assert.deepEqual(ref.messages, [{ role: 'user', content: 'Why is the sky blue?' }]);
    const ctx = await launch(profile(), { webgpu: true });
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate((m) => window.trLoad({ model: m, backend: 'gpu' }), MODEL_URL);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.info.backend, 'gpu');
      const a = await page.evaluate((q) => window.trAsk(q, 10), ref.messages[0].content);
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      // Answered on the GPU throughout (a pipeline the browser rejects would fall back to the CPU).
      assert.ok(a.chunks.every((c) => c.backend === 'gpu'), JSON.stringify([...new Set(a.chunks.map((c) => c.backend))]));
      assert.equal(a.last.usage.promptTokens, ref.prompt_ids.length);
      assert.deepEqual(a.tokens, ref.gen_ids.slice(0, 10), `WebGPU: ${JSON.stringify(a.text)}`);
      console.log(`SmolLM2 on WebGPU (SwiftShader): ${a.last.usage.promptTokens} prompt tokens, 10/10 greedy tokens equal llama.cpp's: ${JSON.stringify(a.text)} (${a.last.timing.tokensPerS.toFixed(2)} tok/s)`);
    } finally {
      await ctx.close();
    }
  });
});
