"""`clue eval`: run trained prompts on test sets, write the metrics JSON, print Tables 1 and 2.

Table 1 (the report's layout): rows are sequences, columns views, cells pixel AUROC with the
image AUROC beside it. The rows and columns come from the data (each slice's `sequence` and
`view` metadata, in the order the dataset yields them), so BraTS gives T1/T1CE/T2/FLAIR and
the demo data T1/T2/FLAIR without any change here. Table 2 lists the zero-shot sets.

Under torchrun (`torchrun --nproc_per_node=N -m clue.cli eval …`, docs/scaling.md) each rank
runs whole batches of every set (the batches a single process would run, so every map is
bit-identical), rank 0 gathers them in order and computes the metrics, which are therefore
exactly those of a single process; rank 0 alone writes the JSON and prints the tables.

Metrics (clue.metrics) are computed on raw outputs, never per-image normalised. Pixel metrics
pool every pixel of every slice of a set; by default the model's map is first brought back
onto each slice's own grid (`clue.preprocess.map_to_slice_grid`, what the viewer shows), so
they are measured against the ground truth at its native resolution.

Config (TOML; paths relative to the config file)::

    batch_size = 8
    pixel_grid = "slice"          # or "model": compare at the model's input resolution
    aupro = false                 # also compute AUPRO (FPR ≤ 0.3; slower on large sets)
    device = "auto"               # auto (CUDA if present) | cpu | cuda | cuda:N
    # backbone = "ViT-B-16.pt"    # default: the one recorded in the prompt file

    [[table1]]                    # one or more; grouped by (sequence, view)
    name = "BraTS 2021 test"
    kind = "brats"
    root = "/data/BraTS2021"
    options = { split = "test", sequences = ["t1", "t1ce", "t2", "flair"], views = ["axial", "sagittal", "coronal"] }

    [[zero_shot]]                 # zero or more; one row each in Table 2
    name = "Chest X-ray (RSNA)"
    kind = "bmad-chest"
    root = "/data/BMAD/Chest-RSNA"
    options = { split = "test" }
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clue import distributed
from clue.atomic import write_json_atomic
from clue.configfile import read_toml
from clue.data.common import SliceDataset, has_pixel_labels, open_dataset, sample_meta
from clue.distributed import Runtime
from clue.errors import UserFacingError
from clue.inference import (  # re-exported: `clue.evaluate` has always offered them
    BASELINES,
    PIXEL_GRIDS,
    LoadedPrompts,
    Predictions,
    baseline_maps,
    load_exported_model,
    load_trained_model,
    merge_predictions,
    predict,
    predict_sharded,
    resolve_backbone_spec,
    resolve_device,
)
from clue.metrics import aupro, auroc, dice_iou, max_f1

EVAL_SCHEMA = "clue-eval/1"


def _metric_or_none(compute: Callable[[], float], notes: list[str], what: str) -> float | None:
    try:
        return float(compute())
    except ValueError as error:
        notes.append(f"{what}: {error}")
        return None


def compute_metrics(
    predictions: Predictions, threshold: float | None = None, with_aupro: bool = False
) -> dict[str, Any]:
    """Image AUROC and max-F1; pixel AUROC, max-F1 (+ its threshold) and, at `threshold`, Dice
    and IoU; AUPRO (FPR ≤ 0.3) when asked. A metric that cannot be computed (one class only,
    no masks) is None, with a note."""
    notes: list[str] = []
    scores = np.asarray(predictions.scores, dtype=np.float64)
    labels = np.asarray(predictions.labels, dtype=bool)
    result: dict[str, Any] = {
        "slices": int(labels.size),
        "abnormal_slices": int(labels.sum()),
        "image_auroc": _metric_or_none(lambda: auroc(scores, labels), notes, "image AUROC"),
        "image_max_f1": _metric_or_none(lambda: max_f1(scores, labels).f1, notes, "image max-F1"),
        "pixel_auroc": None,
        "pixel_auroc_brain": None,
        "pixel_max_f1": None,
        "pixel_max_f1_threshold": None,
        "dice_at_threshold": None,
        "iou_at_threshold": None,
        "fp_area_pct": None,
        "baselines": {},
        "threshold": threshold,
    }
    if predictions.has_pixels:
        pixel_scores = np.concatenate(predictions.pixel_scores)
        pixel_labels = np.concatenate(predictions.pixel_labels)
        result["pixels"] = int(pixel_labels.size)
        result["abnormal_pixels"] = int(pixel_labels.sum())
        result["pixel_auroc"] = _metric_or_none(lambda: auroc(pixel_scores, pixel_labels), notes, "pixel AUROC")
        try:
            best = max_f1(pixel_scores, pixel_labels)
            result["pixel_max_f1"] = best.f1
            result["pixel_max_f1_threshold"] = best.threshold
        except ValueError as error:
            notes.append(f"pixel max-F1: {error}")
        regions = (
            np.concatenate(predictions.pixel_regions) if predictions.pixel_regions else np.ones(pixel_labels.size, bool)
        )
        result["pixel_auroc_brain"] = _metric_or_none(
            lambda: auroc(pixel_scores[regions], pixel_labels[regions]), notes, "pixel AUROC (brain)"
        )
        if threshold is not None:
            overlap = dice_iou(pixel_scores, pixel_labels, threshold)
            result["dice_at_threshold"] = overlap.dice if pixel_labels.any() else None
            result["iou_at_threshold"] = overlap.iou if pixel_labels.any() else None
            result["fp_area_pct"] = _false_positive_area(predictions, threshold)
        result["baselines"] = {
            name: {
                # The lambdas run at once, inside this iteration: `maps` is the current one.
                "pixel_auroc": _metric_or_none(lambda: auroc(np.concatenate(maps), pixel_labels), [], name),  # noqa: B023
                "pixel_auroc_brain": _metric_or_none(
                    lambda: auroc(np.concatenate(maps)[regions], pixel_labels[regions]),  # noqa: B023
                    [],
                    name,
                ),
            }
            for name, maps in predictions.baseline_maps.items()
        }
        if with_aupro:
            maps = [s.reshape(shape) for s, shape in zip(predictions.pixel_scores, predictions.pixel_shapes)]
            masks = [m.reshape(shape) for m, shape in zip(predictions.pixel_labels, predictions.pixel_shapes)]
            result["aupro"] = _metric_or_none(lambda: aupro(maps, masks), notes, "AUPRO")
    else:
        notes.append("no pixel masks in this set: image-level metrics only")
    if notes:
        result["notes"] = notes
    return result


def _lesion_free_brain_scores(predictions: Predictions) -> list[np.ndarray]:
    """The map values of the brain (or head) pixels of each lesion-free slice: the pixels the
    false-positive area counts."""
    return [
        scores[region]
        for scores, region, label in zip(
            predictions.pixel_scores, predictions.pixel_regions, predictions.pixel_slice_labels
        )
        if not label
    ]


def _false_positive_area(predictions: Predictions, threshold: float) -> float | None:
    """% of brain (or head) pixels at or above the threshold, pooled over lesion-free slices."""
    normal = _lesion_free_brain_scores(predictions)
    counted = sum(values.size for values in normal)
    flagged = sum(int(np.count_nonzero(values >= np.float32(threshold))) for values in normal)
    return 100.0 * flagged / counted if counted else None


def lowest_threshold_within_fp_area(predictions: Predictions, max_fp_area_pct: float) -> float | None:
    """The lowest map value at which the false-positive area (`_false_positive_area`) is at
    most `max_fp_area_pct` %. None when the predictions hold no lesion-free brain pixel."""
    normal = _lesion_free_brain_scores(predictions)
    if not any(values.size for values in normal):
        return None
    descending = np.sort(np.concatenate(normal).astype(np.float32))[::-1]
    allowed = int(np.floor(descending.size * max_fp_area_pct / 100.0))
    if allowed >= descending.size:
        return float(descending[-1])
    # Just above the (allowed + 1)-th highest value: at most `allowed` pixels reach it, and
    # no lower float32 keeps that (ties at that value would all be flagged together).
    return float(np.nextafter(descending[allowed], np.float32(np.inf)))


# -- config ----------------------------------------------------------------------------------


@dataclass
class EvalSet:
    name: str
    kind: str
    root: Path | None
    options: dict[str, Any]
    table: int  # 1 (grouped by sequence × view) or 2 (zero-shot, one row)


@dataclass
class EvalConfig:
    sets: list[EvalSet]
    batch_size: int = 8
    pixel_grid: str = "slice"
    backbone: str | None = None
    aupro: bool = False
    device: str = "auto"
    source: str = "eval config"


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _read_set(entry: Any, table: int, index: int, base: Path, source: str) -> EvalSet:
    where = f"{source}: {'table1' if table == 1 else 'zero_shot'}[{index}]"
    if not isinstance(entry, dict):
        raise UserFacingError(f"{where} must be a table")
    unknown = sorted(set(entry) - {"name", "kind", "root", "options"})
    if unknown:
        raise UserFacingError(f"{where}: unknown key(s) {', '.join(unknown)} (known: name, kind, root, options)")
    if "kind" not in entry:
        raise UserFacingError(f"{where}: missing 'kind' (e.g. brats, bmad-chest, bmad-oct, demo)")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise UserFacingError(f"{where}: options must be a table")
    kind = str(entry["kind"])
    return EvalSet(
        name=str(entry.get("name", kind)),
        kind=kind,
        root=_resolve(base, entry.get("root")),
        options=dict(options),
        table=table,
    )


def load_eval_config(path: Path) -> EvalConfig:
    data = read_toml(path, "eval")
    known = {"batch_size", "pixel_grid", "backbone", "aupro", "device", "table1", "zero_shot"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserFacingError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    base = path.resolve().parent  # config-relative paths stay valid from any working folder
    sets = [_read_set(e, 1, i, base, str(path)) for i, e in enumerate(data.get("table1", []))]
    sets += [_read_set(e, 2, i, base, str(path)) for i, e in enumerate(data.get("zero_shot", []))]
    if not sets:
        raise UserFacingError(f"{path}: no test sets; add [[table1]] and/or [[zero_shot]] entries")
    batch_size = data.get("batch_size", 8)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserFacingError(f"{path}: batch_size must be a positive integer")
    pixel_grid = data.get("pixel_grid", "slice")
    if pixel_grid not in PIXEL_GRIDS:
        raise UserFacingError(f"{path}: pixel_grid must be one of {', '.join(PIXEL_GRIDS)}")
    backbone = data.get("backbone")
    return EvalConfig(
        sets=sets,
        batch_size=batch_size,
        pixel_grid=pixel_grid,
        backbone=resolve_backbone_spec(base, backbone) if backbone else None,
        aupro=bool(data.get("aupro", False)),
        device=str(data.get("device", "auto")),
        source=str(path),
    )


# -- model from a prompt file ---------------------------------------------------------------


# -- evaluation -------------------------------------------------------------------------------


def group_indices(dataset: SliceDataset) -> dict[tuple[str, str], list[int]]:
    """Slice indices per (sequence, view), in the order the dataset first yields each."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index in range(len(dataset)):
        meta = sample_meta(dataset, index)
        key = (str(meta.get("sequence", "?")), str(meta.get("view", "?")))
        groups.setdefault(key, []).append(index)
    return groups


