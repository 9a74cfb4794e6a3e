/**
 * Route: one question's cascade, run in the engine worker next to the model. The router
 * (`TutorRouter`, crate/src/route, compiled into the same wasm module) decides; this module runs
 * the model and the network and feeds it what happened:
 *
 *   start → rule / no model → server
 *         → the answer's prefill (the end of the prompt scored) → afterPrefill → server before
 *           any token is shown
 *         → local tokens, each one's confidence → onToken → escalate: the local generation is
 *           paused (not thrown away) and the gateway answers in the same stream
 *   server unreachable before its first byte → serverFailed → the paused local answer resumes,
 *   marked as a fallback (a server that fails after it began is a typed error: its text is cut).
 *
 * Every chunk says its source and why; a chunk with `route` announces each decision.
 */
import { TutorRouter, policyMismatch as wasmPolicyMismatch, shippedPolicy as wasmShippedPolicy } from '../pkg/tutor_runtime.js';
import type { AnswerPart } from './cache-answers.js';
import { TutorError } from './errors.js';
import { type ChatMessage, escalate } from './escalate.js';
import type { EngineInput, ForwardEngine, GenerateParams, RawChunk } from './forward.js';
import { type FinishReason, type RouteInfo, type StartFacts, type TutorChunk, type Usage, finalFacts } from './stream.js';
import { type RouteEvent, type TelemetryEvent, agreement } from './telemetry.js';

export interface CascadeInput {
  question: string;
  /** What the local model answers: the conversation (its chat template) or a raw prompt. */
  input: EngineInput;
  /** What the gateway answers (the same conversation; a raw prompt as one user message). */
  messages: ChatMessage[];
  params: GenerateParams;
  gateway: string;
  gatewayModel?: string;
  lang?: string;
  /** Route policy JSON (`tutor eval`'s policy.json); absent: the calibrated default. */
  policy?: string;
  /** Rust `TelemetryConfig` JSON; null: no telemetry events. */
  telemetry: string | null;
}

export interface CascadeResult {
  finish: FinishReason;
  usage?: Usage;
  /** The answer as shown, run by run (for the answer cache). */
  parts: AnswerPart[];
  /** A fallback answered (the server was unreachable): not worth caching. */
  fallback: boolean;
}

export interface CascadeHooks {
  emit(c: TutorChunk): void;
  telemetry(e: TelemetryEvent): void;
  /** Called for each token the local model generates (shown or not). */
  generated(): void;
}

/** `RouteDecision` as serialized by the router. */
interface Decision {
  route: 'local' | 'server' | 'unavailable';
  reason: { kind: string; score?: number; threshold?: number; at_token?: number };
  fallback: boolean;
  message: string;
}
type Step = { action: 'continue' } | { action: 'escalate'; decision: Decision };

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function routeError(e: unknown): TutorError {
  const kind = typeof e === 'object' && e !== null && 'kind' in e ? String((e as { kind: unknown }).kind) : '';
  const message = e instanceof Error ? e.message : String(e);
  return new TutorError(kind === 'bad_policy' || kind === 'bad_config' ? 'invalid_input' : 'worker', `router: ${message}`);
}

function info(d: Decision, extra: Partial<RouteInfo> = {}): RouteInfo {
  const r: RouteInfo = { route: d.route, code: d.reason.kind, message: d.message, fallback: d.fallback, ...extra };
  if (d.reason.score !== undefined) r.score = d.reason.score;
  if (d.reason.threshold !== undefined) r.threshold = d.reason.threshold;
  if (d.reason.at_token !== undefined) r.atToken = d.reason.at_token;
  return r;
}

/** Whether `policy` (absent: the one shipped for this model) was calibrated on the model file with this
 * sha256 (the manifest's): null when it was, else the sentence to show. */
export function policyMismatch(policy: string | undefined, sha256: string | undefined): string | null {
  try {
    return wasmPolicyMismatch(policy ?? null, sha256 ?? null) ?? null;
  } catch (e) {
    throw routeError(e);
  }
}

/** The route policy JSON the package ships for the model file with this sha256 (the
 * manifest's; SmolLM2-135M-Instruct and Gemma 3 270M have their own), else the default one. */
