// Fetches the manifest and the model file it names: byte-level progress, sha256 checked
// against the manifest before anything uses the bytes, kept in Cache Storage so a second
// load costs no network bytes (and is verified again, from the cache).

import { EngineError, throwIfAborted } from './errors';
import {
  parseManifest,
  ManifestError,
  pickModelFile,
  type ClueManifest,
  type ModelDtype,
  type ModelFileEntry,
} from './manifest';

export const MODEL_CACHE_NAME = 'clue-models-v1';

/**
 * The most model bytes we hand to the WebAssembly runtime. wasm32 has a 4 GiB heap, and a
 * session holds the model file and its unpacked weights side by side while it is created, so
 * a file above half the heap cannot load (measured: a 1.2 GB fp32 ViT-L/14 CLUE peaks ~3.5 GiB).
 */
export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3;

export interface LoadProgress {
  phase: 'manifest' | 'download' | 'cache' | 'verify';
  /** Bytes of the model file so far (download) or the file size (cache, verify). */
  loadedBytes: number;
  totalBytes: number;
}

/** What the loader uses of Cache Storage (the browser's `caches`; absent in insecure contexts and Node). */
export interface CacheStorageLike {
  open(name: string): Promise<{
    match(request: string): Promise<Response | undefined>;
    put(request: string, response: Response): Promise<void>;
    delete(request: string): Promise<boolean>;
  }>;
}

export interface LoadModelOptions {
  manifestUrl: string;
  /** The variant to load (default float32); ignored when `file` is given. */
  dtype?: ModelDtype;
  /** The manifest, already fetched and parsed from `manifestUrl` (then it is not fetched again). */
  manifest?: ClueManifest;
  /** The manifest entry to load (one of `manifest.files`), e.g. chosen by variants.ts. */
  file?: ModelFileEntry;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  maxModelBytes?: number;
  /** Defaults: the global fetch, caches (when present) and crypto.subtle. */
  fetch?: typeof fetch;
  caches?: CacheStorageLike | null;
  subtle?: SubtleCrypto;
}

export interface LoadedModel {
  manifest: ClueManifest;
  manifestUrl: string;
  file: ModelFileEntry;
  modelUrl: string;
  /** The verified model file. */
  bytes: ArrayBuffer;
  fromCache: boolean;
  /** Model bytes that came over the network in this load (0 from the cache). */
  networkBytes: number;
  loadMs: number;
  /** Why the model is not kept in Cache Storage (then the next load downloads it again); null when it is. */
  cacheProblem: string | null;
}

function baseUrl(): string | undefined {
  const location = (globalThis as unknown as { location?: { href?: string } }).location;
  return location?.href;
}

function describeStatus(response: Response): string {
  return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
}

export async function loadManifest(
  manifestUrl: string,
  options: Pick<LoadModelOptions, 'fetch' | 'signal'> = {},
): Promise<ClueManifest> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    // The manifest is small and says which bytes are current: always revalidate it.
    response = await doFetch(manifestUrl, { cache: 'no-cache', signal: options.signal ?? null });
  } catch (error) {
    throwIfAborted(options.signal);
    throw new EngineError(
      'network',
      `${manifestUrl}: could not fetch the model manifest (${(error as Error).message})`,
    );
  }
  if (!response.ok) {
    throw new EngineError(
      response.status === 404 ? 'manifest' : 'network',
      `${manifestUrl}: model manifest not available (${describeStatus(response)})`,
    );
  }
  let data: unknown;
  try {
    data = await response.json();
  } catch {
    throw new EngineError('manifest', `${manifestUrl}: the model manifest is not valid JSON`);
  }
  try {
    return parseManifest(data, manifestUrl);
  } catch (error) {
    if (error instanceof ManifestError) throw new EngineError('manifest', error.message);
    throw error;
  }
}

