// Hand-computed cases, the panel's ground-truth summary, and the CSV/JSON export.
import { describe, expect, it } from 'vitest';

import {
  auroc,
  binaryProblem,
  buildResultsRecord,
  computeGroundTruthMetrics,
  comparisonTransferables,
  countingThreshold,
  CSV_COLUMNS,
  diceCurve,
  diceIou,
  maxF1,
  metricsAtThreshold,
  MetricsError,
  pooledBinaryProblem,
  prepareComparison,
  resultsFileName,
  resultsToCsv,
  resultsToJson,
  rocCurve,
  sortAscending,
} from '../../../extension/src/metrics';

describe('hand-computed metrics', () => {
  it('AUROC counts ties one half', () => {
    expect(auroc(binaryProblem([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]))).toBe(0.75);
    expect(auroc(binaryProblem([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]))).toBe(0.875);
    expect(auroc(binaryProblem([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]))).toBe(0.5);
    expect(auroc(binaryProblem([0.0, 1.0], [1, 0]))).toBe(0);
  });

  it('refuses one-class AUROC, length mismatch and non-finite scores', () => {
    expect(() => auroc(binaryProblem([0.1, 0.2], [1, 1]))).toThrow(/both classes; got 2 positive and 0 negative/);
    expect(() => binaryProblem([0.1, 0.2], [1])).toThrow(MetricsError);
    expect(() => binaryProblem([0.1, Number.NaN], [1, 0])).toThrow(/NaN or infinity/);
    expect(() => pooledBinaryProblem([new Float32Array(4)], [new Uint8Array(3)])).toThrow(/differ in length/);
  });

  it('max-F1 takes the highest threshold among equal bests', () => {
    // Thresholds 0.8, 0.4, 0.35, 0.1 give F1 2/3, 1/2, 4/5, 2/3.
    const best = maxF1(binaryProblem([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]));
    expect(best.f1).toBeCloseTo(0.8, 15);
    expect(best.threshold).toBe(0.35);
    expect(best.precision).toBeCloseTo(2 / 3, 15);
    expect(best.recall).toBe(1);
    // Thresholds 0.9 and 0.6 both give F1 2/3 (0.8: 1/2, 0.7: 2/5): the higher one wins.
    const tied = maxF1(binaryProblem([0.9, 0.8, 0.7, 0.6], [1, 0, 0, 1]));
    expect(tied.threshold).toBe(0.9);
    expect(tied.f1).toBeCloseTo(2 / 3, 15);
  });

  it('Dice / IoU at an inclusive threshold; both empty is 1', () => {
    const problem = binaryProblem([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    expect(diceIou(problem, 0.35)).toEqual({ dice: 0.8, iou: 2 / 3, threshold: 0.35 });
    expect(diceIou(problem, 0.81)).toEqual({ dice: 0, iou: 0, threshold: 0.81 });
    expect(diceIou(binaryProblem([0.1, 0.2], [0, 0]), 0.5)).toEqual({ dice: 1, iou: 1, threshold: 0.5 });
  });

  it('ROC curve runs from (0,0) to (1,1), monotone, downsampled', () => {
    const n = 20000;
    const scores = new Float32Array(n);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 7 === 0 ? 1 : 0;
      scores[i] = ((i * 7919) % 1000) / 1000 + labels[i]! * 0.3;
    }
    const curve = rocCurve(binaryProblem(scores, labels), 50);
    expect(curve[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(curve[curve.length - 1]).toEqual({ fpr: 1, tpr: 1 });
    expect(curve.length).toBeLessThanOrEqual(101);
    expect(curve.length).toBeGreaterThan(20);
    for (let i = 1; i < curve.length; i++) {
      expect(curve[i]!.fpr).toBeGreaterThanOrEqual(curve[i - 1]!.fpr);
      expect(curve[i]!.tpr).toBeGreaterThanOrEqual(curve[i - 1]!.tpr);
    }
    // The trapezoid area under the kept points is close to the exact AUROC.
    let area = 0;
    for (let i = 1; i < curve.length; i++) {
      area += ((curve[i]!.fpr - curve[i - 1]!.fpr) * (curve[i]!.tpr + curve[i - 1]!.tpr)) / 2;
    }
    expect(Math.abs(area - auroc(binaryProblem(scores, labels)))).toBeLessThan(0.01);
  });

  it('Dice curve spans the score range and peaks near the best-Dice value', () => {
    const problem = binaryProblem([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    const curve = diceCurve(problem, 8);
    expect(curve).toHaveLength(8);
    expect(curve[0]!.threshold).toBeCloseTo(0.1, 7);
    expect(curve[7]!.threshold).toBeCloseTo(0.8, 7);
    expect(curve[0]!.dice).toBeCloseTo(2 / 3, 12); // everything predicted
    expect(Math.max(...curve.map((p) => p.dice))).toBeLessThanOrEqual(0.8 + 1e-12);
  });
});

describe('computeGroundTruthMetrics', () => {
  const lesionMap = Float32Array.from([0.9, 0.8, 0.1, 0.2]);
  const lesionMask = Uint8Array.from([1, 1, 0, 0]);
  const normalMap = Float32Array.from([0.3, 0.1, 0.2, 0.6]);
  const normalMask = new Uint8Array(4);

  it('per slice and pooled, with notes where a metric does not exist', () => {
    const result = computeGroundTruthMetrics(
      [
        { sopInstanceUID: '1.2.3.1', map: lesionMap, groundTruth: lesionMask, imageScore: 0.95 },
        { sopInstanceUID: '1.2.3.2', map: normalMap, groundTruth: normalMask, imageScore: 0.4 },
      ],
      0.5,
    );
    const [lesion, normal] = result.slices;
    expect(lesion).toMatchObject({
      pixelAuroc: 1,
      dice: 1,
      iou: 1,
      imageLabel: true,
      groundTruthPixels: 2,
      predictedPixels: 2,
    });
    expect(lesion!.bestDice).toEqual({ threshold: 0.800000011920929, dice: 1, iou: 1 });
    expect(normal).toMatchObject({
      pixelAuroc: null,
      bestDice: null,
      dice: 0,
      iou: 0,
      imageLabel: false,
      predictedPixels: 1,
    });
    expect(normal!.notes.join(' ')).toMatch(/pixel AUROC: AUROC needs both classes/);
    const series = result.series!;
    // Pooled: positives 0.9, 0.8; negatives 0.1, 0.2, 0.3, 0.1, 0.2, 0.6 → AUROC 1; at 0.5:
    // predicted 3 (0.9, 0.8, 0.6), TP 2 → Dice 4/5, IoU 2/3.
    expect(series.pixelAuroc).toBe(1);
    expect(series.dice).toBeCloseTo(0.8, 15);
    expect(series.iou).toBeCloseTo(2 / 3, 15);
    expect(series.imageAuroc).toBe(1);
    expect(series.pixelCount).toBe(8);
    expect(series.roc![0]).toEqual({ fpr: 0, tpr: 0 });
    expect(series.diceCurve.length).toBe(101);
  });

  it('image AUROC is null with a note when a slice has no score', () => {
    const result = computeGroundTruthMetrics(
      [
        { sopInstanceUID: 'a', map: lesionMap, groundTruth: lesionMask },
        { sopInstanceUID: 'b', map: normalMap, groundTruth: normalMask, imageScore: 0.1 },
      ],
      0.5,
    );
    expect(result.series!.imageAuroc).toBeNull();
    expect(result.series!.notes.join(' ')).toMatch(/1 slice\(s\) have no image score/);
  });

  it('export: JSON keeps the record, CSV has one row per slice plus a series row', () => {
    const metrics = computeGroundTruthMetrics(
      [
        { sopInstanceUID: '1.2.3.1', map: lesionMap, groundTruth: lesionMask, imageScore: 0.95 },
        { sopInstanceUID: '1.2.3.2', map: normalMap, groundTruth: normalMask, imageScore: 0.4 },
      ],
      0.5,
    );
    const record = buildResultsRecord(
      {
        studyInstanceUID: '1.2.3',
        seriesInstanceUID: '1.2.3.0',
        model: { id: 'clue-demo', version: '0.1.0', sha256: 'ab'.repeat(32) },
        groundTruth: { label: 'Lesion, "drawn"', seriesInstanceUID: '1.2.9', sopInstanceUID: null },
        createdAt: new Date(Date.UTC(2026, 10, 23, 10, 0, 0)),
      },
      metrics,
    );
    const json = JSON.parse(resultsToJson(record));
    expect(json).toMatchObject({ format: 'clue-results/1', createdAt: '2026-11-23T10:00:00.000Z', threshold: 0.5 });
    expect(json.slices[1].pixelAuroc).toBeNull();
    expect(json.model.sha256).toHaveLength(64);

    const lines = resultsToCsv(record).trimEnd().split('\r\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(4);
    const cell = (line: string, column: (typeof CSV_COLUMNS)[number]) =>
      line.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)[CSV_COLUMNS.indexOf(column)];
    expect(cell(lines[1]!, 'scope')).toBe('slice');
    expect(cell(lines[1]!, 'sop_instance_uid')).toBe('1.2.3.1');
    expect(cell(lines[1]!, 'pixel_auroc')).toBe('1');
    expect(cell(lines[2]!, 'pixel_auroc')).toBe(''); // undefined on an all-normal slice
    expect(cell(lines[2]!, 'image_label')).toBe('0');
    expect(cell(lines[1]!, 'ground_truth')).toBe('"Lesion, ""drawn"""');
    expect(cell(lines[3]!, 'scope')).toBe('series');
    expect(cell(lines[3]!, 'image_auroc')).toBe('1');
    expect(Number(cell(lines[3]!, 'dice'))).toBeCloseTo(0.8, 15);
    expect(resultsFileName(record, 'csv')).toBe('clue-results-1.2.3.0-2026-11-23T10-00-00-000Z.csv');
  });
});

describe('metricsAtThreshold: Dice / IoU at any threshold from one prepared comparison', () => {
  // Three float32 slices of 64×80 (radix-sorted), values on a 1/40 grid: long tie runs, and
  // grid values such as float32(0.35) that lie just below the slider's 0.35.
  const pixels = 64 * 80;
  const slices = [0, 1, 2].map((k) => {
    const map = Float32Array.from({ length: pixels }, (_, i) => ((i * 7 + k * 13) % 41) / 40);
    const groundTruth = Uint8Array.from({ length: pixels }, (_, i) =>
      k === 2 ? 0 : (i * 7 + k * 13) % 41 > 25 || i % 97 === 0 ? 1 : 0,
    );
    return { sopInstanceUID: `1.2.${k}`, map, groundTruth, imageScore: k / 3 };
  });
  const prepared = prepareComparison(slices);
  const sliderValues = Array.from({ length: 101 }, (_, k) => k / 100);
  const gridValues = Array.from({ length: 41 }, (_, k) => Math.fround(k / 40));

  /** One plain pass over the pixels: predicted = map ≥ float32(t), the labelmap's rule. */
  function bruteForce(list: typeof slices, threshold: number) {
    const t = Math.fround(threshold);
    let tp = 0;
    let predicted = 0;
    let truth = 0;
    for (const { map, groundTruth } of list) {
      for (let i = 0; i < map.length; i++) {
        if (map[i]! >= t) predicted++;
        if (groundTruth[i]) truth++;
        if (map[i]! >= t && groundTruth[i]) tp++;
      }
    }
    return predicted + truth === 0
      ? { dice: 1, iou: 1, predicted }
      : { dice: (2 * tp) / (predicted + truth), iou: tp / (predicted + truth - tp), predicted };
  }

  it('equals a fresh full computation at every slider value and every score (ties at the threshold)', () => {
    expect(gridValues.some((v, k) => v < k / 40)).toBe(true); // some grid values sit just below their decimal
    const pooled = pooledBinaryProblem(
      slices.map((s) => s.map),
      slices.map((s) => s.groundTruth),
    );
    for (const t of [...sliderValues, ...gridValues, 0.35, -1, 2]) {
      const metrics = metricsAtThreshold(prepared, t);
      expect(metrics.threshold).toBe(t);
      const expected = bruteForce(slices, t);
      expect(metrics.series!.predictedPixels, `t=${t}`).toBe(expected.predicted);
      expect(metrics.series!.dice, `t=${t}`).toBeCloseTo(expected.dice, 14);
      expect(metrics.series!.iou, `t=${t}`).toBeCloseTo(expected.iou, 14);
      // The golden-tested definition (diceIou, = models/clue/metrics.py's dice_iou) at float32(t).
      const golden = diceIou(pooled, Math.fround(t));
      expect(metrics.series!.dice).toBe(golden.dice);
      expect(metrics.series!.iou).toBe(golden.iou);
      slices.forEach((slice, k) => {
        const one = bruteForce([slice], t);
        expect(metrics.slices[k]).toMatchObject({ predictedPixels: one.predicted, dice: one.dice, iou: one.iou });
      });
      // The threshold-free part is the prepared one, whatever the threshold.
      expect(metrics.series!.pixelAuroc).toBe(prepared.series!.pixelAuroc);
      expect(metrics.series!.bestDice).toEqual(prepared.series!.bestDice);
      expect(metrics).toEqual(computeGroundTruthMetrics(slices, t));
    }
  });

  it('float32 maps are counted at float32(threshold); other scores at the threshold as given', () => {
    const f32 = binaryProblem(Float32Array.of(0.35, 0.2), [1, 0]);
    const f64 = binaryProblem(Float64Array.of(0.35, 0.2), [1, 0]);
    expect(countingThreshold(f32, 0.35)).toBe(Math.fround(0.35));
    expect(countingThreshold(f64, 0.35)).toBe(0.35);
    // float32(0.35) is below 0.35 but is "at" the slider's 0.35, as in the labelmap.
    const at = metricsAtThreshold(
      prepareComparison([{ sopInstanceUID: 'a', map: Float32Array.of(0.35, 0.2), groundTruth: [1, 0] }]),
      0.35,
    );
    expect(at.slices[0]).toMatchObject({ predictedPixels: 1, dice: 1, iou: 1 });
  });

  it('crosses a worker boundary by transfer: same numbers, the sorted scores moved not copied', () => {
    const local = prepareComparison(slices);
    const buffers = comparisonTransferables(local);
    expect(buffers).toHaveLength(2 * slices.length);
    const moved = structuredClone(local, { transfer: buffers });
    expect(buffers.every((b) => b.byteLength === 0)).toBe(true); // detached here
    for (const t of [0.1, 0.35, 0.8]) expect(metricsAtThreshold(moved, t)).toEqual(metricsAtThreshold(prepared, t));
  });
});

describe('sortAscending', () => {
  it('sorts large float32 arrays exactly like the native sort (signs, zeros, infinities, subnormals)', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const values = Float32Array.from({ length: 50000 }, (_, i) =>
      i % 11 === 0 ? (random() - 0.5) * 1e-40 : i % 13 === 0 ? Math.round(random() * 8) / 8 : (random() - 0.4) * 1e6,
    );
    values.set([0, -0, Infinity, -Infinity, 1, -1], 100);
    const expected = values.slice().sort();
    sortAscending(values);
    expect(values.every((v, i) => Object.is(v, expected[i]))).toBe(true);
  });

  it('gives the same AUROC on a large problem as a brute-force pair count', () => {
    const n = 6000;
    const scores = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 257) / 64 - 1);
    const labels = Uint8Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 1 : 0));
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      if (!labels[i]) continue;
      for (let j = 0; j < n; j++) {
        if (labels[j]) continue;
        pairs += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    const positives = labels.reduce((a, b) => a + b, 0);
    expect(auroc(binaryProblem(scores, labels))).toBe(pairs / (positives * (n - positives)));
  });
});
