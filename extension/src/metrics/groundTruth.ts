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

function overlapAt(problem: BinaryProblem, threshold: number) {
  const { dice, iou } = diceIou(problem, threshold);
  return { dice, iou, predicted: overlapCounts(problem, threshold).predicted };
}

function bestDiceOf(problem: BinaryProblem, notes: string[]): BestDice | null {
  const best = tryMetric(() => maxF1(problem), notes, 'best Dice threshold');
  if (best === null) return null;
  const { dice, iou } = diceIou(problem, best.threshold);
  return { threshold: best.threshold, dice, iou };
}

/**
 * Metrics of each slice and of the series pooled, at `threshold` (predicted = map >= threshold).
 * Throws MetricsError for input that cannot be compared (lengths differ, non-finite scores).
 */
export function computeGroundTruthMetrics(
  slices: readonly SliceInput[],
  threshold: number,
  options: GroundTruthOptions = {},
): GroundTruthMetrics {
  const sliceMetrics: SliceMetrics[] = slices.map((slice) => {
    const notes: string[] = [];
    const problem = binaryProblem(slice.map, slice.groundTruth);
    const { dice, iou, predicted } = overlapAt(problem, threshold);
    return {
      sopInstanceUID: slice.sopInstanceUID,
      frameNumber: slice.frameNumber ?? null,
      pixelCount: slice.map.length,
      groundTruthPixels: problem.positives.length,
      predictedPixels: predicted,
      pixelAuroc: tryMetric(() => auroc(problem), notes, 'pixel AUROC'),
      dice,
      iou,
      bestDice: bestDiceOf(problem, notes),
      imageScore: slice.imageScore ?? null,
      imageLabel: problem.positives.length > 0,
      notes,
    };
  });
  if (slices.length === 0) return { threshold, slices: sliceMetrics, series: null };

  const notes: string[] = [];
  const pooled = pooledBinaryProblem(
    slices.map((s) => s.map),
    slices.map((s) => s.groundTruth),
  );
  const { dice, iou, predicted } = overlapAt(pooled, threshold);
  const scored = sliceMetrics.filter((s) => s.imageScore !== null);
  let imageAurocValue: number | null = null;
  if (scored.length < sliceMetrics.length) {
    notes.push(`image AUROC: ${sliceMetrics.length - scored.length} slice(s) have no image score`);
  } else {
    imageAurocValue = tryMetric(
      () => auroc(binaryProblem(scored.map((s) => s.imageScore!), scored.map((s) => s.imageLabel))),
      notes,
      'image AUROC',
    );
  }
  const series: SeriesMetrics = {
    sliceCount: slices.length,
    pixelCount: pooled.positives.length + pooled.negatives.length,
    groundTruthPixels: pooled.positives.length,
    predictedPixels: predicted,
    pixelAuroc: tryMetric(() => auroc(pooled), notes, 'pixel AUROC'),
    dice,
    iou,
    bestDice: bestDiceOf(pooled, notes),
    imageAuroc: imageAurocValue,
    roc: tryMetric(() => rocCurve(pooled, options.rocPoints ?? 100), [], 'ROC'),
    diceCurve: diceCurve(pooled, options.diceCurvePoints ?? 101),
    notes,
  };
  return { threshold, slices: sliceMetrics, series };
}
