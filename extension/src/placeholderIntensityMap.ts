// A PLACEHOLDER map, not the CLUE model: until the inference engine (extension/src/engine/)
// is wired in, the run command needs some map computed from the real slice so that the
// whole data path (host pixels -> map -> host labelmap -> panel) is exercised for real.
//
// What it computes: how unusual each pixel's intensity is compared with the rest of the
// slice's foreground, as a robust z-score (median and MAD, so a lesion does not shift its
// own reference), in both directions (lesions can be darker or brighter than tissue),
// mapped to [0, 1] so a threshold behaves like one on the model's map:
//   map = clamp(|z| / Z_AT_ONE, 0, 1), with z = (v - median) / (1.4826 · MAD)
// Threshold 0.5 therefore means "more than 3 robust standard deviations from the median".
// It knows no anatomy: CSF, fat or vessels light up as readily as a lesion.
// Background (pixels equal to the slice minimum, as in the manifest's `greater_than_min`)
// is 0. A slice whose foreground has no spread (MAD 0) gives an all-zero map.

export const PLACEHOLDER_MAP_NAME = 'placeholderIntensityMap';

/** z at which the map saturates to 1 (so 0.5 is z = 3). */
export const Z_AT_ONE = 6;

/** 1.4826 · MAD estimates the standard deviation of normally distributed values. */
const MAD_TO_SIGMA = 1.4826;

export interface PlaceholderMapResult {
  map: Float32Array;
  /** Image-level score: the 99th percentile of the map over the foreground. */
  score: number;
  foregroundCount: number;
  median: number;
  sigma: number;
}

function medianOfSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Linear-interpolated percentile (NumPy's default) of already sorted values. */
export function percentileOfSorted(sorted: ArrayLike<number>, percent: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (percent / 100) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const frac = pos - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * frac;
}

/**
 * @param values real-world values of one slice (modality LUT applied), row-major
 * @param rows, columns the slice grid; values.length must equal rows · columns
 */
export function placeholderIntensityMap(
  values: ArrayLike<number>,
  rows: number,
  columns: number,
): PlaceholderMapResult {
  const n = rows * columns;
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows <= 0 || columns <= 0) {
    throw new RangeError(`placeholderIntensityMap: bad slice size ${rows}×${columns}`);
  }
  if (values.length !== n) {
    throw new RangeError(
      `placeholderIntensityMap: ${values.length} values for a ${rows}×${columns} slice (expected ${n})`,
    );
  }

  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
  }
  let foregroundCount = 0;
  for (let i = 0; i < n; i++) if (values[i]! > min) foregroundCount++;

  const map = new Float32Array(n);
  if (foregroundCount === 0) {
    return { map, score: 0, foregroundCount, median: min, sigma: 0 };
  }

  const foreground = new Float64Array(foregroundCount);
  for (let i = 0, k = 0; i < n; i++) if (values[i]! > min) foreground[k++] = values[i]!;
  foreground.sort();
  const median = medianOfSorted(foreground);

  const deviations = new Float64Array(foregroundCount);
  for (let k = 0; k < foregroundCount; k++) deviations[k] = Math.abs(foreground[k]! - median);
  deviations.sort();
  const sigma = MAD_TO_SIGMA * medianOfSorted(deviations);

  if (!(sigma > 0)) {
    return { map, score: 0, foregroundCount, median, sigma: 0 };
  }

  const foregroundMap = new Float64Array(foregroundCount);
  for (let i = 0, k = 0; i < n; i++) {
    const v = values[i]!;
    if (!(v > min)) continue;
    const z = (v - median) / sigma;
    const m = Math.min(1, Math.abs(z) / Z_AT_ONE);
    map[i] = m;
    foregroundMap[k++] = m;
  }
  foregroundMap.sort();
  const score = percentileOfSorted(foregroundMap, 99);
  return { map, score, foregroundCount, median, sigma };
}
