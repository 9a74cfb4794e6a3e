/**
 * Telemetry: what the site's `telemetry` callback receives. The route event is built by the
 * router in Rust (`TutorRouter.telemetryEvent`: no question text unless the site opts in; the
 * shadow decision is a salted hash of the normalized question, so the same question is always or
 * never shadowed). A shadowed local answer is also sent to the gateway in the background and a
 * second event reports how far the two answers agree.
 */

export interface TelemetryOptions {
  /** Put the question text into events (default false: students are often minors). */
  includeQuestionText?: boolean;
  /** Share of locally answered questions also sent to the gateway for comparison (0..1, default 0). */
  shadowFraction?: number;
  /** Server price per 1,000 tokens, for the cost-saved estimate (default 0.002 USD). */
  serverUsdPer1kTokens?: number;
  /** Salt of the shadow hash, so different sites sample different questions (default 0). */
  shadowSalt?: number;
}

/** The router's event for one answered question (crate/src/route/telemetry.rs `RouteEvent`). */
export interface RouteEvent {
  kind: 'route';
  route: 'local' | 'server' | 'unavailable';
  reason: string;
  fallback: boolean;
  score: number | null;
  escalated_at_token: number | null;
  latency_ms: number;
  prompt_tokens: number;
  answer_tokens: number;
  est_cost_saved_usd: number;
  shadow: boolean;
  lang: string | null;
  question: string | null;
}

/** A shadow comparison: the same question answered by the gateway in the background. */
export interface ShadowEvent {
  kind: 'shadow';
  /** Word-set overlap (Jaccard, 0..1) of the local and the server answer. */
  agreement: number;
  /** Whether both answers end on the same number (null when either has none). */
  same_final_number: boolean | null;
  server_latency_ms: number;
  /** Set when the server could not answer (no agreement measured). */
  error: string | null;
}

export type TelemetryEvent = RouteEvent | ShadowEvent;

/** The Rust `TelemetryConfig` JSON for `TutorRouter.telemetryEvent`. */
export function telemetryConfigJson(o: TelemetryOptions = {}): string {
  return JSON.stringify({
    include_question_text: o.includeQuestionText ?? false,
    shadow_fraction: o.shadowFraction ?? 0,
    server_usd_per_1k_tokens: o.serverUsdPer1kTokens ?? 0.002,
    shadow_salt: o.shadowSalt ?? 0,
  });
}

const words = (s: string): Set<string> => new Set(s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
const lastNumber = (s: string): string | null => s.replace(/,/g, '').match(/-?\d+(?:\.\d+)?/g)?.at(-1) ?? null;

/** How far two answers agree: word-set Jaccard overlap and the final number. */
export function agreement(local: string, server: string): { agreement: number; same_final_number: boolean | null } {
  const a = words(local);
  const b = words(server);
  let common = 0;
  for (const w of a) if (b.has(w)) common++;
  const union = a.size + b.size - common;
  const na = lastNumber(local);
  const nb = lastNumber(server);
  return { agreement: union ? common / union : 1, same_final_number: na === null || nb === null ? null : Number(na) === Number(nb) };
}
