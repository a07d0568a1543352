// The engine in a real browser: worker bundle + our onnxruntime-web files + Cache Storage +
// cancellation, in headless Debian Chromium, against the Python pipeline's result for the
// same slice and model. Not a vitest test (it builds bundles and starts a browser: ~30 s).
//
//   node tests/unit/engine/browser/check-engine-in-chromium.mjs
//
// Exits non-zero if any check fails; prints the measured figures as JSON.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildEngine, inPage as openPage, launchChromium, repoRoot } from './harness.mjs';

const work = mkdtempSync(path.join(os.tmpdir(), 'clue-engine-browser-'));
const distDir = path.join(work, 'dist');
const fixtureDir = path.join(work, 'fixture');
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

// 1. The model and the Python result (a real `clue export` of the tiny random CLUE).
execFileSync(
  path.join(repoRoot, '.venv', 'bin', 'python'),
  [path.join(repoRoot, 'tests', 'unit', 'engine', 'fixtures', 'make_tiny_model.py'), fixtureDir],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);

// 2. The engine as the extension build makes it (the repo's webpack config).
await buildEngine(distDir);
const browser = await launchChromium();
const inPage = (isolated, body) => openPage(browser, { distDir, root: fixtureDir, isolated }, body);

const figures = {};
{
  const { result, requests } = await inPage(true, async () => {
    const longTasks = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration))).observe({
      type: 'longtask',
    });
    const { createEngine } = await import('/clue/engine-harness.js');
    const reference = await (await fetch('/reference.json')).json();
    const slice = { values: Float32Array.from(reference.values), width: reference.width, height: reference.height };
    const progress = [];
    let started = performance.now();
    const engine = await createEngine({ manifestUrl: '/model/manifest.json', onProgress: (p) => progress.push(p) });
    const coldMs = performance.now() - started;
    longTasks.length = 0;
    const first = await engine.run(slice, undefined, { layerMaps: true });
    let worst = 0;
    for (let i = 0; i < first.map.length; i++) worst = Math.max(worst, Math.abs(first.map[i] - reference.map[i]));
    const runs = [];
    for (let k = 0; k < 5; k++) runs.push((await engine.run(slice)).timings);
    const older = engine.run(slice).then(
      () => 'resolved',
      (e) => e.name,
    );
    const newer = engine.run(slice).then(
      (r) => r.score,
      (e) => `${e.name}: ${e.message}`,
    );
    const race = [await older, await newer];
    const runLongTasks = [...longTasks];
    const info = { ...engine.info, manifest: undefined };
    engine.dispose();
    const afterDispose = await engine.run(slice).then(
      () => 'resolved',
      (e) => e.code,
    );
    started = performance.now();
    const warm = await createEngine({ manifestUrl: '/model/manifest.json' });
    const warmMs = performance.now() - started;
    const warmInfo = { fromCache: warm.info.fromCache, networkBytes: warm.info.networkBytes };
    warm.dispose();
    // float16-weight file: half the download, close to float32.
    const half = await createEngine({ manifestUrl: '/model/manifest.json', dtype: 'float16' });
    const halfResult = await half.run(slice);
    let halfWorst = 0;
    for (let i = 0; i < halfResult.map.length; i++)
      halfWorst = Math.max(halfWorst, Math.abs(halfResult.map[i] - reference.map[i]));
    const halfInfo = { dtype: half.info.dtype, modelBytes: half.info.modelBytes, worst: halfWorst };
    half.dispose();
    // Told there is a GPU adapter when the worker has none: WebGPU session creation fails for
    // real and the engine falls back to WASM, saying why.
    const fallback = await createEngine({
      manifestUrl: '/model/manifest.json',
      environment: { gpu: { requestAdapter: async () => ({}) }, hardwareConcurrency: 2, crossOriginIsolated: true },
    });
    const fallbackResult = await fallback.run(slice);
    const fallbackInfo = {
      backend: fallback.info.backend,
      skipped: fallback.info.skipped,
      score: fallbackResult.score,
    };
    fallback.dispose();
    const missing = await createEngine({ manifestUrl: '/nowhere/manifest.json' }).then(
      () => 'created',
      (e) => `${e.code}: ${e.message}`,
    );
    return {
      isolated: crossOriginIsolated,
      info,
      coldMs,
      warmMs,
      warmInfo,
      worst,
      score: first.score,
      layerMaps: first.layerMaps?.length,
      referenceScore: reference.score,
      runs,
      race,
      afterDispose,
      missing,
      phases: [...new Set(progress.map((p) => p.phase))],
      downloads: progress.filter((p) => p.phase === 'download').length,
      runLongTasks,
      halfInfo,
      fallbackInfo,
    };
  });
  const modelRequests = requests.filter((p) => p.endsWith('.onnx'));
  check(result.isolated === true, 'page is crossOriginIsolated');
  check(result.info.backend === 'wasm', `backend wasm without a GPU (got ${result.info.backend})`);
  check(
    result.info.threads === Math.min(os.cpus().length, 4),
    `WASM threads = min(cores, 4) (got ${result.info.threads})`,
  );
  check(
    result.info.skipped.some((s) => s.backend === 'webgpu'),
    'WebGPU skipped with a reason',
  );
  check(result.worst < 1e-4, `map equals the Python pipeline (max abs diff ${result.worst})`);
  check(Math.abs(result.score - result.referenceScore) < 1e-4, 'score equals the Python pipeline');
  check(result.layerMaps === 4, 'layer maps returned on request');
  check(
    result.race[0] === 'AbortError' && typeof result.race[1] === 'number',
    `a second run cancels the first (${result.race})`,
  );
  check(result.afterDispose === 'disposed', 'a disposed engine refuses runs');
  check(result.warmInfo.fromCache && result.warmInfo.networkBytes === 0, 'second load comes from Cache Storage');
  check(
    modelRequests.filter((p) => p.endsWith('/model.onnx')).length === 1,
    `model.onnx fetched once over three loads (${modelRequests.join(', ')})`,
  );
  check(
    result.halfInfo.dtype === 'float16' && result.halfInfo.worst < 5e-2,
    `float16 file runs (max abs diff ${result.halfInfo.worst})`,
  );
  check(
    result.fallbackInfo.backend === 'wasm' &&
      result.fallbackInfo.skipped.some((s) => s.backend === 'webgpu' && /session creation failed/.test(s.reason)) &&
      Math.abs(result.fallbackInfo.score - result.referenceScore) < 1e-4,
    `a failing WebGPU session falls back to WASM (${JSON.stringify(result.fallbackInfo.skipped.find((s) => s.backend === 'webgpu'))})`,
  );
  check(
    requests.every(
      (p) =>
        p === '/' ||
        p.startsWith('/clue/') ||
        p.startsWith('/model/') ||
        p.startsWith('/nowhere/') ||
        p === '/reference.json' ||
        p === '/favicon.ico',
    ),
    'no request outside our files',
  );
  check(!requests.some((p) => p.startsWith('/ort/')), "nothing from the host's /ort/");
  check(
    /^manifest: .*nowhere\/manifest\.json: model manifest not available \(HTTP 404/.test(result.missing),
    `missing manifest: ${result.missing}`,
  );
  check(
    result.phases.join(',') === 'manifest,download,verify,session' && result.downloads >= 1,
    `progress phases ${result.phases}`,
  );
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  Object.assign(figures, {
    coldLoadMs: Math.round(result.coldMs),
    warmLoadMs: Math.round(result.warmMs),
    sessionMs: Math.round(result.info.sessionMs),
    modelBytes: result.info.modelBytes,
    medianRunMs: Math.round(median(result.runs.map((t) => t.totalMs))),
    medianInferenceMs: Math.round(median(result.runs.map((t) => t.inferenceMs))),
    mainThreadLongTasksDuringRunsMs: result.runLongTasks.map(Math.round),
    threads: result.info.threads,
  });
}
{
  const { result } = await inPage(false, async () => {
    const { createEngine } = await import('/clue/engine-harness.js');
    const engine = await createEngine({ manifestUrl: '/model/manifest.json' });
    const info = { threads: engine.info.threads, skipped: engine.info.skipped };
    engine.dispose();
    return { isolated: crossOriginIsolated, info };
  });
  check(!result.isolated && result.info.threads === 1, 'without COOP/COEP: 1 thread');
  check(
    result.info.skipped.some((s) => s.backend === 'wasm' && /crossOriginIsolated/.test(s.reason)),
    'and says why',
  );
}
await browser.close();

