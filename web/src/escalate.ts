/**
 * Escalate: a minimal client for the gateway's OpenAI-compatible `POST /v1/chat/completions`
 * with `stream: true` (server-sent events), yielding the same `TutorChunk`s as the local engine.
 */
import { GatewayError, NetworkError } from './errors.js';
import type { FinishReason, TutorChunk } from './stream.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface EscalateOptions {
  model?: string;
  maxTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
  reason: string;
  headers?: Record<string, string>;
}

/** Retries before the first byte, as the Rust client's `Backoff::default()`: 3 retries,
 * 200 ms doubling, ±50% jitter; for connection failures and 429/502/503/504 (the gateway or its
 * upstream is briefly unavailable). Once a response has started nothing is retried (that would
 * repeat text). */
const RETRIES = 3;
const FIRST_DELAY_MS = 200;
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** POST the request, retrying what is worth retrying; null when aborted meanwhile. */
async function open(url: string, init: RequestInit, signal?: AbortSignal): Promise<Response | null> {
  for (let attempt = 0; ; attempt++) {
    const last = attempt === RETRIES;
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (e) {
      if (signal?.aborted) return null;
      if (last) throw new NetworkError(url, `${e instanceof Error ? e.message : String(e)} (after ${attempt + 1} attempts)`);
      await sleep(FIRST_DELAY_MS * 2 ** attempt * (0.5 + Math.random()), signal);
      if (signal?.aborted) return null;
      continue;
    }
    if (res.ok && res.body) return res;
    const body = await res.text().catch(() => '');
    if (last || !RETRYABLE_STATUS.has(res.status)) {
      throw new GatewayError(`gateway answered HTTP ${res.status}${attempt ? ` (after ${attempt + 1} attempts)` : ''}: ${body.slice(0, 200)}`, res.status);
    }
    await sleep(FIRST_DELAY_MS * 2 ** attempt * (0.5 + Math.random()), signal);
    if (signal?.aborted) return null;
  }
}

export async function* escalate(gateway: string, messages: ChatMessage[], o: EscalateOptions): AsyncGenerator<TutorChunk> {
  const url = new URL('v1/chat/completions', gateway.endsWith('/') ? gateway : `${gateway}/`).href;
  const t0 = performance.now();
  const base = { token: null, source: 'server' as const, reason: o.reason, backend: 'server' };
  const res = await open(
    url,
    {
      method: 'POST',
      signal: o.signal,
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...o.headers },
      body: JSON.stringify({
        model: o.model ?? 'default',
        messages,
        stream: true,
        stream_options: { include_usage: true },
        ...(o.maxTokens ? { max_tokens: o.maxTokens } : {}),
        ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      }),
    },
    o.signal,
  );
  if (!res?.body) {
    // Aborted while waiting for the gateway: the stream ends like an aborted local answer.
    yield { ...base, text: '', finish: 'aborted' };
    return;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let tFirst = 0;
  let n = 0;
  let finish: FinishReason | null = null;
  let usage: TutorChunk['usage'];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += value;
      let cut: number;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const data = event
          .split(/\r?\n/)
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (!data) continue;
        if (data === '[DONE]') {
          yield finalChunk();
          return;
        }
        let j: {
          choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
          usage?: { prompt_tokens: number; completion_tokens: number };
          error?: { message?: string };
        };
        try {
          j = JSON.parse(data);
        } catch {
          throw new GatewayError(`gateway sent an event that is not JSON: ${data.slice(0, 100)}`);
        }
        if (j.error) throw new GatewayError(`gateway error: ${j.error.message ?? 'unknown'}`);
        if (j.usage) usage = { promptTokens: j.usage.prompt_tokens, completionTokens: j.usage.completion_tokens };
        const ch = j.choices?.[0];
        if (ch?.finish_reason) finish = ch.finish_reason === 'length' ? 'length' : 'stop';
        const text = ch?.delta?.content ?? '';
        if (text) {
          if (!tFirst) tFirst = performance.now();
          n++;
          yield { ...base, text, finish: null };
        }
      }
    }
  } catch (e) {
    if (o.signal?.aborted) {
      yield { ...base, text: '', finish: 'aborted' };
      return;
    }
    throw e;
  }
  // The body ended without [DONE]: the answer was cut off (a proxy or the gateway died), not
  // finished, and must not pass (or be cached) as a whole answer.
  throw new NetworkError(url, `the gateway's answer was cut off: the stream ended without [DONE] after ${n} pieces of text`);

  function finalChunk(): TutorChunk {
    const now = performance.now();
    const first = tFirst || now;
    return {
      ...base,
      text: '',
      finish: finish ?? 'stop',
      usage: usage ?? { promptTokens: 0, completionTokens: n },
      timing: { firstTokenMs: first - t0, promptTokensPerS: null, tokensPerS: n > 1 && now > first ? (n - 1) / ((now - first) / 1000) : null, totalMs: now - t0 },
    };
  }
}
