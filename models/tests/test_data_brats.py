"""BraTS 2021 reading: slice selection per view, orientation, splits, malformed folders."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from clue.data import open_dataset
from clue.data.brats import SEQUENCES, extract_plane, select_normal_slices, select_tumour_slices
from clue.errors import UserFacingError

SHAPE = (16, 18, 20)  # x (L→R), y (P→A), z (I→S) in RAS
TUMOUR = (slice(5, 8), slice(9, 13), slice(6, 9))  # x 5..7, y 9..12, z 6..8
BRAIN = (slice(2, 14), slice(2, 16), slice(1, 19))
SEQUENCE_OFFSET = {"t1": 100.0, "t1ce": 200.0, "t2": 300.0, "flair": 400.0}


def ras_volumes(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    volumes: dict[str, np.ndarray] = {}
    for sequence in SEQUENCES:
        volume = np.zeros(SHAPE, dtype=np.float32)
        volume[BRAIN] = SEQUENCE_OFFSET[sequence] + rng.integers(0, 50, SHAPE)[BRAIN]
        volume[TUMOUR] += 500
        volumes[sequence] = volume
    seg = np.zeros(SHAPE, dtype=np.uint8)
    seg[TUMOUR] = 2
    seg[5, 9, 6] = 4
    volumes["seg"] = seg
    return volumes


def write_patient(root: Path, name: str, volumes: dict[str, np.ndarray], lps: bool = False) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for modality, data in volumes.items():
        affine = np.eye(4)
        if lps:  # stored as L→... : flip x and y in the array and in the affine
            data = data[::-1, ::-1, :].copy()
            affine = np.diag([-1.0, -1.0, 1.0, 1.0])
            affine[:3, 3] = [SHAPE[0] - 1, SHAPE[1] - 1, 0]
        nib.save(nib.Nifti1Image(data, affine), str(folder / f"{name}_{modality}.nii.gz"))
    return folder


@pytest.fixture
def brats_root(tmp_path: Path) -> Path:
    for number in range(3):
        write_patient(tmp_path, f"BraTS2021_{number:05d}", ras_volumes(number))
    return tmp_path


def selected(dataset, view: str, case: str = "BraTS2021_00000") -> dict[int, int]:
    return {
        dataset.meta(i)["slice_index"]: dataset.meta(i)["label"]
        for i in range(len(dataset))
        if dataset.meta(i)["view"] == view and dataset.meta(i)["case"] == case
    }


def test_tumour_window_per_view(brats_root: Path) -> None:
    dataset = open_dataset(
        "brats", brats_root, split="all", views=["axial", "sagittal", "coronal"], train_patients=3, normal_slices=0
    )
    one_patient = [i for i in range(len(dataset)) if dataset.meta(i)["case"] == "BraTS2021_00000"]
    by_view = {
        view: [dataset.meta(i)["slice_index"] for i in one_patient if dataset.meta(i)["view"] == view]
        for view in ("axial", "sagittal", "coronal")
    }
    # axial: tumour z 6..8, middle 7, window 2..11; sagittal: x 5..7 -> 1..10; coronal: y 9..12, middle 10 -> 5..14
    assert by_view == {"axial": list(range(2, 12)), "sagittal": list(range(1, 11)), "coronal": list(range(5, 15))}
    labels = {
        dataset.meta(i)["slice_index"]: dataset.meta(i)["label"]
        for i in one_patient
        if dataset.meta(i)["view"] == "axial"
    }
    assert [k for k, label in labels.items() if label] == [6, 7, 8]
    sample = dataset[one_patient[0]]
    assert sample.image.dtype == np.float32 and sample.mask is not None and sample.mask.dtype == np.uint8
    assert sample.meta["sequence"] == "T1" and sample.meta["source"].endswith("BraTS2021_00000_t1.nii.gz")


def test_window_is_shifted_inside_the_volume() -> None:
    nonempty = np.zeros(20, dtype=bool)
    nonempty[17:20] = True
    assert select_tumour_slices(nonempty, 10) == list(range(10, 20))
    nonempty[:] = False
    nonempty[0] = True
    assert select_tumour_slices(nonempty, 10) == list(range(0, 10))
    assert select_tumour_slices(nonempty, 50) == list(range(20))


def test_normal_slices_are_tumour_free_brain_and_seeded(brats_root: Path) -> None:
    options = dict(split="all", views=["axial"], train_patients=3, normal_slices=5, seed=7)
    first = open_dataset("brats", brats_root, **options)
    again = open_dataset("brats", brats_root, **options)
    assert [first.meta(i) for i in range(len(first))] == [again.meta(i) for i in range(len(again))]
    chosen = selected(first, "axial")
    window = set(range(2, 12))
    extra = sorted(set(chosen) - window)
    # Outside the tumour z 6..8 by the margin 2 (so not 4..10), and inside the brain z 1..18.
    candidates = {1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18}
    assert set(chosen) - window <= candidates
    assert len(extra) == 5  # exactly normal_slices added besides the window
    assert all(chosen[k] == 0 for k in extra)
    for i in range(len(first)):
        sample = first[i]
        assert sample.label == int(sample.mask.any())
        assert sample.image.max() > 0  # every slice shows brain
    rng = np.random.default_rng(0)
    nonempty = np.zeros(20, dtype=bool)
    nonempty[6:9] = True
    area = np.zeros(20)
    area[1:19] = 100
    area[18] = 10  # too little brain
    got = select_normal_slices(nonempty, area, 100, 2, 0.3, rng)
    assert got == [1, 2, 3, 11, 12, 13, 14, 15, 16, 17]
    assert select_normal_slices(nonempty, area, 100, 2, 0.3, rng, exclude=range(2, 12)) == [1, 12, 13, 14, 15, 16, 17]


def test_orientation_from_the_affine(tmp_path: Path) -> None:
    volumes = ras_volumes(0)
    marker = volumes["t1"].copy()
    marker[13, 15, 10] = 5000  # patient right (high x), anterior (high y)
    volumes["t1"] = marker
    write_patient(tmp_path / "ras", "BraTS2021_00000", volumes)
    write_patient(tmp_path / "lps", "BraTS2021_00000", volumes, lps=True)
    options = dict(split="all", views=["axial", "sagittal", "coronal"], normal_slices=2)
    ras = open_dataset("brats", tmp_path / "ras", **options)
    lps = open_dataset("brats", tmp_path / "lps", **options)
    assert [ras.meta(i)["slice_index"] for i in range(len(ras))] == [
        lps.meta(i)["slice_index"] for i in range(len(lps))
    ]
    for i in range(len(ras)):
        np.testing.assert_array_equal(ras[i].image, lps[i].image)
        np.testing.assert_array_equal(ras[i].mask, lps[i].mask)
    # Display convention: axial rows anterior→posterior, columns patient right→left.
    plane = extract_plane(marker, ("R", "A", "S"), "axial", 10)
    assert plane.shape == (SHAPE[1], SHAPE[0])
    assert np.unravel_index(np.argmax(plane), plane.shape) == (SHAPE[1] - 1 - 15, SHAPE[0] - 1 - 13)
    coronal = extract_plane(marker, ("R", "A", "S"), "coronal", 15)  # rows superior→inferior
    assert np.unravel_index(np.argmax(coronal), coronal.shape) == (SHAPE[2] - 1 - 10, SHAPE[0] - 1 - 13)
    sagittal = extract_plane(marker, ("R", "A", "S"), "sagittal", 13)  # columns anterior→posterior
    assert np.unravel_index(np.argmax(sagittal), sagittal.shape) == (SHAPE[2] - 1 - 10, SHAPE[1] - 1 - 15)


def test_patient_split(brats_root: Path) -> None:
    cases = lambda split: sorted(  # noqa: E731
        {
            d.meta(i)["case"]
            for d in [open_dataset("brats", brats_root, split=split, train_patients=2, val_patients=1)]
            for i in range(len(d))
        }
    )
    assert cases("train") == ["BraTS2021_00000"]
    assert cases("val") == ["BraTS2021_00001"]
    assert cases("test") == ["BraTS2021_00002"]
    with pytest.raises(UserFacingError, match="split 'test' has no patients"):
        open_dataset("brats", brats_root, split="test", train_patients=3)


def test_sequences_and_views_group_order(brats_root: Path) -> None:
    dataset = open_dataset(
        "brats",
        brats_root,
        split="test",
        train_patients=2,
        sequences=["t2", "flair"],
        views=["axial", "coronal"],
        normal_slices=1,
    )
    groups = []
    for i in range(len(dataset)):
        key = (dataset.meta(i)["sequence"], dataset.meta(i)["view"])
        if not groups or groups[-1] != key:
            groups.append(key)
    assert groups == [("T2", "axial"), ("T2", "coronal"), ("FLAIR", "axial"), ("FLAIR", "coronal")]
    t2, flair = dataset[0], dataset[len(dataset) // 2]
    assert t2.image[t2.image > 0].min() >= 300 and flair.image[flair.image > 0].min() >= 400


def test_missing_modality(brats_root: Path) -> None:
    (brats_root / "BraTS2021_00001" / "BraTS2021_00001_flair.nii.gz").unlink()
    with pytest.raises(UserFacingError, match=r"BraTS2021_00001_flair\.nii\.gz: missing flair file"):
        open_dataset("brats", brats_root, split="all")


def test_shape_mismatch(brats_root: Path) -> None:
    path = brats_root / "BraTS2021_00002" / "BraTS2021_00002_t1ce.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((16, 18, 19), dtype=np.float32), np.eye(4)), str(path))
    with pytest.raises(
        UserFacingError, match=r"BraTS2021_00002_t1ce\.nii\.gz: shape \(16, 18, 19\) differs from the segmentation"
    ):
        open_dataset("brats", brats_root, split="all")


def test_empty_segmentation(brats_root: Path) -> None:
    path = brats_root / "BraTS2021_00000" / "BraTS2021_00000_seg.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, dtype=np.uint8), np.eye(4)), str(path))
    with pytest.raises(UserFacingError, match=r"BraTS2021_00000_seg\.nii\.gz: segmentation is empty"):
        open_dataset("brats", brats_root, split="all")


def test_not_nifti_and_truncated(brats_root: Path) -> None:
    path = brats_root / "BraTS2021_00001" / "BraTS2021_00001_t2.nii.gz"
    path.write_bytes(b"this is not a NIfTI file")
    with pytest.raises(UserFacingError, match=r"BraTS2021_00001_t2\.nii\.gz: not a readable NIfTI file"):
        open_dataset("brats", brats_root, split="all")
    path.unlink()
    seg = brats_root / "BraTS2021_00001" / "BraTS2021_00001_seg.nii.gz"
    raw = gzip.decompress(seg.read_bytes())
    write_patient(brats_root / "x", "BraTS2021_00001", {"t2": ras_volumes()["t2"]})
    (brats_root / "x" / "BraTS2021_00001" / "BraTS2021_00001_t2.nii.gz").rename(path)
    seg.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # header intact, voxels cut short
    with pytest.raises(
        UserFacingError, match=r"BraTS2021_00001_seg\.nii\.gz: cannot read the voxel data; truncated or corrupt"
    ):
        open_dataset("brats", brats_root, split="all")


def test_unknown_option_and_missing_root(brats_root: Path) -> None:
    with pytest.raises(UserFacingError, match="does not take option"):
        open_dataset("brats", brats_root, sequnces=["t1"])
    with pytest.raises(UserFacingError, match="dataset folder does not exist"):
        open_dataset("brats", brats_root / "nope")
    with pytest.raises(UserFacingError, match="views must list"):
        open_dataset("brats", brats_root, views=["oblique"])
    with pytest.raises(
        UserFacingError, match="dataset kind 'brats2020' is not known; choose one of: brats, bmad-chest"
    ):
        open_dataset("brats2020", brats_root)
    with pytest.raises(UserFacingError, match="brats dataset needs a folder"):
        open_dataset("brats", None)


def test_selection_does_not_depend_on_which_views_are_opened(brats_root: Path) -> None:
    alone = open_dataset("brats", brats_root, split="all", views=["coronal"], normal_slices=3)
    together = open_dataset("brats", brats_root, split="all", views=["axial", "coronal"], normal_slices=3)
    assert selected(alone, "coronal") == selected(together, "coronal")


def test_orientation_mismatch(brats_root: Path) -> None:
    path = brats_root / "BraTS2021_00001" / "BraTS2021_00001_t1.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, dtype=np.float32), np.diag([-1.0, 1.0, 1.0, 1.0])), str(path))
    with pytest.raises(
        UserFacingError, match=r"BraTS2021_00001_t1\.nii\.gz: orientation LAS differs from the segmentation"
    ):
        open_dataset("brats", brats_root, split="all")


def test_small_cache_gives_the_same_slices(brats_root: Path) -> None:
    options = dict(split="all", sequences=["t1", "t2"], views=["axial", "sagittal"], normal_slices=2)
    roomy = open_dataset("brats", brats_root, **options)
    tight = open_dataset("brats", brats_root, **options, cache_mb=0.01)  # evicts all but the last volume
    for i in list(range(len(roomy)))[::-1]:
        np.testing.assert_array_equal(roomy[i].image, tight[i].image)
        np.testing.assert_array_equal(roomy[i].mask, tight[i].mask)
    assert len(tight._cache) == 1 and len(roomy._cache) == 6
