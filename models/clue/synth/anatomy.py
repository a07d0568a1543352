"""The real anatomy every demo case is built on: the Colin27 T1 MRI and our own tissue
segmentation of it.

Source: Debian's ``mricron-data`` ships Colin27 as ``ch2better.nii.gz`` — a skull-stripped
T1 at 0.5 mm in which the cerebrospinal fluid has been set to zero. We

1. reorient it to canonical RAS (nibabel ``as_closest_canonical``) and average 2×2×2 blocks
   down to 1 mm (the resolution of a clinical 3D T1, and a volume small enough to render a
   case in well under a second);
2. find the brain: voxels with signal, closed with a 4 mm ball and hole-filled, so that the
   sulci and ventricles (zero signal in this file) count as inside the brain;
3. crop to the brain's bounding box plus a margin, adjusting the affine;
4. segment the tissues with a 3-component Gaussian mixture on the T1 intensities of the brain
   voxels (scikit-learn, fixed seed), components ordered by mean: CSF < grey matter < white
   matter. Besides hard labels we keep the per-voxel posteriors: they carry the partial
   volume at tissue borders, which the contrast simulation (``contrasts.py``) needs to give
   smooth, realistic boundaries instead of label staircases.

Loading and segmenting takes a few seconds; it is done once per process (``load_anatomy`` is
cached by path) and every case reuses it.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from sklearn.mixture import GaussianMixture

from clue.errors import UserFacingError

# Where Debian's mricron-data package puts the Colin27 T1. Overridable everywhere a path is
# taken (CLI flag, function argument, CLUE_COLIN27 environment variable).
DEFAULT_COLIN27_PATH = Path("/usr/share/mricron/templates/ch2better.nii.gz")
COLIN27_ENV_VAR = "CLUE_COLIN27"

TARGET_SPACING_MM = 1.0
BRAIN_CLOSING_RADIUS_MM = 4.0
CROP_MARGIN_MM = 6.0

# Tissue labels of ``Anatomy.tissue``.
BACKGROUND, CSF, GREY_MATTER, WHITE_MATTER = 0, 1, 2, 3
TISSUE_NAMES: dict[int, str] = {
    BACKGROUND: "background",
    CSF: "csf",
    GREY_MATTER: "grey_matter",
    WHITE_MATTER: "white_matter",
}


@dataclass(frozen=True)
class Anatomy:
    """Colin27 at 1 mm, canonical RAS, cropped to the brain.

    t1: float32 [X, Y, Z], the real T1 signal (source units: 0..~130).
    brain: bool [X, Y, Z], inside the brain (tissue or CSF).
    tissue: uint8 [X, Y, Z], BACKGROUND / CSF / GREY_MATTER / WHITE_MATTER.
    posteriors: float32 [3, X, Y, Z], P(CSF), P(GM), P(WM) per voxel; zero outside the brain.
    class_means: float32 [3], the mixture's T1 mean of CSF, GM, WM.
    depth_mm: float32 [X, Y, Z], distance to the brain's outside (0 outside the brain).
    affine: 4×4 voxel → RAS millimetres.
    source: the file it came from; source_crc32: checksum of that file's bytes (provenance).
    """

    t1: np.ndarray
    brain: np.ndarray
    tissue: np.ndarray
    posteriors: np.ndarray
    class_means: np.ndarray
    depth_mm: np.ndarray
    affine: np.ndarray
    source: str
    source_crc32: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.t1.shape[0]), int(self.t1.shape[1]), int(self.t1.shape[2]))

    @property
    def spacing(self) -> tuple[float, float, float]:
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(zooms[0]), float(zooms[1]), float(zooms[2]))


def resolve_colin27_path(path: str | Path | None = None) -> Path:
    """The Colin27 file to use: the argument, else $CLUE_COLIN27, else Debian's location."""
    import os

    if path is not None:
        return Path(path)
    from_env = os.environ.get(COLIN27_ENV_VAR)
    return Path(from_env) if from_env else DEFAULT_COLIN27_PATH


