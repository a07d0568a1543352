// The engine the extension calls: load the model named by a manifest (progress, sha256,
// cache), choose a backend, run slices in a Web Worker. Knows nothing of OHIF.
//
//   const engine = await createEngine({ manifestUrl, onProgress });
//   engine.info      // { backend, threads, skipped, modelId, sha256, variant: {dtype, path, reason}, ... }
//   const result = await engine.run({ values, width, height }, signal);
//   engine.dispose();
//
// A run started while another is in flight cancels the older one: its promise rejects with
// an AbortError and its result, if the worker still produces it, is dropped. Only the newest
// run ever resolves.

import {
  chooseBackend,
  currentEnvironment,
  type BackendEnvironment,
  type BackendName,
  type BackendPreferences,
  type SkippedBackend,
} from './backend';
import { abortError, EngineError } from './errors';
import type { ClueManifest, ModelDtype } from './manifest';
import { DEFAULT_MAX_MODEL_BYTES, type LoadProgress } from './modelLoader';
import type { RunningVariant } from './openSession';
import type { RunTimings } from './pipeline';
import type { WorkerReply, WorkerRequest } from './protocol';
import type { VariantRequest } from './variants';

export interface EngineInfo {
  backend: BackendName;
  threads: number;
  skipped: SkippedBackend[];
  modelId: string;
  modelVersion: string;
  sha256: string;
  /** The running file's dtype (= variant.dtype). */
  dtype: ModelDtype;
  /** Which model file runs and why (per-backend rule or the configuration): for the panel. */
  variant: RunningVariant;
  modelBytes: number;
  fromCache: boolean;
  /** Model bytes that came over the network (0 when it came from the cache). */
  networkBytes: number;
  /** Why the model is not kept in Cache Storage (e.g. quota), for the panel; null when it is. */
  cacheProblem: string | null;
  /** Manifest + model fetch (or cache read) and verification, in the worker. */
  loadMs: number;
  /** Session creation (runtime start included). */
  sessionMs: number;
  /** createEngine from call to ready. */
  totalMs: number;
  manifest: ClueManifest;
}

export interface EngineSlice {
  /** Real-world values (modality LUT applied), row-major height×width. Copied, not taken. */
  values: Float32Array;
  width: number;
  height: number;
}

export interface EngineResult {
  /** Raw anomaly map on the slice grid (height×width), values as the model gives them. */
  map: Float32Array;
  width: number;
  height: number;
  score: number;
  layerMaps?: Float32Array[];
  timings: RunTimings & { totalMs: number };
}

export interface Engine {
  readonly info: EngineInfo;
  run(slice: EngineSlice, signal?: AbortSignal, options?: { layerMaps?: boolean }): Promise<EngineResult>;
  dispose(): void;
}

export type EngineProgress = LoadProgress | { phase: 'session'; loadedBytes: number; totalBytes: number };

export interface CreateEngineOptions {
  manifestUrl: string;
  onProgress?: (progress: EngineProgress) => void;
  signal?: AbortSignal;
  /**
   * Which model file to run (docs/manifest.md § Model variants). 'auto' (default): float16 on
   * WebGPU when the adapter offers shader-f16, int8 on WASM when its recorded AUROC loss is
   * within INT8_MAX_AUROC_LOSS, else float32. A dtype forces that file (config
   * `clue.modelVariant`); a manifest without it fails the load with a 'manifest' error.
   */
  variant?: VariantRequest;
  /** Older spelling of a forced variant; `variant` wins when both are given. */
  dtype?: ModelDtype;
  backends?: BackendPreferences;
  maxModelBytes?: number;
  /**
   * Where our built files live (the folder of clue-engine-worker.js and the onnxruntime-web
   * .wasm/.mjs). Default: the folder of this bundle (import.meta.url), i.e. next to it.
   */
  assetBaseUrl?: string;
  /** For tests and unusual hosts: what the backend choice looks at. */
  environment?: BackendEnvironment;
}

export const WORKER_FILE = 'clue-engine-worker.js';

function defaultAssetBase(): string {
  // Left to the browser by the webpack config (parser.javascript.importMeta: false): the URL
  // of the bundle this code runs in, so our files are found next to it on any host.
  return new URL('./', import.meta.url).href;
}

/**
 * The worker and its request/reply bookkeeping: every request gets an id; a reply settles its
 * request; a worker failure (or dispose) rejects everything pending, and later requests too.
 */
