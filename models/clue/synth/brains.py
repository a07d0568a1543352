"""The real brains the generalising demo model is trained and tested on, as `Anatomy` objects.

| name            | file                                                     | role                         |
|-----------------|----------------------------------------------------------|------------------------------|
| `colin27`       | mricron-data `ch2better.nii.gz` (brain only, 0.5 mm)      | training brain               |
| `colin27-head`  | mricron-data `ch2.nii.gz` (scalp and skull, 1 mm)         | training brain (same person) |
| `mni152`        | nilearn's wheel, MNI152 2009a sym T1 + GM/WM maps (1 mm)  | **held-out: evaluation only** |

`colin27` is `anatomy.load_anatomy` (our own 3-class mixture segmentation). `colin27-head` is
the same person with the tissue outside the brain kept: the brain, its tissue classes and
partial-volume posteriors come from `colin27` resampled onto ch2's grid through the two
files' affines (both are in the same MNI space), and the head tissue outside the brain is
split into three intensity classes (labels `HEAD_DARK`, `HEAD_MID`, `HEAD_BRIGHT`: roughly
skull/CSF spaces, muscle, fat/marrow), so that domain-randomised rendering can give each its
own intensity. `mni152` is a different brain (an average of 152 people, a different scanner
population and processing) whose tissue classes come from the GM/WM probability maps that
ship beside it, not from our mixture: nothing of it is ever used to train or to choose.

Every loader is cached per process; arrays are read-only.
"""

from __future__ import annotations

import functools
import importlib.util
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from clue.errors import UserFacingError
from clue.synth.anatomy import (
    BACKGROUND,
    CSF,
    GREY_MATTER,
    WHITE_MATTER,
    Anatomy,
    _brain_mask,
    _crop_to_mask,
    load_anatomy,
)

HEAD_DARK, HEAD_MID, HEAD_BRIGHT = 4, 5, 6
LABEL_COUNT = 7  # background, CSF, GM, WM and the three head-tissue classes

DEFAULT_COLIN27_HEAD_PATH = Path("/usr/share/mricron/templates/ch2.nii.gz")
MNI152_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}

TRAINING_BRAINS: tuple[str, ...] = ("colin27", "colin27-head")
HELD_OUT_BRAINS: tuple[str, ...] = ("mni152",)
BRAINS: tuple[str, ...] = TRAINING_BRAINS + HELD_OUT_BRAINS


