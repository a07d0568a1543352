"""Synthetic tumour-like lesions: geometry drawn from a seed, rasterised with soft edges.

A lesion is a tumour core (with a necrotic centre in most lesions) wrapped in oedema:

- each part is an ellipsoid with its own random axes and a random rotation, whose surface
  is pushed in and out by smooth seeded noise (Gaussian-filtered white noise, unit std), so
  no two lesions share a shape and none is a plain ellipsoid;
- the oedema surrounds the core with a margin of 3–14 mm and its own noise field (oedema
  spreads unevenly, finger-like along white matter); it is confined to brain tissue;
- edges are partial-volume fractions: a linear ramp one voxel wide either side of the
  surface, so rendering mixes lesion and tissue at the border the way a real acquisition
  would;
- the centre is drawn among white- and grey-matter voxels deep enough inside the brain for
  the core to fit, above the lowest 35 % of the brain (cerebral hemispheres, where gliomas
  usually are, rather than brainstem and cerebellum);
- one lesion is one connected piece: islands cut off by the noise are dropped.

Everything comes from ``numpy.random.default_rng(seed)``: same seed, same lesion, bit for
bit; different seeds, different lesions (centre, size, shape, contrast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from clue.synth.anatomy import GREY_MATTER, WHITE_MATTER, Anatomy

# Ground-truth labels (``Case.mask``); lesion = mask > 0.
LABEL_CORE = 1
LABEL_OEDEMA = 2
MASK_LABEL_NAMES: dict[int, str] = {LABEL_CORE: "tumour core", LABEL_OEDEMA: "oedema"}

CORE_RADIUS_MM = (4.0, 14.0)
OEDEMA_MARGIN_MM = (3.0, 14.0)
EDGE_HALF_WIDTH_MM = 1.0


@dataclass(frozen=True)
class LesionSpec:
    """What a seed decides about one lesion. Radii are the ellipsoid semi-axes in mm."""

    seed: int
    centre_vox: tuple[int, int, int]
    rotation: tuple[tuple[float, float, float], ...]
    core_radii_mm: tuple[float, float, float]
    oedema_radii_mm: tuple[float, float, float]
    shape_roughness: float  # amplitude of the surface noise, as a fraction of the radius
    necrosis_fraction: float  # 0 = solid core; else the necrotic centre's relative size
    # Appearance, relative to the tissue it replaces (see contrasts.py).
    core_level: float  # core intensity relative to the contrast's white matter
    oedema_strength: float  # 0..1, how far oedema moves the tissue toward pure oedema signal
    texture_seed: int

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "centre_vox": list(self.centre_vox),
            "core_radii_mm": [round(r, 2) for r in self.core_radii_mm],
            "oedema_radii_mm": [round(r, 2) for r in self.oedema_radii_mm],
            "shape_roughness": round(self.shape_roughness, 3),
            "necrosis_fraction": round(self.necrosis_fraction, 3),
            "core_level": round(self.core_level, 3),
            "oedema_strength": round(self.oedema_strength, 3),
        }


@dataclass(frozen=True)
class LesionFractions:
    """Soft (partial-volume) occupancy of each lesion part, each float32 [X, Y, Z] in [0, 1].

    core includes the necrotic centre; necrosis ⊂ core; oedema excludes the core."""

    core: np.ndarray
    necrosis: np.ndarray
    oedema: np.ndarray
    texture: np.ndarray  # smooth noise, unit std, for the core's inner heterogeneity

    def label_mask(self) -> np.ndarray:
        """uint8 ground truth: LABEL_CORE where the core covers ≥ half the voxel, LABEL_OEDEMA
        where core + oedema do, else 0."""
        mask = np.zeros(self.core.shape, dtype=np.uint8)
        mask[(self.core + self.oedema) >= 0.5] = LABEL_OEDEMA
        mask[self.core >= 0.5] = LABEL_CORE
        return mask


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    # QR of a Gaussian matrix, sign-fixed: a uniformly random rotation.
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def draw_lesion(anatomy: Anatomy, seed: int) -> LesionSpec:
    """Decide a lesion from its seed: size, shape, contrast, and a centre in brain tissue."""
    rng = np.random.default_rng([seed, 0x1E5])
    core_mean = rng.uniform(*CORE_RADIUS_MM)
    core_radii = core_mean * rng.uniform(0.7, 1.3, size=3)
    margin = rng.uniform(*OEDEMA_MARGIN_MM)
    oedema_radii = core_radii + margin * rng.uniform(0.6, 1.4, size=3)
    rotation = _random_rotation(rng)

    # Centre: a tissue voxel at least ~the core's mean radius from the brain's edge, so the
    # core sits in the brain rather than on its surface; and above the lowest third of the
    # brain, where gliomas usually are (the cerebral hemispheres, not the brainstem and
    # cerebellum).
    depth_mm = anatomy.depth_mm
    tissue_ok = (anatomy.tissue == WHITE_MATTER) | (anatomy.tissue == GREY_MATTER)
    brain_z = np.flatnonzero(anatomy.brain.any(axis=(0, 1)))
    lowest_z = brain_z[0] + int(0.35 * (brain_z[-1] - brain_z[0]))
    tissue_ok[:, :, :lowest_z] = False
    candidates = np.argwhere(tissue_ok & (depth_mm >= max(core_mean * 1.2, 8.0)))
    if candidates.size == 0:
        candidates = np.argwhere(tissue_ok)
    centre = candidates[int(rng.integers(candidates.shape[0]))]

    necrotic = rng.uniform() < 0.7
    return LesionSpec(
        seed=int(seed),
        centre_vox=(int(centre[0]), int(centre[1]), int(centre[2])),
        rotation=tuple(tuple(float(v) for v in row) for row in rotation),
        core_radii_mm=tuple(float(r) for r in core_radii),  # type: ignore[arg-type]
        oedema_radii_mm=tuple(float(r) for r in oedema_radii),  # type: ignore[arg-type]
        shape_roughness=float(rng.uniform(0.12, 0.3)),
        necrosis_fraction=float(rng.uniform(0.35, 0.65)) if necrotic else 0.0,
        core_level=float(rng.uniform(0.0, 1.0)),
        oedema_strength=float(rng.uniform(0.55, 1.0)),
        texture_seed=int(rng.integers(2**31)),
    )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_vox, mode="reflect")
    return (field - field.mean()) / (field.std() + 1e-6)


def _soft_inside(normalised_radius: np.ndarray, mean_radius_mm: float) -> np.ndarray:
    """Partial-volume occupancy from a normalised radius (1 on the surface): a linear ramp
    EDGE_HALF_WIDTH_MM either side of the surface."""
    distance_inside_mm = (1.0 - normalised_radius) * mean_radius_mm
    return np.clip(0.5 + distance_inside_mm / (2.0 * EDGE_HALF_WIDTH_MM), 0.0, 1.0).astype(np.float32)


def _keep_connected_to_core(
    core: np.ndarray, necrosis: np.ndarray, oedema: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One lesion is one connected piece: drop islands of oedema (or core) that the noise and
    the confinement to tissue cut off from the main body. The soft edge (< 0.5 occupancy)
    around the kept piece stays; islands go entirely."""
    inside = (core + oedema) >= 0.5
    labels, count = ndimage.label(inside)
    if count <= 1:
        return core, necrosis, oedema
    sizes = ndimage.sum_labels(core >= 0.5, labels, index=np.arange(1, count + 1))
    if sizes.max() == 0:  # no voxel is mostly core: keep the biggest piece instead
        sizes = ndimage.sum_labels(inside, labels, index=np.arange(1, count + 1))
    kept = labels == (int(np.argmax(sizes)) + 1)
    edge = ndimage.binary_dilation(kept, iterations=2) & ~inside
    keep = (kept | edge).astype(np.float32)
    return core * keep, necrosis * keep, oedema * keep


