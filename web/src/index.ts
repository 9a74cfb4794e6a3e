/** tutor-runtime: an in-browser AI tutor. See README.md. */
export { Tutor } from './tutor.js';
export type { TutorOptions, AskOptions, ChatCreateParams, ModelState } from './tutor.js';
export { clearCache } from './cache.js';
export type { Manifest, ManifestShard, Phase, Progress } from './download.js';
export type { TutorChunk, ChatCompletionChunk, Source, FinishReason, Usage, Timing, RouteInfo, TokenConfidence } from './stream.js';
export type { TelemetryEvent, TelemetryOptions, RouteEvent, ShadowEvent } from './telemetry.js';
export { clearAnswers } from './cache-answers.js';
export type { ChatMessage } from './escalate.js';
export type { LoadInfo, Counters } from './protocol.js';
export {
  TutorError,
  AbortError,
  NetworkError,
  HttpError,
  ManifestError,
  IntegrityError,
  QuotaError,
  StorageError,
  EngineError,
  GatewayError,
} from './errors.js';
export type { TutorErrorKind } from './errors.js';
