import { describe, expect, it } from 'vitest';
import { mapToSliceGrid } from '../../../extension/src/engine/postprocess';
import { compareToExpected, decodeArray, readGolden, type StoredArray } from './golden';

const cases = readGolden('postprocess.json');

describe('mapToSliceGrid against the Python golden vectors', () => {
  it('has the cases the contract asks for', () => {
    expect(cases.length).toBeGreaterThanOrEqual(6);
  });

  for (const golden of cases) {
    it(`${golden.name}: ${golden.description}`, () => {
      const map = golden.map as StoredArray & { size: number };
      const slice = golden.slice as { height: number; width: number };
      const result = mapToSliceGrid(decodeArray(map), map.size, slice.height, slice.width);
      const { maxAbs, compared } = compareToExpected(result, golden.expected);
      expect(compared).toBeGreaterThan(0);
      expect(maxAbs).toBeLessThanOrEqual(golden.tolerance.abs);
    });
  }

  it('returns the map unchanged when the slice is the model size', () => {
    const map = Float32Array.from({ length: 36 }, (_, i) => ((i * 7919) % 13) / 13);
    expect(Array.from(mapToSliceGrid(map, 6, 6, 6))).toEqual(Array.from(map));
  });

  it('refuses a map of the wrong length', () => {
    expect(() => mapToSliceGrid(new Float32Array(10), 4, 3, 3)).toThrow(/expected 4×4/);
  });
});
