"""`clue train`: learn CLUE's prompts and image adaptor on a frozen CLIP, from a config file.

What a run guarantees:
- **Deterministic**: the seed fixes the prompt initialisation, a random backbone (for
  `preset:` specs) and the data order; epoch e shuffles with its own generator seeded from
  (seed, e), so the order does not depend on where a run was interrupted.
- **Resumable**: after every epoch the out folder holds `state.pt` (trainable weights,
  optimizer, epoch, step, RNG states); `--resume` continues from it and gives the same
  weights and losses as an uninterrupted run. `--stop-after N` ends a run after N epochs
  (to split a long run into sessions).
- **Only trainable parameters are saved**: `epoch_XXX.safetensors` each epoch and
  `prompts.safetensors` (the last epoch) — V, W, the adaptor, plus metadata: model config,
  backbone spec + sha256, preprocessing, threshold, training data.
- **No checkpoint picking on test data**: the final prompts are simply the last epoch's. An
  optional `[validation]` set (drawn from the training patients, e.g. BraTS `split = "val"`)
  is used only to choose the default map threshold: the one with the best pixel F1, or, with
  `threshold_max_fp_area_pct = P`, the lowest one that flags at most P % of the brain pixels
  of its lesion-free slices; stored in the prompt file for the manifest.
- Losses (every part: ce, dice, focal, …) go to `train_log.jsonl`, one record per step plus
  one per epoch (which also records the world size and backend it ran with); a progress line
  is printed every `log_every` steps.
- **Same command under torchrun** (`torchrun --nproc_per_node=N -m clue.cli train …`, see
  docs/scaling.md): `batch_size` stays the *global* batch, each rank takes its share of every
  global batch of the same seeded order, DDP averages the trainable parameters' gradients,
  validation runs sharded and is scored on rank 0, and rank 0 alone writes files. A run
  resumes with any world size.

Config (TOML; paths relative to the config file)::

    seed = 0
    epochs = 12
    batch_size = 8
    backbone = "ViT-L-14.pt"         # or "preset:tiny-random" (random init, for tests/demos)
    # backbone_activation = "gelu"   # LAION open_clip weights; default QuickGELU / from the file
    log_every = 20
    cache_inputs = false             # keep preprocessed inputs in memory after epoch 1
    num_workers = 0                  # DataLoader workers (the order stays seeded either way)
    device = "auto"                  # auto (CUDA if present) | cpu | cuda | cuda:N; --device overrides
    model_config = "clue-vit-l14.toml"  # optional: a model config file; [model] overrides its keys
    id = "clue-brats-t1-axial"       # model id recorded for the manifest (default: clue-<out name>)
    out = "runs/brats-t1-axial"      # default output folder (--out overrides)

    [model]                          # clue.model.ClueConfig fields
    n_ctx = 32
    class_name = "brain"

    [loss]                           # clue.losses.LossConfig fields
    ce_weight = 1.0
    dice_weight = 1.0

    [optimizer]
    lr = 1e-3
    betas = [0.5, 0.999]

    [data]                           # the training set
    kind = "brats"
    root = "/data/BraTS2021"
    options = { split = "train", sequences = ["t1"], views = ["axial"], val_patients = 40 }

    [validation]                     # optional: threshold choice only
    kind = "brats"
    root = "/data/BraTS2021"
    options = { split = "val", sequences = ["t1"], views = ["axial"], val_patients = 40 }
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from clue import distributed
from clue.atomic import save_torch_atomic, write_text_atomic
from clue.configfile import dataclass_from_dict, read_toml
from clue.data.common import PreprocessedSlices, open_dataset
from clue.distributed import Runtime
from clue.errors import UserFacingError

STATE_FILE = "state.pt"
PROMPTS_FILE = "prompts.safetensors"
LOG_FILE = "train_log.jsonl"
STATE_FORMAT = "clue-train-state/1"


@dataclass
class DataSpec:
    kind: str
    root: Path | None
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        where = self.root.name if self.root is not None else "generated"
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.kind} ({where}; {options})" if options else f"{self.kind} ({where})"


@dataclass
class TrainConfig:
    data: DataSpec
    backbone: str
    validation: DataSpec | None = None
    # None: the threshold is the validation set's max pixel F1. A number: the lowest threshold
    # whose false-positive area on the validation set's lesion-free slices is at most this %
    # of brain pixels (max-F1 on a mix of small lesions can sit above what a large one reaches).
    threshold_max_fp_area_pct: float | None = None
    backbone_activation: str | None = None
    seed: int = 0
    epochs: int = 12
    batch_size: int = 8
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    log_every: int = 20
    cache_inputs: bool = False
    num_workers: int = 0
    device: str = "auto"
    model: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    out: Path | None = None
    source: str = "train config"


# -- config -----------------------------------------------------------------------------------


def _resolve(base: Path, value: Any) -> Path | None:
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _data_spec(table: Any, where: str, base: Path) -> DataSpec:
    if not isinstance(table, dict):
        raise UserFacingError(f"{where} must be a table with kind, root, options")
    unknown = sorted(set(table) - {"kind", "root", "options"})
    if unknown:
        raise UserFacingError(f"{where}: unknown key(s) {', '.join(unknown)} (known: kind, root, options)")
    if "kind" not in table:
        raise UserFacingError(f"{where}: missing 'kind' (brats, bmad-oct, demo, demo-synthetic)")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise UserFacingError(f"{where}.options must be a table")
    return DataSpec(kind=str(table["kind"]), root=_resolve(base, table.get("root")), options=dict(options))


def load_train_config(path: Path) -> TrainConfig:
    data = read_toml(path, "train")
    known = {
        "seed",
        "epochs",
        "batch_size",
        "backbone",
        "backbone_activation",
        "log_every",
        "id",
        "out",
        "cache_inputs",
        "num_workers",
        "device",
        "model_config",
        "model",
        "loss",
        "optimizer",
        "data",
        "validation",
        "threshold_max_fp_area_pct",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserFacingError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    base = path.resolve().parent  # config-relative paths stay valid from any working folder
    if "data" not in data:
        raise UserFacingError(f"{path}: missing [data] (the training set: kind, root, options)")
    if "backbone" not in data:
        raise UserFacingError(f"{path}: missing backbone (a CLIP checkpoint file, or preset:<name>-random)")
    optimizer = data.get("optimizer", {})
    unknown_optimizer = sorted(set(optimizer) - {"lr", "betas"})
    if unknown_optimizer:
        raise UserFacingError(f"{path}: unknown [optimizer] key(s) {', '.join(unknown_optimizer)} (known: lr, betas)")
    betas = optimizer.get("betas", [0.5, 0.999])
    if not (isinstance(betas, list) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
        raise UserFacingError(f"{path}: optimizer.betas must be two numbers in [0, 1)")
    from clue.inference import resolve_backbone_spec
    from clue.model import load_model_config

    model_settings: dict[str, Any] = {}
    if "model_config" in data:  # a model config file (clue/configs/clue-*.toml), then [model] overrides
        model_file = _resolve(base, data["model_config"])
        assert model_file is not None
        model_settings = load_model_config(model_file).to_dict()
    model_settings.update(data.get("model", {}))

    config = TrainConfig(
        data=_data_spec(data["data"], f"{path}: [data]", base),
        validation=_data_spec(data["validation"], f"{path}: [validation]", base) if "validation" in data else None,
        threshold_max_fp_area_pct=_fp_area_pct(data, path),
        backbone=resolve_backbone_spec(base, str(data["backbone"])),
        backbone_activation=data.get("backbone_activation"),
        seed=int(data.get("seed", 0)),
        epochs=int(data.get("epochs", 12)),
        batch_size=int(data.get("batch_size", 8)),
        lr=float(optimizer.get("lr", 1e-3)),
        betas=(float(betas[0]), float(betas[1])),
        log_every=int(data.get("log_every", 20)),
        cache_inputs=bool(data.get("cache_inputs", False)),
        num_workers=int(data.get("num_workers", 0)),
        device=str(data.get("device", "auto")),
        model=model_settings,
        loss=dict(data.get("loss", {})),
        id=data.get("id"),
        out=_resolve(base, data.get("out")),
        source=str(path),
    )
    if config.epochs < 1 or config.batch_size < 1 or config.log_every < 1 or config.lr <= 0:
        raise UserFacingError(f"{path}: epochs, batch_size, log_every and lr must be positive")
    return config


def _score_validation(predictions: Any, max_fp_area_pct: float | None) -> dict[str, Any]:
    """The validation figures the threshold is chosen from (`clue.evaluate.compute_metrics`);
    with a false-positive bound, also the lowest threshold within it, and the figures again
    at that value, measured as `clue eval` measures them."""
    from clue.evaluate import compute_metrics, lowest_threshold_within_fp_area

    if max_fp_area_pct is None:
        return compute_metrics(predictions)
    fp_threshold = lowest_threshold_within_fp_area(predictions, max_fp_area_pct)
    # Maps lie in [0, 1] and so must the manifest's threshold: when more than the bound of the
    # lesion-free pixels sit at the map's maximum, 1.0 is the best there is, and it is said so.
    bound_met = fp_threshold is None or fp_threshold <= 1.0
    if fp_threshold is not None:
        fp_threshold = min(fp_threshold, 1.0)
    return {**compute_metrics(predictions, fp_threshold), "fp_area_threshold": fp_threshold, "fp_bound_met": bound_met}


def _choose_threshold(metrics: dict[str, Any], validation: DataSpec, max_fp_area_pct: float | None) -> dict[str, Any]:
    """The default map threshold and what it was chosen on, from `_score_validation`'s figures:
    the false-positive bound when one is set, else the max pixel F1; 0.5 where neither exists."""
    on = f"validation set {validation.describe()} ({metrics['slices']} slices), "
    if max_fp_area_pct is not None:
        if metrics["fp_area_threshold"] is None:
            return {
                "default": 0.5,
                "chosen_on": "default 0.5 (validation set has no lesion-free slice to bound the false-positive area)",
            }
        rule = (
            f"lowest threshold with false-positive area ≤ {max_fp_area_pct:g} %"
            if metrics["fp_bound_met"]
            else f"1.0, the map's maximum: no threshold keeps the false-positive area ≤ {max_fp_area_pct:g} %"
        )
        return {
            "default": float(metrics["fp_area_threshold"]),
            "chosen_on": f"{on}{rule} of brain pixels on its lesion-free slices ({metrics['fp_area_pct']:.2f} %)",
        }
    if metrics["pixel_max_f1_threshold"] is None:
        notes = "; ".join(metrics.get("notes", []))
        return {"default": 0.5, "chosen_on": f"default 0.5 (validation set has no abnormal pixels: {notes})"}
    return {
        "default": float(metrics["pixel_max_f1_threshold"]),
        "chosen_on": f"{on}max pixel F1 = {metrics['pixel_max_f1']:.4f}",
    }


def _fp_area_pct(data: dict[str, Any], path: Path) -> float | None:
    if "threshold_max_fp_area_pct" not in data:
        return None
    value = data["threshold_max_fp_area_pct"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 100:
        raise UserFacingError(f"{path}: threshold_max_fp_area_pct must be a number in [0, 100); got {value!r}")
    if "validation" not in data:
        raise UserFacingError(f"{path}: threshold_max_fp_area_pct needs a [validation] set to choose the threshold on")
    return float(value)


def _loss_config(config: TrainConfig):  # type: ignore[no-untyped-def]
    from clue.losses import LossConfig

    return dataclass_from_dict(LossConfig, dict(config.loss), config.source, "[loss]")


# -- state ------------------------------------------------------------------------------------


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            # The log is appended line by line: a job killed mid-write leaves a cut last
            # line, which describes a step after the saved state anyway. Anything else is
            # a damaged log, not ours to drop silently.
            if number == len(lines) - 1:
                break
            raise UserFacingError(f"{path}: line {number + 1} is not JSON; the training log is damaged") from error
    return records


def _rewrite_log(path: Path, records: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))


def epoch_order_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling generator of one epoch: a function of (seed, epoch) only."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def rank_batches(
    size: int, global_batch: int, seed: int, epoch: int, runtime: Runtime
) -> list[tuple[list[int], int, int]]:
    """This rank's share of every global batch of an epoch, as (indices, real count, global
    count). The global batches are the single-process ones: drawn by the very DataLoader a
    single process uses (over indices instead of slices, so its sampler and the generator
    draws it makes are the same whatever torch version does inside), each then split evenly
    among ranks. A rank left without a sample (a last batch shorter than the world size)
    gets the batch's first slice with a real count of 0: it must still run forward and
    backward, since DDP's all-reduce needs every rank, but its loss is weighted 0."""
    order = DataLoader(range(size), batch_size=global_batch, shuffle=True, generator=epoch_order_generator(seed, epoch))
    plan = []
    for drawn in order:
        batch = [int(i) for i in drawn]
        mine = distributed.split_even(batch, runtime.world_size)[runtime.rank]
        plan.append((mine, len(mine), len(batch)) if mine else ([batch[0]], 0, len(batch)))
    return plan