def _read_t1(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise UserFacingError(
            f"{path}: Colin27 T1 not found (install Debian's mricron-data package, or pass "
            f"the path of ch2better.nii.gz with --colin27 or ${COLIN27_ENV_VAR})"
        )
    try:
        image = nib.load(str(path))
        canonical = nib.as_closest_canonical(image)
        data = np.asarray(canonical.dataobj, dtype=np.float32)
    except Exception as error:  # nibabel raises many types for corrupt or foreign files
        raise UserFacingError(f"{path}: not a readable NIfTI image ({error})") from error
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise UserFacingError(f"{path}: expected a 3-D T1 volume, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise UserFacingError(f"{path}: the image contains NaN or infinite values")
    if min(data.shape) < 32 or float(data.max()) <= float(data.min()):
        raise UserFacingError(f"{path}: the image is too small or constant to be a brain T1")
    return data, np.asarray(canonical.affine, dtype=np.float64)


def _resample_to_target(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block-average to ~TARGET_SPACING_MM where the voxel size divides it (Colin27: 0.5 mm →
    2×2×2 blocks). Block means keep the real texture and partial volume, unlike
    interpolation."""
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    factors = [max(1, int(round(TARGET_SPACING_MM / z))) for z in zooms]
    if factors == [1, 1, 1]:
        return data, affine
    shape = [s // f for s, f in zip(data.shape, factors)]
    trimmed = data[: shape[0] * factors[0], : shape[1] * factors[1], : shape[2] * factors[2]]
    blocks = trimmed.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2])
    averaged = blocks.mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)
    new_affine = affine.copy()
    new_affine[:3, :3] = affine[:3, :3] * np.asarray(factors, dtype=np.float64)
    # The centre of the first block, not the centre of its first voxel.
    half_block = (np.asarray(factors, dtype=np.float64) - 1.0) / 2.0
    new_affine[:3, 3] = affine[:3, 3] + affine[:3, :3] @ half_block
    return averaged, new_affine


def _ball(radius_vox: int) -> np.ndarray:
    grid = np.mgrid[-radius_vox : radius_vox + 1, -radius_vox : radius_vox + 1, -radius_vox : radius_vox + 1]
    return (grid**2).sum(axis=0) <= radius_vox**2


def _brain_mask(t1: np.ndarray, spacing_mm: float) -> np.ndarray:
    signal = t1 > 0.05 * float(np.percentile(t1[t1 > 0], 99))
    radius = max(1, int(round(BRAIN_CLOSING_RADIUS_MM / spacing_mm)))
    # Pad so the closing does not glue the brain to the border of the field of view.
    padded = np.pad(signal, radius + 1)
    closed = ndimage.binary_closing(padded, structure=_ball(radius))
    closed = closed[radius + 1 : -(radius + 1), radius + 1 : -(radius + 1), radius + 1 : -(radius + 1)]
    filled = ndimage.binary_fill_holes(closed)
    # Keep the largest connected piece: stray specks of signal are not brain.
    labels, count = ndimage.label(filled)
    if count > 1:
        sizes = ndimage.sum_labels(filled, labels, index=np.arange(1, count + 1))
        filled = labels == (int(np.argmax(sizes)) + 1)
    return filled


def _crop_to_mask(
    arrays: list[np.ndarray], mask: np.ndarray, affine: np.ndarray, margin_vox: int
) -> tuple[list[np.ndarray], np.ndarray]:
    coords = np.argwhere(mask)
    low = np.maximum(coords.min(axis=0) - margin_vox, 0)
    high = np.minimum(coords.max(axis=0) + margin_vox + 1, np.asarray(mask.shape))
    window = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high))
    new_affine = affine.copy()
    new_affine[:3, 3] = affine[:3, 3] + affine[:3, :3] @ low.astype(np.float64)
    return [np.ascontiguousarray(a[window]) for a in arrays], new_affine


def segment_tissues(t1: np.ndarray, brain: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3-class Gaussian mixture on the T1 intensities inside the brain.

    Returns (tissue labels uint8, posteriors float32 [3, X, Y, Z], class means float32 [3]),
    classes ordered by mean intensity (CSF < GM < WM on a T1)."""
    values = t1[brain].astype(np.float64).reshape(-1, 1)
    rng = np.random.default_rng(seed)
    sample = values[rng.choice(values.shape[0], size=min(200_000, values.shape[0]), replace=False)]
    # Initialise at the intensity terciles so the fit is deterministic and lands on the three
    # tissue modes rather than on a split of one of them.
    initial_means = np.percentile(sample, [5, 45, 85]).reshape(-1, 1)
    mixture = GaussianMixture(
        n_components=3, covariance_type="full", means_init=initial_means, random_state=seed, max_iter=200
    )
    mixture.fit(sample)
    order = np.argsort(mixture.means_.ravel())
    posteriors_brain = mixture.predict_proba(values)[:, order].astype(np.float32)
    posteriors = np.zeros((3,) + t1.shape, dtype=np.float32)
    for k in range(3):
        posteriors[k][brain] = posteriors_brain[:, k]
    tissue = np.zeros(t1.shape, dtype=np.uint8)
    tissue[brain] = (np.argmax(posteriors_brain, axis=1) + 1).astype(np.uint8)
    class_means = mixture.means_.ravel()[order].astype(np.float32)
    return tissue, posteriors, class_means


@functools.lru_cache(maxsize=2)
def _load_anatomy_cached(path_text: str) -> Anatomy:
    path = Path(path_text)
    raw, affine = _read_t1(path)
    t1, affine = _resample_to_target(raw, affine)
    spacing = float(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).mean())
    brain = _brain_mask(t1, spacing)
    if brain.sum() < 1000:
        raise UserFacingError(f"{path}: found no brain (fewer than 1000 voxels with signal)")
    (t1, brain), affine = _crop_to_mask([t1, brain], brain, affine, int(round(CROP_MARGIN_MM / spacing)))
    tissue, posteriors, class_means = segment_tissues(t1, brain)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    depth_mm = ndimage.distance_transform_edt(brain, sampling=zooms).astype(np.float32)
    for array in (t1, brain, tissue, posteriors, class_means, depth_mm):
        array.setflags(write=False)
    crc = zlib.crc32(path.read_bytes()) & 0xFFFFFFFF
    return Anatomy(
        t1=t1,
        brain=brain,
        tissue=tissue,
        posteriors=posteriors,
        class_means=class_means,
        depth_mm=depth_mm,
        affine=affine,
        source=str(path),
        source_crc32=f"{crc:08x}",
    )


def load_anatomy(path: str | Path | None = None) -> Anatomy:
    """Colin27 prepared for case synthesis (cached per process; arrays are read-only)."""
    resolved = resolve_colin27_path(path).resolve()
    return _load_anatomy_cached(str(resolved))
