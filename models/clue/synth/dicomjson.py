"""OHIF's static ``dicomjson`` data source file for written DICOM files.

Shape (what OHIF's extension-default DicomJSONDataSource reads):

    {"studies": [{StudyInstanceUID, StudyDescription, StudyDate, StudyTime, PatientName,
                  PatientID, AccessionNumber, PatientSex, NumInstances, Modalities,
                  "series": [{SeriesInstanceUID, SeriesDescription, SeriesNumber, Modality,
                              SeriesDate, SeriesTime, SliceThickness?,
                              "instances": [{"metadata": {...}, "url": "dicomweb:<url>"}]}]}]}

``metadata`` is the instance's naturalized DICOM (keywords as keys, numbers as numbers,
multi-valued attributes as lists, sequences as lists of objects, person names as
{"Alphabetic": ...}); bulk data (PixelData) is left out — the viewer fetches the file at
``url``. A SEG instance carries its whole header (segments, per-frame functional groups,
references), which OHIF's SEG loader reads from this metadata before fetching the frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

_BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
_INTEGER_VRS = {"IS", "SL", "SS", "UL", "US", "SV", "UV"}
_FLOAT_VRS = {"DS", "FL", "FD"}


def _natural_value(element: DataElement) -> object:
    vr = element.VR
    value = element.value
    if vr == "SQ":
        return [naturalize(item) for item in value]
    values = list(value) if element.VM > 1 else ([] if element.VM == 0 else [value])
    if vr == "PN":
        converted: list[object] = [{"Alphabetic": str(v)} for v in values]
    elif vr in _INTEGER_VRS:
        converted = [int(v) for v in values]
    elif vr in _FLOAT_VRS:
        converted = [float(v) for v in values]
    else:
        converted = [str(v) for v in values]
    if not converted:
        return ""
    return converted[0] if len(converted) == 1 else converted


def naturalize(dataset: Dataset) -> dict[str, object]:
    """Keyword → value for every public, non-binary attribute (file meta excluded)."""
    result: dict[str, object] = {}
    for element in dataset:
        if element.tag.is_private or element.tag.group == 0x0002:
            continue
        if element.VR in _BINARY_VRS or element.VR == "AT" or not element.keyword:
            continue
        result[element.keyword] = _natural_value(element)
    return result


@dataclass(frozen=True)
class JsonSeries:
    datasets: list[Dataset]
    urls: list[str]


def _series_entry(series: JsonSeries) -> dict[str, object]:
    first = series.datasets[0]
    entry: dict[str, object] = {
        "SeriesInstanceUID": str(first.SeriesInstanceUID),
        "SeriesDescription": str(first.get("SeriesDescription", "")),
        "SeriesNumber": int(first.SeriesNumber),
        "Modality": str(first.Modality),
        "SeriesDate": str(first.get("SeriesDate", "")),
        "SeriesTime": str(first.get("SeriesTime", "")),
    }
    if "SliceThickness" in first and first.SliceThickness not in (None, ""):
        entry["SliceThickness"] = float(first.SliceThickness)
    entry["instances"] = [{"metadata": naturalize(ds), "url": url} for ds, url in zip(series.datasets, series.urls)]
    return entry


def build_dicomjson(studies: Iterable[list[JsonSeries]]) -> dict[str, object]:
    """``studies``: per study, its series (each with its datasets and their URLs)."""
    out: list[dict[str, object]] = []
    for study_series in studies:
        first = study_series[0].datasets[0]
        series_entries = [_series_entry(s) for s in study_series]
        modalities: list[str] = []
        for s in series_entries:
            if s["Modality"] not in modalities:
                modalities.append(str(s["Modality"]))
        out.append(
            {
                "StudyInstanceUID": str(first.StudyInstanceUID),
                "StudyDescription": str(first.get("StudyDescription", "")),
                "StudyDate": str(first.get("StudyDate", "")),
                "StudyTime": str(first.get("StudyTime", "")),
                # A plain string here: the study list shows it as is.
                "PatientName": str(first.get("PatientName", "")),
                "PatientID": str(first.PatientID),
                "PatientSex": str(first.get("PatientSex", "")),
                "AccessionNumber": str(first.get("AccessionNumber", "")),
                "NumInstances": sum(len(s.datasets) for s in study_series),
                "Modalities": "/".join(modalities),
                "series": series_entries,
            }
        )
    return {"studies": out}


def file_url(url_prefix: str, root: Path, path: Path) -> str:
    """``dicomweb:<prefix><path relative to root>`` with forward slashes."""
    relative = path.relative_to(root).as_posix()
    return f"dicomweb:{url_prefix.rstrip('/')}/{relative}"
