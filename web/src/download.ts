/**
 * Model download: the manifest, then the shards it lists, in parallel with bounded concurrency,
 * each one sha256-checked before it is stored, resumed with an HTTP Range request after an
 * interruption, and reported as structured progress.
 */
import { ShardCache, preflight, shardKey } from './cache.js';
import {
  AbortError,
  HttpError,
  IntegrityError,
  ManifestError,
  NetworkError,
  QuotaError,
  TutorError,
  throwIfAborted,
  toTutorError,
} from './errors.js';

/** `manifest.json` as written by `tutor-models shard`. */
export interface Manifest {
  model: string;
  version: string;
  /** The whole model file's sha256 (lowercase hex): which model a route policy was calibrated on. */
  sha256?: string;
  architecture: string;
  quant: string;
  total_bytes: number;
  shard_bytes: number;
  shards: ManifestShard[];
}

export interface ManifestShard {
  url: string; // relative to the manifest's URL, or absolute
  size: number;
  sha256: string; // lowercase hex
}

export type Phase = 'checking-cache' | 'downloading' | 'verifying' | 'loading-to-gpu' | 'compiling' | 'ready';

export interface Progress {
  phase: Phase;
  /** Model bytes that are in the cache and verified (or, while loading, handed to the engine). */
  bytesDone: number;
  bytesTotal: number;
  shardsDone: number;
  shardsTotal: number;
  /** Bytes fetched from the network in this session (0 when everything came from the cache). */
  bytesFetched: number;
  model?: string;
  version?: string;
  /** The engine's backend, once known: 'cpu' or 'gpu'. */
  backend?: string;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Parallel shard downloads (default 3). */
  concurrency?: number;
  /** Attempts per shard when the bytes fail their check or the connection drops (default 3). */
  attempts?: number;
}

/** Bytes buffered before a partial shard is written to IndexedDB (resume granularity). */
const PIECE_BYTES = 4 * 1024 * 1024;

export function parseManifest(url: string, v: unknown): Manifest {
  const bad = (what: string): never => {
    throw new ManifestError(url, what);
  };
  if (typeof v !== 'object' || v === null) bad('not a JSON object');
  const m = v as Record<string, unknown>;
  for (const k of ['model', 'version', 'architecture', 'quant']) if (typeof m[k] !== 'string' || !m[k]) bad(`missing string field "${k}"`);
  if (m.sha256 !== undefined && (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256))) bad('"sha256" must be 64 lowercase hex digits');
  if (!Number.isSafeInteger(m.total_bytes) || (m.total_bytes as number) <= 0) bad('"total_bytes" must be a positive integer');
  if (!Array.isArray(m.shards) || m.shards.length === 0) bad('"shards" must be a non-empty array');
  let sum = 0;
  (m.shards as unknown[]).forEach((s, i) => {
    const o = s as Record<string, unknown>;
    if (typeof o?.url !== 'string' || !o.url) bad(`shard ${i}: missing "url"`);
    if (!Number.isSafeInteger(o.size) || (o.size as number) <= 0) bad(`shard ${i}: "size" must be a positive integer`);
    if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) bad(`shard ${i}: "sha256" must be 64 lowercase hex digits`);
    sum += o.size as number;
  });
  if (sum !== m.total_bytes) bad(`shard sizes add up to ${sum}, "total_bytes" says ${m.total_bytes}`);
  return m as unknown as Manifest;
}

/** Fetch the manifest; when the network fails, use the copy cached with the model. */
export async function fetchManifest(url: string, cache: ShardCache, signal?: AbortSignal): Promise<Manifest> {
  let res: Response;
  try {
    res = await fetch(url, { signal, cache: 'no-cache' });
  } catch (e) {
    throwIfAborted(signal, 'download');
    const cached = await cache.getManifest(url);
    if (cached) return parseManifest(url, cached);
    throw new NetworkError(url, e instanceof Error ? e.message : String(e));
  }
  if (!res.ok) throw new HttpError(url, res.status);
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new ManifestError(url, 'not valid JSON');
  }
  const m = parseManifest(url, json);
  await cache.putManifest(url, json);
  return m;
}

export async function sha256Hex(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Make sure every shard of `m` is in the cache and verified; download what is missing. */
export async function ensureShards(manifestUrl: string, m: Manifest, cache: ShardCache, opts: DownloadOptions = {}): Promise<Progress> {
  const { signal, onProgress } = opts;
  const total = m.total_bytes;
  const p: Progress = {
    phase: 'checking-cache',
    bytesDone: 0,
    bytesTotal: total,
    shardsDone: 0,
    shardsTotal: m.shards.length,
    bytesFetched: 0,
    model: m.model,
    version: m.version,
  };
  onProgress?.({ ...p });
  const missing: number[] = [];
  for (let i = 0; i < m.shards.length; i++) {
    if (await cache.hasShard(shardKey(m.model, m.version, i))) {
      p.bytesDone += m.shards[i].size;
      p.shardsDone++;
    } else missing.push(i);
  }
  throwIfAborted(signal, 'download');
  if (missing.length === 0) return p;

  // Storage preflight for what is still missing (partials already stored count as needed: simple and safe).
  const need = missing.reduce((s, i) => s + m.shards[i].size, 0);
  await preflight(need);
  p.phase = 'downloading';
  onProgress?.({ ...p });

  let lastReport = 0;
  const report = (force = false): void => {
    const now = Date.now();
    if (force || now - lastReport > 100) {
      lastReport = now;
      onProgress?.({ ...p });
    }
  };
  // Bytes of shards in flight count toward bytesDone as they arrive.
  const queue = [...missing];
  const worker = async (): Promise<void> => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const got = await downloadShard(manifestUrl, m, i, cache, signal, opts.attempts ?? 3, (n, network) => {
        p.bytesDone += n;
        if (network) p.bytesFetched += n;
        report();
      });
      // Bytes of failed attempts were counted; re-base on the shard's true size.
      p.bytesDone += m.shards[i].size - got;
      p.shardsDone++;
      report(true);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 3, missing.length));
  const results = await Promise.allSettled(Array.from({ length: n }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    queue.length = 0;
    const err = toTutorError(failed.reason, 'network');
    // IndexedDB's QuotaExceededError knows nothing of sizes: say what the model still needs.
    if (err.kind === 'quota' && !err.data.neededBytes) throw new QuotaError(need, null);
    throw err;
  }
  await cache.evictOtherVersions(m.model, m.version);
  return p;
}

