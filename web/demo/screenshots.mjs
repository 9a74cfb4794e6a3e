// Screenshots of the demo page as a student sees it: during the first download, while an answer
// streams, and an answer that came from the server (storage quota too small, gateway configured).
// Usage (after web/build.sh): node web/demo/screenshots.mjs [outdir]   (default web/demo/screenshots)
import path from 'node:path';
import { WEB, launch, newProfile, shardedModel } from '../test/browser.mjs';
import { startGateway } from '../test/gateway.mjs';
import { startServer } from '../test/server.mjs';

const out = process.argv[2] ?? path.join(WEB, 'demo/screenshots');
const { dir, manifest } = shardedModel();
const srv = await startServer({ root: WEB, mounts: { '/models/gemma/': dir } });
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
await srv.close();
