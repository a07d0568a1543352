"""One synthetic training or test slice, made from a seed: a real brain's slice, spatially
augmented, rendered in a fixed or a randomised contrast, with an anomaly of some family, then
an acquisition (bias field, gamma, blur, slice thickness, noise).

    sample = make_slice(SliceRecipe(brains=("colin27", "colin27-head"), rendering="randomized",
                                    view="axial", families=TRAINING_FAMILIES, augment=True),
                        seed=(1000, 0, 17))

Steps, each from seeded streams (`geometry` decides where and what shape; `looks` decides
intensities, so the same seed gives the same lesion in every contrast):

1. **slice**: a brain of `brains`, a slice of `view` whose brain area is ≥ 40 % of the largest;
   with `augment`, sometimes the mean of 2–5 neighbouring slices (thicker slices);
2. **spatial** (`augment`): scale 0.85–1.15 per axis, rotation ±15°, shear, left/right flip,
   and a smooth elastic field (SynthSeg's recipe in 2-D);
3. **contrast**: `t1` (the real T1), `t2` / `flair` (our evaluation rules,
   `clue.synth.contrasts`; skull-stripped like BraTS), or `randomized` — every tissue label its
   own random intensity and spread, partial volume from the tissue posteriors, a random share
   of the real T1's fine texture (SynthSeg's domain randomisation);
4. **anomaly** (with probability `anomaly_probability`): a family of `families`
   (`clue.synth.anomalies`), sometimes with mass effect (tissue pushed away from it);
5. **acquisition**: bias field, gamma, blur, anisotropic resolution loss, Gaussian noise — wide
   ranges with `augment`, a mild fixed-range one otherwise (test slices).

The result is in arbitrary units ≥ 0; the model's preprocessing (percentile clip) makes the
range irrelevant, as for real scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from clue.synth.anatomy import Anatomy
from clue.synth.anomalies import SliceContext, draw_anomaly, visible_mask
from clue.synth.brains import LABEL_COUNT, load_brain
from clue.synth.contrasts import WHITE_MATTER_UNITS, contrast_from_t1
from clue.synth.views import extract_slice, num_slices, slice_axis

RENDERINGS: tuple[str, ...] = ("t1", "t2", "flair", "randomized")
RENDERING_LABELS: dict[str, str] = {"t1": "T1", "t2": "T2-like", "flair": "FLAIR-like", "randomized": "randomized"}
MIN_BRAIN_AREA = 0.4


@dataclass(frozen=True)
class SliceRecipe:
    brains: tuple[str, ...]
    rendering: str
    view: str
    families: tuple[str, ...] = ()
    anomaly_probability: float = 0.7
    augment: bool = False
    colin27: str | None = None


@dataclass
class SyntheticSlice:
    image: np.ndarray  # float32 [H, W]
    mask: np.ndarray  # uint8 [H, W], visible anomaly
    brain: np.ndarray  # bool [H, W]
    meta: dict[str, object] = field(default_factory=dict)


# -- 1. the slice -----------------------------------------------------------------------------


def _candidate_slices(anatomy: Anatomy, view: str) -> np.ndarray:
    axis = slice_axis(view)
    other = tuple(a for a in range(3) if a != axis)
    areas = anatomy.brain.sum(axis=other)
    return np.flatnonzero(areas >= MIN_BRAIN_AREA * areas.max())


def _extract(anatomy: Anatomy, view: str, index: int, thickness: int) -> dict[str, np.ndarray]:
    count = num_slices(anatomy.shape, view)
    lo, hi = max(0, index - thickness // 2), min(count, index - thickness // 2 + thickness)
    t1 = np.mean([extract_slice(anatomy.t1, view, k) for k in range(lo, hi)], axis=0).astype(np.float32)
    return {
        "t1": t1,
        "tissue": extract_slice(anatomy.tissue, view, index),
        "brain": extract_slice(anatomy.brain, view, index),
        "posteriors": np.stack([extract_slice(p, view, index) for p in anatomy.posteriors]),
    }


# -- 2. spatial augmentation ------------------------------------------------------------------------


def _spatial_coordinates(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Where each output pixel samples the input: affine (scale, rotation, shear, flip) + elastic."""
    height, width = shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    centre = np.array([(height - 1) / 2, (width - 1) / 2], np.float32)
    angle = np.deg2rad(rng.uniform(-15, 15))
    scale = rng.uniform(0.85, 1.15, size=2)
    shear = rng.uniform(-0.05, 0.05)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    matrix = rotation @ np.array([[1.0, shear], [0.0, 1.0]], np.float32) @ np.diag(1.0 / scale).astype(np.float32)
    if rng.random() < 0.5:
        matrix = matrix @ np.diag([1.0, -1.0]).astype(np.float32)
    offsets = np.stack([rows - centre[0], cols - centre[1]])
    source = np.einsum("ij,jhw->ihw", matrix, offsets) + centre[:, None, None]
    amplitude = rng.uniform(0.0, 3.0)
    for axis in range(2):
        coarse = rng.standard_normal((5, 5)).astype(np.float32) * amplitude
        source[axis] += ndimage.zoom(coarse, (height / 5, width / 5), order=3)[:height, :width]
    return source


