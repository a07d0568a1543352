"""Odd-sized copies of the demo lesion series, for the e2e `results-odd-size` scenario.

The demo images are 192×152, whose rows × columns is a multiple of 8: stored SEG frames are
byte-aligned and Parametric Map frames 4-byte aligned, which OHIF 3.13's loaders need. Real
series come in any size. This writes, for each requested size, a new study holding 12 slices
around the lesion of the demo's T1 axial series, resampled (bilinear) to that size with the
pixel spacing scaled to keep the field of view, and its ground truth: a BINARY SEG written by
highdicom (segment 1 "Lesion" of the demo's SEG, resampled nearest-neighbour; frames only
where the lesion is). UIDs are derived from the size, so the same call writes the same files.
Prints one JSON line per series, with the lesion's pixel indices per slice for the test's
own recomputation.

    .venv/bin/python tests/e2e/lib/odd_size_series.py DEMO_DIR OUT_DIR 233x197 234x198
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
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
    originals = [pydicom.dcmread(demo_dir / series["folder"] / f"{number:04d}.dcm") for number in numbers]
    lesion = _lesion_masks(demo_dir / series["seg"]["path"], [str(d.SOPInstanceUID) for d in originals])
    written = []
    for k, ds in enumerate(originals):
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
        written.append(pydicom.dcmread(folder / f"{k + 1:04d}.dcm"))
    masks = np.stack([zoom(m.astype(np.uint8), factors, order=0) for m in lesion]).astype(bool)
    seg_series_uid = _uid(rows, columns, "seg-series")
    _write_ground_truth(written, masks, seg_series_uid, folder / "seg.dcm", f"Ground truth {rows}x{columns}")
    return {
        "rows": rows,
        "columns": columns,
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": series_uid,
        "SeriesNumber": int(ds.SeriesNumber),
        "SeriesDescription": str(ds.SeriesDescription),
        "sopInstanceUIDs": sops,
        "folder": str(folder),
        "groundTruth": {
            "SeriesInstanceUID": seg_series_uid,
            "SeriesNumber": 100,
            "SeriesDescription": f"Ground truth {rows}x{columns}",
            "lesionPixels": [np.flatnonzero(m).tolist() for m in masks],
        },
    }


def _lesion_masks(seg_path: Path, sop_uids: list[str]) -> np.ndarray:
    """Segment 1 ("Lesion") of the demo SEG on the given source images (empty where absent)."""
    seg = hd.seg.segread(seg_path)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=sop_uids,
        segment_numbers=[1],
        assert_missing_frames_are_empty=True,
    )
    return pixels[..., 0] > 0


def _write_ground_truth(sources: list, masks: np.ndarray, series_uid: str, path: Path, description: str) -> None:
    algorithm = hd.AlgorithmIdentificationSequence(
        name="CLUE synthetic lesion generator (resampled)",
        family=codes.cid7162.DeformableModels,
        version="1",
    )
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=masks.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=series_uid,
        series_number=100,
        sop_instance_uid=_uid(series_uid, "instance"),
        instance_number=1,
        manufacturer="CLUE e2e",
        manufacturer_model_name="odd_size_series.py",
        software_versions="1",
        device_serial_number="0",
        series_description=description,
        omit_empty_frames=True,
    )
    seg.save_as(path, enforce_file_format=True)


def main(argv: list[str]) -> int:
    demo_dir, out_dir, *sizes = argv
    for size in sizes:
        rows, columns = (int(v) for v in size.lower().split("x"))
        print(json.dumps(write_series(Path(demo_dir), Path(out_dir), rows, columns)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
