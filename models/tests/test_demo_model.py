"""The demo-model pipeline end to end at toy size: pretrain → train → eval → export."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from clue.cli import main
from clue.configfile import read_toml
from clue.demo_model import DEFAULT_EVAL_CONFIG, DEMO_DOMAIN, build_demo_model, demo_domain
from clue.manifest import Domain, read_manifest

PRETRAIN = """
[pretrain]
seed = 0
embed_dim = 32
image_size = 32
patch_size = 8
vision_width = 64
vision_layers = 2
text_width = 64
text_layers = 1
cases = 1
sequences = ["t1", "t2"]
views = ["axial"]
slices_per_lesion = 4
normal_slices = 2
lesion_free_cases = 0
steps = 4
batch_size = 4
warmup_steps = 1
log_every = 2
"""

TRAIN = """
seed = 0
epochs = 1
batch_size = 4
backbone = "replaced-by-demo-model.safetensors"
log_every = 2
id = "clue-demo-toy"

[model]
n_ctx = 2

[data]
kind = "demo-synthetic"
options = { split = "train", cases = 1, sequences = ["t1"], views = ["axial"], slices_per_lesion = 4, normal_slices = 2 }

[validation]
kind = "demo-synthetic"
options = { split = "val", cases = 1, sequences = ["t1"], views = ["axial"], slices_per_lesion = 4, normal_slices = 2 }
"""

EVAL = """
batch_size = 8

