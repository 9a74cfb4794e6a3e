// Browser tests of the npm package with the real Gemma 3 270M model (and SmolLM2-135M-Instruct, the
// demo's default), in Debian's Chromium via
// playwright-core, pages and shards served from 127.0.0.1 by test/server.mjs (which counts the
// bytes it sends, so "nothing fetched" and "resumed" are checked from the server's side).
// Run: cd web && node --test test/   (needs web/build.sh, the model, tutor-models)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MODEL, ROOT, WEB, launch, openTestPage, shardedModel, smollm2Model, tempDirs } from './browser.mjs';
import { startGateway } from './gateway.mjs';
import { startServer } from './server.mjs';

const PROMPT = 'The capital of France is';
const N_TOKENS = 6;
let srv;
let model; // { dir, manifest }
const temp = tempDirs();
const shardPath = (i) => `/models/gemma/${model.manifest.shards[i].url}`;
/** The native CLI's (`tutor run --threads 1`) prompt ids and greedy generated ids for the same prompt. */
function nativeRun(prompt, n) {
  const bin = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release/tutor');
  if (!existsSync(bin)) execFileSync('cargo', ['build', '--release', '--bin', 'tutor'], { cwd: ROOT, stdio: 'inherit' });
  const out = execFileSync(bin, ['run', '--model', MODEL, '--prompt', prompt, '--max-tokens', String(n), '--threads', '1', '--ids'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { prompt: JSON.parse(/prompt ids: (\[.*\])/.exec(out)[1]), generated: JSON.parse(/generated ids: (\[.*\])/.exec(out)[1]) };
}
const profile = () => temp.make();

let v2dir; // a second version of the model: its own manifest, the same shard files
before(async () => {
  model = shardedModel();
  v2dir = temp.keep(mkdtempSync(path.join(os.tmpdir(), 'tutor-v2-')));
  const v2 = { ...model.manifest, version: `${model.manifest.version}-v2`, shards: model.manifest.shards.map((s) => ({ ...s, url: `../gemma/${s.url}` })) };
  writeFileSync(path.join(v2dir, 'manifest.json'), JSON.stringify(v2));
  srv = await startServer({ root: WEB, mounts: { '/models/gemma/': model.dir, '/models/gemma-v2/': v2dir, '/models/smollm2/': smollm2Model().dir } });
});
after(async () => {
  await srv?.close();
  temp.removeAll();
});

describe('first visit, restart, WebGPU on/off', () => {
  const shared = profile();

  // One test, as a student's two visits are one story: the restart needs the first visit's
  // cache, and its tokens are compared with the first visit's (and the native CLI's).
  test('first visit on WebGPU (SwiftShader, asked for) downloads every shard once, caches it and streams the native greedy tokens; after a browser restart on the same profile, WebGPU off: zero model bytes fetched, the same tokens on the CPU', async () => {
    const native = nativeRun(PROMPT, N_TOKENS);
    srv.reset();
    let ctx = await launch(shared, { webgpu: true });
    let firstTokens;
    try {
      const page = await openTestPage(ctx, srv.url);
      console.log(`webgpu on: ${await page.evaluate(() => window.trGpu())}`);
      // `auto` passes over a software adapter; asked for, the GPU backend runs on SwiftShader.
      const r = await page.evaluate(() => window.trLoad({ backend: 'gpu' }));
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.deepEqual(r.phases, ['checking-cache', 'downloading', 'verifying', 'loading-to-gpu', 'compiling', 'ready']);
      assert.equal(r.last.bytesFetched, model.manifest.total_bytes);
      assert.equal(srv.bytes('/models/gemma/') - srv.stat('/models/gemma/manifest.json').bytes, model.manifest.total_bytes);
      for (let i = 0; i < model.manifest.shards.length; i++) assert.equal(srv.stat(shardPath(i)).requests, 1, `shard ${i} fetched once`);
      assert.equal(r.info.architecture, 'gemma3');
      assert.equal(r.info.backend, 'gpu');
      // The manifest names the file's sha256; the shipped policy was calibrated on this file.
      assert.match(model.manifest.sha256, /^[0-9a-f]{64}$/);
      assert.equal(r.info.policyMismatch, null);
      const cached = await page.evaluate(() => window.tutor.cachedShards());
      assert.equal(cached.length, model.manifest.shards.length);
      const a = await page.evaluate(([p, n]) => window.trAsk(p, n, { raw: true }), [PROMPT, N_TOKENS]);
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      assert.equal(a.tokens.length, N_TOKENS);
      assert.equal(a.last.finish, 'length');
      assert.equal(a.last.source, 'local');
      assert.equal(a.last.backend, 'gpu', JSON.stringify({ backends: a.chunks.map((c) => c.backend), reasons: [...new Set(a.chunks.map((c) => c.reason))] }));
      // A fresh engine: the whole prompt (BOS + the prompt's own tokens, as natively) was prefilled.
      assert.deepEqual(a.last.usage, { promptTokens: native.prompt.length, completionTokens: N_TOKENS, cachedTokens: 0 });
      assert.ok(a.last.timing.tokensPerS > 0);
      // WebGPU in the browser picks the same greedy tokens as the native CPU build.
      assert.deepEqual(a.tokens, native.generated, `browser GPU: ${a.text}`);
      firstTokens = a.tokens;
      console.log(`webgpu on: backend=${a.last.backend} tokens=${a.tokens.join(',')} text=${JSON.stringify(a.text)} ${a.last.timing.tokensPerS.toFixed(1)} tok/s`);
    } finally {
      await ctx.close();
    }

    srv.reset();
    ctx = await launch(shared, { webgpu: false });
    try {
      const page = await openTestPage(ctx, srv.url);
      console.log(`webgpu off: ${await page.evaluate(() => window.trGpu())}`);
      const r = await page.evaluate(() => window.trLoad());
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.ok(!r.phases.includes('downloading'), `phases: ${r.phases}`);
      assert.equal(r.last.bytesFetched, 0);
      assert.equal(r.info.backend, 'cpu');
      const a = await page.evaluate(([p, n]) => window.trAsk(p, n, { raw: true }), [PROMPT, N_TOKENS]);
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      // From the server's side: not one byte of any shard was sent (only the small manifest).
      for (let i = 0; i < model.manifest.shards.length; i++) assert.equal(srv.stat(shardPath(i)).bytes, 0, `shard ${i} bytes`);
      assert.ok(srv.stat('/models/gemma/manifest.json').requests <= 1);
      assert.equal(a.last.backend, 'cpu');
      assert.deepEqual(a.tokens, firstTokens, 'the CPU (WebGPU off) picks the GPU\'s tokens');
      console.log(`webgpu off: backend=${a.last.backend} tokens=${a.tokens.join(',')}`);
    } finally {
      await ctx.close();
    }
  });

  test('abort stops generation within one token; chat.completions streams OpenAI-shaped chunks', async () => {
    const ctx = await launch(shared);
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate(() => window.trLoad());
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      const a = await page.evaluate(([p]) => window.trAbortAfterFirst(p, 64), [PROMPT]);
      assert.equal(a.finish, 'aborted');
      assert.equal(a.tokensAtAbort, 1);
      assert.ok(a.tokensTotal - a.tokensAtAbort <= 1, `${a.tokensTotal - a.tokensAtAbort} tokens after abort`);
      console.log(`abort: ${a.tokensTotal - a.tokensAtAbort} token(s) after abort, stream ended ${a.msAfterAbort.toFixed(0)} ms after it`);
      // The engine is usable again after an abort.
      const again = await page.evaluate(([p]) => window.trAsk(p, 2, { raw: true }), [PROMPT]);
      assert.equal(again.tokens.length, 2);
      // A second ask while one streams: the first ends 'aborted', the second runs to its limit.
      const both = await page.evaluate(
        ([p]) => Promise.all([window.trAsk(p, 32, { raw: true }), new Promise((r) => setTimeout(r, 300)).then(() => window.trAsk(p, 3, { raw: true }))]),
        [PROMPT],
      );
      assert.equal(both[0].last.finish, 'aborted');
      assert.equal(both[1].last.finish, 'length');
      assert.deepEqual(both[1].tokens, again.tokens.concat(both[1].tokens.slice(2)));

      const chunks = await page.evaluate(() => window.trChat([{ role: 'user', content: 'What is 2+2?' }], 4));
      assert.ok(chunks.length >= 2);
      assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      const last = chunks.at(-1);
      assert.ok(['length', 'stop'].includes(last.choices[0].finish_reason));
      assert.equal(last.tutor.source, 'local');
      assert.ok(last.usage.completion_tokens >= 1 && last.usage.completion_tokens <= 4);
    } finally {
      await ctx.close();
    }
  });
});

describe('demo page', () => {
  test('<tutor-chat> on the demo page streams an answer with a local badge, tokens/s and the backend', async () => {
    const ctx = await launch(profile());
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${srv.url}/demo/`);
      const shadow = (sel) => page.locator('tutor-chat').locator(sel);
      await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('q').disabled, null, { timeout: 180_000 });
      assert.match(await shadow('#backend').textContent(), /on device · CPU \(WebAssembly\)/);
      await shadow('input').fill('What is 3 plus 5?');
      await shadow('input').press('Enter');
      await page.waitForFunction(() => {
        const r = document.querySelector('tutor-chat').shadowRoot;
        return r.querySelector('.badge') && r.getElementById('stop').hidden;
      }, null, { timeout: 120_000 });
      assert.equal(await shadow('.badge').textContent(), 'local');
      const meta = await shadow('.meta').textContent();
      assert.match(meta, /on this device \(CPU\) — on-device model ready \(cpu\)/);
      assert.match(meta, /\d+\.\d tok\/s/);
      assert.ok((await shadow('.a').textContent()).trim().length > 0, 'an answer was written');
      assert.deepEqual(errors, []);
      console.log(`demo answer: ${JSON.stringify(await shadow('.a').textContent())} | ${meta}`);
    } finally {
      await ctx.close();
    }
  });
});

describe('integrity', () => {
  test('a shard corrupted once on the server is discarded and fetched again; a persistently corrupt one fails with a clear integrity error and is never stored; a shard tampered with in IndexedDB is refetched', async () => {
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      srv.reset();
      srv.corrupt(shardPath(2), 1);
      let r = await page.evaluate(() => window.trDownload());
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(srv.stat(shardPath(2)).requests, 2, 'the corrupt copy was refetched');
      assert.equal(srv.stat(shardPath(3)).requests, 1);

      await page.evaluate(() => window.TR.clearCache());
      srv.reset();
      srv.corrupt(shardPath(5));
      r = await page.evaluate(() => window.trDownload());
      assert.ok(r.error, 'download must fail');
      assert.equal(r.error.kind, 'integrity');
      assert.equal(r.error.name, 'IntegrityError');
      assert.ok(r.error.isTutorError);
      assert.equal(r.error.data.shard, 5);
      assert.match(r.error.message, /shard 5 .*sha256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}.*corrupt or was tampered with \(tried 3 times\)/);
      console.log(`integrity error: ${r.error.message}`);
      const t = await page.evaluate(async () => {
        const t = await window.TR.Tutor.create({ gateway: 'http://127.0.0.1:9' });
        try {
          return await t.cachedShards();
        } finally {
          t.destroy();
        }
      });
      assert.ok(!t.some((k) => k.endsWith('/5')), `corrupt shard stored: ${t}`);

      // The server is fixed: only the missing shard is fetched.
      srv.corrupt(shardPath(5), 0);
      srv.reset();
      r = await page.evaluate(() => window.trDownload());
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(srv.bytes('/models/gemma/') - srv.stat('/models/gemma/manifest.json').bytes, model.manifest.shards[5].size);

      // A shard tampered with inside IndexedDB is caught by verifyCache, discarded and refetched.
      await page.evaluate(() => window.trTamper(1));
      srv.reset();
      r = await page.evaluate(() => window.trLoad({ verifyCache: true }));
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(srv.stat(shardPath(1)).requests, 1, 'the tampered shard was fetched again');
      assert.equal(srv.bytes('/models/gemma/') - srv.stat('/models/gemma/manifest.json').bytes, model.manifest.shards[1].size);
      const a = await page.evaluate(([p]) => window.trAsk(p, 2, { raw: true }), [PROMPT]);
      assert.equal(a.tokens.length, 2);
    } finally {
      await ctx.close();
    }
  });
});

describe('interrupted downloads', () => {
  test('closing the page mid-download and reopening resumes without refetching completed shards (Range for the partial one)', async () => {
    const prof = profile();
    const last = model.manifest.shards.length - 1;
    const lastSize = model.manifest.shards[last].size;
    srv.reset();
    srv.throttle(shardPath(last), 3 * 1024 * 1024);
    let ctx = await launch(prof);
    try {
      const page = await openTestPage(ctx, srv.url);
      await page.evaluate(() => window.trDownloadAbortable());
      // Wait until every other shard is stored and > 8 MiB of the last one has arrived.
      await page.waitForFunction(
        ([n, need]) => {
          const p = window.progress.at(-1);
          return p && p.shardsDone === n && p.bytesDone >= need;
        },
        [last, model.manifest.total_bytes - lastSize + 9 * 1024 * 1024],
        { timeout: 120_000, polling: 100 },
      );
      await page.close({ runBeforeUnload: false });
    } finally {
      await ctx.close();
    }
    const sentBefore = srv.stat(shardPath(last)).bytes;
    assert.ok(sentBefore < lastSize, 'the last shard was still downloading');
    srv.throttle(shardPath(last), 0);
    srv.reset();
    ctx = await launch(prof);
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate(() => window.trDownload());
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      for (let i = 0; i < last; i++) assert.equal(srv.stat(shardPath(i)).bytes, 0, `completed shard ${i} refetched`);
      const s = srv.stat(shardPath(last));
      assert.equal(s.ranges.length, 1, 'resumed with a Range request');
      const from = Number(/bytes=(\d+)-/.exec(s.ranges[0])[1]);
      assert.ok(from >= 8 * 1024 * 1024 && from % (4 * 1024 * 1024) === 0, `resumed from ${from}`);
      assert.equal(s.bytes, lastSize - from);
      assert.equal(r.progress.shardsDone, model.manifest.shards.length);
      assert.equal(r.progress.bytesFetched, lastSize - from, 'progress counts only bytes that came from the network');
      assert.equal(r.progress.bytesDone, model.manifest.total_bytes);
      console.log(`resume: completed shards not refetched; last shard resumed at byte ${from} of ${lastSize}`);
    } finally {
      await ctx.close();
    }
  });

  test('aborting a download rejects with an aborted error', async () => {
    srv.throttle(shardPath(0), 1024 * 1024);
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      const r = await page.evaluate(async () => {
        window.trDownloadAbortable();
        await new Promise((r) => setTimeout(r, 700));
        window.dlCtl.abort();
        return window.dlDone;
      });
      assert.equal(r.error?.kind, 'aborted');
    } finally {
      srv.throttle(shardPath(0), 0);
      await ctx.close();
    }
  });
});

describe('storage quota', () => {
  test('quota exhaustion is a typed QuotaError; with a gateway the tutor keeps answering from the server', async () => {
    const gw = await startGateway();
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      // A real quota limit enforced by the browser for this origin (50 MiB < the model).
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: srv.url, quotaSize: 50 * 1024 * 1024 });
      let r = await page.evaluate(() => window.trLoad());
      assert.equal(r.error?.kind, 'quota', JSON.stringify(r));
      assert.equal(r.error.name, 'QuotaError');
      assert.match(r.error.message, /not enough browser storage for the model: need [1-9]\d*\.\d MiB, /);
      console.log(`quota error: ${r.error.message}`);
      r = await page.evaluate((gateway) => window.trLoad({ gateway }), gw.url);
      assert.equal(r.error, undefined);
      assert.equal(r.info, null);
      assert.equal(r.localError.kind, 'quota');
      const a = await page.evaluate(() => window.trAsk('What is 2+2?', 16));
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      assert.equal(a.text, 'Two plus two is four.');
      assert.equal(a.last.source, 'server');
      assert.match(a.last.reason, /local model unavailable: not enough browser storage/);
      assert.equal(gw.requests.length, 1);
      assert.equal(gw.requests[0].stream, true);
      // The OpenAI-shaped stream from the server looks like the local one.
      const chunks = await page.evaluate(() => window.trChat([{ role: 'user', content: 'What is 2+2?' }], 8));
      assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'Two plus two is four.');
      assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.tutor.source === 'server'));
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
      assert.equal(chunks.at(-1).usage.completion_tokens, 5);
      assert.deepEqual(gw.requests[0].messages, [{ role: 'user', content: 'What is 2+2?' }]);
    } finally {
      await ctx.close();
      await gw.close();
    }
  });
});

describe('escalation client', () => {
  test('a 503 before the first byte is retried; a stream cut off without [DONE] is a network error, not an answer', async () => {
    const busy = await startGateway('Two plus two is four.', { failFirst: 2 });
    const cut = await startGateway('Two plus two is four.', { cutAfter: 2 });
    const ctx = await launch(profile());
    const noModel = '/models/none/manifest.json'; // 404: the local model is unavailable, the gateway answers
    try {
      const page = await openTestPage(ctx, srv.url);
      let r = await page.evaluate(([gateway, model]) => window.trLoad({ gateway, model }), [busy.url, noModel]);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.info, null);
      const a = await page.evaluate(() => window.trAsk('What is 2+2?', 16));
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      assert.equal(a.text, 'Two plus two is four.');
      assert.equal(busy.requests.length, 3, 'two 503s, then the answer');
      r = await page.evaluate(([gateway, model]) => window.trLoad({ gateway, model }), [cut.url, noModel]);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      const b = await page.evaluate(() => window.trAsk('What is 3+3?', 16));
      assert.equal(b.error?.kind, 'network', JSON.stringify(b));
      assert.match(b.error.message, /cut off: the stream ended without \[DONE\] after 2 pieces of text/);
      assert.equal(b.chunks.map((c) => c.text).join(''), 'Two plus');
      assert.ok(b.chunks.every((c) => c.finish === null), 'no chunk claims the answer finished');
      assert.equal(cut.requests.length, 1, 'a started answer is not retried');
    } finally {
      await ctx.close();
      await busy.close();
      await cut.close();
    }
  });

  test('the shared fixture: a real llama-server stream, whole and cut, reads as the Rust client reads it', async () => {
    // tests/reference/escalate/ (server/tests/http/escalate.rs checks the Rust client on it).
    const dir = path.join(ROOT, 'tests/reference/escalate');
    const cases = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8'));
    const transcript = readFileSync(path.join(dir, cases.transcript), 'utf8');
    const whole = await startGateway('', { replay: transcript });
    const cut = await startGateway('', { replay: transcript, cutAfter: cases.cut_after_events });
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      const ask = async (gateway) => {
        const r = await page.evaluate((g) => window.trLoad({ gateway: g, model: '/models/none/manifest.json' }), gateway);
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        return page.evaluate(() => window.trAsk('What is the capital of France?', 32));
      };
      const a = await ask(whole.url);
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      assert.equal(a.text, cases.text);
      assert.equal(a.last.finish, cases.finish_reason);
      const b = await ask(cut.url);
      assert.equal(b.error?.kind, 'network', JSON.stringify(b));
      assert.match(b.error.message, new RegExp(`cut off: the stream ended without \\[DONE\\] after ${cases.cut_content_events} pieces of text`));
      assert.equal(b.chunks.map((c) => c.text).join(''), cases.cut_text);
      assert.ok(b.chunks.every((c) => c.finish === null));
    } finally {
      await ctx.close();
      await whole.close();
      await cut.close();
    }
  });
});

describe('versions', () => {
  test('a new model version evicts the old one once it is complete; clearCache empties the cache', async () => {
    const ctx = await launch(profile());
    try {
      const page = await openTestPage(ctx, srv.url);
      let r = await page.evaluate(() => window.trDownload());
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      const keys = () =>
        page.evaluate(async () => {
          const t = await window.TR.Tutor.create({ gateway: 'http://127.0.0.1:9' });
          try {
            return await t.cachedShards();
          } finally {
            t.destroy();
          }
        });
      const v1 = model.manifest.version;
      assert.deepEqual((await keys()).sort(), model.manifest.shards.map((_, i) => `gemma-3-270m@${v1}/${i}`).sort());
      r = await page.evaluate(async () => {
        try {
          return { progress: await window.TR.Tutor.download('/models/gemma-v2/manifest.json') };
        } catch (e) {
          return { error: { kind: e.kind, message: e.message } };
        }
      });
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      const after = await keys();
      assert.equal(after.length, model.manifest.shards.length);
      assert.ok(after.every((k) => k.startsWith(`gemma-3-270m@${v1}-v2/`)), `old version left: ${after}`);
      await page.evaluate(() => window.TR.clearCache());
      assert.deepEqual(await keys(), []);
    } finally {
      await ctx.close();
    }
  });
});