def _warp(planes: dict[str, np.ndarray], coordinates: np.ndarray) -> dict[str, np.ndarray]:
    def sample(values: np.ndarray, order: int) -> np.ndarray:
        return ndimage.map_coordinates(values, coordinates, order=order, mode="constant", cval=0.0)

    return {
        "t1": sample(planes["t1"], 1).astype(np.float32),
        "tissue": sample(planes["tissue"], 0).astype(np.uint8),
        "brain": sample(planes["brain"].astype(np.float32), 1) > 0.5,
        "posteriors": np.stack([sample(p, 1) for p in planes["posteriors"]]).astype(np.float32),
    }


# -- 3. contrast ------------------------------------------------------------------------------------


def _render(planes: dict[str, np.ndarray], anatomy: Anatomy, rendering: str, looks: np.random.Generator) -> np.ndarray:
    t1, brain, tissue = planes["t1"], planes["brain"], planes["tissue"]
    if rendering in ("t1", "t2", "flair"):
        image = contrast_from_t1(t1, anatomy.class_means, rendering)
        if rendering != "t1":
            image = np.where(brain, image, 0.0)  # skull-stripped, as BraTS
        return image.astype(np.float32)
    means = looks.uniform(0.0, 1.0, size=LABEL_COUNT).astype(np.float32)
    spreads = looks.uniform(0.0, 0.05, size=LABEL_COUNT).astype(np.float32)
    if looks.random() < 0.5:
        means[0], spreads[0] = 0.0, 0.0  # empty background, as a skull-stripped or masked scan
    image = np.zeros(t1.shape, np.float32)
    # brain tissue: mixed by the partial-volume posteriors (CSF, GM, WM = labels 1, 2, 3)
    for k in range(3):
        label = k + 1
        noise = ndimage.gaussian_filter(looks.standard_normal(t1.shape).astype(np.float32), 0.7)
        image += planes["posteriors"][k] * (means[label] + spreads[label] * noise)
    outside = ~brain
    for label in [0] + list(range(4, LABEL_COUNT)):
        region = ndimage.gaussian_filter(((tissue == label) & outside).astype(np.float32), 0.6)
        noise = ndimage.gaussian_filter(looks.standard_normal(t1.shape).astype(np.float32), 0.7)
        image += region * (means[label] + spreads[label] * noise)
    # a random share of the real T1's fine texture, so anatomy detail is not only label edges
    white = float(anatomy.class_means[2]) or 1.0
    detail = (t1 - ndimage.gaussian_filter(t1, 2.0)) / white
    image += looks.uniform(0.0, 0.5) * detail * (brain | (tissue >= 4))
    return (np.maximum(image, 0.0) * WHITE_MATTER_UNITS).astype(np.float32)


# -- 4. mass effect ------------------------------------------------------------------------------------


