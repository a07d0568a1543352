// Messages between the engine (main thread) and its worker. Plain data and transferable
// buffers only.

import type { BackendName, SkippedBackend } from './backend';
import type { EngineErrorCode } from './errors';
import type { ClueManifest, ModelFileEntry } from './manifest';
import type { LoadProgress } from './modelLoader';
import type { RunningVariant } from './openSession';
import type { VariantRequest } from './variants';
import type { RunTimings } from './pipeline';

export interface InitRequest {
  type: 'init';
  id: number;
  /** Absolute URL: the worker fetches, verifies and caches the model itself (off the main thread). */
  manifestUrl: string;
  /** 'auto': per backend (variants.ts); a dtype: that file or an error. */
  variant: VariantRequest;
  /** Whether the WebGPU adapter offers 'shader-f16' (the float16 file is picked on WebGPU only then). */
  shaderF16: boolean;
  maxModelBytes: number;
  candidates: BackendName[];
  threads: number;
  /** Folder URL (ending in '/') of our onnxruntime-web .wasm/.mjs files; empty: next to the worker. */
  wasmPaths: string;
}

export interface RunRequest {
  type: 'run';
  id: number;
  values: Float32Array;
  width: number;
  height: number;
  layerMaps: boolean;
}

export interface CancelRequest {
  type: 'cancel';
  id: number;
}

export type WorkerRequest = InitRequest | RunRequest | CancelRequest;

export interface ReadyReply {
  type: 'ready';
  id: number;
  backend: BackendName;
  skipped: SkippedBackend[];
  manifest: ClueManifest;
  file: ModelFileEntry;
  variant: RunningVariant;
  fromCache: boolean;
  networkBytes: number;
  loadMs: number;
  cacheProblem: string | null;
  sessionMs: number;
}

export interface ProgressReply {
  type: 'progress';
  id: number;
  progress: LoadProgress | { phase: 'session'; loadedBytes: number; totalBytes: number };
}

export interface ResultReply {
  type: 'result';
  id: number;
  map: Float32Array;
  score: number;
  layerMaps?: Float32Array[];
  timings: RunTimings;
}

export interface ErrorReply {
  type: 'error';
  id: number;
  /** 'abort' for a cancelled run. */
  code: EngineErrorCode | 'abort';
  message: string;
}

export type WorkerReply = ReadyReply | ProgressReply | ResultReply | ErrorReply;