def evaluate_sets(
    loaded: LoadedPrompts,
    config: EvalConfig,
    progress: Callable[[str], None] = print,
    runtime: Runtime = distributed.SINGLE,
) -> list[dict[str, Any]]:
    """One row per Table 1 cell and Table 2 set. Under torchrun every rank calls it; the
    rows (computed on rank 0) are returned on every rank."""
    threshold_info = loaded.info.get("threshold") if isinstance(loaded.info.get("threshold"), dict) else None
    threshold = float(threshold_info["default"]) if threshold_info else None
    rows: list[dict[str, Any]] = []
    for eval_set in config.sets:
        dataset = open_dataset(eval_set.kind, eval_set.root, **eval_set.options)
        if eval_set.table == 1:
            groups = group_indices(dataset)
        else:
            groups = {("", ""): list(range(len(dataset)))}
        for (sequence, view), indices in groups.items():
            started = time.perf_counter()
            predictions = predict_sharded(
                loaded.model, dataset, indices, loaded.spec, config.batch_size, config.pixel_grid, runtime
            )
            if predictions is None:  # not rank 0: it scores the gathered predictions
                continue
            metrics = compute_metrics(predictions, threshold, with_aupro=config.aupro)
            row = {
                "name": eval_set.name,
                "table": eval_set.table,
                "kind": eval_set.kind,
                "root": str(eval_set.root) if eval_set.root is not None else None,
                "options": eval_set.options,
                "sequence": sequence or None,
                "view": view or None,
                "pixel_labels": has_pixel_labels(dataset),
                **metrics,
                "seconds": round(time.perf_counter() - started, 3),
            }
            rows.append(row)
            label = f"{eval_set.name}" + (f" {sequence} {view}" if eval_set.table == 1 else "")
            progress(
                f"evaluated {label}: {len(indices)} slices, image AUROC {_fmt(row['image_auroc'])}, "
                f"pixel AUROC {_fmt(row['pixel_auroc'])} ({row['seconds']:.1f} s)"
            )
    return distributed.broadcast_from_main(rows, runtime)