/**
 * Download shard `i`, resuming from stored pieces with a Range request, verify its sha256 and
 * store it. Retries from scratch when the bytes are wrong. Returns the net bytes counted through
 * `onBytes` (so the caller can correct for discarded attempts); `network` is false for bytes
 * that came from stored partial pieces and for corrections.
 */
async function downloadShard(
  manifestUrl: string,
  m: Manifest,
  i: number,
  cache: ShardCache,
  signal: AbortSignal | undefined,
  attempts: number,
  onBytes: (n: number, network: boolean) => void,
): Promise<number> {
  const s = m.shards[i];
  const url = new URL(s.url, manifestUrl).href;
  const key = shardKey(m.model, m.version, i);
  let counted = 0;
  let lastError: TutorError | null = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    throwIfAborted(signal, 'download');
    try {
      const data = await fetchShardBytes(url, s.size, key, cache, signal, (n, network) => {
        counted += n;
        onBytes(n, network);
      });
      const hash = await sha256Hex(data);
      if (hash !== s.sha256) {
        await cache.deletePartial(key); // never resume from bad bytes
        throw new IntegrityError(i, url, `sha256 is ${hash}, the manifest says ${s.sha256}: the file on the server is corrupt or was tampered with`);
      }
      await cache.putShard({ key, model: m.model, version: m.version, index: i, sha256: s.sha256, size: s.size, data: data.buffer as ArrayBuffer });
      return counted;
    } catch (e) {
      const err = toTutorError(e, 'network');
      if (err.kind === 'aborted' || err.kind === 'quota' || err.kind === 'storage') throw err;
      if (err.kind === 'http' && Number(err.data.status) < 500) throw err; // 404 etc. won't get better
      lastError = err;
      onBytes(-counted, false);
      counted = 0;
    }
  }
  if (lastError?.kind === 'integrity') {
    throw new IntegrityError(i, url, `${lastError.message.replace(/^shard \d+ \(.*?\) rejected: /, '')} (tried ${attempts} times)`);
  }
  throw lastError ?? new NetworkError(url, 'download failed');
}

/** The shard's bytes: stored pieces first, then the rest from the network. */
async function fetchShardBytes(
  url: string,
  size: number,
  key: string,
  cache: ShardCache,
  signal: AbortSignal | undefined,
  onBytes: (n: number, network: boolean) => void,
): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for (const piece of await cache.getPartial(key)) {
    if (at + piece.byteLength > size) break;
    out.set(new Uint8Array(piece), at);
    at += piece.byteLength;
  }
  if (at > 0) onBytes(at, false);
  if (at === size) return out;

  let res: Response;
  try {
    res = await fetch(url, { signal, cache: 'no-store', headers: at > 0 ? { Range: `bytes=${at}-` } : {} });
  } catch (e) {
    if (signal?.aborted) throw new AbortError('download');
    throw new NetworkError(url, e instanceof Error ? e.message : String(e));
  }
  if (at > 0 && res.status === 200) {
    // The server ignored Range: start over.
    onBytes(-at, false);
    at = 0;
    await cache.deletePartial(key);
  } else if (at > 0 && res.status === 206) {
    const start = Number(/bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '')?.[1]);
    if (start !== at) {
      await cache.deletePartial(key);
      throw new NetworkError(url, `server answered a Range request for byte ${at} from byte ${start}`);
    }
  } else if (!res.ok) {
    throw new HttpError(url, res.status);
  }
  if (!res.body) throw new NetworkError(url, 'response has no body');
  const reader = res.body.getReader();
  let pieceStart = at;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.byteLength > size) throw new IntegrityError(-1, url, `larger than the ${size} bytes the manifest says`);
      out.set(value, at);
      at += value.byteLength;
      onBytes(value.byteLength, true);
      if (at - pieceStart >= PIECE_BYTES) {
        await cache.putPartialPiece(key, pieceStart, out.slice(pieceStart, at).buffer);
        pieceStart = at;
      }
    }
  } catch (e) {
    if (signal?.aborted) throw new AbortError('download');
    throw e instanceof TutorError ? e : new NetworkError(url, e instanceof Error ? e.message : String(e));
  }
  if (at !== size) throw new NetworkError(url, `connection ended after ${at} of ${size} bytes`);
  return out;
}
