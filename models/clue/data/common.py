"""What every dataset yields, and how datasets are opened by name.

A dataset is a sequence of 2-D slices of real-world values (after the modality LUT, the same
values the viewer sees), each with its pixel mask (or None when the set has image labels
only), its image label and a small metadata dict. Preprocessing to the model's input is not
the dataset's job: `PreprocessedSlices` applies `clue.preprocess` (the exact spec the viewer
reproduces), so every dataset feeds the model the same way.

Metadata keys every dataset fills (the evaluation groups Table 1 by them):
`dataset`, `case` (patient / case id), `sequence` (e.g. "T1"; the modality name as the data
calls it), `view` ("axial" | "sagittal" | "coronal", or "image" for 2-D sets), `slice_index`
(index along the view axis, or -1 for 2-D images), `source` (the file read).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset

from clue.errors import UserFacingError
from clue.preprocess import PreprocessSpec, preprocess_mask, preprocess_slice


@dataclass(frozen=True, eq=False)
class SliceSample:
    """One slice. `image`: [H, W] float32 real-world values; `mask`: [H, W] uint8 in {0, 1},
    or None when the set has no pixel labels; `label`: 1 abnormal, 0 normal; `region`: [H, W]
    bool, the brain (or, where no brain mask is known, the head) — the pixels the brain-only
    metrics and the false-positive area count — or None when the set does not know it."""

    image: np.ndarray
    mask: np.ndarray | None
    label: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    region: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 2:
            raise ValueError(f"slice image must be 2-D, got shape {self.image.shape}")
        if self.mask is not None and self.mask.shape != self.image.shape:
            raise ValueError(f"mask shape {self.mask.shape} differs from image shape {self.image.shape}")
        if self.region is not None and self.region.shape != self.image.shape:
            raise ValueError(f"region shape {self.region.shape} differs from image shape {self.image.shape}")
        if self.label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {self.label!r}")


@runtime_checkable
class SliceDataset(Protocol):
    """A finite, indexable set of slices. `meta(i)` must be cheap (no image decoding), so that
    callers can group and count slices before loading any pixels."""

    name: str

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> SliceSample: ...

    def meta(self, index: int) -> Mapping[str, Any]: ...


def sample_meta(dataset: SliceDataset, index: int) -> Mapping[str, Any]:
    """The metadata of one slice, without loading its pixels when the dataset can tell."""
    reader = getattr(dataset, "meta", None)
    if callable(reader):
        return reader(index)
    return dataset[index].meta


def has_pixel_labels(dataset: SliceDataset) -> bool:
    """Whether the set carries pixel masks (a dataset states it with `has_masks`)."""
    flag = getattr(dataset, "has_masks", None)
    if flag is not None:
        return bool(flag)
    return len(dataset) > 0 and dataset[0].mask is not None


class PreprocessedSlices(Dataset[dict[str, torch.Tensor]]):
    """A torch Dataset over a SliceDataset: model inputs exactly as the viewer makes them.

    Items: `image` [C, S, S] float32, `mask` [S, S] float32 in {0, 1} (zeros when the slice
    has no mask), `has_mask` bool, `label` float32, `index` int64 (into the slice dataset).
    """

    def __init__(self, slices: SliceDataset, spec: PreprocessSpec, cache: bool = False) -> None:
        self.slices = slices
        self.spec = spec
        # Training visits every slice each epoch and nothing is random, so the inputs can be
        # kept after the first epoch (memory: channels × size² × 4 bytes per slice).
        self._cache: dict[int, dict[str, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        item = self._make(index)
        if self._cache is not None:
            self._cache[index] = item
        return item

    def _make(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.slices[index]
        image = preprocess_slice(sample.image, self.spec)
        if sample.mask is None:
            mask = np.zeros((self.spec.size, self.spec.size), dtype=np.float32)
        else:
            mask = preprocess_mask(sample.mask, self.spec)
        return {
            "image": torch.from_numpy(image),
            "mask": torch.from_numpy(mask),
            "has_mask": torch.tensor(sample.mask is not None),
            "label": torch.tensor(float(sample.label), dtype=torch.float32),
            "index": torch.tensor(index, dtype=torch.int64),
        }


# -- registry ----------------------------------------------------------------------------------

# kind → "module:function"; the function takes (root: Path, **options) and returns a dataset.
# Imported lazily so that opening BMAD does not import nibabel, and so on.
DATASET_KINDS: dict[str, str] = {
    "brats": "clue.data.brats:open_brats",
    "bmad-chest": "clue.data.bmad:open_bmad_chest",
    "bmad-oct": "clue.data.bmad:open_bmad_oct",
    "demo": "clue.data.demo:open_demo",
    "demo-synthetic": "clue.data.demo:open_synthetic",
    "synthetic-anomalies": "clue.data.anomalies:open_synthetic_anomalies",
    "dicom-series": "clue.data.dicom_series:open_dicom_series",
}
# Kinds that make their slices instead of reading a folder: `root` may be left out.
ROOTLESS_KINDS: frozenset[str] = frozenset({"demo-synthetic", "synthetic-anomalies"})


def dataset_opener(kind: str) -> Callable[..., SliceDataset]:
    if kind not in DATASET_KINDS:
        raise UserFacingError(f"dataset kind {kind!r} is not known; choose one of: {', '.join(DATASET_KINDS)}")
    module_name, function_name = DATASET_KINDS[kind].split(":")
    module = importlib.import_module(module_name)
    opener = getattr(module, function_name)
    return opener  # type: ignore[no-any-return]


def open_dataset(kind: str, root: str | Path | None, **options: Any) -> SliceDataset:
    """Open a dataset folder by kind ("brats", "bmad-chest", "bmad-oct", "demo"), or make
    one ("demo-synthetic", which takes no folder).

    `options` go to the dataset (e.g. split="test", sequences=["t1"], views=["axial"]); an
    option the dataset does not take is reported by name.
    """
    opener = dataset_opener(kind)
    if root is None:
        if kind not in ROOTLESS_KINDS:
            raise UserFacingError(f"{kind} dataset needs a folder (root)")
        root_path = None
    else:
        root_path = Path(root)
        if not root_path.is_dir():
            raise UserFacingError(f"{root_path}: {kind} dataset folder does not exist")
    parameters = inspect.signature(opener).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if not takes_any:
        known = [name for name in parameters if name != "root"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UserFacingError(
                f"{root_path or kind}: {kind} dataset does not take option(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(known)}"
            )
    return opener(root_path, **options)


def name_list(value: str | Sequence[str], allowed: Sequence[str], what: str, where: object) -> list[str]:
    """A dataset option naming one or more of `allowed` (case-insensitive), as a lower-case
    list; an empty or unknown choice is a UserFacingError naming `where` and `what`."""
    names = [value] if isinstance(value, str) else list(value)
    names = [name.lower() for name in names]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise UserFacingError(f"{where}: {what} must list some of {', '.join(allowed)}; got {value!r}")
    return names


__all__ = [
    "name_list",
    "DATASET_KINDS",
    "PreprocessedSlices",
    "ROOTLESS_KINDS",
    "SliceDataset",
    "SliceSample",
    "dataset_opener",
    "has_pixel_labels",
    "open_dataset",
    "sample_meta",
]
