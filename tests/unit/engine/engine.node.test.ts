// The engine's non-browser parts with a real exported model: pipeline (pre → onnxruntime-node
// → post) against the Python pipeline on the same ONNX file, and the model loader against a
// real HTTP server (progress, sha256, cache, errors).
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../../extension/src/engine/errors';
import { parseManifest, type ClueManifest } from '../../../extension/src/engine/manifest';
import {
  loadModel,
  MODEL_CACHE_NAME,
  type CacheStorageLike,
  type LoadProgress,
} from '../../../extension/src/engine/modelLoader';
import {
  checkSessionMatchesManifest,
  runSlice,
  type SessionLike,
  type TensorLike,
} from '../../../extension/src/engine/pipeline';
import type { BackendName } from '../../../extension/src/engine/backend';
import { openModelSession, type OpenSessionOptions } from '../../../extension/src/engine/openSession';
import { int8Refusal } from '../../../extension/src/engine/variants';
import { REPO_ROOT } from './golden';
import { makeTinyModel, type TinyModelFixture } from './tinyModel';

let fixture: TinyModelFixture;
let manifest: ClueManifest;
const makeTensor = (data: Float32Array, dims: number[]): TensorLike => new ortNode.Tensor('float32', data, dims);

beforeAll(() => {
  fixture = makeTinyModel();
  manifest = parseManifest(JSON.parse(readFileSync(path.join(fixture.modelDir, 'manifest.json'), 'utf8')));
}, 200_000);

