// The heatmap's colours: a fixed scale on the raw [0, 1] map (so a colour means the same
// value on every slice), transparent below the threshold. Pure: the overlay paints with it
// and the panel draws its legend from the same stops.

/** Anchor colours (value in [0, 1] → RGB), interpolated linearly between anchors. */
export const COLORMAP_STOPS: ReadonlyArray<{ at: number; rgb: readonly [number, number, number] }> = [
  { at: 0.0, rgb: [0, 0, 130] },
  { at: 0.25, rgb: [0, 90, 255] },
  { at: 0.5, rgb: [0, 220, 170] },
  { at: 0.75, rgb: [255, 220, 0] },
  { at: 1.0, rgb: [230, 20, 0] },
];

export const COLORMAP_NAME = 'blue–cyan–yellow–red';

/** The colour of `value` (clamped to [0, 1]); NaN is treated as 0. */
export function colormapRgb(value: number): [number, number, number] {
  const v = Number.isNaN(value) ? 0 : Math.min(1, Math.max(0, value));
  for (let i = 1; i < COLORMAP_STOPS.length; i++) {
    const hi = COLORMAP_STOPS[i]!;
    if (v <= hi.at) {
      const lo = COLORMAP_STOPS[i - 1]!;
      const t = (v - lo.at) / (hi.at - lo.at);
      return [0, 1, 2].map((c) => Math.round(lo.rgb[c]! + t * (hi.rgb[c]! - lo.rgb[c]!))) as [number, number, number];
    }
  }
  const last = COLORMAP_STOPS[COLORMAP_STOPS.length - 1]!.rgb;
  return [last[0], last[1], last[2]];
}

/** A 256-entry RGB lookup table (index = round(value · 255)), for painting many pixels. */
export function colormapLut(): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(colormapRgb(i / 255), i * 3);
  return lut;
}

/** CSS for the legend: the same stops as a left-to-right gradient. */
export function colormapCssGradient(): string {
  const stops = COLORMAP_STOPS.map((s) => `rgb(${s.rgb.join(', ')}) ${(s.at * 100).toFixed(0)}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/**
 * Paints `map` into RGBA `out` (4 bytes per value): the colormap colour with alpha 255
 * where map ≥ threshold (compared in float32, like the labelmap), fully transparent
 * elsewhere. Opacity is applied when the overlay is composited, not here. Returns how many
 * pixels are painted.
 */
export function paintHeatmap(
  map: ArrayLike<number>,
  threshold: number,
  out: Uint8ClampedArray,
  lut: Uint8Array = colormapLut(),
): number {
  if (out.length !== map.length * 4)
    throw new RangeError(`RGBA buffer of ${out.length} bytes for ${map.length} values`);
  const t = Math.fround(threshold);
  let painted = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    const o = i * 4;
    if (v >= t) {
      const k = Math.round(Math.min(1, Math.max(0, v)) * 255) * 3;
      out[o] = lut[k]!;
      out[o + 1] = lut[k + 1]!;
      out[o + 2] = lut[k + 2]!;
      out[o + 3] = 255;
      painted++;
    } else {
      out[o + 3] = 0;
    }
  }
  return painted;
}
