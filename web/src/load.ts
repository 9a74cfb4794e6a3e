/**
 * Load (in the worker): manifest → cached, verified shards → engine. Each shard is read once from
 * IndexedDB as its own ArrayBuffer and handed to the engine as-is (no concatenated copy); the
 * engine reads tensor by tensor from them and the shards are dropped once it is built.
 */
import { ShardCache, shardKey } from './cache.js';
import { type DownloadOptions, type Manifest, type Progress, ensureShards, fetchManifest, sha256Hex } from './download.js';
import { IntegrityError, throwIfAborted } from './errors.js';
import { type ForwardEngine, createEngine, initWasm } from './forward.js';

export interface LoadOptions extends DownloadOptions {
  maxContext?: number;
  /** Where the forward pass runs: 'auto' (WebGPU on a hardware adapter, else CPU), 'gpu', 'cpu'. */
  backend?: 'auto' | 'gpu' | 'cpu';
  /**
   * Re-hash cached shards on every load (default false: every shard is sha256-checked before it
   * is stored, and a load checks sizes only; re-hashing 250 MB costs about a second per visit).
   */
  verifyCache?: boolean;
}

export interface Loaded {
  engine: ForwardEngine;
  manifest: Manifest;
  progress: Progress;
}

/** Download what is missing and verify it, without building the engine. */
export async function downloadModel(manifestUrl: string, opts: DownloadOptions = {}): Promise<Progress> {
  const cache = await ShardCache.open();
  try {
    const m = await fetchManifest(manifestUrl, cache, opts.signal);
    return await ensureShards(manifestUrl, m, cache, opts);
  } finally {
    cache.close();
  }
}

export async function loadModel(manifestUrl: string, opts: LoadOptions = {}): Promise<Loaded> {
  const { signal, onProgress } = opts;
  const wasm = initWasm(); // compile the engine while shards download
  wasm.catch(() => undefined);
  const cache = await ShardCache.open();
  try {
    const m = await fetchManifest(manifestUrl, cache, signal);
    let p = await ensureShards(manifestUrl, m, cache, opts);
    let shards: Uint8Array[] = [];
    // Check every stored shard before use; a bad one is deleted and fetched again (once).
    for (let round = 0; ; round++) {
      p = { ...p, phase: 'verifying', bytesDone: 0 };
      onProgress?.({ ...p });
      shards = [];
      let bad = -1;
      for (let i = 0; i < m.shards.length; i++) {
        throwIfAborted(signal, 'load');
        const key = shardKey(m.model, m.version, i);
        const rec = await cache.getShard(key);
        if (!rec || rec.data.byteLength !== m.shards[i].size || rec.sha256 !== m.shards[i].sha256 || (opts.verifyCache && (await sha256Hex(rec.data)) !== m.shards[i].sha256)) {
          await cache.deleteShard(key);
          bad = i;
          break;
        }
        shards.push(new Uint8Array(rec.data));
        p.bytesDone += rec.data.byteLength;
        onProgress?.({ ...p });
      }
      if (bad < 0) break;
      shards = [];
      if (round > 0) throw new IntegrityError(bad, m.shards[bad].url, 'the cached copy is still corrupt after refetching');
      p = await ensureShards(manifestUrl, m, cache, opts);
    }
    await wasm;
    throwIfAborted(signal, 'load');
    onProgress?.({ ...p, phase: 'loading-to-gpu' });
    const engine = await createEngine(shards, opts.maxContext, opts.backend);
    shards = []; // the model now lives only in the engine
    p = { ...p, backend: engine.backend };
    onProgress?.({ ...p, phase: 'compiling' });
    p = { ...p, phase: 'ready' };
    onProgress?.({ ...p });
    return { engine, manifest: m, progress: p };
  } finally {
    cache.close();
  }
}
