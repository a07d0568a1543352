"""clue.synth.brains / anomalies / randomize and the datasets built on them
(clue.data.anomalies, clue.data.dicom_series): held-out by construction, deterministic,
ground truth where the change is visible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clue.data.anomalies import open_synthetic_anomalies
from clue.data.common import open_dataset
from clue.errors import UserFacingError
from clue.synth.anatomy import CSF, DEFAULT_COLIN27_PATH, GREY_MATTER, WHITE_MATTER
from clue.synth.anomalies import (
    FAMILIES,
    HELD_OUT_FAMILIES,
    TRAINING_FAMILIES,
    check_families,
    visible_mask,
)
from clue.synth.brains import HEAD_DARK, load_brain
from clue.synth.randomize import SliceRecipe, make_slice

pytestmark = pytest.mark.skipif(
    not DEFAULT_COLIN27_PATH.exists(), reason=f"Colin27 not installed at {DEFAULT_COLIN27_PATH} (Debian mricron-data)"
)


def test_training_and_held_out_families_are_disjoint_and_held_out_is_refused_outside_test() -> None:
    assert set(TRAINING_FAMILIES).isdisjoint(HELD_OUT_FAMILIES)
    assert set(FAMILIES) == set(TRAINING_FAMILIES) | set(HELD_OUT_FAMILIES)
    assert check_families(["Blob", "infarct"], "test") == ["blob", "infarct"]
    for split in ("train", "val"):
        with pytest.raises(UserFacingError, match="infarct is held out"):
            check_families(["tumour", "infarct"], split)
        with pytest.raises(UserFacingError, match="held out"):
            open_synthetic_anomalies(split=split, brains=["mni152"], families=["blob"], count=1)
    with pytest.raises(UserFacingError, match="not known"):
        check_families(["glioma"], "test")


def test_brains_have_their_tissue_classes_and_the_head_outside_the_brain() -> None:
    head = load_brain("colin27-head")
    assert head.tissue[head.brain].min() >= CSF and head.tissue[head.brain].max() <= WHITE_MATTER
    outside = head.tissue[~head.brain]
    assert (outside >= HEAD_DARK).sum() > 0.2 * head.brain.sum()  # scalp and skull are there
    mni = load_brain("mni152")
    csf, gm, wm = mni.class_means
    assert csf < gm < wm  # its own maps give T1's tissue order
    assert mni.shape != load_brain("colin27").shape
    with pytest.raises(UserFacingError, match="not known"):
        load_brain("brainweb")


def test_same_seed_same_slice_other_seed_other_slice() -> None:
    recipe = SliceRecipe(
        brains=("colin27", "colin27-head"),
        rendering="randomized",
        view="axial",
        families=TRAINING_FAMILIES,
        anomaly_probability=1.0,
        augment=True,
    )
    a, b, c = make_slice(recipe, (1000, 0, 3)), make_slice(recipe, (1000, 0, 3)), make_slice(recipe, (1000, 0, 4))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.meta == b.meta
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_draws_a_visible_anomaly_inside_the_brain(family: str) -> None:
    rendering = "t1"
    drawn = 0
    for i in range(6):
        recipe = SliceRecipe(
            brains=("mni152",), rendering=rendering, view="axial", families=(family,), anomaly_probability=1.0
        )
        made = make_slice(recipe, (5000, 9, i))
        if made.meta["family"] == "none":
            continue
        drawn += 1
        assert made.meta["family"] == family
        assert made.mask.any() and not (made.mask.astype(bool) & ~made.brain).any()
    assert drawn >= 4


def test_ground_truth_is_where_the_change_is_visible() -> None:
    before = np.repeat(np.linspace(500.0, 1500.0, 20, dtype=np.float32)[:, None], 20, axis=1)  # range ~1000
    brain = np.ones((20, 20), bool)
    alpha = np.zeros((20, 20), np.float32)
    alpha[5:10, 5:10] = 1.0
    alpha[12:15, 12:15] = 1.0
    after = before.copy()
    after[5:10, 5:10] -= 400.0  # a visible change
    after[12:15, 12:15] += 20.0  # occupied, but 2 % of the range: nothing to see
    mask = visible_mask(before, after, alpha, brain)
    assert mask[5:10, 5:10].all() and not mask[12:15, 12:15].any() and mask.sum() == 25


def test_the_same_seed_gives_the_same_lesion_in_every_contrast() -> None:
    masks = []
    for rendering in ("t1", "t2", "flair"):
        recipe = SliceRecipe(
            brains=("mni152",), rendering=rendering, view="coronal", families=("tumour",), anomaly_probability=1.0
        )
        masks.append(make_slice(recipe, (5000, 2, 1)))
    assert all(m.meta["slice_index"] == masks[0].meta["slice_index"] for m in masks)
    first = masks[0].mask.astype(bool)
    for other in masks[1:]:
        overlap = (first & other.mask.astype(bool)).sum() / max(first.sum(), 1)
        assert overlap > 0.5  # same geometry; visibility differs a little per contrast


def test_randomized_contrast_changes_tissue_intensities_but_not_the_anatomy() -> None:
    recipe = SliceRecipe(brains=("colin27",), rendering="randomized", view="axial")
    order = []
    for i in range(6):
        made = make_slice(recipe, (1000, 0, i))
        anatomy = load_brain("colin27")
        from clue.synth.views import extract_slice

        tissue = extract_slice(anatomy.tissue, "axial", int(made.meta["slice_index"]))
        means = [float(np.median(made.image[tissue == k])) for k in (CSF, GREY_MATTER, WHITE_MATTER)]
        order.append(tuple(np.argsort(means)))
    assert len(set(order)) > 1  # the tissue order itself is randomised across seeds


def test_dataset_cells_and_meta() -> None:
    data = open_dataset(
        "synthetic-anomalies",
        None,
        split="test",
        brains=["mni152"],
        sequences=["t1", "flair"],
        views=["axial", "sagittal"],
        families=["infarct"],
        count=2,
    )
    assert len(data) == 8
    cells = [(data.meta(i)["sequence"], data.meta(i)["view"]) for i in range(len(data))]
    assert cells[:4] == [("T1", "axial"), ("T1", "axial"), ("T1", "sagittal"), ("T1", "sagittal")]
    sample = data[0]
    assert sample.region is not None and sample.region.shape == sample.image.shape
    assert sample.label == int(sample.mask.any())
    with pytest.raises(UserFacingError, match="sequences"):
        open_dataset("synthetic-anomalies", None, split="test", sequences=["pd"], families=["blob"])


def _write_series(folder: Path, count: int) -> None:
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    series = generate_uid()
    yy, xx = np.mgrid[0:40, 0:48]
    head = ((yy - 20) ** 2 / 15**2 + (xx - 24) ** 2 / 18**2) <= 1
    for k in range(count):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesDescription = "MR", series, "T1 SE"
        ds.InstanceNumber = count - k  # files sorted by name are in reverse order
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.Rows, ds.Columns = 40, 48
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 2, -10
        ds.PixelData = (head * (100 + k)).astype(np.uint16).tobytes()
        ds.save_as(str(folder / f"im{k:02d}.dcm"), enforce_file_format=True)


def test_dicom_series_reads_values_order_view_and_head(tmp_path: Path) -> None:
    _write_series(tmp_path, 3)
    data = open_dataset("dicom-series", tmp_path, lesion_free=True)
    assert len(data) == 3 and data.has_masks
    first = data[0]  # InstanceNumber 1 = the file written last
    assert first.meta["view"] == "axial" and first.meta["sequence"] == "T1 SE"
    assert float(first.image.max()) == 2 * 102 - 10 and float(first.image.min()) == -10
    assert first.mask is not None and not first.mask.any() and first.label == 0
    assert first.region is not None and 0.4 < first.region.mean() < 0.7  # the ellipse, ~π·15·18/(40·48)
    unlabelled = open_dataset("dicom-series", tmp_path)
    assert unlabelled[0].mask is None
    (tmp_path / "notes.txt").write_text("not dicom")
    with pytest.raises(UserFacingError, match="notes.txt"):
        open_dataset("dicom-series", tmp_path)
