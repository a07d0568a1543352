"""Preprocessing of one slice for the model, and the map's way back onto the slice grid.

This module is the reference implementation of docs/manifest.md ("Preprocessing, exactly" and
"Post-processing"). The viewer's TypeScript (extension/src/engine/preprocess.ts and
postprocess.ts) implements the same algorithms and is tested against the golden vectors that
`clue golden` writes from the functions below, so training and the browser see the same
tensor. Change the algorithm here, in the TypeScript and in the doc together, or not at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from clue.errors import UserFacingError
# CLIP's image normalisation, the default of every manifest: defined once in clue.manifest
# (torch-free) and re-exported here, where training code has always imported it from.
from clue.manifest import CLIP_MEAN as CLIP_MEAN, CLIP_STD as CLIP_STD

INTENSITY_METHODS = ("percentile_clip",)
FOREGROUND_METHODS = ("greater_than_min",)
SQUARE_METHODS = ("center_pad",)
RESIZE_METHODS = ("bicubic_antialias",)
POSTPROCESSING_METHODS = ("bilinear_uncrop",)


@dataclass(frozen=True)
class PreprocessSpec:
    """The manifest's "preprocessing" block as a typed value (defaults = docs/manifest.md)."""

    low_percentile: float = 0.5
    high_percentile: float = 99.5
    foreground: str = "greater_than_min"
    pad_value: float = 0.0
    size: int = 224
    channels: int = 3
    mean: tuple[float, ...] = field(default=CLIP_MEAN)
    std: tuple[float, ...] = field(default=CLIP_STD)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "preprocessing spec") -> None:
        """Raise UserFacingError naming the field when a value cannot be used."""
        if not (0.0 <= self.low_percentile < self.high_percentile <= 100.0):
            raise UserFacingError(
                f"{source}: intensity percentiles must satisfy 0 <= low_percentile < "
                f"high_percentile <= 100, got {self.low_percentile} and {self.high_percentile}"
            )
        if self.foreground not in FOREGROUND_METHODS:
            raise UserFacingError(
                f"{source}: intensity.foreground {self.foreground!r} is not one of "
                f"{list(FOREGROUND_METHODS)}"
            )
        if not math.isfinite(self.pad_value):
            raise UserFacingError(f"{source}: square.value must be a finite number")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise UserFacingError(f"{source}: resize.size must be a positive integer, got {self.size!r}")
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) or self.channels < 1:
            raise UserFacingError(
                f"{source}: channels must be a positive integer, got {self.channels!r}"
            )
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise UserFacingError(
                f"{source}: normalize.mean and normalize.std need {self.channels} values each "
                f"(one per channel), got {len(self.mean)} and {len(self.std)}"
            )
        if not all(math.isfinite(m) for m in self.mean):
            raise UserFacingError(f"{source}: normalize.mean must be finite numbers")
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise UserFacingError(f"{source}: normalize.std must be positive finite numbers")

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's "preprocessing" block (JSON-ready, key order as in the doc)."""
        return {
            "intensity": {
                "method": "percentile_clip",
                "low_percentile": self.low_percentile,
                "high_percentile": self.high_percentile,
                "foreground": self.foreground,
            },
            "square": {"method": "center_pad", "value": self.pad_value},
            "resize": {"method": "bicubic_antialias", "size": self.size},
            "channels": self.channels,
            "normalize": {"mean": list(self.mean), "std": list(self.std)},
        }

    @classmethod
    def from_manifest(cls, block: Any, source: str = "manifest") -> PreprocessSpec:
        """Build from a manifest's "preprocessing" block; errors name `source` and the field."""
        where = f"{source}: preprocessing"
        if not isinstance(block, dict):
            raise UserFacingError(f"{where} must be an object")
        intensity = _section(block, "intensity", where)
        square = _section(block, "square", where)
        resize = _section(block, "resize", where)
        normalize = _section(block, "normalize", where)
        _expect_method(intensity, INTENSITY_METHODS, f"{where}.intensity")
        _expect_method(square, SQUARE_METHODS, f"{where}.square")
        _expect_method(resize, RESIZE_METHODS, f"{where}.resize")
        return cls(
            low_percentile=_number(intensity, "low_percentile", f"{where}.intensity"),
            high_percentile=_number(intensity, "high_percentile", f"{where}.intensity"),
            foreground=_string(intensity, "foreground", f"{where}.intensity"),
            pad_value=_number(square, "value", f"{where}.square"),
            size=_integer(resize, "size", f"{where}.resize"),
            channels=_integer(block, "channels", where),
            mean=_numbers(normalize, "mean", f"{where}.normalize"),
            std=_numbers(normalize, "std", f"{where}.normalize"),
        )


