"""MR contrasts from one real T1: T1 itself, a T2-like and a FLAIR-like image, lesions
included.

How a contrast is simulated. Our segmentation (anatomy.py) gives the T1 intensity of each
tissue class: CSF < grey matter < white matter. Each contrast has its own *relative*
intensity per class (white matter = 1; textbook ordering at 1.5–3 T):

    contrast   CSF    GM     WM     oedema  tumour core        necrosis
    T1         (the real image)     0.72    0.45–0.65          0.30
    T2         2.40   1.35   1.00   1.90    1.45–1.80          2.10
    FLAIR      0.20   1.30   1.00   1.75    1.30–1.60          0.70

A voxel's T2/FLAIR value is its own T1 value sent through the piecewise-linear curve that
joins the class control points (T1 mean of class k → relative level of class k). Because
every voxel goes through the curve with its own T1 value, the real texture and the partial
volume at tissue borders survive: a voxel halfway between CSF and grey matter on T1 lands
halfway between them on T2 too, and the curve's negative grey→white slope on T2 turns the
T1's within-white-matter texture upside down, as it should. Below the CSF mean the curve is
flat at the CSF level (Colin27's CSF is zero); above the white-matter mean it continues with
the grey→white slope, floored at zero.

Lesions are then mixed in by their partial-volume fractions (lesions.py): oedema pulls the
tissue toward the oedema level by the lesion's ``oedema_strength`` (mildly hypo-intense on
T1, bright on T2 and FLAIR); the core replaces tissue with the core level modulated by a
smooth texture (±8 %); the necrotic centre replaces the core with the necrosis level (fluid:
dark on T1, bright on T2, partly suppressed on FLAIR). The core level within its range is
the lesion's own ``core_level``.

Finally each case gets a seeded acquisition: a global gain (±8 %), a smooth multiplicative
bias field (up to ±6 %, a quadratic polynomial in space) and Gaussian noise (1.5 % of white
matter), all inside the brain; outside stays zero, like a skull-stripped BraTS volume. A
lesion case and the lesion-free case of the same seed share the acquisition exactly, so
they differ only by the lesion.

Units: every contrast is scaled so that white matter ≈ 1000 (arbitrary MR units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clue.synth.anatomy import Anatomy
from clue.synth.lesions import LesionFractions, LesionSpec

CONTRASTS: tuple[str, ...] = ("t1", "t2", "flair")
WHITE_MATTER_UNITS = 1000.0


@dataclass(frozen=True)
class ContrastLevels:
    """Intensities relative to white matter. ``tissue`` is None for the real T1."""

    tissue: tuple[float, float, float] | None  # CSF, GM, WM
    oedema: float
    core_range: tuple[float, float]
    necrosis: float


CONTRAST_LEVELS: dict[str, ContrastLevels] = {
    "t1": ContrastLevels(tissue=None, oedema=0.72, core_range=(0.45, 0.65), necrosis=0.30),
    "t2": ContrastLevels(tissue=(2.40, 1.35, 1.00), oedema=1.90, core_range=(1.45, 1.80), necrosis=2.10),
    "flair": ContrastLevels(tissue=(0.20, 1.30, 1.00), oedema=1.75, core_range=(1.30, 1.60), necrosis=0.70),
}

CONTRAST_DESCRIPTIONS: dict[str, str] = {
    "t1": "T1",
    "t2": "T2-like (simulated)",
    "flair": "FLAIR-like (simulated)",
}

CORE_TEXTURE_AMPLITUDE = 0.08
GAIN_RANGE = 0.08
BIAS_AMPLITUDE = 0.06
NOISE_FRACTION = 0.015


def check_contrast(contrast: str) -> str:
    name = contrast.lower()
    if name not in CONTRAST_LEVELS:
        raise ValueError(f"unknown contrast {contrast!r}; expected one of {', '.join(CONTRASTS)}")
    return name


def tissue_image(anatomy: Anatomy, contrast: str) -> np.ndarray:
    """The lesion-free contrast in WM≈1000 units, before the acquisition (gain/bias/noise)."""
    image = contrast_from_t1(anatomy.t1, anatomy.class_means, contrast)
    return np.where(anatomy.brain, image, np.float32(0.0)).astype(np.float32)


def contrast_from_t1(t1: np.ndarray, class_means: np.ndarray, contrast: str) -> np.ndarray:
    """T1 values (any shape) sent through the contrast's class curve (module doc), in WM≈1000
    units; the real T1 itself only rescaled. No brain mask applied."""
    levels = CONTRAST_LEVELS[check_contrast(contrast)]
    csf_mean, gm_mean, wm_mean = (float(m) for m in class_means)
    if levels.tissue is None:
        return (t1 * np.float32(WHITE_MATTER_UNITS / wm_mean)).astype(np.float32)
    csf_level, gm_level, wm_level = levels.tissue
    slope_high = (wm_level - gm_level) / (wm_mean - gm_mean)
    # np.interp is flat outside the control points; extend past the white-matter mean
    # with the grey→white slope instead.
    relative = np.interp(t1, [csf_mean, gm_mean, wm_mean], [csf_level, gm_level, wm_level])
    above = t1 > wm_mean
    relative[above] = wm_level + slope_high * (t1[above] - wm_mean)
    return (np.maximum(relative, 0.0) * np.float32(WHITE_MATTER_UNITS)).astype(np.float32)


def insert_lesion(image: np.ndarray, contrast: str, spec: LesionSpec, fractions: LesionFractions) -> np.ndarray:
    """Mix the lesion's parts into a contrast image (WM≈1000 units) by their fractions."""
    levels = CONTRAST_LEVELS[check_contrast(contrast)]
    unit = np.float32(WHITE_MATTER_UNITS)
    oedema_weight = fractions.oedema * np.float32(spec.oedema_strength)
    out = image + oedema_weight * (np.float32(levels.oedema) * unit - image)
    low, high = levels.core_range
    core_level = np.float32(low + spec.core_level * (high - low)) * unit
    core_signal = core_level * (1.0 + np.float32(CORE_TEXTURE_AMPLITUDE) * fractions.texture)
    out = out + fractions.core * (core_signal - out)
    out = out + fractions.necrosis * (np.float32(levels.necrosis) * unit - out)
    return out.astype(np.float32)


