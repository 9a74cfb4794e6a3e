/**
 * The shard cache in IndexedDB. One record per verified shard (its bytes as one ArrayBuffer),
 * partial downloads as pieces (so a closed tab resumes where it stopped), and the last manifest
 * seen per URL (so a cached model also loads offline).
 */
import { QuotaError, StorageError, TutorError } from './errors.js';

export const DB_NAME = 'tutor-runtime';
const DB_VERSION = 1;

export interface ShardRecord {
  key: string; // `${model}@${version}/${index}`
  model: string;
  version: string;
  index: number;
  sha256: string;
  size: number;
  data: ArrayBuffer;
}

interface PartialRecord {
  key: string; // `${shardKey}#${offset}`
  shard: string;
  offset: number;
  data: ArrayBuffer;
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(storageError(r.error));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(storageError(tx.error));
    tx.onabort = () => reject(storageError(tx.error));
  });
}

function storageError(e: DOMException | null): TutorError {
  if (e?.name === 'QuotaExceededError') return new QuotaError(0, null);
  return new StorageError(e ? `${e.name}: ${e.message}` : 'unknown error');
}

export function shardKey(model: string, version: string, index: number): string {
  return `${model}@${version}/${index}`;
}

export class ShardCache {
  private constructor(private readonly db: IDBDatabase) {
    // Let clearCache() (deleteDatabase) in another context proceed.
    db.onversionchange = () => db.close();
  }

  static async open(): Promise<ShardCache> {
    if (typeof indexedDB === 'undefined') throw new StorageError('IndexedDB is not available in this context');
    const r = indexedDB.open(DB_NAME, DB_VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      const shards = db.createObjectStore('shards', { keyPath: 'key' });
      shards.createIndex('model', 'model');
      const partials = db.createObjectStore('partials', { keyPath: 'key' });
      partials.createIndex('shard', 'shard');
      db.createObjectStore('manifests', { keyPath: 'url' });
    };
    return new ShardCache(await req(r));
  }

  close(): void {
    this.db.close();
  }

  /** Whether a verified shard is stored (does not read its bytes). */
  async hasShard(key: string): Promise<boolean> {
    const tx = this.db.transaction('shards', 'readonly');
    return (await req(tx.objectStore('shards').count(key))) > 0;
  }

  async getShard(key: string): Promise<ShardRecord | undefined> {
    const tx = this.db.transaction('shards', 'readonly');
    return (await req(tx.objectStore('shards').get(key))) as ShardRecord | undefined;
  }

  async putShard(rec: ShardRecord): Promise<void> {
    const tx = this.db.transaction(['shards', 'partials'], 'readwrite', { durability: 'strict' });
    tx.objectStore('shards').put(rec);
    await deletePartialsIn(tx.objectStore('partials'), rec.key);
    await done(tx);
  }

  async deleteShard(key: string): Promise<void> {
    const tx = this.db.transaction('shards', 'readwrite');
    tx.objectStore('shards').delete(key);
    await done(tx);
  }

  /** The contiguous prefix of a shard downloaded so far, as pieces in order. */
  async getPartial(shard: string): Promise<ArrayBuffer[]> {
    const tx = this.db.transaction('partials', 'readonly');
    const recs = (await req(tx.objectStore('partials').index('shard').getAll(shard))) as PartialRecord[];
    recs.sort((a, b) => a.offset - b.offset);
    const out: ArrayBuffer[] = [];
    let at = 0;
    for (const r of recs) {
      if (r.offset !== at) break; // a gap: keep only the contiguous prefix
      out.push(r.data);
      at += r.data.byteLength;
    }
    return out;
  }

  async putPartialPiece(shard: string, offset: number, data: ArrayBuffer): Promise<void> {
    const tx = this.db.transaction('partials', 'readwrite', { durability: 'strict' });
    tx.objectStore('partials').put({ key: `${shard}#${offset}`, shard, offset, data } satisfies PartialRecord);
    await done(tx);
  }

  async deletePartial(shard: string): Promise<void> {
    const tx = this.db.transaction('partials', 'readwrite');
    await deletePartialsIn(tx.objectStore('partials'), shard);
    await done(tx);
  }

  /** Delete every shard of `model` whose version is not `keepVersion` (and their partials). */
  async evictOtherVersions(model: string, keepVersion: string): Promise<number> {
    const tx = this.db.transaction(['shards', 'partials'], 'readwrite');
    const shards = tx.objectStore('shards');
    const keys = (await req(shards.index('model').getAllKeys(model))) as string[];
    let n = 0;
    for (const k of keys) {
      if (!k.startsWith(`${model}@${keepVersion}/`)) {
        shards.delete(k);
        n++;
      }
    }
    // Partials of other versions of this model.
    const partials = tx.objectStore('partials');
    const pkeys = (await req(partials.getAllKeys())) as string[];
    for (const k of pkeys) {
      if (k.startsWith(`${model}@`) && !k.startsWith(`${model}@${keepVersion}/`)) partials.delete(k);
    }
    await done(tx);
    return n;
  }

  async getManifest(url: string): Promise<unknown> {
    const tx = this.db.transaction('manifests', 'readonly');
    const r = (await req(tx.objectStore('manifests').get(url))) as { manifest: unknown } | undefined;
    return r?.manifest;
  }

  async putManifest(url: string, manifest: unknown): Promise<void> {
    const tx = this.db.transaction('manifests', 'readwrite');
    tx.objectStore('manifests').put({ url, manifest });
    await done(tx);
  }

  /** Keys of all stored shards (for tests and diagnostics). */
  async shardKeys(): Promise<string[]> {
    const tx = this.db.transaction('shards', 'readonly');
    return (await req(tx.objectStore('shards').getAllKeys())) as string[];
  }
}

async function deletePartialsIn(store: IDBObjectStore, shard: string): Promise<void> {
  const keys = await req(store.index('shard').getAllKeys(shard));
  for (const k of keys) store.delete(k);
}

/** Delete the whole cache (every model, every version). Open connections are asked to close. */
export async function clearCache(): Promise<void> {
  if (typeof indexedDB === 'undefined') return;
  await new Promise<void>((resolve, reject) => {
    const r = indexedDB.deleteDatabase(DB_NAME);
    r.onsuccess = () => resolve();
    r.onerror = () => reject(storageError(r.error));
  });
}

/** Storage preflight: throws `QuotaError` when `needBytes` will not fit. */
export async function preflight(needBytes: number): Promise<{ quota: number | null; usage: number | null }> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!storage?.estimate || needBytes <= 0) return { quota: null, usage: null };
  const { quota, usage } = await storage.estimate();
  if (quota !== undefined && usage !== undefined) {
    // IndexedDB stores some overhead per record; keep a 5% margin.
    const available = quota - usage;
    if (available < needBytes * 1.05) throw new QuotaError(needBytes, available);
  }
  return { quota: quota ?? null, usage: usage ?? null };
}
