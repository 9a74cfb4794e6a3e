/**
 * The public API. `Tutor.create` starts the engine worker and the model's download (or finds it
 * in IndexedDB) and load; with a gateway it resolves at once and the gateway answers until the
 * model is ready (`ready`). `ask` continues the tutor's conversation and streams the answer;
 * `chat.completions.create` answers any message list in OpenAI's shape. Messages go to the
 * engine, which renders them with the model's own chat template. With a model and a gateway,
 * each question goes through the router in the worker (route.ts): local, escalated before or
 * during the answer, or replayed from the answer cache. Without a gateway the model answers;
 * without a model the gateway does.
 */
import type { Progress } from './download.js';
import { AbortError, type SerializedError, TutorError, fromSerialized } from './errors.js';
import { type ChatMessage, escalate } from './escalate.js';
import type { EngineInput, GenerateParams } from './forward.js';
import type { Counters, LoadInfo, Reply, Request, WorkerChunk } from './protocol.js';
import { type ChatCompletionChunk, ChunkQueue, type TutorChunk, abortable, toOpenAIChunk } from './stream.js';
import { type TelemetryEvent, type TelemetryOptions, telemetryConfigJson } from './telemetry.js';

export interface TutorOptions {
  /** URL of the model's manifest.json (written by `tutor-models shard`). */
  model?: string;
  /** Base URL of an OpenAI-compatible gateway (`{gateway}/v1/chat/completions`). */
  gateway?: string;
  /** Model name sent to the gateway. */
  gatewayModel?: string;
  /** Download and load progress (also while `create` has already resolved). */
  onProgress?: (p: Progress) => void;
  /** Aborts the download / load. */
  signal?: AbortSignal;
  /** With a gateway, `create` resolves at once and the gateway answers while the model
   * downloads and loads (`ready` says when it is done). `true` keeps `create` waiting for the
   * model, as without a gateway. */
  waitForModel?: boolean;
  /** Where the engine worker script lives (default: `worker.js` next to this module). */
  workerUrl?: string | URL;
  maxContext?: number;
  /** Where the forward pass runs: 'auto' (default: WebGPU on a hardware adapter that passes the
   * engine's self-test, else the CPU), 'gpu' (software adapters too) or 'cpu'. */
  backend?: 'auto' | 'gpu' | 'cpu';
  /** Parallel shard downloads (default 3). */
  concurrency?: number;
  /** Re-hash cached shards on every load (default false; they were sha256-checked before being stored). */
  verifyCache?: boolean;
  /** Route policy (`tutor eval`'s policy.json, as text or object); default: the one built into
   * the engine for the loaded model (SmolLM2-135M-Instruct and Gemma 3 270M have their own;
   * any other model gets SmolLM2's, and `LoadInfo.policyMismatch` says so). Used when both a
   * model and a gateway are configured. */
  policy?: string | object;
  /** Language of the questions (BCP 47, e.g. 'en', 'hi-IN'): the policy's language rules use it. */
  lang?: string;
  /** Called after each routed answer with the router's event, and with shadow comparisons. */
  telemetry?: (e: TelemetryEvent) => void;
  telemetryOptions?: TelemetryOptions;
  /** Replay repeated questions from IndexedDB (default true). */
  answerCache?: boolean;
}

export interface AskOptions {
  signal?: AbortSignal;
  maxTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Extra stop strings (a conversation's answer already ends at the model's end of turn). */
  stop?: string[];
  /** Use the question as the prompt verbatim (no chat template), outside the conversation. */
  raw?: boolean;
  /** Force a source (no routing); by default the router decides (model and gateway), else
   * whichever is available. */
  source?: 'local' | 'server';
  /** Use the answer cache for this question (default: the `answerCache` option). */
  cache?: boolean;
  /** Language of this question (default: the `lang` option). */
  lang?: string;
  /** Route policy for this question (default: the `policy` option). */
  policy?: string | object;
}

export interface ChatCreateParams {
  messages: ChatMessage[];
  stream: true;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | string[];
  signal?: AbortSignal;
}

interface Pending {
  onProgress?: (p: Progress) => void;
  onChunk?: (c: WorkerChunk) => void;
  onAnswer?: (c: TutorChunk) => void;
  resolve: (v: unknown) => void;
  reject: (e: TutorError) => void;
}

/** Where the local model is: downloading / loading, loaded, or not available (`localError`). */
export type ModelState = 'loading' | 'ready' | 'unavailable';

