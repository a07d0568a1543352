"""Model variants: the int8 file `clue export --int8` / `clue variants` write, and each variant's
quality against float32, measured by actually running both files on validation slices."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from test_data_bmad import write_png
from test_export import ALLOWED_OPS, do_export, trained_looking

from clue import variants as variants_module
from clue.clip import CLIP
from clue.data.common import SliceSample
from clue.errors import UserFacingError
from clue.export import FP16_FILE, FP32_FILE, INT8_FILE, MANIFEST_FILE, parity_inputs
from clue.manifest import PreprocessSpec, read_manifest, validate_manifest_dict
from clue.metrics import auroc
from clue.model import CLUE
from clue.preprocess import map_to_slice_grid, preprocess_slice
from clue.variants import add_variants, measure_quality

# What dynamic quantisation adds: onnxruntime CPU kernels (those of onnxruntime-web's WASM build).
INT8_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}


class Slices:
    """A small in-memory validation set: bright squares (abnormal, masked) in noise."""

    name = "squares"

    def __init__(self, count: int = 8, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.samples = []
        for index in range(count):
            image = rng.normal(100, 10, (30, 26)).astype(np.float32)
            mask = np.zeros(image.shape, np.uint8)
            if index % 2:
                top, left = rng.integers(2, 18, size=2)
                mask[top : top + 8, left : left + 6] = 1
                image[mask > 0] += 60
            self.samples.append(SliceSample(image=image, mask=mask, label=int(index % 2)))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> SliceSample:
        return self.samples[index]


@pytest.fixture(scope="module")
def exported(tiny_clip: CLIP, tmp_path_factory: pytest.TempPathFactory) -> tuple[CLUE, Path]:
    model = trained_looking(tiny_clip)
    out = tmp_path_factory.mktemp("variants") / "model"
    do_export(model, out, fp16=True, int8=True, quality_set=(Slices(), "squares (validation)"))
    return model, out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_int8_file_is_listed_with_its_sha256_and_runs(exported: tuple[CLUE, Path]) -> None:
    model, out = exported
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert [(f.path, f.dtype) for f in manifest.files] == [
        (FP32_FILE, "float32"),
        (FP16_FILE, "float16"),
        (INT8_FILE, "int8"),
    ]
    int8 = manifest.files[2]
    assert int8.sha256 == sha256(out / INT8_FILE) and int8.bytes == (out / INT8_FILE).stat().st_size
    graph = onnx.load(str(out / INT8_FILE))
    onnx.checker.check_model(graph)
    ops = {node.op_type for node in graph.graph.node}
    assert "MatMulInteger" in ops and ops <= ALLOWED_OPS | INT8_OPS, ops - ALLOWED_OPS - INT8_OPS
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.graph.initializer)
    # Same contract as float32: float32 in, float32 out, and close to it.
    session = ort.InferenceSession(str(out / INT8_FILE), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == ["tensor(float)"]
    assert {o.type for o in session.get_outputs()} == {"tensor(float)"}
    reference = ort.InferenceSession(str(out / FP32_FILE), providers=["CPUExecutionProvider"])
    image = parity_inputs(32, count=1, seed=4)[0]
    got = session.run(["anomaly_map"], {"image": image})[0]
    expected = reference.run(["anomaly_map"], {"image": image})[0]
    assert got.shape == expected.shape and np.isfinite(got).all()
    assert 0 < np.abs(got - expected).max() < 0.5  # quantised (not the same graph), still the same maps


def test_quality_is_recorded_from_actual_runs(exported: tuple[CLUE, Path]) -> None:
    _, out = exported
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert manifest.files[0].quality is None  # float32 is the reference
    dataset = Slices()
    spec = manifest.preprocessing
    # Recompute the figures independently from the two files.
    runs = {}
    for entry in manifest.files:
        session = ort.InferenceSession(str(out / entry.path), providers=["CPUExecutionProvider"])
        maps, scores = [], []
        for sample in dataset.samples:
            anomaly_map, score = session.run(
                ["anomaly_map", "score"], {"image": preprocess_slice(sample.image, spec)[None]}
            )
            maps.append(anomaly_map[0])
            scores.append(float(score.reshape(-1)[0]))
        runs[entry.dtype] = (maps, scores)
    labels = np.array([s.label for s in dataset.samples], bool)
    pixel_labels = np.concatenate([s.mask.ravel() > 0 for s in dataset.samples])

    def pixel_auroc(maps: list[np.ndarray]) -> float:
        return auroc(np.concatenate([map_to_slice_grid(m, 30, 26).ravel() for m in maps]), pixel_labels)

    for entry in manifest.files[1:]:
        quality = entry.quality
        assert quality is not None and quality.versus == "float32"
        assert quality.eval_set == "squares (validation)" and quality.slices == len(dataset)
        maps, scores = runs[entry.dtype]
        ref_maps, ref_scores = runs["float32"]
        assert quality.pixel_auroc_delta == pytest.approx(pixel_auroc(maps) - pixel_auroc(ref_maps), abs=1e-9)
        assert quality.image_auroc_delta == pytest.approx(
            auroc(np.array(scores), labels) - auroc(np.array(ref_scores), labels), abs=1e-9
        )
        assert quality.max_abs_map_diff == pytest.approx(
            max(float(np.abs(a - b).max()) for a, b in zip(maps, ref_maps)), rel=1e-6
        )
        assert quality.max_abs_map_diff > 0
    # int8 moves the maps more than float16 weights do.
    assert manifest.files[2].quality.max_abs_map_diff > manifest.files[1].quality.max_abs_map_diff  # type: ignore[union-attr]


def test_measure_quality_of_the_reference_itself_is_zero(exported: tuple[CLUE, Path]) -> None:
    _, out = exported
    (quality,) = measure_quality(out / FP32_FILE, [out / FP32_FILE], Slices(4), PreprocessSpec(size=32), "same")
    assert (quality.pixel_auroc_delta, quality.image_auroc_delta, quality.max_abs_map_diff) == (0.0, 0.0, 0.0)


def test_a_set_without_both_classes_records_null_deltas(exported: tuple[CLUE, Path]) -> None:
    _, out = exported
    normal_only = Slices(6)
    normal_only.samples = [s for s in normal_only.samples if s.label == 0]
    (quality,) = measure_quality(out / FP32_FILE, [out / INT8_FILE], normal_only, PreprocessSpec(size=32), "normal")
    assert quality.pixel_auroc_delta is None and quality.image_auroc_delta is None
    assert quality.slices == 3


def test_variants_added_to_an_existing_export_leave_its_files_byte_identical(tiny_clip: CLIP, tmp_path: Path) -> None:
    out = tmp_path / "model"
    do_export(trained_looking(tiny_clip), out, fp16=True, parity=False)
    before = {name: sha256(out / name) for name in (FP32_FILE, FP16_FILE)}
    config = write_validation_set(tmp_path)
    manifest = add_variants(out, quality_config=config, log=lambda _: None)
    assert {name: sha256(out / name) for name in before} == before
    assert [f.dtype for f in manifest.files] == ["float32", "float16", "int8"]
    assert [f.sha256 for f in manifest.files[:2]] == list(before.values())
    for entry in manifest.files[1:]:
        assert entry.quality is not None and entry.quality.slices == 4
        assert entry.quality.eval_set.startswith("oct valid: bmad-oct (")
    # Running it again replaces the int8 entry, it does not add a second one.
    again = add_variants(out, quality_config=None, log=lambda _: None)
    assert [f.dtype for f in again.files] == ["float32", "float16", "int8"]


def write_validation_set(root: Path, split: str = "valid") -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_png(root / f"RESC/{split}/good/{name}.png", rng.integers(0, 255, (24, 30), dtype=np.uint8))
        image = rng.integers(0, 120, (24, 30), dtype=np.uint8)
        image[5:12, 8:20] = 250
        write_png(root / f"RESC/{split}/Ungood/img/{name}.png", image)
        mask = np.zeros((24, 30), dtype=np.uint8)
        mask[5:12, 8:20] = 255
        write_png(root / f"RESC/{split}/Ungood/label/{name}.png", mask)
    config = root / f"quality-{split}.toml"
    config.write_text(
        f'[[table1]]\nname = "oct {split}"\nkind = "bmad-oct"\nroot = "{root / "RESC"}"\n'
        f'options = {{ split = "{split}" }}\n'
    )
    return config


def test_held_out_data_is_refused(tiny_clip: CLIP, tmp_path: Path) -> None:
    out = tmp_path / "model"
    do_export(trained_looking(tiny_clip), out, parity=False)
    config = write_validation_set(tmp_path, split="test")
    manifest_before = (out / MANIFEST_FILE).read_text()
    with pytest.raises(UserFacingError, match="held-out 'test' split"):
        add_variants(out, quality_config=config, log=lambda _: None)
    assert (out / MANIFEST_FILE).read_text() == manifest_before


def test_command_line(tiny_clip: CLIP, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    do_export(trained_looking(tiny_clip), out, parity=False)
    config = write_validation_set(tmp_path)
    parser = argparse.ArgumentParser(prog="clue")
    variants_module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["variants", str(out), "--quality-config", str(config)])
    assert args.func(args) == 0
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert [f.dtype for f in manifest.files] == ["float32", "int8"]
    assert manifest.files[1].quality is not None
    assert "model.int8.onnx: int8" in capsys.readouterr().out


def test_quality_on_a_float32_file_is_refused() -> None:
    data = read_manifest_dict()
    data["files"][0]["quality"] = {
        "versus": "float32",
        "eval_set": "x",
        "slices": 1,
        "pixel_auroc_delta": 0.0,
        "image_auroc_delta": None,
        "max_abs_map_diff": 0.0,
    }
    assert validate_manifest_dict(data) == [
        "files[0].quality: a float32 file is the reference; quality is for the other variants only"
    ]


def read_manifest_dict() -> dict:
    import json

    golden = Path(__file__).resolve().parents[2] / "tests" / "golden" / "manifests" / "valid" / "minimal.json"
    return json.loads(golden.read_text(encoding="utf-8"))


def test_export_command_line_writes_int8_and_quality(tiny_clip: CLIP, tmp_path: Path) -> None:
    from clue import export as export_module
    from clue.model import save_trainable

    prompts = save_trainable(
        tmp_path / "prompts.safetensors",
        trained_looking(tiny_clip),
        {"backbone": "preset:tiny-random", "backbone_seed": 0, "preprocessing": PreprocessSpec(size=32).to_manifest()},
    )
    config = write_validation_set(tmp_path)
    parser = argparse.ArgumentParser(prog="clue")
    export_module.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "exported"
    args = parser.parse_args(
        ["export", "--prompts", str(prompts), "--out", str(out), "--int8", "--quality-config", str(config)]
    )
    assert args.func(args) == 0
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert [f.dtype for f in manifest.files] == ["float32", "int8"]
    quality = manifest.files[1].quality
    assert quality is not None and quality.slices == 4 and quality.eval_set.startswith("oct valid: bmad-oct (")
    # A held-out set is refused before anything is exported.
    held_out = write_validation_set(tmp_path / "t", split="test")
    args = parser.parse_args(
        ["export", "--prompts", str(prompts), "--out", str(tmp_path / "x"), "--int8", "--quality-config", str(held_out)]
    )
    with pytest.raises(UserFacingError, match="held-out 'test' split"):
        args.func(args)
    assert not (tmp_path / "x").exists()
