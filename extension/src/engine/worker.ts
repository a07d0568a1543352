// The inference worker: owns the onnxruntime-web session, runs pre → model → post off the
// main thread. Built as its own bundle (dist/clue-engine-worker.js) next to our copies of
// onnxruntime-web's .wasm/.mjs files, which it loads from its own folder (never the host's /ort/).

import * as ort from 'onnxruntime-web';
import type { BackendName } from './backend';
import { EngineError, isAbortError } from './errors';
import type { ClueManifest } from './manifest';
import { openModelSession } from './openSession';
import { checkSessionMatchesManifest, runSlice, type SessionLike, type TensorLike } from './pipeline';
import type { ErrorReply, InitRequest, RunRequest, WorkerReply, WorkerRequest } from './protocol';

interface WorkerScope {
  name?: string;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<WorkerRequest>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

let session: ort.InferenceSession | null = null;
let manifest: ClueManifest | null = null;
let inputBuffer: Float32Array | undefined;
// Runs go one at a time (a session runs one graph at a time); cancelled ones are skipped.
let queue: Promise<void> = Promise.resolve();
const controllers = new Map<number, AbortController>();

const makeTensor = (data: Float32Array, dims: number[]): TensorLike => new ort.Tensor('float32', data, dims);

function providerOptions(backend: BackendName): ort.InferenceSession.ExecutionProviderConfig[] {
  // One provider per attempt: given a list, ORT silently drops one that fails to start and
  // we would report a backend that is not running. (Operators a GPU provider lacks still run
  // on ORT's built-in CPU kernels.)
  if (backend === 'webgpu') return ['webgpu'];
  if (backend === 'webnn') return [{ name: 'webnn', deviceType: 'gpu' }];
  return ['wasm'];
}

function errorReply(id: number, error: unknown): ErrorReply {
  if (isAbortError(error)) return { type: 'error', id, code: 'abort', message: 'cancelled' };
  if (error instanceof EngineError) return { type: 'error', id, code: error.code, message: error.message };
  return { type: 'error', id, code: 'backend', message: error instanceof Error ? error.message : String(error) };
}

async function init(request: InitRequest): Promise<void> {
  ort.env.wasm.numThreads = request.threads;
  ort.env.wasm.proxy = false; // we are the worker already
  ort.env.wasm.wasmPaths = request.wasmPaths || new URL('./', import.meta.url).href;
  // Per backend candidate: the model variant for it (variants.ts), its verified bytes, a session.
  const opened = await openModelSession<ort.InferenceSession>({
    manifestUrl: request.manifestUrl,
    candidates: request.candidates,
    variant: request.variant,
    shaderF16: request.shaderF16,
    maxModelBytes: request.maxModelBytes,
    onProgress: (progress) => scope.postMessage({ type: 'progress', id: request.id, progress }),
    createSession: (model, backend) =>
      ort.InferenceSession.create(model, {
        executionProviders: providerOptions(backend),
        graphOptimizationLevel: 'all',
      }),
    check: (created, loadedManifest) =>
      checkSessionMatchesManifest(created as unknown as SessionLike, loadedManifest, loadedManifest.id),
  });
  session = opened.session;
  manifest = opened.manifest;
  const size = manifest.preprocessing.resize.size;
  inputBuffer = new Float32Array(manifest.preprocessing.channels * size * size);
  const { loaded } = opened;
  scope.postMessage({
    type: 'ready',
    id: request.id,
    backend: opened.backend,
    skipped: opened.skipped,
    manifest,
    file: loaded.file,
    variant: opened.variant,
    fromCache: loaded.fromCache,
    networkBytes: loaded.networkBytes,
    loadMs: loaded.loadMs,
    cacheProblem: loaded.cacheProblem,
    sessionMs: opened.sessionMs,
  });
}

async function run(request: RunRequest, controller: AbortController): Promise<void> {
  if (!session || !manifest) throw new EngineError('backend', 'the engine is not initialised');
  const result = await runSlice(
    session as unknown as SessionLike,
    makeTensor,
    manifest,
    { values: request.values, width: request.width, height: request.height },
    { signal: controller.signal, layerMaps: request.layerMaps, inputBuffer },
  );
  const transfer: Transferable[] = [result.map.buffer];
  for (const layer of result.layerMaps ?? []) transfer.push(layer.buffer);
  scope.postMessage(
    {
      type: 'result',
      id: request.id,
      map: result.map,
      score: result.score,
      ...(result.layerMaps ? { layerMaps: result.layerMaps } : {}),
      timings: result.timings,
    },
    transfer,
  );
}

// Emscripten's pthread workers load ORT's .mjs, not this file; the guard keeps this handler
// out of any worker that is not ours all the same.
if (!scope.name?.startsWith('em-pthread')) {
  scope.addEventListener('message', (event) => {
    const request = event.data;
    if (request.type === 'cancel') {
      controllers.get(request.id)?.abort();
      return;
    }
    if (request.type === 'init') {
      init(request).catch((error) => scope.postMessage(errorReply(request.id, error)));
      return;
    }
    const controller = new AbortController();
    controllers.set(request.id, controller);
    queue = queue.then(async () => {
      try {
        if (controller.signal.aborted) throw new DOMException('cancelled', 'AbortError');
        await run(request, controller);
      } catch (error) {
        scope.postMessage(errorReply(request.id, error));
      } finally {
        controllers.delete(request.id);
      }
    });
  });
}