[[table1]]
name = "toy test"
kind = "demo-synthetic"
options = { split = "test", cases = 1, sequences = ["t1", "t2"], views = ["axial", "coronal"], slices_per_lesion = 4, normal_slices = 2 }
"""


QUALITY = """
[[table1]]
name = "toy validation"
kind = "demo-synthetic"
options = { split = "val", cases = 1, sequences = ["t1"], views = ["axial"], slices_per_lesion = 4, normal_slices = 2 }
"""


def _configs(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in (("pretrain", PRETRAIN), ("train", TRAIN), ("eval", EVAL), ("quality", QUALITY)):
        paths[name] = tmp_path / f"{name}.toml"
        paths[name].write_text(text)
    return paths


def test_toy_demo_build_ships_a_verified_manifest(tmp_path: Path) -> None:
    configs = _configs(tmp_path)
    out = tmp_path / "demo"
    result = build_demo_model(
        out,
        configs["pretrain"],
        configs["train"],
        configs["eval"],
        quality_config=configs["quality"],
        progress=lambda _: None,
    )

    for name in ("model.onnx", "model.fp16.onnx", "model.int8.onnx", "manifest.json", "eval.json", "table.md"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    read_manifest(out / "manifest.json", verify_files=True)
    provenance = manifest["provenance"]
    assert provenance["clinical_use"] is False
    assert "Colin27" in provenance["intended_use"] and "Not for clinical use" in provenance["intended_use"]
    assert "synthetic" in provenance["training_data"] and "Colin27" in provenance["training_data"]
    assert "pre-trained" in provenance["backbone"] and "not OpenAI" in provenance["backbone"]
    backbone = out / "checkpoints" / "backbone.safetensors"
    assert provenance["backbone_sha256"] == hashlib.sha256(backbone.read_bytes()).hexdigest()
    assert manifest["input"]["shape"] == [1, 3, 32, 32]
    assert manifest["id"] == "clue-demo-toy"
    assert "validation set" in manifest["threshold"]["chosen_on"]
    # The domain note carries the build's own validation figures (those the threshold came from).
    assert manifest["domain"]["note"].startswith(DEMO_DOMAIN["note"])
    assert "On the validation slices its threshold was chosen on" in manifest["domain"]["note"]
    # One command ships every variant, each with its quality against float32 on validation data.
    assert [entry["dtype"] for entry in manifest["files"]] == ["float32", "float16", "int8"]
    for entry in manifest["files"][1:]:
        assert entry["quality"]["slices"] == 6 and "split=val" in entry["quality"]["eval_set"]

    evaluation = json.loads((out / "eval.json").read_text())
    table = evaluation["table1"]["toy test"]
    assert table["rows"] == ["T1", "T2"] and table["columns"] == ["axial", "coronal"]
    assert all(0.0 <= v <= 1.0 for row in table["pixel_auroc"] for v in row if v is not None)
    assert "T1" in (out / "table.md").read_text() and result.seconds["total"] > 0
    # Intermediate files stay in the (git-ignored) work folder, not beside the shipped ones.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["checkpoints", "eval.json", "manifest.json", "model.fp16.onnx", "model.int8.onnx", "model.onnx", "table.md"]
    )

    # Reusing the backbone with a config that says otherwise: the provenance keeps the backbone's own record.
    other = tmp_path / "other_pretrain.toml"
    other.write_text(configs["pretrain"].read_text().replace("steps = 4", "steps = 9"))
    build_demo_model(
        out,
        other,
        configs["train"],
        configs["eval"],
        quality_config=configs["quality"],
        reuse_backbone=True,
        progress=lambda _: None,
    )
    reused = json.loads((out / "manifest.json").read_text())["provenance"]
    assert "(4 steps, contrastive loss" in reused["backbone"], reused["backbone"]
    assert reused["backbone_sha256"] == provenance["backbone_sha256"]


def test_cli_names_a_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo-model", "--out", str(tmp_path / "x"), "--train-config", str(tmp_path / "nope.toml")])
    assert code == 2
    assert "nope.toml: config file does not exist" in capsys.readouterr().err


def test_shipped_demo_model_manifest_matches_its_files() -> None:
    """The committed demo model (models/artifacts/demo) is what the viewer loads by default."""
    folder = Path(__file__).resolve().parents[1] / "artifacts" / "demo"
    manifest = read_manifest(folder / "manifest.json", verify_files=True)  # sizes + sha256
    assert manifest.provenance.clinical_use is False
    assert "DEMO MODEL" in manifest.provenance.intended_use and "Colin27" in manifest.provenance.intended_use
    assert [entry.dtype for entry in manifest.files] == ["float32", "float16", "int8"]
    # The variants (clue variants, docs/manifest.md) carry their quality against float32,
    # measured on the validation selection set, never on the held-out protocol.
    for entry in manifest.files[1:]:
        assert entry.quality is not None and entry.quality.slices == 160
        assert "split=val" in entry.quality.eval_set and "split=test" not in entry.quality.eval_set
    # The validated domain the panel shows and checks slices against is the build's own; its
    # note quotes the validation figures.
    assert manifest.domain is not None and manifest.domain.note is not None
    assert dataclasses.replace(manifest.domain, note=DEMO_DOMAIN["note"]) == Domain(**DEMO_DOMAIN)
    assert manifest.domain.note.startswith(
        DEMO_DOMAIN["note"] + " On the validation slices its threshold was chosen on"
    )
    # eval.json holds the whole protocol of configs/demo_eval.toml: Table 1 on Colin27 test
    # lesions, then the held-out brain, family and scanner.
    eval_config = read_toml(DEFAULT_EVAL_CONFIG, "eval config")
    table = json.loads((folder / "eval.json").read_text())["table1"]
    assert list(table) == [entry["name"] for entry in eval_config["table1"]]
    cells = table["synthetic test lesions (Colin27)"]
    assert cells["rows"] == ["T1", "T2", "FLAIR"] and cells["columns"] == ["axial", "sagittal", "coronal"]


def test_domain_note_quotes_the_validation_figures_and_flags_an_uninformative_score() -> None:
    informative = demo_domain({"pixel_auroc": 0.8421, "pixel_auroc_brain": 0.7591, "image_auroc": 0.91})
    assert informative["note"] == (
        DEMO_DOMAIN["note"] + " On the validation slices its threshold was chosen on: pixel AUROC 0.84 "
        "(0.76 inside the brain), image AUROC 0.91."
    )
    weak = demo_domain({"pixel_auroc": 0.8421, "pixel_auroc_brain": None, "image_auroc": 0.4937})["note"]
    assert weak.endswith(
        "pixel AUROC 0.84, image AUROC 0.49: the slice score is barely better than chance, read the map, not the score."
    )
    # Every field but the note is the declared domain; without figures the note is unchanged.
    assert {k: v for k, v in informative.items() if k != "note"} == {
        k: v for k, v in DEMO_DOMAIN.items() if k != "note"
    }
    assert demo_domain(None) == DEMO_DOMAIN and demo_domain({"pixel_auroc": None}) == DEMO_DOMAIN
