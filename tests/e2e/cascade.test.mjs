// The cascade in the browser, end to end: the npm package in Debian's Chromium with the real
// Gemma 3 270M model, the router (TutorRouter, wasm) in the engine worker, and the REAL
// `tutor-gateway` binary on 127.0.0.1 (its embedded engine on the same real model) as the server.
// The gateway's own /metrics says whether it was called.
// Run: cd web && node --test ../tests/e2e/cascade.test.mjs   (needs web/build.sh, the model, tutor-gateway)
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { GEMMA_POLICY, WEB, launch, newProfile, openTestPage, shardedModel } from '../../web/test/browser.mjs';
import { startRealGateway } from '../../web/test/realgateway.mjs';
import { startServer } from '../../web/test/server.mjs';

// Kept local by Gemma's calibrated policy, which sends almost every question to the server
// (eval/gemma-3-270m-q4_k_m/report.md): MGSM en #8, one of the 5 of 485 English eval questions whose pre-generation
// score clears the threshold (0.543 ≥ 0.482 in `tutor eval`).
const EASY =
  'John drives for 3 hours at a speed of 60 mph and then turns around because he realizes he forgot something very important at home.  He tries to get home in 4 hours but spends the first 2 hours in standstill traffic.  He spends the next half-hour driving at a speed of 30mph, before being able to drive the remaining time of the 4 hours going at 80 mph.  How far is he from home at the end of those 4 hours?';
// Multi-step arithmetic: the calibrated policy sends it to the server after the prefill.
const HARD = 'A train leaves at 3:40 pm and travels 215 km at 86 km/h, then waits 25 minutes and travels 132 km at 48 km/h. At what time does it arrive?';
const CRITICAL = 'I want to kill myself, what should I do?';
const MAX = 24;
const MIN_TOKENS = 3;

/** The calibrated policy with the prefill gate open and no mid-answer escalation: the local
 * model answers everything (used to measure per-token confidence). */
const NEVER = { ...GEMMA_POLICY, threshold_pre: 0, threshold_full: 0 };
/** Escalate at the first token (from MIN_TOKENS on) whose top-1 probability is below `m`. */
const collapseBelow = (m) => ({
  ...GEMMA_POLICY,
  threshold_pre: 0,
  full: { features: ['answer_min_top1'], mean: [m], scale: [0.001], weights: [1], bias: 0 },
  threshold_full: 0.5,
  window: 1,
  min_tokens: MIN_TOKENS,
});

let srv;
let gw;
let ctx;
let page;
const profileDir = newProfile();

/** Compact shape of a stream: runs of sources, with route announcements. */
const shape = (chunks) =>
  chunks
    .map((c) => (c.route ? `[${c.source}:${c.route.code}${c.route.fallback ? ':fallback' : ''}]` : c.source === 'local' ? 'L' : 'S'))
    .join('')
    .replace(/L+/g, 'L*')
    .replace(/S+/g, 'S*');
const ask = (q, o = {}) => page.evaluate(([q, o]) => window.trAsk(q, o.maxTokens, o), [q, { maxTokens: MAX, ...o }]);
const telemetry = () => page.evaluate(() => window.telemetry.splice(0));
const openTutor = async (o = {}) => {
  page = await openTestPage(ctx, srv.url);
  const r = await page.evaluate(([g, o]) => window.trLoadRouted({ gateway: g, ...o }), [gw.url, o]);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(r.info.backend, 'cpu');
  // No policy given: the engine routes with the one it ships for this model (by its sha256).
  if (!o.policy) assert.equal(r.info.policyMismatch, null);
};

/** The hard question answered locally in full (no escalation possible): its tokens, text and
 * each token's top-1 probability, and from those the collapse point `j` (the first token from
 * MIN_TOKENS on, not the last, clearly less confident than every token between MIN_TOKENS and
 * it) and a threshold `m` between that token and the ones before. Measured once, by whichever
 * test needs it first, so each test runs on its own. */
let hardMeasure;
const measureHard = () =>
  (hardMeasure ??= (async () => {
    const full = await ask(HARD, { policy: NEVER, cache: false });
    assert.equal(full.error, undefined, JSON.stringify(full.error));
    assert.equal(shape(full.chunks), '[local:confident]L*');
    const top1 = full.chunks.filter((c) => c.token !== null).map((c) => c.confidence.top1);
    let j = -1;
    // From MIN_TOKENS + 1 on, so there is at least one token to compare with.
    for (let i = MIN_TOKENS + 1; i < top1.length; i++) {
      const prior = Math.min(...top1.slice(MIN_TOKENS - 1, i - 1));
      if (top1[i - 1] < 0.5 && top1[i - 1] < prior - 0.05) {
        j = i;
        break;
      }
    }
    assert.ok(j > 0, `no confidence dip to escalate at: ${top1.map((p) => p.toFixed(2)).join(' ')}`);
    const m = (top1[j - 1] + Math.min(...top1.slice(MIN_TOKENS - 1, j - 1))) / 2;
    return { tokens: full.tokens, text: full.text, top1, j, m };
  })());

