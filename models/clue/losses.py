"""CLUE's training loss and CLIP's contrastive loss.

The report trains with cross-entropy on the image score plus Dice on the anomaly map; the
anchors (AnomalyCLIP) add a focal loss on the map and a Dice on the "normal" map. All parts
are weighted and logged separately because the report found that the two objectives fight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from clue.model import ClueOutput

_EPS = 1e-6


@dataclass
class LossConfig:
    ce_weight: float = 1.0  # binary cross-entropy on the CLS score mean_l S_l
    dice_weight: float = 1.0  # Dice on the anomaly map vs the mask
    focal_weight: float = 0.0  # focal loss on the anomaly map (AnomalyCLIP uses it)
    normal_dice_weight: float = 0.0  # Dice of (1 − map) vs (1 − mask)
    focal_gamma: float = 2.0


def dice_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Soft Dice, 1 − 2|P∩T| / (|P| + |T|), per image then averaged. An empty mask with an
    empty prediction costs 0 (the +1 smoothing keeps normal slices well defined)."""
    dims = tuple(range(1, prediction.ndim))
    intersection = (prediction * target).sum(dim=dims)
    total = prediction.sum(dim=dims) + target.sum(dim=dims)
    return (1.0 - (2.0 * intersection + 1.0) / (total + 1.0)).mean()


def focal_loss(probability: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Binary focal loss on probabilities: −(1 − p_t)^γ log p_t, averaged over pixels."""
    probability = probability.clamp(_EPS, 1.0 - _EPS)
    p_t = torch.where(target > 0.5, probability, 1.0 - probability)
    return (-((1.0 - p_t) ** gamma) * torch.log(p_t)).mean()


def clue_loss(
    out: ClueOutput, masks: Tensor, labels: Tensor, cfg: LossConfig | None = None
) -> tuple[Tensor, dict[str, float]]:
    """Weighted sum of the parts; returns (loss, {part: value}) for logging.

    masks: [B, S, S] float in {0, 1} at the model's input resolution; labels: [B] float.
    """
    cfg = cfg if cfg is not None else LossConfig()
    if masks.shape != out.anomaly_map.shape:
        raise ValueError(f"masks have shape {tuple(masks.shape)}, the anomaly map {tuple(out.anomaly_map.shape)}")
    masks = masks.to(out.anomaly_map.dtype)
    labels = labels.to(out.cls_score.dtype)
    parts: dict[str, Tensor] = {}
    # The CLS score, whatever image score the model reports: a map maximum in the score would
    # push the map through the cross-entropy, which Dice already trains (AnomalyCLIP likewise
    # trains its text probabilities alone).
    score = out.cls_score.clamp(_EPS, 1.0 - _EPS)
    parts["ce"] = F.binary_cross_entropy(score, labels)
    parts["dice"] = dice_loss(out.anomaly_map, masks)
    if cfg.focal_weight:
        parts["focal"] = focal_loss(out.anomaly_map, masks, cfg.focal_gamma)
    if cfg.normal_dice_weight:
        parts["normal_dice"] = dice_loss(1.0 - out.anomaly_map, 1.0 - masks)
    weights = {
        "ce": cfg.ce_weight,
        "dice": cfg.dice_weight,
        "focal": cfg.focal_weight,
        "normal_dice": cfg.normal_dice_weight,
    }
    total = sum(weights[name] * value for name, value in parts.items())
    assert isinstance(total, Tensor)
    logged = {name: float(value.detach()) for name, value in parts.items()}
    logged["total"] = float(total.detach())
    return total, logged


def clip_contrastive_loss(image_features: Tensor, text_features: Tensor, logit_scale: Tensor | float) -> Tensor:
    """CLIP's symmetric InfoNCE: row i of each batch is the other's positive.

    Features must be L2-normalized [B, E]; logit_scale is the exp'd temperature.
    """
    logits = logit_scale * image_features @ text_features.t()
    targets = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))
