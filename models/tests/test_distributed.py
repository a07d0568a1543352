"""`clue train`, `clue pretrain` and `clue eval` under torchrun (2 CPU processes, gloo) against one process.

The multi-process runs are real `torchrun` jobs (`python -m torch.distributed.run`) of the
unchanged CLI, on the tiny BraTS and BMAD folders the train and eval tests use. Every
process gets OMP_NUM_THREADS=1, like the single-process subprocess runs they are compared
with, so that only the world size differs between the runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from test_evaluate import EVAL_CONFIG, write_eval_sets
from test_train import CONFIG
from torch.utils.data import DataLoader

from clue.checkpoints import load_backbone
from clue.distributed import Runtime, per_rank_batch, split_even
from clue.errors import UserFacingError
from clue.evaluate import run_eval
from clue.model import CLUE, ClueConfig, load_trainable, save_trainable
from clue.preprocess import PreprocessSpec
from clue.pretrain import read_pretrain_metadata
from clue.train import epoch_order_generator, load_train_config, rank_batches, run_training

# Weights of a 2-process run differ from one process's by float rounding only (the gradient
# is summed over ranks in another order): ~1e-7 here; the bound leaves room for other CPUs.
WEIGHT_TOLERANCE = 1e-5
# Eval figures of those two prompt files: AUROC counts pairs, so a rounding-level change of a
# map can move it by about one pair in the number of pairs.
METRIC_TOLERANCE = 1e-4
# Dice at the threshold counts pixels at or above it: a threshold (or a map) that moves by
# rounding can flip a pixel, worth ~7e-4 of Dice on the ~3000-pixel cells here.
DICE_TOLERANCE = 2e-3
KILL_EPOCHS = 12  # long enough that the kill (after epoch 1) lands mid-run


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The in-process runs use one thread too, like every torchrun worker: the same
    arithmetic, and on a small shared CPU several times faster than oversubscribed threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distributed")
    write_eval_sets(root)
    # 10 training slices in global batches of 4: the last batch (2) splits 1 + 1.
    (root / "train.toml").write_text(CONFIG.format(seed=3))
    (root / "long.toml").write_text(
        CONFIG.format(seed=3)
        .replace("epochs = 2", f"epochs = {KILL_EPOCHS}")
        .replace("log_every = 1", "log_every = 50")
    )
    (root / "eval.toml").write_text(EVAL_CONFIG)
    torch.manual_seed(1)  # the eval tests' random prompts on the tiny backbone
    clip, _, _ = load_backbone("preset:tiny-random", seed=0)
    save_trainable(
        root / "prompts.safetensors",
        CLUE(clip, ClueConfig(n_ctx=4)),
        {
            "backbone": "preset:tiny-random",
            "backbone_seed": 0,
            "id": "clue-tiny",
            "preprocessing": PreprocessSpec(size=32).to_manifest(),
            "threshold": {"default": 0.5, "chosen_on": "test fixture"},
        },
    )
    return root


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _torchrun(nproc: int, args: list[str], cwd: Path) -> list[str]:
    # --standalone: a local rendezvous on a free port, so parallel test runs do not collide.
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "clue.cli",
        *args,
    ]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _trainable(path: Path) -> dict[str, torch.Tensor]:
    return load_trainable(path)[0]


def _assert_close_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        difference = float((a[key] - b[key]).abs().max())
        assert difference <= WEIGHT_TOLERANCE, (key, difference)


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- in-process: the plan each rank follows -------------------------------------------------


def test_ranks_share_the_single_process_batches() -> None:
    size, batch, seed = 10, 4, 3
    for epoch in (0, 1, 5):
        single = [
            b.tolist()
            for b in DataLoader(
                range(size), batch_size=batch, shuffle=True, generator=epoch_order_generator(seed, epoch)
            )
        ]
        plans = [
            rank_batches(size, batch, seed, epoch, Runtime(rank=r, world_size=2, backend="gloo")) for r in range(2)
        ]
        assert len(plans[0]) == len(plans[1]) == len(single)
        for step, whole in enumerate(single):
            assert plans[0][step][0] + plans[1][step][0] == whole  # rank 0 then rank 1, in order
            assert [plans[r][step][1:] for r in range(2)] == [(len(whole) // 2, len(whole))] * 2
    # A last batch shorter than the world size: the rank without a slice runs one with weight 0.
    plan = rank_batches(5, 4, 0, 0, Runtime(rank=3, world_size=4, backend="gloo"))
    assert plan[-1][1:] == (0, 1) and len(plan[-1][0]) == 1
    assert split_even(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]


def test_a_batch_size_the_world_size_does_not_divide_is_refused() -> None:
    assert per_rank_batch(8, Runtime(world_size=4, backend="gloo")) == 2
    with pytest.raises(UserFacingError, match="batch_size = 6 does not divide among 4 processes"):
        per_rank_batch(6, Runtime(world_size=4, backend="gloo"))


# -- torchrun -----------------------------------------------------------------------------------


def test_two_process_training_equals_one_process(workspace: Path) -> None:
    single = run_training(load_train_config(workspace / "train.toml"), workspace / "one", progress=lambda _: None)
    done = _run(_torchrun(2, ["train", "--config", "train.toml", "--out", "two"], workspace), workspace)
    assert done.stdout.count("wrote two/prompts.safetensors") == 1  # rank 0 alone reports
    assert "2 process(es), backend gloo, 2 slices per process per step" in done.stdout

    _assert_close_weights(_trainable(single.prompts), _trainable(workspace / "two" / "prompts.safetensors"))
    one_log, two_log = _log(workspace / "one" / "train_log.jsonl"), _log(workspace / "two" / "train_log.jsonl")
    assert [r["event"] for r in one_log] == [r["event"] for r in two_log]
    for a, b in zip(one_log, two_log):  # the logged losses are the global batch's
        assert a.get("batch") == b.get("batch")
        assert abs(a["total"] - b["total"]) < WEIGHT_TOLERANCE
    assert {(r["world_size"], r["backend"]) for r in two_log if r["event"] == "epoch"} == {(2, "gloo")}
    assert {(r["world_size"], r["backend"]) for r in one_log if r["event"] == "epoch"} == {(1, None)}
    assert not list((workspace / "two").glob("*.tmp"))

    with safe_open(str(workspace / "two" / "prompts.safetensors"), framework="pt") as handle:
        two_threshold = json.loads(handle.metadata()["clue"])["threshold"]
    assert abs(two_threshold["default"] - single.threshold["default"]) < METRIC_TOLERANCE
    one_eval = run_eval(workspace / "eval.toml", single.prompts, workspace / "one.json", progress=lambda _: None)
    two_eval = run_eval(
        workspace / "eval.toml",
        workspace / "two" / "prompts.safetensors",
        workspace / "two.json",
        progress=lambda _: None,
    )
    for a, b in zip(one_eval["sets"], two_eval["sets"]):
        for key in ("image_auroc", "pixel_auroc", "pixel_auroc_brain", "pixel_max_f1", "dice_at_threshold"):
            bound = DICE_TOLERANCE if key == "dice_at_threshold" else METRIC_TOLERANCE
            if a[key] is None:
                assert b[key] is None, key
            else:
                assert abs(a[key] - b[key]) < bound, (a["name"], key, a[key], b[key])


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """An eval JSON less what says when and how it ran."""
    stripped = {k: v for k, v in result.items() if k not in ("created", "world_size", "backend")}
    stripped["sets"] = [{k: v for k, v in row.items() if k != "seconds"} for row in result["sets"]]
    return stripped


def test_two_process_eval_equals_one_process_exactly(workspace: Path) -> None:
    prompts = workspace / "prompts.safetensors"
    common = ["eval", "--config", "eval.toml", "--prompts", str(prompts)]
    one = _run([sys.executable, "-m", "clue.cli", *common, "--out", "eval_one.json"], workspace)
    two = _run(_torchrun(2, [*common, "--out", "eval_two.json"], workspace), workspace)
    one_json = json.loads((workspace / "eval_one.json").read_text())
    two_json = json.loads((workspace / "eval_two.json").read_text())
    assert "world_size" not in one_json and (two_json["world_size"], two_json["backend"]) == (2, "gloo")
    assert _comparable(two_json) == _comparable(one_json)  # every figure, bit for bit
    assert sum(r["slices"] for r in two_json["sets"]) > 2 * 4  # more batches than ranks
    # Rank 0 alone prints the tables, the same ones.
    assert two.stdout.count("Table 1 —") == one.stdout.count("Table 1 —") == 1
    assert two.stdout.split("wrote")[0] == one.stdout.split("wrote")[0]


def _worker_with_rank(parent: int, rank: int) -> int | None:
    """The pid of the torchrun worker (a child of the launcher) whose RANK is `rank`."""
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in environ:
                return int(child)
    return None


def test_a_killed_rank_leaves_whole_files_and_resume_continues(workspace: Path) -> None:
    out = workspace / "killed"
    launcher = subprocess.Popen(
        _torchrun(2, ["train", "--config", "long.toml", "--out", "killed"], workspace),
        cwd=workspace,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not (out / "epoch_001.safetensors").exists():  # mid-run: a checkpoint written
            assert launcher.poll() is None and time.monotonic() < deadline, "the torchrun job ended before the kill"
            time.sleep(0.01)
        victim = _worker_with_rank(launcher.pid, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        assert launcher.wait(timeout=120) != 0  # torchrun stops the job when a rank dies
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()

    saved = torch.load(out / "state.pt", map_location="cpu", weights_only=False)
    assert 1 <= saved["epoch"] < KILL_EPOCHS and not (out / "prompts.safetensors").exists()
    for checkpoint in sorted(out.glob("epoch_*.safetensors")):  # every file under a final name is whole
        assert _trainable(checkpoint).keys() == saved["trainable"].keys()
    assert len(list(out.glob("epoch_*.safetensors"))) in (saved["epoch"], saved["epoch"] + 1)

    # Resume with another world size (one process), then compare with a run never killed.
    config = load_train_config(workspace / "long.toml")
    resumed = run_training(config, out, resume=True, progress=lambda _: None)
    straight = run_training(config, workspace / "straight", progress=lambda _: None)
    assert resumed.epochs_done == KILL_EPOCHS and resumed.steps == straight.steps
    _assert_close_weights(_trainable(resumed.prompts), _trainable(straight.prompts))
    log = _log(out / "train_log.jsonl")
    assert [r["step"] for r in log if r["event"] == "step"] == list(range(1, straight.steps + 1))
    sizes = [r["world_size"] for r in log if r["event"] == "epoch"]
    assert sizes == [2] * saved["epoch"] + [1] * (KILL_EPOCHS - saved["epoch"])
    assert not list(out.glob("*.tmp"))  # a temp file the kill cut short was written again and renamed


PRETRAIN_CONFIG = """
[pretrain]
embed_dim = 32
image_size = 32
patch_size = 8
vision_width = 64
vision_layers = 2
text_width = 64
text_layers = 1
cases = 1
sequences = ["t1", "t2"]
views = ["axial", "coronal"]
slices_per_lesion = 6
normal_slices = 3
lesion_free_cases = 0
batch_size = 8
lr = 2e-3
warmup_steps = 2
log_every = 2
steps = 4
slice_weight = 1.0
"""
# AdamW divides by the root of the second moment: where a gradient is near zero, rounding
# differences of the summed gradient move the update by more than they move the loss.
PRETRAIN_WEIGHT_TOLERANCE = 1e-3


def test_two_process_pretraining_equals_one_process(workspace: Path) -> None:
    from safetensors.torch import load_file

    (workspace / "pretrain.toml").write_text(PRETRAIN_CONFIG)
    common = ["pretrain", "--config", "pretrain.toml"]
    _run([sys.executable, "-m", "clue.cli", *common, "--out", "one.safetensors"], workspace)
    two = _run(_torchrun(2, [*common, "--out", "two.safetensors"], workspace), workspace)
    assert two.stdout.count("wrote two.safetensors") == 1
    assert "2 process(es), backend gloo, 4 of every 8 slices per process" in two.stdout
    assert read_pretrain_metadata(workspace / "two.safetensors")["world_size"] == 2
    assert read_pretrain_metadata(workspace / "one.safetensors")["world_size"] == 1
    one_log, two_log = _log(workspace / "one.log.jsonl"), _log(workspace / "two.log.jsonl")
    assert len(one_log) == len(two_log) == 4 and all(row["slice_loss"] > 0 for row in one_log)
    for a, b in zip(one_log, two_log):  # the whole batch's contrastive, region and slice losses
        for key in ("loss", "caption_loss", "region_loss", "slice_loss"):
            assert abs(a[key] - b[key]) < WEIGHT_TOLERANCE, (a["step"], key)
    one, two_weights = load_file(str(workspace / "one.safetensors")), load_file(str(workspace / "two.safetensors"))
    assert one.keys() == two_weights.keys()
    for key in one:
        assert float((one[key] - two_weights[key]).abs().max()) <= PRETRAIN_WEIGHT_TOLERANCE, key
