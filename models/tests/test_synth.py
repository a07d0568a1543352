"""clue.synth numpy side: anatomy + segmentation, lesions, contrasts, views, make_case."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from clue.errors import UserFacingError
from clue.synth import LABEL_CORE, LABEL_OEDEMA, extract_slice, make_case, slice_geometry, slices_with_label
from clue.synth.anatomy import (
    BACKGROUND,
    CSF,
    DEFAULT_COLIN27_PATH,
    GREY_MATTER,
    WHITE_MATTER,
    load_anatomy,
)
from clue.synth.contrasts import CONTRAST_LEVELS, tissue_image

pytestmark = pytest.mark.skipif(
    not DEFAULT_COLIN27_PATH.exists(), reason=f"Colin27 not installed at {DEFAULT_COLIN27_PATH} (Debian mricron-data)"
)


@pytest.fixture(scope="module")
def anatomy():
    return load_anatomy()


def test_anatomy_is_canonical_1mm_and_brain_is_plausible(anatomy) -> None:
    assert anatomy.spacing == (1.0, 1.0, 1.0)
    assert nib.aff2axcodes(anatomy.affine) == ("R", "A", "S")
    volume_ml = anatomy.brain.sum() / 1000.0  # 1 mm³ voxels
    assert 1000 < volume_ml < 2000, volume_ml  # an adult brain incl. CSF: ~1.2–1.7 l
    # The brain is one solid piece: its holes (ventricles) were filled.
    from scipy import ndimage

    assert ndimage.label(anatomy.brain)[1] == 1
    assert not anatomy.brain[0].any() or anatomy.brain[0].sum() < anatomy.brain.sum() * 0.01


def test_tissue_classes_are_ordered_csf_grey_white(anatomy) -> None:
    means = {k: float(anatomy.t1[anatomy.tissue == k].mean()) for k in (CSF, GREY_MATTER, WHITE_MATTER)}
    assert means[CSF] < means[GREY_MATTER] < means[WHITE_MATTER]
    assert list(anatomy.class_means) == sorted(anatomy.class_means)
    # Every brain voxel has a class, nothing outside the brain does.
    assert (anatomy.tissue[anatomy.brain] != BACKGROUND).all()
    assert (anatomy.tissue[~anatomy.brain] == BACKGROUND).all()
    # Posteriors are probabilities inside the brain.
    sums = anatomy.posteriors.sum(axis=0)
    np.testing.assert_allclose(sums[anatomy.brain], 1.0, atol=1e-4)
    # Each class is a substantial part of the brain (GM and WM are, CSF at least some).
    fractions = {k: float((anatomy.tissue == k).sum() / anatomy.brain.sum()) for k in (CSF, GREY_MATTER, WHITE_MATTER)}
    assert fractions[CSF] > 0.03 and fractions[GREY_MATTER] > 0.25 and fractions[WHITE_MATTER] > 0.2, fractions


def test_contrasts_follow_their_tissue_ordering(anatomy) -> None:
    for contrast in ("t2", "flair"):
        image = tissue_image(anatomy, contrast)
        means = {k: float(image[anatomy.tissue == k].mean()) for k in (CSF, GREY_MATTER, WHITE_MATTER)}
        assert means[GREY_MATTER] > means[WHITE_MATTER], (contrast, means)
        if contrast == "t2":
            assert means[CSF] > means[GREY_MATTER], means  # CSF bright on T2
        else:
            assert means[CSF] < means[WHITE_MATTER], means  # CSF dark on FLAIR
        # The real texture survives: white matter is not one flat value.
        assert image[anatomy.tissue == WHITE_MATTER].std() > 5.0
    t1 = tissue_image(anatomy, "t1")
    assert 950 < float(np.median(t1[anatomy.tissue == WHITE_MATTER])) < 1050  # WM ≈ 1000 units


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 17])
def test_lesion_is_inside_brain_non_empty_and_has_core_and_oedema(anatomy, seed: int) -> None:
    case = make_case(seed, "t1", lesion=True)
    mask = case.mask
    assert mask.dtype == np.uint8 and mask.shape == anatomy.shape
    assert set(np.unique(mask)) <= {0, LABEL_CORE, LABEL_OEDEMA}
    assert (mask == LABEL_CORE).sum() > 100
    assert (mask == LABEL_OEDEMA).sum() > 100
    assert not (mask > 0)[~anatomy.brain].any()
    # One connected lesion.
    from scipy import ndimage

    assert ndimage.label(mask > 0)[1] == 1
    # Appearance: core darker than white matter on T1; oedema brighter than white matter on T2/FLAIR.
    wm = (anatomy.tissue == WHITE_MATTER) & (mask == 0)
    assert case.volume[mask == LABEL_CORE].mean() < case.volume[wm].mean()
    for contrast in ("t2", "flair"):
        other = make_case(seed, contrast, lesion=True)
        assert other.volume[mask == LABEL_OEDEMA].mean() > other.volume[wm].mean() * 1.2


def test_different_seeds_make_different_lesions() -> None:
    masks = [make_case(seed, "t1", lesion=True).mask > 0 for seed in range(4)]
    centres = [tuple(np.argwhere(m).mean(axis=0).round()) for m in masks]
    assert len(set(centres)) == 4
    sizes = [int(m.sum()) for m in masks]
    assert len(set(sizes)) == 4
    for i in range(4):
        for j in range(i + 1, 4):
            overlap = (masks[i] & masks[j]).sum() / min(masks[i].sum(), masks[j].sum())
            assert overlap < 0.9


def test_same_seed_is_identical_and_lesion_free_differs_only_at_the_lesion() -> None:
    a = make_case(5, "flair", lesion=True)
    b = make_case(5, "flair", lesion=True)
    np.testing.assert_array_equal(a.volume, b.volume)
    np.testing.assert_array_equal(a.mask, b.mask)
    normal = make_case(5, "flair", lesion=False)
    assert not normal.mask.any()
    changed = a.volume != normal.volume
    # The lesion (with its soft partial-volume edge, < 4 mm wide) is where the images
    # differ, nowhere else.
    from scipy import ndimage

    distance_mm = ndimage.distance_transform_edt(a.mask == 0)
    assert changed[a.mask > 0].mean() > 0.99
    assert not changed[distance_mm >= 4.0].any()


def test_extract_slice_orientation_and_geometry(anatomy) -> None:
    volume = np.zeros(anatomy.shape, dtype=np.float32)
    x, y, z = anatomy.shape
    # A marker in the patient's right-anterior-superior corner region.
    volume[x - 1, y - 1, z - 1] = 1.0
    axial = extract_slice(volume, "axial", z - 1)
    assert axial[0, 0] == 1.0  # top-left of an axial image = patient right, anterior
    coronal = extract_slice(volume, "coronal", y - 1)
    assert coronal[0, 0] == 1.0  # top-left of coronal = patient right, superior
    sagittal = extract_slice(volume, "sagittal", x - 1)
    assert sagittal[0, 0] == 1.0  # top-left of sagittal = anterior, superior
    expected_orientations = {
        "axial": (1, 0, 0, 0, 1, 0),
        "coronal": (1, 0, 0, 0, 0, -1),
        "sagittal": (0, 1, 0, 0, 0, -1),
    }
    for view, orientation in expected_orientations.items():
        g0 = slice_geometry(anatomy.affine, anatomy.shape, view, 0)
        g1 = slice_geometry(anatomy.affine, anatomy.shape, view, 1)
        assert g0.image_orientation == tuple(float(v) for v in orientation)
        step = np.subtract(g1.image_position, g0.image_position)
        # Consecutive slices are one slice thickness apart, along the normal.
        np.testing.assert_allclose(np.abs(step @ np.asarray(g0.normal)), g0.slice_thickness)
        np.testing.assert_allclose(np.linalg.norm(step), g0.slice_thickness)
        # Pixel (0,0)'s world position is the voxel's, in LPS.
        plane = extract_slice(np.arange(np.prod(anatomy.shape)).reshape(anatomy.shape), view, 0)
        voxel = np.unravel_index(int(plane[0, 0]), anatomy.shape)
        ras = anatomy.affine @ np.array([*voxel, 1.0])
        np.testing.assert_allclose(g0.image_position, [-ras[0], -ras[1], ras[2]], atol=1e-6)


def test_slices_with_label_matches_mask() -> None:
    case = make_case(3, "t1", lesion=True)
    axial = slices_with_label(case.mask, "axial")
    assert axial == sorted(axial) and len(axial) > 3
    assert all(extract_slice(case.mask, "axial", k).any() for k in axial)
    assert not extract_slice(case.mask, "axial", axial[0] - 1).any()


def test_unknown_contrast_or_view_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown contrast 'pd'"):
        make_case(0, "pd", lesion=False)
    with pytest.raises(ValueError, match="unknown view 'oblique'"):
        extract_slice(np.zeros((4, 4, 4)), "oblique", 0)
    assert set(CONTRAST_LEVELS) == {"t1", "t2", "flair"}


def test_missing_or_malformed_colin27_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.nii.gz"
    with pytest.raises(UserFacingError, match="nowhere.nii.gz: Colin27 T1 not found"):
        load_anatomy(missing)
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(gzip.compress(b"this is not a NIfTI header" * 20))
    with pytest.raises(UserFacingError, match="garbage.nii.gz: not a readable NIfTI image"):
        load_anatomy(garbage)
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((40, 40), dtype=np.float32), np.eye(4)), str(flat))
    with pytest.raises(UserFacingError, match="flat.nii.gz: expected a 3-D T1 volume"):
        load_anatomy(flat)
    constant = tmp_path / "constant.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((40, 40, 40), dtype=np.float32), np.eye(4)), str(constant))
    with pytest.raises(UserFacingError, match="constant.nii.gz: the image is too small or constant"):
        load_anatomy(constant)
