// Web benchmark: ours vs @wllama/wllama in the same headless Chromium, same model served from
// 127.0.0.1. Prints JSON; scripts/bench.sh (./build.sh bench) turns it into BENCHMARKS.md with scripts/bench/report.py.
// Usage (after web/build.sh): node bench/bench.mjs [--model FILE.gguf --name NAME] [--reps N] [--gen N] [--gpu-gen N] [--smoke]
//   --model: the GGUF both engines run (default: the Gemma 3 270M file of test/browser.mjs); ours
//   gets it as 32 MiB shards named NAME, wllama as the one file.
//   --smoke: 1 rep, 4 generated tokens (keeps the benchmark from rotting in CI; numbers meaningless).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { MODEL, WEB, launch, newProfile, shardedModel } from '../test/browser.mjs';
import { startServer } from '../test/server.mjs';

const str = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const arg = (name, dflt) => Number(str(name, dflt));
const smoke = process.argv.includes('--smoke');
const reps = smoke ? 1 : arg('--reps', 3);
const QUESTION = 'Why do we have seasons on Earth?';
// A paragraph to continue (raw, no framing): ~70 prompt tokens, 64 generated.
const PROMPT =
  'The water cycle describes how water moves on, above and below the surface of the Earth. Water evaporates from oceans and lakes, ' +
  'rises into the atmosphere, cools and condenses into clouds, and falls back as rain or snow. Some of it flows into rivers, some soaks into the ground, and';
const N = smoke ? 4 : arg('--gen', 64);
// Our WebGPU path on SwiftShader (a CPU rasterizer): a reference point, so fewer tokens.
const N_GPU = smoke ? 2 : arg('--gpu-gen', 8);
const modelPath = path.resolve(str('--model', MODEL));
const { dir } = shardedModel(modelPath, str('--name', 'gemma-3-270m'));
const mounts = { '/models/shards/': dir, '/models/file/': path.dirname(modelPath) };
const modelFile = `/models/file/${path.basename(modelPath)}`;
const manifest = '/models/shards/manifest.json';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = { date: new Date().toISOString(), model: path.basename(modelPath), chromium: '', cpu: '', reps, smoke, prompt: PROMPT, genTokens: N, gpuGenTokens: N_GPU };
out.wllamaVersion = `@wllama/wllama ${JSON.parse(readFileSync(path.join(WEB, 'node_modules/@wllama/wllama/package.json'), 'utf8')).version}`;
out.cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? '';

async function page(ctx, base) {
  const p = ctx.pages()[0] ?? (await ctx.newPage());
  await p.goto(`${base}/bench/bench.html`);
  await p.waitForFunction(() => window.benchReady === true);
  return p;
}

