// The engine's public surface for the extension (and any other host): everything else in
// this folder is an implementation detail.
export { createEngine, WORKER_FILE } from './engine';
export type { CreateEngineOptions, Engine, EngineInfo, EngineProgress, EngineResult, EngineSlice } from './engine';
export { EngineError, isAbortError } from './errors';
export type { EngineErrorCode } from './errors';
export type { BackendName, BackendPreferences, SkippedBackend } from './backend';
export type { ClueManifest, ModelDtype } from './manifest';
export { INT8_MAX_AUROC_LOSS } from './variants';
export type { VariantRequest } from './variants';
export type { RunningVariant } from './openSession';
export { DEFAULT_MAX_MODEL_BYTES, MODEL_CACHE_NAME } from './modelLoader';
export type { LoadProgress } from './modelLoader';
