"""Manifest: round trip, validation of every field the viewer relies on, file verification."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from clue.errors import UserFacingError
from clue.manifest import (
    Domain,
    Manifest,
    ModelFile,
    Postprocessing,
    PreprocessSpec,
    Provenance,
    TensorSpec,
    Threshold,
    file_entry,
    read_manifest,
    validate_manifest_dict,
    write_manifest,
)


def make_manifest(folder: Path) -> Manifest:
    (folder / "model.onnx").write_bytes(b"graph bytes")
    return Manifest(
        id="clue-demo-t1-axial",
        version="0.1.0",
        files=[file_entry(folder / "model.onnx", "float32", folder)],
        opset=17,
        input=TensorSpec("image", [1, 3, 224, 224], "float32"),
        outputs={
            "anomaly_map": TensorSpec("anomaly_map", [1, 224, 224]),
            "layer_maps": TensorSpec("layer_maps", [1, 4, 224, 224]),
            "score": TensorSpec("score", [1]),
        },
        layers=[3, 6, 9, 12],
        preprocessing=PreprocessSpec(size=224),
        postprocessing=Postprocessing(),
        threshold=Threshold(0.35, "validation split, max pixel F1"),
        provenance=Provenance(
            backbone="ViT-B/16 (OpenAI)",
            backbone_sha256="ab" * 32,
            training_data="demo",
            commit="0123abc",
            created="2026-11-23T10:00:00+00:00",
        ),
    )


def test_round_trip(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path)
    write_manifest(manifest, tmp_path / "manifest.json")
    assert read_manifest(tmp_path / "manifest.json", verify_files=True) == manifest
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert next(iter(data)) == "schema" and data["schema"] == "clue-manifest/1"
    # The documented example's field layout (docs/manifest.md).
    assert set(data) == {
        "schema",
        "id",
        "version",
        "files",
        "opset",
        "input",
        "outputs",
        "layers",
        "preprocessing",
        "postprocessing",
        "threshold",
        "provenance",
    }
    assert data["preprocessing"] == {
        "intensity": {
            "method": "percentile_clip",
            "low_percentile": 0.5,
            "high_percentile": 99.5,
            "foreground": "greater_than_min",
        },
        "square": {"method": "center_pad", "value": 0.0},
        "resize": {"method": "bicubic_antialias", "size": 224},
        "channels": 3,
        "normalize": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
    }
    assert "dtype" not in data["outputs"]["score"] and data["input"]["dtype"] == "float32"
    import hashlib

    assert data["files"][0] == {
        "path": "model.onnx",
        "dtype": "float32",
        "bytes": 11,
        "sha256": hashlib.sha256(b"graph bytes").hexdigest(),
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(schema="clue-manifest/2"), "schema must be"),
        (lambda d: d.pop("threshold"), "missing fields: threshold"),
        (lambda d: d["files"][0].update(sha256="XYZ"), "files[0].sha256"),
        (lambda d: d["files"][0].update(path="../model.onnx"), "files[0].path"),
        (lambda d: d["files"][0].update(dtype="uint8"), "files[0].dtype"),
        (lambda d: d.update(files=[]), "files must be a non-empty list"),
        (lambda d: d.update(layers=[3, 6, 9]), "outputs.layer_maps.shape must be [1, 3, 224, 224]"),
        (lambda d: d["input"].update(shape=[1, 3, 224, 200]), "input.shape must be [1, 3, S, S]"),
        (lambda d: d["preprocessing"]["resize"].update(size=336), "resize.size must equal the input size 224"),
        (lambda d: d["preprocessing"]["intensity"].update(low_percentile=99.9), "percentiles"),
        (lambda d: d["outputs"].pop("score"), "outputs.score is missing"),
        (lambda d: d["threshold"].update(default=1.5), "threshold.default"),
        (lambda d: d["provenance"].update(clinical_use="no"), "clinical_use"),
    ],
)
def test_validation_names_the_problem(tmp_path: Path, change, problem: str) -> None:  # type: ignore[no-untyped-def]
    good = make_manifest(tmp_path).to_json_dict()
    assert validate_manifest_dict(good) == []
    bad = copy.deepcopy(good)
    change(bad)
    problems = validate_manifest_dict(bad)
    assert any(problem in p for p in problems), problems
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(UserFacingError, match=r"manifest\.json: invalid manifest"):
        read_manifest(path)


DEMO_DOMAIN = Domain(
    modality=["MR"],
    body_part=["BRAIN", "HEAD"],
    sequences=["T1"],
    planes=["axial"],
    pixel_spacing_mm=[0.5, 2.0],
    note="synthetic lesions in one brain",
)


def test_domain_round_trip(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path)
    manifest.domain = DEMO_DOMAIN
    write_manifest(manifest, tmp_path / "manifest.json")
    assert read_manifest(tmp_path / "manifest.json").domain == DEMO_DOMAIN
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["domain"] == {
        "modality": ["MR"],
        "body_part": ["BRAIN", "HEAD"],
        "sequences": ["T1"],
        "planes": ["axial"],
        "pixel_spacing_mm": [0.5, 2.0],
        "note": "synthetic lesions in one brain",
    }
    # Undeclared fields are left out, not written as null; only the modality is required.
    manifest.domain = Domain(modality=["CR", "DX"], body_part=["CHEST"])
    write_manifest(manifest, tmp_path / "manifest.json")
    assert json.loads((tmp_path / "manifest.json").read_text())["domain"] == {
        "modality": ["CR", "DX"],
        "body_part": ["CHEST"],
    }
    assert read_manifest(tmp_path / "manifest.json").domain == Domain(modality=["CR", "DX"], body_part=["CHEST"])


def test_manifest_without_domain_stays_valid(tmp_path: Path) -> None:
    # A manifest written before the domain existed (the round trip above checks it writes none).
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(make_manifest(tmp_path).to_json_dict()))
    assert "domain" not in json.loads(path.read_text())
    assert read_manifest(path).domain is None


@pytest.mark.parametrize(
    ("domain", "problem"),
    [
        ("MR brain", "domain must be an object"),
        ({"body_part": ["BRAIN"]}, "domain.modality is missing"),
        ({"modality": "MR"}, "domain.modality must be a non-empty list"),
        ({"modality": []}, "domain.modality must be a non-empty list"),
        ({"modality": ["mr"]}, "domain.modality must be a non-empty list of distinct DICOM Modality codes"),
        ({"modality": ["MR", "MR"]}, "domain.modality must be a non-empty list of distinct"),
        ({"modality": ["MR"], "body_part": ["brain"]}, "domain.body_part must be"),
        ({"modality": ["MR"], "body_part": ["BRAIN "]}, "domain.body_part must be"),
        (
            {"modality": ["MR"], "sequences": ["T1W"]},
            "domain.sequences must be a non-empty list of distinct names from T1, T1CE, T2, FLAIR, PD, DWI",
        ),
        ({"modality": ["CT"], "sequences": ["T1"]}, "domain.sequences applies to MR only"),
        (
            {"modality": ["MR"], "planes": ["transverse"]},
            "domain.planes must be a non-empty list of distinct planes from axial, sagittal, coronal",
        ),
        ({"modality": ["MR"], "planes": []}, "domain.planes must be"),
        ({"modality": ["MR"], "pixel_spacing_mm": [2.0, 0.5]}, "domain.pixel_spacing_mm must be [min, max]"),
        ({"modality": ["MR"], "pixel_spacing_mm": [0, 2]}, "domain.pixel_spacing_mm must be [min, max]"),
        ({"modality": ["MR"], "pixel_spacing_mm": [1.0]}, "domain.pixel_spacing_mm must be [min, max]"),
        ({"modality": ["MR"], "note": 3}, "domain.note must be a string"),
        ({"modality": ["MR"], "bodypart": ["BRAIN"]}, "domain has unknown fields: bodypart"),
    ],
)
def test_domain_validation_names_the_field(tmp_path: Path, domain: object, problem: str) -> None:
    data = make_manifest(tmp_path).to_json_dict()
    data["domain"] = domain
    problems = validate_manifest_dict(data)
    assert any(problem in p for p in problems), problems
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserFacingError, match=r"invalid manifest: .*domain"):
        read_manifest(path)


def test_write_refuses_invalid_and_leaves_nothing(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path)
    manifest.layers = [3, 6]
    with pytest.raises(ValueError, match="invalid manifest"):
        write_manifest(manifest, tmp_path / "manifest.json")
    assert not (tmp_path / "manifest.json").exists() and not list(tmp_path.glob("*.tmp"))


def test_verify_files_detects_changes(tmp_path: Path) -> None:
    write_manifest(make_manifest(tmp_path), tmp_path / "manifest.json")
    (tmp_path / "model.onnx").write_bytes(b"graph bytez")
    with pytest.raises(UserFacingError, match="model.onnx does not match its size/sha256"):
        read_manifest(tmp_path / "manifest.json", verify_files=True)
    (tmp_path / "model.onnx").unlink()
    with pytest.raises(UserFacingError, match="model.onnx does not exist"):
        read_manifest(tmp_path / "manifest.json", verify_files=True)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="manifest does not exist"):
        read_manifest(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserFacingError, match=r"bad\.json: not valid JSON"):
        read_manifest(tmp_path / "bad.json")


def test_file_entry_hash(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "m.onnx").write_bytes(b"abc")
    entry = file_entry(tmp_path / "m.onnx", "float16", tmp_path)
    assert entry == ModelFile("m.onnx", "float16", 3, hashlib.sha256(b"abc").hexdigest())