afterAll(() => {
  if (fixture) rmSync(fixture.dir, { recursive: true, force: true });
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};

async function openSession(file: string): Promise<SessionLike> {
  return (await ortNode.InferenceSession.create(path.join(fixture.modelDir, file))) as unknown as SessionLike;
}

describe('runSlice with onnxruntime-node on a real clue export', () => {
  it('equals the Python pipeline (clue.preprocess + onnxruntime) on the same slice', async () => {
    const session = await openSession('model.onnx');
    checkSessionMatchesManifest(session, manifest, 'manifest.json');
    const { reference } = fixture;
    const result = await runSlice(
      session,
      makeTensor,
      manifest,
      { values: Float32Array.from(reference.values), width: reference.width, height: reference.height },
      { layerMaps: true },
    );
    expect(result.map.length).toBe(reference.height * reference.width);
    expect(maxAbsDiff(result.map, reference.map)).toBeLessThan(1e-4);
    expect(Math.abs(result.score - reference.score)).toBeLessThan(1e-4);
    expect(result.layerMaps).toHaveLength(manifest.layers.length);
    result.layerMaps!.forEach((layer, l) => expect(maxAbsDiff(layer, reference.layer_maps[l]!)).toBeLessThan(1e-4));
    for (const ms of Object.values(result.timings)) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('runs the float16-weight file too, close to float32', async () => {
    const session = await openSession('model.fp16.onnx');
    const { reference } = fixture;
    const result = await runSlice(session, makeTensor, manifest, {
      values: Float32Array.from(reference.values),
      width: reference.width,
      height: reference.height,
    });
    expect(maxAbsDiff(result.map, reference.map)).toBeLessThan(5e-2);
  });

  it('refuses a graph whose names do not match the manifest, and a bad slice', async () => {
    const session = await openSession('model.onnx');
    const renamed = structuredClone(manifest);
    renamed.outputs.score.name = 'image_score';
    expect(() => checkSessionMatchesManifest(session, renamed, 'm.json')).toThrow(/missing output "image_score"/);
    await expect(
      runSlice(session, makeTensor, manifest, { values: new Float32Array(5), width: 2, height: 2 }),
    ).rejects.toMatchObject({ code: 'bad-input' });
  });

  it('a cancelled run rejects with AbortError and returns no result', async () => {
    const session = await openSession('model.onnx');
    const slice = {
      values: Float32Array.from(fixture.reference.values),
      width: fixture.reference.width,
      height: fixture.reference.height,
    };
    const before = new AbortController();
    before.abort();
    await expect(runSlice(session, makeTensor, manifest, slice, { signal: before.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    const during = new AbortController();
    const pending = runSlice(session, makeTensor, manifest, slice, { signal: during.signal });
    during.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

/** Cache Storage stand-in for Node (the browser's `caches`): keeps copies of the bodies. */
class MemoryCacheStorage implements CacheStorageLike {
  readonly stores = new Map<string, Map<string, ArrayBuffer>>();
  async open(name: string) {
    const store = this.stores.get(name) ?? new Map<string, ArrayBuffer>();
    this.stores.set(name, store);
    return {
      match: async (key: string) => (store.has(key) ? new Response(store.get(key)!.slice(0)) : undefined),
      put: async (key: string, response: Response) => void store.set(key, await response.arrayBuffer()),
      delete: async (key: string) => store.delete(key),
    };
  }
}

describe('loadModel over HTTP', () => {
  let server: http.Server;
  let origin: string;
  const served = { requests: [] as string[], modelBytes: 0 };
  let root: string;

  beforeAll(async () => {
    root = fixture.dir;
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      served.requests.push(url.pathname);
      const file = path.join(root, decodeURIComponent(url.pathname));
      let body: Buffer;
      try {
        body = readFileSync(file);
      } catch {
        res.writeHead(404).end('not found');
        return;
      }
      if (file.endsWith('.onnx')) served.modelBytes += body.byteLength;
      res.writeHead(200, { 'content-length': body.byteLength });
      // Several writes, so the client sees several chunks.
      const step = Math.ceil(body.byteLength / 7);
      for (let i = 0; i < body.byteLength; i += step) res.write(body.subarray(i, i + step));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const reset = () => {
    served.requests = [];
    served.modelBytes = 0;
  };

  it('downloads with byte progress, verifies, caches; the second load uses no network bytes', async () => {
    const caches = new MemoryCacheStorage();
    const progress: LoadProgress[] = [];
    reset();
    const first = await loadModel({
      manifestUrl: `${origin}/model/manifest.json`,
      caches,
      onProgress: (p) => progress.push(p),
    });
    const size = readFileSync(path.join(fixture.modelDir, 'model.onnx')).byteLength;
    expect(first.fromCache).toBe(false);
    expect(first.file.path).toBe('model.onnx');
    expect(first.bytes.byteLength).toBe(size);
    expect(first.networkBytes).toBe(size);
    expect(served.modelBytes).toBe(size);
    const downloads = progress.filter((p) => p.phase === 'download').map((p) => p.loadedBytes);
    expect(downloads.length).toBeGreaterThan(1);
    expect(downloads).toEqual([...downloads].sort((a, b) => a - b));
    expect(downloads.at(-1)).toBe(size);
    expect(progress.some((p) => p.phase === 'verify')).toBe(true);
    expect(caches.stores.get(MODEL_CACHE_NAME)?.size).toBe(1);
    expect(first.cacheProblem).toBeNull();

    reset();
    const second = await loadModel({ manifestUrl: `${origin}/model/manifest.json`, caches });
    expect(second.fromCache).toBe(true);
    expect(second.networkBytes).toBe(0);
    expect(served.modelBytes).toBe(0);
    expect(served.requests).toEqual(['/model/manifest.json']);
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);
  });

  it('a cache that refuses the model (quota) does not fail the load, and says so', async () => {
    const full: CacheStorageLike = {
      open: async () => ({
        match: async () => undefined,
        put: async () => {
          throw new DOMException('quota reached', 'QuotaExceededError');
        },
        delete: async () => false,
      }),
    };
    const loaded = await loadModel({ manifestUrl: `${origin}/model/manifest.json`, caches: full });
    expect(loaded.fromCache).toBe(false);
    expect(loaded.cacheProblem).toMatch(
      /could not keep the model in Cache Storage \(QuotaExceededError: quota reached\)/,
    );
    const none = await loadModel({ manifestUrl: `${origin}/model/manifest.json`, caches: null });
    expect(none.cacheProblem).toMatch(/Cache Storage is not available/);
  });

  it('picks the float16 file when asked', async () => {
    const loaded = await loadModel({ manifestUrl: `${origin}/model/manifest.json`, caches: null, dtype: 'float16' });
    expect(loaded.file.path).toBe('model.fp16.onnx');
  });

  it('a damaged cache entry is dropped and the model downloaded again', async () => {
    const caches = new MemoryCacheStorage();
    const first = await loadModel({ manifestUrl: `${origin}/model/manifest.json`, caches });
    const store = caches.stores.get(MODEL_CACHE_NAME)!;
    const damaged = store.get(first.modelUrl)!.slice(0);
    new Uint8Array(damaged)[100]! ^= 0xff;
    store.set(first.modelUrl, damaged);
    reset();
    const again = await loadModel({ manifestUrl: `${origin}/model/manifest.json`, caches });
    expect(again.fromCache).toBe(false);
    expect(served.modelBytes).toBe(first.bytes.byteLength);
  });

  it('a corrupt model (wrong sha256) is refused and not cached', async () => {
    const bad = path.join(fixture.dir, 'bad');
    rmSync(bad, { recursive: true, force: true });
    mkdirSync(bad);
    copyFileSync(path.join(fixture.modelDir, 'manifest.json'), path.join(bad, 'manifest.json'));
    const model = readFileSync(path.join(fixture.modelDir, 'model.onnx'));
    model[model.byteLength - 10] ^= 0xff;
    writeFileSync(path.join(bad, 'model.onnx'), model);
    const caches = new MemoryCacheStorage();
    const error = await loadModel({ manifestUrl: `${origin}/bad/manifest.json`, caches }).catch((e) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error.code).toBe('model-corrupt');
    expect(error.message).toMatch(/bad\/model\.onnx: sha256 does not match the manifest/);
    expect(caches.stores.get(MODEL_CACHE_NAME)?.size ?? 0).toBe(0);

    writeFileSync(path.join(bad, 'model.onnx'), model.subarray(0, 1000)); // truncated
    await expect(loadModel({ manifestUrl: `${origin}/bad/manifest.json`, caches })).rejects.toMatchObject({
      code: 'model-corrupt',
      message: expect.stringMatching(/got 1000 bytes/),
    });
  });

  it('a missing model file, a missing manifest and a wrong schema get their own errors', async () => {
    const gone = path.join(fixture.dir, 'gone');
    mkdirSync(gone, { recursive: true });
    copyFileSync(path.join(fixture.modelDir, 'manifest.json'), path.join(gone, 'manifest.json'));
    await expect(loadModel({ manifestUrl: `${origin}/gone/manifest.json`, caches: null })).rejects.toMatchObject({
      code: 'model-missing',
      message: expect.stringMatching(
        /gone\/model\.onnx: the model file named by the manifest does not exist \(HTTP 404/,
      ),
    });
    await expect(loadModel({ manifestUrl: `${origin}/nowhere/manifest.json`, caches: null })).rejects.toMatchObject({
      code: 'manifest',
      message: expect.stringMatching(/nowhere\/manifest\.json: model manifest not available \(HTTP 404/),
    });
    const data = JSON.parse(readFileSync(path.join(fixture.modelDir, 'manifest.json'), 'utf8'));
    writeFileSync(path.join(gone, 'manifest.json'), JSON.stringify({ ...data, schema: 'clue-manifest/2' }));
    await expect(loadModel({ manifestUrl: `${origin}/gone/manifest.json`, caches: null })).rejects.toMatchObject({
      code: 'manifest',
      message: expect.stringMatching(/schema must be "clue-manifest\/1", found "clue-manifest\/2"/),
    });
  });

  it('a model larger than the heap limit is refused before any download', async () => {
    reset();
    const error = await loadModel({
      manifestUrl: `${origin}/model/manifest.json`,
      caches: null,
      maxModelBytes: 1024,
    }).catch((e) => e);
    expect(error.code).toBe('model-too-large');
    expect(error.message).toMatch(/model\.onnx is .* GiB: larger than the .* the in-browser runtime can load/);
    expect(served.modelBytes).toBe(0);
  });
});

describe('openModelSession: the variant per backend, with onnxruntime-node', () => {
  // /model/: the tiny fixture (its int8 file loses more pixel AUROC than the tolerance on the
  // fixture slices, as measured by the Python side); /demo/: the shipped demo model, whose
  // int8 file's recorded loss on the validation set is within it.
  const DEMO_DIR = path.join(REPO_ROOT, 'models', 'artifacts', 'demo');
  let server: http.Server;
  let origin: string;
  const fetched: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const pathname = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      fetched.push(pathname);
      const file = pathname.startsWith('/demo/')
        ? path.join(DEMO_DIR, pathname.slice('/demo/'.length))
        : path.join(fixture.dir, pathname);
      try {
        const body = readFileSync(file);
        res.writeHead(200, { 'content-length': body.byteLength }).end(body);
      } catch {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const slice = () => ({
    values: Float32Array.from(fixture.reference.values),
    width: fixture.reference.width,
    height: fixture.reference.height,
  });
  const open = (
    manifestPath: string,
    candidates: BackendName[],
    extra: Partial<OpenSessionOptions<ortNode.InferenceSession>> = {},
  ) =>
    openModelSession<ortNode.InferenceSession>({
      manifestUrl: `${origin}${manifestPath}`,
      candidates,
      loader: { caches: null },
      createSession: (model) => ortNode.InferenceSession.create(model),
      check: (session, m) => checkSessionMatchesManifest(session as unknown as SessionLike, m, m.id),
      ...extra,
    });

  it('WASM on the demo model: the int8 file (recorded loss within tolerance) runs, close to float32', async () => {
    const demo = parseManifest(JSON.parse(readFileSync(path.join(DEMO_DIR, 'manifest.json'), 'utf8')));
    const int8 = demo.files.find((f) => f.dtype === 'int8')!;
    expect(int8Refusal(int8.quality)).toBeNull();
    fetched.length = 0;
    const opened = await open('/demo/manifest.json', ['wasm']);
    expect(opened.backend).toBe('wasm');
    expect(opened.variant).toMatchObject({ dtype: 'int8', path: 'model.int8.onnx' });
    expect(opened.variant.reason).toMatch(/^int8 on WASM: on 160 validation slices/);
    expect(opened.loaded.file.sha256).toBe(int8.sha256);
    expect(fetched).toEqual(['/demo/manifest.json', '/demo/model.int8.onnx']); // only the file that runs
    const float32 = await open('/demo/manifest.json', ['wasm'], { variant: 'float32' });
    expect(float32.variant).toMatchObject({
      dtype: 'float32',
      reason: 'requested by the configuration (clue.modelVariant)',
    });
    const run = (s: ortNode.InferenceSession) => runSlice(s as unknown as SessionLike, makeTensor, demo, slice());
    const [q, f] = [await run(opened.session), await run(float32.session)];
    const diff = maxAbsDiff(q.map, f.map);
    expect(diff).toBeGreaterThan(0); // a different graph …
    expect(diff).toBeLessThanOrEqual(int8.quality!.max_abs_map_diff * 2); // … as close as recorded
  });

  it('WASM on the fixture: float32, since its int8 file loses more than the tolerance; forced int8 runs', async () => {
    const int8 = manifest.files.find((f) => f.dtype === 'int8')!;
    expect(int8Refusal(int8.quality)).toMatch(/loses .* pixel AUROC/);
    const auto = await open('/model/manifest.json', ['wasm']);
    expect(auto.variant.dtype).toBe('float32');
    expect(auto.variant.reason).toMatch(/^float32: int8 not used on WASM: it loses/);
    const forced = await open('/model/manifest.json', ['wasm'], { variant: 'int8' });
    expect(forced.variant.path).toBe('model.int8.onnx');
    const result = await runSlice(forced.session as unknown as SessionLike, makeTensor, manifest, slice());
    expect(maxAbsDiff(result.map, fixture.reference.map)).toBeLessThan(0.5);
    expect(Number.isFinite(result.score)).toBe(true);
  });

  it('a GPU candidate that fails falls back to WASM with WASM’s variant, and says why', async () => {
    const opened = await open('/demo/manifest.json', ['webgpu', 'wasm'], {
      shaderF16: true,
      createSession: async (model, backend) => {
        if (backend === 'webgpu') throw new Error('no WebGPU in Node');
        return ortNode.InferenceSession.create(model);
      },
    });
    expect(opened.backend).toBe('wasm');
    expect(opened.skipped).toEqual([
      { backend: 'webgpu', reason: 'session creation failed: no WebGPU in Node (float16 file)' },
    ]);
    expect(opened.variant.dtype).toBe('int8');
  });

  it('a requested variant the manifest lacks fails before any model download', async () => {
    const stripped = structuredClone(manifest);
    stripped.files = stripped.files.filter((f) => f.dtype === 'float32');
    writeFileSync(path.join(fixture.dir, 'model', 'only-fp32.json'), JSON.stringify(stripped));
    fetched.length = 0;
    const error = await open('/model/only-fp32.json', ['wasm'], { variant: 'float16' }).catch((e) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error.code).toBe('manifest');
    expect(error.message).toMatch(/asks for the float16 model variant .* lists only float32/);
    expect(fetched).toEqual(['/model/only-fp32.json']);
  });
});
