// Shared helpers for the browser tests and the benchmark: shard the real model, serve it, and
// launch Debian's Chromium through playwright-core.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(WEB, '..');
export const MODEL = process.env.TUTOR_MODEL ?? path.join(ROOT, 'models/cache/gemma-3-270m-q4_k_m.gguf');
/** SmolLM2-135M-Instruct (ChatML template): the demo's default model. */
export const SMOLLM2 = process.env.TUTOR_SMOLLM2_MODEL ?? path.join(path.dirname(MODEL), 'smollm2-135m-instruct-q4_1.gguf');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const BASE_FLAGS = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--disable-extensions',
  '--mute-audio',
];
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'];

/** Shard a real model (default: Gemma 3 270M) with `tutor-models shard` (once per machine;
 * cached under the temp dir). */
export function shardedModel(file = MODEL, name = 'gemma-3-270m') {
  if (!existsSync(file)) throw new Error(`real model missing: ${file} (run models/fetch-model.sh all)`);
  // Keyed on the model file's size and mtime (and the manifest format: v2 names the whole
  // file's sha256), so a changed model is sharded afresh.
  const st = statSync(file);
  const dir = path.join(os.tmpdir(), `tutor-runtime-web-shards-v2-${name}-${st.size}-${Math.floor(st.mtimeMs)}`);
  const manifest = path.join(dir, 'manifest.json');
  if (!existsSync(manifest)) {
    const bin = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release/tutor-models');
    if (!existsSync(bin)) execFileSync('cargo', ['build', '--release', '-p', 'tutor-models'], { cwd: ROOT, stdio: 'inherit' });
    execFileSync(bin, ['shard', '--in', file, '--out', dir, '--model', name, '--shard-mib', '32'], { stdio: 'inherit' });
  }
  return { dir, manifest: JSON.parse(readFileSync(manifest, 'utf8')) };
}

/** SmolLM2-135M-Instruct, sharded. */
export const smollm2Model = () => shardedModel(SMOLLM2, 'smollm2-135m-instruct');

export function newProfile() {
  return mkdtempSync(path.join(os.tmpdir(), 'tutor-profile-'));
}

/** Temporary directories (browser profiles and the like) of one test file: `make()` a new
 * profile, `keep(dir)` another directory, `removeAll()` in the file's `after`. */
export function tempDirs() {
  const dirs = [];
  return {
    make() {
      const p = newProfile();
      dirs.push(p);
      return p;
    },
    keep(dir) {
      dirs.push(dir);
      return dir;
    },
    removeAll() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** The route policies the crate ships, calibrated by `tutor eval` on each real model
 * (crate/src/route/policies/; the engine picks one by the model file's sha256). */
export const SMOLLM2_POLICY = JSON.parse(readFileSync(path.join(ROOT, 'crate/src/route/policies/smollm2-135m-instruct-q4_1.json'), 'utf8'));
export const GEMMA_POLICY = JSON.parse(readFileSync(path.join(ROOT, 'crate/src/route/policies/gemma-3-270m-q4_k_m.json'), 'utf8'));

/** A persistent browser context on `profile` (so IndexedDB survives a restart). */
export async function launch(profile, { webgpu = false } = {}) {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : [])],
  });
}

/** Open the test page (which exposes the package as `window.TR`). */
export async function openTestPage(ctx, base) {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  await page.goto(`${base}/test/page.html`);
  await page.waitForFunction(() => window.trReady === true);
  return page;
}
