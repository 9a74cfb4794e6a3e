/**
 * Stream: the chunk shape every answer has (local or server), an async-iterable queue fed by
 * worker messages or SSE events, and the mapping to OpenAI's `chat.completion.chunk`.
 */
import { AbortError, type TutorError } from './errors.js';

export type Source = 'local' | 'server';

/** Per-token confidence of a local token (from the raw logits, before sampling penalties). */
export interface TokenConfidence {
  logprob: number;
  entropy: number;
  top1: number;
}

/**
 * A route decision of the router (crate/src/route, through `TutorRouter`), as carried on the
 * chunk that announces it: the first chunk of an answer and each chunk where the route changes
 * (an escalation, a fallback).
 */
export interface RouteInfo {
  /** Where the answer goes from this chunk on. */
  route: 'local' | 'server' | 'unavailable';
  /** `Reason::code()`: 'confident', 'critical_topic', 'language_rule', 'low_confidence',
   * 'confidence_collapse', 'model_unavailable', 'no_compute', 'server_unreachable'. */
  code: string;
  /** The sentence for the student (`Reason::message()`). */
  message: string;
  /** The preferred route was not possible (e.g. the server was unreachable). */
  fallback: boolean;
  /** The router's score (P(local answer right)) and threshold, when the decision had one. */
  score?: number;
  threshold?: number;
  /** Local tokens generated before a mid-answer escalation. */
  atToken?: number;
  /** The server answers the question afresh: the local text shown so far was a draft. */
  replacesLocal?: boolean;
  /** Why the preferred route failed (on a fallback). */
  error?: string;
}
/** Why generation ended: 'stop' (end of turn / stop string), 'length', 'context_full', 'aborted'. */
export type FinishReason = 'stop' | 'length' | 'context_full' | 'aborted';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Local answers: prompt tokens whose keys and values the model already held from the
   * conversation so far (the prefill ran only `promptTokens - cachedTokens`). */
  cachedTokens?: number;
}

export interface Timing {
  /** From ask() to the first token (includes prefill). */
  firstTokenMs: number;
  /** Prompt tokens per second of the prefill, counting only the tokens it ran (not those
   * reused from the KV cache; local only). */
  promptTokensPerS: number | null;
  /** Generated tokens per second after the first token. */
  tokensPerS: number | null;
  totalMs: number;
}

/** What the engine said when a local answer started (`TutorEngine.start`). */
export interface StartFacts {
  promptTokens: number;
  cachedTokens: number;
  droppedMessages: number;
}

/** The timing of a local answer: started at t0, first token at `first`, finished `now` (ms);
 * the prefill ran `prefilled` tokens. */
export function localTiming(t0: number, first: number, now: number, prefilled: number, generated: number): Timing {
  return {
    firstTokenMs: first - t0,
    promptTokensPerS: prefilled / ((first - t0) / 1000),
    tokensPerS: generated > 1 && now > first ? (generated - 1) / ((now - first) / 1000) : null,
    totalMs: now - t0,
  };
}

/** The facts a local answer's final chunk carries: usage (cached vs new prompt tokens), timing,
 * and how many old turns were left out to fit the context window (only when some were). */
export function finalFacts(s: StartFacts, generated: number, t0: number, first: number, now: number): Pick<TutorChunk, 'usage' | 'timing' | 'droppedMessages'> {
  const out: Pick<TutorChunk, 'usage' | 'timing' | 'droppedMessages'> = {
    usage: { promptTokens: s.promptTokens, completionTokens: generated, cachedTokens: s.cachedTokens },
    timing: localTiming(t0, first, now, s.promptTokens - s.cachedTokens, generated),
  };
  if (s.droppedMessages > 0) out.droppedMessages = s.droppedMessages;
  return out;
}

export interface TutorChunk {
  /** Text that is safe to show (may be empty). */
  text: string;
  /** Token id (local only; null on the final flush chunk and for server chunks). */
  token: number | null;
  source: Source;
  /** Why this source answers (e.g. "on-device model ready", "local model unavailable: quota"). */
  reason: string;
  /** 'cpu' | 'gpu' for local answers, 'server' for gateway answers. */
  backend: string;
  /** Set on the last chunk. */
  finish: FinishReason | null;
  /** On the last chunk. */
  usage?: Usage;
  timing?: Timing;
  /** On the last chunk of a local answer whose conversation did not fit the context window:
   * how many of its oldest turns the model did not see (system messages are always kept). */
  droppedMessages?: number;
  /** On a chunk that announces a route decision (first chunk, escalation, fallback). */
  route?: RouteInfo;
  /** Replayed from this browser's answer cache (no model ran, no request was sent). */
  cached?: boolean;
  /** Local tokens: the model's confidence in this token (what the router watches). */
  confidence?: TokenConfidence;
}

/** OpenAI's streaming chunk shape, with the tutor's own facts under `tutor`. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: number; delta: { role?: 'assistant'; content?: string }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details?: { cached_tokens: number } };
  tutor: { source: Source; reason: string; backend: string; timing?: Timing; route?: RouteInfo; cached?: boolean; droppedMessages?: number };
}

export function toOpenAIChunk(c: TutorChunk, id: string, model: string, first: boolean): ChatCompletionChunk {
  const finish = c.finish === null ? null : c.finish === 'context_full' ? 'length' : c.finish;
  const out: ChatCompletionChunk = {
    id,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta: first ? { role: 'assistant', content: c.text } : { content: c.text }, finish_reason: finish }],
    tutor: { source: c.source, reason: c.reason, backend: c.backend, timing: c.timing, route: c.route, cached: c.cached, droppedMessages: c.droppedMessages },
  };
  if (c.usage) {
    out.usage = {
      prompt_tokens: c.usage.promptTokens,
      completion_tokens: c.usage.completionTokens,
      total_tokens: c.usage.promptTokens + c.usage.completionTokens,
    };
    if (c.usage.cachedTokens !== undefined) out.usage.prompt_tokens_details = { cached_tokens: c.usage.cachedTokens };
  }
  return out;
}

/**
 * A push → pull queue: producers `push` items and `end()`/`fail()`; the consumer iterates.
 * Breaking out of the `for await` loop calls `onCancel` (so the producer can stop early).
 */
export class ChunkQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: unknown) => void) | null = null;
  private ended = false;
  private error: TutorError | null = null;

  constructor(private readonly onCancel: () => void = () => undefined) {}

  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: undefined, done: true });
    }
  }

  fail(e: TutorError): void {
    if (this.ended) return;
    this.error = e;
    this.ended = true;
    if (this.failWaiting) {
      const f = this.failWaiting;
      this.waiting = this.failWaiting = null;
      f(e);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift() as T, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
      return: () => {
        if (!this.ended) this.onCancel();
        this.ended = true;
        this.items = [];
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Reject with AbortError as soon as `signal` fires (for awaiting one-shot worker replies). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, what: string, onAbort: () => void): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    onAbort();
    return Promise.reject(new AbortError(what));
  }
  return new Promise((resolve, reject) => {
    const h = (): void => {
      onAbort();
      reject(new AbortError(what));
    };
    signal.addEventListener('abort', h, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', h);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', h);
        reject(e);
      },
    );
  });
}
