"""The reference pre/post-processing (clue/preprocess.py) against docs/manifest.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clue.errors import UserFacingError
from clue.golden import golden_documents, serialise, write_golden
from clue.preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    PreprocessSpec,
    letterbox_geometry,
    map_to_slice_grid,
    normalise_intensity,
    percentile_window,
    preprocess_mask,
    preprocess_slice,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def keys_cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def resize_matrix(n_in: int, n_out: int, a: float) -> np.ndarray:
    """The doc's resize written out independently: PIL-style antialiased cubic, float64."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        last = min(int(center + support + 0.5), n_in)
        taps = np.arange(first, last)
        weights = keys_cubic((taps - center + 0.5) / stretch, a)
        matrix[i, first:last] = weights / weights.sum()
    return matrix


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (7, 12, (12, 2, 0)),
        (13, 6, (13, 0, 3)),
        (4, 7, (7, 1, 0)),
        (5, 5, (5, 0, 0)),
        (1, 4, (4, 1, 0)),
        (300, 260, (300, 0, 20)),
    ],
)
def test_letterbox_geometry(height: int, width: int, expected: tuple[int, int, int]) -> None:
    assert letterbox_geometry(height, width, 224) == expected


def test_output_shape_dtype_and_layout() -> None:
    values = np.random.default_rng(0).random((37, 50)) * 900
    out = preprocess_slice(values, PreprocessSpec(size=24))
    assert out.shape == (3, 24, 24) and out.dtype == np.float32
    # The same plane three times, each with its own mean/std.
    planes = (
        out * np.asarray(CLIP_STD, dtype=np.float32)[:, None, None]
        + np.asarray(CLIP_MEAN, dtype=np.float32)[:, None, None]
    )
    np.testing.assert_allclose(planes[0], planes[1], atol=1e-5)
    np.testing.assert_allclose(planes[0], planes[2], atol=1e-5)


def test_constant_slice_is_zero_before_normalisation() -> None:
    out = preprocess_slice(np.full((9, 14), 77.0), PreprocessSpec(size=16))
    for channel, (mean, std) in enumerate(zip(CLIP_MEAN, CLIP_STD)):
        np.testing.assert_allclose(out[channel], -mean / std, rtol=1e-6)
    assert percentile_window(np.full((3, 3), -5.0), PreprocessSpec()) is None


def test_percentiles_follow_numpy_linear_definition_on_foreground_only() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(100.0, 30.0, size=(40, 31))
    values[:10] = values.min() - 50.0  # a background band at the slice minimum
    spec = PreprocessSpec(low_percentile=3.0, high_percentile=97.0)
    foreground = np.sort(values[values > values.min()])
    expected = []
    for p in (3.0, 97.0):
        position = p / 100.0 * (foreground.size - 1)
        below = int(np.floor(position))
        above = min(below + 1, foreground.size - 1)
        expected.append(foreground[below] + (position - below) * (foreground[above] - foreground[below]))
    lo, hi = percentile_window(values, spec)  # type: ignore[misc]
    assert lo == pytest.approx(expected[0], rel=1e-12)
    assert hi == pytest.approx(expected[1], rel=1e-12)
    plane = normalise_intensity(values, spec)
    assert np.all(plane[:10] == 0.0)  # background clips to 0
    assert np.all(plane[values >= hi] == 1.0) and np.all(plane[values <= lo] == 0.0)
    inside = (values > lo) & (values < hi)
    np.testing.assert_allclose(plane[inside], (values[inside] - lo) / (hi - lo), rtol=1e-6)


def test_degenerate_window_keeps_foreground() -> None:
    values = np.zeros((6, 8))
    values[2:4, 2:6] = 7.0
    plane = normalise_intensity(values, PreprocessSpec())
    np.testing.assert_array_equal(plane, (values > 0).astype(np.float32))


def test_resize_is_keys_half_kernel_not_torch_plain_bicubic() -> None:
    """Checks the doc's claim: torch's antialiased bicubic = PIL cubic with a = -0.5."""
    rng = np.random.default_rng(2)
    for n_in, n_out in [(13, 8), (5, 32), (30, 22), (7, 16)]:
        square = rng.random((n_in, n_in)).astype(np.float32)
        torch_out = F.interpolate(
            torch.from_numpy(square)[None, None],
            size=(n_out, n_out),
            mode="bicubic",
            align_corners=False,
            antialias=True,
        )[0, 0].numpy()
        half = resize_matrix(n_in, n_out, -0.5)
        np.testing.assert_allclose(half @ square @ half.T, torch_out, atol=2e-6)
        other = resize_matrix(n_in, n_out, -0.75)
        assert np.abs(other @ square @ other.T - torch_out).max() > 1e-2


def test_full_pipeline_matches_hand_written_steps() -> None:
    rng = np.random.default_rng(3)
    values = rng.random((11, 17)) * 1000 - 300
    spec = PreprocessSpec(size=20, pad_value=0.1)
    lo, hi = np.percentile(values[values > values.min()], [0.5, 99.5])
    plane = np.clip((values - lo) / (hi - lo), 0, 1)
    padded = np.full((17, 17), 0.1)
    padded[3:14, :] = plane
    matrix = resize_matrix(17, 20, -0.5)
    resized = matrix @ padded @ matrix.T
    expected = (resized[None] - np.asarray(CLIP_MEAN)[:, None, None]) / np.asarray(CLIP_STD)[:, None, None]
    np.testing.assert_allclose(preprocess_slice(values, spec), expected, atol=2e-5)


