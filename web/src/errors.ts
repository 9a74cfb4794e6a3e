/**
 * Typed errors. Every error the package throws is a `TutorError` with a machine-readable `kind`,
 * so a site can branch on `err.kind` (e.g. fall back to the gateway on `'quota'`).
 * Errors cross the worker boundary as plain `{ kind, message, data }` and are rebuilt here.
 */

export type TutorErrorKind =
  | 'aborted' // the caller's AbortSignal fired (download or generation)
  | 'network' // fetch failed (offline, connection reset, CORS)
  | 'http' // the server answered with an error status
  | 'manifest' // the model manifest is missing fields or malformed
  | 'integrity' // a shard failed its sha256 (or size) check even after refetching
  | 'quota' // not enough browser storage for the model
  | 'storage' // IndexedDB unavailable or failing
  | 'model_file' // the engine rejected the model bytes (bad GGUF)
  | 'tokenize'
  | 'forward'
  | 'prompt_too_long'
  | 'invalid_input'
  | 'finished'
  | 'worker' // the Web Worker crashed or could not start
  | 'gateway' // the escalation server failed
  | 'unavailable'; // neither a local model nor a gateway can answer

export class TutorError extends Error {
  readonly kind: TutorErrorKind;
  /** Extra structured facts (shard index, URL, bytes needed, HTTP status...). */
  readonly data: Record<string, unknown>;
  constructor(kind: TutorErrorKind, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'TutorError';
    this.kind = kind;
    this.data = data;
  }
  toJSON(): SerializedError {
    return { kind: this.kind, message: this.message, data: this.data };
  }
}

export class AbortError extends TutorError {
  constructor(what = 'operation') {
    super('aborted', `${what} aborted`);
    this.name = 'AbortError';
  }
}

export class NetworkError extends TutorError {
  constructor(url: string, cause: string) {
    super('network', `network error fetching ${url}: ${cause}`, { url });
    this.name = 'NetworkError';
  }
}

export class HttpError extends TutorError {
  constructor(url: string, status: number) {
    super('http', `HTTP ${status} fetching ${url}`, { url, status });
    this.name = 'HttpError';
  }
}

export class ManifestError extends TutorError {
  constructor(url: string, problem: string) {
    super('manifest', `model manifest ${url}: ${problem}`, { url });
    this.name = 'ManifestError';
  }
}

export class IntegrityError extends TutorError {
  constructor(shard: number, url: string, problem: string) {
    super('integrity', `shard ${shard} (${url}) rejected: ${problem}`, { shard, url });
    this.name = 'IntegrityError';
  }
}

export class QuotaError extends TutorError {
  constructor(neededBytes: number, availableBytes: number | null) {
    const avail = availableBytes === null ? 'the browser refused to store more (QuotaExceededError)' : `available ${mib(availableBytes)} MiB`;
    super('quota', `not enough browser storage for the model: need ${mib(neededBytes)} MiB, ${avail}`, {
      neededBytes,
      availableBytes,
    });
    this.name = 'QuotaError';
  }
}

export class StorageError extends TutorError {
  constructor(what: string) {
    super('storage', `browser storage (IndexedDB) failed: ${what}`);
    this.name = 'StorageError';
  }
}

export class EngineError extends TutorError {
  constructor(kind: TutorErrorKind, message: string) {
    super(kind, message);
    this.name = 'EngineError';
  }
}

export class GatewayError extends TutorError {
  constructor(message: string, status?: number) {
    super('gateway', message, status === undefined ? {} : { status });
    this.name = 'GatewayError';
  }
}

export interface SerializedError {
  kind: TutorErrorKind;
  message: string;
  data?: Record<string, unknown>;
}

const ENGINE_KINDS: ReadonlySet<string> = new Set(['model_file', 'tokenize', 'forward', 'prompt_too_long', 'invalid_input', 'finished']);

/** Any thrown value as a `TutorError` (wasm errors carry a `kind` property already). */
export function toTutorError(e: unknown, fallback: TutorErrorKind = 'worker'): TutorError {
  if (e instanceof TutorError) return e;
  if (e instanceof DOMException && e.name === 'AbortError') return new AbortError();
  if (e instanceof DOMException && e.name === 'QuotaExceededError') return new QuotaError(0, null);
  const kind = typeof e === 'object' && e !== null && 'kind' in e ? String((e as { kind: unknown }).kind) : '';
  const message = e instanceof Error ? e.message : String(e);
  if (ENGINE_KINDS.has(kind)) return new EngineError(kind as TutorErrorKind, message);
  return new TutorError(fallback, message);
}

/** Rebuild an error sent across the worker boundary, keeping its class where one exists. */
export function fromSerialized(s: SerializedError): TutorError {
  const d = s.data ?? {};
  let e: TutorError;
  switch (s.kind) {
    case 'aborted':
      e = new AbortError();
      break;
    case 'integrity':
      e = new IntegrityError(Number(d.shard), String(d.url), '');
      break;
    case 'quota':
      e = new QuotaError(Number(d.neededBytes ?? 0), d.availableBytes == null ? null : Number(d.availableBytes));
      break;
    default:
      e = ENGINE_KINDS.has(s.kind) ? new EngineError(s.kind, s.message) : new TutorError(s.kind, s.message, d);
  }
  // Keep the original wording and data.
  Object.defineProperty(e, 'message', { value: s.message });
  Object.defineProperty(e, 'data', { value: d });
  return e;
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new AbortError(what);
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}
