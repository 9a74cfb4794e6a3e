// Screenshots of the demo page as a student sees it: during the first download, while an answer
// streams, an answer that came from the server (storage quota too small, gateway configured), and
// an answer the on-device model began and the real tutor-gateway took over mid-answer (its
// embedded default engine runs the same 270M model, so that answer shows the flow, not a better one).
// Usage (after web/build.sh): node web/demo/screenshots.mjs [outdir]   (default web/demo/screenshots)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, WEB, launch, newProfile, shardedModel } from '../test/browser.mjs';
import { startGateway } from '../test/gateway.mjs';
import { startRealGateway } from '../test/realgateway.mjs';
import { startServer } from '../test/server.mjs';

const out = process.argv[2] ?? path.join(WEB, 'demo/screenshots');
const { dir, manifest } = shardedModel();
// A route policy that escalates mid-answer at the first token (from the 4th) whose top-1
// probability is under 0.6, so the student sees the local draft, the reason and the server's answer.
const policyDir = mkdtempSync(path.join(os.tmpdir(), 'tutor-policy-'));
const calibrated = JSON.parse(readFileSync(path.join(ROOT, 'crate/src/route/default_policy.json'), 'utf8'));
const midAnswer = { ...calibrated, threshold_pre: 0, full: { features: ['answer_min_top1'], mean: [0.6], scale: [0.001], weights: [1], bias: 0 }, threshold_full: 0.5, window: 1, min_tokens: 4 };
writeFileSync(path.join(policyDir, 'mid-answer.json'), JSON.stringify(midAnswer));
const srv = await startServer({ root: WEB, mounts: { '/models/gemma/': dir, '/policy/': policyDir } });
const shot = (page, name) => page.screenshot({ path: path.join(out, name) }).then(() => console.log(`wrote ${name}`));
const QUESTION = process.env.QUESTION ?? 'Why is the sky blue?';

// 1. First visit: download progress (shards throttled so the bar is mid-way).
for (const s of manifest.shards) srv.throttle(`/models/gemma/${s.url}`, 12 * 1024 * 1024);
let ctx = await launch(newProfile());
let page = await ctx.newPage();
await page.setViewportSize({ width: 820, height: 620 });
await page.goto(`${srv.url}/demo/`);
await page.waitForFunction(() => {
  const t = document.querySelector('tutor-chat').shadowRoot.getElementById('pbar').style.width;
  return parseFloat(t) > 35;
}, null, { timeout: 120_000 });
await shot(page, 'download.png');
for (const s of manifest.shards) srv.throttle(`/models/gemma/${s.url}`, 0);

// 2. An answer streaming from the on-device model.
await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('q').disabled, null, { timeout: 180_000 });
await page.locator('tutor-chat input').fill(QUESTION);
await page.locator('tutor-chat input').press('Enter');
await page.waitForFunction(() => (document.querySelector('tutor-chat').shadowRoot.querySelector('.a')?.textContent.length ?? 0) > 20, null, { timeout: 120_000 });
await shot(page, 'answer-streaming.png');
await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('stop').checkVisibility(), null, { timeout: 120_000 });
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
await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('q').disabled, null, { timeout: 120_000 });
await page.locator('tutor-chat input').fill(QUESTION);
await page.locator('tutor-chat input').press('Enter');
await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('stop').checkVisibility() && document.querySelector('tutor-chat').shadowRoot.querySelector('.badge'), null, { timeout: 60_000 });
await shot(page, 'answer-server.png');
await ctx.close();
await gw.close();

// 4. The on-device model starts, becomes unsure, and the real tutor-gateway continues.
const real = await startRealGateway({ origin: srv.url });
ctx = await launch(newProfile());
page = await ctx.newPage();
await page.setViewportSize({ width: 820, height: 560 });
await page.goto(`${srv.url}/demo/?gateway=${encodeURIComponent(real.url)}&policy=/policy/mid-answer.json`);
await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('q').disabled, null, { timeout: 180_000 });
await page.locator('tutor-chat input').fill(process.env.HARD_QUESTION ?? 'A train leaves at 3:40 pm and travels 215 km at 86 km/h. At what time does it arrive?');
await page.locator('tutor-chat input').press('Enter');
await page.waitForFunction(() => !document.querySelector('tutor-chat').shadowRoot.getElementById('stop').checkVisibility() && document.querySelector('tutor-chat').shadowRoot.querySelector('.badge'), null, { timeout: 180_000 });
await shot(page, 'answer-escalated.png');
await ctx.close();
await real.stop();
await srv.close();