class WorkerChannel {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (reply: WorkerReply) => void; reject: (error: unknown) => void }
  >();
  private fatal: EngineError | null = null;
  readonly worker: Worker;

  constructor(assetBase: string, onProgress: (id: number, progress: EngineProgress) => void) {
    this.worker = new Worker(new URL(WORKER_FILE, assetBase), { type: 'module', name: 'clue-engine' });
    this.worker.addEventListener('message', (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      if (reply.type === 'progress') return onProgress(reply.id, reply.progress);
      const waiter = this.pending.get(reply.id);
      if (!waiter) return; // a cancelled run's late reply: dropped
      this.pending.delete(reply.id);
      waiter.resolve(reply);
    });
    this.worker.addEventListener('error', (event) => {
      const detail = event.message || `could not load ${WORKER_FILE} from ${assetBase}`;
      this.failAll(new EngineError('backend', `the inference worker failed: ${detail}`));
    });
  }

  newId(): number {
    return this.nextId++;
  }

  isPending(id: number): boolean {
    return this.pending.has(id);
  }

  request(message: WorkerRequest, transfer: Transferable[] = []): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      if (this.fatal) return reject(this.fatal);
      this.pending.set(message.id, { resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  /** Drops a request without an answer (its promise is settled by the caller). */
  forget(id: number): void {
    this.pending.delete(id);
  }

  failAll(error: EngineError): void {
    this.fatal = error;
    this.rejectAll(error);
  }

  /** Stops the worker; what is pending rejects with `error`. */
  terminate(error: unknown): void {
    this.worker.terminate();
    this.rejectAll(error);
  }

  private rejectAll(error: unknown): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}

export async function createEngine(options: CreateEngineOptions): Promise<Engine> {
  const plan = await chooseBackend(options.environment ?? currentEnvironment(), options.backends);
  const pageUrl = (globalThis as unknown as { location?: { href: string } }).location?.href;
  const assetBase = options.assetBaseUrl ? new URL(options.assetBaseUrl, pageUrl).href : defaultAssetBase();
  const started = performance.now();
  // The worker fetches, verifies, caches and loads the model: the main thread never touches
  // the (possibly GB-sized) bytes, so the viewer stays responsive while a model loads.
  let initId = 0;
  const channel = new WorkerChannel(assetBase, (id, progress) => {
    if (id === initId) options.onProgress?.(progress);
  });
  initId = channel.newId();
  const abortLoad = () => channel.terminate(abortError());
  options.signal?.addEventListener('abort', abortLoad, { once: true });
  let ready: WorkerReply;
  try {
    ready = await channel.request({
      type: 'init',
      id: initId,
      manifestUrl: new URL(options.manifestUrl, pageUrl).href,
      variant: options.variant ?? options.dtype ?? 'auto',
      shaderF16: plan.shaderF16,
      maxModelBytes: options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES,
      candidates: plan.candidates,
      threads: plan.threads,
      wasmPaths: assetBase,
    });
  } catch (error) {
    channel.worker.terminate();
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abortLoad);
  }
  if (ready.type !== 'ready') {
    channel.worker.terminate();
    if (ready.type === 'error') throw new EngineError(ready.code === 'abort' ? 'backend' : ready.code, ready.message);
    throw new EngineError('backend', 'unexpected reply from the inference worker');
  }
  return new WorkerEngine(channel, {
    backend: ready.backend,
    threads: plan.threads,
    skipped: [...plan.skipped, ...ready.skipped],
    modelId: ready.manifest.id,
    modelVersion: ready.manifest.version,
    sha256: ready.file.sha256,
    dtype: ready.file.dtype,
    variant: ready.variant,
    modelBytes: ready.file.bytes,
    fromCache: ready.fromCache,
    networkBytes: ready.networkBytes,
    cacheProblem: ready.cacheProblem,
    loadMs: ready.loadMs,
    sessionMs: ready.sessionMs,
    totalMs: performance.now() - started,
    manifest: ready.manifest,
  });
}

/** A loaded model in its worker: runs slices, the newest run winning. */
class WorkerEngine implements Engine {
  private current: { id: number; cancel: () => void } | null = null;
  private disposed = false;

  constructor(
    private readonly channel: WorkerChannel,
    readonly info: EngineInfo,
  ) {}

  run(slice: EngineSlice, signal?: AbortSignal, runOptions: { layerMaps?: boolean } = {}): Promise<EngineResult> {
    if (this.disposed) return Promise.reject(new EngineError('disposed', 'the engine was disposed'));
    if (signal?.aborted) return Promise.reject(abortError());
    this.current?.cancel(); // the newest run wins
    const id = this.channel.newId();
    const started = performance.now();
    return new Promise<EngineResult>((resolve, reject) => {
      const cancel = () => {
        if (!this.channel.isPending(id)) return;
        this.channel.forget(id);
        signal?.removeEventListener('abort', cancel);
        this.channel.worker.postMessage({ type: 'cancel', id } satisfies WorkerRequest);
        reject(abortError());
      };
      this.current = { id, cancel };
      signal?.addEventListener('abort', cancel, { once: true });
      // A copy goes to the worker, so the caller's (or the host's) array stays intact.
      const values = slice.values.slice();
      const { width, height } = slice;
      const layerMaps = runOptions.layerMaps ?? false;
      this.channel
        .request({ type: 'run', id, values, width, height, layerMaps }, [values.buffer])
        .then((reply) => {
          if (reply.type === 'result') {
            resolve({
              map: reply.map,
              width,
              height,
              score: reply.score,
              ...(reply.layerMaps ? { layerMaps: reply.layerMaps } : {}),
              timings: { ...reply.timings, totalMs: performance.now() - started },
            });
          } else if (reply.type === 'error') {
            reject(reply.code === 'abort' ? abortError() : new EngineError(reply.code, reply.message));
          }
        }, reject)
        .finally(() => {
          signal?.removeEventListener('abort', cancel);
          if (this.current?.id === id) this.current = null;
        });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.channel.failAll(new EngineError('disposed', 'the engine was disposed'));
    this.channel.worker.terminate();
  }
}
