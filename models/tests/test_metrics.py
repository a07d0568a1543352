"""The metrics against hand-computed values and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score, precision_recall_curve, roc_auc_score

from clue.metrics import aupro, auroc, average_ranks, best_dice_threshold, dice_iou, max_f1

SCORES = [0.1, 0.4, 0.35, 0.8]
LABELS = [0, 0, 1, 1]


def test_auroc_hand_values() -> None:
    # Pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 -> 3 of 4.
    assert auroc(SCORES, LABELS) == pytest.approx(0.75)
    # A tie between a positive and a negative counts one half: (1 + 0.5 + 1 + 1) / 4.
    assert auroc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(0.875)
    assert auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == pytest.approx(0.5)
    assert auroc([0.0, 1.0], [1, 0]) == pytest.approx(0.0)


def test_average_ranks_ties() -> None:
    np.testing.assert_allclose(average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])


def test_auroc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [1, 1])


def test_auroc_matches_sklearn_with_heavy_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 3000))
        labels = rng.integers(0, 2, n)
        labels[0], labels[1] = 0, 1
        scores = np.round(rng.random(n) + 0.3 * labels, int(rng.integers(1, 4)))  # rounding makes ties
        assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_max_f1_hand_values() -> None:
    # Thresholds 0.8, 0.4, 0.35, 0.1 give F1 2/3, 1/2, 4/5, 2/3.
    best = max_f1(SCORES, LABELS)
    assert best.f1 == pytest.approx(0.8)
    assert best.threshold == pytest.approx(0.35)
    assert best.precision == pytest.approx(2 / 3)
    assert best.recall == pytest.approx(1.0)


def test_max_f1_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(10, 2000))
        labels = rng.integers(0, 2, n)
        labels[0] = 1
        scores = np.round(rng.random(n) + 0.5 * labels, 2)
        precision, recall, _ = precision_recall_curve(labels, scores)
        with np.errstate(divide="ignore", invalid="ignore"):
            reference = np.nanmax(2 * precision * recall / (precision + recall))
        best = max_f1(scores, labels)
        assert best.f1 == pytest.approx(reference, abs=1e-12)
        # The threshold reproduces the F1 under the inclusive rule.
        assert f1_score(labels, scores >= best.threshold) == pytest.approx(best.f1, abs=1e-12)


def test_dice_iou_hand_values_and_sklearn() -> None:
    overlap = dice_iou(SCORES, LABELS, 0.35)
    assert overlap.dice == pytest.approx(0.8)  # 2*2 / (3 + 2)
    assert overlap.iou == pytest.approx(2 / 3)
    assert dice_iou([0.1, 0.2], [0, 0], 0.5).dice == 1.0  # nothing predicted, nothing there
    assert dice_iou([0.9, 0.2], [0, 0], 0.5).dice == 0.0
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 500)
    scores = rng.random(500) + 0.3 * labels
    overlap = dice_iou(scores, labels, 0.6)
    assert overlap.dice == pytest.approx(f1_score(labels, scores >= 0.6))
    assert overlap.iou == pytest.approx(jaccard_score(labels, scores >= 0.6))


def test_best_dice_threshold_is_the_best() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.random(400) + 0.4 * labels, 2)
    best = best_dice_threshold(scores, labels)
    every = [dice_iou(scores, labels, t).dice for t in np.unique(scores)]
    assert best.dice == pytest.approx(max(every))


def test_aupro_perfect_and_random() -> None:
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[2:6, 2:6] = 1
    mask[12:18, 10:16] = 1
    perfect = mask.astype(float) * 0.9 + 0.05
    assert aupro([perfect], [mask]) == pytest.approx(1.0)
    # A map that ignores the mask: PRO tracks FPR, so the normalised area is about 0.15 (= 0.3/2).
    rng = np.random.default_rng(4)
    noise = [rng.random((64, 64)) for _ in range(10)]
    masks = [np.zeros((64, 64), dtype=np.uint8) for _ in range(10)]
    for m in masks:
        m[20:40, 20:40] = 1
    assert aupro(noise, masks, steps=400) == pytest.approx(0.15, abs=0.02)


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        auroc([0.1, float("nan")], [0, 1])
