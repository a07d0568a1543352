"""Odd-sized copies of the demo lesion series, for the e2e `results-odd-size` scenario.

The demo images are 192×152, whose rows × columns is a multiple of 8: stored SEG frames are
byte-aligned and Parametric Map frames 4-byte aligned, which OHIF 3.13's loaders need. Real
series come in any size. This writes, for each requested size, a new study holding 12 slices
around the lesion of the demo's T1 axial series, resampled (bilinear) to that size with the
pixel spacing scaled to keep the field of view; UIDs are derived from the size, so the same
call writes the same files. Prints one JSON line per series.

    .venv/bin/python tests/e2e/lib/odd_size_series.py DEMO_DIR OUT_DIR 233x197 234x198
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid
from scipy.ndimage import zoom

SLICES_AROUND_LESION = 12


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["clue-e2e-odd-size", *map(str, parts)])


def write_series(demo_dir: Path, out_dir: Path, rows: int, columns: int) -> dict[str, object]:
    index = json.loads((demo_dir / "index.json").read_text())
    series = index["studies"][0]["series"][0]
    best = series["lesion"]["best"]["instance_number"]
    first = best - SLICES_AROUND_LESION // 2
    numbers = range(first, first + SLICES_AROUND_LESION)
    study_uid = _uid(rows, columns, "study")
    series_uid = _uid(rows, columns, "series")
    folder = out_dir / f"{rows}x{columns}"
    folder.mkdir(parents=True, exist_ok=True)
    sops = []
    for k, number in enumerate(numbers):
        ds = pydicom.dcmread(demo_dir / series["folder"] / f"{number:04d}.dcm")
        pixels = ds.pixel_array.astype(np.float32)
        factors = (rows / pixels.shape[0], columns / pixels.shape[1])
        resized = zoom(pixels, factors, order=1)
        assert resized.shape == (rows, columns), resized.shape
        stored = np.clip(np.rint(resized), 0, np.iinfo(np.uint16).max).astype(np.uint16)
        ds.Rows, ds.Columns = rows, columns
        spacing = [float(v) for v in ds.PixelSpacing]
        ds.PixelSpacing = [f"{spacing[0] / factors[0]:.6f}", f"{spacing[1] / factors[1]:.6f}"]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = stored.tobytes()
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = _uid(rows, columns, "instance", k)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDescription = f"CLUE odd size {rows}x{columns}"
        ds.SeriesDescription = f"T1 axial {rows}x{columns}"
        ds.StudyID = f"ODD{rows}"
        ds.AccessionNumber = f"ODD{rows}X{columns}"
        ds.InstanceNumber = k + 1
        ds.save_as(folder / f"{k + 1:04d}.dcm", enforce_file_format=True)
        sops.append(ds.SOPInstanceUID)
    return {
        "rows": rows,
        "columns": columns,
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": series_uid,
        "SeriesNumber": int(ds.SeriesNumber),
        "SeriesDescription": str(ds.SeriesDescription),
        "sopInstanceUIDs": sops,
        "folder": str(folder),
    }


def main(argv: list[str]) -> int:
    demo_dir, out_dir, *sizes = argv
    for size in sizes:
        rows, columns = (int(v) for v in size.lower().split("x"))
        print(json.dumps(write_series(Path(demo_dir), Path(out_dir), rows, columns)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
