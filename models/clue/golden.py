"""`clue golden`: write the golden vectors that pin the TypeScript pre/post-processing to ours.

Writes tests/golden/preprocess.json and tests/golden/postprocess.json from clue/preprocess.py.
The extension's unit tests (tests/unit/engine/) read the same files. Output is deterministic:
seeded inputs, fixed key order, float32 values written as exact JSON numbers, so a rerun gives
the same bytes and "the golden files are up to date" is a plain comparison.

File layout (both files): {"format": "clue-golden/1", "about": ..., "cases": [case, ...]}.
Arrays are row-major. An array is stored either as a JSON list ("encoding": "json") or as
little-endian bytes in base64 ("encoding": "base64-float32-le" / "base64-int16-le"). For a
stored int16 slice, the real-world values are float32(stored · slope + intercept), computed
in float64, i.e. the modality LUT already applied as the doc's input requires.

Expected outputs are either complete ("values") or, for large outputs, "samples" (flat
indices into the row-major output and their values) plus per-channel "mean" and "mean_abs"
over the complete output; one tolerance ("abs") applies to every value and to those means.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from clue.atomic import write_text_atomic
from clue.preprocess import (
    PreprocessSpec,
    letterbox_geometry,
    map_to_slice_grid,
    percentile_window,
    preprocess_slice,
)

FORMAT = "clue-golden/1"

# PyTorch computes the resize kernel's positions in float32; an implementation that computes
# them in float64 (ours in TypeScript) differs by up to ~7e-5 in normalised units (measured on
# uniform noise, worst case). 2e-4 covers that and still fails on any real algorithm change
# (Keys a = -0.75 instead of -0.5 differs by ~0.25).
PREPROCESS_ABS_TOLERANCE = 2e-4
# Post-processing is plain bilinear in float64 on both sides; only float32 storage differs.
POSTPROCESS_ABS_TOLERANCE = 1e-6
# Outputs with more values than this are stored as samples + means.
FULL_OUTPUT_LIMIT = 4096
SAMPLE_COUNT = 512


def _encode_float32(array: np.ndarray) -> dict[str, Any]:
    values = np.ascontiguousarray(array, dtype=np.float32)
    if values.size <= FULL_OUTPUT_LIMIT:
        return {"encoding": "json", "values": [float(v) for v in values.ravel()]}
    return {
        "encoding": "base64-float32-le",
        "data": base64.b64encode(values.astype("<f4").tobytes()).decode("ascii"),
    }


def _expected(array: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Complete values for small outputs; samples + per-channel means for large ones."""
    values = np.ascontiguousarray(array, dtype=np.float32)
    described: dict[str, Any] = {"shape": list(values.shape)}
    if values.size <= FULL_OUTPUT_LIMIT:
        described["values"] = [float(v) for v in values.ravel()]
        return described
    index = np.unique(rng.integers(0, values.size, size=SAMPLE_COUNT))
    described["samples"] = {
        "index": [int(i) for i in index],
        "values": [float(v) for v in values.ravel()[index]],
    }
    channels = values.reshape(values.shape[0], -1) if values.ndim == 3 else values.reshape(1, -1)
    described["mean"] = [float(np.float32(c.astype(np.float64).mean())) for c in channels]
    described["mean_abs"] = [float(np.float32(np.abs(c.astype(np.float64)).mean())) for c in channels]
    return described


