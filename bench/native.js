// The native baseline: onnxruntime-node on the same ONNX file the browser runs, same thread
// count, inference only (session.run). Run by bench/run.js as its own process, so its peak
// RSS belongs to this model alone and its memory is returned when it ends.
//
//   node bench/native.js <model.onnx> <threads> <runs> <input name> <shape, e.g. 1,3,224,224>
//
// Prints one JSON line: {sessionMs, warmupMs, runsMs: [...], peakRssMiB}.
import * as ort from 'onnxruntime-node';

const [file, threadsArg, runsArg, inputName, shapeArg] = process.argv.slice(2);
if (!file || !threadsArg || !runsArg || !inputName || !shapeArg) {
  console.error('usage: node bench/native.js <model.onnx> <threads> <runs> <input name> <shape>');
  process.exit(2);
}
const threads = Number(threadsArg);
const runs = Number(runsArg);
const shape = shapeArg.split(',').map(Number);

// The same input as the browser page's: a deterministic pseudo-random slice cannot be
// preprocessed here without the TypeScript engine, so the tensor is filled directly with
// values in the normalised range. These graphs have no data-dependent control flow: the cost
// of a run does not depend on the values.
const input = new Float32Array(shape.reduce((a, b) => a * b, 1));
for (let i = 0; i < input.length; i++) input[i] = ((((i * 2654435761) >>> 0) % 1000) / 1000 - 0.45) / 0.27;

let started = performance.now();
const session = await ort.InferenceSession.create(file, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const sessionMs = performance.now() - started;
const feeds = { [inputName]: new ort.Tensor('float32', input, shape) };
started = performance.now();
await session.run(feeds);
const warmupMs = performance.now() - started;
const runsMs = [];
for (let k = 0; k < runs; k++) {
  started = performance.now();
  await session.run(feeds);
  runsMs.push(performance.now() - started);
}
await session.release();
// maxRSS is in KiB on Linux.
console.log(JSON.stringify({ sessionMs, warmupMs, runsMs, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
