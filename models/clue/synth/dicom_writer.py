"""DICOM for a synthetic case: a classic MR image series (one file per slice) per view, and
the lesion's ground truth as a DICOM SEG that references that series (highdicom).

Everything is deterministic: UIDs come from ``pydicom.uid.generate_uid`` with entropy
sources naming the seed and the object (never the clock), dates and times are fixed, and
the few values highdicom draws from the clock or a random UID are overwritten afterwards.
Same inputs → byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from clue.synth.lesions import LABEL_CORE, LABEL_OEDEMA
from clue.synth.views import SliceGeometry, extract_slice, num_slices, slice_geometry

# Bump when the content of generated files changes, so UIDs of different content differ.
GENERATOR_VERSION = "clue-synth-2"
MANUFACTURER = "CLUE demo data generator (synthetic)"
# Fixed, obviously synthetic dates: the demo is not an examination that happened.
STUDY_DATE = "20000101"
STUDY_TIME = "120000"
# Stored value = round(real-world value / slope). An integer slope: the host viewer's image
# loader (Cornerstone 5.6 in OHIF 3.13) pre-scales a fractional slope into an integer array and
# floors the half steps away (seen on a third of the pixels of a lesion slice), so the browser
# would see other values than every DICOM reader; with slope 1 both see the same numbers.
RESCALE_SLOPE = 1.0
RESCALE_INTERCEPT = 0.0
UINT16_MAX = 65535

SYNTHETIC_NOTE = (
    "Synthetic demo data: real Colin27 T1 anatomy (MNI, mricron-data), simulated contrast and "
    "lesion. Not a patient. Not for clinical use."
)


def deterministic_uid(*parts: object) -> str:
    """A UID derived only from ``parts`` (and the generator version)."""
    return str(generate_uid(entropy_srcs=[GENERATOR_VERSION, *[str(p) for p in parts]]))


@dataclass(frozen=True)
class PatientInfo:
    name: str = "CLUE^Demo Colin27"
    patient_id: str = "CLUE-DEMO-COLIN27"
    sex: str = "M"  # Colin27 is one man scanned 27 times


@dataclass(frozen=True)
class StudyInfo:
    key: str
    study_uid: str
    description: str
    study_id: str
    frame_of_reference_uid: str
    patient: PatientInfo


@dataclass(frozen=True)
class SeriesInfo:
    key: str
    series_uid: str
    number: int
    description: str
    view: str
    contrast: str


@dataclass(frozen=True)
class WrittenSeries:
    """What was written: instance order is ascending along the slice normal."""

    files: list[Path]
    datasets: list[Dataset]  # as written (with pixel data)
    volume_indices: list[int]  # volume slice index of each instance, in instance order
    sop_instance_uids: list[str]


def instance_order(affine: np.ndarray, shape: tuple[int, ...], view: str) -> list[int]:
    """Volume slice indices in the order of increasing position along the slice normal, so
    InstanceNumber order and geometric order agree whatever a viewer sorts by."""
    count = num_slices(shape, view)
    first = slice_geometry(affine, shape, view, 0)
    if count < 2:
        return [0]
    second = slice_geometry(affine, shape, view, 1)
    step = np.subtract(second.image_position, first.image_position)
    ascending = float(np.dot(step, first.normal)) > 0
    indices = list(range(count))
    return indices if ascending else indices[::-1]


def window_for(volume: np.ndarray) -> tuple[float, float]:
    """Window centre/width covering the brain's 1st–99.5th percentile (real-world units)."""
    values = volume[volume > 0]
    if values.size == 0:
        return 500.0, 1000.0
    low, high = np.percentile(values, [1.0, 99.5])
    return round(float((low + high) / 2), 1), round(float(max(high - low, 1.0)), 1)


