"""`clue train` on a tiny CLIP and a tiny BraTS folder: determinism, resume, what is saved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from test_data_brats import ras_volumes, write_patient
from test_evaluate import append_slice

from clue.cli import main as clue_main
from clue.errors import UserFacingError
from clue.model import load_trainable
from clue.train import load_train_config, run_training

CONFIG = """
seed = {seed}
epochs = 2
batch_size = 4
backbone = "preset:tiny-random"
log_every = 1

[model]
n_ctx = 4

[optimizer]
lr = 1e-3
betas = [0.5, 0.999]

[data]
kind = "brats"
root = "brats"
options = {{ split = "train", train_patients = 3, val_patients = 1, normal_slices = 1, slices_per_tumour = 4 }}

[validation]
kind = "brats"
root = "brats"
options = {{ split = "val", train_patients = 3, val_patients = 1, normal_slices = 1, slices_per_tumour = 4 }}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    for number in range(3):
        write_patient(root / "brats", f"BraTS2021_{number:05d}", ras_volumes(number))
    (root / "train.toml").write_text(CONFIG.format(seed=3))
    (root / "train_seed4.toml").write_text(CONFIG.format(seed=4))
    return root


def trainable(path: Path) -> dict[str, torch.Tensor]:
    return load_trainable(path)[0]


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def first(workspace: Path):  # type: ignore[no-untyped-def]
    return run_training(load_train_config(workspace / "train.toml"), workspace / "run_a", progress=lambda _: None)