def _fmt(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _ordered(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def table1(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sequences × views of pixel and image AUROC, per Table 1 set name."""
    tables: dict[str, Any] = {}
    for name in _ordered(r["name"] for r in rows if r["table"] == 1):
        mine = [r for r in rows if r["table"] == 1 and r["name"] == name]
        sequences = _ordered(r["sequence"] for r in mine)
        views = _ordered(r["view"] for r in mine)
        cell = {(r["sequence"], r["view"]): r for r in mine}
        tables[name] = {
            "rows": sequences,
            "columns": views,
            "pixel_auroc": [
                [cell[(s, v)]["pixel_auroc"] if (s, v) in cell else None for v in views] for s in sequences
            ],
            "image_auroc": [
                [cell[(s, v)]["image_auroc"] if (s, v) in cell else None for v in views] for s in sequences
            ],
            **{
                key: [[cell[(s, v)].get(key) if (s, v) in cell else None for v in views] for s in sequences]
                for key in ("pixel_auroc_brain", "dice_at_threshold", "iou_at_threshold", "fp_area_pct")
            },
        }
    return tables


def format_tables(rows: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for name, table in table1(rows).items():
        lines.append(f"Table 1 — {name}: pixel AUROC (image AUROC), rows sequence, columns view")
        width = max(8, *(len(s) for s in table["rows"]))
        header = " " * width + "".join(f"  {v:>17}" for v in table["columns"])
        lines.append(header)
        for s, sequence in enumerate(table["rows"]):
            cells = "".join(
                f"  {_fmt(table['pixel_auroc'][s][v]) + ' (' + _fmt(table['image_auroc'][s][v]) + ')':>17}"
                for v in range(len(table["columns"]))
            )
            lines.append(f"{sequence:<{width}}{cells}")
        lines.append("")
    for name in _ordered(r["name"] for r in rows if r["table"] == 1):
        lines.extend(detail_table(name, [r for r in rows if r["table"] == 1 and r["name"] == name]))
    zero_shot = [r for r in rows if r["table"] == 2]
    if zero_shot:
        lines.append("Table 2 — zero-shot sets")
        width = max(8, *(len(r["name"]) for r in zero_shot))
        lines.append(
            f"{'set':<{width}}  {'image AUROC':>11}  {'pixel AUROC':>11}  {'image max-F1':>12}  {'pixel max-F1':>12}  {'slices':>6}"
        )
        for r in zero_shot:
            lines.append(
                f"{r['name']:<{width}}  {_fmt(r['image_auroc']):>11}  {_fmt(r['pixel_auroc']):>11}  "
                f"{_fmt(r['image_max_f1']):>12}  {_fmt(r['pixel_max_f1']):>12}  {r['slices']:>6}"
            )
        lines.append("")
    return "\n".join(lines)


DETAIL_COLUMNS = ("pixel all", "pixel brain", "image", "Dice@t", "IoU@t", "FP%@t", "bright all/brain", "dev. all/brain")


def detail_table(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """One line per cell: the model's figures and, last, the two training-free baselines'
    pixel AUROC (over all pixels / over brain pixels). FP% = % of brain pixels at or above the
    threshold on lesion-free slices."""

    def pair(baseline: dict[str, Any] | None) -> str:
        if not baseline:
            return "—"
        return f"{_fmt(baseline.get('pixel_auroc'))}/{_fmt(baseline.get('pixel_auroc_brain'))}"

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    lines = [f"Table 1 detail — {name}: AUROCs, and at the shipped threshold Dice, IoU and false-positive area"]
    lines.append(f"{'cell':<22}" + "".join(f"  {c:>15}" for c in DETAIL_COLUMNS))
    for r in rows:
        baselines = r.get("baselines") or {}
        cells = [
            _fmt(r.get("pixel_auroc")),
            _fmt(r.get("pixel_auroc_brain")),
            _fmt(r.get("image_auroc")),
            _fmt(r.get("dice_at_threshold")),
            _fmt(r.get("iou_at_threshold")),
            percent(r.get("fp_area_pct")),
            pair(baselines.get("brightness")),
            pair(baselines.get("deviation")),
        ]
        lines.append(f"{(str(r['sequence']) + ' ' + str(r['view']))[:22]:<22}" + "".join(f"  {c:>15}" for c in cells))
    lines.append("")
    return lines


def _portable_path(path: Path) -> str:
    """The path relative to the working folder when it lies inside it (results files are
    committed and shared; an absolute path would name one machine's folders)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def run_eval(
    config_path: Path,
    prompts: Path,
    out: Path,
    backbone: str | None = None,
    progress: Callable[[str], None] = print,
    device: str | None = None,
) -> dict[str, Any]:
    """`prompts`: a prompt file from `clue train`, or an export folder (manifest.json +
    model.onnx), which is then run by onnxruntime on the CPU."""
    from clue.checkpoints import file_sha256

    config = load_eval_config(config_path)
    exported = Path(prompts).is_dir()
    target = torch.device("cpu") if exported else resolve_device(device or config.device)
    with distributed.session(target) as (runtime, target):
        if exported:
            loaded = load_exported_model(Path(prompts))
            prompts_sha = loaded.backbone_sha256
        else:
            loaded = load_trained_model(prompts, backbone or config.backbone)
            prompts_sha = file_sha256(prompts)
        loaded.model.to(target)
        rows = evaluate_sets(loaded, config, progress if runtime.is_main else _quiet, runtime)
    result = {
        "schema": EVAL_SCHEMA,
        "prompts": str(prompts),
        "prompts_sha256": prompts_sha,
        "config": _portable_path(config_path),
        "backbone": loaded.backbone_description,
        "backbone_sha256": loaded.backbone_sha256,
        "model_id": loaded.info.get("id"),
        "training_data": loaded.info.get("training_data"),
        "threshold": loaded.info.get("threshold"),
        "pixel_grid": config.pixel_grid,
        "device": str(target),
        "sets": rows,
        "table1": table1(rows),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if runtime.distributed:
        # What the run was, beside the results; absent from a single process's JSON, which
        # stays as it always was.
        result["world_size"], result["backend"] = runtime.world_size, runtime.backend
    if runtime.is_main:
        write_json_atomic(out, result)
    return result


def _quiet(_: str) -> None:
    """Progress of ranks other than 0: one line per job, not one per process."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "eval",
        help="evaluate trained prompts: image/pixel AUROC and max-F1, Table 1 and Table 2",
        description="Run trained CLUE prompts on the test sets of an eval config; write the metrics "
        "as JSON and print Table 1 (sequence × view: pixel AUROC, image AUROC in brackets) and "
        "Table 2 (zero-shot sets). Metrics use raw maps (no per-image normalisation).",
    )
    parser.add_argument(
        "--config", type=Path, required=True, help="eval config TOML (test sets; see clue/configs/eval_*.toml)"
    )
    parser.add_argument(
        "--prompts",
        type=Path,
        required=True,
        help="prompt file written by `clue train` (prompts.safetensors), or an exported model folder "
        "(manifest.json + model.onnx, e.g. models/artifacts/demo: run by onnxruntime)",
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the results JSON")
    parser.add_argument(
        "--backbone",
        default=None,
        help="backbone checkpoint (or preset:<name>-random); default: the one recorded in --prompts",
    )
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's, else auto)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    result = run_eval(
        args.config,
        args.prompts,
        args.out,
        args.backbone,
        progress=lambda line: print(line, file=sys.stderr),
        device=args.device,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun rank 0 prints the tables and wrote the file
    print(format_tables(result["sets"]))
    print(f"wrote {args.out}")
    return 0


__all__ = [
    "BASELINES",
    "EvalConfig",
    "EvalSet",
    "LoadedPrompts",
    "PIXEL_GRIDS",
    "Predictions",
    "baseline_maps",
    "compute_metrics",
    "evaluate_sets",
    "format_tables",
    "group_indices",
    "load_eval_config",
    "load_exported_model",
    "load_trained_model",
    "lowest_threshold_within_fp_area",
    "merge_predictions",
    "predict",
    "predict_sharded",
    "register",
    "resolve_backbone_spec",
    "resolve_device",
    "run_eval",
    "table1",
    "write_json_atomic",
]