def test_mask_aligns_with_image() -> None:
    """A bright block in a non-square slice and its mask land on the same model pixels."""
    values = np.zeros((60, 100))
    mask = np.zeros((60, 100), dtype=np.uint8)
    values[20:40, 55:85] = 500.0
    mask[20:40, 55:85] = 1
    spec = PreprocessSpec(size=40)
    image = preprocess_slice(values, spec)[0] * CLIP_STD[0] + CLIP_MEAN[0]
    target = preprocess_mask(mask, spec)
    assert set(np.unique(target)) == {0.0, 1.0}
    bright = image > 0.5
    overlap = (bright & (target > 0)).sum() / (bright | (target > 0)).sum()
    assert overlap > 0.9
    # Padding is 20 rows on top at S=100, i.e. 8 model rows: the block starts at (20+20)*0.4.
    rows = np.nonzero(target.any(axis=1))[0]
    cols = np.nonzero(target.any(axis=0))[0]
    assert (rows[0], rows[-1]) == (16, 23) and (cols[0], cols[-1]) == (22, 33)
    np.testing.assert_array_equal(preprocess_mask(mask.astype(bool), spec), target)


def test_map_to_slice_grid_equals_torch_bilinear_then_crop() -> None:
    rng = np.random.default_rng(4)
    for size, height, width in [(16, 7, 12), (8, 13, 6), (32, 5, 3), (24, 50, 41)]:
        model_map = rng.random((size, size)).astype(np.float32)
        square, top, left = letterbox_geometry(height, width, size)
        full = F.interpolate(
            torch.from_numpy(model_map)[None, None], size=(square, square), mode="bilinear", align_corners=False
        )[0, 0].numpy()
        np.testing.assert_allclose(
            map_to_slice_grid(model_map, height, width), full[top : top + height, left : left + width], atol=5e-6
        )  # torch works in float32


def test_map_to_slice_grid_round_trip_of_a_smooth_map() -> None:
    """A smooth function sampled at model pixel centres comes back at slice pixel centres."""

    def field(y: np.ndarray, x: np.ndarray) -> np.ndarray:  # coordinates in [0, 1] of the square
        return 0.5 + 0.4 * np.sin(2.0 * y) * np.cos(1.5 * x)

    size, height, width = 64, 90, 70
    square, top, left = letterbox_geometry(height, width, size)
    centres = (np.arange(size) + 0.5) / size
    model_map = field(centres[:, None], centres[None, :]).astype(np.float32)
    back = map_to_slice_grid(model_map, height, width)
    rows = (np.arange(height) + top + 0.5) / square
    cols = (np.arange(width) + left + 0.5) / square
    expected = field(rows[:, None], cols[None, :])
    # Inside the span of model pixel centres the map is interpolated (error ~ h^2); outside
    # it, coordinates clamp, so the border value repeats (error ~ slope * half a pixel).
    row_in = (rows >= centres[0]) & (rows <= centres[-1])
    col_in = (cols >= centres[0]) & (cols <= centres[-1])
    np.testing.assert_allclose(back[np.ix_(row_in, col_in)], expected[np.ix_(row_in, col_in)], atol=2e-4)
    np.testing.assert_allclose(back, expected, atol=0.4 * 2.0 / size)
    same = map_to_slice_grid(model_map, size, size)
    np.testing.assert_array_equal(same, model_map)


def test_spec_round_trip_and_errors_name_the_field() -> None:
    spec = PreprocessSpec(low_percentile=1.0, high_percentile=99.0, size=336)
    assert PreprocessSpec.from_manifest(spec.to_manifest()) == spec
    assert PreprocessSpec.from_manifest(PreprocessSpec().to_manifest()) == PreprocessSpec()
    block = spec.to_manifest()
    block["resize"]["method"] = "nearest"
    with pytest.raises(UserFacingError, match=r"m.json: preprocessing.resize.method 'nearest'"):
        PreprocessSpec.from_manifest(block, source="m.json")
    block = spec.to_manifest()
    block["normalize"]["std"] = [0.2, 0.2]
    with pytest.raises(UserFacingError, match="normalize.mean and normalize.std need 3"):
        PreprocessSpec.from_manifest(block)
    block = spec.to_manifest()
    del block["intensity"]["low_percentile"]
    with pytest.raises(UserFacingError, match="intensity.low_percentile must be a number"):
        PreprocessSpec.from_manifest(block)
    with pytest.raises(UserFacingError, match="percentiles"):
        PreprocessSpec(low_percentile=60.0, high_percentile=40.0)


def test_bad_slices_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        preprocess_slice(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="2-D"):
        preprocess_slice(np.zeros(10))
    with pytest.raises(ValueError, match="real numbers"):
        preprocess_slice(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="square"):
        map_to_slice_grid(np.zeros((4, 5)), 3, 3)


def test_golden_files_are_up_to_date(tmp_path: Path) -> None:
    written = write_golden(tmp_path)
    assert [p.name for p in written] == ["preprocess.json", "postprocess.json"]
    for path in written:
        committed = REPO_ROOT / "tests" / "golden" / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run `clue golden --out tests/golden`"
        )


def test_golden_generation_is_deterministic() -> None:
    first = {name: serialise(doc) for name, doc in golden_documents().items()}
    second = {name: serialise(doc) for name, doc in golden_documents().items()}
    assert first == second


def test_spec_reads_an_integral_float_size_as_the_manifest_validator_does() -> None:
    # JSON has one number type: the manifest validator accepts "size": 224.0, so the spec that
    # evaluation and export build from the same block must too (and hold the int 224).
    block = PreprocessSpec().to_manifest()
    block["resize"]["size"] = 224.0
    spec = PreprocessSpec.from_manifest(block)
    assert spec.size == 224 and type(spec.size) is int
    block["resize"]["size"] = 224.5
    with pytest.raises(UserFacingError, match=r"preprocessing.resize.size must be an integer, got 224.5"):
        PreprocessSpec.from_manifest(block)