def _smooth_field(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A slice-like pattern: a bright ellipse with texture on a dark background, in [0, 1]."""
    rows = (np.arange(height) + 0.5) / height - 0.5
    cols = (np.arange(width) + 0.5) / width - 0.5
    radius = np.sqrt((rows[:, None] / 0.42) ** 2 + (cols[None, :] / 0.38) ** 2)
    body = np.clip(1.2 - radius, 0.0, 1.0)
    texture = 0.15 * np.sin(rows[:, None] * 23.0) * np.cos(cols[None, :] * 17.0)
    noise = 0.05 * rng.random((height, width))
    return np.where(radius < 1.0, body + texture + noise, 0.0)


def _preprocess_case(
    name: str,
    description: str,
    values: np.ndarray,
    spec: PreprocessSpec,
    rng: np.random.Generator,
    stored_int16: tuple[np.ndarray, float, float] | None = None,
) -> dict[str, Any]:
    height, width = values.shape
    if stored_int16 is None:
        encoded = _encode_float32(values)
    else:
        stored, slope, intercept = stored_int16
        encoded = {
            "encoding": "base64-int16-le",
            "data": base64.b64encode(stored.astype("<i2").tobytes()).decode("ascii"),
            "rescale": {"slope": slope, "intercept": intercept},
        }
    square, top, left = letterbox_geometry(height, width, spec.size)
    window = percentile_window(values, spec)
    output = preprocess_slice(values, spec)
    return {
        "name": name,
        "description": description,
        "preprocessing": spec.to_manifest(),
        "input": {"height": height, "width": width, **encoded},
        "expected": {
            "geometry": {"square": square, "top": top, "left": left},
            "window": None if window is None else {"lo": window[0], "hi": window[1]},
            **_expected(output, rng),
        },
        "tolerance": {"abs": PREPROCESS_ABS_TOLERANCE},
    }


def build_preprocess_cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(20261123)
    small = PreprocessSpec(size=16)
    cases: list[dict[str, Any]] = []

    wide = (100.0 * _smooth_field(7, 12, rng)).astype(np.float32)
    cases.append(
        _preprocess_case(
            "wide_7x12_to_16", "non-square, wider than tall, odd height, enlarged 12 -> 16", wide, small, rng
        )
    )

    tall = (rng.random((13, 6)) * 50.0 + 10.0).astype(np.float32)
    cases.append(
        _preprocess_case(
            "tall_13x6_to_8",
            "non-square, taller than wide, odd sizes, shrunk 13 -> 8 "
            "(kernel support widened), padded columns on both sides",
            tall,
            PreprocessSpec(size=8),
            rng,
        )
    )

    tiny = (rng.random((5, 3)) * 10.0).astype(np.float32)
    cases.append(
        _preprocess_case(
            "tiny_5x3_to_32",
            "tiny slice enlarged 5 -> 32 (edge weights truncated + renormalised)",
            tiny,
            PreprocessSpec(size=32),
            rng,
        )
    )

    constant = np.full((9, 9), 412.5, dtype=np.float32)
    cases.append(
        _preprocess_case(
            "constant_9x9_to_8",
            "constant slice: no foreground, the plane is all 0 before normalisation",
            constant,
            PreprocessSpec(size=8),
            rng,
        )
    )

    negative = (-500.0 + 400.0 * _smooth_field(10, 11, rng)).astype(np.float32)
    cases.append(
        _preprocess_case(
            "negative_10x11_to_12", "all values negative (about -500 .. -50)", negative, PreprocessSpec(size=12), rng
        )
    )

    two_valued = np.zeros((6, 10), dtype=np.float32)
    two_valued[2:5, 3:8] = 7.0
    cases.append(
        _preprocess_case(
            "two_valued_6x10_to_16",
            "degenerate window hi == lo: foreground becomes 1, background 0",
            two_valued,
            small,
            rng,
        )
    )

    custom = PreprocessSpec(
        low_percentile=2.0,
        high_percentile=98.0,
        pad_value=0.25,
        size=20,
        channels=3,
        mean=(0.5, 0.4, 0.3),
        std=(0.2, 0.25, 0.3),
    )
    outliers = (1000.0 * _smooth_field(15, 9, rng)).astype(np.float32)
    outliers[3, 4] = 1.0e6
    outliers[11, 2] = 1.0e-3
    cases.append(
        _preprocess_case(
            "custom_spec_15x9_to_20",
            "non-default percentiles, pad value, mean and std; one huge outlier clipped",
            outliers,
            custom,
            rng,
        )
    )

    stored_ct = np.full((40, 33), 0, dtype=np.int16)
    stored_ct += (3000.0 * _smooth_field(40, 33, rng)).astype(np.int16)
    stored_ct[18:22, 10:14] = 32767
    ct_values = (stored_ct.astype(np.float64) * 1.0 - 1024.0).astype(np.float32)
    cases.append(
        _preprocess_case(
            "ct_int16_40x33_to_16",
            "int16 stored values, slope 1 intercept -1024 (CT-like), background at the minimum, saturated insert",
            ct_values,
            small,
            rng,
            stored_int16=(stored_ct, 1.0, -1024.0),
        )
    )

    stored_mr = (2000.0 * _smooth_field(300, 260, rng)).astype(np.int16)
    mr_values = (stored_mr.astype(np.float64) * 0.5 + 3.0).astype(np.float32)
    cases.append(
        _preprocess_case(
            "mr_300x260_to_224",
            "realistic size, default manifest spec, shrunk 300 -> 224; int16 stored values, slope 0.5 intercept 3",
            mr_values,
            PreprocessSpec(),
            rng,
            stored_int16=(stored_mr, 0.5, 3.0),
        )
    )
    return cases


def _postprocess_case(
    name: str,
    description: str,
    model_map: np.ndarray,
    height: int,
    width: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    size = model_map.shape[0]
    square, top, left = letterbox_geometry(height, width, size)
    output = map_to_slice_grid(model_map, height, width)
    return {
        "name": name,
        "description": description,
        "map": {"size": size, **_encode_float32(model_map)},
        "slice": {"height": height, "width": width},
        "expected": {"geometry": {"square": square, "top": top, "left": left}, **_expected(output, rng)},
        "tolerance": {"abs": POSTPROCESS_ABS_TOLERANCE},
    }


def build_postprocess_cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(11452026)
    cases: list[dict[str, Any]] = []

    def random_map(size: int) -> np.ndarray:
        return rng.random((size, size)).astype(np.float32)

    cases.append(
        _postprocess_case("wide_16_to_7x12", "non-square wide slice, map enlarged", random_map(16), 7, 12, rng)
    )
    cases.append(_postprocess_case("tall_8_to_13x6", "non-square tall slice, odd sizes", random_map(8), 13, 6, rng))
    cases.append(
        _postprocess_case(
            "tiny_32_to_5x3", "map larger than the slice (point sampling, no antialias)", random_map(32), 5, 3, rng
        )
    )
    cases.append(
        _postprocess_case(
            "square_identity_12_to_12x12", "same size: the map comes back unchanged", random_map(12), 12, 12, rng
        )
    )
    cases.append(_postprocess_case("one_pixel_4_to_1x1", "1×1 slice", random_map(4), 1, 1, rng))
    cases.append(_postprocess_case("enlarge_16_to_40x33", "enlarged, odd padding", random_map(16), 40, 33, rng))
    smooth = _smooth_field(32, 32, rng).astype(np.float32)
    cases.append(
        _postprocess_case(
            "large_32_to_300x260", "realistic slice size from a small map (sampled output)", smooth, 300, 260, rng
        )
    )
    cases.append(
        _postprocess_case(
            "large_48_to_260x300", "wide slice of realistic size (sampled output)", random_map(48), 260, 300, rng
        )
    )
    return cases


def golden_documents() -> dict[str, dict[str, Any]]:
    """File name → document, exactly what `clue golden` writes."""
    about = (
        "Golden vectors of docs/manifest.md, written by `clue golden` from "
        "models/clue/preprocess.py; read by tests/unit/engine. Do not edit by hand."
    )
    return {
        "preprocess.json": {"format": FORMAT, "about": about, "cases": build_preprocess_cases()},
        "postprocess.json": {"format": FORMAT, "about": about, "cases": build_postprocess_cases()},
    }


def serialise(document: dict[str, Any]) -> str:
    """Compact JSON with one case per line, so a diff shows which case changed."""

    def dump(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)

    header = ",".join(f"{dump(key)}:{dump(value)}" for key, value in document.items() if key != "cases")
    cases = ",\n".join(dump(case) for case in document["cases"])
    return f'{{{header},"cases":[\n{cases}\n]}}\n'


def write_golden(out_dir: Path) -> list[Path]:
    """Write both files atomically (temp file + rename); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for file_name, document in golden_documents().items():
        target = out_dir / file_name
        written.append(write_text_atomic(target, serialise(document)))
    return written


def _run(args: argparse.Namespace) -> int:
    for path in write_golden(Path(args.out)):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "golden",
        help="write the pre/post-processing golden vectors the TypeScript tests check against",
        description="Regenerate tests/golden/preprocess.json and postprocess.json from the "
        "Python reference implementation (clue/preprocess.py). Deterministic: a rerun "
        "writes the same bytes.",
    )
    parser.add_argument("--out", required=True, help="output folder, e.g. tests/golden")
    parser.set_defaults(func=_run)


if __name__ == "__main__":
    import sys

    top = argparse.ArgumentParser(prog="clue")
    sub = top.add_subparsers(dest="command", required=True)
    register(sub)
    parsed = top.parse_args(["golden", *sys.argv[1:]])
    sys.exit(parsed.func(parsed))
