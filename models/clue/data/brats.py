"""BraTS 2021 from a local folder, sliced as the report does.

Layout (as BraTS 2021 Task 1 is distributed): one folder per patient,

    <root>/BraTS2021_00000/BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz   (.nii also read)

**Orientation.** Every volume is brought to the closest canonical (RAS+) orientation with
nibabel, and the view axes are found from the resulting axis codes (`aff2axcodes`): sagittal
slices are stacked along the L–R axis, coronal along P–A, axial along I–S. Slices come out in
the radiological display convention that DICOM viewers use: axial rows run anterior → posterior
and columns patient-right → patient-left; coronal rows superior → inferior, columns right →
left; sagittal rows superior → inferior, columns anterior → posterior. So a model trained
here sees slices the way the viewer shows them.

**Slice selection** (method.md, per patient and view): the tumour's extent along the view axis
is [first, last] non-empty segmentation slices; its middle is ⌊(first + last)/2⌋; the
`slices_per_tumour` (10) slices start at `middle − slices_per_tumour // 2` (5 below the middle,
the middle, 4 above), shifted to stay inside the volume. A slice is abnormal when its mask
(seg > 0) is non-empty. **Decision**: `normal_slices` (5) tumour-free slices per patient and
view are added (besides the window), drawn (seeded per patient and view) among slices at least `normal_margin` (2)
slices outside the tumour's extent whose brain area (voxels above the minimum of the
`brain_reference` sequence) is at least `min_brain_fraction` (0.3) of the largest brain area
along that axis — so normals show brain, not empty background. The same slices are chosen
for every sequence (the brain area comes from one reference sequence), so Table 1's rows
compare the same anatomy.

**Split**: patients sorted by folder name; the first `train_patients` (400) form the training
pool, of which the last `val_patients` (default 0) are the validation split ("val", used only
to choose the threshold); the rest are "test".

A malformed folder is an error naming the file: a missing modality, shapes or orientations
that disagree, an empty segmentation, a file that is not a readable NIfTI volume.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from clue.data.common import SliceSample, name_list
from clue.errors import UserFacingError

SEQUENCES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
SEQUENCE_LABELS: dict[str, str] = {"t1": "T1", "t1ce": "T1CE", "t2": "T2", "flair": "FLAIR"}
VIEWS: tuple[str, ...] = ("axial", "sagittal", "coronal")
# Which anatomical direction each view's slices are stacked along (either code of the pair).
VIEW_DIRECTIONS: dict[str, tuple[str, str]] = {"sagittal": ("L", "R"), "coronal": ("P", "A"), "axial": ("I", "S")}
SPLITS: tuple[str, ...] = ("train", "val", "test", "all")
NIFTI_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii")


@dataclass(frozen=True)
class _Slice:
    patient: str
    sequence: str
    view: str
    slice_index: int
    label: int


def modality_path(patient_dir: Path, modality: str) -> Path:
    """The file of one modality; `.nii.gz` preferred, `.nii` accepted. Error if absent."""
    for suffix in NIFTI_SUFFIXES:
        candidate = patient_dir / f"{patient_dir.name}_{modality}{suffix}"
        if candidate.is_file():
            return candidate
    raise UserFacingError(
        f"{patient_dir / (patient_dir.name + '_' + modality + '.nii.gz')}: missing {modality} file "
        f"(every BraTS patient folder needs {', '.join(SEQUENCES)} and seg)"
    )


def _open_nifti(path: Path) -> nib.spatialimages.SpatialImage:
    try:
        image = nib.load(str(path))
    except Exception as error:  # nibabel raises many types for a bad file; all mean the same
        raise UserFacingError(f"{path}: not a readable NIfTI file ({type(error).__name__}: {error})") from error
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise UserFacingError(f"{path}: not a NIfTI image (nibabel read it as {type(image).__name__})")
    if len(image.shape) != 3:
        raise UserFacingError(f"{path}: expected a 3-D volume, got shape {tuple(image.shape)}")
    return image


def _read_canonical(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """The voxel data in RAS+ order (float32) and its axis codes."""
    image = _open_nifti(path)
    try:
        canonical = nib.as_closest_canonical(image)
        data = np.asarray(canonical.dataobj, dtype=np.float32)
    except Exception as error:
        raise UserFacingError(
            f"{path}: cannot read the voxel data; truncated or corrupt ({type(error).__name__}: {error})"
        ) from error
    if not np.all(np.isfinite(data)):
        raise UserFacingError(f"{path}: voxel data contain NaN or infinity")
    return data, tuple(nib.aff2axcodes(canonical.affine))


def view_axis(axis_codes: Sequence[str], view: str) -> int:
    """The array axis along which `view` slices are stacked, from the NIfTI axis codes."""
    directions = VIEW_DIRECTIONS[view]
    for axis, code in enumerate(axis_codes):
        if code in directions:
            return axis
    raise ValueError(f"no {view} axis among axis codes {axis_codes}")


def extract_plane(volume: np.ndarray, axis_codes: Sequence[str], view: str, index: int) -> np.ndarray:
    """One slice in display orientation (see the module docstring). `volume` must be RAS+."""
    if tuple(axis_codes) != ("R", "A", "S"):
        raise ValueError(f"extract_plane needs a RAS+ volume, got axis codes {tuple(axis_codes)}")
    axis = view_axis(axis_codes, view)
    slab = np.take(volume, index, axis=axis)  # remaining axes keep RAS order
    # Flip both in-plane axes (R→L, A→P, S→I) and put the lower one (x, or y) on columns.
    return np.ascontiguousarray(slab[::-1, ::-1].T)


def select_tumour_slices(nonempty: np.ndarray, count: int) -> list[int]:
    """The `count` slice indices centred on the middle of the tumour's extent.

    `nonempty[k]`: whether slice k of the mask has tumour. The window starts `count // 2`
    below the middle slice ⌊(first + last)/2⌋ and is shifted to stay inside the volume.
    """
    tumour = np.flatnonzero(nonempty)
    if tumour.size == 0:
        raise ValueError("no tumour slices")
    depth = nonempty.size
    middle = (int(tumour[0]) + int(tumour[-1])) // 2
    count = min(count, depth)
    start = min(max(middle - count // 2, 0), depth - count)
    return list(range(start, start + count))


def select_normal_slices(
    nonempty: np.ndarray,
    brain_area: np.ndarray,
    count: int,
    margin: int,
    min_brain_fraction: float,
    rng: np.random.Generator,
    exclude: Sequence[int] = (),
) -> list[int]:
    """Up to `count` tumour-free slices outside the tumour's extent (± margin) that show brain,
    other than those in `exclude` (the tumour window, so that `count` new slices are added)."""
    tumour = np.flatnonzero(nonempty)
    first, last = int(tumour[0]) - margin, int(tumour[-1]) + margin
    indices = np.arange(nonempty.size)
    largest = float(brain_area.max()) if brain_area.size else 0.0
    eligible = (indices < first) | (indices > last)
    eligible &= brain_area >= min_brain_fraction * largest
    eligible &= brain_area > 0
    eligible[list(exclude)] = False
    candidates = indices[eligible]
    if candidates.size <= count:
        return sorted(int(i) for i in candidates)
    return sorted(int(i) for i in rng.choice(candidates, size=count, replace=False))


def _nbytes(groups: dict[str, tuple[np.ndarray, np.ndarray]]) -> int:
    return sum(images.nbytes + masks.nbytes for images, masks in groups.values())


class BraTSDataset:
    """Slices of BraTS 2021 patients, for some sequences × views of one split.

    Samples are ordered sequence → view → patient → slice, so a pass over one (sequence, view)
    group is a sequential pass. A volume is decoded on first use and the selected slices of
    every requested view are cut from it at once; those slices are kept (least recently used
    dropped first) up to `cache_mb` megabytes, so with the default 2048 MB a Table 1 pass over
    ~125 test patients decodes each volume once, and training data stays in memory.
    """

    has_masks = True

    def __init__(
        self,
        root: Path,
        split: str = "train",
        sequences: str | Sequence[str] = ("t1",),
        views: str | Sequence[str] = ("axial",),
        train_patients: int = 400,
        val_patients: int = 0,
        slices_per_tumour: int = 10,
        normal_slices: int = 5,
        normal_margin: int = 2,
        min_brain_fraction: float = 0.3,
        brain_reference: str = "t1",
        seed: int = 0,
        max_patients: int | None = None,
        cache_mb: float = 2048.0,
    ) -> None:
        self.root = Path(root)
        if split not in SPLITS:
            raise UserFacingError(f"{self.root}: brats option split must be one of {', '.join(SPLITS)}; got {split!r}")
        if not 0 <= val_patients <= train_patients:
            raise UserFacingError(f"{self.root}: brats options need 0 <= val_patients <= train_patients")
        if slices_per_tumour < 1 or normal_slices < 0 or normal_margin < 0:
            raise UserFacingError(
                f"{self.root}: brats options slices_per_tumour >= 1, normal_slices >= 0, normal_margin >= 0"
            )
        self.split = split
        self.sequences = name_list(sequences, SEQUENCES, "brats option sequences", self.root)
        self.views = name_list(views, VIEWS, "brats option views", self.root)
        self.brain_reference = name_list(brain_reference, SEQUENCES, "brats option brain_reference", self.root)[0]
        self.name = f"brats-{split}"
        self._cache_bytes = int(cache_mb * 2**20)
        # (patient, sequence) → {view: (images [n, H, W] float32, masks [n, H, W] uint8)}
        self._cache: OrderedDict[tuple[str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = OrderedDict()
        self._cached_bytes = 0

        patients = self._split_patients(train_patients, val_patients, max_patients)
        # Per patient and view: the selected slice indices and their labels (sequence-independent).
        selection: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for patient in patients:
            for view, chosen in self._select_patient(
                patient, slices_per_tumour, normal_slices, normal_margin, min_brain_fraction, seed
            ).items():
                selection[(patient, view)] = chosen
        self._selection = selection
        self._slices = [
            _Slice(patient, sequence, view, index, label)
            for sequence in self.sequences
            for view in self.views
            for patient in patients
            for index, label in selection[(patient, view)]
        ]
        self.patients = patients

    # -- indexing --------------------------------------------------------------------------

    def _split_patients(self, train_patients: int, val_patients: int, max_patients: int | None) -> list[str]:
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name.startswith("BraTS"))
        if not folders:
            raise UserFacingError(f"{self.root}: no BraTS patient folders (BraTS2021_XXXXX/) found")
        pool = folders[:train_patients]
        chosen = {
            "train": pool[: len(pool) - val_patients] if val_patients else pool,
            "val": pool[len(pool) - val_patients :] if val_patients else [],
            "test": folders[train_patients:],
            "all": folders,
        }[self.split]
        if max_patients is not None:
            chosen = chosen[:max_patients]
        if not chosen:
            raise UserFacingError(
                f"{self.root}: split {self.split!r} has no patients ({len(folders)} patient folders, "
                f"train_patients={train_patients}, val_patients={val_patients})"
            )
        return chosen

    def _check_patient_files(self, patient_dir: Path) -> dict[str, Path]:
        paths = {modality: modality_path(patient_dir, modality) for modality in (*SEQUENCES, "seg")}
        seg_image = _open_nifti(paths["seg"])
        seg_codes = nib.aff2axcodes(seg_image.affine)
        for modality in SEQUENCES:
            image = _open_nifti(paths[modality])
            if tuple(image.shape) != tuple(seg_image.shape):
                raise UserFacingError(
                    f"{paths[modality]}: shape {tuple(image.shape)} differs from the segmentation "
                    f"{paths['seg'].name} shape {tuple(seg_image.shape)}"
                )
            codes = nib.aff2axcodes(image.affine)
            if codes != seg_codes:
                raise UserFacingError(
                    f"{paths[modality]}: orientation {''.join(codes)} differs from the segmentation "
                    f"{paths['seg'].name} orientation {''.join(seg_codes)}"
                )
        return paths

    def _select_patient(
        self, patient: str, per_tumour: int, normals: int, margin: int, min_brain_fraction: float, seed: int
    ) -> dict[str, list[tuple[int, int]]]:
        paths = self._check_patient_files(self.root / patient)
        seg, codes = _read_canonical(paths["seg"])
        tumour = seg > 0
        if not tumour.any():
            raise UserFacingError(
                f"{paths['seg']}: segmentation is empty (no tumour voxels); BraTS slices are chosen around the tumour"
            )
        reference, _ = _read_canonical(paths[self.brain_reference])
        brain = reference > reference.min()
        chosen: dict[str, list[tuple[int, int]]] = {}
        for view in self.views:
            axis = view_axis(codes, view)
            other_axes = tuple(a for a in range(3) if a != axis)
            nonempty = tumour.any(axis=other_axes)
            brain_area = brain.sum(axis=other_axes)
            indices = select_tumour_slices(nonempty, per_tumour)
            # Seeded per patient and view, independent of which other patients or views are opened.
            rng = np.random.default_rng([seed, zlib.crc32(patient.encode()), VIEWS.index(view)])
            extra = select_normal_slices(nonempty, brain_area, normals, margin, min_brain_fraction, rng, indices)
            merged = sorted(set(indices) | set(extra))
            chosen[view] = [(k, int(nonempty[k])) for k in merged]
        return chosen

    # -- access ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slices)

    def meta(self, index: int) -> Mapping[str, Any]:
        entry = self._slices[index]
        return {
            "dataset": "brats",
            "case": entry.patient,
            "sequence": SEQUENCE_LABELS[entry.sequence],
            "view": entry.view,
            "slice_index": entry.slice_index,
            "label": entry.label,
            "source": str(self.root / entry.patient / f"{entry.patient}_{entry.sequence}.nii.gz"),
        }

    def _group(self, patient: str, sequence: str, view: str) -> tuple[np.ndarray, np.ndarray]:
        key = (patient, sequence)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key][view]
        patient_dir = self.root / patient
        volume, codes = _read_canonical(modality_path(patient_dir, sequence))
        seg, _ = _read_canonical(modality_path(patient_dir, "seg"))
        groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for each_view in self.views:
            indices = [k for k, _ in self._selection[(patient, each_view)]]
            images = np.stack([extract_plane(volume, codes, each_view, k) for k in indices]).astype(np.float32)
            masks = np.stack([(extract_plane(seg, codes, each_view, k) > 0) for k in indices]).astype(np.uint8)
            groups[each_view] = (images, masks)
        self._cache[key] = groups
        self._cached_bytes += _nbytes(groups)
        while self._cached_bytes > self._cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= _nbytes(dropped)
        return groups[view]

    def __getitem__(self, index: int) -> SliceSample:
        if not 0 <= index < len(self._slices):
            raise IndexError(index)
        entry = self._slices[index]
        images, masks = self._group(entry.patient, entry.sequence, entry.view)
        position = [k for k, _ in self._selection[(entry.patient, entry.view)]].index(entry.slice_index)
        mask = masks[position]
        meta = dict(self.meta(index))
        meta["source"] = str(modality_path(self.root / entry.patient, entry.sequence))
        return SliceSample(image=images[position], mask=mask, label=int(mask.any()), meta=meta)


# Opening a BraTS 2021 folder is constructing the dataset: the registry reads the options
# (and refuses unknown ones) from BraTSDataset's own signature.
open_brats = BraTSDataset


__all__ = [
    "BraTSDataset",
    "SEQUENCES",
    "SEQUENCE_LABELS",
    "VIEWS",
    "extract_plane",
    "modality_path",
    "open_brats",
    "select_normal_slices",
    "select_tumour_slices",
    "view_axis",
]
