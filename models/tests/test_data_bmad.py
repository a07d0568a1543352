"""BMAD chest X-ray and RESC OCT folders: layouts, labels, masks, malformed folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clue.data import open_dataset
from clue.errors import UserFacingError


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)


def grey(value: int, shape=(12, 10)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


@pytest.fixture
def chest_root(tmp_path: Path) -> Path:
    root = tmp_path / "Chest-RSNA"
    write_png(root / "train/good/0.png", grey(10))
    for split in ("valid", "test"):
        write_png(root / f"{split}/good/1.png", grey(20))
        write_png(root / f"{split}/good/2.png", grey(30))
        rgb = np.zeros((12, 10, 3), dtype=np.uint8)
        rgb[..., 1] = 200
        write_png(root / f"{split}/Ungood/3.png", rgb)
    return root


@pytest.fixture
def oct_root(tmp_path: Path) -> Path:
    root = tmp_path / "RESC"
    write_png(root / "train/good/img/0.png", grey(10))
    for split in ("val", "test"):
        write_png(root / f"{split}/good/img/1.png", grey(20))
        image = grey(40)
        write_png(root / f"{split}/ungood/img/2.png", image)
        mask = np.zeros((12, 10), dtype=np.uint8)
        mask[3:6, 4:8] = 255
        write_png(root / f"{split}/ungood/label/2.png", mask)
    return root


def test_chest_layout(chest_root: Path) -> None:
    dataset = open_dataset("bmad-chest", chest_root, split="test")
    assert len(dataset) == 3 and not dataset.has_masks
    samples = [dataset[i] for i in range(3)]
    assert [s.label for s in samples] == [0, 0, 1]
    assert all(s.mask is None for s in samples)
    assert samples[0].image.dtype == np.float32 and samples[0].image.shape == (12, 10)
    assert samples[0].image[0, 0] == 20
    # Colour is converted to luminance (ITU-R 601: 0.587 * 200 ≈ 117).
    assert samples[2].image[0, 0] == pytest.approx(117, abs=1)
    assert samples[2].meta == {
        "dataset": "bmad-chest",
        "case": "3",
        "sequence": "X-ray",
        "view": "image",
        "slice_index": -1,
        "label": 1,
        "source": str(chest_root / "test/Ungood/3.png"),
    }
    assert len(open_dataset("bmad-chest", chest_root, split="train")) == 1
    assert len(open_dataset("bmad-chest", chest_root, split="valid")) == 3


def test_oct_layout_with_variants(oct_root: Path) -> None:
    dataset = open_dataset("bmad-oct", oct_root, split="valid")  # folder is named "val"
    assert len(dataset) == 2 and dataset.has_masks
    normal, abnormal = dataset[0], dataset[1]
    assert normal.label == 0 and normal.mask is not None and not normal.mask.any()
    assert abnormal.label == 1 and abnormal.mask.dtype == np.uint8
    expected = np.zeros((12, 10), dtype=np.uint8)
    expected[3:6, 4:8] = 1
    np.testing.assert_array_equal(abnormal.mask, expected)


def test_sixteen_bit_values_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "RESC"
    write_png(root / "test/good/img/a.png", np.full((4, 5), 40000, dtype=np.uint16))
    write_png(root / "test/Ungood/img/b.png", np.full((4, 5), 1000, dtype=np.uint16))
    write_png(root / "test/Ungood/anomaly_mask/b.png", np.ones((4, 5), dtype=np.uint8))
    dataset = open_dataset("bmad-oct", root)
    assert dataset[0].image.max() == 40000
    assert dataset[1].mask.all()


def test_missing_split_folder(chest_root: Path) -> None:
    with pytest.raises(UserFacingError, match=r"Chest-RSNA/valid: missing valid split folder"):
        import shutil

        shutil.rmtree(chest_root / "valid")
        open_dataset("bmad-chest", chest_root, split="valid")


def test_missing_abnormal_class(chest_root: Path) -> None:
    (chest_root / "test/Ungood/3.png").unlink()
    (chest_root / "test/Ungood").rmdir()
    with pytest.raises(UserFacingError, match=r"test/Ungood: missing class folder 'Ungood'"):
        open_dataset("bmad-chest", chest_root)


def test_image_without_mask(oct_root: Path) -> None:
    write_png(oct_root / "test/ungood/img/9.png", grey(50))
    with pytest.raises(UserFacingError, match=r"ungood/img/9\.png: abnormal image without its mask"):
        open_dataset("bmad-oct", oct_root)


def test_mask_size_differs(oct_root: Path) -> None:
    write_png(oct_root / "test/ungood/label/2.png", np.zeros((11, 10), dtype=np.uint8))
    with pytest.raises(
        UserFacingError, match=r"label/2\.png: mask size \(11, 10\) differs from image 2\.png size \(12, 10\)"
    ):
        open_dataset("bmad-oct", oct_root)


def test_unreadable_image(chest_root: Path) -> None:
    (chest_root / "test/good/1.png").write_bytes(b"not a png")
    dataset = open_dataset("bmad-chest", chest_root)
    with pytest.raises(UserFacingError, match=r"good/1\.png: not a readable image"):
        dataset[0]


def test_preprocessed_slices_adapter(oct_root: Path, chest_root: Path) -> None:
    from clue.data import PreprocessedSlices
    from clue.preprocess import PreprocessSpec, preprocess_mask, preprocess_slice

    spec = PreprocessSpec(size=16)
    oct_set = open_dataset("bmad-oct", oct_root)
    for cache in (False, True):
        items = PreprocessedSlices(oct_set, spec, cache=cache)
        item = items[1]
        assert item["image"].shape == (3, 16, 16) and item["mask"].shape == (16, 16)
        np.testing.assert_array_equal(item["image"].numpy(), preprocess_slice(oct_set[1].image, spec))
        np.testing.assert_array_equal(item["mask"].numpy(), preprocess_mask(oct_set[1].mask, spec))
        assert bool(item["has_mask"]) and float(item["label"]) == 1.0 and int(item["index"]) == 1
        assert (items[1] is item) == cache
    chest_item = PreprocessedSlices(open_dataset("bmad-chest", chest_root), spec)[0]
    assert not bool(chest_item["has_mask"]) and not chest_item["mask"].any()