def _mass_effect(
    rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float], radius: float
) -> np.ndarray:
    """Sampling coordinates that push tissue away from `centre` (strongest near `radius`)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dr, dc = rows - centre[0], cols - centre[1]
    distance = np.sqrt(dr * dr + dc * dc) + 1e-3
    push = rng.uniform(0.2, 0.5) * radius * np.exp(-((distance / (1.5 * radius)) ** 2))
    pull = np.minimum(push, distance * 0.9) / distance  # sample from nearer the centre
    return np.stack([rows - dr * pull, cols - dc * pull])


# -- 5. acquisition ------------------------------------------------------------------------------------


def _acquire(image: np.ndarray, keep: np.ndarray, looks: np.random.Generator, augment: bool) -> np.ndarray:
    height, width = image.shape
    bias_amplitude = looks.uniform(0.0, 0.3) if augment else 0.06
    coarse = looks.standard_normal((4, 4)).astype(np.float32)
    log_bias = ndimage.zoom(coarse, (height / 4, width / 4), order=3)[:height, :width]
    log_bias *= bias_amplitude / (float(np.abs(log_bias).max()) or 1.0)
    out = image * np.exp(log_bias)
    scale = float(np.percentile(out[keep], 99)) if keep.any() else float(out.max() or 1.0)
    scale = scale or 1.0
    if augment:
        out = scale * (np.maximum(out, 0.0) / scale) ** float(np.exp(looks.normal(0.0, 0.25)))
        if looks.random() < 0.3:
            out = ndimage.gaussian_filter(out, looks.uniform(0.3, 1.2))
        if looks.random() < 0.25:  # thick slices / low resolution along one in-plane axis
            axis = int(looks.integers(2))
            factor = looks.uniform(1.5, 3.0)
            zoom = [1.0, 1.0]
            zoom[axis] = 1.0 / factor
            small = ndimage.zoom(out, zoom, order=1)
            out = ndimage.zoom(small, (height / small.shape[0], width / small.shape[1]), order=1)[:height, :width]
        noise_level = looks.uniform(0.0, 0.04)
    else:
        noise_level = 0.015
    out = out + looks.standard_normal(out.shape).astype(np.float32) * noise_level * scale
    out = np.where(keep, np.abs(out), 0.0)  # magnitude images; nothing outside the head
    return out.astype(np.float32)


# -- the slice -----------------------------------------------------------------------------------------


def make_slice(recipe: SliceRecipe, seed: Sequence[int]) -> SyntheticSlice:
    """One slice from `recipe` and `seed` (same seed → same slice, bit for bit)."""
    geometry = np.random.default_rng(list(seed) + [0x6E0])
    looks = np.random.default_rng(list(seed) + [0x100C, len(recipe.rendering)])
    brain_name = recipe.brains[int(geometry.integers(len(recipe.brains)))]
    anatomy = load_brain(brain_name, recipe.colin27)
    candidates = _candidate_slices(anatomy, recipe.view)
    index = int(candidates[geometry.integers(len(candidates))])
    thickness = int(geometry.integers(2, 6)) if recipe.augment and geometry.random() < 0.3 else 1
    planes = _extract(anatomy, recipe.view, index, thickness)
    if recipe.augment:
        planes = _warp(planes, _spatial_coordinates(geometry, planes["t1"].shape))
    image = _render(planes, anatomy, recipe.rendering, looks)
    brain, tissue = planes["brain"], planes["tissue"]
    head = brain | (tissue >= 4) | (image > 0)
    if recipe.rendering in ("t2", "flair"):
        head = brain
    family = None
    mask = np.zeros(image.shape, np.uint8)
    wants_anomaly = bool(recipe.families) and geometry.random() < recipe.anomaly_probability
    if wants_anomaly:
        family = recipe.families[int(geometry.integers(len(recipe.families)))]
        donor = None
        if family in ("perlin", "cutpaste"):
            other = _extract(anatomy, recipe.view, int(candidates[geometry.integers(len(candidates))]), 1)
            donor = _render(other, anatomy, recipe.rendering, looks) if other["t1"].shape == image.shape else None
        levels = "random" if recipe.rendering == "randomized" else recipe.rendering
        context = SliceContext(image=image, tissue=tissue, brain=brain, levels=levels, donor=donor)
        anomaly = draw_anomaly(family, geometry, looks, context)
        if anomaly is None:
            family = None
        else:
            before, after, alpha = image, anomaly.image, anomaly.alpha
            if recipe.augment and family in ("tumour", "blob") and geometry.random() < 0.5:
                coords = _mass_effect(geometry, image.shape, anomaly.centre, anomaly.radius)
                warp = lambda a, order: ndimage.map_coordinates(a, coords, order=order, mode="nearest")  # noqa: E731
                before, after, alpha = warp(before, 1), warp(after, 1), warp(alpha, 1)
                brain = warp(brain.astype(np.float32), 1) > 0.5
                head = warp(head.astype(np.float32), 1) > 0.5
            mask = visible_mask(before, after, alpha, brain)
            image = after.astype(np.float32)
            if not mask.any():
                family = None
    image = _acquire(image, head, looks, recipe.augment)
    return SyntheticSlice(
        image=image,
        mask=mask,
        brain=brain,
        meta={
            "brain": brain_name,
            "view": recipe.view,
            "slice_index": index,
            "rendering": recipe.rendering,
            "family": family or "none",
            "thickness": thickness,
        },
    )


__all__ = ["RENDERINGS", "RENDERING_LABELS", "SliceRecipe", "SyntheticSlice", "make_slice"]
