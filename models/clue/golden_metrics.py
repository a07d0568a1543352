"""`clue golden-metrics`: the shared test case proving the viewer's metrics equal ours.

Writes tests/golden/metrics.json: a few seeded cases (float32 maps + binary masks, per slice,
with tied scores, an all-normal slice and a hand-checkable case) and what clue/metrics.py
computes on them — pixel AUROC, max-F1, Dice/IoU at given thresholds, the best-Dice
threshold, the full threshold sweep for small cases, pooled over the slices and per slice,
plus image AUROC over per-slice image scores. tests/unit/metrics/ reads the same file and
compares extension/src/metrics/ against it.

A metric that clue/metrics.py refuses (AUROC with one class, max-F1 with no positive) is
recorded as {"error": <Python's message>}; the TypeScript must refuse it too.

Deterministic (seeded inputs, fixed key order, float32 maps as exact JSON numbers), so
"the file is up to date" is a byte comparison (models/tests/test_golden_metrics.py).
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clue.atomic import write_text_atomic
from clue.metrics import auroc, best_dice_threshold, dice_iou, max_f1, threshold_sweep

FORMAT = "clue-golden-metrics/1"
FILE_NAME = "metrics.json"
# Both sides compute in float64 with the same operation order; the file stores the results
# with repr precision. 1e-12 leaves room only for a summation order difference.
ABS_TOLERANCE = 1e-12
# Slices with at most this many pixels are stored as JSON lists, larger ones as base64.
JSON_PIXEL_LIMIT = 1024
# The full threshold sweep is stored for problems with at most this many distinct scores.
SWEEP_LIMIT = 64


def _encode_map(values: np.ndarray) -> dict[str, Any]:
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    if flat.size <= JSON_PIXEL_LIMIT:
        return {"encoding": "json", "values": [float(v) for v in flat]}
    return {"encoding": "base64-float32-le", "data": base64.b64encode(flat.astype("<f4").tobytes()).decode("ascii")}


def _encode_mask(mask: np.ndarray) -> dict[str, Any]:
    flat = np.ascontiguousarray(mask, dtype=np.uint8).ravel()
    if flat.size <= JSON_PIXEL_LIMIT:
        return {"encoding": "json", "values": [int(v) for v in flat]}
    return {"encoding": "base64-uint8", "data": base64.b64encode(flat.tobytes()).decode("ascii")}


def _or_error(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return compute()
    except ValueError as error:
        return {"error": str(error)}


def _expected_metrics(scores: np.ndarray, labels: np.ndarray, thresholds: list[float]) -> dict[str, Any]:
    """Everything the TypeScript computes from one (scores, labels) problem."""

    def max_f1_values() -> dict[str, Any]:
        best = max_f1(scores, labels)
        return {"f1": best.f1, "threshold": best.threshold, "precision": best.precision, "recall": best.recall}

    def best_dice_values() -> dict[str, Any]:
        best = best_dice_threshold(scores, labels)
        return {"dice": best.dice, "iou": best.iou, "threshold": best.threshold}

    expected: dict[str, Any] = {
        "auroc": _or_error(lambda: {"value": auroc(scores, labels)}),
        "max_f1": _or_error(max_f1_values),
        "best_dice": _or_error(best_dice_values),
        "dice_iou": [],
    }
    for threshold in thresholds:
        overlap = dice_iou(scores, labels, threshold)
        expected["dice_iou"].append({"threshold": threshold, "dice": overlap.dice, "iou": overlap.iou})
    sweep = threshold_sweep(scores, labels)
    if sweep.thresholds.size <= SWEEP_LIMIT:
        expected["sweep"] = {
            "thresholds": [float(t) for t in sweep.thresholds],
            "true_positives": [int(v) for v in sweep.true_positives],
            "false_positives": [int(v) for v in sweep.false_positives],
        }
    return expected


def _case(
    name: str,
    description: str,
    maps: list[np.ndarray],
    masks: list[np.ndarray],
    thresholds: list[float],
    image_scores: list[float] | None = None,
) -> dict[str, Any]:
    maps32 = [np.asarray(m, dtype=np.float32) for m in maps]
    masks_bool = [np.asarray(m).astype(bool) for m in masks]
    pooled_scores = np.concatenate([m.ravel() for m in maps32]).astype(np.float64)
    pooled_labels = np.concatenate([m.ravel() for m in masks_bool])
    case: dict[str, Any] = {
        "name": name,
        "description": description,
        "slices": [
            {"shape": list(m.shape), "map": _encode_map(m), "mask": _encode_mask(k)}
            for m, k in zip(maps32, masks_bool, strict=True)
        ],
        "thresholds": thresholds,
        "expected": {
            "pooled": _expected_metrics(pooled_scores, pooled_labels, thresholds),
            "per_slice": [
                _expected_metrics(m.astype(np.float64).ravel(), k.ravel(), thresholds)
                for m, k in zip(maps32, masks_bool, strict=True)
            ],
        },
    }
    if image_scores is not None:
        image_labels = [bool(k.any()) for k in masks_bool]
        case["image_scores"] = image_scores
        case["expected"]["image_auroc"] = _or_error(lambda: {"value": auroc(image_scores, image_labels)})
    return case


def _blob_mask(height: int, width: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def build_cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(20261123)
    cases: list[dict[str, Any]] = []

    cases.append(
        _case(
            "hand",
            "models/tests/test_metrics.py's hand case: AUROC 3/4, max-F1 0.8 at 0.35",
            [np.array([[0.1, 0.4], [0.35, 0.8]])],
            [np.array([[0, 0], [1, 1]])],
            [0.35, 0.4, 0.5, 0.0, 1.0],
        )
    )

    cases.append(
        _case(
            "ties",
            "scores rounded to one decimal: many ties between positives and negatives",
            [np.round(rng.random((12, 12)) * 0.8 + 0.2 * _blob_mask(12, 12, (5, 6), 3.5), 1)],
            [_blob_mask(12, 12, (5, 6), 3.5)],
            [0.5, 0.6, 0.7, 0.55],
        )
    )

    # A small series: a lesion across two slices, one all-normal slice, one all-abnormal
    # slice (AUROC undefined per slice for both); maps are smooth noise plus the lesion.
    height, width = 24, 20
    maps, masks = [], []
    lesions = [((10, 8), 5.0), ((11, 9), 3.0), None, "all"]
    for lesion in lesions:
        base = rng.random((height, width)).astype(np.float32) * 0.5
        if lesion is None:
            mask = np.zeros((height, width), dtype=bool)
        elif lesion == "all":
            mask = np.ones((height, width), dtype=bool)
        else:
            mask = _blob_mask(height, width, lesion[0], lesion[1])
        maps.append(np.round(base + 0.4 * mask + 0.1 * rng.random((height, width)), 3))
        masks.append(mask)
    cases.append(
        _case(
            "series",
            "4 slices: lesion on 0-1, all-normal slice 2, all-abnormal slice 3; pooled and per slice",
            maps,
            masks,
            [0.5, 0.6, float(np.float32(0.75)), 2.0],
            image_scores=[0.9, 0.7, 0.7, 0.95],
        )
    )

    # Larger slices (base64): float32 values with few distinct levels, so sorting-based code
    # must handle long tie runs; also a threshold equal to an existing score.
    height, width = 48, 40
    maps, masks = [], []
    for index in range(3):
        mask = _blob_mask(height, width, (20 + 3 * index, 18), 7.0 - index)
        field = rng.normal(0.3, 0.1, (height, width)) + 0.25 * mask
        maps.append(np.round(field * 64) / 64)
        masks.append(mask)
    tied_value = float(np.float32(maps[0][20, 18]))
    cases.append(
        _case(
            "quantised",
            "3 slices of 48×40, scores on a 1/64 grid (long tie runs), base64-encoded",
            maps,
            masks,
            [0.45, tied_value, 0.5],
            image_scores=[0.3, 0.2, 0.25],
        )
    )

    cases.append(
        _case(
            "all-normal",
            "a single slice with an empty ground truth: AUROC and max-F1 refused, Dice 0 or 1",
            [np.round(rng.random((8, 8)), 2)],
            [np.zeros((8, 8), dtype=bool)],
            [0.5, 2.0],
        )
    )
    return cases


def golden_document() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "about": "Metrics of models/clue/metrics.py on seeded maps + masks, written by "
        "`clue golden-metrics`; read by tests/unit/metrics. Do not edit by hand.",
        "tolerance": {"abs": ABS_TOLERANCE},
        "cases": build_cases(),
    }


def serialise(document: dict[str, Any]) -> str:
    """Compact JSON, one case per line, so a diff shows which case changed."""

    def dump(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)

    header = ",".join(f"{dump(key)}:{dump(value)}" for key, value in document.items() if key != "cases")
    cases = ",\n".join(dump(case) for case in document["cases"])
    return f'{{{header},"cases":[\n{cases}\n]}}\n'


def write_golden_metrics(out: Path) -> Path:
    """Writes the file atomically (temp + rename). `out` is a folder or a .json path."""
    target = out if out.suffix == ".json" else out / FILE_NAME
    return write_text_atomic(target, serialise(golden_document()))


def _run(args: argparse.Namespace) -> int:
    path = write_golden_metrics(Path(args.out))
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "golden-metrics",
        help="write tests/golden/metrics.json: seeded maps + masks and clue.metrics' results",
        description="Regenerate the shared metrics test case that the TypeScript metrics "
        "(extension/src/metrics) are checked against. Deterministic: a rerun writes the same bytes.",
    )
    parser.add_argument(
        "--out", required=True, help="output file (…/metrics.json) or folder, e.g. tests/golden/metrics.json"
    )
    parser.set_defaults(func=_run)
