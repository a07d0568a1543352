"""Loss parts against hand-computed values; CLIP's contrastive loss."""

from __future__ import annotations

import math

import pytest
import torch

from clue.losses import LossConfig, clip_contrastive_loss, clue_loss, dice_loss, focal_loss
from clue.model import ClueOutput


def fake_output(anomaly_map: torch.Tensor, score: torch.Tensor) -> ClueOutput:
    """A ClueOutput holding given maps (the loss reads only anomaly_map and score)."""
    batch = anomaly_map.shape[0]
    empty = torch.zeros(batch, 1)
    return ClueOutput(
        anomaly_map=anomaly_map,
        layer_maps=anomaly_map[:, None],
        score=score,
        cls_score=score,
        layer_scores=score[:, None],
        grid_map=anomaly_map,
        grid_layer_maps=anomaly_map[:, None],
        grid_layer_diffs=anomaly_map[:, None],
        layer_weights=empty,
        text_features=torch.zeros(batch, 2, 1),
    )


def test_dice_hand_values() -> None:
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert dice_loss(target, target).item() == pytest.approx(0.0)
    # Prediction 0.5 everywhere: intersection 1, sums 2 + 2 → 1 − (2·1 + 1)/(4 + 1) = 0.4.
    assert dice_loss(torch.full((1, 2, 2), 0.5), target).item() == pytest.approx(0.4)
    # Disjoint: 1 − 1/(2 + 2 + 1) = 0.8.
    assert dice_loss(1 - target, target).item() == pytest.approx(0.8)
    # A normal slice predicted normal costs nothing.
    assert dice_loss(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)).item() == pytest.approx(0.0)


def test_focal_hand_value() -> None:
    p = torch.tensor([0.9, 0.2])
    t = torch.tensor([1.0, 0.0])
    expected = -(0.1**2 * math.log(0.9) + 0.2**2 * math.log(0.8)) / 2
    assert focal_loss(p, t, gamma=2.0).item() == pytest.approx(expected, rel=1e-5)


def test_clue_loss_parts_and_weights() -> None:
    anomaly_map = torch.tensor([[[0.5, 0.5], [0.5, 0.5]]])
    masks = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    out = fake_output(anomaly_map, torch.tensor([0.8]))
    loss, parts = clue_loss(out, masks, torch.tensor([1.0]))
    assert set(parts) == {"ce", "dice", "total"}
    assert parts["ce"] == pytest.approx(-math.log(0.8), rel=1e-5)
    assert parts["dice"] == pytest.approx(0.4, rel=1e-5)
    assert loss.item() == pytest.approx(parts["ce"] + parts["dice"], rel=1e-6)
    cfg = LossConfig(ce_weight=2.0, dice_weight=0.5, focal_weight=4.0, normal_dice_weight=1.0)
    loss, parts = clue_loss(out, masks, torch.tensor([1.0]), cfg)
    assert set(parts) == {"ce", "dice", "focal", "normal_dice", "total"}
    expected = 2.0 * parts["ce"] + 0.5 * parts["dice"] + 4.0 * parts["focal"] + parts["normal_dice"]
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="masks have shape"):
        clue_loss(out, torch.zeros(1, 4, 4), torch.tensor([1.0]))


def test_contrastive_loss() -> None:
    features = torch.eye(3)
    # Matching pairs with scale 2: each row's softmax puts e^2 on the diagonal, e^0 elsewhere.
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert clip_contrastive_loss(features, features, 2.0).item() == pytest.approx(expected, rel=1e-5)
    shuffled = features[[1, 2, 0]]
    assert clip_contrastive_loss(features, shuffled, 10.0).item() > 9.0