def test_two_epochs_deterministic_and_saves_only_trainables(workspace: Path, first) -> None:  # type: ignore[no-untyped-def]
    config = load_train_config(workspace / "train.toml")
    second = run_training(config, workspace / "run_b", progress=lambda _: None)
    assert first.epochs_done == 2 and first.steps == second.steps > 2
    assert first.losses == second.losses  # bit-identical
    assert_same_tensors(trainable(first.prompts), trainable(second.prompts))
    other = run_training(
        load_train_config(workspace / "train_seed4.toml"), workspace / "run_c", progress=lambda _: None
    )
    assert other.losses != first.losses  # the seed matters
    (workspace / "cached.toml").write_text("cache_inputs = true\n" + CONFIG.format(seed=3))
    cached = run_training(
        load_train_config(workspace / "cached.toml"), workspace / "run_cached", progress=lambda _: None
    )
    assert cached.losses == first.losses  # kept inputs are the same inputs

    with safe_open(str(first.prompts), framework="pt") as handle:
        keys = list(handle.keys())
        info = json.loads(handle.metadata()["clue"])
    assert keys and all(k.startswith(("prompt_learner.", "adaptor.")) for k in keys)
    assert info["backbone"] == "preset:tiny-random" and info["epoch"] == 2
    assert info["preprocessing"]["resize"]["size"] == 32  # the tiny backbone's input size
    assert info["threshold"]["chosen_on"].startswith("validation set brats")
    assert 0.0 <= info["threshold"]["default"] <= 1.0
    assert (workspace / "run_a" / "epoch_001.safetensors").is_file()

    log = [json.loads(line) for line in (workspace / "run_a" / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    assert [r["total"] for r in steps] == first.losses
    assert {"ce", "dice", "total"} <= set(steps[0])
    assert [r["epoch"] for r in log if r["event"] == "epoch"] == [1, 2]


def test_resume_equals_uninterrupted(workspace: Path, first) -> None:  # type: ignore[no-untyped-def]
    config = load_train_config(workspace / "train.toml")
    straight = first
    half = run_training(config, workspace / "halves", stop_after=1, progress=lambda _: None)
    assert half.epochs_done == 1 and not (workspace / "halves" / "prompts.safetensors").exists()
    # An interrupted second epoch leaves stray log lines; resuming drops them.
    with (workspace / "halves" / "train_log.jsonl").open("a") as log:
        log.write(json.dumps({"event": "step", "epoch": 2, "step": half.steps + 1, "total": 99.0}) + "\n")
    rest = run_training(config, workspace / "halves", resume=True, progress=lambda _: None)
    assert half.losses + rest.losses == straight.losses
    assert_same_tensors(trainable(rest.prompts), trainable(straight.prompts))
    read = lambda run: [  # noqa: E731
        json.loads(line)["total"] for line in (workspace / run / "train_log.jsonl").read_text().splitlines()
    ]
    assert read("halves") == read("run_a")


def test_refuses_to_overwrite_and_to_resume_nothing(workspace: Path) -> None:
    config = load_train_config(workspace / "train.toml")
    (workspace / "busy").mkdir()
    (workspace / "busy" / "state.pt").write_bytes(b"x")
    with pytest.raises(UserFacingError, match="already holds a training run"):
        run_training(config, workspace / "busy", progress=lambda _: None)
    with pytest.raises(UserFacingError, match="truncated or corrupt"):
        run_training(config, workspace / "busy", resume=True, progress=lambda _: None)
    with pytest.raises(UserFacingError, match="nothing to resume"):
        run_training(config, workspace / "empty", resume=True, progress=lambda _: None)


def test_threshold_from_a_false_positive_bound(workspace: Path, first) -> None:  # type: ignore[no-untyped-def]
    """threshold_max_fp_area_pct: the threshold is the lowest that flags at most that share of
    the validation set's lesion-free brain pixels (measured again, as clue eval measures it)."""
    (workspace / "fp.toml").write_text("threshold_max_fp_area_pct = 2.5\n" + CONFIG.format(seed=3))
    bounded = run_training(load_train_config(workspace / "fp.toml"), workspace / "run_fp", progress=lambda _: None)
    assert bounded.losses == first.losses  # the rule changes the threshold, not the training
    chosen = bounded.threshold
    assert "false-positive area ≤ 2.5 % of brain pixels" in chosen["chosen_on"]
    assert chosen["validation"]["fp_area_pct"] <= 2.5
    assert chosen["default"] != first.threshold["default"]  # not the max-F1 choice
    info = load_trainable(bounded.prompts)[1]
    assert info["threshold"]["default"] == chosen["default"]
    for bad, message in (
        ("threshold_max_fp_area_pct = 150\n" + CONFIG.format(seed=3), "must be a number in [0, 100)"),
        (
            "threshold_max_fp_area_pct = 1\n" + CONFIG.format(seed=3).split("[validation]")[0],
            "needs a [validation] set",
        ),
    ):
        (workspace / "fp_bad.toml").write_text(bad)
        with pytest.raises(UserFacingError, match=re.escape(message)):
            load_train_config(workspace / "fp_bad.toml")


def test_false_positive_bound_keeps_the_threshold_in_the_maps_range() -> None:
    """Lesion-free pixels saturated at 1.0: no threshold in [0, 1] meets a 0 % bound; the
    threshold is 1.0 and the record says the bound was not met, with the area it flags."""
    import numpy as np

    from clue.inference import Predictions
    from clue.train import _score_validation

    predictions = Predictions(scores=[0.2, 0.9], labels=[0, 1])
    for values, label in ((np.array([1.0, 1.0, 0.5, 0.2], np.float32), 0), (np.ones(4, np.float32), 1)):
        append_slice(predictions, values, np.full((2, 2), bool(label)), np.ones(4, bool), label)
    saturated = _score_validation(predictions, 0.0)
    assert saturated["fp_area_threshold"] == 1.0 and saturated["fp_bound_met"] is False
    assert saturated["fp_area_pct"] == 50.0
    met = _score_validation(predictions, 50.0)
    assert met["fp_bound_met"] is True and met["fp_area_pct"] == 50.0 and 0.5 < met["fp_area_threshold"] <= 1.0


def test_cli_train_and_config_errors(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        clue_main(
            ["train", "--config", str(workspace / "train.toml"), "--out", str(workspace / "cli"), "--stop-after", "1"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "epoch 1/2 step 1 loss" in printed and "it/s" in printed and "continue with --resume" in printed
    bad = workspace / "bad.toml"
    bad.write_text(CONFIG.format(seed=0) + "\nepohcs = 3\n")
    assert clue_main(["train", "--config", str(bad), "--out", str(workspace / "bad")]) == 2
    assert "unknown key(s) epohcs" in capsys.readouterr().err


def test_shipped_train_configs_parse() -> None:
    configs = sorted((Path(__file__).parents[1] / "clue" / "configs").glob("train_*.toml"))
    assert configs
    for path in configs:
        config = load_train_config(path)
        assert config.model, path  # model settings come from the referenced model config