// 3. The WebGPU backend, executed: the demo model (fp32) on Chromium's software adapter
// (SwiftShader) against WASM in the same page. The adapter is part of the Debian image this
// runs on (here and in CI), so its absence is a failure, not a skip; CLUE_WEBGPU_CHECK=off
// skips it loudly on another machine, and is refused under CI=true.
if (process.env.CLUE_WEBGPU_CHECK === 'off' && process.env.CI !== 'true') {
  console.log('SKIP WebGPU check (CLUE_WEBGPU_CHECK=off): the WebGPU backend was NOT executed');
} else {
  const gpuBrowser = await launchChromium({ webgpu: true });
  const demoDir = path.join(repoRoot, 'models', 'artifacts', 'demo');
  const { result: gpu } = await openPage(gpuBrowser, { distDir, root: demoDir, isolated: true }, async () => {
    const { createEngine } = await import('/clue/engine-harness.js');
    // The model variant the engine picks by itself (docs/manifest.md § Model variants): on WASM
    // the demo's int8 file (its recorded loss is within tolerance), its map close to float32's.
    const variantSlice = {
      values: new Float32Array(200 * 180).map((_, i) => (i * 37) % 1000),
      width: 200,
      height: 180,
    };
    const wasmOnly = { disabled: ['webgpu', 'webnn'] };
    const autoWasm = await createEngine({ manifestUrl: '/manifest.json', backends: wasmOnly });
    const autoRun = await autoWasm.run(variantSlice);
    const forced = await createEngine({ manifestUrl: '/manifest.json', variant: 'float32', backends: wasmOnly });
    const forcedRun = await forced.run(variantSlice);
    let variantDiff = 0;
    for (let i = 0; i < autoRun.map.length; i++)
      variantDiff = Math.max(variantDiff, Math.abs(autoRun.map[i] - forcedRun.map[i]));
    const variants = {
      auto: autoWasm.info.variant,
      autoSha256: autoWasm.info.sha256,
      forced: forced.info.variant,
      diff: variantDiff,
      recorded: autoWasm.info.manifest.files.find((f) => f.dtype === 'int8')?.quality?.max_abs_map_diff,
    };
    autoWasm.dispose();
    forced.dispose();
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return { adapter: null, variants };
    const adapterInfo = {
      architecture: adapter.info?.architecture,
      vendor: adapter.info?.vendor,
      f16: adapter.features.has('shader-f16'),
    };
    const autoGpu = await createEngine({ manifestUrl: '/manifest.json', backends: { allowSoftwareGpu: true } });
    variants.webgpu = { backend: autoGpu.info.backend, variant: autoGpu.info.variant };
    autoGpu.dispose();
    // A deterministic 224×224 slice: smooth background plus a bright blob (the demo input size).
    const width = 224,
      height = 224;
    const values = new Float32Array(width * height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const blob = Math.exp(-((x - 150) ** 2 + (y - 80) ** 2) / 200);
        values[y * width + x] = 300 + 200 * Math.sin(x / 17) * Math.cos(y / 23) + 900 * blob;
      }
    const slice = { values, width, height };
    const compare = async (dtype) => {
      const wasm = await createEngine({
        manifestUrl: '/manifest.json',
        dtype,
        backends: { disabled: ['webgpu', 'webnn'] },
      });
      const cpu = await wasm.run(slice);
      wasm.dispose();
      const engine = await createEngine({ manifestUrl: '/manifest.json', dtype, backends: { allowSoftwareGpu: true } });
      const info = { backend: engine.info.backend, skipped: engine.info.skipped };
      const first = await engine.run(slice);
      const started = performance.now();
      const second = await engine.run(slice);
      const runMs = performance.now() - started;
      engine.dispose();
      let worst = 0,
        worstRepeat = 0;
      for (let i = 0; i < cpu.map.length; i++) {
        worst = Math.max(worst, Math.abs(first.map[i] - cpu.map[i]));
        worstRepeat = Math.max(worstRepeat, Math.abs(second.map[i] - first.map[i]));
      }
      return {
        dtype,
        info,
        worst,
        worstRepeat,
        scoreDiff: Math.abs(first.score - cpu.score),
        score: first.score,
        finite: first.map.every(Number.isFinite),
        runMs,
      };
    };
    const runs = [await compare('float32')];
    if (adapterInfo.f16) runs.push(await compare('float16'));
    return { adapter: adapterInfo, runs, variants };
  });
  await gpuBrowser.close();
  const { variants } = gpu;
  check(
    variants.auto.dtype === 'int8' &&
      variants.auto.path === 'model.int8.onnx' &&
      /^int8 on WASM: /.test(variants.auto.reason),
    `variant auto on WASM: the demo's int8 file (${JSON.stringify(variants.auto)})`,
  );
  check(
    variants.forced.dtype === 'float32' && /clue\.modelVariant/.test(variants.forced.reason),
    `variant float32 when asked (${JSON.stringify(variants.forced)})`,
  );
  check(
    variants.diff > 0 && variants.diff <= 2 * variants.recorded,
    `int8 map within twice the recorded max abs map diff of float32's (${variants.diff.toExponential(2)} vs recorded ${variants.recorded})`,
  );
  if (variants.webgpu) {
    check(
      variants.webgpu.backend !== 'webgpu' ||
        variants.webgpu.variant.dtype === (gpu.adapter.f16 ? 'float16' : 'float32'),
      `variant auto on WebGPU: float16 only with shader-f16 (${JSON.stringify(variants.webgpu)})`,
    );
  }
  if (!gpu.adapter) {
    check(
      false,
      'WebGPU: Chromium launched with --enable-unsafe-webgpu (no --disable-gpu) offers no adapter; ' +
        'this Debian image is expected to have the SwiftShader one (set CLUE_WEBGPU_CHECK=off to skip outside CI)',
    );
  } else {
    console.log(
      `     WebGPU adapter: ${gpu.adapter.vendor}/${gpu.adapter.architecture}, shader-f16: ${gpu.adapter.f16}`,
    );
    if (!gpu.adapter.f16)
      console.log('     (no shader-f16 on this adapter: the float16 model is not run on WebGPU here)');
    for (const r of gpu.runs) {
      check(
        r.info.backend === 'webgpu',
        `WebGPU ${r.dtype}: the engine reports it ran on webgpu (got ${r.info.backend}; skipped ${JSON.stringify(r.info.skipped)})`,
      );
      check(
        r.finite && r.worst < 1e-3 && r.scoreDiff < 1e-3,
        `WebGPU ${r.dtype}: demo map and score within 1e-3 of WASM (max abs map diff ${r.worst.toExponential(2)}, score diff ${r.scoreDiff.toExponential(2)})`,
      );
      check(
        r.worstRepeat === 0 || r.worstRepeat < 1e-6,
        `WebGPU ${r.dtype}: a second run gives the same map (${r.worstRepeat})`,
      );
    }
    figures.webgpuSoftwareAdapter = {
      adapter: gpu.adapter.architecture,
      runs: gpu.runs.map((r) => ({ dtype: r.dtype, maxAbsDiff: r.worst, runMs: Math.round(r.runMs) })),
    };
  }
}
rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify(figures));
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
