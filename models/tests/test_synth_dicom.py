"""clue demo-data: the generated DICOM series, SEGs, dicomjson and index (one real run)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from clue.synth.anatomy import DEFAULT_COLIN27_PATH
from clue.synth.dicom_writer import RESCALE_SLOPE
from clue.synth.generate import generate_demo

pytestmark = pytest.mark.skipif(
    not DEFAULT_COLIN27_PATH.exists(), reason=f"Colin27 not installed at {DEFAULT_COLIN27_PATH} (Debian mricron-data)"
)

EXPECTED_ORIENTATION = {
    "axial": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    "sagittal": [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
    "coronal": [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(out, seed=0)
    return out


@pytest.fixture(scope="module")
def index(demo: Path) -> dict:
    return json.loads((demo / "index.json").read_text())


def _all_series(index: dict) -> list[tuple[dict, dict]]:
    return [(study, series) for study in index["studies"] for series in study["series"]]


def _file_digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_complete_marker(demo: Path, index: dict) -> None:
    assert (demo / ".complete").is_file()
    assert (demo / "dicomjson" / "demo.json").is_file()
    assert index["format"] == "clue-demo-data/1"
    keys = {s["key"]: s for s in index["studies"]}
    assert set(keys) == {"lesion", "normal"}
    lesion_series = {s["key"] for s in keys["lesion"]["series"]}
    assert lesion_series == {"t1-axial", "t1-sagittal", "t1-coronal", "t2-axial", "flair-axial"}
    assert {s["key"] for s in keys["normal"]["series"]} == {"t1-axial", "t1-sagittal", "t1-coronal"}
    for study, series in _all_series(index):
        files = sorted((demo / series["folder"]).glob("*.dcm"))
        assert len(files) == series["num_instances"]
        assert files[0].name == "0001.dcm"
        assert (series["seg"] is not None) == study["lesion"]
    # No staging or old folders left beside the output.
    assert [p.name for p in demo.parent.iterdir()] == ["demo"]


@pytest.mark.parametrize(
    "study_key,series_key", [("lesion", "t1-axial"), ("lesion", "t1-sagittal"), ("normal", "t1-coronal")]
)
def test_series_geometry_steps_along_the_normal(demo: Path, index: dict, study_key: str, series_key: str) -> None:
    series = next(s for st, s in _all_series(index) if st["key"] == study_key and s["key"] == series_key)
    datasets = [pydicom.dcmread(p) for p in sorted((demo / series["folder"]).glob("*.dcm"))]
    orientation = [float(v) for v in datasets[0].ImageOrientationPatient]
    assert orientation == EXPECTED_ORIENTATION[series["view"]]
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    steps = np.diff(positions, axis=0)
    thickness = float(datasets[0].SliceThickness)
    # Every step is exactly one slice thickness along the normal, ascending with InstanceNumber.
    np.testing.assert_allclose(steps @ normal, thickness, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(steps, axis=1), thickness, atol=1e-5)
    assert [int(ds.InstanceNumber) for ds in datasets] == list(range(1, len(datasets) + 1))
    for ds in datasets[:3]:
        assert ds.Modality == "MR" and ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
        assert float(ds.RescaleSlope) == RESCALE_SLOPE
        # Byte-aligned 1-bit SEG frames need rows × columns to be a multiple of 8.
        assert ds.Rows % 8 == 0 and ds.Columns % 8 == 0
        assert ds.FrameOfReferenceUID == datasets[-1].FrameOfReferenceUID
        assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)


def test_seg_references_its_series_and_frames_line_up_with_lesion_slices(demo: Path, index: dict) -> None:
    for study, series in _all_series(index):
        if not study["lesion"]:
            continue
        files = sorted((demo / series["folder"]).glob("*.dcm"))
        sop_by_position = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]
        seg = hd.seg.segread(demo / series["seg"]["path"])
        assert seg.SegmentationType == "BINARY"
        assert [str(s.SegmentLabel) for s in seg.SegmentSequence] == ["Lesion", "Tumour core", "Oedema"]
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series["SeriesInstanceUID"]
        referenced = {
            str(i.ReferencedSOPInstanceUID) for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        }
        assert referenced == set(sop_by_position)
        # Frames of segment 1 ("Lesion") are exactly on the slices the index lists.
        lesion_positions = set()
        for frame in seg.PerFrameFunctionalGroupsSequence:
            if int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber) != 1:
                continue
            uid = str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
            lesion_positions.add(sop_by_position.index(uid))
        assert sorted(p + 1 for p in lesion_positions) == series["lesion"]["instance_numbers"]
        best = series["lesion"]["best"]
        assert sop_by_position[best["position"]] == best["sop_instance_uid"]
        masks = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[best["sop_instance_uid"]], segment_numbers=[1]
        )
        assert int(np.count_nonzero(masks)) == best["lesion_pixels"] > 0
        assert best["url"].endswith(f"{series['folder']}/{best['instance_number']:04d}.dcm")


def test_lesion_and_normal_series_differ_only_near_the_lesion(demo: Path, index: dict) -> None:
    by_key = {(st["key"], s["key"]): s for st, s in _all_series(index)}
    lesion, normal = by_key[("lesion", "t1-axial")], by_key[("normal", "t1-axial")]
    best = lesion["lesion"]["best"]["instance_number"]
    far = lesion["lesion"]["first_instance_number"] - 5
    read = lambda s, n: pydicom.dcmread(demo / s["folder"] / f"{n:04d}.dcm").pixel_array  # noqa: E731
    assert not np.array_equal(read(lesion, best), read(normal, best))
    np.testing.assert_array_equal(read(lesion, far), read(normal, far))


def test_dicomjson_lists_every_instance_with_its_url(demo: Path, index: dict) -> None:
    data = json.loads((demo / "dicomjson" / "demo.json").read_text())
    assert set(data) == {"studies"}
    files_on_disk = {p.relative_to(demo).as_posix() for p in (demo / "dicom").rglob("*.dcm")}
    listed: set[str] = set()
    for study in data["studies"]:
        for key in ("StudyInstanceUID", "PatientID", "PatientName", "StudyDescription", "StudyDate"):
            assert study[key], key
        assert study["NumInstances"] == sum(len(s["instances"]) for s in study["series"])
        for series in study["series"]:
            assert series["SeriesInstanceUID"] and isinstance(series["SeriesNumber"], int)
            for instance in series["instances"]:
                url = instance["url"]
                assert url.startswith("dicomweb:/demo-data/dicom/")
                listed.add(url.removeprefix("dicomweb:/demo-data/"))
                metadata = instance["metadata"]
                assert metadata["SeriesInstanceUID"] == series["SeriesInstanceUID"]
                assert metadata["StudyInstanceUID"] == study["StudyInstanceUID"]
                assert "PixelData" not in metadata
                if metadata["Modality"] == "MR":
                    assert (
                        isinstance(metadata["ImagePositionPatient"], list)
                        and len(metadata["ImagePositionPatient"]) == 3
                    )
                    assert metadata["Rows"] > 0 and metadata["RescaleSlope"] == RESCALE_SLOPE
                else:
                    assert metadata["Modality"] == "SEG"
                    assert metadata["NumberOfFrames"] == len(metadata["PerFrameFunctionalGroupsSequence"])
                    assert metadata["ReferencedSeriesSequence"][0]["SeriesInstanceUID"]
                    assert [s["SegmentLabel"] for s in metadata["SegmentSequence"]][0] == "Lesion"
    assert listed == files_on_disk


def test_same_seed_gives_byte_identical_output(demo: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_demo(again, seed=0)
    assert _file_digests(demo) == _file_digests(again)


def test_other_seed_gives_other_uids_and_lesion(index: dict, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_demo(other, seed=1, extra_contrasts=False)
    other_index = json.loads((other / "index.json").read_text())
    assert other_index["lesion"] != index["lesion"]
    uids = {s["SeriesInstanceUID"] for _, s in _all_series(index)}
    other_uids = {s["SeriesInstanceUID"] for _, s in _all_series(other_index)}
    assert not uids & other_uids


def test_regeneration_replaces_the_folder_atomically(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "stale.txt").write_text("from an older run")
    generate_demo(out, seed=2, extra_contrasts=False)
    assert not (out / "stale.txt").exists()
    assert (out / ".complete").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) not installed")
def test_dciodvfy_reports_no_errors_on_an_mr_image_and_a_seg(demo: Path, index: dict) -> None:
    series = next(s for st, s in _all_series(index) if st["key"] == "lesion" and s["key"] == "t1-axial")
    for path in (demo / series["folder"] / "0080.dcm", demo / series["seg"]["path"]):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
        report = (result.stdout + result.stderr).splitlines()
        print(f"dciodvfy {path.name}:", *report, sep="\n  ")
        errors = [line for line in report if line.startswith("Error")]
        assert not errors, errors