async function sha256Hex(subtle: SubtleCrypto, bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Reads a response body into one buffer of the manifest's size, reporting progress per chunk. */
async function readBody(
  response: Response,
  file: ModelFileEntry,
  modelUrl: string,
  onChunk: (loaded: number) => void,
  signal: AbortSignal | undefined,
): Promise<ArrayBuffer> {
  const buffer = new Uint8Array(file.bytes);
  let loaded = 0;
  if (!response.body) {
    const whole = new Uint8Array(await response.arrayBuffer());
    if (whole.byteLength !== file.bytes) {
      throw new EngineError(
        'model-corrupt',
        `${modelUrl}: got ${whole.byteLength} bytes, the manifest says ${file.bytes}`,
      );
    }
    onChunk(whole.byteLength);
    return whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength) as ArrayBuffer;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await reader.read();
      if (done) break;
      if (loaded + value.byteLength > file.bytes) {
        throw new EngineError('model-corrupt', `${modelUrl}: more than the ${file.bytes} bytes the manifest says`);
      }
      buffer.set(value, loaded);
      loaded += value.byteLength;
      onChunk(loaded);
    }
  } finally {
    reader.releaseLock();
  }
  if (loaded !== file.bytes) {
    throw new EngineError(
      'model-corrupt',
      `${modelUrl}: got ${loaded} bytes, the manifest says ${file.bytes} (truncated download?)`,
    );
  }
  return buffer.buffer;
}

/**
 * Manifest → model bytes, verified. Order: the manifest (always from the network), the size
 * check against the heap limit (before any download), Cache Storage (verified; a stale or
 * damaged entry is dropped and downloaded again), else the network (verified, then cached).
 */
export async function loadModel(options: LoadModelOptions): Promise<LoadedModel> {
  const started = performance.now();
  const { signal, onProgress } = options;
  const doFetch = options.fetch ?? fetch;
  const subtle = options.subtle ?? globalThis.crypto?.subtle;
  const manifestUrl = new URL(options.manifestUrl, baseUrl()).href;

  onProgress?.({ phase: 'manifest', loadedBytes: 0, totalBytes: 0 });
  const manifest = options.manifest ?? (await loadManifest(manifestUrl, { fetch: doFetch, signal }));
  const file = chooseFile(manifest, options);
  const modelUrl = new URL(file.path, manifestUrl).href;
  if (!subtle) {
    throw new EngineError(
      'backend',
      'cannot verify the model: crypto.subtle needs a secure context (https or localhost)',
    );
  }
  const verify = async (bytes: ArrayBuffer): Promise<boolean> => {
    onProgress?.({ phase: 'verify', loadedBytes: bytes.byteLength, totalBytes: file.bytes });
    return bytes.byteLength === file.bytes && (await sha256Hex(subtle, bytes)) === file.sha256;
  };
  const loaded = (bytes: ArrayBuffer, fromCache: boolean, cacheProblem: string | null): LoadedModel => ({
    manifest,
    manifestUrl,
    file,
    modelUrl,
    bytes,
    fromCache,
    networkBytes: fromCache ? 0 : bytes.byteLength,
    loadMs: performance.now() - started,
    cacheProblem,
  });

  const store = await openModelCache(options.caches);
  const cached = store.cache ? await readCached(store.cache, modelUrl, file, verify, onProgress) : null;
  if (cached) return loaded(cached, true, store.problem);

  throwIfAborted(signal);
  const bytes = await download(doFetch, modelUrl, file, signal, onProgress);
  if (!(await verify(bytes))) {
    throw new EngineError(
      'model-corrupt',
      `${modelUrl}: sha256 does not match the manifest (corrupt or a different model than ${manifest.id} ${manifest.version})`,
    );
  }
  let cacheProblem = store.problem;
  if (store.cache) {
    // Caching is an optimisation: a full quota must not fail the load, only be reported.
    // (Response copies the bytes.)
    await store.cache
      .put(modelUrl, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }))
      .catch((error: Error) => {
        cacheProblem = `could not keep the model in Cache Storage (${error.name}: ${error.message}); the next load downloads it again`;
      });
  }
  return loaded(bytes, false, cacheProblem);
}

