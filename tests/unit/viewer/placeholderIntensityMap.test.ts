import { describe, expect, it } from 'vitest';
import {
  Z_AT_ONE,
  percentileOfSorted,
  placeholderIntensityMap,
} from '../../../extension/src/placeholderIntensityMap';

describe('placeholderIntensityMap', () => {
  it('maps |robust z| / Z_AT_ONE, with background (= slice minimum) at 0', () => {
    // Foreground 10, 11, 12, 13, 14 (median 12, MAD 1 -> sigma 1.4826), plus two outliers.
    const values = [0, 0, 10, 11, 12, 13, 14, 12 + 3 * 1.4826, 12 - 6 * 1.4826];
    const { map, median, sigma, foregroundCount } = placeholderIntensityMap(values, 3, 3);
    expect(foregroundCount).toBe(7);
    expect(median).toBe(12);
    // MAD of [2,1,0,1,2,3·1.4826,6·1.4826] is 2 -> sigma 2 · 1.4826.
    expect(sigma).toBeCloseTo(2 * 1.4826, 10);
    expect(map[0]).toBe(0);
    expect(map[1]).toBe(0);
    expect(map[4]).toBe(0); // the median itself
    expect(map[7]).toBeCloseTo(1.5 / Z_AT_ONE, 6); // 3 raw sigmas = 1.5 robust sigmas
    expect(map[8]).toBeCloseTo(3 / Z_AT_ONE, 6); // darker counts too
  });

  it('saturates at 1 and flags a bright spot on a flat-ish background', () => {
    const rows = 8;
    const columns = 8;
    const values = new Float32Array(rows * columns);
    for (let i = 0; i < values.length; i++) values[i] = 100 + (i % 3); // foreground 100..102
    values[0] = 0; // one background pixel (the slice minimum)
    values[27] = 1000; // the "lesion"
    const { map, score } = placeholderIntensityMap(values, rows, columns);
    expect(map[27]).toBe(1);
    let above = 0;
    for (const v of map) if (v >= 0.5) above++;
    expect(above).toBe(1);
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThanOrEqual(1);
  });

  it('returns an all-zero map for a constant slice and for a foreground without spread', () => {
    expect(Array.from(placeholderIntensityMap([5, 5, 5, 5], 2, 2).map)).toEqual([0, 0, 0, 0]);
    const r = placeholderIntensityMap([0, 7, 7, 7], 2, 2);
    expect(Array.from(r.map)).toEqual([0, 0, 0, 0]);
    expect(r.score).toBe(0);
  });

  it('rejects a value count that does not match the grid, and bad sizes', () => {
    expect(() => placeholderIntensityMap([1, 2, 3], 2, 2)).toThrow(/3 values for a 2×2 slice/);
    expect(() => placeholderIntensityMap([], 0, 2)).toThrow(/bad slice size/);
  });
});

describe('percentileOfSorted', () => {
  it('interpolates linearly between order statistics like NumPy', () => {
    const sorted = [1, 2, 3, 4];
    expect(percentileOfSorted(sorted, 0)).toBe(1);
    expect(percentileOfSorted(sorted, 100)).toBe(4);
    expect(percentileOfSorted(sorted, 50)).toBe(2.5);
    expect(percentileOfSorted(sorted, 99)).toBeCloseTo(3.97, 10);
  });
});
