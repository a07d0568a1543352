"""Slices of a canonical (RAS) volume in the three radiological views, with their DICOM
geometry.

Display conventions (what a radiologist expects, and what the DICOM series show):
- axial: patient's right on the image's left, anterior at the top; slices inferior → superior;
- coronal: patient's right on the left, superior at the top; slices posterior → anterior;
- sagittal: anterior on the left, superior at the top; slices left → right.

(Slice index 0 is always the volume's first voxel along that axis: RAS is increasing.)

Every view is a linear map from pixel (row r, column c) of slice s to a voxel index:
``ijk = origin(s) + r * row_step + c * column_step``. The DICOM geometry follows from the
affine: ImagePositionPatient is the world position of pixel (0, 0); the first
ImageOrientationPatient vector is the direction of increasing column (along a row), the
second that of increasing row; both in LPS (DICOM) rather than RAS (NIfTI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VIEWS: tuple[str, ...] = ("axial", "sagittal", "coronal")

# Per view: the volume axis the slices are taken along, and the voxel step of one pixel row
# down / one pixel column right, as functions of the volume shape.
_SLICE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def check_view(view: str) -> str:
    name = view.lower()
    if name not in _SLICE_AXIS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    return name


def slice_axis(view: str) -> int:
    return _SLICE_AXIS[check_view(view)]


def num_slices(shape: tuple[int, ...], view: str) -> int:
    return int(shape[slice_axis(view)])


def extract_slice(volume: np.ndarray, view: str, index: int) -> np.ndarray:
    """The 2-D slice [rows, columns] of a RAS volume [X, Y, Z] in display orientation."""
    view = check_view(view)
    count = num_slices(volume.shape, view)
    if not 0 <= index < count:
        raise IndexError(f"{view} slice {index} out of range 0..{count - 1}")
    if view == "axial":
        plane = volume[::-1, ::-1, index].T  # rows: y descending (A→P); columns: x descending (R→L)
    elif view == "coronal":
        plane = volume[::-1, index, ::-1].T  # rows: z descending (S→I); columns: x descending
    else:
        plane = volume[index, ::-1, ::-1].T  # rows: z descending; columns: y descending (A→P)
    return np.ascontiguousarray(plane)


def _pixel_to_voxel(shape: tuple[int, ...], view: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(voxel of pixel (0,0), voxel step per row, voxel step per column) — matches extract_slice."""
    x, y, z = (int(n) for n in shape[:3])
    if view == "axial":
        return np.array([x - 1, y - 1, index]), np.array([0, -1, 0]), np.array([-1, 0, 0])
    if view == "coronal":
        return np.array([x - 1, index, z - 1]), np.array([0, 0, -1]), np.array([-1, 0, 0])
    return np.array([index, y - 1, z - 1]), np.array([0, 0, -1]), np.array([0, -1, 0])


@dataclass(frozen=True)
class SliceGeometry:
    """DICOM geometry of one slice (LPS millimetres)."""

    image_position: tuple[float, float, float]  # ImagePositionPatient
    image_orientation: tuple[float, float, float, float, float, float]  # row dir, column dir
    pixel_spacing: tuple[float, float]  # PixelSpacing: (between rows, between columns)
    slice_thickness: float
    normal: tuple[float, float, float]  # row dir × column dir


def slice_geometry(affine: np.ndarray, shape: tuple[int, ...], view: str, index: int) -> SliceGeometry:
    view = check_view(view)
    origin, row_step, column_step = _pixel_to_voxel(shape, view, index)
    linear = affine[:3, :3]
    position = _RAS_TO_LPS @ (linear @ origin + affine[:3, 3])
    along_row = _RAS_TO_LPS @ (linear @ column_step)  # moving to the next column
    along_column = _RAS_TO_LPS @ (linear @ row_step)  # moving to the next row
    column_spacing = float(np.linalg.norm(along_row))
    row_spacing = float(np.linalg.norm(along_column))
    row_cosine = along_row / column_spacing
    column_cosine = along_column / row_spacing
    normal = np.cross(row_cosine, column_cosine)
    thickness = float(np.linalg.norm(linear[:, slice_axis(view)]))

    def clean(values: np.ndarray) -> list[float]:
        # Round away float noise (and -0.0) so DICOM strings are short and deterministic.
        return [float(v) + 0.0 for v in np.round(values, 6)]

    return SliceGeometry(
        image_position=tuple(clean(position)),  # type: ignore[arg-type]
        image_orientation=tuple(clean(np.concatenate([row_cosine, column_cosine]))),  # type: ignore[arg-type]
        pixel_spacing=(round(row_spacing, 6), round(column_spacing, 6)),
        slice_thickness=round(thickness, 6),
        normal=tuple(clean(normal)),  # type: ignore[arg-type]
    )


def slices_with_label(mask: np.ndarray, view: str) -> list[int]:
    """Indices of the slices of ``view`` that contain any non-zero mask voxel."""
    axis = slice_axis(view)
    other = tuple(a for a in range(3) if a != axis)
    return [int(i) for i in np.flatnonzero(mask.any(axis=other))]
