/**
 * The one module that calls into the wasm engine (`TutorEngine`, built from crate/src/wasm.rs).
 * Every call that may become async on the GPU path is awaited here, so the worker never changes
 * when the engine grows an async factory and an async `next()`.
 */
import init, { TutorEngine } from '../pkg/tutor_runtime.js';
import { toTutorError } from './errors.js';
import type { ChatMessage } from './escalate.js';

let wasmReady: Promise<void> | null = null;

/** Fetch and compile the wasm module once (starts early, in parallel with the download). */
export function initWasm(): Promise<void> {
  wasmReady ??= init().then(() => undefined);
  return wasmReady;
}

export interface GenerateParams {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop: string[];
}

/** What the engine generates from: a conversation, rendered with the model's own chat template
 * (its end-of-turn token ends the answer; a model without a template gets the plain tutor
 * framing), or a raw prompt used verbatim. */
export type EngineInput = { messages: ChatMessage[] } | { prompt: string };

/** `TutorEngine.start`'s request (crate/src/wasm.rs `StartRequest`). */
export type StartRequest = EngineInput & {
  params: GenerateParams;
  /** Score the prompt's last `measureTail` tokens during the prefill (the router's prompt signal). */
  measureTail?: number;
};

/** `TutorEngine.start`'s answer: the prompt's size and how much the KV cache already held. */
export interface Started {
  promptTokens: number;
  /** Prompt tokens reused from the KV cache: the prefill ran only `promptTokens - cachedTokens`. */
  cachedTokens: number;
  /** Oldest turns left out so the conversation fits the context window (0 when it fit). */
  droppedMessages: number;
}

export interface RawChunk {
  token: number | null;
  text: string;
  finish: string | null;
  /** The token's confidence (router signal), null on the final flush chunk. */
  stats: { logprob: number; entropy: number; top1: number } | null;
}

/** How surprising the prompt's last tokens are, measured during the prefill of a generation
 * started with `measureTail`. */
export interface PromptStats {
  tokens: number;
  /** Tokens scored: the prompt's last `measureTail`. */
  scored: number;
  meanNll: number;
  maxNll: number;
}

export interface ForwardEngine {
  readonly backend: string;
  readonly architecture: string;
  readonly generatedTokens: number;
  start(request: StartRequest): Promise<Started>;
  next(): Promise<RawChunk | null>;
  /** Number of tokens of `text` alone (no BOS). */
  countTokens(text: string): number;
  /** After the first `next()` of a measured generation, else null. */
  promptStats(): PromptStats | null;
  abort(): void;
  free(): void;
}

/**
 * Build the engine from the shards (one Uint8Array per shard, in order). The engine copies one
 * tensor at a time out of them; the caller drops the shards afterwards so the model lives only
 * in wasm memory.
 */
export async function createEngine(shards: Uint8Array[], maxContext?: number, backend: 'auto' | 'gpu' | 'cpu' = 'auto'): Promise<ForwardEngine> {
  await initWasm();
  let e: TutorEngine;
  try {
    // 'auto': WebGPU when a hardware adapter passes the engine's self-test, else the CPU
    // (software adapters such as SwiftShader are slower than the CPU path).
    e = await TutorEngine.create(shards, maxContext, backend);
  } catch (err) {
    throw toTutorError(err, 'model_file');
  }
  return {
    get backend() {
      return e.backend;
    },
    get architecture() {
      return e.architecture;
    },
    get generatedTokens() {
      return e.generatedTokens;
    },
    async start(request) {
      try {
        return e.start(request) as Started;
      } catch (err) {
        throw toTutorError(err, 'forward');
      }
    },
    async next() {
      try {
        return (await e.nextAsync()) as RawChunk | null;
      } catch (err) {
        throw toTutorError(err, 'forward');
      }
    },
    countTokens(text) {
      try {
        return e.countTokens(text);
      } catch (err) {
        throw toTutorError(err, 'forward');
      }
    },
    promptStats() {
      return (e.promptStats() as PromptStats | null) ?? null;
    },
    abort() {
      e.abort();
    },
    free() {
      e.free();
    },
  };
}
