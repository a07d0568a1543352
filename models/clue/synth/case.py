"""One synthetic case = real Colin27 anatomy + (optionally) one seeded lesion, in one
contrast, with its seeded acquisition. The numpy API for training and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clue.synth.anatomy import Anatomy, load_anatomy
from clue.synth.contrasts import apply_acquisition, check_contrast, insert_lesion, tissue_image
from clue.synth.lesions import LesionFractions, LesionSpec, draw_lesion, rasterise_lesion


@dataclass(frozen=True)
class Case:
    """volume: float32 [X, Y, Z], canonical RAS, white matter ≈ 1000.
    mask: uint8 [X, Y, Z], 0 = no lesion, 1 = tumour core, 2 = oedema (lesion = mask > 0);
    all zero for a lesion-free case.
    spacing: voxel size in mm along X, Y, Z; affine: voxel → RAS mm.
    meta: seed, contrast, lesion parameters (or None), source file and its checksum."""

    volume: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesion:
    spec: LesionSpec
    fractions: LesionFractions
    mask: np.ndarray


def make_lesion(anatomy: Anatomy, seed: int) -> Lesion:
    spec = draw_lesion(anatomy, seed)
    fractions = rasterise_lesion(anatomy, spec)
    return Lesion(spec=spec, fractions=fractions, mask=fractions.label_mask())


def render_case(anatomy: Anatomy, seed: int, contrast: str, lesion: Lesion | None) -> Case:
    """Render one contrast; reuse ``lesion`` to give several contrasts the same lesion."""
    contrast = check_contrast(contrast)
    image = tissue_image(anatomy, contrast)
    if lesion is not None:
        image = insert_lesion(image, contrast, lesion.spec, lesion.fractions)
    volume = apply_acquisition(image, anatomy.brain, seed)
    mask = lesion.mask if lesion is not None else np.zeros(anatomy.shape, dtype=np.uint8)
    return Case(
        volume=volume,
        mask=mask,
        spacing=anatomy.spacing,
        affine=anatomy.affine.copy(),
        meta={
            "seed": int(seed),
            "contrast": contrast,
            "lesion": lesion.spec.as_dict() if lesion is not None else None,
            "source": anatomy.source,
            "source_crc32": anatomy.source_crc32,
            "tissue_t1_means": [round(float(m), 3) for m in anatomy.class_means],
        },
    )


def make_case(seed: int, contrast: str, lesion: bool, colin27_path: str | Path | None = None) -> Case:
    """The case of ``seed`` in ``contrast`` ('t1', 't2', 'flair'), with or without its lesion.

    Same seed → identical arrays. The lesion-free case of a seed is its lesion case minus
    the lesion (same acquisition)."""
    anatomy = load_anatomy(colin27_path)
    return render_case(anatomy, seed, contrast, make_lesion(anatomy, seed) if lesion else None)
