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

export async function* escalate(gateway: string, messages: ChatMessage[], o: EscalateOptions): AsyncGenerator<TutorChunk> {
  const url = new URL('v1/chat/completions', gateway.endsWith('/') ? gateway : `${gateway}/`).href;
  const t0 = performance.now();
  const base = { token: null, source: 'server' as const, reason: o.reason, backend: 'server' };
  let res: Response;
  try {
    res = await fetch(url, {
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
    });
  } catch (e) {
    // Aborted while waiting for the gateway: the stream ends like an aborted local answer.
    if (o.signal?.aborted) {
      yield { ...base, text: '', finish: 'aborted' };
      return;
    }
    throw new NetworkError(url, e instanceof Error ? e.message : String(e));
  }
  if (!res.ok || !res.body) {
    const body = await res.text().catch(() => '');
    throw new GatewayError(`gateway answered HTTP ${res.status}: ${body.slice(0, 200)}`, res.status);
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
  yield finalChunk();

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