@dataclass
class TrainResult:
    out_dir: Path
    prompts: Path
    epochs_done: int
    steps: int
    losses: list[float]  # total loss of every step of this run (resumed runs: from the resume point)
    threshold: dict[str, Any]


# -- training ----------------------------------------------------------------------------------


def run_training(
    config: TrainConfig,
    out_dir: Path,
    resume: bool = False,
    stop_after: int | None = None,
    progress: Callable[[str], None] = print,
) -> TrainResult:
    """Train, or continue a run. Under torchrun every rank calls this with the same
    arguments (the CLI does); it joins the process group for the run."""
    from clue.inference import resolve_device

    with distributed.session(resolve_device(config.device)) as (runtime, device):
        return _run_training(
            config, out_dir, resume, stop_after, progress if runtime.is_main else _quiet, runtime, device
        )


def _quiet(_: str) -> None:
    """Progress of ranks other than 0: one line per job, not one per process."""


def _run_training(
    config: TrainConfig,
    out_dir: Path,
    resume: bool,
    stop_after: int | None,
    progress: Callable[[str], None],
    runtime: Runtime,
    device: torch.device,
) -> TrainResult:
    from clue.checkpoints import load_backbone
    from clue.inference import predict_sharded
    from clue.losses import clue_loss
    from clue.model import CLUE, ClueConfig, save_trainable
    from clue.preprocess import PreprocessSpec

    out_dir = Path(out_dir)
    state_path = out_dir / STATE_FILE
    log_path = out_dir / LOG_FILE
    if state_path.exists() and not resume:
        raise UserFacingError(
            f"{out_dir}: already holds a training run ({STATE_FILE}); pass --resume to continue it or choose another --out"
        )
    if resume and not state_path.exists():
        raise UserFacingError(f"{state_path}: nothing to resume (no {STATE_FILE} in the out folder)")
    local_batch = distributed.per_rank_batch(config.batch_size, runtime)
    if runtime.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    clip, backbone_description, backbone_sha = load_backbone(
        config.backbone, activation=config.backbone_activation, seed=config.seed
    )
    model_cfg = ClueConfig.from_dict(config.model, source=f"{config.source}: [model]")
    torch.manual_seed(config.seed)  # the prompt initialisation depends on the seed only
    model = CLUE(clip, model_cfg)
    loss_cfg = _loss_config(config)
    spec = PreprocessSpec(size=clip.config.image_size)
    model.to(device)

    train_slices = open_dataset(config.data.kind, config.data.root, **config.data.options)
    if len(train_slices) == 0:
        raise UserFacingError(f"{config.source}: the training set is empty")
    loader_set = PreprocessedSlices(train_slices, spec, cache=config.cache_inputs and config.num_workers == 0)
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=config.lr, betas=config.betas)
    # Under torchrun: DDP over the trainable parameters only; the frozen backbone is neither
    # wrapped nor all-reduced. Single process: the model itself, exactly as before.
    forward = (
        distributed.data_parallel(distributed.TrainableShell(model, model.trainable_modules()), runtime, device)
        if runtime.distributed
        else model
    )

    start_epoch, step = 0, 0
    if resume:
        try:
            saved = torch.load(state_path, map_location="cpu", weights_only=False)
        except Exception as error:
            raise UserFacingError(
                f"{state_path}: cannot read the training state; truncated or corrupt ({type(error).__name__})"
            ) from error
        if not isinstance(saved, dict) or saved.get("format") != STATE_FORMAT:
            raise UserFacingError(f"{state_path}: not a CLUE training state")
        if saved.get("config_fingerprint") != _fingerprint(config):
            raise UserFacingError(
                f"{state_path}: was written with a different config (seed, data, model, loss or optimizer changed); resume with the same config"
            )
        model.load_trainable_state_dict(saved["trainable"], source=str(state_path))
        optimizer.load_state_dict(saved["optimizer"])
        start_epoch, step = int(saved["epoch"]), int(saved["step"])
        _set_rng_state(saved["rng"])
        # Drop log records of steps after the saved state (an interrupted epoch).
        if runtime.is_main:
            _rewrite_log(log_path, [r for r in _read_log(log_path) if r["step"] <= step and r["epoch"] <= start_epoch])
        progress(f"resuming {out_dir} after epoch {start_epoch} (step {step})")
    elif runtime.is_main:
        _rewrite_log(log_path, [])

    metadata = {
        "id": config.id or f"clue-{out_dir.resolve().name}",
        "backbone": config.backbone,
        "backbone_activation": config.backbone_activation,
        "backbone_seed": config.seed,
        "backbone_description": backbone_description,
        "backbone_sha256": backbone_sha,
        "preprocessing": spec.to_manifest(),
        "training_data": f"{config.data.describe()}, {len(train_slices)} slices",
        "seed": config.seed,
    }
    losses: list[float] = []
    last_epoch = config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
    steps_per_epoch = (len(loader_set) + config.batch_size - 1) // config.batch_size
    progress(
        f"training {metadata['id']}: {len(train_slices)} slices, {steps_per_epoch} steps/epoch, "
        f"epochs {start_epoch + 1}..{last_epoch} of {config.epochs}; backbone {backbone_description}; device {device}"
        + (f"; {runtime.describe()}, {local_batch} slices per process per step" if runtime.distributed else "")
    )
    model.train()
    run_record = {"world_size": runtime.world_size, "backend": runtime.backend}
    # Only rank 0 writes the log; the others write the same lines nowhere.
    with log_path.open("a", encoding="utf-8") if runtime.is_main else open(os.devnull, "w", encoding="utf-8") as log:
        for epoch in range(start_epoch, last_epoch):
            plan: list[tuple[list[int], int, int]] = []
            if runtime.distributed:
                plan = rank_batches(len(loader_set), config.batch_size, config.seed, epoch, runtime)
                loader = DataLoader(
                    loader_set, batch_sampler=[indices for indices, _, _ in plan], num_workers=config.num_workers
                )
            else:
                loader = DataLoader(
                    loader_set,
                    batch_size=config.batch_size,
                    shuffle=True,
                    generator=epoch_order_generator(config.seed, epoch),
                    num_workers=config.num_workers,
                )
            epoch_parts: dict[str, float] = {}
            window_started, window_steps = time.perf_counter(), 0
            for batch_number, batch in enumerate(loader):
                out = forward(batch["image"].to(device))
                total, parts = clue_loss(out, batch["mask"].to(device), batch["label"].to(device), loss_cfg)
                optimizer.zero_grad(set_to_none=True)
                if runtime.distributed:
                    # Every part is a mean over the batch's slices, and DDP averages the
                    # ranks' gradients: weighting rank r's loss by n_r · world / n makes that
                    # average the gradient of the mean over the whole global batch of n
                    # slices, also when the last batch splits unevenly.
                    _, real, whole = plan[batch_number]
                    (total * (real * runtime.world_size / whole)).backward()
                    names = list(parts)
                    sums = distributed.all_reduce_sum([parts[name] * real for name in names], runtime, device)
                    parts = {name: value / whole for name, value in zip(names, sums)}
                    batch_slices = whole
                else:
                    total.backward()
                    batch_slices = int(batch["image"].shape[0])
                optimizer.step()
                step += 1
                window_steps += 1
                losses.append(parts["total"])
                for name, value in parts.items():
                    epoch_parts[name] = epoch_parts.get(name, 0.0) + value
                log.write(
                    json.dumps({"event": "step", "epoch": epoch + 1, "step": step, "batch": batch_slices, **parts})
                    + "\n"
                )
                if step % config.log_every == 0:
                    rate = window_steps / max(time.perf_counter() - window_started, 1e-9)
                    detail = " ".join(f"{k} {v:.4f}" for k, v in parts.items() if k != "total")
                    progress(
                        f"epoch {epoch + 1}/{config.epochs} step {step} loss {parts['total']:.4f} ({detail}) {rate:.2f} it/s"
                    )
                    window_started, window_steps = time.perf_counter(), 0
            batches = max(1, len(loader))
            summary = {name: value / batches for name, value in epoch_parts.items()}
            log.write(json.dumps({"event": "epoch", "epoch": epoch + 1, "step": step, **summary, **run_record}) + "\n")
            log.flush()
            if not runtime.is_main:
                continue  # rank 0 alone writes checkpoints
            save_trainable(out_dir / f"epoch_{epoch + 1:03d}.safetensors", model, {**metadata, "epoch": epoch + 1})
            save_torch_atomic(
                {
                    "format": STATE_FORMAT,
                    "config_fingerprint": _fingerprint(config),
                    "epoch": epoch + 1,
                    "step": step,
                    "trainable": model.trainable_state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": _rng_state(),
                },
                state_path,
            )
            progress(
                f"epoch {epoch + 1}/{config.epochs} done: mean loss {summary.get('total', float('nan')):.4f}; saved {out_dir / f'epoch_{epoch + 1:03d}.safetensors'}"
            )

    epochs_done = last_epoch
    threshold = {"default": 0.5, "chosen_on": "default 0.5 (no validation set configured)"}
    if epochs_done < config.epochs:
        progress(f"stopped after epoch {epochs_done} of {config.epochs}; continue with --resume")
        return TrainResult(
            out_dir, out_dir / f"epoch_{epochs_done:03d}.safetensors", epochs_done, step, losses, threshold
        )
    if config.validation is not None:
        validation = open_dataset(config.validation.kind, config.validation.root, **config.validation.options)
        # Sharded across ranks, scored once on rank 0 from the gathered maps; the others
        # receive rank 0's choice so that every rank returns the same result.
        predictions = predict_sharded(
            model, validation, list(range(len(validation))), spec, config.batch_size, "slice", runtime
        )
        max_fp = config.threshold_max_fp_area_pct
        metrics = distributed.broadcast_from_main(
            _score_validation(predictions, max_fp) if predictions is not None else None, runtime
        )
        threshold = _choose_threshold(metrics, config.validation, max_fp)
        progress(f"threshold {threshold['default']:.4f}: {threshold['chosen_on']}")
        # The figures choices are made on (docs/demo-model.md): validation only, never test.
        threshold["validation"] = {
            key: metrics.get(key)
            for key in ("pixel_auroc", "pixel_auroc_brain", "image_auroc", "pixel_max_f1", "fp_area_pct")
        }
        progress(
            "validation: " + ", ".join(f"{k} {v:.4f}" for k, v in threshold["validation"].items() if v is not None)
        )
    prompts = out_dir / PROMPTS_FILE
    if runtime.is_main:
        save_trainable(prompts, model, {**metadata, "epoch": epochs_done, "threshold": threshold})
    distributed.barrier(runtime)  # no rank reports the run done before the file exists
    progress(f"wrote {prompts}")
    return TrainResult(out_dir, prompts, epochs_done, step, losses, threshold)


