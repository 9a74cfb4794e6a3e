/**
 * The answer cache: complete answers in IndexedDB (its own database, apart from the shards), so a
 * repeated question is replayed without running the model or calling the gateway. The key is a
 * SHA-256 of the normalized input (the conversation's roles and case-folded, whitespace-collapsed
 * contents, or a raw prompt) + the model version +
 * every generation setting + the route policy + the gateway model: anything that changes the
 * answer changes the key. Only answers that finished ('stop' or 'length') and were not a
 * fallback are stored; at most `MAX_ENTRIES`, oldest evicted first.
 */
import { StorageError } from './errors.js';
import type { EngineInput } from './forward.js';
import type { FinishReason, RouteInfo, Source, Usage } from './stream.js';

export const ANSWER_DB = 'tutor-runtime-answers';
const STORE = 'answers';
const MAX_ENTRIES = 500;

/** One run of text from one source, as the student saw it (route announcements included). */
export interface AnswerPart {
  text: string;
  source: Source;
  reason: string;
  backend: string;
  route?: RouteInfo;
}

export interface AnswerRecord {
  key: string;
  parts: AnswerPart[];
  finish: FinishReason;
  usage?: Usage;
  created: number;
}

/** Case-folded, whitespace-collapsed, trimmed (as the gateway's cache normalizes). */
export function normalizeText(s: string): string {
  return s.trim().split(/\s+/).join(' ').toLowerCase();
}

export async function answerKey(parts: { input: EngineInput; model: string; params: unknown; policy: string | null; gatewayModel: string | null }): Promise<string> {
  const input = 'messages' in parts.input ? parts.input.messages.map((m) => [m.role, normalizeText(m.content)]) : normalizeText(parts.input.prompt);
  const text = JSON.stringify([input, parts.model, parts.params, parts.policy ?? 'default', parts.gatewayModel ?? '']);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(new StorageError(`answer cache: ${r.error?.message ?? 'unknown error'}`));
  });
}

export class AnswerCache {
  private constructor(private readonly db: IDBDatabase) {
    db.onversionchange = () => db.close();
  }

  static async open(): Promise<AnswerCache> {
    if (typeof indexedDB === 'undefined') throw new StorageError('IndexedDB is not available in this context');
    const r = indexedDB.open(ANSWER_DB, 1);
    r.onupgradeneeded = () => {
      const s = r.result.createObjectStore(STORE, { keyPath: 'key' });
      s.createIndex('created', 'created');
    };
    return new AnswerCache(await req(r));
  }

  async get(key: string): Promise<AnswerRecord | undefined> {
    return req(this.db.transaction(STORE, 'readonly').objectStore(STORE).get(key) as IDBRequest<AnswerRecord | undefined>);
  }

  async put(rec: AnswerRecord): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    await req(store.put(rec));
    let excess = (await req(store.count())) - MAX_ENTRIES;
    if (excess > 0) {
      await new Promise<void>((resolve, reject) => {
        const c = store.index('created').openCursor();
        c.onerror = () => reject(new StorageError('answer cache eviction failed'));
        c.onsuccess = () => {
          const cur = c.result;
          if (!cur || excess-- <= 0) return resolve();
          cur.delete();
          cur.continue();
        };
      });
    }
  }

  close(): void {
    this.db.close();
  }
}

/** Delete every cached answer. */
export async function clearAnswers(): Promise<void> {
  if (typeof indexedDB === 'undefined') return;
  await req(indexedDB.deleteDatabase(ANSWER_DB) as unknown as IDBRequest<unknown>);
}