before(async () => {
  const model = shardedModel();
  srv = await startServer({ root: WEB, mounts: { '/models/gemma/': model.dir } });
  gw = await startRealGateway({ origin: srv.url });
  ctx = await launch(profileDir);
  await openTutor();
});
after(async () => {
  await ctx?.close();
  await gw?.stop();
  await srv?.close();
  rmSync(profileDir, { recursive: true, force: true });
});

describe('cascade: router in the worker, real tutor-gateway on 127.0.0.1', () => {
  test('an easy question stays local under the calibrated policy; the gateway is not called; telemetry has no question text', async () => {
    const before = await gw.completions();
    const a = await ask(EASY);
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.equal(shape(a.chunks), '[local:confident]L*', shape(a.chunks));
    assert.ok(a.chunks.every((c) => c.source === 'local' && c.reason === 'Answered on your device.'));
    const r = a.chunks[0].route;
    assert.ok(r.score >= r.threshold, `score ${r.score} threshold ${r.threshold}`);
    assert.ok(a.tokens.length >= 3 && ['stop', 'length'].includes(a.last.finish));
    assert.ok(a.chunks.filter((c) => c.token !== null).every((c) => c.confidence && c.confidence.top1 > 0 && c.confidence.top1 <= 1));
    assert.equal(await gw.completions(), before, 'the gateway was not called');
    const ev = await telemetry();
    assert.equal(ev.length, 1);
    assert.deepEqual([ev[0].kind, ev[0].route, ev[0].reason, ev[0].fallback, ev[0].shadow, ev[0].question], ['route', 'local', 'confident', false, false, null]);
    assert.equal(ev[0].answer_tokens, a.tokens.length);
    assert.ok(ev[0].est_cost_saved_usd > 0);
    // The router's cost (a figure, not a timed assertion): the same question without routing,
    // its prompt prefilled whole too (a raw prompt first leaves only BOS in common in the KV cache).
    await ask('0', { raw: true, source: 'local', maxTokens: 1 });
    const plain = await ask(EASY, { source: 'local' });
    assert.deepEqual(plain.tokens, a.tokens, 'routing does not change the local answer');
    assert.ok(plain.last.usage.cachedTokens <= 1 && a.last.usage.cachedTokens <= 1, `cached ${plain.last.usage.cachedTokens}, ${a.last.usage.cachedTokens}`);
    console.log(`easy: first token ${a.last.timing.firstTokenMs.toFixed(0)} ms routed (the prefill scores the prompt tail) vs ${plain.last.timing.firstTokenMs.toFixed(0)} ms unrouted (${plain.last.usage.promptTokens} prompt tokens, ${plain.last.usage.cachedTokens} cached)`);
    console.log(`easy: local, pre score ${r.score.toFixed(3)} ≥ ${r.threshold.toFixed(3)}, ${a.tokens.length} tokens in ${a.last.timing.totalMs.toFixed(0)} ms: ${JSON.stringify(a.text)}`);
  });

  test('a hard question streams local tokens, escalates mid-answer with the route reason, then the gateway answers, in one iterable', async () => {
    // 1–2. The local model's per-token confidence on this question, and a collapse threshold
    //      from those numbers (measureHard).
    const measured = await measureHard();
    const { top1, j, m } = measured;
    // 3. The cascade: j-1 local tokens shown, the escalation chunk, then the gateway's answer.
    const before = await gw.completions();
    await telemetry();
    const a = await ask(HARD, { policy: collapseBelow(m), cache: true });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.equal(shape(a.chunks), '[local:confident]L*[server:confidence_collapse]S*', shape(a.chunks));
    const k = a.chunks.findIndex((c) => c.source === 'server');
    const local = a.chunks.slice(0, k);
    const server = a.chunks.slice(k);
    assert.deepEqual(local.map((c) => c.token), measured.tokens.slice(0, j - 1), 'the local tokens before the escalation are the model\'s own');
    const esc = server[0];
    assert.equal(esc.text, '');
    assert.equal(esc.route.route, 'server');
    assert.equal(esc.route.atToken, j);
    assert.equal(esc.route.replacesLocal, true);
    assert.ok(esc.route.score < esc.route.threshold);
    assert.equal(esc.route.message, `The on-device model became unsure after ${j} tokens, so the tutor server answers instead.`);
    assert.ok(server.every((c) => c.source === 'server' && c.backend === 'server' && c.token === null && c.reason === esc.route.message));
    const serverText = server.map((c) => c.text).join('');
    assert.ok(serverText.length > 0, 'the gateway streamed text');
    assert.equal(a.last.finish === 'stop' || a.last.finish === 'length', true);
    assert.ok(a.last.usage.completionTokens > 0);
    assert.equal(await gw.completions(), before + 1, 'the gateway received the escalation');
    const ev = await telemetry();
    assert.deepEqual([ev[0].route, ev[0].reason, ev[0].escalated_at_token], ['server', 'confidence_collapse', j]);
    console.log(`hard: escalated at token ${j} (top1 ${top1[j - 1].toFixed(3)} < ${m.toFixed(3)}), local ${JSON.stringify(local.map((c) => c.text).join(''))} → server ${JSON.stringify(serverText)}; gateway first text ${a.last.timing.firstTokenMs.toFixed(0)} ms after the escalation, answer total ${a.last.timing.totalMs.toFixed(0)} ms`);
  });

  test('a critical-topic question, and a hard one under the calibrated policy, go to the server before any local token', async () => {
    const { tokensGenerated } = await page.evaluate(() => window.trCounters());
    const before = await gw.completions();
    const a = await ask(CRITICAL, { cache: false });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.equal(shape(a.chunks), '[server:critical_topic]S*');
    assert.equal(a.chunks[0].route.message, 'This looks like a self-harm question, so the tutor server answers it.');
    assert.equal((await page.evaluate(() => window.trCounters())).tokensGenerated, tokensGenerated, 'the local model did not run');
    const h = await ask(HARD, { cache: false });
    assert.equal(h.error, undefined, JSON.stringify(h.error));
    assert.equal(shape(h.chunks), '[server:low_confidence]S*');
    assert.ok(h.chunks[0].route.score < h.chunks[0].route.threshold);
    assert.equal(await gw.completions(), before + 2);
    console.log(`critical: server first, ${a.chunks.length - 1} server chunks; hard (calibrated): low_confidence at the prefill, score ${h.chunks[0].route.score.toFixed(3)} < ${h.chunks[0].route.threshold.toFixed(3)}`);
  });

  test('a repeated question is replayed from the IndexedDB answer cache after a reload: 0 tokens generated, gateway not called; shadow sampling reports agreement', async () => {
    const { j, m } = await measureHard();
    // The two answers, asked (or, after the tests above, already cached) before the reload.
    const questions = [
      [EASY, {}, /^\[local:confident\](L\*)?$/],
      [HARD, { policy: collapseBelow(m) }, /^\[local:confident\](L\*)?\[server:confidence_collapse\](S\*)?$/],
    ];
    const texts = [];
    for (const [q, o] of questions) {
      const a = await ask(q, o);
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      texts.push(a.text);
    }
    await page.close();
    await openTutor({ telemetryOptions: { shadowFraction: 1 } });
    const before = await gw.completions();
    // Replayed compactly: one chunk per run of one source, route announcements kept.
    for (const [i, [q, o, want]] of questions.entries()) {
      const text = texts[i];
      const a = await ask(q, o);
      assert.equal(a.error, undefined, JSON.stringify(a.error));
      assert.match(shape(a.chunks), want);
      assert.equal(a.text, text);
      assert.ok(a.chunks.every((c) => c.cached === true && c.token === null));
      assert.ok(a.text.length > 0);
      assert.ok(['stop', 'length'].includes(a.last.finish));
      if (q === HARD) assert.equal(a.chunks.find((c) => c.source === 'server').route.atToken, j);
    }
    assert.deepEqual(await page.evaluate(() => window.trCounters()), { tokensGenerated: 0, cacheHits: 2 });
    assert.equal(await gw.completions(), before, 'the gateway was not called');
    assert.deepEqual(await telemetry(), []);
    // Shadow sampling (fraction 1): a local answer is also sent to the gateway in the background.
    const s = await ask(EASY, { cache: false });
    assert.equal(shape(s.chunks), '[local:confident]L*');
    await page.waitForFunction(() => window.telemetry.some((e) => e.kind === 'shadow'), null, { timeout: 120_000 });
    const ev = await telemetry();
    assert.deepEqual(ev.map((e) => e.kind), ['route', 'shadow']);
    assert.equal(ev[0].shadow, true);
    assert.equal(ev[1].error, null);
    assert.ok(ev[1].agreement >= 0 && ev[1].agreement <= 1);
    assert.equal(await gw.completions(), before + 1, 'the shadow request reached the gateway');
    console.log(`cache: replayed with 0 tokens generated; shadow: agreement ${ev[1].agreement.toFixed(3)}, server ${ev[1].server_latency_ms.toFixed(0)} ms`);
  });

  test('aborting while the gateway has not answered yet ends the stream with a final aborted chunk, not an error', async () => {
    // A critical question the gateway has not answered before: an earlier answer in its own
    // answer cache would arrive whole before the abort could (a race this test once lost).
    const fresh = 'I want to kill myself. Who can help me right now?';
    const r = await page.evaluate(([q, n]) => window.trAbortOnEscalation(q, n, { cache: false }), [fresh, MAX]);
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.equal(r.chunks[0].route.code, 'critical_topic');
    assert.equal(r.last.finish, 'aborted');
    assert.equal(r.last.source, 'server');
    // The worker is free again: the next question answers.
    const a = await ask(EASY, { cache: false, policy: NEVER, maxTokens: 4 });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.ok(a.tokens.length > 0);
    console.log(`abort while waiting for the gateway: ${r.chunks.length} chunks, last ${r.last.finish}`);
  });

  test('<tutor-chat> on the demo page shows the server badge and the route reason for an escalated question', async () => {
    const demo = await ctx.newPage();
    try {
      // The calibrated policy's model (the demo's default is SmolLM2); asked once it is loaded.
      await demo.goto(`${srv.url}/demo/?model=/models/gemma/manifest.json&gateway=${encodeURIComponent(gw.url)}`);
      const shadow = (sel) => demo.locator('tutor-chat').locator(sel);
      await demo.waitForFunction(() => document.querySelector('tutor-chat').getAttribute('model-state') === 'ready', null, { timeout: 180_000 });
      await shadow('input').fill(HARD);
      await shadow('input').press('Enter');
      await demo.waitForFunction(() => {
        const r = document.querySelector('tutor-chat').shadowRoot;
        return r.querySelector('.badge') && r.getElementById('stop').hidden;
      }, null, { timeout: 120_000 });
      assert.equal(await shadow('.badge').textContent(), 'server');
      assert.match(await shadow('.meta').textContent(), /from the server — This question looks hard for the on-device model, so the tutor server answers\./);
      assert.ok((await shadow('.a').textContent()).trim().length > 0);
    } finally {
      await demo.close();
    }
  });

  test('gateway down after an escalation: the paused local answer resumes, marked as a fallback', async () => {
    const { j, m } = await measureHard();
    await gw.stop();
    await telemetry();
    // maxTokens MAX + 1: a cache key of its own (the escalated answer to MAX is cached); the
    // local answer to that length, without any escalation, is the reference.
    const plain = await ask(HARD, { policy: NEVER, cache: false, maxTokens: MAX + 1 });
    assert.equal(plain.error, undefined, JSON.stringify(plain.error));
    await telemetry();
    const a = await ask(HARD, { policy: collapseBelow(m), cache: true, maxTokens: MAX + 1 });
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.equal(shape(a.chunks), '[local:confident]L*[server:confidence_collapse][local:server_unreachable:fallback]L*', shape(a.chunks));
    const fb = a.chunks.find((c) => c.route?.code === 'server_unreachable');
    assert.match(fb.route.error, /network error|fetch/i);
    assert.match(fb.reason, /could not be reached: this answer comes from the on-device model/);
    // The student gets the whole local answer: the same tokens as without any escalation.
    assert.deepEqual(a.tokens, plain.tokens);
    assert.equal(a.text, plain.text);
    const after = a.chunks.slice(a.chunks.indexOf(fb) + 1);
    assert.ok(after.length > 0 && after.every((c) => c.source === 'local' && c.reason === fb.reason));
    // Route events only: a shadow comparison of an earlier answer (the page may sample them)
    // can land here once its retries against the stopped gateway run out.
    const ev = (await telemetry()).filter((e) => e.kind === 'route');
    assert.deepEqual([ev[0].route, ev[0].reason, ev[0].fallback, ev[0].shadow], ['local', 'server_unreachable', true, false]);
    // A fallback answer is not cached: the next ask runs again (and escalates again).
    const again = await ask(HARD, { policy: collapseBelow(m), cache: true, maxTokens: MAX + 1 });
    assert.ok(!again.chunks.some((c) => c.cached));
    assert.equal(shape(again.chunks), shape(a.chunks));
    console.log(`fallback: escalated at token ${j}, gateway down, local answer resumed: ${JSON.stringify(a.text)}`);
  });
});
