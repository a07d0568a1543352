"""The demo data as slice datasets (``clue.data.common.SliceSample``).

Two ways in:

- ``open_demo(root)``: the DICOM folder ``clue demo-data`` wrote (what the viewer shows).
  Series are read with pydicom, ordered by position along the slice normal, with the
  modality LUT applied (real-world values, as the viewer sees them). The ground truth comes
  from each series' DICOM SEG, read with highdicom and mapped back to the source images by
  their referenced SOP Instance UIDs; segment 1 ("Lesion" = core ∪ oedema) is the mask.
  Lesion-free series have all-zero masks.

- ``open_synthetic(...)``: cases made on the fly by ``clue.synth.make_case`` from seeds,
  for training and evaluation (issue 4). Seeds of the splits never overlap (train 1000+i,
  val 3000+i, test 5000+i; the viewer's demo uses seed 0), so test lesions are held out by
  construction. Slices are chosen like BraTS (``clue.data.brats``): per case and view,
  ``slices_per_lesion`` slices centred on the lesion's middle slice, plus ``normal_slices``
  lesion-free slices at least ``normal_margin`` slices outside the lesion's extent whose
  brain area is at least ``min_brain_fraction`` of the largest; optionally whole lesion-free
  cases (``lesion_free_cases``) for more normals.

Slices are in the display orientation of the DICOM series (``clue.synth.views``): axial rows
anterior → posterior, columns patient-right → left; coronal/sagittal superior at the top.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clue.data.common import SliceSample, name_list
from clue.errors import UserFacingError

SEQUENCE_LABELS: dict[str, str] = {"t1": "T1", "t2": "T2", "flair": "FLAIR"}
VIEWS: tuple[str, ...] = ("axial", "sagittal", "coronal")
LESION_SEGMENT_NUMBER = 1
SPLIT_SEED_BASES: dict[str, int] = {"train": 1000, "val": 3000, "test": 5000}


# -- the generated DICOM folder --------------------------------------------------------------


@dataclass(frozen=True)
class _SeriesRef:
    study: str
    key: str
    sequence: str
    view: str
    folder: Path
    seg_path: Path | None


def read_series(folder: Path) -> tuple[np.ndarray, list[str]]:
    """A single-frame series → ([slices, rows, columns] float32 real-world values, SOP UIDs),
    ordered by position along the slice normal."""
    import pydicom

    files = sorted(folder.glob("*.dcm"))
    if not files:
        raise UserFacingError(f"{folder}: no .dcm files")
    entries: list[tuple[float, str, np.ndarray]] = []
    for path in files:
        try:
            ds = pydicom.dcmread(path)
            orientation = np.asarray(ds.ImageOrientationPatient, dtype=np.float64)
            position = np.asarray(ds.ImagePositionPatient, dtype=np.float64)
            pixels = ds.pixel_array.astype(np.float32)
        except Exception as error:  # pydicom raises many types for broken files
            raise UserFacingError(f"{path}: not a readable DICOM image with geometry ({error})") from error
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        normal = np.cross(orientation[:3], orientation[3:])
        entries.append((float(position @ normal), str(ds.SOPInstanceUID), pixels * slope + intercept))
    entries.sort(key=lambda entry: entry[0])
    shapes = {entry[2].shape for entry in entries}
    if len(shapes) != 1:
        raise UserFacingError(f"{folder}: slices of different sizes {sorted(shapes)}")
    return np.stack([e[2] for e in entries]).astype(np.float32), [e[1] for e in entries]


def read_seg_masks(seg_path: Path, source_uids: list[str], segment_number: int = LESION_SEGMENT_NUMBER) -> np.ndarray:
    """One segment of a DICOM SEG as [slices, rows, columns] uint8 {0, 1}, aligned with
    ``source_uids`` (slices the SEG has no frame for are zero)."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(seg_path)
    except Exception as error:
        raise UserFacingError(f"{seg_path}: not a readable DICOM SEG ({error})") from error
    referenced = {str(uid) for _, _, uid in seg.get_source_image_uids()}
    missing = [uid for uid in source_uids if uid not in referenced]
    if missing:
        raise UserFacingError(
            f"{seg_path}: does not reference {len(missing)} image(s) of its series, e.g. {missing[0]}"
        )
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=source_uids,
        segment_numbers=[segment_number],
        assert_missing_frames_are_empty=True,
    )
    return (np.asarray(pixels)[..., 0] > 0).astype(np.uint8)


