"""Datasets: BraTS 2021 (NIfTI), BMAD chest X-ray and retinal OCT (PNG), the demo data.

All yield `SliceSample`s; open one by kind with `open_dataset(kind, root, **options)`.
"""

from clue.data.common import (
    DATASET_KINDS,
    PreprocessedSlices,
    SliceDataset,
    SliceSample,
    has_pixel_labels,
    open_dataset,
    sample_meta,
)

__all__ = [
    "DATASET_KINDS",
    "PreprocessedSlices",
    "SliceDataset",
    "SliceSample",
    "has_pixel_labels",
    "open_dataset",
    "sample_meta",
]
