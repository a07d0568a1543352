// The native baseline: onnxruntime-node on the same ONNX file the browser runs, same thread
// count, inference only (session.run). Run by bench/run.js as its own process (its peak RSS
// belongs to this model alone, and its memory is returned when it ends), driven line by line
// so that its runs alternate with the browser's: on a shared machine both sides then see the
// same load.
//
//   node bench/native.js <model.onnx> <threads> <input name> <shape, e.g. 1,3,224,224>
//
// Prints {"sessionMs"} once the session exists; then for each line "run" on stdin one line
// {"ms"}; on "end" (or end of input) {"peakRssMiB"} and exits. Errors: {"error"}, exit 1.
import readline from 'node:readline';
import * as ort from 'onnxruntime-node';

const [file, threadsArg, inputName, shapeArg] = process.argv.slice(2);
if (!file || !threadsArg || !inputName || !shapeArg) {
  console.error('usage: node bench/native.js <model.onnx> <threads> <input name> <shape>');
  process.exit(2);
}
const reply = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

try {
  const shape = shapeArg.split(',').map(Number);
  // A fixed tensor in the normalised range (the browser page feeds a preprocessed slice; the
  // TypeScript preprocessing does not run here). These graphs have no data-dependent control
  // flow: the cost of a run does not depend on the values.
  const input = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < input.length; i++) input[i] = ((((i * 2654435761) >>> 0) % 1000) / 1000 - 0.45) / 0.27;

  const started = performance.now();
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: Number(threadsArg),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { [inputName]: new ort.Tensor('float32', input, shape) };
  reply({ sessionMs: performance.now() - started });

  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (line.trim() === 'run') {
      const t0 = performance.now();
      await session.run(feeds);
      reply({ ms: performance.now() - t0 });
    } else if (line.trim() === 'end') {
      break;
    }
  }
  await session.release();
  // maxRSS is in KiB on Linux.
  reply({ peakRssMiB: process.resourceUsage().maxRSS / 1024 });
} catch (error) {
  reply({ error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
