// Manifest → (per backend candidate) model variant → verified bytes → inference session.
// The worker runs this with onnxruntime-web; the Node tests with onnxruntime-node. The
// variant depends on the backend (variants.ts), so each candidate gets its own choice, and a
// GPU backend that fails to start falls back to the next candidate with that one's variant.

import type { BackendName, SkippedBackend } from './backend';
import { EngineError } from './errors';
import type { ClueManifest, ModelDtype } from './manifest';
import { loadManifest, loadModel, type LoadedModel, type LoadModelOptions, type LoadProgress } from './modelLoader';
import { chooseVariant, type VariantRequest } from './variants';

/** The model file that runs, and why (EngineInfo.variant). */
export interface RunningVariant {
  dtype: ModelDtype;
  /** Relative to the manifest. */
  path: string;
  reason: string;
}

export interface OpenSessionOptions<S> {
  manifestUrl: string;
  candidates: BackendName[];
  variant?: VariantRequest | undefined;
  shaderF16?: boolean | undefined;
  maxModelBytes?: number | undefined;
  onProgress?: (progress: LoadProgress | { phase: 'session'; loadedBytes: number; totalBytes: number }) => void;
  /** fetch / caches / subtle for the loader (defaults: the globals). */
  loader?: Pick<LoadModelOptions, 'fetch' | 'caches' | 'subtle' | 'signal'>;
  createSession(model: Uint8Array, backend: BackendName): Promise<S>;
  /** Throws (EngineError) when the session does not fit the manifest. */
  check?(session: S, manifest: ClueManifest): void;
}

export interface OpenedSession<S> {
  session: S;
  backend: BackendName;
  skipped: SkippedBackend[];
  manifest: ClueManifest;
  loaded: LoadedModel;
  variant: RunningVariant;
  sessionMs: number;
}

export async function openModelSession<S>(options: OpenSessionOptions<S>): Promise<OpenedSession<S>> {
  const loader = options.loader ?? {};
  options.onProgress?.({ phase: 'manifest', loadedBytes: 0, totalBytes: 0 });
  const manifest = await loadManifest(options.manifestUrl, { fetch: loader.fetch, signal: loader.signal });
  const skipped: SkippedBackend[] = [];
  const loadedByPath = new Map<string, LoadedModel>();
  for (const backend of options.candidates) {
    // An explicit request the manifest cannot meet throws here, before anything is downloaded.
    const choice = chooseVariant(manifest, backend, { requested: options.variant, shaderF16: options.shaderF16 });
    let loaded = loadedByPath.get(choice.path);
    if (!loaded) {
      loaded = await loadModel({
        ...loader,
        manifestUrl: options.manifestUrl,
        manifest,
        file: choice.file,
        ...(options.maxModelBytes !== undefined ? { maxModelBytes: options.maxModelBytes } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      loadedByPath.set(choice.path, loaded);
    }
    const started = performance.now();
    options.onProgress?.({ phase: 'session', loadedBytes: 0, totalBytes: loaded.file.bytes });
    try {
      const session = await options.createSession(new Uint8Array(loaded.bytes), backend);
      options.check?.(session, manifest);
      return {
        session,
        backend,
        skipped,
        manifest,
        loaded,
        variant: { dtype: choice.dtype, path: choice.path, reason: choice.reason },
        sessionMs: performance.now() - started,
      };
    } catch (error) {
      if (error instanceof EngineError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      if (backend === 'wasm') {
        const outOfMemory = /memory|alloc|OOM|RangeError/i.test(message);
        throw new EngineError(
          outOfMemory ? 'model-too-large' : 'backend',
          outOfMemory
            ? `the model does not fit the WebAssembly heap (${message})`
            : `could not create an inference session: ${message}`,
        );
      }
      skipped.push({ backend, reason: `session creation failed: ${message} (${choice.dtype} file)` });
    }
  }
  throw new EngineError('backend', 'no backend candidate could create an inference session');
}
