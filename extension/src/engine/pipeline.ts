// The model-independent part of one run: preprocess → session.run → post-process. It takes
// an ORT-like session, so the same code runs with onnxruntime-web in the worker and with
// onnxruntime-node in the tests.

import { abortError, EngineError, throwIfAborted } from './errors';
import type { ClueManifest } from './manifest';
import { mapToSliceGrid } from './postprocess';
import { preprocessSlice, SliceError, type SliceValues } from './preprocess';

/** What we use of an onnxruntime Tensor. */
export interface TensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

/** What we use of an onnxruntime InferenceSession (web and node share it). */
export interface SessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>>;
}

/** Builds a float32 tensor for the session's runtime: `(data, dims) => new ort.Tensor('float32', data, dims)`. */
export type Float32TensorFactory = (data: Float32Array, dims: number[]) => TensorLike;

export interface RunTimings {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export interface SliceResult {
  /** The raw anomaly map on the slice grid, height×width row-major, values as the model gives them. */
  map: Float32Array;
  width: number;
  height: number;
  /** The image score S_final. */
  score: number;
  /** One map per manifest layer on the slice grid, when asked for. */
  layerMaps?: Float32Array[];
  timings: RunTimings;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Also map the per-layer maps onto the slice grid (costs one post-process per layer). */
  layerMaps?: boolean;
  /** Reused input buffer (3·size²), so a series run allocates it once. */
  inputBuffer?: Float32Array;
}

/** Refuses a session whose graph does not have the manifest's input/output names. */
export function checkSessionMatchesManifest(session: SessionLike, manifest: ClueManifest, source: string): void {
  const problems: string[] = [];
  if (!session.inputNames.includes(manifest.input.name)) {
    problems.push(`input "${manifest.input.name}" (graph has ${session.inputNames.join(', ') || 'none'})`);
  }
  for (const key of ['anomaly_map', 'layer_maps', 'score'] as const) {
    const name = manifest.outputs[key].name;
    if (!session.outputNames.includes(name)) problems.push(`output "${name}"`);
  }
  if (problems.length > 0) {
    throw new EngineError(
      'manifest',
      `${source}: the model graph does not match its manifest: missing ${problems.join(', ')}`,
    );
  }
}

const now = (): number => performance.now();

/** float16 bits → number (outputs of a graph with float16 outputs). */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function asFloat32(tensor: TensorLike, name: string): Float32Array {
  if (tensor.data instanceof Float32Array) return tensor.data;
  if (tensor.type === 'float16' && tensor.data instanceof Uint16Array) {
    return Float32Array.from(tensor.data, halfToFloat);
  }
  throw new EngineError('backend', `model output "${name}" has type ${tensor.type}, expected float32`);
}

function expectLength(data: Float32Array, expected: number, name: string): void {
  if (data.length !== expected) {
    throw new EngineError('backend', `model output "${name}" holds ${data.length} values, expected ${expected}`);
  }
}

/** One slice through the model: the whole of docs/manifest.md, pre and post. */
export async function runSlice(
  session: SessionLike,
  makeTensor: Float32TensorFactory,
  manifest: ClueManifest,
  slice: SliceValues,
  options: RunOptions = {},
): Promise<SliceResult> {
  const { signal } = options;
  throwIfAborted(signal);
  const size = manifest.preprocessing.resize.size;
  const t0 = now();
  let tensor: Float32Array;
  try {
    tensor = preprocessSlice(slice, manifest.preprocessing, options.inputBuffer).tensor;
  } catch (error) {
    if (error instanceof SliceError)
      throw new EngineError('bad-input', `cannot preprocess this slice: ${error.message}`);
    throw error;
  }
  throwIfAborted(signal);
  const t1 = now();
  const outputs = await session.run({
    [manifest.input.name]: makeTensor(tensor, [1, manifest.preprocessing.channels, size, size]),
  });
  // The run itself cannot be interrupted; a result that arrives after cancellation is dropped.
  if (signal?.aborted) throw abortError();
  const t2 = now();

  const output = (key: 'anomaly_map' | 'layer_maps' | 'score'): Float32Array => {
    const name = manifest.outputs[key].name;
    const value = outputs[name];
    if (!value) throw new EngineError('backend', `model produced no output "${name}"`);
    return asFloat32(value, name);
  };
  const rawMap = output('anomaly_map');
  expectLength(rawMap, size * size, manifest.outputs.anomaly_map.name);
  const scoreData = output('score');
  expectLength(scoreData, 1, manifest.outputs.score.name);
  const map = mapToSliceGrid(rawMap, size, slice.height, slice.width);
  const result: SliceResult = {
    map,
    width: slice.width,
    height: slice.height,
    score: scoreData[0]!,
    timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1, postprocessMs: 0 },
  };
  if (options.layerMaps) {
    const layers = output('layer_maps');
    const count = manifest.layers.length;
    expectLength(layers, count * size * size, manifest.outputs.layer_maps.name);
    result.layerMaps = Array.from({ length: count }, (_, l) =>
      mapToSliceGrid(layers.subarray(l * size * size, (l + 1) * size * size), size, slice.height, slice.width),
    );
  }
  result.timings.postprocessMs = now() - t2;
  return result;
}
