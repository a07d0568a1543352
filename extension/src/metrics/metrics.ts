// Anomaly-detection metrics on raw maps: the definitions of models/clue/metrics.py, re-done
// in typed arrays so a whole series (256×256×180 ≈ 12 M pixels) is scored in the browser.
// Same rules as Python, on purpose (tests/golden/metrics.json proves the numbers agree):
// - AUROC is the Mann–Whitney statistic, ties between a positive and a negative count one half;
//   it needs both classes (throws otherwise, as Python raises).
// - A pixel is predicted positive when `score >= threshold` (inclusive).
// - Dice / IoU are pooled over every pixel given (one confusion matrix, not a mean of slices);
//   both prediction and ground truth empty counts as 1.
// - max-F1 sweeps every distinct score as a threshold; the first (highest) threshold reaching
//   the best F1 wins. Pooled Dice equals pooled F1, so that is also the best-Dice threshold.
//
// How it stays fast: the scores of positives and of negatives are copied into two typed
// arrays and sorted once (native numeric sort). Every metric is then a merge of the two
// sorted arrays or a binary search in them; no per-pixel objects, no index permutation.
import { ClueInputError } from '../errors';

export class MetricsError extends ClueInputError {
  override name = 'MetricsError';
}

/** Raw anomaly scores, row-major; Float32Array is what the engine produces. */
export type ScoreArray = Float32Array | Float64Array | ArrayLike<number>;
/** Ground truth per pixel (or per image): non-zero / true = abnormal. */
export type LabelArray = ArrayLike<number | boolean>;

type SortedScores = Float32Array | Float64Array;

/**
 * One binary problem, ready for every metric: the positives' and the negatives' scores,
 * each sorted ascending. Build it once per (map, ground truth) pair and reuse it.
 */
export interface BinaryProblem {
  readonly positives: SortedScores;
  readonly negatives: SortedScores;
}

/** A problem from one score array and its labels (same length). */
export function binaryProblem(scores: ScoreArray, labels: LabelArray): BinaryProblem {
  return pooledBinaryProblem([scores], [labels]);
}

/**
 * A problem pooled over several slices (pixel metrics over a series): slice i's scores with
 * slice i's labels. Throws MetricsError when a slice's lengths differ or a score is not finite.
 */
export function pooledBinaryProblem(
  scoreSlices: readonly ScoreArray[],
  labelSlices: readonly LabelArray[],
): BinaryProblem {
  if (scoreSlices.length !== labelSlices.length) {
    throw new MetricsError(`${scoreSlices.length} score maps but ${labelSlices.length} label maps`);
  }
  let positiveCount = 0;
  let negativeCount = 0;
  let allFloat32 = true;
  for (let s = 0; s < scoreSlices.length; s++) {
    const scores = scoreSlices[s]!;
    const labels = labelSlices[s]!;
    if (scores.length !== labels.length) {
      throw new MetricsError(
        `scores (${scores.length}) and labels (${labels.length}) differ in length${scoreSlices.length > 1 ? ` on slice ${s}` : ''}`,
      );
    }
    if (!(scores instanceof Float32Array)) allFloat32 = false;
    for (let i = 0; i < scores.length; i++) {
      if (!Number.isFinite(scores[i])) {
        throw new MetricsError(`scores contain NaN or infinity${scoreSlices.length > 1 ? ` (slice ${s})` : ''}`);
      }
      if (labels[i]) positiveCount++;
    }
    negativeCount += scores.length;
  }
  negativeCount -= positiveCount;
  // Float32 scores stay float32 (exact; half the memory on a whole series).
  const Sorted = allFloat32 ? Float32Array : Float64Array;
  const positives = new Sorted(positiveCount);
  const negatives = new Sorted(negativeCount);
  let p = 0;
  let n = 0;
  for (let s = 0; s < scoreSlices.length; s++) {
    const scores = scoreSlices[s]!;
    const labels = labelSlices[s]!;
    for (let i = 0; i < scores.length; i++) {
      if (labels[i]) positives[p++] = Number(scores[i]);
      else negatives[n++] = Number(scores[i]);
    }
  }
  sortAscending(positives);
  sortAscending(negatives);
  return { positives, negatives };
}

/**
 * Sorts in place, ascending, exactly as TypedArray.prototype.sort does (-0 before +0). Float32
 * arrays of more than a few thousand values take an LSD radix sort on their bit patterns:
 * three passes of 11/11/10 bits, about 5× faster than the native comparison sort on a
 * 12 M-pixel series here (measured by tests/unit/metrics/metrics.bench.ts).
 */
