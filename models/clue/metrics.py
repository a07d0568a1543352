"""Anomaly-detection metrics on raw scores, written out in NumPy.

These definitions are the ones the viewer's TypeScript re-implements, so each is spelled out
rather than borrowed (scikit-learn checks them in the tests):

- **AUROC** is the Mann–Whitney statistic: the probability that a random positive scores above
  a random negative, ties counting one half. Computed from average ranks, so tied scores are
  handled exactly as scikit-learn's trapezoidal ROC area handles them.
- **max-F1** sweeps the threshold over every distinct score, predicting positive when
  `score >= threshold` (inclusive, the same rule the viewer uses to draw a mask).
- **Dice / IoU** at a threshold are pooled over all pixels given (one big confusion matrix, not
  a mean of per-slice values). Pooled Dice equals pooled F1, so the threshold maximising Dice
  is the max-F1 threshold.
- **AUPRO** (per-region overlap up to a false-positive-rate limit, normalised to [0, 1]).

Scores are never min–max normalised per image here: a threshold must mean the same on every
slice, so callers pass the raw maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_binary_problem(scores: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    score_array = np.asarray(scores, dtype=np.float64).ravel()
    label_array = np.asarray(labels).ravel()
    if score_array.shape != label_array.shape:
        raise ValueError(f"scores ({score_array.size}) and labels ({label_array.size}) differ in length")
    if not np.all(np.isfinite(score_array)):
        raise ValueError("scores contain NaN or infinity")
    return score_array, label_array.astype(bool)


def average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks; tied values all get the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values in sorted order.
    run_starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    run_ends = np.r_[run_starts[1:], sorted_values.size]  # exclusive
    run_mean_rank = (run_starts + 1 + run_ends) / 2.0  # mean of ranks start+1 .. end
    ranks_sorted = np.repeat(run_mean_rank, run_ends - run_starts)
    ranks = np.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve, rank-based (Mann–Whitney U / (n_pos · n_neg))."""
    score_array, label_array = _as_binary_problem(scores, labels)
    positives = int(label_array.sum())
    negatives = label_array.size - positives
    if positives == 0 or negatives == 0:
        raise ValueError(f"AUROC needs both classes; got {positives} positive and {negatives} negative")
    ranks = average_ranks(score_array)
    rank_sum = float(ranks[label_array].sum())
    u_statistic = rank_sum - positives * (positives + 1) / 2.0
    return u_statistic / (positives * negatives)


@dataclass(frozen=True)
class ThresholdSweep:
    """Confusion counts at each distinct score used as an inclusive threshold, high to low."""

    thresholds: NDArray[np.float64]
    true_positives: NDArray[np.int64]
    false_positives: NDArray[np.int64]
    positives: int
    negatives: int


def threshold_sweep(scores: ArrayLike, labels: ArrayLike) -> ThresholdSweep:
    score_array, label_array = _as_binary_problem(scores, labels)
    order = np.argsort(-score_array, kind="mergesort")
    sorted_scores = score_array[order]
    sorted_labels = label_array[order]
    true_cumulative = np.cumsum(sorted_labels, dtype=np.int64)
    false_cumulative = np.cumsum(~sorted_labels, dtype=np.int64)
    # The last index of each run of equal scores: thresholding at that score includes the run.
    run_last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    return ThresholdSweep(
        thresholds=sorted_scores[run_last],
        true_positives=true_cumulative[run_last],
        false_positives=false_cumulative[run_last],
        positives=int(label_array.sum()),
        negatives=int((~label_array).sum()),
    )


@dataclass(frozen=True)
class MaxF1:
    f1: float
    threshold: float  # predict positive where score >= threshold
    precision: float
    recall: float


def max_f1(scores: ArrayLike, labels: ArrayLike) -> MaxF1:
    """The best F1 over all inclusive thresholds, and the (highest) threshold reaching it."""
    sweep = threshold_sweep(scores, labels)
    if sweep.positives == 0:
        raise ValueError("max-F1 needs at least one positive label")
    tp = sweep.true_positives.astype(np.float64)
    fp = sweep.false_positives.astype(np.float64)
    fn = sweep.positives - tp
    f1 = 2.0 * tp / (2.0 * tp + fp + fn)
    best = int(np.argmax(f1))  # first maximum = the highest threshold reaching it
    return MaxF1(
        f1=float(f1[best]),
        threshold=float(sweep.thresholds[best]),
        precision=float(tp[best] / (tp[best] + fp[best])),
        recall=float(tp[best] / sweep.positives),
    )


