// Ground-truth comparison for the panel: per-slice and whole-series metrics from the raw maps
// (on the image's own grid) and a ground-truth mask per slice. Metrics that a slice cannot
// have (AUROC on a slice whose ground truth is empty) are null with a note saying why, never
// a made-up number.
import {
  auroc,
  binaryProblem,
  diceCurve,
  diceIou,
  maxF1,
  MetricsError,
  overlapCounts,
  overlapFromCounts,
  pooledBinaryProblem,
  rocCurve,
  type BinaryProblem,
  type DiceCurvePoint,
  type LabelArray,
  type RocPoint,
  type ScoreArray,
} from './metrics';

export interface SliceInput {
  sopInstanceUID: string;
  /** 1-based frame number for multi-frame sources; absent for single-frame instances. */
  frameNumber?: number;
  /** The raw anomaly map on the slice's grid, row-major. */
  map: ScoreArray;
  /** The ground truth on the same grid: non-zero = abnormal. */
  groundTruth: LabelArray;
  /** The model's image score for the slice, when it has one. */
  imageScore?: number | null;
}

export interface BestDice {
  threshold: number;
  dice: number;
  iou: number;
}

export interface SliceMetrics {
  sopInstanceUID: string;
  frameNumber: number | null;
  pixelCount: number;
  groundTruthPixels: number;
  predictedPixels: number;
  pixelAuroc: number | null;
  dice: number;
  iou: number;
  bestDice: BestDice | null;
  imageScore: number | null;
  /** Abnormal when the ground truth is non-empty on this slice. */
  imageLabel: boolean;
  notes: string[];
}

export interface SeriesMetrics {
  sliceCount: number;
  pixelCount: number;
  groundTruthPixels: number;
  predictedPixels: number;
  pixelAuroc: number | null;
  dice: number;
  iou: number;
  bestDice: BestDice | null;
  imageAuroc: number | null;
  roc: RocPoint[] | null;
  diceCurve: DiceCurvePoint[];
  notes: string[];
}

export interface GroundTruthMetrics {
  threshold: number;
  slices: SliceMetrics[];
  /** Pooled over all slices given (null when no slice was given). */
  series: SeriesMetrics | null;
}

export interface GroundTruthOptions {
  /** Points of the ROC curve kept for the plot (about twice this at most). */
  rocPoints?: number;
  /** Thresholds of the Dice-vs-threshold curve. */
  diceCurvePoints?: number;
}

function tryMetric<T>(compute: () => T, notes: string[], what: string): T | null {
  try {
    return compute();
  } catch (error) {
    if (error instanceof MetricsError) {
      notes.push(`${what}: ${error.message}`);
      return null;
    }
    throw error;
  }
}

function bestDiceOf(problem: BinaryProblem, notes: string[]): BestDice | null {
  const best = tryMetric(() => maxF1(problem), notes, 'best Dice threshold');
  if (best === null) return null;
  const { dice, iou } = diceIou(problem, best.threshold);
  return { threshold: best.threshold, dice, iou };
}

/** What a comparison knows that does not depend on the threshold (the expensive part). */
export type ThresholdFreeSlice = Omit<SliceMetrics, 'predictedPixels' | 'dice' | 'iou'>;
export type ThresholdFreeSeries = Omit<SeriesMetrics, 'predictedPixels' | 'dice' | 'iou'>;

/**
 * A comparison ready for any threshold: the threshold-free metrics (AUROC, best Dice, curves,
 * image AUROC: sorts and sweeps, seconds on a whole series) and each slice's scores sorted by
 * class (`problems[i]` for `slices[i]`). Dice / IoU at a threshold are then two binary searches
 * per slice (`metricsAtThreshold`), so they can follow a slider. The pooled counts are the sums
 * of the slices' counts: the pooled problem itself is not kept. Memory: the sorted scores take
 * as many bytes as the maps. Plain data and typed arrays: it crosses a worker boundary
 * (`comparisonTransferables`).
 */
export interface PreparedComparison {
  slices: ThresholdFreeSlice[];
  series: ThresholdFreeSeries | null;
  problems: BinaryProblem[];
}

/**
 * The threshold the labelmap uses: it draws `map >= fround(threshold)` (viewer/thresholdMask.ts),
 * so the counts of float32 maps are taken at the slider value rounded to float32 — the same rule
 * as NumPy 2 comparing a float32 array with a Python float. A map value of float32(0.35) is in
 * the mask at a slider value of 0.35 and is counted here too (the raw double 0.35 is above it).
 * Scores of another type (float64 in tests) are compared with the threshold as given.
 */