export function shippedPolicy(sha256: string | undefined): string {
  try {
    return wasmShippedPolicy(sha256 ?? null);
  } catch (e) {
    throw routeError(e);
  }
}

export async function cascade(engine: ForwardEngine, x: CascadeInput, signal: AbortSignal, hooks: CascadeHooks): Promise<CascadeResult> {
  let router: TutorRouter;
  try {
    router = new TutorRouter(x.question, x.lang ?? null, x.policy ?? null);
  } catch (e) {
    throw routeError(e);
  }
  try {
    return await run(router, engine, x, signal, hooks);
  } finally {
    router.free();
  }
}

async function run(router: TutorRouter, engine: ForwardEngine, x: CascadeInput, signal: AbortSignal, hooks: CascadeHooks): Promise<CascadeResult> {
  const t0 = performance.now();
  const call = <T>(f: () => unknown): T => {
    try {
      return f() as T;
    } catch (e) {
      throw routeError(e);
    }
  };
  const parts: AnswerPart[] = [];
  const emit = (c: TutorChunk): void => {
    const last = parts.at(-1);
    if (c.route || !last || last.source !== c.source) parts.push({ text: c.text, source: c.source, reason: c.reason, backend: c.backend, route: c.route });
    else last.text += c.text;
    hooks.emit(c);
  };

  let decision = call<Decision>(() => router.start(true, true, true));
  let fallback = false;
  let localStarted = false;
  let started: StartFacts = { promptTokens: 0, cachedTokens: 0, droppedMessages: 0 };
  let shownLocal = 0;
  let localText = '';
  let tFirst = 0;
  const onAbort = (): void => engine.abort();
  signal.addEventListener('abort', onAbort, { once: true });

  /** Start the local answer (`measure`: score the prompt's last tokens during its prefill) and
   * run its prefill: resolves to the first token's chunk. */
  const startLocal = async (measure: number): Promise<RawChunk | null> => {
    started = await engine.start({ ...x.input, params: x.params, ...(measure > 0 ? { measureTail: measure } : {}) });
    localStarted = true;
    if (signal.aborted) engine.abort();
    return nextLocal();
  };
  /** The local model's next chunk (every generated token is counted, shown or not). */
  const nextLocal = async (): Promise<RawChunk | null> => {
    const c = await engine.next();
    if (c?.token != null) hooks.generated();
    return c;
  };

  /** The gateway answers from here; 'fallback' when it failed before its first byte and the
   * router chose the local model instead. */
  let serverUsage: Usage | undefined;
  let serverTokens = 0;
  const server = async (d: Decision): Promise<{ finish: FinishReason } | 'fallback'> => {
    emit({ text: '', token: null, source: 'server', reason: d.message, backend: 'server', finish: null, route: info(d, { replacesLocal: shownLocal > 0 }) });
    let began = false;
    let finish: FinishReason = 'stop';
    try {
      for await (const c of escalate(x.gateway, x.messages, { model: x.gatewayModel, maxTokens: x.params.maxTokens, temperature: x.params.temperature, signal, reason: d.message })) {
        if (c.text) {
          began = true;
          serverTokens++;
        }
        if (c.finish) {
          finish = c.finish;
          serverUsage = c.usage;
          if (c.timing) c.timing = { ...c.timing, totalMs: performance.now() - t0 };
        }
        emit(c);
      }
      return { finish };
    } catch (e) {
      if (signal.aborted) {
        emit({ text: '', token: null, source: 'server', reason: d.message, backend: 'server', finish: 'aborted' });
        return { finish: 'aborted' };
      }
      if (began) throw e;
      const fd = call<Decision>(() => router.serverFailed());
      if (fd.route !== 'local') throw e;
      decision = fd;
      fallback = true;
      const why = e instanceof Error ? e.message : String(e);
      emit({ text: '', token: null, source: 'local', reason: fd.message, backend: engine.backend, finish: null, route: info(fd, { error: why }) });
      return 'fallback';
    }
  };

  try {
    let c: RawChunk | null = null;
    let announce: RouteInfo | undefined;
    if (decision.route === 'server') {
      const r = await server(decision);
      if (r !== 'fallback') return await finished(r.finish, 'server');
      c = await startLocal(0);
    } else {
      // Local (provisional): the answer's own prefill measures how surprising the end of the
      // prompt (the question) is; the router decides before the first token is shown.
      const measure = call<string>(() => router.phase()) === 'prefill';
      c = await startLocal(measure ? router.promptTail : 0);
      let announced = false;
      if (measure) {
        const ps = engine.promptStats() ?? { tokens: started.promptTokens, scored: 0, meanNll: Number.NaN, maxNll: Number.NaN };
        const questionTokens = engine.countTokens(x.question.trim());
        decision = call<Decision>(() => router.afterPrefill(questionTokens, ps.tokens, ps.scored, ps.meanNll, ps.maxNll));
        if (decision.route === 'server') {
          const r = await server(decision);
          if (r !== 'fallback') return await finished(r.finish, 'server');
          announced = true; // server() announced the fallback
        }
      }
      if (!announced) announce = info(decision);
    }
    let last: RawChunk | null = null;
    while (c) {
      if (c.stats && call<string>(() => router.phase()) === 'local') {
        const step = call<Step>(() => router.onToken(c!.stats!.logprob, c!.stats!.entropy, c!.stats!.top1));
        if (step.action === 'escalate') {
          // The unsure token is not shown; the local generation waits, paused, in case the
          // server cannot be reached.
          decision = step.decision;
          const r = await server(decision);
          if (r !== 'fallback') return await finished(r.finish, 'server');
        }
      }
      const now = performance.now();
      if (c.token !== null) {
        shownLocal++;
        if (!tFirst) tFirst = now;
      }
      localText += c.text;
      const chunk: TutorChunk = { text: c.text, token: c.token, source: 'local', reason: decision.message, backend: engine.backend, finish: (c.finish as FinishReason | null) ?? null };
      if (c.stats) chunk.confidence = c.stats;
      if (announce) chunk.route = announce;
      announce = undefined;
      if (c.finish) Object.assign(chunk, finalFacts(started, engine.generatedTokens, t0, tFirst || now, now));
      emit(chunk);
      last = c;
      if (c.finish) break;
      await yieldToEventLoop(); // let an 'abort' message in
      c = await nextLocal();
    }
    return await finished((last?.finish as FinishReason | null) ?? 'stop', 'local');
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (localStarted && decision.route === 'server') engine.abort();
  }

  async function finished(finish: FinishReason, where: 'local' | 'server'): Promise<CascadeResult> {
    const usage = where === 'server' ? serverUsage : { promptTokens: started.promptTokens, completionTokens: engine.generatedTokens, cachedTokens: started.cachedTokens };
    if (x.telemetry !== null && finish !== 'aborted') {
      const answerTokens = where === 'server' ? (serverUsage?.completionTokens ?? serverTokens) : shownLocal;
      const pt = where === 'server' ? (serverUsage?.promptTokens ?? started.promptTokens) : started.promptTokens;
      const ev = call<Omit<RouteEvent, 'kind'>>(() => router.telemetryEvent(x.telemetry as string, performance.now() - t0, pt, answerTokens));
      hooks.telemetry({ kind: 'route', ...ev });
      if (ev.shadow && where === 'local') void shadow(x, localText, hooks);
    }
    return { finish, usage, parts, fallback };
  }
}

/** Send a locally answered question to the gateway too, in the background, and report agreement. */
async function shadow(x: CascadeInput, local: string, hooks: CascadeHooks): Promise<void> {
  const t0 = performance.now();
  let text = '';
  try {
    for await (const c of escalate(x.gateway, x.messages, { model: x.gatewayModel, maxTokens: x.params.maxTokens, temperature: x.params.temperature, reason: 'shadow sample' })) text += c.text;
    hooks.telemetry({ kind: 'shadow', ...agreement(local, text), server_latency_ms: performance.now() - t0, error: null });
  } catch (e) {
    hooks.telemetry({ kind: 'shadow', agreement: 0, same_final_number: null, server_latency_ms: performance.now() - t0, error: e instanceof Error ? e.message : String(e) });
  }
}
