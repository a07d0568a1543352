// The model's map (size×size, covering the padded square) back onto the slice grid, exactly
// as docs/manifest.md "Post-processing" says (same as models/clue/preprocess.py
// map_to_slice_grid, pinned by tests/golden/postprocess.json). Values stay raw.

import { letterboxGeometry } from './preprocess';

interface AxisSampling {
  index: Int32Array;
  next: Int32Array;
  fraction: Float64Array;
}

/** Source index, its neighbour and the fraction for each of `count` slice pixels on one axis. */
function axisSampling(count: number, offset: number, square: number, size: number): AxisSampling {
  const index = new Int32Array(count);
  const next = new Int32Array(count);
  const fraction = new Float64Array(count);
  const ratio = size / square;
  for (let i = 0; i < count; i++) {
    let u = (i + offset + 0.5) * ratio - 0.5;
    u = u < 0 ? 0 : u > size - 1 ? size - 1 : u;
    const k = Math.floor(u);
    index[i] = k;
    next[i] = Math.min(k + 1, size - 1);
    fraction[i] = u - k;
  }
  return { index, next, fraction };
}

/**
 * Bilinear "uncrop": slice pixel (r, c) samples the model grid at
 * u = (r + top + 0.5)·size/S − 0.5 (likewise v), coordinates clamped to [0, size − 1].
 * `map` may be a view into a larger buffer (e.g. one plane of layer_maps).
 */
export function mapToSliceGrid(
  map: Float32Array,
  size: number,
  height: number,
  width: number,
  out?: Float32Array,
): Float32Array {
  if (map.length !== size * size) {
    throw new Error(`model map holds ${map.length} values, expected ${size}×${size}`);
  }
  const { square, top, left } = letterboxGeometry(height, width);
  const result = out ?? new Float32Array(height * width);
  if (result.length !== height * width) {
    throw new Error(`output buffer holds ${result.length} values, expected ${height}×${width}`);
  }
  const rows = axisSampling(height, top, square, size);
  const cols = axisSampling(width, left, square, size);
  for (let r = 0; r < height; r++) {
    const upper = rows.index[r]! * size;
    const lower = rows.next[r]! * size;
    const fy = rows.fraction[r]!;
    const dst = r * width;
    for (let c = 0; c < width; c++) {
      const c0 = cols.index[c]!;
      const c1 = cols.next[c]!;
      const fx = cols.fraction[c]!;
      const top0 = map[upper + c0]! * (1 - fx) + map[upper + c1]! * fx;
      const bottom0 = map[lower + c0]! * (1 - fx) + map[lower + c1]! * fx;
      result[dst + c] = top0 * (1 - fy) + bottom0 * fy;
    }
  }
  return result;
}
