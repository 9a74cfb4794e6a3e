/** Messages between the page (tutor.ts) and the engine worker (worker.ts). */
import type { Progress } from './download.js';
import type { SerializedError } from './errors.js';
import type { EngineInput, GenerateParams } from './forward.js';
import type { CascadeInput } from './route.js';
import type { FinishReason, Timing, TutorChunk, Usage } from './stream.js';
import type { TelemetryEvent } from './telemetry.js';

export type Request =
  | { op: 'download'; id: number; manifestUrl: string; concurrency?: number }
  /** `policy`: the route policy the tutor will use (absent: the one shipped for this model), checked
   * against the model it was calibrated on. */
  | { op: 'load'; id: number; manifestUrl: string; maxContext?: number; backend?: 'auto' | 'gpu' | 'cpu'; concurrency?: number; verifyCache?: boolean; policy?: string }
  | { op: 'generate'; id: number; input: EngineInput; params: GenerateParams }
  /** One question through the router (local model, escalation to the gateway, answer cache). */
  | { op: 'ask'; id: number; input: CascadeInput; cache: boolean }
  | { op: 'counters'; id: number }
  | { op: 'abort'; id: number }
  | { op: 'clear'; id: number }
  | { op: 'cached'; id: number };

export interface LoadInfo {
  model: string;
  version: string;
  architecture: string;
  quant: string;
  backend: string;
  totalBytes: number;
  bytesFetched: number;
  /** Null when the route policy was calibrated on this model file (by sha256); else why its
   * thresholds may not fit (the policy is applied anyway). */
  policyMismatch: string | null;
}

export interface WorkerChunk {
  text: string;
  token: number | null;
  finish: FinishReason | null;
  backend: string;
  usage?: Usage;
  timing?: Timing;
  droppedMessages?: number;
}

export type Reply =
  | { op: 'progress'; id: number; progress: Progress }
  | { op: 'chunk'; id: number; chunk: WorkerChunk }
  | { op: 'answer'; id: number; chunk: TutorChunk }
  /** Not tied to a pending call: a shadow comparison may arrive after its answer ended. */
  | { op: 'telemetry'; id: number; event: TelemetryEvent }
  | { op: 'done'; id: number; value?: unknown }
  | { op: 'error'; id: number; error: SerializedError };

/** Worker-wide counts (diagnostics and tests). */
export interface Counters {
  /** Tokens the local model generated since the worker started. */
  tokensGenerated: number;
  /** Answers replayed from the answer cache. */
  cacheHits: number;
}
