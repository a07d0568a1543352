"""`clue eval`: metrics JSON and Tables 1/2 on tiny BraTS and BMAD folders, checked independently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from test_data_bmad import write_png
from test_data_brats import ras_volumes, write_patient

from clue.checkpoints import load_backbone
from clue.cli import main as clue_main
from clue.data import open_dataset
from clue.errors import UserFacingError
from clue.evaluate import format_tables, load_trained_model, run_eval
from clue.inference import Predictions
from clue.model import CLUE, ClueConfig, save_trainable
from clue.preprocess import PreprocessSpec, map_to_slice_grid, preprocess_slice

EVAL_CONFIG = """
batch_size = 4
aupro = true

[[table1]]
name = "tiny BraTS"
kind = "brats"
root = "brats"
options = { split = "test", train_patients = 1, sequences = ["flair", "t1"], views = ["axial", "coronal"], normal_slices = 1, slices_per_tumour = 4 }

[[zero_shot]]
name = "Chest X-ray"
kind = "bmad-chest"
root = "chest"

[[zero_shot]]
name = "Retinal OCT"
kind = "bmad-oct"
root = "RESC"
"""


def write_eval_sets(root: Path) -> None:
    """Three BraTS cases and small BMAD chest / RESC test folders, in their real layouts."""
    for number in range(3):
        write_patient(root / "brats", f"BraTS2021_{number:05d}", ras_volumes(number))
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_png(root / f"chest/test/good/{name}.png", rng.integers(0, 255, (20, 16), dtype=np.uint8))
        write_png(root / f"chest/test/Ungood/{name}.png", rng.integers(0, 255, (20, 16), dtype=np.uint8))
        write_png(root / f"RESC/test/good/img/{name}.png", rng.integers(0, 255, (24, 30), dtype=np.uint8))
        write_png(root / f"RESC/test/Ungood/img/{name}.png", rng.integers(0, 255, (24, 30), dtype=np.uint8))
        mask = np.zeros((24, 30), dtype=np.uint8)
        mask[5:12, 8:20] = 255
        write_png(root / f"RESC/test/Ungood/label/{name}.png", mask)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    write_eval_sets(root)
    torch.manual_seed(1)
    clip, _, _ = load_backbone("preset:tiny-random", seed=0)
    model = CLUE(clip, ClueConfig(n_ctx=4))
    save_trainable(
        root / "prompts.safetensors",
        model,
        {
            "backbone": "preset:tiny-random",
            "backbone_seed": 0,
            "id": "clue-tiny",
            "preprocessing": PreprocessSpec(size=32).to_manifest(),
            "threshold": {"default": 0.5, "chosen_on": "test fixture"},
        },
    )
    (root / "eval.toml").write_text(EVAL_CONFIG)
    return root


@pytest.fixture(scope="module")
def evaluated(workspace: Path) -> dict:
    out = workspace / "results" / "results.json"
    return run_eval(workspace / "eval.toml", workspace / "prompts.safetensors", out, progress=lambda _: None)


def test_eval_json_and_tables(workspace: Path, evaluated: dict) -> None:
    out = workspace / "results" / "results.json"
    result = evaluated
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert not list(out.parent.glob("*.tmp"))
    assert written["schema"] == "clue-eval/1" and written["model_id"] == "clue-tiny"
    sets = written["sets"]
    # Table 1 groups come from the data: FLAIR first because the options list it first.
    assert [(s["sequence"], s["view"]) for s in sets if s["table"] == 1] == [
        ("FLAIR", "axial"),
        ("FLAIR", "coronal"),
        ("T1", "axial"),
        ("T1", "coronal"),
    ]
    table = written["table1"]["tiny BraTS"]
    assert table["rows"] == ["FLAIR", "T1"] and table["columns"] == ["axial", "coronal"]
    for s in sets:
        assert 0.0 <= s["image_auroc"] <= 1.0
    chest = next(s for s in sets if s["name"] == "Chest X-ray")
    assert chest["pixel_auroc"] is None and chest["slices"] == 4 and chest["abnormal_slices"] == 2
    assert "no pixel masks" in chest["notes"][0]
    oct_row = next(s for s in sets if s["name"] == "Retinal OCT")
    assert 0.0 <= oct_row["aupro"] <= 1.0 and chest.get("aupro") is None
    assert oct_row["pixels"] == 4 * 24 * 30 and oct_row["abnormal_pixels"] == 2 * 7 * 12
    text = format_tables(sets)
    assert "Table 1 — tiny BraTS" in text and "Table 2 — zero-shot sets" in text
    lines = text.splitlines()
    assert lines[2].startswith("FLAIR") and lines[3].startswith("T1")
    assert f"{table['pixel_auroc'][1][1]:.4f} ({table['image_auroc'][1][1]:.4f})" in lines[3]


def test_eval_metrics_match_an_independent_computation(workspace: Path, evaluated: dict) -> None:
    result = evaluated
    row = next(s for s in result["sets"] if s["sequence"] == "T1" and s["view"] == "coronal")
    loaded = load_trained_model(workspace / "prompts.safetensors")
    dataset = open_dataset(
        "brats",
        workspace / "brats",
        split="test",
        train_patients=1,
        sequences=["t1"],
        views=["coronal"],
        normal_slices=1,
        slices_per_tumour=4,
    )
    samples = [dataset[i] for i in range(len(dataset))]
    with torch.no_grad():
        out = loaded.model(
            torch.from_numpy(np.stack([preprocess_slice(s.image, PreprocessSpec(size=32)) for s in samples]))
        )
    labels = [s.label for s in samples]
    assert row["slices"] == len(samples) and row["abnormal_slices"] == sum(labels)
    assert row["image_auroc"] == pytest.approx(roc_auc_score(labels, out.score.numpy()), abs=1e-9)
    maps = np.concatenate(
        [map_to_slice_grid(m, *s.mask.shape).ravel() for m, s in zip(out.anomaly_map.numpy(), samples)]
    )
    masks = np.concatenate([s.mask.ravel() for s in samples])
    assert row["pixel_auroc"] == pytest.approx(roc_auc_score(masks, maps), abs=1e-6)
    assert row["dice_at_threshold"] == pytest.approx(
        2 * np.sum((maps >= 0.5) & (masks > 0)) / (np.sum(maps >= 0.5) + masks.sum())
    )


def test_cli_eval_prints_tables(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = EVAL_CONFIG.replace(
        'sequences = ["flair", "t1"], views = ["axial", "coronal"]', 'sequences = ["flair"], views = ["axial"]'
    )
    (workspace / "small.toml").write_text(
        small.split("[[zero_shot]]")[0] + '[[zero_shot]]\nname = "Chest X-ray"\nkind = "bmad-chest"\nroot = "chest"\n'
    )
    code = clue_main(
        [
            "eval",
            "--config",
            str(workspace / "small.toml"),
            "--prompts",
            str(workspace / "prompts.safetensors"),
            "--out",
            str(workspace / "cli.json"),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "Table 1 — tiny BraTS" in captured.out and "Chest X-ray" in captured.out
    assert "evaluated tiny BraTS FLAIR axial" in captured.err
    assert (workspace / "cli.json").is_file()


def test_eval_errors(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = workspace / "bad.toml"
    bad.write_text('[[zero_shot]]\nname = "x"\nroot = "chest"\n')
    with pytest.raises(UserFacingError, match=r"zero_shot\[0\]: missing 'kind'"):
        run_eval(bad, workspace / "prompts.safetensors", workspace / "x.json", progress=lambda _: None)
    bad.write_text("batch_size = 4\n")
    with pytest.raises(UserFacingError, match="no test sets"):
        run_eval(bad, workspace / "prompts.safetensors", workspace / "x.json", progress=lambda _: None)
    with pytest.raises(UserFacingError, match="backbone checkpoint not found"):
        load_trained_model(workspace / "prompts.safetensors", backbone=str(workspace / "missing.pt"))
    code = clue_main(
        [
            "eval",
            "--config",
            str(workspace / "eval.toml"),
            "--prompts",
            str(workspace / "nope.safetensors"),
            "--out",
            str(workspace / "y.json"),
        ]
    )
    assert code == 2 and "nope.safetensors: prompt weights file does not exist" in capsys.readouterr().err
    assert not (workspace / "y.json").exists()


def test_shipped_eval_configs_parse() -> None:
    from clue.evaluate import load_eval_config

    folder = Path(__file__).parents[1] / "clue" / "configs"
    configs = sorted(folder.glob("eval_*.toml")) + sorted(folder.glob("*_eval.toml"))
    assert {"demo_eval.toml", "validation_eval.toml"} <= {path.name for path in configs}
    for path in configs:
        assert load_eval_config(path).sets


def test_pixel_metrics_on_the_model_grid(workspace: Path) -> None:
    from clue.evaluate import compute_metrics, predict

    loaded = load_trained_model(workspace / "prompts.safetensors")
    dataset = open_dataset("bmad-oct", workspace / "RESC")
    on_model_grid = predict(loaded.model, dataset, list(range(len(dataset))), loaded.spec, 4, "model")
    on_slice_grid = predict(loaded.model, dataset, list(range(len(dataset))), loaded.spec, 4, "slice")
    assert compute_metrics(on_model_grid)["pixels"] == 4 * 32 * 32
    assert compute_metrics(on_slice_grid)["pixels"] == 4 * 24 * 30
    assert on_model_grid.scores == on_slice_grid.scores


def test_device_names() -> None:
    from clue.evaluate import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserFacingError, match="not a torch device"):
        resolve_device("gpu please")
    if not torch.cuda.is_available():
        with pytest.raises(UserFacingError, match="CUDA is not available"):
            resolve_device("cuda")


def append_slice(
    predictions: Predictions, scores: np.ndarray, mask: np.ndarray, region: np.ndarray, label: int
) -> None:
    """One masked slice's map, lesion mask and brain region, as `predict` keeps them."""
    predictions.pixel_scores.append(scores.ravel())
    predictions.pixel_labels.append(mask.ravel())
    predictions.pixel_shapes.append(mask.shape if mask.ndim == 2 else (1, mask.size))
    predictions.pixel_regions.append(region.ravel())
    predictions.pixel_slice_labels.append(label)


