"""The demo data set: DICOM studies + SEG ground truth + OHIF dicomjson + index, from a seed.

Layout under ``out``::

    dicom/<study>/<NN-series>/<NNNN>.dcm     MR images, one file per slice
    dicom/<study>/<1NN-seg-series>/0001.dcm  DICOM SEG of the lesion series NN
    dicomjson/demo.json                      OHIF dicomjson data source file
    index.json                               what was made (UIDs, lesion slices, seeds)
    .complete                                written last

Studies (one patient, "CLUE^Demo Colin27"):

- ``lesion``: T1 axial, sagittal, coronal (series 1–3) and, unless disabled, T2-like and
  FLAIR-like axial (series 4–5), all showing the same synthetic lesion (the seed's); each
  with its ground-truth SEG (series 101–105);
- ``normal``: T1 axial, sagittal, coronal without a lesion, same acquisition.

The folder is built next to ``out`` and renamed into place, so ``out`` is never half
written. Same seed → byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clue.errors import UserFacingError
from clue.synth.anatomy import Anatomy, load_anatomy
from clue.synth.case import make_lesion, render_case
from clue.synth.contrasts import CONTRAST_DESCRIPTIONS
from clue.synth.dicom_writer import (
    GENERATOR_VERSION,
    PatientInfo,
    SeriesInfo,
    StudyInfo,
    deterministic_uid,
    write_mr_series,
    write_seg,
)
from clue.synth.dicomjson import JsonSeries, build_dicomjson, file_url
from clue.synth.lesions import MASK_LABEL_NAMES
from clue.synth.views import extract_slice

INDEX_FORMAT = "clue-demo-data/1"
DEFAULT_URL_PREFIX = "/demo-data/"
SEG_SERIES_OFFSET = 100


@dataclass(frozen=True)
class SeriesPlan:
    key: str
    number: int
    contrast: str
    view: str


@dataclass(frozen=True)
class StudyPlan:
    key: str
    study_id: str
    lesion: bool
    series: tuple[SeriesPlan, ...]


def demo_plan(extra_contrasts: bool = True) -> tuple[StudyPlan, ...]:
    t1_views = tuple(
        SeriesPlan(key=f"t1-{view}", number=i + 1, contrast="t1", view=view)
        for i, view in enumerate(("axial", "sagittal", "coronal"))
    )
    extras = (
        (SeriesPlan("t2-axial", 4, "t2", "axial"), SeriesPlan("flair-axial", 5, "flair", "axial"))
        if extra_contrasts
        else ()
    )
    return (
        StudyPlan(key="lesion", study_id="1", lesion=True, series=t1_views + extras),
        StudyPlan(key="normal", study_id="2", lesion=False, series=t1_views),
    )


def _study_description(plan: StudyPlan, seed: int) -> str:
    contrasts = "/".join(dict.fromkeys(CONTRAST_DESCRIPTIONS[s.contrast].split(" ")[0] for s in plan.series))
    if plan.lesion:
        return f"Colin27 {contrasts} with synthetic lesion (seed {seed})"
    return f"Colin27 {contrasts} lesion-free (seed {seed})"


def _series_description(series: SeriesPlan, lesion: bool) -> str:
    suffix = "synthetic lesion" if lesion else "lesion-free"
    return f"{CONTRAST_DESCRIPTIONS[series.contrast]} {series.view}, {suffix}"


def _lesion_summary(
    mask: np.ndarray, view: str, order: list[int], sops: list[str], urls: list[str]
) -> dict[str, object] | None:
    areas = [int(np.count_nonzero(extract_slice(mask, view, index))) for index in order]
    with_lesion = [position for position, area in enumerate(areas) if area > 0]
    if not with_lesion:
        return None
    best = int(np.argmax(areas))
    return {
        "instance_numbers": [p + 1 for p in with_lesion],
        "first_instance_number": with_lesion[0] + 1,
        "last_instance_number": with_lesion[-1] + 1,
        "best": {
            "instance_number": best + 1,
            "position": best,
            "volume_index": order[best],
            "sop_instance_uid": sops[best],
            "url": urls[best],
            "lesion_pixels": areas[best],
        },
    }


def generate_demo(
    out: Path,
    seed: int = 0,
    colin27_path: str | Path | None = None,
    url_prefix: str = DEFAULT_URL_PREFIX,
    extra_contrasts: bool = True,
) -> dict[str, object]:
    """Write the demo data set to ``out`` (replacing it atomically); returns the index."""
    anatomy = load_anatomy(colin27_path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        index = _write_all(staging, anatomy, seed, url_prefix, extra_contrasts)
        (staging / "index.json").write_text(json.dumps(index, indent=2) + "\n")
        (staging / ".complete").write_text(f"{INDEX_FORMAT}\n")
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return index


def _swap_into_place(staging: Path, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserFacingError(f"{out}: exists and is not a folder")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    staging.rename(out)
    if old.exists():
        shutil.rmtree(old)


# Every image dimension a multiple of 8, so each 1-bit SEG frame (rows × columns bits) ends on
# a byte boundary and no frame needs padding: OHIF 3.13's SEG loader and Orthanc's frame
# extraction both reject bit-packed frames that straddle bytes ("calculated length … does not
# match"; Orthanc 400 "Bad file format"). Padding at the high end of each axis keeps the
# volume's origin, so the affine is unchanged.
DICOM_DIMENSION_MULTIPLE = 8


def pad_for_dicom(volume: np.ndarray) -> np.ndarray:
    """Zero-pad each axis at its high end to a multiple of DICOM_DIMENSION_MULTIPLE."""
    return np.pad(volume, [(0, -size % DICOM_DIMENSION_MULTIPLE) for size in volume.shape])


def _write_all(root: Path, anatomy: Anatomy, seed: int, url_prefix: str, extra_contrasts: bool) -> dict[str, object]:
    patient = PatientInfo()
    lesion = make_lesion(anatomy, seed)
    lesion_mask = pad_for_dicom(lesion.mask)
    dicom_root = root / "dicom"
    json_studies: list[list[JsonSeries]] = []
    index_studies: list[dict[str, object]] = []

    for study_plan in demo_plan(extra_contrasts):
        study_uid = deterministic_uid("study", study_plan.key, seed)
        study = StudyInfo(
            key=study_plan.key,
            study_uid=study_uid,
            description=_study_description(study_plan, seed),
            study_id=study_plan.study_id,
            frame_of_reference_uid=deterministic_uid(study_uid, "frame-of-reference"),
            patient=patient,
        )
        study_json: list[JsonSeries] = []
        study_index: dict[str, object] = {
            "key": study_plan.key,
            "StudyInstanceUID": study_uid,
            "StudyDescription": study.description,
            "lesion": study_plan.lesion,
            "series": [],
        }
        renders: dict[str, np.ndarray] = {}
        for series_plan in study_plan.series:
            if series_plan.contrast not in renders:
                case = render_case(anatomy, seed, series_plan.contrast, lesion if study_plan.lesion else None)
                renders[series_plan.contrast] = pad_for_dicom(case.volume)
            volume = renders[series_plan.contrast]
            series = SeriesInfo(
                key=series_plan.key,
                series_uid=deterministic_uid(study_uid, "series", series_plan.key),
                number=series_plan.number,
                description=_series_description(series_plan, study_plan.lesion),
                view=series_plan.view,
                contrast=series_plan.contrast,
            )
            folder = dicom_root / study_plan.key / f"{series_plan.number:02d}-{series_plan.key}"
            written = write_mr_series(volume, anatomy.affine, study, series, folder)
            urls = [file_url(url_prefix, root, f) for f in written.files]
            study_json.append(JsonSeries(datasets=written.datasets, urls=urls))
            series_index: dict[str, object] = {
                "key": series_plan.key,
                "SeriesInstanceUID": series.series_uid,
                "SeriesNumber": series.number,
                "SeriesDescription": series.description,
                "contrast": series_plan.contrast,
                "view": series_plan.view,
                "folder": folder.relative_to(root).as_posix(),
                "num_instances": len(written.files),
                "rows": int(written.datasets[0].Rows),
                "columns": int(written.datasets[0].Columns),
                "first_sop_instance_uid": written.sop_instance_uids[0],
                "lesion": None,
                "seg": None,
            }
            if study_plan.lesion:
                series_index["lesion"] = _lesion_summary(
                    lesion_mask, series_plan.view, written.volume_indices, written.sop_instance_uids, urls
                )
                seg_number = SEG_SERIES_OFFSET + series_plan.number
                seg_uid = deterministic_uid(study_uid, "seg-series", series_plan.key)
                seg_path = dicom_root / study_plan.key / f"{seg_number:03d}-seg-{series_plan.key}" / "0001.dcm"
                seg = write_seg(lesion_mask, written, study, series, seg_uid, seg_number, seg_path)
                seg_url = file_url(url_prefix, root, seg_path)
                study_json.append(JsonSeries(datasets=[seg], urls=[seg_url]))
                series_index["seg"] = {
                    "SeriesInstanceUID": seg_uid,
                    "SOPInstanceUID": str(seg.SOPInstanceUID),
                    "SeriesNumber": seg_number,
                    "path": seg_path.relative_to(root).as_posix(),
                    "url": seg_url,
                    "num_frames": int(seg.NumberOfFrames),
                    "segments": [
                        {"number": int(item.SegmentNumber), "label": str(item.SegmentLabel)}
                        for item in seg.SegmentSequence
                    ],
                }
            study_index["series"].append(series_index)  # type: ignore[union-attr]
        json_studies.append(study_json)
        index_studies.append(study_index)

    (root / "dicomjson").mkdir()
    dicomjson = build_dicomjson(json_studies)
    (root / "dicomjson" / "demo.json").write_text(json.dumps(dicomjson, separators=(",", ":")) + "\n")

    return {
        "format": INDEX_FORMAT,
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "lesion_seed": seed,
        "lesion": lesion.spec.as_dict(),
        "mask_labels": {str(k): v for k, v in MASK_LABEL_NAMES.items()},
        "source": {"file": Path(anatomy.source).name, "crc32": anatomy.source_crc32},
        "volume": {"shape": list(anatomy.shape), "spacing_mm": list(anatomy.spacing)},
        "patient": {"PatientName": patient.name, "PatientID": patient.patient_id},
        "url_prefix": url_prefix,
        "dicomjson": "dicomjson/demo.json",
        "instance_order": "InstanceNumber = 1 + position along the slice normal (ascending)",
        "studies": index_studies,
    }
