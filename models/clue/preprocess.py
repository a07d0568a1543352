"""Preprocessing of one slice for the model, and the map's way back onto the slice grid.

This module is the reference implementation of docs/manifest.md ("Preprocessing, exactly" and
"Post-processing"). The viewer's TypeScript (extension/src/engine/preprocess.ts and
postprocess.ts) implements the same algorithms and is tested against the golden vectors that
`clue golden` writes from the functions below, so training and the browser see the same
tensor. Change the algorithm here, in the TypeScript and in the doc together, or not at all.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# The preprocessing type and CLIP's normalisation are defined once in clue.manifest (torch-free:
# the manifest parses into the very PreprocessSpec that preprocessing uses) and re-exported here,
# where training code has always imported them from.
from clue.manifest import CLIP_MEAN as CLIP_MEAN
from clue.manifest import CLIP_STD as CLIP_STD
from clue.manifest import (
    FOREGROUND_METHODS as FOREGROUND_METHODS,
)
from clue.manifest import (
    INTENSITY_METHODS as INTENSITY_METHODS,
)
from clue.manifest import (
    POSTPROCESSING_METHODS as POSTPROCESSING_METHODS,
)
from clue.manifest import (
    RESIZE_METHODS as RESIZE_METHODS,
)
from clue.manifest import (
    SQUARE_METHODS as SQUARE_METHODS,
)
from clue.manifest import (
    PreprocessSpec as PreprocessSpec,
)


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
    resized = F.interpolate(tensor, size=(size, size), mode=mode, align_corners=False, antialias=True)
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