def test_brain_auroc_false_positive_area_and_baselines_by_hand() -> None:
    from clue.evaluate import baseline_maps, compute_metrics

    spec = PreprocessSpec(size=32)
    # Slice 1: a lesion (bright, high map) inside the brain, background outside the brain
    # where the map is high too (which only the all-pixel AUROC sees).
    image = np.zeros((4, 4), np.float32)
    image[1:3, 1:3] = 100.0
    image[1, 1] = 200.0  # the lesion: the brightest pixel
    region = np.zeros((4, 4), bool)
    region[1:3, 1:3] = True
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    lesion_map = np.full((4, 4), 0.9, np.float32)
    lesion_map[1:3, 1:3] = [[0.8, 0.1], [0.2, 0.3]]
    # Slice 2: lesion-free; 1 of its 4 brain pixels reaches the threshold, plus 2 outside.
    normal_map = np.zeros((4, 4), np.float32)
    normal_map[1, 2] = 0.6
    normal_map[0, 0] = normal_map[3, 3] = 0.7
    predictions = Predictions(scores=[0.9, 0.1], labels=[1, 0])
    normal_image = np.where(region, 100.0, 0.0).astype(np.float32)
    normal_image[2, 2] = 120.0
    for m, k, label, picture in ((lesion_map, mask, 1, image), (normal_map, np.zeros((4, 4), bool), 0, normal_image)):
        append_slice(predictions, m, k, region, label)
        for name, values in baseline_maps(picture, region, spec).items():
            predictions.baseline_maps.setdefault(name, []).append(values.ravel())
    result = compute_metrics(predictions, threshold=0.5)
    scores = np.concatenate(predictions.pixel_scores)
    labels = np.concatenate(predictions.pixel_labels)
    inside = np.concatenate(predictions.pixel_regions)
    assert result["pixel_auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["pixel_auroc_brain"] == pytest.approx(roc_auc_score(labels[inside], scores[inside]))
    assert result["pixel_auroc_brain"] == 1.0 and result["pixel_auroc"] < 1.0
    assert result["fp_area_pct"] == pytest.approx(25.0)  # 1 of the lesion-free slice's 4 brain pixels
    from clue.preprocess import normalise_intensity

    # brightness = the model's own intensity normalisation per slice: each slice's brightest
    # pixel maps to 1, so the lesion-free slice's 120 ties with the lesion
    bright = np.concatenate([normalise_intensity(image, spec).ravel(), normalise_intensity(normal_image, spec).ravel()])
    assert result["baselines"]["brightness"]["pixel_auroc_brain"] == pytest.approx(
        roc_auc_score(labels[inside], bright[inside])
    )
    assert 0.5 < result["baselines"]["brightness"]["pixel_auroc_brain"] < 1.0
    assert set(result["baselines"]) == {"brightness", "deviation"}
    text = format_tables([{**result, "name": "hand", "table": 1, "sequence": "T1", "view": "axial"}])
    assert "Table 1 detail — hand" in text and "25.00" in text


def test_an_exported_folder_evaluates_like_its_prompts(workspace: Path, evaluated: dict) -> None:
    """`clue eval --prompts <export folder>` runs the ONNX file the viewer runs, with the
    manifest's preprocessing and threshold: the same figures as the PyTorch prompts."""
    from clue.export import export_model
    from clue.manifest import Threshold

    loaded = load_trained_model(workspace / "prompts.safetensors")
    folder = workspace / "exported"
    export_model(
        loaded.model,
        folder,
        model_id="clue-tiny",
        backbone_description="tiny (random)",
        backbone_sha256=None,
        training_data="none",
        threshold=Threshold(0.5, "test fixture"),
        log=lambda _m: None,
    )
    result = run_eval(workspace / "eval.toml", folder, workspace / "results" / "onnx.json", progress=lambda _: None)
    assert "onnxruntime" in result["backbone"]
    for mine, theirs in zip(result["sets"], evaluated["sets"]):
        for key in ("image_auroc", "pixel_auroc"):
            if theirs[key] is None:
                assert mine[key] is None
            else:
                assert mine[key] == pytest.approx(theirs[key], abs=2e-3)
    with pytest.raises(UserFacingError, match="manifest does not exist"):
        run_eval(workspace / "eval.toml", workspace / "brats", workspace / "x.json", progress=lambda _: None)


def test_lowest_threshold_within_a_false_positive_area() -> None:
    """The threshold `clue train` picks with threshold_max_fp_area_pct: the lowest value whose
    false-positive area (brain pixels of lesion-free slices at or above it) stays within the
    bound; pixels outside the brain and lesion slices do not count, ties are flagged together."""
    from clue.evaluate import _false_positive_area, lowest_threshold_within_fp_area

    region = np.array([True] * 8 + [False, False])  # last two: outside the brain
    normal_a = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.9, 0.99, 0.99], np.float32)
    normal_b = np.array([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.7, 0.99, 0.99], np.float32)
    lesion = np.full(10, 0.95, np.float32)
    predictions = Predictions(scores=[0.1, 0.2, 0.9], labels=[0, 0, 1])
    for values, label in ((normal_a, 0), (normal_b, 0), (lesion, 1)):
        append_slice(predictions, values, np.zeros(10, bool) if not label else region.copy(), region, label)
    brain_values = np.sort(np.concatenate([normal_a[:8], normal_b[:8]]))  # 16 pixels
    for bound in (0.0, 5.0, 12.5, 20.0, 30.0, 35.0, 99.0):
        threshold = lowest_threshold_within_fp_area(predictions, bound)
        assert threshold is not None
        area = _false_positive_area(predictions, threshold)
        assert area is not None and area <= bound + 1e-9, (bound, threshold, area)
        lower = brain_values[brain_values < np.float32(threshold)]
        if lower.size:  # the next lower map value would flag more than the bound allows
            below = _false_positive_area(predictions, float(lower[-1]))
            assert below is not None and below > bound, (bound, threshold, below)
    # 0 %: just above the highest brain pixel (0.9), not above the 0.99s outside the brain.
    assert lowest_threshold_within_fp_area(predictions, 0.0) == np.nextafter(np.float32(0.9), np.float32(1))
    # 30 % of 16 = 4.8 pixels: 0.9, 0.7 and 0.65 may be flagged, but not the two tied 0.6s
    # (that would make 5), so the threshold sits just above 0.6; 35 % (5.6) takes them too.
    assert lowest_threshold_within_fp_area(predictions, 30.0) == np.nextafter(np.float32(0.6), np.float32(1))
    assert lowest_threshold_within_fp_area(predictions, 35.0) == np.nextafter(np.float32(0.55), np.float32(1))
    only_lesions = Predictions(scores=[0.9], labels=[1])
    append_slice(only_lesions, lesion, region.copy(), region, 1)
    assert lowest_threshold_within_fp_area(only_lesions, 1.0) is None