class DemoDicomSlices:
    """Every slice of the selected series of a ``clue demo-data`` folder."""

    name = "demo"
    has_masks = True

    def __init__(
        self,
        root: Path,
        studies: Sequence[str] = ("lesion", "normal"),
        sequences: Sequence[str] = ("t1", "t2", "flair"),
        views: Sequence[str] = VIEWS,
        cache_size: int = 4,
    ) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not (self.root / ".complete").is_file() or not index_path.is_file():
            raise UserFacingError(
                f"{self.root}: not a complete demo-data folder (no .complete / index.json); run `clue demo-data --out {self.root}`"
            )
        try:
            index = json.loads(index_path.read_text())
            study_entries = index["studies"]
        except (ValueError, KeyError) as error:
            raise UserFacingError(f"{index_path}: not a demo-data index ({error})") from error
        self._series: list[_SeriesRef] = []
        for study in study_entries:
            if study["key"] not in studies:
                continue
            for series in study["series"]:
                if series["contrast"] not in sequences or series["view"] not in views:
                    continue
                seg = series.get("seg")
                self._series.append(
                    _SeriesRef(
                        study=study["key"],
                        key=series["key"],
                        sequence=series["contrast"],
                        view=series["view"],
                        folder=self.root / series["folder"],
                        seg_path=self.root / seg["path"] if seg else None,
                    )
                )
        # (series number in self._series, position) for every slice; labels from the index
        self._slices: list[tuple[int, int]] = []
        self._labels: list[int] = []
        for number, ref in enumerate(self._series):
            entry = next(
                s for st in study_entries if st["key"] == ref.study for s in st["series"] if s["key"] == ref.key
            )
            lesion_positions = set()
            if entry.get("lesion"):
                lesion_positions = {n - 1 for n in entry["lesion"]["instance_numbers"]}
            for position in range(int(entry["num_instances"])):
                self._slices.append((number, position))
                self._labels.append(int(position in lesion_positions))
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self._slices)

    def meta(self, index: int) -> Mapping[str, Any]:
        number, position = self._slices[index]
        ref = self._series[number]
        return {
            "dataset": "demo",
            "case": ref.study,
            "sequence": SEQUENCE_LABELS[ref.sequence],
            "view": ref.view,
            "slice_index": position,
            "label": self._labels[index],
            "source": str(ref.folder),
        }

    def _load(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        if number in self._cache:
            self._cache.move_to_end(number)
            return self._cache[number]
        ref = self._series[number]
        images, uids = read_series(ref.folder)
        if ref.seg_path is not None:
            masks = read_seg_masks(ref.seg_path, uids)
        else:
            masks = np.zeros(images.shape, dtype=np.uint8)
        self._cache[number] = (images, masks)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return images, masks

    def __getitem__(self, index: int) -> SliceSample:
        if not 0 <= index < len(self._slices):
            raise IndexError(index)
        number, position = self._slices[index]
        images, masks = self._load(number)
        mask = masks[position]
        return SliceSample(image=images[position], mask=mask, label=int(mask.any()), meta=dict(self.meta(index)))


def open_demo(
    root: Path,
    studies: str | Sequence[str] = ("lesion", "normal"),
    sequences: str | Sequence[str] = ("t1", "t2", "flair"),
    views: str | Sequence[str] = VIEWS,
    cache_size: int = 4,
) -> DemoDicomSlices:
    """Open a ``clue demo-data`` output folder (see the module docstring)."""
    where = str(root)
    return DemoDicomSlices(
        Path(root),
        studies=name_list(studies, ("lesion", "normal"), "option studies", where),
        sequences=name_list(sequences, tuple(SEQUENCE_LABELS), "option sequences", where),
        views=name_list(views, VIEWS, "option views", where),
        cache_size=cache_size,
    )


# -- synthetic cases from seeds ----------------------------------------------------------------


def split_seeds(split: str, cases: int) -> list[int]:
    """The lesion seeds of a split; disjoint across splits and from the viewer demo (seed 0)."""
    if split not in SPLIT_SEED_BASES:
        raise UserFacingError(f"synthetic split {split!r} is not known; choose one of {', '.join(SPLIT_SEED_BASES)}")
    base = SPLIT_SEED_BASES[split]
    if not 0 <= cases <= 1999:
        raise UserFacingError(f"synthetic split {split}: cases must be 0..1999, got {cases}")
    return [base + i for i in range(cases)]


@dataclass(frozen=True)
class _SyntheticSlice:
    seed: int
    lesion: bool
    sequence: str
    view: str
    slice_index: int
    label: int


class SyntheticSlices:
    """Slices of seeded synthetic cases (Colin27 + lesion), chosen like BraTS slices.

    Rendering one case in one contrast takes ~0.3 s; the selected slices of the most
    recently used cases are cached (``cache_size`` cases × contrasts)."""

    name = "demo-synthetic"
    has_masks = True

    def __init__(
        self,
        seeds: Sequence[int],
        sequences: Sequence[str] = ("t1",),
        views: Sequence[str] = ("axial",),
        slices_per_lesion: int = 10,
        normal_slices: int = 5,
        normal_margin: int = 2,
        min_brain_fraction: float = 0.3,
        lesion_free_cases: int = 0,
        colin27_path: str | Path | None = None,
        cache_size: int = 64,
    ) -> None:
        from clue.synth.anatomy import load_anatomy
        from clue.synth.case import make_lesion
        from clue.synth.views import extract_slice, num_slices, slice_axis

        self._colin27_path = colin27_path
        anatomy = load_anatomy(colin27_path)
        brain_area = {
            view: np.asarray(
                [
                    np.count_nonzero(extract_slice(anatomy.brain, view, k))
                    for k in range(num_slices(anatomy.shape, view))
                ]
            )
            for view in views
        }
        self._slices: list[_SyntheticSlice] = []
        self._lesions: dict[int, Any] = {}
        for seed in seeds:
            lesion = make_lesion(anatomy, seed)
            self._lesions[seed] = lesion
            for view in views:
                axis = slice_axis(view)
                other = tuple(a for a in range(3) if a != axis)
                extent = np.flatnonzero(lesion.mask.any(axis=other))
                count = num_slices(anatomy.shape, view)
                middle = (int(extent[0]) + int(extent[-1])) // 2
                start = min(max(middle - slices_per_lesion // 2, 0), count - slices_per_lesion)
                window = list(range(start, start + slices_per_lesion))
                areas = brain_area[view]
                far = [
                    k
                    for k in range(count)
                    if (k < extent[0] - normal_margin or k > extent[-1] + normal_margin)
                    and areas[k] >= min_brain_fraction * areas.max()
                ]
                rng = np.random.default_rng([seed, axis, 0xA0])
                normals = (
                    sorted(rng.choice(far, size=min(normal_slices, len(far)), replace=False).tolist()) if far else []
                )
                lesion_slices = set(int(k) for k in extent)
                for sequence in sequences:
                    for k in sorted(set(window) | set(normals)):
                        self._slices.append(
                            _SyntheticSlice(seed, True, sequence, view, int(k), int(k in lesion_slices))
                        )
        # Whole lesion-free cases: extra normals with other acquisitions (seeds after the split's).
        free_seeds = [int(max(seeds, default=0)) + 1 + i for i in range(lesion_free_cases)]
        for seed in free_seeds:
            for view in views:
                areas = brain_area[view]
                candidates = [k for k in range(len(areas)) if areas[k] >= min_brain_fraction * areas.max()]
                rng = np.random.default_rng([seed, slice_axis(view), 0xF0])
                chosen = sorted(
                    rng.choice(candidates, size=min(slices_per_lesion, len(candidates)), replace=False).tolist()
                )
                for sequence in sequences:
                    for k in chosen:
                        self._slices.append(_SyntheticSlice(seed, False, sequence, view, int(k), 0))
        self._cache: OrderedDict[tuple[int, bool, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self._slices)

    def meta(self, index: int) -> Mapping[str, Any]:
        entry = self._slices[index]
        return {
            "dataset": self.name,
            "case": f"seed{entry.seed}" + ("" if entry.lesion else "-normal"),
            "sequence": SEQUENCE_LABELS[entry.sequence],
            "view": entry.view,
            "slice_index": entry.slice_index,
            "label": entry.label,
            "source": f"clue.synth seed {entry.seed}",
        }

    def _volume(self, seed: int, lesion: bool, sequence: str) -> tuple[np.ndarray, np.ndarray]:
        from clue.synth.anatomy import load_anatomy
        from clue.synth.case import render_case

        key = (seed, lesion, sequence)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        anatomy = load_anatomy(self._colin27_path)
        case = render_case(anatomy, seed, sequence, self._lesions[seed] if lesion else None)
        self._cache[key] = (case.volume, case.mask)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return case.volume, case.mask

    def __getitem__(self, index: int) -> SliceSample:
        from clue.synth.views import extract_slice

        if not 0 <= index < len(self._slices):
            raise IndexError(index)
        entry = self._slices[index]
        from clue.synth.anatomy import load_anatomy

        volume, mask = self._volume(entry.seed, entry.lesion, entry.sequence)
        image = extract_slice(volume, entry.view, entry.slice_index)
        binary = (extract_slice(mask, entry.view, entry.slice_index) > 0).astype(np.uint8)
        brain = extract_slice(load_anatomy(self._colin27_path).brain, entry.view, entry.slice_index)
        return SliceSample(image=image, mask=binary, label=int(binary.any()), meta=dict(self.meta(index)), region=brain)


def open_synthetic(
    root: Path | None = None,
    split: str = "train",
    cases: int = 60,
    sequences: str | Sequence[str] = ("t1",),
    views: str | Sequence[str] = ("axial",),
    slices_per_lesion: int = 10,
    normal_slices: int = 5,
    normal_margin: int = 2,
    min_brain_fraction: float = 0.3,
    lesion_free_cases: int = 0,
    colin27: str | Path | None = None,
    cache_size: int = 64,
) -> SyntheticSlices:
    """Synthetic slices of a split's seeds. ``root`` is unused (the cases are made, not read);
    it is accepted so the registry's ``open_dataset(kind, root, ...)`` can open this too."""
    where = f"synthetic {split}"
    return SyntheticSlices(
        seeds=split_seeds(split, cases),
        sequences=name_list(sequences, tuple(SEQUENCE_LABELS), "option sequences", where),
        views=name_list(views, VIEWS, "option views", where),
        slices_per_lesion=slices_per_lesion,
        normal_slices=normal_slices,
        normal_margin=normal_margin,
        min_brain_fraction=min_brain_fraction,
        lesion_free_cases=lesion_free_cases,
        colin27_path=colin27,
        cache_size=cache_size,
    )


__all__ = [
    "DemoDicomSlices",
    "SyntheticSlices",
    "open_demo",
    "open_synthetic",
    "read_seg_masks",
    "read_series",
    "split_seeds",
]