/** The file to load (given, or picked by dtype), refused when the in-browser runtime cannot hold it. */
function chooseFile(manifest: ClueManifest, options: LoadModelOptions): ModelFileEntry {
  if (options.file && !manifest.files.includes(options.file)) {
    throw new EngineError('manifest', `${options.file.path} is not one of the files of ${manifest.id}'s manifest`);
  }
  const file = options.file ?? pickModelFile(manifest, options.dtype);
  const limit = options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
  if (file.bytes > limit) {
    const gb = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB`;
    throw new EngineError(
      'model-too-large',
      `${file.path} is ${gb(file.bytes)}: larger than the ${gb(limit)} the in-browser runtime can load ` +
        `(4 GiB WebAssembly heap). Use a smaller export (e.g. float16 or int8) of ${manifest.id}.`,
    );
  }
  return file;
}

/** Our Cache Storage cache, or why there is none (for the panel). */
async function openModelCache(
  given: CacheStorageLike | null | undefined,
): Promise<{ cache: Awaited<ReturnType<CacheStorageLike['open']>> | null; problem: string | null }> {
  const cacheStorage =
    given !== undefined ? given : ((globalThis as unknown as { caches?: CacheStorageLike }).caches ?? null);
  if (!cacheStorage) {
    return {
      cache: null,
      problem: 'Cache Storage is not available here (it needs a secure context: https or localhost)',
    };
  }
  try {
    return { cache: await cacheStorage.open(MODEL_CACHE_NAME), problem: null };
  } catch (error) {
    const e = error as Error;
    return { cache: null, problem: `could not open Cache Storage (${e.name}: ${e.message})` };
  }
}

/** The cached model when it verifies; an older model or a damaged entry is dropped (null). */
async function readCached(
  cache: NonNullable<Awaited<ReturnType<CacheStorageLike['open']>>>,
  modelUrl: string,
  file: ModelFileEntry,
  verify: (bytes: ArrayBuffer) => Promise<boolean>,
  onProgress: LoadModelOptions['onProgress'],
): Promise<ArrayBuffer | null> {
  const cached = await cache.match(modelUrl);
  if (!cached) return null;
  const bytes = await cached.arrayBuffer();
  onProgress?.({ phase: 'cache', loadedBytes: bytes.byteLength, totalBytes: file.bytes });
  if (await verify(bytes)) return bytes;
  await cache.delete(modelUrl); // fetch the current one
  return null;
}

/** The model's bytes from the network, with progress; a missing file is named as such. */
async function download(
  doFetch: NonNullable<LoadModelOptions['fetch']>,
  modelUrl: string,
  file: ModelFileEntry,
  signal: AbortSignal | undefined,
  onProgress: LoadModelOptions['onProgress'],
): Promise<ArrayBuffer> {
  let response: Response;
  try {
    // The Cache Storage entry is our cache; skip the HTTP cache so the bytes are counted honestly.
    response = await doFetch(modelUrl, { cache: 'no-store', signal: signal ?? null });
  } catch (error) {
    throwIfAborted(signal);
    throw new EngineError('network', `${modelUrl}: could not fetch the model (${(error as Error).message})`);
  }
  if (response.status === 404 || response.status === 410) {
    throw new EngineError(
      'model-missing',
      `${modelUrl}: the model file named by the manifest does not exist (${describeStatus(response)})`,
    );
  }
  if (!response.ok) {
    throw new EngineError('network', `${modelUrl}: could not fetch the model (${describeStatus(response)})`);
  }
  return readBody(
    response,
    file,
    modelUrl,
    (loaded) => onProgress?.({ phase: 'download', loadedBytes: loaded, totalBytes: file.bytes }),
    signal,
  );
}