def _section(block: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = block.get(key)
    if not isinstance(value, dict):
        raise UserFacingError(f"{where}.{key} is missing or not an object")
    return value


def _expect_method(section: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    method = section.get("method")
    if method not in known:
        raise UserFacingError(f"{where}.method {method!r} is not supported (known: {list(known)})")


def _number(section: dict[str, Any], key: str, where: str) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserFacingError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _integer(section: dict[str, Any], key: str, where: str) -> int:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserFacingError(f"{where}.{key} must be an integer, got {value!r}")
    return value


def _string(section: dict[str, Any], key: str, where: str) -> str:
    value = section.get(key)
    if not isinstance(value, str):
        raise UserFacingError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _numbers(section: dict[str, Any], key: str, where: str) -> tuple[float, ...]:
    value = section.get(key)
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise UserFacingError(f"{where}.{key} must be a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


def _check_slice(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{what} must be a non-empty 2-D array (H, W), got shape {array.shape}")
    real = np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    if not real or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{what} must hold real numbers, got dtype {array.dtype}")
    return array


def letterbox_geometry(height: int, width: int, size: int) -> tuple[int, int, int]:
    """Where an H×W slice sits in the padded square: (S, top, left), S = max(H, W).

    `size` (the model's input side) does not move the slice inside the square; it is taken
    so that callers state the full geometry in one place and get it checked.
    """
    if height < 1 or width < 1 or size < 1:
        raise ValueError(f"letterbox needs positive sizes, got H={height} W={width} size={size}")
    square = max(height, width)
    return square, (square - height) // 2, (square - width) // 2


def percentile_window(values: np.ndarray, spec: PreprocessSpec) -> tuple[float, float] | None:
    """(lo, hi) of the foreground (values > slice minimum), or None for a constant slice.

    Percentiles use NumPy's default linear interpolation: position p/100·(n−1) in the sorted
    foreground values. Computed in float64.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        raise ValueError("slice values must be finite (found NaN or infinity)")
    foreground = flat[flat > flat.min()]
    if foreground.size == 0:
        return None
    lo, hi = np.percentile(foreground, [spec.low_percentile, spec.high_percentile])
    return float(lo), float(hi)


def normalise_intensity(values: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Steps 1–2 of the doc: foreground percentile clip to [0, 1], float32, same shape."""
    array = _check_slice(values, "slice").astype(np.float64)
    window = percentile_window(array, spec)
    if window is None:
        return np.zeros(array.shape, dtype=np.float32)
    lo, hi = window
    if hi <= lo:
        # Degenerate window (e.g. a two-valued slice): keep the foreground as 1, not all 0.
        return (array >= lo).astype(np.float32)
    return np.clip((array - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def center_pad(plane: np.ndarray, value: float) -> tuple[np.ndarray, int, int]:
    """Step 3: pad an H×W plane to S×S with `value`; returns (square, top, left)."""
    height, width = plane.shape
    square, top, left = letterbox_geometry(height, width, 1)
    padded = np.full((square, square), value, dtype=np.float32)
    padded[top : top + height, left : left + width] = plane
    return padded, top, left


def resize_square(square: np.ndarray, size: int, mode: str = "bicubic") -> np.ndarray:
    """Step 4: antialiased resize S×S → size×size (PyTorch, align_corners=False), float32."""
    tensor = torch.from_numpy(np.ascontiguousarray(square, dtype=np.float32))[None, None]
    resized = F.interpolate(
        tensor, size=(size, size), mode=mode, align_corners=False, antialias=True
    )
    return resized[0, 0].numpy()


def preprocess_slice(values: np.ndarray, spec: PreprocessSpec | None = None) -> np.ndarray:
    """One slice of real-world values (H×W) → the model input [channels, size, size] float32.

    The whole of docs/manifest.md "Preprocessing, exactly": foreground percentile clip,
    center pad, antialiased bicubic resize, channel replication and mean/std normalisation.
    """
    spec = spec or PreprocessSpec()
    plane = normalise_intensity(values, spec)
    padded, _, _ = center_pad(plane, spec.pad_value)
    resized = resize_square(padded, spec.size, "bicubic")
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return ((resized[None] - mean) / std).astype(np.float32)


def preprocess_mask(mask: np.ndarray, spec: PreprocessSpec | None = None) -> np.ndarray:
    """A binary H×W mask → [size, size] float32 in {0, 1}, aligned with preprocess_slice.

    Same center pad (with 0) and the same pixel-centre geometry as the image; resampled with
    antialiased bilinear (a triangle filter widened by the down-sampling factor, so it
    averages the covered area when shrinking and interpolates when enlarging), then > 0.5.
    """
    spec = spec or PreprocessSpec()
    array = _check_slice(mask, "mask")
    padded, _, _ = center_pad((array > 0).astype(np.float32), 0.0)
    resized = resize_square(padded, spec.size, "bilinear")
    return (resized > 0.5).astype(np.float32)


def map_to_slice_grid(model_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """The model's size×size map (covering the padded square) → H×W on the slice grid.

    For slice pixel (r, c): padded position (r + top, c + left), model-grid coordinate
    u = (r + top + 0.5)·size/S − 0.5 (likewise v), bilinear with coordinates clamped to
    [0, size − 1]. Raw values, no rescaling. Computed in float64, returned as float32.
    """
    grid = np.asarray(model_map, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] < 1:
        raise ValueError(f"model map must be square 2-D (size, size), got shape {grid.shape}")
    size = grid.shape[0]
    square, top, left = letterbox_geometry(height, width, size)
    row_index, row_frac = _bilinear_axis(height, top, square, size)
    col_index, col_frac = _bilinear_axis(width, left, square, size)
    row_next = np.minimum(row_index + 1, size - 1)
    col_next = np.minimum(col_index + 1, size - 1)
    top_rows = grid[row_index]
    bottom_rows = grid[row_next]
    upper = top_rows[:, col_index] * (1 - col_frac) + top_rows[:, col_next] * col_frac
    lower = bottom_rows[:, col_index] * (1 - col_frac) + bottom_rows[:, col_next] * col_frac
    result = upper * (1 - row_frac[:, None]) + lower * row_frac[:, None]
    return result.astype(np.float32)


def _bilinear_axis(count: int, offset: int, square: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer source index and fraction along one axis for the slice's `count` pixels."""
    coordinate = (np.arange(count, dtype=np.float64) + offset + 0.5) * size / square - 0.5
    coordinate = np.clip(coordinate, 0.0, size - 1)
    index = np.floor(coordinate).astype(np.int64)
    return index, coordinate - index