@dataclass(frozen=True)
class Overlap:
    dice: float
    iou: float
    threshold: float


def dice_iou(scores: ArrayLike, labels: ArrayLike, threshold: float) -> Overlap:
    """Pooled Dice and IoU of `score >= threshold` against the labels. Both empty counts as 1."""
    score_array, label_array = _as_binary_problem(scores, labels)
    predicted = score_array >= threshold
    intersection = int(np.count_nonzero(predicted & label_array))
    predicted_count = int(np.count_nonzero(predicted))
    label_count = int(np.count_nonzero(label_array))
    union = predicted_count + label_count - intersection
    if predicted_count + label_count == 0:
        return Overlap(dice=1.0, iou=1.0, threshold=float(threshold))
    return Overlap(
        dice=2.0 * intersection / (predicted_count + label_count),
        iou=intersection / union,
        threshold=float(threshold),
    )


def best_dice_threshold(scores: ArrayLike, labels: ArrayLike) -> Overlap:
    """The threshold maximising pooled Dice (equal to the max-F1 threshold) and its Dice/IoU."""
    best = max_f1(scores, labels)
    return dice_iou(scores, labels, best.threshold)


def aupro(
    score_maps: Sequence[ArrayLike],
    masks: Sequence[ArrayLike],
    fpr_limit: float = 0.3,
    steps: int = 200,
) -> float:
    """Area under the per-region-overlap curve up to `fpr_limit`, divided by `fpr_limit`.

    For each threshold (on a grid of `steps` values spanning the scores), PRO is the mean over
    all connected ground-truth regions (8-connected, across all maps) of the fraction of the
    region predicted positive; FPR is the pooled false-positive rate on normal pixels. The
    curve is integrated with the trapezoid rule in FPR, interpolated at `fpr_limit`.
    """
    from scipy import ndimage  # only this metric needs it

    maps = [np.asarray(m, dtype=np.float64) for m in score_maps]
    regions: list[NDArray[np.float64]] = []  # the scores inside each ground-truth region
    normal_scores: list[NDArray[np.float64]] = []
    for score_map, mask in zip(maps, masks, strict=True):
        mask_array = np.asarray(mask).astype(bool)
        if mask_array.shape != score_map.shape:
            raise ValueError(f"map shape {score_map.shape} differs from mask shape {mask_array.shape}")
        labelled, count = ndimage.label(mask_array, structure=np.ones((3, 3), dtype=bool))
        for region_id in range(1, count + 1):
            regions.append(score_map[labelled == region_id])
        normal_scores.append(score_map[~mask_array])
    if not regions:
        raise ValueError("AUPRO needs at least one ground-truth region")
    normals = np.concatenate(normal_scores)
    if normals.size == 0:
        raise ValueError("AUPRO needs normal pixels")
    all_min = min(float(normals.min()), min(float(r.min()) for r in regions))
    all_max = max(float(normals.max()), max(float(r.max()) for r in regions))
    thresholds = np.linspace(all_max, all_min, steps)
    normals_sorted = np.sort(normals)
    fpr = (normals.size - np.searchsorted(normals_sorted, thresholds, side="left")) / normals.size
    pro = np.zeros_like(thresholds)
    for region in regions:
        region_sorted = np.sort(region)
        pro += (region.size - np.searchsorted(region_sorted, thresholds, side="left")) / region.size
    pro /= len(regions)
    fpr = np.r_[0.0, fpr]
    pro = np.r_[0.0, pro]
    keep = fpr <= fpr_limit
    fpr_kept, pro_kept = fpr[keep], pro[keep]
    if fpr_kept[-1] < fpr_limit and keep.size > keep.sum():
        next_index = int(np.argmax(~keep))
        fraction = (fpr_limit - fpr[next_index - 1]) / (fpr[next_index] - fpr[next_index - 1])
        fpr_kept = np.r_[fpr_kept, fpr_limit]
        pro_kept = np.r_[pro_kept, pro[next_index - 1] + fraction * (pro[next_index] - pro[next_index - 1])]
    return float(np.trapezoid(pro_kept, fpr_kept) / fpr_limit)


__all__ = [
    "MaxF1",
    "Overlap",
    "ThresholdSweep",
    "aupro",
    "auroc",
    "average_ranks",
    "best_dice_threshold",
    "dice_iou",
    "max_f1",
    "threshold_sweep",
]
