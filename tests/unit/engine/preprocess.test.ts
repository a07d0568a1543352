import { describe, expect, it } from 'vitest';
import type { PreprocessingSpec } from '../../../extension/src/engine/manifest';
import {
  bicubicAntialiasWeights,
  letterboxGeometry,
  percentileWindow,
  preprocessSlice,
  SliceError,
} from '../../../extension/src/engine/preprocess';
import { compareToExpected, decodeArray, readGolden, type StoredArray } from './golden';

const cases = readGolden('preprocess.json');

describe('preprocessSlice against the Python golden vectors', () => {
  it('has the cases the contract asks for', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  for (const golden of cases) {
    it(`${golden.name}: ${golden.description}`, () => {
      const input = golden.input as StoredArray & { height: number; width: number };
      const spec = golden.preprocessing as PreprocessingSpec;
      const values = decodeArray(input);
      const result = preprocessSlice({ values, width: input.width, height: input.height }, spec);
      expect(result.geometry).toEqual(golden.expected.geometry);
      if (golden.expected.window === null) {
        expect(result.window).toBeNull();
      } else {
        expect(result.window!.lo).toBeCloseTo(golden.expected.window!.lo, 9);
        expect(result.window!.hi).toBeCloseTo(golden.expected.window!.hi, 9);
      }
      const { maxAbs, compared } = compareToExpected(result.tensor, golden.expected);
      expect(compared).toBeGreaterThan(0);
      expect(maxAbs).toBeLessThanOrEqual(golden.tolerance.abs);
    });
  }

  it('reuses a given output buffer and refuses one of the wrong length', () => {
    const golden = cases[0]!;
    const input = golden.input as StoredArray & { height: number; width: number };
    const spec = golden.preprocessing as PreprocessingSpec;
    const slice = { values: decodeArray(input), width: input.width, height: input.height };
    const out = new Float32Array(3 * spec.resize.size ** 2);
    expect(preprocessSlice(slice, spec, out).tensor).toBe(out);
    expect(() => preprocessSlice(slice, spec, new Float32Array(5))).toThrow(/output buffer holds 5/);
  });
});

describe('preprocessing pieces', () => {
  it('letterbox geometry floors the offsets', () => {
    expect(letterboxGeometry(7, 12)).toEqual({ square: 12, top: 2, left: 0 });
    expect(letterboxGeometry(13, 6)).toEqual({ square: 13, top: 0, left: 3 });
    expect(letterboxGeometry(4, 7)).toEqual({ square: 7, top: 1, left: 0 });
    expect(() => letterboxGeometry(0, 3)).toThrow(SliceError);
  });

  it('percentiles: numpy linear definition on the foreground only', () => {
    // Foreground (values > min = -1) is 1..10; p=25 → position 2.25 → 3.25; p=90 → 9.1.
    const values = [-1, -1, 7, 3, 10, 1, 5, 2, 9, 4, 8, 6, -1];
    const window = percentileWindow(values, 25, 90)!;
    expect(window.lo).toBeCloseTo(3.25, 12);
    expect(window.hi).toBeCloseTo(9.1, 12);
    expect(percentileWindow([4, 4, 4], 0.5, 99.5)).toBeNull();
  });

  it('percentiles agree with a full sort on random data with ties', () => {
    let seed = 12345;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (const n of [2, 3, 17, 1000, 4097]) {
      const values = Array.from({ length: n }, () => Math.floor(random() * 50));
      const foreground = values.filter((v) => v > Math.min(...values)).sort((a, b) => a - b);
      if (foreground.length === 0) continue;
      for (const [low, high] of [
        [0.5, 99.5],
        [0, 100],
        [37, 38],
      ] as const) {
        const reference = (p: number) => {
          const position = (p / 100) * (foreground.length - 1);
          const k = Math.floor(position);
          const next = foreground[Math.min(k + 1, foreground.length - 1)]!;
          return foreground[k]! + (position - k) * (next - foreground[k]!);
        };
        const window = percentileWindow(values, low, high)!;
        expect(window.lo).toBeCloseTo(reference(low), 9);
        expect(window.hi).toBeCloseTo(reference(high), 9);
      }
    }
  });

  it('refuses non-finite values and a wrong value count', () => {
    const spec = readGolden('preprocess.json')[0]!.preprocessing as PreprocessingSpec;
    expect(() => preprocessSlice({ values: [1, NaN, 2, 3], width: 2, height: 2 }, spec)).toThrow(/finite/);
    expect(() => preprocessSlice({ values: [1, 2, 3], width: 2, height: 2 }, spec)).toThrow(/expected 2×2 = 4/);
  });

  it('resize weights sum to one and are the identity at the same size', () => {
    const same = bicubicAntialiasWeights(9, 9);
    for (let i = 0; i < 9; i++) {
      let sum = 0;
      for (let j = 0; j < same.count[i]!; j++) {
        const w = same.weights[i * same.maxTaps + j]!;
        sum += w;
        expect(Math.abs(w - (same.first[i]! + j === i ? 1 : 0))).toBeLessThan(1e-12);
      }
      expect(sum).toBeCloseTo(1, 12);
    }
    const down = bicubicAntialiasWeights(512, 224);
    expect(Math.max(...down.count)).toBeLessThanOrEqual(down.maxTaps);
  });
});
