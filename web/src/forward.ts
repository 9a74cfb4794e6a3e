/**
 * The one module that calls into the wasm engine (`TutorEngine`, built from crate/src/wasm.rs).
 * Every call that may become async on the GPU path is awaited here, so the worker never changes
 * when the engine grows an async factory and an async `next()`.
 */
import init, { TutorEngine } from '../pkg/tutor_runtime.js';
import { toTutorError } from './errors.js';

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

export interface RawChunk {
  token: number | null;
  text: string;
  finish: string | null;
  /** The token's confidence (router signal), null on the final flush chunk. */
  stats: { logprob: number; entropy: number; top1: number } | null;
}

/** How surprising the prompt's last tokens are, measured during the prefill (`measurePrompt`
 * before the first step). */
export interface PromptStats {
  tokens: number;
  /** Tokens scored: the prompt's last `tail`. */
  scored: number;
  mean_nll: number;
  max_nll: number;
}

export interface ForwardEngine {
  readonly backend: string;
  readonly architecture: string;
  readonly generatedTokens: number;
  start(prompt: string, p: GenerateParams): Promise<number>;
  next(): Promise<RawChunk | null>;
  /** Score the prompt's last `tail` tokens during the coming prefill (call right after `start`). */
  measurePrompt(tail: number): void;
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
    async start(prompt, p) {
      try {
        return await e.start(prompt, p.maxTokens, p.temperature, p.topK, p.topP, p.seed, p.stop);
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
    measurePrompt(tail) {
      e.measurePrompt(tail);
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