export function sortAscending(values: Float32Array | Float64Array): void {
  if (!(values instanceof Float32Array) || values.length < 4096) {
    values.sort();
    return;
  }
  const n = values.length;
  const keys = new Uint32Array(values.buffer, values.byteOffset, n);
  const low = new Uint32Array(2048);
  const middle = new Uint32Array(2048);
  const high = new Uint32Array(1024);
  // Map the IEEE bit pattern to an unsigned key with the same order: flip every bit of a
  // negative number, only the sign bit of a positive one.
  for (let i = 0; i < n; i++) {
    const bits = keys[i]!;
    const key = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    keys[i] = key;
    low[key & 2047]!++;
    middle[(key >>> 11) & 2047]!++;
    high[key >>> 22]!++;
  }
  const temp = new Uint32Array(n);
  const pass = (source: Uint32Array, target: Uint32Array, counts: Uint32Array, shift: number, mask: number) => {
    let sum = 0;
    for (let bucket = 0; bucket < counts.length; bucket++) {
      const count = counts[bucket]!;
      counts[bucket] = sum;
      sum += count;
    }
    for (let i = 0; i < n; i++) {
      const key = source[i]!;
      target[counts[(key >>> shift) & mask]!++] = key;
    }
  };
  pass(keys, temp, low, 0, 2047);
  pass(temp, keys, middle, 11, 2047);
  pass(keys, temp, high, 22, 1023);
  for (let i = 0; i < n; i++) {
    const key = temp[i]!;
    keys[i] = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  }
}

