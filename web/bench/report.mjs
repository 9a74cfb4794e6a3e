// Turn bench.mjs's JSON into the "Web package" section of BENCHMARKS.md (replacing an older one).
// Usage: node web/bench/report.mjs bench-web.json BENCHMARKS.md
import { readFileSync, writeFileSync } from 'node:fs';

const [jsonPath, mdPath] = process.argv.slice(2);
const d = JSON.parse(readFileSync(jsonPath, 'utf8'));
const MARKER = '<!-- sections below are kept by ./build.sh bench -->';
const HEAD = '## Web package in headless Chromium (issue 4)';
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
const w1 = d.wllama['1'] ?? {};
const w2 = d.wllama['2'] ?? {};
const loads = [...d.ours.gen.map((g) => g.load), ...(w1.runs ?? []).map((r) => r.load)].filter(Boolean);
const o = d.ours;
const lines = [
  `${HEAD} — ${d.date.slice(0, 10)}`,
  '',
  `\`scripts/bench-web.sh\` (\`web/bench/bench.mjs\`): Chromium ${d.chromium} headless (playwright-core, Debian build), ${d.cpu}, 2 cores shared with other work`,
  `(1-minute load average during the runs: ${loads.join(', ')}). Gemma 3 270M Q4_K_M served from 127.0.0.1; ours as 8 shards of 32 MiB`,
  `from IndexedDB, wllama from the single GGUF file. Median of ${d.reps} interleaved reps (ours, wllama 1 thread, wllama 2 threads), greedy,`,
  `a ${o.promptTokens}-token prompt, ${d.genTokens} generated tokens. Our tokens/s are measured from the streamed chunks (prefill + first token, then`,
  `the rest); wllama's from llama.cpp's own timings (its streamed chunks agree: ${f1(w1.wallGenTps)} tok/s generation at 1 thread).`,
  '',
  '| | prompt tok/s | generation tok/s |',
  '|---|---:|---:|',
  `| **tutor-runtime** (wasm, CPU, 1 thread) | **${f1(o.promptTps)}** | **${f1(o.genTps)}** |`,
  `| @wllama/wllama, 1 thread | ${f1(w1.promptTps)} | ${f1(w1.genTps)} |`,
  `| @wllama/wllama, 2 threads (COOP/COEP, ${w2.threadsUsed ?? '?'} used) | ${f1(w2.promptTps)} | ${f1(w2.genTps)} |`,
  '',
  `- Page load → first token, warm cache (browser restarted on the same profile, ${o.warmShardBytesServed} shard bytes fetched): **${(o.warmFirstTokenMs / 1000).toFixed(2)} s**`,
  `  (median rep: ${breakdown(o.warm.find((w) => w.firstTokenMs === o.warmFirstTokenMs) ?? o.warm[0])}).`,
  `  First visit (downloads 241 MiB from 127.0.0.1): ${(o.coldFirstTokenMs / 1000).toFixed(2)} s.`,
  `- \`.wasm\`: ${mb(d.wasm.raw)} raw, ${mb(d.wasm.gzip)} gzip -9 (no wasm-opt). npm package (\`npm pack --dry-run\`): ${kib(d.npm.size)} packed, ${kib(d.npm.unpackedSize)} unpacked, ${d.npm.files} files.`,
  '- The reference figures in issue 4 for wllama on this machine (18.0 / 7.3 tok/s at 1 thread, 33.7 / 13.1 at 2 threads) were measured on an',
  '  idle machine; the table above is what the same page got at the same time as ours, so compare within the table.',
  '',
];
function breakdown(w) {
  const ph = w.phases ?? {};
  const s = (a, b) => ((b - a) / 1000).toFixed(2);
  if (!ph.verifying || !ph['loading-to-gpu']) return `\`Tutor.create\` resolved at ${(w.readyMs / 1000).toFixed(2)} s`;
  return [
    `page, worker and manifest ${s(0, ph['checking-cache'])} s`,
    `IndexedDB read of 8 shards ${s(ph.verifying, ph['loading-to-gpu'])} s`,
    `engine load (tokenizer + weights, in wasm) ${s(ph['loading-to-gpu'], w.readyMs)} s`,
    `prefill of the framed question (${w.promptTokens} tokens) + first token ${s(w.readyMs, w.firstTokenMs)} s`,
  ].join(', ');
}
let md = readFileSync(mdPath, 'utf8');
if (!md.includes(MARKER)) md = `${md.trimEnd()}\n\n${MARKER}\n`;
const [head, kept] = [md.slice(0, md.indexOf(MARKER) + MARKER.length), md.slice(md.indexOf(MARKER) + MARKER.length)];
// Drop an older web section (up to the next "## " heading) from the kept part.
const sections = kept.split(/\n(?=## )/);
const rest = sections.filter((s) => !s.trimStart().startsWith(HEAD)).join('\n').trim();
writeFileSync(mdPath, `${head}\n${lines.join('\n').trimEnd()}\n${rest ? `\n${rest}\n` : ''}`);
