// "Same numbers on the same data": the metrics of extension/src/metrics against what
// models/clue/metrics.py computed on the same maps (tests/golden/metrics.json, written by
// `clue golden-metrics`).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import {
  auroc,
  bestDiceThreshold,
  binaryProblem,
  diceIou,
  imageAuroc,
  maxF1,
  MetricsError,
  pooledBinaryProblem,
  thresholdSweep,
  type BinaryProblem,
} from '../../../extension/src/metrics';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Stored {
  encoding: 'json' | 'base64-float32-le' | 'base64-uint8';
  values?: number[];
  data?: string;
}
type MaybeError<T> = T | { error: string };
interface ExpectedMetrics {
  auroc: MaybeError<{ value: number }>;
  max_f1: MaybeError<{ f1: number; threshold: number; precision: number; recall: number }>;
  best_dice: MaybeError<{ dice: number; iou: number; threshold: number }>;
  dice_iou: { threshold: number; dice: number; iou: number }[];
  sweep?: { thresholds: number[]; true_positives: number[]; false_positives: number[] };
}
interface GoldenCase {
  name: string;
  slices: { shape: number[]; map: Stored; mask: Stored }[];
  thresholds: number[];
  image_scores?: number[];
  expected: { pooled: ExpectedMetrics; per_slice: ExpectedMetrics[]; image_auroc?: MaybeError<{ value: number }> };
}

const document = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests', 'golden', 'metrics.json'), 'utf8')) as {
  format: string;
  tolerance: { abs: number };
  cases: GoldenCase[];
};
const TOLERANCE = document.tolerance.abs;

function decodeMap(stored: Stored): Float32Array {
  if (stored.encoding === 'json') return Float32Array.from(stored.values!);
  const bytes = Buffer.from(stored.data!, 'base64');
  const copy = new Uint8Array(bytes); // aligned copy
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

function decodeMask(stored: Stored): Uint8Array {
  if (stored.encoding === 'json') return Uint8Array.from(stored.values!);
  return new Uint8Array(Buffer.from(stored.data!, 'base64'));
}

// -0 and +0 are the same threshold (NumPy's == says so too); compare them as equal.
const plusZero = (values: ArrayLike<number>): number[] => Array.from(values, (v) => v + 0);

function close(actual: number, expected: number): void {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(TOLERANCE);
}

function checkMetrics(problem: BinaryProblem, expected: ExpectedMetrics): void {
  if ('error' in expected.auroc) {
    expect(() => auroc(problem)).toThrow(MetricsError);
    expect(() => auroc(problem)).toThrow(/both classes/);
  } else {
    close(auroc(problem), expected.auroc.value);
  }
  if ('error' in expected.max_f1) {
    expect(() => maxF1(problem)).toThrow(/at least one positive/);
  } else {
    const best = maxF1(problem);
    close(best.f1, expected.max_f1.f1);
    expect(best.threshold + 0).toBe(expected.max_f1.threshold + 0); // a score value: exact
    close(best.precision, expected.max_f1.precision);
    close(best.recall, expected.max_f1.recall);
  }
  if ('error' in expected.best_dice) {
    expect(() => bestDiceThreshold(problem)).toThrow(MetricsError);
  } else {
    const best = bestDiceThreshold(problem);
    expect(best.threshold + 0).toBe(expected.best_dice.threshold + 0);
    close(best.dice, expected.best_dice.dice);
    close(best.iou, expected.best_dice.iou);
  }
  for (const row of expected.dice_iou) {
    const overlap = diceIou(problem, row.threshold);
    close(overlap.dice, row.dice);
    close(overlap.iou, row.iou);
  }
  if (expected.sweep) {
    const sweep = thresholdSweep(problem);
    expect(plusZero(sweep.thresholds)).toEqual(plusZero(expected.sweep.thresholds));
    expect(Array.from(sweep.truePositives)).toEqual(expected.sweep.true_positives);
    expect(Array.from(sweep.falsePositives)).toEqual(expected.sweep.false_positives);
  }
}

describe('metrics equal models/clue/metrics.py on tests/golden/metrics.json', () => {
  it('reads the golden file', () => {
    expect(document.format).toBe('clue-golden-metrics/1');
    expect(document.cases.map((c) => c.name)).toEqual(
      expect.arrayContaining(['hand', 'ties', 'series', 'quantised', 'all-normal']),
    );
  });

  for (const testCase of document.cases) {
    describe(testCase.name, () => {
      const maps = testCase.slices.map((s) => decodeMap(s.map));
      const masks = testCase.slices.map((s) => decodeMask(s.mask));

      it('decodes slices of the stated shape', () => {
        testCase.slices.forEach((slice, i) => {
          const pixels = slice.shape[0]! * slice.shape[1]!;
          expect(maps[i]!.length).toBe(pixels);
          expect(masks[i]!.length).toBe(pixels);
        });
      });

      it('pooled over its slices', () => {
        checkMetrics(pooledBinaryProblem(maps, masks), testCase.expected.pooled);
      });

      it('per slice', () => {
        testCase.expected.per_slice.forEach((expected, i) => {
          checkMetrics(binaryProblem(maps[i]!, masks[i]!), expected);
        });
      });

      if (testCase.image_scores && testCase.expected.image_auroc) {
        const expectedImage = testCase.expected.image_auroc;
        it('image AUROC over the slices', () => {
          const labels = masks.map((m) => m.some((v) => v !== 0));
          if ('error' in expectedImage) expect(() => imageAuroc(testCase.image_scores!, labels)).toThrow(MetricsError);
          else close(imageAuroc(testCase.image_scores!, labels), expectedImage.value);
        });
      }
    });
  }
});