// Interleaved so that load from other processes on the machine hits both sides alike:
// each rep runs ours (browser restart, warm cache), then wllama at 1 thread, then at 2 threads.
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const ours = { warm: [], gen: [] };
const wl = { 1: [], 2: [] };
const servers = { plain: await startServer({ root: WEB, mounts }), isolated: await startServer({ root: WEB, mounts, isolate: true }) };
const profiles = { ours: newProfile(), 1: newProfile(), 2: newProfile() };
{
  // First visit: downloads and caches (cold first token recorded once).
  const ctx = await launch(profiles.ours);
  out.chromium = ctx.browser()?.version() ?? '';
  const p = await page(ctx, servers.plain.url);
  ours.cold = await p.evaluate(([m, q]) => window.benchOursFirstToken(m, q), [manifest, QUESTION]);
  await ctx.close();
}
for (let i = 0; i < reps; i++) {
  servers.plain.reset();
  let ctx = await launch(profiles.ours);
  let p = await page(ctx, servers.plain.url);
  const w = await p.evaluate(([m, q]) => window.benchOursFirstToken(m, q), [manifest, QUESTION]);
  w.shardBytesServed = servers.plain.bytes('/models/shards/') - servers.plain.stat(manifest).bytes;
  w.load = load();
  ours.warm.push(w);
  const g = await p.evaluate(([pr, n]) => window.benchOursGen(pr, n), [PROMPT, N]);
  g.load = load();
  ours.gen.push(g);
  await ctx.close();
  console.error(`rep ${i + 1} ours: warm first token ${w.firstTokenMs.toFixed(0)} ms, prompt ${g.promptTps.toFixed(1)}, gen ${g.genTps.toFixed(1)} tok/s (load ${g.load})`);
  for (const t of [1, 2]) {
    const srv = t > 1 ? servers.isolated : servers.plain;
    ctx = await launch(profiles[t]);
    try {
      p = await page(ctx, srv.url);
      const r = await p.evaluate(([m, pr, n, th]) => window.benchWllama(m, pr, n, th), [modelFile, PROMPT, N, t]);
      r.load = load();
      wl[t].push(r);
      console.error(`rep ${i + 1} wllama ${t}t (${r.threads} used): prompt ${r.timings?.prompt_per_second?.toFixed(1)}, gen ${r.timings?.predicted_per_second?.toFixed(1)} tok/s (load ${r.load})`);
    } catch (e) {
      wl[t].push({ error: String(e.message ?? e).slice(0, 300) });
      console.error(`wllama ${t}t failed: ${e.message}`);
    } finally {
      await ctx.close();
    }
  }
}
// Our WebGPU path on SwiftShader, once (warm cache, same profile): function and relative cost.
// Not in the smoke run: on SwiftShader it takes ~5 minutes (web.test.mjs checks it answers).
if (smoke) {
  out.oursGpu = { skipped: 'smoke run (the WebGPU path on SwiftShader takes minutes; web.test.mjs checks its answer)' };
} else {
  const ctx = await launch(profiles.ours, { webgpu: true });
  try {
    const p = await page(ctx, servers.plain.url);
    const w = await p.evaluate(([m, q]) => window.benchOursFirstToken(m, q, 'gpu'), [manifest, QUESTION]);
    const g = await p.evaluate(([pr, n]) => window.benchOursGen(pr, n), [PROMPT, N_GPU]);
    // The backend that answered, not the one loaded: a GPU failing mid-answer continues on the CPU.
    if (w.backend !== 'gpu' || g.backend !== 'gpu') throw new Error(`asked for WebGPU, answered on ${g.backend} (loaded on ${w.backend}): the GPU path fell back to the CPU`);
    // The same greedy tokens as the CPU path (first ones; later ones may diverge where two logits nearly tie).
    const cpuTokens = ours.gen[0].tokens;
    let agree = 0;
    while (agree < g.tokens.length && g.tokens[agree] === cpuTokens[agree]) agree++;
    g.tokensAgreeWithCpu = agree;
    out.oursGpu = { backend: w.backend, adapter: await p.evaluate(async () => { const a = await navigator.gpu?.requestAdapter(); return a ? `${a.info?.vendor ?? ''} ${a.info?.architecture ?? ''} ${a.info?.description ?? ''}`.trim() : null; }), warm: w, gen: g, load: load() };
    console.error(`ours WebGPU (${w.backend}): warm first token ${w.firstTokenMs.toFixed(0)} ms, prompt ${g.promptTps.toFixed(2)}, gen ${g.genTps.toFixed(2)} tok/s; first ${agree}/${g.tokens.length} tokens equal the CPU path's`);
  } catch (e) {
    out.oursGpu = { error: String(e.message ?? e).slice(0, 300) };
    console.error(`ours WebGPU failed: ${e.message}`);
  } finally {
    await ctx.close();
  }
}
for (const s of Object.values(servers)) await s.close();
for (const pr of Object.values(profiles)) rmSync(pr, { recursive: true, force: true });
out.ours = {
  coldFirstTokenMs: ours.cold.firstTokenMs,
  coldBytesFetched: ours.cold.bytesFetched,
  warm: ours.warm,
  warmReadyMs: median(ours.warm.map((w) => w.readyMs)),
  warmFirstTokenMs: median(ours.warm.map((w) => w.firstTokenMs)),
  warmShardBytesServed: Math.max(...ours.warm.map((w) => w.shardBytesServed)),
  gen: ours.gen,
  promptTokens: ours.gen[0].promptTokens,
  promptTps: median(ours.gen.map((g) => g.promptTps)),
  promptTpsRange: [Math.min(...ours.gen.map((g) => g.promptTps)), Math.max(...ours.gen.map((g) => g.promptTps))],
  genTps: median(ours.gen.map((g) => g.genTps)),
  genTpsRange: [Math.min(...ours.gen.map((g) => g.genTps)), Math.max(...ours.gen.map((g) => g.genTps))],
};
out.wllama = {};
for (const t of [1, 2]) {
  const ok = wl[t].filter((r) => !r.error);
  out.wllama[t] = ok.length
    ? {
        runs: wl[t],
        threadsUsed: ok[0].threads,
        promptTokens: ok[0].timings?.prompt_n,
        promptTps: median(ok.map((r) => r.timings?.prompt_per_second ?? NaN)),
        genTps: median(ok.map((r) => r.timings?.predicted_per_second ?? NaN)),
        promptTpsRange: [Math.min(...ok.map((r) => r.timings?.prompt_per_second ?? NaN)), Math.max(...ok.map((r) => r.timings?.prompt_per_second ?? NaN))],
        genTpsRange: [Math.min(...ok.map((r) => r.timings?.predicted_per_second ?? NaN)), Math.max(...ok.map((r) => r.timings?.predicted_per_second ?? NaN))],
        wallGenTps: median(ok.map((r) => r.wallGenTps)),
        // Page load → first token; rep 1 downloads the file, later reps load it from wllama's cache.
        coldFirstTokenMs: wl[t][0]?.firstTokenMs ?? null,
        warmFirstTokenMs: ok.length > 1 ? median(ok.slice(1).map((r) => r.firstTokenMs)) : null,
        // ours / wllama, rep by rep (the two ran back to back), then the median.
        ratio: {
          promptTps: median(ours.gen.map((g, i) => (wl[t][i]?.timings ? g.promptTps / wl[t][i].timings.prompt_per_second : NaN)).filter(Number.isFinite)),
          genTps: median(ours.gen.map((g, i) => (wl[t][i]?.timings ? g.genTps / wl[t][i].timings.predicted_per_second : NaN)).filter(Number.isFinite)),
        },
      }
    : { error: wl[t][0]?.error ?? 'no runs' };
}

// --- sizes -----------------------------------------------------------------------------------
const wasm = readFileSync(path.join(WEB, 'dist/tutor_runtime_bg.wasm'));
out.wasm = { raw: wasm.length, gzip: gzipSync(wasm, { level: 9 }).length };
const pack = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: WEB, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0];
out.npm = { size: pack.size, unpackedSize: pack.unpackedSize, files: pack.entryCount };
console.log(JSON.stringify(out, null, 1));