def _format_ds(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _mr_dataset(
    study: StudyInfo,
    series: SeriesInfo,
    geometry: SliceGeometry,
    instance_number: int,
    sop_uid: str,
    pixels: np.ndarray,
    window: tuple[float, float],
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = STUDY_DATE
    ds.SeriesDate = STUDY_DATE
    ds.ContentDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.SeriesTime = STUDY_TIME
    ds.ContentTime = STUDY_TIME
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = MANUFACTURER
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study.description
    ds.SeriesDescription = series.description
    ds.ImageComments = SYNTHETIC_NOTE
    ds.PatientName = study.patient.name
    ds.PatientID = study.patient.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = study.patient.sex
    ds.BodyPartExamined = "BRAIN"
    # Research mode: these images were not acquired with a real pulse sequence.
    ds.ScanningSequence = "RM"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "3D"
    ds.SliceThickness = _format_ds(geometry.slice_thickness)
    ds.RepetitionTime = ""
    ds.EchoTime = ""
    ds.EchoTrainLength = ""
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series.series_uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.number
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [_format_ds(v) for v in geometry.image_position]
    ds.ImageOrientationPatient = [_format_ds(v) for v in geometry.image_orientation]
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _format_ds(float(np.dot(geometry.image_position, geometry.normal)))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(pixels.shape[0])
    ds.Columns = int(pixels.shape[1])
    ds.PixelSpacing = [_format_ds(v) for v in geometry.pixel_spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.WindowCenter = _format_ds(window[0])
    ds.WindowWidth = _format_ds(window[1])
    ds.RescaleIntercept = _format_ds(RESCALE_INTERCEPT)
    ds.RescaleSlope = _format_ds(RESCALE_SLOPE)
    ds.RescaleType = "US"
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def to_stored(values: np.ndarray) -> np.ndarray:
    """Real-world values → uint16 stored values under RESCALE_SLOPE/INTERCEPT."""
    stored = np.rint((values - RESCALE_INTERCEPT) / RESCALE_SLOPE)
    return np.clip(stored, 0, UINT16_MAX).astype(np.uint16)


def write_mr_series(
    volume: np.ndarray, affine: np.ndarray, study: StudyInfo, series: SeriesInfo, folder: Path
) -> WrittenSeries:
    """One MR file per slice of ``series.view``: ``folder/0001.dcm`` … in instance order."""
    folder.mkdir(parents=True, exist_ok=True)
    window = window_for(volume)
    order = instance_order(affine, volume.shape, series.view)
    files: list[Path] = []
    datasets: list[Dataset] = []
    uids: list[str] = []
    for position, index in enumerate(order):
        instance_number = position + 1
        sop_uid = deterministic_uid(study.study_uid, series.series_uid, "sop", index)
        geometry = slice_geometry(affine, volume.shape, series.view, index)
        pixels = to_stored(extract_slice(volume, series.view, index))
        ds = _mr_dataset(study, series, geometry, instance_number, sop_uid, pixels, window)
        path = folder / f"{instance_number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
        datasets.append(ds)
        uids.append(sop_uid)
    return WrittenSeries(files=files, datasets=datasets, volume_indices=order, sop_instance_uids=uids)


@dataclass(frozen=True)
class SegmentPlan:
    number: int
    label: str
    property_type: object
    labels: tuple[int, ...]  # mask labels this segment covers
    colour_lab: tuple[float, float, float]


SEGMENTS: tuple[SegmentPlan, ...] = (
    SegmentPlan(1, "Lesion", codes.SCT.Lesion, (LABEL_CORE, LABEL_OEDEMA), (55.0, 80.0, 67.0)),
    SegmentPlan(2, "Tumour core", codes.SCT.Neoplasm, (LABEL_CORE,), (60.0, 40.0, 60.0)),
    SegmentPlan(3, "Oedema", codes.SCT.Edema, (LABEL_OEDEMA,), (90.0, -10.0, 80.0)),
)


def _replace_uid_everywhere(dataset: Dataset, old: str, new: str) -> None:
    def visit(ds: Dataset, element: pydicom.DataElement) -> None:
        if element.VR == "UI" and element.value == old:
            element.value = new

    dataset.walk(visit)


def write_seg(
    mask: np.ndarray,
    source: WrittenSeries,
    study: StudyInfo,
    series: SeriesInfo,
    seg_series_uid: str,
    seg_series_number: int,
    path: Path,
) -> hd.seg.Segmentation:
    """The ground truth of ``source`` as a binary DICOM SEG with three segments:
    1 Lesion (core ∪ oedema), 2 Tumour core, 3 Oedema. Frames exist only for slices where a
    segment is present (highdicom omits empty frames); each frame references its source
    image by SOP Instance UID."""
    planes = np.stack([extract_slice(mask, series.view, index) for index in source.volume_indices])
    stacked = np.stack([np.isin(planes, plan.labels) for plan in SEGMENTS], axis=-1).astype(
        np.uint8
    )  # [frames, rows, columns, segments]
    algorithm = hd.AlgorithmIdentificationSequence(
        name="CLUE synthetic lesion generator (ground truth by construction)",
        # No CID 7162 family says "drawn by construction"; the lesions are deformed shape
        # models (noise-perturbed ellipsoids), which is the closest honest term.
        family=codes.cid7162.DeformableModels,
        version=GENERATOR_VERSION,
        source="clue.synth",
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=plan.number,
            segment_label=plan.label,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=plan.property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            display_color=hd.color.CIELabColor(*plan.colour_lab),
        )
        for plan in SEGMENTS
    ]
    source_images = source.datasets
    seg_sop_uid = deterministic_uid(seg_series_uid, "seg-instance")
    seg = hd.seg.Segmentation(
        source_images=source_images,
        pixel_array=stacked,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=seg_series_uid,
        series_number=seg_series_number,
        sop_instance_uid=seg_sop_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="clue.synth",
        software_versions=GENERATOR_VERSION,
        device_serial_number="0",
        content_description="Synthetic ground truth",
        content_label="GROUND_TRUTH",
        content_creator_name="CLUE^Synthetic",
        series_description=f"Ground truth: {series.description}"[:64],
        omit_empty_frames=True,
    )
    # Clock- and random-derived values → fixed ones (determinism).
    for keyword in ("InstanceCreationDate", "ContentDate", "SeriesDate"):
        if keyword in seg:
            setattr(seg, keyword, STUDY_DATE)
    for keyword in ("InstanceCreationTime", "ContentTime", "SeriesTime"):
        if keyword in seg:
            setattr(seg, keyword, STUDY_TIME)
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = STUDY_DATE + STUDY_TIME
    for item in seg.get("DimensionOrganizationSequence", []):
        old = str(item.DimensionOrganizationUID)
        _replace_uid_everywhere(seg, old, deterministic_uid(seg_series_uid, "dimension-organization"))
    seg.ImageComments = SYNTHETIC_NOTE
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path, enforce_file_format=True)
    return seg