export function countingThreshold(problem: BinaryProblem, threshold: number): number {
  return problem.positives instanceof Float32Array && problem.negatives instanceof Float32Array
    ? Math.fround(threshold)
    : threshold;
}

/** The expensive, threshold-independent part of the comparison (see PreparedComparison). */
export function prepareComparison(slices: readonly SliceInput[], options: GroundTruthOptions = {}): PreparedComparison {
  const problems: BinaryProblem[] = [];
  const sliceMetrics: ThresholdFreeSlice[] = slices.map((slice) => {
    const notes: string[] = [];
    const problem = binaryProblem(slice.map, slice.groundTruth);
    problems.push(problem);
    return {
      sopInstanceUID: slice.sopInstanceUID,
      frameNumber: slice.frameNumber ?? null,
      pixelCount: slice.map.length,
      groundTruthPixels: problem.positives.length,
      pixelAuroc: tryMetric(() => auroc(problem), notes, 'pixel AUROC'),
      bestDice: bestDiceOf(problem, notes),
      imageScore: slice.imageScore ?? null,
      imageLabel: problem.positives.length > 0,
      notes,
    };
  });
  if (slices.length === 0) return { slices: sliceMetrics, series: null, problems };

  const notes: string[] = [];
  const pooled = pooledBinaryProblem(
    slices.map((s) => s.map),
    slices.map((s) => s.groundTruth),
  );
  const scored = sliceMetrics.filter((s) => s.imageScore !== null);
  let imageAurocValue: number | null = null;
  if (scored.length < sliceMetrics.length) {
    notes.push(`image AUROC: ${sliceMetrics.length - scored.length} slice(s) have no image score`);
  } else {
    imageAurocValue = tryMetric(
      () =>
        auroc(
          binaryProblem(
            scored.map((s) => s.imageScore!),
            scored.map((s) => s.imageLabel),
          ),
        ),
      notes,
      'image AUROC',
    );
  }
  const series: ThresholdFreeSeries = {
    sliceCount: slices.length,
    pixelCount: pooled.positives.length + pooled.negatives.length,
    groundTruthPixels: pooled.positives.length,
    pixelAuroc: tryMetric(() => auroc(pooled), notes, 'pixel AUROC'),
    bestDice: bestDiceOf(pooled, notes),
    imageAuroc: imageAurocValue,
    roc: tryMetric(() => rocCurve(pooled, options.rocPoints ?? 100), [], 'ROC'),
    diceCurve: diceCurve(pooled, options.diceCurvePoints ?? 101),
    notes,
  };
  return { slices: sliceMetrics, series, problems };
}

/**
 * The comparison's metrics at `threshold`: the prepared threshold-free numbers plus, per slice and
 * pooled, the predicted pixels, Dice and IoU of `map >= threshold` (countingThreshold's rule).
 * Two binary searches per slice: microseconds even for a whole series.
 */
export function metricsAtThreshold(prepared: PreparedComparison, threshold: number): GroundTruthMetrics {
  let truePositives = 0;
  let predictedPixels = 0;
  const slices: SliceMetrics[] = prepared.slices.map((slice, i) => {
    const problem = prepared.problems[i]!;
    const counts = overlapCounts(problem, countingThreshold(problem, threshold));
    truePositives += counts.truePositives;
    predictedPixels += counts.predicted;
    return {
      ...slice,
      predictedPixels: counts.predicted,
      ...overlapFromCounts(counts.truePositives, counts.predicted, counts.groundTruth),
    };
  });
  const base = prepared.series;
  const series: SeriesMetrics | null = base
    ? { ...base, predictedPixels, ...overlapFromCounts(truePositives, predictedPixels, base.groundTruthPixels) }
    : null;
  return { threshold, slices, series };
}

/** The buffers to transfer (not copy) when a prepared comparison is posted from a worker. */
export function comparisonTransferables(prepared: PreparedComparison): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const problem of prepared.problems) {
    for (const scores of [problem.positives, problem.negatives]) {
      if (scores.buffer instanceof ArrayBuffer) buffers.add(scores.buffer);
    }
  }
  return [...buffers];
}

/**
 * Metrics of each slice and of the series pooled, at `threshold` (predicted = map >= threshold,
 * see countingThreshold). Throws MetricsError for input that cannot be compared (lengths differ,
 * non-finite scores).
 */
export function computeGroundTruthMetrics(
  slices: readonly SliceInput[],
  threshold: number,
  options: GroundTruthOptions = {},
): GroundTruthMetrics {
  return metricsAtThreshold(prepareComparison(slices, options), threshold);
}
