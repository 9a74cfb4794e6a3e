// Screenshots of the demo page as a student sees it, with its default model (SmolLM2-135M-Instruct):
// the first visit (the real tutor-gateway answers while the model downloads beside the
// conversation), an answer streaming from the on-device model and the finished one, an answer that
// came from the server (storage quota too small, gateway configured), and an answer the on-device
// model began and the real tutor-gateway took over mid-answer.
// Usage (after web/build.sh): node web/demo/screenshots.mjs [outdir]   (default web/demo/screenshots)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, WEB, launch, newProfile, smollm2Model } from '../test/browser.mjs';
import { startGateway } from '../test/gateway.mjs';
import { startRealGateway } from '../test/realgateway.mjs';
import { startServer } from '../test/server.mjs';

const out = process.argv[2] ?? path.join(WEB, 'demo/screenshots');
const { dir, manifest } = smollm2Model();
// A route policy that escalates mid-answer at the first token (from the 4th) whose top-1
// probability is under 0.6, so the student sees the local draft, the reason and the server's answer.
const policyDir = mkdtempSync(path.join(os.tmpdir(), 'tutor-policy-'));
const calibrated = JSON.parse(readFileSync(path.join(ROOT, 'crate/src/route/policies/smollm2-135m-instruct-q4_1.json'), 'utf8'));
const midAnswer = { ...calibrated, threshold_pre: 0, full: { features: ['answer_min_top1'], mean: [0.6], scale: [0.001], weights: [1], bias: 0 }, threshold_full: 0.5, window: 1, min_tokens: 4 };
// Gates open: a loaded model answers whatever the calibrated policy would say.
writeFileSync(path.join(policyDir, 'local.json'), JSON.stringify({ ...calibrated, threshold_pre: 0, threshold_full: 0 }));
writeFileSync(path.join(policyDir, 'mid-answer.json'), JSON.stringify(midAnswer));
const srv = await startServer({ root: WEB, mounts: { '/models/smollm2/': dir, '/policy/': policyDir } });
const shot = (page, name) => page.screenshot({ path: path.join(out, name) }).then(() => console.log(`wrote ${name}`));
const QUESTION = process.env.QUESTION ?? 'Why is the sky blue?';
const root = "document.querySelector('tutor-chat').shadowRoot";
const answered = new Function(`const r = ${root}; return r.querySelector('.badge') && !r.getElementById('stop').checkVisibility();`);
const ask = async (page, q) => {
  await page.locator('tutor-chat input').fill(q);
  await page.locator('tutor-chat input').press('Enter');
};
const real = await startRealGateway({ origin: srv.url });

// 1. First visit: the model downloads (shards throttled) while the gateway answers at once.
for (const s of manifest.shards) srv.throttle(`/models/smollm2/${s.url}`, 2 * 1024 * 1024);
let ctx = await launch(newProfile());
let page = await ctx.newPage();
await page.setViewportSize({ width: 820, height: 620 });
await page.goto(`${srv.url}/demo/?gateway=${encodeURIComponent(real.url)}&policy=/policy/local.json`);
await page.waitForFunction(new Function(`return !${root}.getElementById('q').disabled;`), null, { timeout: 60_000 });
await ask(page, QUESTION);
await page.waitForFunction(answered, null, { timeout: 120_000 });
await shot(page, 'answer-while-downloading.png');
for (const s of manifest.shards) srv.throttle(`/models/smollm2/${s.url}`, 0);

// 2. The model is ready: a new conversation, answered on the device.
await page.waitForFunction(() => document.querySelector('tutor-chat').getAttribute('model-state') === 'ready', null, { timeout: 180_000 });
await page.evaluate(() => document.querySelector('tutor-chat').newConversation());
await ask(page, QUESTION);
await page.waitForFunction(new Function(`return (${root}.querySelector('.a')?.textContent.length ?? 0) > 40;`), null, { timeout: 120_000 });
await shot(page, 'answer-streaming.png');
await page.waitForFunction(answered, null, { timeout: 180_000 });
await shot(page, 'answer-local.png');
await ctx.close();

// 3. Not enough storage for the model: the same page answers through the gateway.
const gw = await startGateway('Sunlight is scattered by the air; blue light scatters most, so the sky looks blue.');
ctx = await launch(newProfile());
page = await ctx.newPage();
await page.setViewportSize({ width: 820, height: 520 });
const cdp = await ctx.newCDPSession(page);
await cdp.send('Storage.overrideQuotaForOrigin', { origin: srv.url, quotaSize: 50 * 1024 * 1024 });
await page.goto(`${srv.url}/demo/?gateway=${encodeURIComponent(gw.url)}`);
await page.waitForFunction(() => document.querySelector('tutor-chat').getAttribute('model-state') === 'unavailable', null, { timeout: 120_000 });
await ask(page, QUESTION);
await page.waitForFunction(answered, null, { timeout: 60_000 });
await shot(page, 'answer-server.png');
await ctx.close();
await gw.close();

// 4. The on-device model starts, becomes unsure, and the real tutor-gateway continues.
ctx = await launch(newProfile());
page = await ctx.newPage();
await page.setViewportSize({ width: 820, height: 560 });
await page.goto(`${srv.url}/demo/?gateway=${encodeURIComponent(real.url)}&policy=/policy/mid-answer.json`);
await page.waitForFunction(() => document.querySelector('tutor-chat').getAttribute('model-state') === 'ready', null, { timeout: 180_000 });
await ask(page, process.env.HARD_QUESTION ?? 'A train leaves at 3:40 pm and travels 215 km at 86 km/h. At what time does it arrive?');
await page.waitForFunction(answered, null, { timeout: 180_000 });
await shot(page, 'answer-escalated.png');
await ctx.close();
await real.stop();
await srv.close();