def rasterise_lesion(anatomy: Anatomy, spec: LesionSpec) -> LesionFractions:
    """Occupancy maps of the lesion's parts over the whole volume (zero far from it)."""
    shape = anatomy.shape
    spacing = np.asarray(anatomy.spacing)
    reach_mm = max(spec.oedema_radii_mm) * (1.0 + 2.5 * spec.shape_roughness) + 3.0
    half = np.ceil(reach_mm / spacing).astype(int)
    centre = np.asarray(spec.centre_vox)
    low = np.maximum(centre - half, 0)
    high = np.minimum(centre + half + 1, np.asarray(shape))
    box_shape = tuple(int(h - lo) for lo, h in zip(low, high))

    grid = np.stack(np.meshgrid(*[np.arange(lo, h) for lo, h in zip(low, high)], indexing="ij"), axis=-1).astype(
        np.float32
    )
    offsets_mm = (grid - centre.astype(np.float32)) * spacing.astype(np.float32)
    local = offsets_mm @ np.asarray(spec.rotation, dtype=np.float32)  # into the lesion's axes

    rng = np.random.default_rng([spec.seed, 0x5EED])
    # Two octaves: coarse lobes plus finer bumps, so outlines are lobulated, not blobs.
    core_noise = 0.8 * _smooth_noise(rng, box_shape, sigma_vox=max(spec.core_radii_mm) / 2.5) + 0.45 * _smooth_noise(
        rng, box_shape, sigma_vox=max(1.5, max(spec.core_radii_mm) / 6.0)
    )
    oedema_noise = 0.8 * _smooth_noise(
        rng, box_shape, sigma_vox=max(2.0, min(spec.oedema_radii_mm) / 3.0)
    ) + 0.45 * _smooth_noise(rng, box_shape, sigma_vox=max(1.5, min(spec.oedema_radii_mm) / 7.0))
    texture = _smooth_noise(np.random.default_rng(spec.texture_seed), box_shape, sigma_vox=1.5)

    def radius(radii_mm: tuple[float, float, float], noise: np.ndarray) -> np.ndarray:
        r = np.sqrt(((local / np.asarray(radii_mm, dtype=np.float32)) ** 2).sum(axis=-1))
        return r * (1.0 + spec.shape_roughness * noise)

    core_r = radius(spec.core_radii_mm, core_noise)
    core = _soft_inside(core_r, float(np.mean(spec.core_radii_mm)))
    outer = _soft_inside(radius(spec.oedema_radii_mm, oedema_noise), float(np.mean(spec.oedema_radii_mm)))
    outer = np.maximum(outer, core)
    if spec.necrosis_fraction > 0:
        necrosis_r = core_r / spec.necrosis_fraction
        necrosis = np.minimum(
            _soft_inside(necrosis_r, float(np.mean(spec.core_radii_mm)) * spec.necrosis_fraction), core
        )
    else:
        necrosis = np.zeros(box_shape, dtype=np.float32)

    # Confine to the brain: oedema follows tissue (not the ventricles), the core may not leave
    # the brain either. Tissue probability = P(GM) + P(WM) from our segmentation.
    window = tuple(slice(int(lo), int(h)) for lo, h in zip(low, high))
    tissue_probability = anatomy.posteriors[1][window] + anatomy.posteriors[2][window]
    brain = anatomy.brain[window].astype(np.float32)
    core = core * brain
    necrosis = np.minimum(necrosis, core)
    oedema = np.clip(outer * brain - core, 0.0, 1.0) * np.clip(tissue_probability * 1.5, 0.0, 1.0)
    core, necrosis, oedema = _keep_connected_to_core(core, necrosis, oedema)

    def full(part: np.ndarray) -> np.ndarray:
        volume = np.zeros(shape, dtype=np.float32)
        volume[window] = part
        return volume

    texture_full = np.zeros(shape, dtype=np.float32)
    texture_full[window] = texture
    return LesionFractions(core=full(core), necrosis=full(necrosis), oedema=full(oedema), texture=texture_full)
