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
execFileSync(path.join(repoRoot, '.venv', 'bin', 'python'),
  [path.join(repoRoot, 'tests', 'unit', 'engine', 'fixtures', 'make_tiny_model.py'), fixtureDir],
  { stdio: ['ignore', 'ignore', 'inherit'] });

// 2. The engine as the extension build makes it (the repo's webpack config).
await buildEngine(distDir);
const browser = await launchChromium();
const inPage = (isolated, body) => openPage(browser, { distDir, root: fixtureDir, isolated }, body);

const figures = {};
{
  const { result, requests } = await inPage(true, async () => {
    const longTasks = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration))).observe({ type: 'longtask' });
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
    const older = engine.run(slice).then(() => 'resolved', (e) => e.name);
    const newer = engine.run(slice).then((r) => r.score, (e) => `${e.name}: ${e.message}`);
    const race = [await older, await newer];
    const runLongTasks = [...longTasks];
    const info = { ...engine.info, manifest: undefined };
    engine.dispose();
    const afterDispose = await engine.run(slice).then(() => 'resolved', (e) => e.code);
    started = performance.now();
    const warm = await createEngine({ manifestUrl: '/model/manifest.json' });
    const warmMs = performance.now() - started;
    const warmInfo = { fromCache: warm.info.fromCache, networkBytes: warm.info.networkBytes };
    warm.dispose();
    // float16-weight file: half the download, close to float32.
    const half = await createEngine({ manifestUrl: '/model/manifest.json', dtype: 'float16' });
    const halfResult = await half.run(slice);
    let halfWorst = 0;
    for (let i = 0; i < halfResult.map.length; i++) halfWorst = Math.max(halfWorst, Math.abs(halfResult.map[i] - reference.map[i]));
    const halfInfo = { dtype: half.info.dtype, modelBytes: half.info.modelBytes, worst: halfWorst };
    half.dispose();
    // Told there is a GPU adapter when the worker has none: WebGPU session creation fails for
    // real and the engine falls back to WASM, saying why.
    const fallback = await createEngine({
      manifestUrl: '/model/manifest.json',
      environment: { gpu: { requestAdapter: async () => ({}) }, hardwareConcurrency: 2, crossOriginIsolated: true },
    });
    const fallbackResult = await fallback.run(slice);
    const fallbackInfo = { backend: fallback.info.backend, skipped: fallback.info.skipped, score: fallbackResult.score };
    fallback.dispose();
    const missing = await createEngine({ manifestUrl: '/nowhere/manifest.json' }).then(() => 'created', (e) => `${e.code}: ${e.message}`);
    return {
      isolated: crossOriginIsolated, info, coldMs, warmMs, warmInfo, worst, score: first.score,
      layerMaps: first.layerMaps?.length, referenceScore: reference.score, runs, race, afterDispose, missing,
      phases: [...new Set(progress.map((p) => p.phase))], downloads: progress.filter((p) => p.phase === 'download').length,
      runLongTasks, halfInfo, fallbackInfo,
    };
  });
  const modelRequests = requests.filter((p) => p.endsWith('.onnx'));
  check(result.isolated === true, 'page is crossOriginIsolated');
  check(result.info.backend === 'wasm', `backend wasm without a GPU (got ${result.info.backend})`);
  check(result.info.threads === Math.min(os.cpus().length, 4), `WASM threads = min(cores, 4) (got ${result.info.threads})`);
  check(result.info.skipped.some((s) => s.backend === 'webgpu'), 'WebGPU skipped with a reason');
  check(result.worst < 1e-4, `map equals the Python pipeline (max abs diff ${result.worst})`);
  check(Math.abs(result.score - result.referenceScore) < 1e-4, 'score equals the Python pipeline');
  check(result.layerMaps === 4, 'layer maps returned on request');
  check(result.race[0] === 'AbortError' && typeof result.race[1] === 'number', `a second run cancels the first (${result.race})`);
  check(result.afterDispose === 'disposed', 'a disposed engine refuses runs');
  check(result.warmInfo.fromCache && result.warmInfo.networkBytes === 0, 'second load comes from Cache Storage');
  check(modelRequests.filter((p) => p.endsWith('/model.onnx')).length === 1,
    `model.onnx fetched once over three loads (${modelRequests.join(', ')})`);
  check(result.halfInfo.dtype === 'float16' && result.halfInfo.worst < 5e-2, `float16 file runs (max abs diff ${result.halfInfo.worst})`);
  check(result.fallbackInfo.backend === 'wasm' &&
    result.fallbackInfo.skipped.some((s) => s.backend === 'webgpu' && /session creation failed/.test(s.reason)) &&
    Math.abs(result.fallbackInfo.score - result.referenceScore) < 1e-4,
    `a failing WebGPU session falls back to WASM (${JSON.stringify(result.fallbackInfo.skipped.find((s) => s.backend === 'webgpu'))})`);
  check(requests.every((p) => p === '/' || p.startsWith('/clue/') || p.startsWith('/model/') || p.startsWith('/nowhere/') || p === '/reference.json' || p === '/favicon.ico'),
    'no request outside our files');
  check(!requests.some((p) => p.startsWith('/ort/')), "nothing from the host's /ort/");
  check(/^manifest: .*nowhere\/manifest\.json: model manifest not available \(HTTP 404/.test(result.missing), `missing manifest: ${result.missing}`);
  check(result.phases.join(',') === 'manifest,download,verify,session' && result.downloads >= 1, `progress phases ${result.phases}`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  Object.assign(figures, {
    coldLoadMs: Math.round(result.coldMs), warmLoadMs: Math.round(result.warmMs),
    sessionMs: Math.round(result.info.sessionMs), modelBytes: result.info.modelBytes,
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
  check(result.info.skipped.some((s) => s.backend === 'wasm' && /crossOriginIsolated/.test(s.reason)), 'and says why');
}
await browser.close();
rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify(figures));
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