def _fingerprint(config: TrainConfig) -> str:
    """What must not change between a run and its resumption (epochs may grow)."""
    return json.dumps(
        {
            "data": [config.data.kind, str(config.data.root), config.data.options],
            "backbone": config.backbone,
            "seed": config.seed,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "betas": list(config.betas),
            "model": config.model,
            "loss": config.loss,
        },
        sort_keys=True,
        default=str,
    )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "train",
        help="train CLUE's prompts and adaptor on a frozen CLIP from a config file",
        description="Train the learnable context vectors (V, W) and the image adaptor of CLUE on a "
        "frozen CLIP backbone. Deterministic with the config's seed; saves only trainable "
        "parameters after every epoch, plus a resumable state. The final prompts are the last "
        "epoch's (no checkpoint picking); a [validation] set only chooses the map threshold. "
        "Example configs: clue/configs/train_*.toml.",
    )
    parser.add_argument("--config", type=Path, required=True, help="training config TOML")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the config's `out`)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last saved epoch")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's, else auto)")
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs of this invocation (continue later with --resume)",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    config = load_train_config(args.config)
    out_dir = args.out or config.out
    if out_dir is None:
        raise UserFacingError(f"{args.config}: no output folder; pass --out or set `out` in the config")
    if args.device is not None:
        config.device = args.device
    if args.stop_after is not None and args.stop_after < 1:
        raise UserFacingError("--stop-after must be at least 1")
    run_training(config, out_dir, resume=args.resume, stop_after=args.stop_after)
    return 0


__all__ = ["DataSpec", "TrainConfig", "TrainResult", "load_train_config", "register", "run_training"]
