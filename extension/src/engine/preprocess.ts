// Preprocessing of one slice, exactly as docs/manifest.md says (the same algorithm as
// models/clue/preprocess.py, pinned by tests/golden/preprocess.json): foreground percentile
// clip, center pad, antialiased bicubic resize (PIL-style Keys a = -0.5), three normalised
// channels, NCHW float32. Typed arrays only; resize weights are computed once per size pair.

import type { PreprocessingSpec } from './manifest';

/** A 2-D slice of real-world values (modality LUT applied), row-major. */
export interface SliceValues {
  values: ArrayLike<number>;
  width: number;
  height: number;
}

/** Where the slice sits in the padded square: S = max(H, W), offsets of its first row/column. */
export interface LetterboxGeometry {
  square: number;
  top: number;
  left: number;
}

export interface IntensityWindow {
  lo: number;
  hi: number;
}

export interface PreprocessResult {
  /** [channels, size, size] float32, NCHW without the batch dimension. */
  tensor: Float32Array;
  geometry: LetterboxGeometry;
  /** null for a constant slice (no foreground). */
  window: IntensityWindow | null;
}

/** A slice that cannot be preprocessed (empty, wrong length, NaN/Infinity). */
export class SliceError extends Error {
  override name = 'SliceError';
}

export function letterboxGeometry(height: number, width: number): LetterboxGeometry {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new SliceError(`slice size must be positive integers, got ${width}×${height}`);
  }
  const square = Math.max(height, width);
  return { square, top: Math.floor((square - height) / 2), left: Math.floor((square - width) / 2) };
}

export function checkSlice(slice: SliceValues): void {
  letterboxGeometry(slice.height, slice.width);
  if (slice.values.length !== slice.width * slice.height) {
    throw new SliceError(
      `slice holds ${slice.values.length} values, expected ${slice.width}×${slice.height} = ${slice.width * slice.height}`,
    );
  }
}

// ---- percentiles ---------------------------------------------------------------------------

/** Rearranges a[from..to] so that a[k] is the value a full sort would put there. */
function selectInPlace(a: Float64Array, k: number, from: number, to: number): void {
  let left = from;
  let right = to;
  while (right > left) {
    // Median of three as pivot keeps sorted and constant runs from going quadratic.
    const mid = (left + right) >>> 1;
    const x = a[left]!;
    const y = a[mid]!;
    const z = a[right]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return;
  }
}

/** NumPy's linear interpolation between neighbours, written as numpy does (stable for t ≥ 0.5). */
function lerp(a: number, b: number, t: number): number {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * The low/high percentiles of the foreground (values strictly above the slice minimum) with
 * NumPy's default linear method: position p/100·(n−1) in the sorted values. null when the
 * slice is constant. O(n) by selection instead of a full sort.
 */
export function percentileWindow(
  values: ArrayLike<number>,
  lowPercentile: number,
  highPercentile: number,
): IntensityWindow | null {
  const n = values.length;
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new SliceError('slice values must be finite (found NaN or infinity)');
    if (v < min) min = v;
  }
  let count = 0;
  for (let i = 0; i < n; i++) if (values[i]! > min) count++;
  if (count === 0) return null;
  const foreground = new Float64Array(count);
  for (let i = 0, k = 0; i < n; i++) {
    const v = values[i]!;
    if (v > min) foreground[k++] = v;
  }
  const at = (p: number, from: number): [number, number] => {
    const position = (p / 100) * (count - 1);
    const below = Math.floor(position);
    selectInPlace(foreground, below, from, count - 1);
    const lower = foreground[below]!;
    let upper = lower;
    if (below + 1 < count) {
      // Everything right of `below` is ≥ it after selection: the next order statistic is its minimum.
      upper = Infinity;
      for (let i = below + 1; i < count; i++) if (foreground[i]! < upper) upper = foreground[i]!;
    }
    return [lerp(lower, upper, position - below), below];
  };
  const [lo, lowIndex] = at(lowPercentile, 0);
  const [hi] = at(highPercentile, lowIndex);
  return { lo, hi };
}

// ---- resize --------------------------------------------------------------------------------

/** Per output pixel: first input tap, tap count, and normalised weights (stride `maxTaps`). */
export interface ResizeWeights {
  inSize: number;
  outSize: number;
  maxTaps: number;
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
}

function keysCubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/** Antialiased bicubic weights for one axis (PyTorch antialias=True / PIL bicubic). */
export function bicubicAntialiasWeights(inSize: number, outSize: number): ResizeWeights {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = 2 * stretch;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const start = Math.max(Math.trunc(center - support + 0.5), 0);
    const stop = Math.min(Math.trunc(center + support + 0.5), inSize);
    const taps = stop - start;
    let total = 0;
    for (let j = 0; j < taps; j++) {
      const w = keysCubic((j + start - center + 0.5) / stretch);
      weights[i * maxTaps + j] = w;
      total += w;
    }
    for (let j = 0; j < taps; j++) weights[i * maxTaps + j]! /= total;
    first[i] = start;
    count[i] = taps;
  }
  return { inSize, outSize, maxTaps, first, count, weights };
}

const weightCache = new Map<string, ResizeWeights>();

function cachedWeights(inSize: number, outSize: number): ResizeWeights {
  const key = `${inSize}>${outSize}`;
  let weights = weightCache.get(key);
  if (!weights) {
    if (weightCache.size > 32) weightCache.clear(); // a series has a handful of sizes at most
    weights = bicubicAntialiasWeights(inSize, outSize);
    weightCache.set(key, weights);
  }
  return weights;
}

/** Separable resize of a square plane: rows first into `scratch` (square×size), then columns. */
function resizeSquare(
  plane: Float32Array,
  square: number,
  size: number,
  scratch: Float32Array,
  out: Float32Array,
): void {
  const w = cachedWeights(square, size);
  for (let r = 0; r < square; r++) {
    const rowIn = r * square;
    const rowOut = r * size;
    for (let c = 0; c < size; c++) {
      const start = w.first[c]!;
      const taps = w.count[c]!;
      const base = c * w.maxTaps;
      let acc = 0;
      for (let j = 0; j < taps; j++) acc += w.weights[base + j]! * plane[rowIn + start + j]!;
      scratch[rowOut + c] = acc;
    }
  }
  const acc = new Float64Array(size);
  for (let r = 0; r < size; r++) {
    acc.fill(0);
    const start = w.first[r]!;
    const taps = w.count[r]!;
    const base = r * w.maxTaps;
    for (let j = 0; j < taps; j++) {
      const weight = w.weights[base + j]!;
      const rowIn = (start + j) * size;
      for (let c = 0; c < size; c++) acc[c]! += weight * scratch[rowIn + c]!;
    }
    out.set(acc, r * size);
  }
}

// ---- the whole pipeline --------------------------------------------------------------------

/**
 * docs/manifest.md "Preprocessing, exactly": slice values → model input [3, size, size].
 * `out` (length channels·size²) is reused when given, so a series run allocates once.
 */
export function preprocessSlice(slice: SliceValues, spec: PreprocessingSpec, out?: Float32Array): PreprocessResult {
  checkSlice(slice);
  const { height, width, values } = slice;
  const size = spec.resize.size;
  const channels = spec.channels;
  const planeSize = size * size;
  const tensor = out ?? new Float32Array(channels * planeSize);
  if (tensor.length !== channels * planeSize) {
    throw new SliceError(`output buffer holds ${tensor.length} values, expected ${channels * planeSize}`);
  }
  const geometry = letterboxGeometry(height, width);
  const { square, top, left } = geometry;

  // Steps 1–3: intensity window on the foreground, written straight into the padded square.
  const window = percentileWindow(values, spec.intensity.low_percentile, spec.intensity.high_percentile);
  const padded = new Float32Array(square * square).fill(spec.square.value);
  for (let r = 0; r < height; r++) {
    const src = r * width;
    const dst = (r + top) * square + left;
    if (window === null) {
      padded.fill(0, dst, dst + width);
    } else if (window.hi <= window.lo) {
      for (let c = 0; c < width; c++) padded[dst + c] = values[src + c]! >= window.lo ? 1 : 0;
    } else {
      const { lo } = window;
      const range = window.hi - lo;
      for (let c = 0; c < width; c++) {
        const x = (values[src + c]! - lo) / range;
        padded[dst + c] = x < 0 ? 0 : x > 1 ? 1 : x;
      }
    }
  }

  // Step 4: resize into channel 0 of the output, then step 5 fills every channel from it.
  const resized = tensor.subarray(0, planeSize);
  resizeSquare(padded, square, size, new Float32Array(square * size), resized);
  const { mean, std } = spec.normalize;
  for (let c = channels - 1; c >= 0; c--) {
    const m = mean[c]!;
    const s = std[c]!;
    const offset = c * planeSize;
    for (let i = 0; i < planeSize; i++) tensor[offset + i] = (resized[i]! - m) / s;
  }
  return { tensor, geometry, window };
}
