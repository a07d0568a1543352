"""Synthetic anomaly slices made on demand (`clue.synth.randomize`): kind "synthetic-anomalies".

    [[table1]]
    name = "held-out brain (MNI152), training families"
    kind = "synthetic-anomalies"
    options = { split = "test", brains = ["mni152"], sequences = ["t1", "t2", "flair"],
                views = ["axial", "sagittal", "coronal"], count = 40 }

Slice i of cell (sequence, view) is made from the seed (split base, view, i): the same
anatomy and lesion geometry in every sequence, so rows of a table differ only by contrast.
The seeds of the splits never overlap (train 1000, val 3000, test 5000, as the other
synthetic sets). Held out by construction: the MNI152 brain and the `infarct` family are
refused for the train and val splits (`clue.synth.brains`, `clue.synth.anomalies`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue.data.common import SliceSample, name_list
from clue.errors import UserFacingError

SPLIT_SEED_BASES: dict[str, int] = {"train": 1000, "val": 3000, "test": 5000}


class AnomalySlices:
    name = "synthetic-anomalies"
    has_masks = True

    def __init__(
        self,
        split: str,
        brains: Sequence[str],
        sequences: Sequence[str],
        views: Sequence[str],
        families: Sequence[str],
        count: int,
        anomaly_fraction: float,
        augment: bool,
        colin27: str | None,
    ) -> None:
        from clue.synth.randomize import RENDERING_LABELS, SliceRecipe

        self.split = split
        self._base = SPLIT_SEED_BASES[split]
        self._views = list(views)
        self._cells = [(s, v) for s in sequences for v in views]
        self._count = count
        self._recipes = {
            (s, v): SliceRecipe(
                brains=tuple(brains),
                rendering=s,
                view=v,
                families=tuple(families),
                anomaly_probability=anomaly_fraction,
                augment=augment,
                colin27=colin27,
            )
            for s, v in self._cells
        }
        self._labels = RENDERING_LABELS
        self.description = (
            f"{split} seeds, brains {'/'.join(brains)}, families {'/'.join(families) or 'none'}, "
            f"{'/'.join(sequences)} × {'/'.join(views)}, {count} per cell" + (", augmented" if augment else "")
        )

    def __len__(self) -> int:
        return len(self._cells) * self._count

    def _locate(self, index: int) -> tuple[tuple[str, str], int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._cells[index // self._count], index % self._count

    def meta(self, index: int) -> Mapping[str, Any]:
        (sequence, view), i = self._locate(index)
        return {
            "dataset": self.name,
            "case": f"{self.split}-{view}-{i}",
            "sequence": self._labels[sequence],
            "view": view,
            "slice_index": -1,
            "source": f"clue.synth.randomize seed ({self._base}, {self._views.index(view)}, {i})",
        }

    def __getitem__(self, index: int) -> SliceSample:
        from clue.synth.randomize import make_slice

        cell, i = self._locate(index)
        made = make_slice(self._recipes[cell], (self._base, self._views.index(cell[1]), i))
        meta = {**self.meta(index), **made.meta, "sequence": self._labels[cell[0]]}
        return SliceSample(image=made.image, mask=made.mask, label=int(made.mask.any()), meta=meta, region=made.brain)


def open_synthetic_anomalies(
    root: Path | None = None,
    split: str = "test",
    brains: str | Sequence[str] = ("colin27",),
    sequences: str | Sequence[str] = ("t1",),
    views: str | Sequence[str] = ("axial",),
    families: str | Sequence[str] = (),
    count: int = 40,
    anomaly_fraction: float = 0.7,
    augment: bool = False,
    colin27: str | None = None,
) -> AnomalySlices:
    """`root` is unused (the slices are made, not read)."""
    from clue.synth.anomalies import FAMILIES, check_families
    from clue.synth.brains import BRAINS, HELD_OUT_BRAINS
    from clue.synth.randomize import RENDERINGS
    from clue.synth.views import VIEWS

    where = f"synthetic anomalies ({split})"
    if split not in SPLIT_SEED_BASES:
        raise UserFacingError(f"{where}: split must be one of {', '.join(SPLIT_SEED_BASES)}")
    brain_names = name_list(brains, BRAINS, "option brains", where)
    held = [b for b in brain_names if b in HELD_OUT_BRAINS]
    if held and split != "test":
        raise UserFacingError(f"{where}: brain {', '.join(held)} is held out: evaluation (split 'test') only")
    family_names = check_families([families] if isinstance(families, str) else list(families), split)
    if not family_names and anomaly_fraction > 0:
        raise UserFacingError(f"{where}: anomaly_fraction > 0 needs families (any of {', '.join(FAMILIES)})")
    if not 1 <= int(count) <= 100_000:
        raise UserFacingError(f"{where}: count must be 1..100000")
    if not 0.0 <= float(anomaly_fraction) <= 1.0:
        raise UserFacingError(f"{where}: anomaly_fraction must be within 0..1")
    return AnomalySlices(
        split=split,
        brains=brain_names,
        sequences=name_list(sequences, RENDERINGS, "option sequences", where),
        views=name_list(views, VIEWS, "option views", where),
        families=family_names,
        count=int(count),
        anomaly_fraction=float(anomaly_fraction),
        augment=bool(augment),
        colin27=colin27,
    )


__all__ = ["AnomalySlices", "open_synthetic_anomalies"]
