// Measures the engine on one exported model: in headless Chromium (WASM, threads as the page
// allows) and with onnxruntime-node on the same ONNX file, side by side. Prints figures; it
// asserts nothing (a benchmark, not a test).
//
//   node tests/unit/engine/browser/measure-engine.mjs <export folder with manifest.json> [runs=5] [float32|float16]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { buildEngine, inPage, launchChromiumProfile } from './harness.mjs';

const [exportDir, runsArg = '5', dtype = 'float32'] = process.argv.slice(2);
if (!exportDir) {
  console.error('usage: measure-engine.mjs <export folder> [runs] [float32|float16]');
  process.exit(2);
}
const runs = Number(runsArg);
const manifest = JSON.parse(readFileSync(path.join(exportDir, 'manifest.json'), 'utf8'));
const file = manifest.files.find((f) => f.dtype === dtype) ?? manifest.files[0];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const threads = Math.min(os.cpus().length, 4);

const work = mkdtempSync(path.join(os.tmpdir(), 'clue-engine-measure-'));
const distDir = path.join(work, 'dist');
await buildEngine(distDir);
const browser = await launchChromiumProfile(path.join(work, 'profile'));
const { result: browserFigures } = await inPage(browser, { distDir, root: exportDir, isolated: true }, async ({ runs, dtype }) => {
  const { createEngine } = await import('/clue/engine-harness.js');
  const width = 256;
  const height = 240;
  const values = new Float32Array(width * height);
  for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) >>> 0) % 1000;
  let started = performance.now();
  const engine = await createEngine({ manifestUrl: '/manifest.json', dtype });
  const cold = { totalMs: performance.now() - started, loadMs: engine.info.loadMs, sessionMs: engine.info.sessionMs };
  const timings = [];
  await engine.run({ values, width, height }); // warm-up
  for (let k = 0; k < runs; k++) timings.push((await engine.run({ values, width, height })).timings);
  const info = { backend: engine.info.backend, threads: engine.info.threads, modelBytes: engine.info.modelBytes, cacheProblem: engine.info.cacheProblem };
  engine.dispose();
  started = performance.now();
  const again = await createEngine({ manifestUrl: '/manifest.json', dtype });
  const warm = { totalMs: performance.now() - started, loadMs: again.info.loadMs, sessionMs: again.info.sessionMs, fromCache: again.info.fromCache };
  again.dispose();
  return { info, cold, warm, timings };
}, { runs, dtype });
await browser.close();
rmSync(work, { recursive: true, force: true });

// onnxruntime-node, same file, same thread count, inference only (zeros input).
let started = performance.now();
const session = await ortNode.InferenceSession.create(path.join(exportDir, file.path), { intraOpNumThreads: threads });
const nodeSessionMs = performance.now() - started;
const shape = manifest.input.shape;
const input = new ortNode.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
await session.run({ [manifest.input.name]: input });
const nodeRuns = [];
for (let k = 0; k < runs; k++) {
  started = performance.now();
  await session.run({ [manifest.input.name]: input });
  nodeRuns.push(performance.now() - started);
}

const browserInference = median(browserFigures.timings.map((t) => t.inferenceMs));
console.log(JSON.stringify({
  model: manifest.id, file: file.path, bytes: file.bytes, runs,
  browser: {
    ...browserFigures.info,
    coldLoadMs: Math.round(browserFigures.cold.totalMs), coldSessionMs: Math.round(browserFigures.cold.sessionMs),
    warmLoadMs: Math.round(browserFigures.warm.totalMs), warmFromCache: browserFigures.warm.fromCache,
    medianInferenceMs: Math.round(browserInference),
    medianPreprocessMs: +median(browserFigures.timings.map((t) => t.preprocessMs)).toFixed(2),
    medianPostprocessMs: +median(browserFigures.timings.map((t) => t.postprocessMs)).toFixed(2),
    medianTotalMs: Math.round(median(browserFigures.timings.map((t) => t.totalMs))),
  },
  node: { threads, sessionMs: Math.round(nodeSessionMs), medianInferenceMs: Math.round(median(nodeRuns)) },
  ratioBrowserToNode: +(browserInference / median(nodeRuns)).toFixed(2),
}, null, 1));