def _normalised_coordinates(shape: tuple[int, int, int]) -> list[np.ndarray]:
    return [
        np.linspace(-1.0, 1.0, n, dtype=np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
        for axis, n in enumerate(shape)
    ]


def apply_acquisition(image: np.ndarray, brain: np.ndarray, seed: int) -> np.ndarray:
    """Seeded gain, smooth bias field and noise inside the brain (see the module doc)."""
    rng = np.random.default_rng([seed, 0xAC0])
    gain = np.float32(1.0 + rng.uniform(-GAIN_RANGE, GAIN_RANGE))
    x, y, z = _normalised_coordinates(image.shape)  # type: ignore[arg-type]
    terms = [x, y, z, x * x, y * y, z * z, x * y, x * z, y * z]
    coefficients = rng.uniform(-1.0, 1.0, size=len(terms)).astype(np.float32)
    log_bias = np.zeros(image.shape, dtype=np.float32)
    for coefficient, term in zip(coefficients, terms):
        log_bias = log_bias + coefficient * term
    # Scale so the field spans at most ±BIAS_AMPLITUDE.
    peak = float(np.abs(log_bias).max()) or 1.0
    bias = np.exp(log_bias * np.float32(BIAS_AMPLITUDE / peak))
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(NOISE_FRACTION * WHITE_MATTER_UNITS)
    acquired = (image * gain * bias + noise) * brain
    return np.maximum(acquired, 0.0).astype(np.float32)