/** First index whose value is >= threshold (the array is sorted ascending). */
function lowerBound(sorted: SortedScores, threshold: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < threshold) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many scores are >= threshold (NaN: none, as NumPy's comparison says). */
function countAtOrAbove(sorted: SortedScores, threshold: number): number {
  if (Number.isNaN(threshold)) return 0;
  return sorted.length - lowerBound(sorted, threshold);
}

/** Area under the ROC curve, rank-based (Mann–Whitney U / (n_pos · n_neg)), ties one half. */
export function auroc(problem: BinaryProblem): number {
  const { positives, negatives } = problem;
  const positiveCount = positives.length;
  const negativeCount = negatives.length;
  if (positiveCount === 0 || negativeCount === 0) {
    throw new MetricsError(`AUROC needs both classes; got ${positiveCount} positive and ${negativeCount} negative`);
  }
  // 2·U = Σ over positives of (2 · #negatives below + #negatives equal): an integer, exact in a
  // double up to 2^53, so U and the quotient are the very numbers Python's rank sums give.
  let twiceU = 0;
  let below = 0; // negatives strictly below the current positive value
  let i = 0;
  while (i < positiveCount) {
    const value = positives[i]!;
    let runEnd = i + 1;
    while (runEnd < positiveCount && positives[runEnd] === value) runEnd++;
    while (below < negativeCount && negatives[below]! < value) below++;
    let equalEnd = below;
    while (equalEnd < negativeCount && negatives[equalEnd] === value) equalEnd++;
    twiceU += (runEnd - i) * (2 * below + (equalEnd - below));
    i = runEnd;
  }
  return twiceU / 2 / (positiveCount * negativeCount);
}

/** AUROC of per-image scores against per-image labels (abnormal = ground truth non-empty). */
export function imageAuroc(imageScores: ScoreArray, imageLabels: LabelArray): number {
  return auroc(binaryProblem(imageScores, imageLabels));
}

/**
 * Visits every distinct score, high to low, with the confusion counts of `score >= value`
 * (true positives, false positives). This is Python's threshold_sweep, streamed.
 */
export function forEachThreshold(
  problem: BinaryProblem,
  visit: (threshold: number, truePositives: number, falsePositives: number) => void,
): void {
  const { positives, negatives } = problem;
  let p = positives.length - 1;
  let n = negatives.length - 1;
  let truePositives = 0;
  let falsePositives = 0;
  while (p >= 0 || n >= 0) {
    const value = p < 0 ? negatives[n]! : n < 0 ? positives[p]! : Math.max(positives[p]!, negatives[n]!);
    while (p >= 0 && positives[p] === value) {
      truePositives++;
      p--;
    }
    while (n >= 0 && negatives[n] === value) {
      falsePositives++;
      n--;
    }
    visit(value, truePositives, falsePositives);
  }
}

export interface ThresholdSweep {
  /** Distinct scores, high to low; each used as an inclusive threshold. */
  thresholds: Float64Array;
  truePositives: Float64Array;
  falsePositives: Float64Array;
  positives: number;
  negatives: number;
}

/** The whole sweep materialised (one entry per distinct score; for tests and small inputs). */
export function thresholdSweep(problem: BinaryProblem): ThresholdSweep {
  const thresholds: number[] = [];
  const truePositives: number[] = [];
  const falsePositives: number[] = [];
  forEachThreshold(problem, (threshold, tp, fp) => {
    thresholds.push(threshold);
    truePositives.push(tp);
    falsePositives.push(fp);
  });
  return {
    thresholds: Float64Array.from(thresholds),
    truePositives: Float64Array.from(truePositives),
    falsePositives: Float64Array.from(falsePositives),
    positives: problem.positives.length,
    negatives: problem.negatives.length,
  };
}

export interface MaxF1 {
  f1: number;
  /** Predict positive where score >= threshold. */
  threshold: number;
  precision: number;
  recall: number;
}

/** The best F1 over all inclusive thresholds, and the (highest) threshold reaching it. */
export function maxF1(problem: BinaryProblem): MaxF1 {
  const positiveCount = problem.positives.length;
  if (positiveCount === 0) throw new MetricsError('max-F1 needs at least one positive label');
  // (`as` keeps TypeScript from narrowing to null: the callback assigns it.)
  let best = null as { f1: number; threshold: number; tp: number; fp: number } | null;
  forEachThreshold(problem, (threshold, tp, fp) => {
    const fn = positiveCount - tp;
    const f1 = (2.0 * tp) / (2.0 * tp + fp + fn); // same operation order as NumPy's
    if (best === null || f1 > best.f1) best = { f1, threshold, tp, fp };
  });
  const found = best!; // at least one threshold exists: there is a positive
  return {
    f1: found.f1,
    threshold: found.threshold,
    precision: found.tp / (found.tp + found.fp),
    recall: found.tp / positiveCount,
  };
}

export interface Overlap {
  dice: number;
  iou: number;
  threshold: number;
}

/** Confusion counts of `score >= threshold` against the labels. */
export interface OverlapCounts {
  truePositives: number;
  predicted: number;
  groundTruth: number;
}

export function overlapCounts(problem: BinaryProblem, threshold: number): OverlapCounts {
  const truePositives = countAtOrAbove(problem.positives, threshold);
  const predicted = truePositives + countAtOrAbove(problem.negatives, threshold);
  return { truePositives, predicted, groundTruth: problem.positives.length };
}

/**
 * Dice and IoU from pixel counts: the one definition (both empty = perfect agreement, as in
 * models/clue/metrics.py), used for a slice, for a pooled series, and at any threshold.
 */
export function overlapFromCounts(
  truePositives: number,
  predicted: number,
  groundTruth: number,
): { dice: number; iou: number } {
  if (predicted + groundTruth === 0) return { dice: 1.0, iou: 1.0 };
  return {
    dice: (2.0 * truePositives) / (predicted + groundTruth),
    iou: truePositives / (predicted + groundTruth - truePositives),
  };
}

/** Pooled Dice and IoU of `score >= threshold` against the labels. Both empty counts as 1. */
export function diceIou(problem: BinaryProblem, threshold: number): Overlap {
  const { truePositives, predicted, groundTruth } = overlapCounts(problem, threshold);
  return { ...overlapFromCounts(truePositives, predicted, groundTruth), threshold };
}

/** The threshold maximising pooled Dice (the max-F1 threshold) and its Dice / IoU. */
export function bestDiceThreshold(problem: BinaryProblem): Overlap {
  return diceIou(problem, maxF1(problem).threshold);
}

export interface RocPoint {
  fpr: number;
  tpr: number;
}

/**
 * ROC curve for a small plot: (0,0), then one point per distinct threshold (high to low), kept
 * only when FPR or TPR moved by at least 1/maxPoints since the last kept point; the last point
 * (1,1) is always kept. So at most about 2·maxPoints points, and the shape is preserved.
 */
export function rocCurve(problem: BinaryProblem, maxPoints = 200): RocPoint[] {
  const positiveCount = problem.positives.length;
  const negativeCount = problem.negatives.length;
  if (positiveCount === 0 || negativeCount === 0) {
    throw new MetricsError(
      `a ROC curve needs both classes; got ${positiveCount} positive and ${negativeCount} negative`,
    );
  }
  const step = 1 / Math.max(1, maxPoints);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0 }];
  let last: RocPoint = points[0]!;
  let pending = null as RocPoint | null;
  forEachThreshold(problem, (_threshold, tp, fp) => {
    const point = { fpr: fp / negativeCount, tpr: tp / positiveCount };
    if (point.fpr - last.fpr >= step || point.tpr - last.tpr >= step) {
      points.push(point);
      last = point;
      pending = null;
    } else {
      pending = point;
    }
  });
  if (pending !== null) points.push(pending);
  return points;
}

export interface DiceCurvePoint {
  threshold: number;
  dice: number;
  iou: number;
}

/** Dice / IoU at `points` thresholds evenly spaced from the lowest to the highest score. */
export function diceCurve(problem: BinaryProblem, points = 101): DiceCurvePoint[] {
  const { positives, negatives } = problem;
  const candidates = [positives[0], negatives[0]].filter((v): v is number => v !== undefined);
  const tops = [positives[positives.length - 1], negatives[negatives.length - 1]].filter(
    (v): v is number => v !== undefined,
  );
  if (candidates.length === 0) return [];
  const lowest = Math.min(...candidates);
  const highest = Math.max(...tops);
  const count = lowest === highest ? 1 : Math.max(2, Math.floor(points));
  const curve: DiceCurvePoint[] = [];
  for (let k = 0; k < count; k++) {
    const threshold = count === 1 ? lowest : lowest + ((highest - lowest) * k) / (count - 1);
    const { dice, iou } = diceIou(problem, threshold);
    curve.push({ threshold, dice, iou });
  }
  return curve;
}