def _canonical(path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise UserFacingError(f"{path}: {what} not found")
    try:
        image = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:  # nibabel raises many types for corrupt files
        raise UserFacingError(f"{path}: not a readable NIfTI image ({error})") from error
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise UserFacingError(f"{path}: expected a 3-D volume, got shape {data.shape}")
    return data, np.asarray(image.affine, dtype=np.float64)


def _checksum(path: Path) -> str:
    return f"{zlib.crc32(path.read_bytes()) & 0xFFFFFFFF:08x}"


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def _resample_onto(
    values: np.ndarray, source_affine: np.ndarray, target_shape: tuple[int, ...], target_affine: np.ndarray, order: int
) -> np.ndarray:
    """`values` (on the source grid) sampled at every voxel of the target grid (world → voxel
    through both affines); outside the source grid → 0."""
    transform = np.linalg.inv(source_affine) @ target_affine
    return ndimage.affine_transform(
        values,
        transform[:3, :3],
        offset=transform[:3, 3],
        output_shape=target_shape,
        order=order,
        mode="constant",
        cval=0.0,
    )


def _head_tissue_classes(t1: np.ndarray, head: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Labels HEAD_DARK / HEAD_MID / HEAD_BRIGHT by intensity terciles of the head outside the brain."""
    labels = np.zeros(t1.shape, dtype=np.uint8)
    outside = head & ~brain
    if not outside.any():
        return labels
    low, high = np.percentile(t1[outside], [33.3, 66.7])
    labels[outside & (t1 < low)] = HEAD_DARK
    labels[outside & (t1 >= low) & (t1 < high)] = HEAD_MID
    labels[outside & (t1 >= high)] = HEAD_BRIGHT
    return labels


def _freeze(anatomy: Anatomy) -> Anatomy:
    for array in (anatomy.t1, anatomy.brain, anatomy.tissue, anatomy.posteriors, anatomy.class_means, anatomy.depth_mm):
        array.setflags(write=False)
    return anatomy


@functools.lru_cache(maxsize=1)
def _colin27_head(path_text: str, brain_path_text: str) -> Anatomy:
    path = Path(path_text)
    t1, affine = _canonical(path, "Colin27 with scalp and skull (ch2.nii.gz, Debian's mricron-data)")
    brain_only = load_anatomy(brain_path_text)
    shape = t1.shape
    brain = _resample_onto(brain_only.brain.astype(np.float32), brain_only.affine, shape, affine, order=1) > 0.5
    posteriors = np.stack(
        [_resample_onto(p, brain_only.affine, shape, affine, order=1) for p in brain_only.posteriors]
    ).astype(np.float32)
    posteriors *= brain[None]
    tissue = np.zeros(shape, dtype=np.uint8)
    tissue[brain] = (np.argmax(posteriors[:, brain], axis=0) + 1).astype(np.uint8)
    signal = t1 > 0.05 * float(np.percentile(t1[t1 > 0], 99))
    head = _largest_component(ndimage.binary_fill_holes(ndimage.binary_closing(signal, iterations=3)))
    tissue += _head_tissue_classes(t1, head, brain)
    return _cropped_anatomy(t1, brain, tissue, posteriors, affine, crop_to=head, margin=4, source=path)


def _cropped_anatomy(
    t1: np.ndarray,
    brain: np.ndarray,
    tissue: np.ndarray,
    posteriors: np.ndarray,
    affine: np.ndarray,
    crop_to: np.ndarray,
    margin: int,
    source: Path,
) -> Anatomy:
    """The frozen Anatomy of a labelled volume: class means from the uncropped tissue labels,
    every array cropped to `crop_to` (+ `margin` voxels), depth below the brain surface in mm."""
    class_means = np.asarray([t1[tissue == k].mean() for k in (CSF, GREY_MATTER, WHITE_MATTER)], dtype=np.float32)
    (t1, brain, tissue, *parts), affine = _crop_to_mask([t1, brain, tissue, *posteriors], crop_to, affine, margin)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    depth = ndimage.distance_transform_edt(brain, sampling=zooms).astype(np.float32)
    return _freeze(
        Anatomy(
            t1=t1.astype(np.float32),
            brain=brain,
            tissue=tissue,
            posteriors=np.stack(parts),
            class_means=class_means,
            depth_mm=depth,
            affine=affine,
            source=str(source),
            source_crc32=_checksum(source),
        )
    )


def nilearn_data_folder() -> Path:
    """Where nilearn's wheel keeps its bundled templates (found without importing nilearn,
    which is installed without its dependencies: only its data files are read)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserFacingError("the MNI152 template ships inside nilearn's wheel: pip install --no-deps nilearn==0.14.1")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def _mni152(folder_text: str) -> Anatomy:
    folder = Path(folder_text)
    t1, affine = _canonical(folder / MNI152_FILES["t1"], "MNI152 2009a T1")
    gm, _ = _canonical(folder / MNI152_FILES["gm"], "MNI152 2009a grey-matter map")
    wm, _ = _canonical(folder / MNI152_FILES["wm"], "MNI152 2009a white-matter map")
    scale = float(max(gm.max(), wm.max())) or 1.0  # the maps are stored 0..255
    gm, wm = gm / scale, wm / scale
    brain = _brain_mask(t1, 1.0) | ((gm + wm) > 0.5)
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
    posteriors = (np.stack([csf, gm, wm]) * brain[None]).astype(np.float32)
    tissue = np.zeros(t1.shape, dtype=np.uint8)
    tissue[brain] = (np.argmax(posteriors[:, brain], axis=0) + 1).astype(np.uint8)
    source = folder / MNI152_FILES["t1"]
    return _cropped_anatomy(t1, brain, tissue, posteriors, affine, crop_to=brain, margin=6, source=source)


def load_brain(name: str, colin27: str | Path | None = None) -> Anatomy:
    """One of `BRAINS` as an Anatomy (tissue labels ≥ 4 are head tissue outside the brain)."""
    from clue.synth.anatomy import resolve_colin27_path

    if name == "colin27":
        return load_anatomy(colin27)
    if name == "colin27-head":
        brain_path = resolve_colin27_path(colin27).resolve()
        return _colin27_head(str(DEFAULT_COLIN27_HEAD_PATH), str(brain_path))
    if name == "mni152":
        return _mni152(str(nilearn_data_folder()))
    raise UserFacingError(f"brain {name!r} is not known; choose one of {', '.join(BRAINS)}")


__all__ = [
    "BACKGROUND",
    "BRAINS",
    "HEAD_BRIGHT",
    "HEAD_DARK",
    "HEAD_MID",
    "HELD_OUT_BRAINS",
    "LABEL_COUNT",
    "TRAINING_BRAINS",
    "load_brain",
    "nilearn_data_folder",
]
