/**
 * The engine worker: downloads, caches, loads and generates off the page's thread. Between
 * tokens it yields to its event loop so an 'abort' message is seen before the next token.
 */
import { ShardCache, clearCache } from './cache.js';
import { AnswerCache, answerKey, clearAnswers } from './cache-answers.js';
import { AbortError, toTutorError } from './errors.js';
import type { ForwardEngine } from './forward.js';
import { downloadModel, loadModel } from './load.js';
import type { Progress } from './download.js';
import type { Counters, LoadInfo, Reply, Request, WorkerChunk } from './protocol.js';
import { cascade, policyMismatch, shippedPolicy } from './route.js';
import { type FinishReason, type TutorChunk, finalFacts } from './stream.js';

interface Scope {
  postMessage(m: Reply): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
}
const scope = self as unknown as Scope;

let engine: ForwardEngine | null = null;
/** `model@version` of the loaded model (part of every answer-cache key). */
let modelId = '';
/** The route policy shipped for the loaded model (used when a question brings none). */
let modelPolicy: string | undefined;
const counters: Counters = { tokensGenerated: 0, cacheHits: 0 };
const controllers = new Map<number, AbortController>();
/** The generation in progress (one at a time: a new ask aborts and waits for the previous). */
let current: { id: number; done: Promise<void> } | null = null;

const post = (m: Reply): void => scope.postMessage(m);
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

async function generate(id: number, req: Extract<Request, { op: 'generate' }>, signal: AbortSignal): Promise<void> {
  if (!engine) throw toTutorError({ kind: 'invalid_input', message: 'no model loaded' });
  const e = engine;
  const t0 = performance.now();
  const started = await e.start({ ...req.input, params: req.params });
  const onAbort = (): void => e.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) e.abort();
  let tFirst = 0;
  try {
    for (;;) {
      const c = await e.next();
      if (!c) break;
      const now = performance.now();
      if (c.token !== null) counters.tokensGenerated++;
      if (!tFirst && c.token !== null) tFirst = now;
      const chunk: WorkerChunk = { text: c.text, token: c.token, finish: c.finish as FinishReason | null, backend: e.backend };
      if (c.finish) {
        Object.assign(chunk, finalFacts(started, e.generatedTokens, t0, tFirst || now, now));
      }
      post({ op: 'chunk', id, chunk });
      if (c.finish) break;
      await yieldToEventLoop(); // let an 'abort' message in
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** One question through the router; a complete, non-fallback answer is stored in the answer
 * cache and replayed from it next time (no model step, no request). */
async function ask(id: number, req: Extract<Request, { op: 'ask' }>, signal: AbortSignal): Promise<void> {
  if (!engine) throw toTutorError({ kind: 'invalid_input', message: 'no model loaded' });
  const x = { ...req.input, policy: req.input.policy ?? modelPolicy };
  let cache: AnswerCache | null = null;
  let key = '';
  if (req.cache) {
    key = await answerKey({ input: x.input, model: modelId, params: x.params, policy: x.policy ?? null, gatewayModel: `${x.gateway}|${x.gatewayModel ?? ''}` });
    // A cache that cannot be opened (private mode, storage failure) only means no caching.
    cache = await AnswerCache.open().catch(() => null);
  }
  try {
    const hit = await cache?.get(key).catch(() => undefined);
    if (hit) {
      counters.cacheHits++;
      hit.parts.forEach((p, i) => {
        const c: TutorChunk = { text: p.text, token: null, source: p.source, reason: p.reason, backend: p.backend, finish: null, cached: true };
        if (p.route) c.route = p.route;
        if (i === hit.parts.length - 1) {
          c.finish = hit.finish;
          if (hit.usage) c.usage = hit.usage;
        }
        post({ op: 'answer', id, chunk: c });
      });
      return;
    }
    const r = await cascade(engine, x, signal, {
      emit: (chunk) => post({ op: 'answer', id, chunk }),
      telemetry: (event) => post({ op: 'telemetry', id, event }),
      generated: () => counters.tokensGenerated++,
    });
    if (cache && !r.fallback && (r.finish === 'stop' || r.finish === 'length')) {
      await cache.put({ key, parts: r.parts, finish: r.finish, usage: r.usage, created: Date.now() }).catch(() => undefined);
    }
  } finally {
    cache?.close();
  }
}

/** Run one generation at a time: a new one aborts the running one and waits for it to end. */
async function exclusive(id: number, run: () => Promise<void>): Promise<void> {
  const prev = current;
  if (prev) {
    controllers.get(prev.id)?.abort(new AbortError());
    await prev.done.catch(() => undefined);
  }
  const done = run();
  current = { id, done };
  try {
    return await done;
  } finally {
    if (current?.id === id) current = null;
  }
}

async function handle(req: Request): Promise<unknown> {
  const ctl = new AbortController();
  controllers.set(req.id, ctl);
  const onProgress = (progress: Progress): void => post({ op: 'progress', id: req.id, progress });
  try {
    switch (req.op) {
      case 'download':
        return await downloadModel(req.manifestUrl, { signal: ctl.signal, onProgress, concurrency: req.concurrency });
      case 'load': {
        engine?.free();
        engine = null;
        const l = await loadModel(req.manifestUrl, { signal: ctl.signal, onProgress, concurrency: req.concurrency, maxContext: req.maxContext, backend: req.backend, verifyCache: req.verifyCache });
        engine = l.engine;
        modelId = `${l.manifest.model}@${l.manifest.version}`;
        modelPolicy = shippedPolicy(l.manifest.sha256);
        const info: LoadInfo = {
          model: l.manifest.model,
          version: l.manifest.version,
          architecture: l.engine.architecture,
          quant: l.manifest.quant,
          backend: l.engine.backend,
          totalBytes: l.manifest.total_bytes,
          bytesFetched: l.progress.bytesFetched,
          policyMismatch: policyMismatch(req.policy ?? modelPolicy, l.manifest.sha256),
        };
        return info;
      }
      case 'generate':
        return await exclusive(req.id, () => generate(req.id, req, ctl.signal));
      case 'ask':
        return await exclusive(req.id, () => ask(req.id, req, ctl.signal));
      case 'counters':
        return { ...counters };
      case 'clear':
        await clearCache();
        await clearAnswers();
        return undefined;
      case 'cached': {
        const c = await ShardCache.open();
        try {
          return await c.shardKeys();
        } finally {
          c.close();
        }
      }
      default:
        return undefined;
    }
  } finally {
    controllers.delete(req.id);
  }
}

scope.onmessage = (ev: MessageEvent<Request>): void => {
  const req = ev.data;
  if (req.op === 'abort') {
    controllers.get(req.id)?.abort(new AbortError());
    return;
  }
  handle(req).then(
    (value) => post({ op: 'done', id: req.id, value }),
    (e) => post({ op: 'error', id: req.id, error: toTutorError(e).toJSON() }),
  );
};
