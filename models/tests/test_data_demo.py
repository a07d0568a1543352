"""clue.data.demo: slices of the generated DICOM folder and of seeded synthetic cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clue.data.common import SliceSample, open_dataset
from clue.data.demo import open_demo, open_synthetic, split_seeds
from clue.errors import UserFacingError
from clue.synth import extract_slice, make_case
from clue.synth.anatomy import DEFAULT_COLIN27_PATH
from clue.synth.dicom_writer import RESCALE_SLOPE
from clue.synth.generate import generate_demo, pad_for_dicom

pytestmark = pytest.mark.skipif(
    not DEFAULT_COLIN27_PATH.exists(), reason=f"Colin27 not installed at {DEFAULT_COLIN27_PATH} (Debian mricron-data)"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-data") / "demo"
    generate_demo(out, seed=0, extra_contrasts=False)
    return out


def test_demo_folder_slices_match_the_case_they_were_made_from(demo: Path) -> None:
    dataset = open_dataset("demo", demo, studies="lesion", sequences="t1", views="axial")
    index = json.loads((demo / "index.json").read_text())
    series = index["studies"][0]["series"][0]
    assert series["key"] == "t1-axial"
    assert len(dataset) == series["num_instances"]
    case = make_case(0, "t1", lesion=True)
    best = series["lesion"]["best"]
    sample = dataset[best["position"]]
    assert isinstance(sample, SliceSample)
    assert sample.label == 1 and sample.meta["view"] == "axial" and sample.meta["sequence"] == "T1"
    # Pixels: the rendered volume, quantised by the stored values' rescale slope.
    expected = extract_slice(pad_for_dicom(case.volume), "axial", best["volume_index"])
    assert sample.image.dtype == np.float32 and sample.image.shape == expected.shape
    assert np.abs(sample.image - expected).max() <= RESCALE_SLOPE / 2 + 1e-3
    # Mask: from the SEG, equal to the case's lesion (core ∪ oedema) on that slice.
    np.testing.assert_array_equal(
        sample.mask, (extract_slice(pad_for_dicom(case.mask), "axial", best["volume_index"]) > 0).astype(np.uint8)
    )
    assert int(sample.mask.sum()) == best["lesion_pixels"]


def test_labels_from_index_agree_with_seg_masks_on_every_slice(demo: Path) -> None:
    dataset = open_demo(demo, studies="lesion", sequences="t1", views=["sagittal"])
    labels_from_masks = [dataset[i].label for i in range(len(dataset))]
    labels_from_meta = [dataset.meta(i)["label"] for i in range(len(dataset))]
    assert labels_from_masks == labels_from_meta
    assert 0 < sum(labels_from_masks) < len(dataset)


def test_lesion_free_series_have_empty_masks(demo: Path) -> None:
    dataset = open_demo(demo, studies=["normal"], views="coronal")
    middle = dataset[len(dataset) // 2]
    assert middle.label == 0 and middle.mask is not None and not middle.mask.any()
    assert middle.image.max() > 500  # brain, not an empty slice


def test_incomplete_folder_and_bad_options_are_clear_errors(demo: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(demo, partial)
    (partial / ".complete").unlink()
    with pytest.raises(UserFacingError, match="partial: not a complete demo-data folder"):
        open_demo(partial)
    with pytest.raises(UserFacingError, match="option views must list some of"):
        open_demo(demo, views="oblique")
    with pytest.raises(UserFacingError, match="unknown_option"):
        open_dataset("demo", demo, unknown_option=1)


def test_broken_seg_is_named_in_the_error(demo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(demo, broken)
    index = json.loads((broken / "index.json").read_text())
    seg_path = broken / index["studies"][0]["series"][0]["seg"]["path"]
    seg_path.write_bytes(b"not dicom at all")
    dataset = open_demo(broken, studies="lesion", sequences="t1", views="axial")
    with pytest.raises(UserFacingError, match="0001.dcm: not a readable DICOM SEG"):
        dataset[0]


def test_synthetic_splits_are_disjoint_and_slices_follow_the_lesion() -> None:
    train, val, test = (set(split_seeds(s, 50)) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert 0 not in train | val | test  # the viewer's demo seed is held out of every split

    dataset = open_synthetic(split="test", cases=2, sequences=["t1", "flair"], views=["axial", "coronal"])
    metas = [dataset.meta(i) for i in range(len(dataset))]
    # Per case × view × sequence: 10 slices around the lesion + 5 normals (fewer if they overlap).
    assert len(dataset) <= 2 * 2 * 2 * 15 and len(dataset) >= 2 * 2 * 2 * 12
    assert {m["case"] for m in metas} == {"seed5000", "seed5001"}
    for i in (0, len(dataset) - 1):
        sample = dataset[i]
        meta = metas[i]
        case = make_case(int(meta["case"].removeprefix("seed")), meta["sequence"].lower(), lesion=True)
        np.testing.assert_array_equal(sample.image, extract_slice(case.volume, meta["view"], meta["slice_index"]))
        assert sample.label == int(extract_slice(case.mask, meta["view"], meta["slice_index"]).any()) == meta["label"]
    assert any(m["label"] == 1 for m in metas) and any(m["label"] == 0 for m in metas)


def test_synthetic_lesion_free_cases_add_normals_only() -> None:
    dataset = open_synthetic(split="val", cases=1, lesion_free_cases=1)
    normals = [i for i in range(len(dataset)) if dataset.meta(i)["case"].endswith("-normal")]
    assert len(normals) == 10
    sample = dataset[normals[0]]
    assert sample.label == 0 and not sample.mask.any()
    with pytest.raises(UserFacingError, match="split 'holdout' is not known"):
        open_synthetic(split="holdout")
