"""BMAD (Benchmarks for Medical Anomaly Detection) folders: chest X-ray and retinal OCT.

The layout, as BMAD publishes it (DorisBao/BMAD README, checked for this module; the
reorganised sets come from its Google Drive):

Image-level sets (chest X-ray from RSNA; the root is e.g. ``Chest-RSNA/``)::

    <root>/train/good/*.png
    <root>/valid/{good,Ungood}/*.png
    <root>/test/{good,Ungood}/*.png

Pixel-level sets (retinal OCT from RESC; the root is e.g. ``RESC/``)::

    <root>/train/good/img/*.png
    <root>/valid/{good,Ungood}/img/*.png
    <root>/valid/Ungood/label/*.png           (mask with the image's file name)
    <root>/test/{good,Ungood}/img/*.png
    <root>/test/Ungood/label/*.png

Variants seen in released copies and in code that reads them, all accepted: the validation
folder named ``val`` instead of ``valid``; the abnormal class spelled ``ungood`` (lower case,
as in some RESC copies); masks in ``anomaly_mask/`` instead of ``label/`` (MVFA-AD's
repackaging); a ``label/`` folder under ``good`` (all-zero masks; used when present, else
normal images get an all-zero mask); image-level classes with an ``img/`` sub-folder.

Images are read with Pillow; colour images are converted to luminance ('L'), 16-bit and float
images keep their values. Masks are binarised (> 0). Errors name the file or folder: a missing
split or class folder, an abnormal image without its mask, a mask whose size differs from the
image's, a file Pillow cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from clue.data.common import SliceSample
from clue.errors import UserFacingError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {"train": ("train",), "valid": ("valid", "val"), "test": ("test",)}
NORMAL_CLASS = "good"
ABNORMAL_CLASSES = ("Ungood", "ungood")
MASK_FOLDERS = ("label", "anomaly_mask")


@dataclass(frozen=True)
class _Image:
    path: Path
    mask_path: Path | None
    label: int


def read_image(path: Path) -> np.ndarray:
    """A 2-D float32 array of the file's values (colour → luminance)."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F", "1"):
                image = image.convert("L")
            array = np.asarray(image, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserFacingError(f"{path}: not a readable image ({type(error).__name__}: {error})") from error
    if array.ndim != 2:
        raise UserFacingError(f"{path}: expected a 2-D grey image, got shape {array.shape}")
    return array


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the header, without decoding."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise UserFacingError(f"{path}: not a readable image ({type(error).__name__}: {error})") from error
    return height, width


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _find_split(root: Path, split: str) -> Path:
    if split not in SPLIT_FOLDERS:
        raise UserFacingError(f"{root}: bmad option split must be one of {', '.join(SPLIT_FOLDERS)}; got {split!r}")
    for name in SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    raise UserFacingError(
        f"{root / SPLIT_FOLDERS[split][0]}: missing {split} split folder (BMAD layout: "
        f"<root>/{{train,valid,test}}/{{good,Ungood}})"
    )


def _find_abnormal(split_dir: Path) -> Path | None:
    for name in ABNORMAL_CLASSES:
        if (split_dir / name).is_dir():
            return split_dir / name
    return None


def _mask_folder(class_dir: Path) -> Path | None:
    for name in MASK_FOLDERS:
        if (class_dir / name).is_dir():
            return class_dir / name
    return None


def _mask_for(image_path: Path, mask_dir: Path) -> Path | None:
    for suffix in (image_path.suffix, *IMAGE_SUFFIXES):
        candidate = mask_dir / (image_path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


class BMADSlices:
    """One split of a BMAD set as 2-D slices (view "image")."""

    def __init__(
        self, root: Path, kind: str, sequence: str, pixel_level: bool, split: str, limit_per_class: int | None
    ) -> None:
        self.root = Path(root)
        self.kind = kind
        self.sequence = sequence
        self.has_masks = pixel_level
        self.name = f"{kind}-{split}"
        split_dir = _find_split(self.root, split)
        classes: list[tuple[Path, int]] = []
        if not (split_dir / NORMAL_CLASS).is_dir():
            raise UserFacingError(f"{split_dir / NORMAL_CLASS}: missing class folder 'good'")
        classes.append((split_dir / NORMAL_CLASS, 0))
        abnormal = _find_abnormal(split_dir)
        if split != "train":
            if abnormal is None:
                raise UserFacingError(
                    f"{split_dir / ABNORMAL_CLASSES[0]}: missing class folder 'Ungood' (abnormal images)"
                )
            classes.append((abnormal, 1))
        items: list[_Image] = []
        for class_dir, label in classes:
            items.extend(self._index_class(class_dir, label, limit_per_class))
        if not items:
            raise UserFacingError(f"{split_dir}: no images found")
        self._items = items

    def _index_class(self, class_dir: Path, label: int, limit: int | None) -> list[_Image]:
        image_dir = class_dir / "img" if (class_dir / "img").is_dir() else class_dir
        files = _image_files(image_dir)
        if limit is not None:
            files = files[:limit]
        if not self.has_masks:
            return [_Image(path, None, label) for path in files]
        mask_dir = _mask_folder(class_dir)
        if label == 1 and mask_dir is None:
            raise UserFacingError(
                f"{class_dir / MASK_FOLDERS[0]}: missing mask folder for the abnormal images of {image_dir}"
            )
        items = []
        for path in files:
            mask_path = _mask_for(path, mask_dir) if mask_dir is not None else None
            if mask_path is None and label == 1:
                raise UserFacingError(f"{path}: abnormal image without its mask (expected {mask_dir / path.name})")
            if mask_path is not None and image_size(mask_path) != image_size(path):
                raise UserFacingError(
                    f"{mask_path}: mask size {image_size(mask_path)} differs from image {path.name} size {image_size(path)} (height, width)"
                )
            items.append(_Image(path, mask_path, label))
        return items

    def __len__(self) -> int:
        return len(self._items)

    def meta(self, index: int) -> Mapping[str, Any]:
        item = self._items[index]
        return {
            "dataset": self.kind,
            "case": item.path.stem,
            "sequence": self.sequence,
            "view": "image",
            "slice_index": -1,
            "label": item.label,
            "source": str(item.path),
        }

    def __getitem__(self, index: int) -> SliceSample:
        if not 0 <= index < len(self._items):
            raise IndexError(index)
        item = self._items[index]
        image = read_image(item.path)
        mask: np.ndarray | None = None
        if self.has_masks:
            if item.mask_path is None:
                mask = np.zeros(image.shape, dtype=np.uint8)
            else:
                mask = (read_image(item.mask_path) > 0).astype(np.uint8)
                if mask.shape != image.shape:
                    raise UserFacingError(
                        f"{item.mask_path}: mask size {mask.shape} differs from image size {image.shape}"
                    )
        return SliceSample(image=image, mask=mask, label=item.label, meta=self.meta(index))


def open_bmad_chest(root: Path, split: str = "test", limit_per_class: int | None = None) -> BMADSlices:
    """BMAD chest X-ray (RSNA): image-level labels only (masks are None)."""
    return BMADSlices(root, "bmad-chest", "X-ray", pixel_level=False, split=split, limit_per_class=limit_per_class)


def open_bmad_oct(root: Path, split: str = "test", limit_per_class: int | None = None) -> BMADSlices:
    """BMAD retinal OCT (RESC): image labels and pixel masks."""
    return BMADSlices(root, "bmad-oct", "OCT", pixel_level=True, split=split, limit_per_class=limit_per_class)


__all__ = ["BMADSlices", "image_size", "open_bmad_chest", "open_bmad_oct", "read_image"]