/** A route policy as the worker takes it: JSON text (an object is serialized). */
function policyText(p: string | object | undefined): string | undefined {
  return p === undefined || typeof p === 'string' ? p : JSON.stringify(p);
}

export class Tutor {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** What the loaded local model is, or null while it loads and when answers go to the gateway. */
  info: LoadInfo | null = null;
  /** Why the local model is not available (null when it is, or while it loads). */
  localError: TutorError | null = null;
  /** 'loading' until the local model is loaded ('ready') or failed / is not configured
   * ('unavailable', `localError` says why). */
  modelState: ModelState = 'loading';
  /** The latest download / load progress (null before the first report). */
  progress: Progress | null = null;
  /** Resolves when the local model is loaded (its `LoadInfo`), or with null when it is not
   * available (`localError` says why). Never rejects. */
  ready: Promise<LoadInfo | null> = Promise.resolve(null);
  /** The conversation `ask` continues: user questions and the answers as they were shown. */
  private history: ChatMessage[] = [];
  readonly gateway: string | undefined;
  private readonly opts: TutorOptions;

  readonly chat = {
    completions: {
      create: (p: ChatCreateParams): AsyncIterable<ChatCompletionChunk> => this.chatStream(p),
    },
  };

  private constructor(opts: TutorOptions) {
    this.opts = opts;
    this.gateway = opts.gateway;
    this.worker = new Worker(opts.workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module', name: 'tutor-runtime' });
    this.worker.onmessage = (ev: MessageEvent<Reply>) => this.onReply(ev.data);
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      const e = new TutorError('worker', `engine worker failed: ${ev.message || 'could not start (check workerUrl and that .wasm is served)'}`);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
  }

  /**
   * Start the worker and the model's load (from IndexedDB, or downloaded and cached). With a
   * gateway, this resolves at once (unless `waitForModel`): questions go to the gateway until
   * `ready`, and a local failure other than abort (no storage quota, network, corrupt shards)
   * leaves the tutor working through the gateway; `localError` says why. Without a gateway it
   * resolves once the model is loaded, and rejects when it cannot be.
   */
  static async create(opts: TutorOptions): Promise<Tutor> {
    const t = new Tutor(opts);
    if (!opts.model) {
      if (!opts.gateway) {
        t.destroy();
        throw new TutorError('unavailable', 'Tutor.create needs a model manifest URL, a gateway URL, or both');
      }
      t.unavailable(new TutorError('unavailable', 'no local model configured'));
      return t;
    }
    t.ready = t.load(opts.model);
    if (!opts.gateway || opts.waitForModel) {
      await t.ready;
      if (t.localError && (t.localError.kind === 'aborted' || !opts.gateway)) {
        t.destroy();
        throw t.localError;
      }
    }
    return t;
  }

  /** Download and load the model; resolves with its info, or null (and `localError`) on failure. */
  private async load(model: string): Promise<LoadInfo | null> {
    const o = this.opts;
    // Ask the browser not to evict the model under storage pressure (Window-only API).
    await globalThis.navigator?.storage?.persist?.().catch(() => false);
    const onProgress = (p: Progress): void => {
      this.progress = p;
      o.onProgress?.(p);
    };
    try {
      const req: Request = { op: 'load', id: 0, manifestUrl: new URL(model, location.href).href, maxContext: o.maxContext, backend: o.backend, concurrency: o.concurrency, verifyCache: o.verifyCache, policy: policyText(o.policy) };
      this.info = (await this.call(req, o.signal, onProgress)) as LoadInfo;
      this.modelState = 'ready';
      // Said, not silently applied: the policy still routes, on another model's scale.
      if (this.info.policyMismatch) console.warn(`tutor-runtime: ${this.info.policyMismatch}`);
      return this.info;
    } catch (e) {
      this.unavailable(e instanceof TutorError ? e : new TutorError('worker', String(e)));
      return null;
    }
  }

  private unavailable(e: TutorError): void {
    this.localError = e;
    this.modelState = 'unavailable';
  }

  /** Download the model into the cache without loading it (e.g. on a course's first page). */
  static async download(model: string, o: { onProgress?: (p: Progress) => void; signal?: AbortSignal; workerUrl?: string | URL; concurrency?: number } = {}): Promise<Progress> {
    const t = new Tutor({ workerUrl: o.workerUrl });
    try {
      return (await t.call({ op: 'download', id: 0, manifestUrl: new URL(model, location.href).href, concurrency: o.concurrency }, o.signal, o.onProgress)) as Progress;
    } finally {
      t.destroy();
    }
  }

  /** 'cpu' | 'gpu' when the local model is loaded, else null. */
  get backend(): string | null {
    return this.info?.backend ?? null;
  }

  /**
   * Ask the next question of the conversation and stream the answer. The model sees the turns
   * so far (the oldest are dropped when they no longer fit its context window: the final chunk's
   * `droppedMessages` says how many); the answer, as shown, joins the conversation when it ends
   * (also when it is stopped). Breaking out of the loop or aborting `signal` stops generation.
   * With `raw`, the question is a prompt used verbatim, outside the conversation.
   */
  ask(question: string, o: AskOptions = {}): AsyncIterable<TutorChunk> {
    if (o.raw) return this.answer({ prompt: question }, [{ role: 'user', content: question }], o);
    const user: ChatMessage = { role: 'user', content: question };
    const messages = [...this.history, user];
    return this.turn(user, this.answer({ messages }, messages, o));
  }

  /** The conversation so far (a copy): user questions and the tutor's answers. */
  get conversation(): ChatMessage[] {
    return this.history.map((m) => ({ ...m }));
  }

  /** Start a new conversation: the next `ask` sees no earlier turns. */
  newConversation(): void {
    this.history = [];
  }

  /** Pass `answer` through, then add the question and the answer as shown to the conversation
   * (an answer that failed with an error is not added). */
  private async *turn(user: ChatMessage, answer: AsyncIterable<TutorChunk>): AsyncGenerator<TutorChunk> {
    let text = '';
    let failed = false;
    try {
      for await (const c of answer) {
        // Escalated mid-answer: the server answers afresh, the local draft is not the answer.
        if (c.route?.replacesLocal) text = '';
        text += c.text;
        yield c;
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      // Also when the consumer stopped early (`return()`): the student saw this much.
      if (!failed) this.history.push(user, { role: 'assistant', content: text });
    }
  }

  private answer(input: EngineInput, messages: ChatMessage[], o: AskOptions): AsyncIterable<TutorChunk> {
    const wantLocal = o.source !== 'server' && this.info !== null;
    if (wantLocal && this.gateway && o.source !== 'local') return this.routed(input, messages, o);
    if (wantLocal) return this.local(input, o);
    if (this.gateway) {
      const reason = o.source === 'server' ? 'server requested' : this.notLocal();
      return escalate(this.gateway, messages, { model: this.opts.gatewayModel, maxTokens: o.maxTokens, temperature: o.temperature, signal: o.signal, reason });
    }
    const err = new TutorError('unavailable', `no local model (${this.localError?.message ?? 'not loaded'}) and no gateway configured`);
    const q = new ChunkQueue<TutorChunk>();
    q.fail(err);
    return q;
  }

  /** Why the gateway answers instead of the local model. */
  private notLocal(): string {
    if (this.modelState !== 'loading') return `local model unavailable: ${this.localError?.message ?? 'not loaded'}`;
    const p = this.progress;
    if (!p || p.phase === 'checking-cache' || p.phase === 'downloading') {
      const pct = p && p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
      return `the on-device model is still downloading (${pct}%)`;
    }
    return 'the on-device model is still loading';
  }

  /** Generation parameters of an ask (greedy, 128 tokens by default). */
  private static params(o: AskOptions): GenerateParams {
    return { maxTokens: o.maxTokens ?? 128, temperature: o.temperature ?? 0, topK: o.topK ?? 40, topP: o.topP ?? 0.95, seed: o.seed ?? 0, stop: o.stop ?? [] };
  }

  /**
   * The queue that request `id`'s replies feed: aborting `signal` (or leaving the loop) sends
   * 'abort' to the worker; 'done' / 'error' end it. `send` is false (and `q` already failed)
   * when the signal was aborted before the request, which then must not be posted.
   */
  private openStream(id: number, signal: AbortSignal | undefined, feed: (q: ChunkQueue<TutorChunk>) => Pick<Pending, 'onChunk' | 'onAnswer'>): { q: ChunkQueue<TutorChunk>; send: boolean } {
    const q = new ChunkQueue<TutorChunk>(() => this.post({ op: 'abort', id }));
    const onAbort = (): void => this.post({ op: 'abort', id });
    if (signal?.aborted) {
      q.fail(new AbortError('generation'));
      return { q, send: false };
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    this.pending.set(id, {
      ...feed(q),
      resolve: () => {
        signal?.removeEventListener('abort', onAbort);
        q.end();
      },
      reject: (e) => {
        signal?.removeEventListener('abort', onAbort);
        q.fail(e);
      },
    });
    return { q, send: true };
  }

  private local(input: EngineInput, o: AskOptions): AsyncIterable<TutorChunk> {
    const id = this.nextId++;
    const reason = `on-device model ready (${this.info?.backend ?? 'cpu'})`;
    const { q, send } = this.openStream(id, o.signal, (q) => ({ onChunk: (c) => q.push({ ...c, source: 'local', reason }) }));
    if (!send) return q;
    this.post({ op: 'generate', id, input, params: Tutor.params(o) });
    return q;
  }

  /** The cascade in the worker: router, local model, gateway, answer cache. */
  private routed(input: EngineInput, messages: ChatMessage[], o: AskOptions): AsyncIterable<TutorChunk> {
    const id = this.nextId++;
    const { q, send } = this.openStream(id, o.signal, (q) => ({ onAnswer: (c) => q.push(c) }));
    if (!send) return q;
    const question = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const policy = policyText(o.policy ?? this.opts.policy);
    const lang = o.lang ?? this.opts.lang;
    this.post({
      op: 'ask',
      id,
      cache: o.cache ?? this.opts.answerCache ?? true,
      input: {
        question,
        input,
        messages,
        params: Tutor.params(o),
        gateway: new URL(this.gateway as string, location.href).href,
        ...(this.opts.gatewayModel ? { gatewayModel: this.opts.gatewayModel } : {}),
        ...(lang ? { lang } : {}),
        ...(policy ? { policy } : {}),
        telemetry: this.opts.telemetry ? telemetryConfigJson(this.opts.telemetryOptions) : null,
      },
    });
    return q;
  }

  /** Worker-wide counts: tokens generated by the local model, answers replayed from the cache. */
  async counters(): Promise<Counters> {
    return (await this.call({ op: 'counters', id: 0 })) as Counters;
  }

  private async *chatStream(p: ChatCreateParams): AsyncGenerator<ChatCompletionChunk> {
    if (p.stream !== true) throw new TutorError('invalid_input', 'only stream: true is supported');
    const id = `chatcmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const model = this.info ? `${this.info.model}@${this.info.version}` : (this.opts.gatewayModel ?? 'gateway');
    const stop = p.stop === undefined ? undefined : Array.isArray(p.stop) ? p.stop : [p.stop];
    let first = true;
    const o: AskOptions = { signal: p.signal, maxTokens: p.max_tokens, temperature: p.temperature, topP: p.top_p, seed: p.seed, stop };
    for await (const c of this.answer({ messages: p.messages }, p.messages, o)) {
      yield toOpenAIChunk(c, id, model, first);
      first = false;
    }
  }

  /** Delete every cached model (the loaded one keeps running until the page closes). */
  async clearCache(): Promise<void> {
    await this.call({ op: 'clear', id: 0 });
  }

  /** Keys of the shards in the cache (diagnostics). */
  async cachedShards(): Promise<string[]> {
    return (await this.call({ op: 'cached', id: 0 })) as string[];
  }

  destroy(): void {
    this.worker.terminate();
    const e = new AbortError('tutor');
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private post(m: Request): void {
    this.worker.postMessage(m);
  }

  private call(req: Request, signal?: AbortSignal, onProgress?: (p: Progress) => void): Promise<unknown> {
    const id = this.nextId++;
    const p = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { onProgress, resolve, reject });
    });
    this.post({ ...req, id });
    return abortable(p, signal, req.op, () => this.post({ op: 'abort', id }));
  }

  private onReply(m: Reply): void {
    if (m.op === 'telemetry') {
      try {
        this.opts.telemetry?.(m.event);
      } catch (e) {
        console.error('tutor-runtime: telemetry callback failed', e);
      }
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.op) {
      case 'progress':
        p.onProgress?.(m.progress);
        break;
      case 'chunk':
        p.onChunk?.(m.chunk);
        break;
      case 'answer':
        p.onAnswer?.(m.chunk);
        break;
      case 'done':
        this.pending.delete(m.id);
        p.resolve(m.value);
        break;
      case 'error':
        this.pending.delete(m.id);
        p.reject(fromSerialized(m.error as SerializedError));
        break;
    }
  }
}
