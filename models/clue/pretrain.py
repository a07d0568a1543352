"""`clue pretrain`: contrastive pre-training of a small CLIP on image–caption pairs made from
the synthetic demo cases (Colin27 + seeded lesions, `clue.data.demo.open_synthetic`).

No pretrained CLIP weights can be obtained where the demo model is built, so its backbone is
trained here, with CLIP's own objective (`clue.losses.clip_contrastive_loss`), the real CLIP
BPE tokenizer and the same towers as ViT-B/16 (`clue.clip.CLIP`), only smaller. The result
is a plain CLIP state dict (open_clip / OpenAI key names) in a safetensors file, which every
other command loads like any user's checkpoint.

Pairs. Each slice (any of the configured sequences and views, of the *training* lesion seeds
only) gets one caption saying what a radiologist would say about it:

    "an axial T1 MRI slice of a healthy brain"
    "a coronal FLAIR MRI slice of a brain with a tumour in the upper left of the image"

The tumour's quarter of the image (from the centre of its mask on the displayed slice) is in
the caption so that the image tower has to find *where* the lesion is, not only whether there
is one; CLUE's maps are read from the patch tokens, which a presence-only objective leaves
untrained. Every caption is one of a small set of classes (sequence × view × {healthy, tumour
in one of four quarters}), so a batch draws distinct classes (one slice each): row i's caption
is then the positive of image i and of no other image, as the InfoNCE loss assumes.

Region captions. CLUE reads its maps from the *patch* tokens of several blocks (through the
frozen ``ln_post`` and ``proj``), which CLIP's image-level loss never asks to mean anything:
a first demo backbone trained with captions alone gave maps no better than chance (pixel
AUROC ≈ 0.3–0.5). So each 16×16 patch is also paired with one of three region captions,
the same for every sequence and view ("healthy brain tissue …", "a tumour …", "background
outside the brain …"), from the slice's mask and foreground; every block's patch tokens,
projected like CLUE projects them, are classified against the three caption features with
the logit scale (class-balanced cross-entropy; patches half in, half out of the lesion are
left out). This is region–text contrastive pre-training in the RegionCLIP sense, and it is
where the backbone learns what a lesion looks like in every contrast. Like the captions, the
patch labels come from *training* seeds only; docs/demo-model.md says what this means for
reading the demo's Table 1.

Under torchrun (`torchrun --nproc_per_node=N -m clue.cli pretrain …`, docs/scaling.md) every
rank draws the same global batch and encodes its share of the images; the contrastive loss is
computed on the image features gathered from all ranks (with their gradients), the region
loss is balanced with the class counts of the whole batch, and DDP averages the gradients:
the same objective as one process over the same batch. Rank 0 alone writes the files.

Slice term (`slice_weight`, off by default). CLUE's image score is read from every tapped
block's CLS token (through ``ln_post`` and ``proj``), which the captions above train only in the
last block, and only among many caption classes: on the generalising recipe's backbones every
block's CLS gave an image AUROC at chance. With the term on, each block's projected CLS is
classified against the normal / diseased region captions — the words CLUE's prompts start from
— with the slice's label from its patches (`slice_labels`: diseased when one patch is abnormal,
left out when the lesion covers no patch enough to call it abnormal, since no token can be
expected to see a lesion the patch term calls invisible). Class-balanced like the region term.
`slice_label = "any"` calls a slice diseased from one lesion pixel instead, as the evaluation
does: on the selection set the CLS of the recipe's backbone ranks slices with a patch-sized
lesion at 0.69 and those without at 0.46, the ones the "patch" rule leaves out.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from clue import distributed
from clue.atomic import atomic_write
from clue.configfile import dataclass_from_dict, read_toml
from clue.distributed import Runtime
from clue.errors import UserFacingError

SEQUENCE_WORDS: dict[str, str] = {"T1": "T1", "T2": "T2", "FLAIR": "FLAIR"}
QUARTERS: tuple[str, ...] = ("upper left", "upper right", "lower left", "lower right")
# Region captions, index = patch label (IGNORE_PATCH marks patches left out of the loss).
REGION_CAPTIONS: tuple[str, ...] = (
    "healthy brain tissue in an MRI slice",
    "a tumour in an MRI slice of a brain",
    "background outside the brain in an MRI slice",
)
# With data = "anomalies" the lesions are of many families and contrasts are randomised, so
# neither the captions nor the region captions name a tumour or a sequence. They use the words
# CLUE's prompts are made of — the states "normal" / "diseased" and the class "brain"
# (docs/method.md) — so that the text tower has learned what those words mean about a patch —
# in the prompt's own order, "[state] [class] <context>": a CLUE stage whose context starts
# from "tissue in an MRI slice." (`context_init`, 6 tokens = 2 × n_ctx 3) begins with exactly
# these captions.
ANOMALY_REGION_CAPTIONS: tuple[str, ...] = (
    "normal brain tissue in an MRI slice.",
    "diseased brain tissue in an MRI slice.",
    "background outside the brain in an MRI slice.",
)
PRETRAIN_DATA = ("tumour-cases", "anomalies")
SLICE_LABEL_RULES = ("patch", "any")
HEALTHY_PATCH, TUMOUR_PATCH, BACKGROUND_PATCH, IGNORE_PATCH = 0, 1, 2, -1
PRETRAIN_FORMAT = "clue-pretrain/1"
PRETRAIN_PRECISIONS = ("fp32", "bf16")


@dataclass
class PretrainConfig:
    """Everything that decides the pretrained backbone (defaults: the demo model's)."""

    seed: int = 0
    # CLIP sizes (clue.clip.CLIPConfig fields); head width 64 as in OpenAI's models.
    embed_dim: int = 128
    image_size: int = 224
    patch_size: int = 16
    vision_width: int = 128
    vision_layers: int = 4
    text_width: int = 128
    text_layers: int = 3
    # Data: synthetic training seeds only (clue.data.demo.open_synthetic options).
    cases: int = 24
    sequences: list[str] = field(default_factory=lambda: ["t1", "t2", "flair"])
    views: list[str] = field(default_factory=lambda: ["axial", "sagittal", "coronal"])
    slices_per_lesion: int = 10
    normal_slices: int = 5
    lesion_free_cases: int = 2
    # Optimisation.
    steps: int = 400
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.1
    warmup_steps: int = 20
    log_every: int = 20
    region_weight: float = 1.0  # weight of the patch-level region-caption term (0: captions only)
    # Weight of the slice term (0: none): every block's CLS, projected the way CLUE reads it for
    # its image score, classified as the normal / diseased region caption (`slice_labels`).
    slice_weight: float = 0.0
    # Which slices the slice term calls diseased: "patch", when a patch is abnormal (lesions
    # smaller than the patch rule are left out); "any", from one lesion pixel (slice_labels).
    slice_label: str = "patch"
    # What the slices are: "tumour-cases" (our tumour model in Colin27, the fixed T1 / T2-like /
    # FLAIR-like rules; the fields above) or "anomalies" (clue.data.anomalies: the training
    # brains, spatially augmented, in the renderings below, with every training family).
    data: str = "tumour-cases"
    brains: list[str] = field(default_factory=lambda: ["colin27", "colin27-head"])
    renderings: list[str] = field(default_factory=lambda: ["randomized", "t1"])
    families: list[str] = field(default_factory=lambda: ["tumour", "blob", "perlin", "cutpaste", "multifocal"])
    slices_per_cell: int = 600  # per (rendering, view)
    # A patch counts as abnormal from this share of lesion pixels (smaller shares are left out
    # of the region loss). Many anomalies are smaller than a 16-px patch: at 0.5 they would
    # never be called abnormal, and the backbone would not learn to see them.
    lesion_patch_fraction: float = 0.5
    anomaly_fraction: float = 0.7
    # Intra-op CPU threads per process (0: PyTorch's default, the machine's core count). Part of
    # what decides the bits: the thread count sets the order of float sums, and one- and
    # two-thread runs of one config part at step 2. A recipe meant to be rebuilt fixes it.
    threads: int = 0
    # The towers' arithmetic in pre-training: "fp32", or "bf16" — their matmuls under CPU
    # autocast in bfloat16, the text projection included (weights, optimiser, residual stream,
    # the image projection CLUE reads, the similarities and the losses stay float32). Part of
    # what decides the bits, like `threads`.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError("threads must be ≥ 0 (0: PyTorch's default)")
        if self.precision not in PRETRAIN_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRETRAIN_PRECISIONS)}")
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError("steps must be ≥ 1 and batch_size ≥ 2 (a contrastive batch needs negatives)")
        if self.cases < 1:
            raise ValueError("cases must be ≥ 1")
        if self.data not in PRETRAIN_DATA:
            raise ValueError(f"data must be one of {', '.join(PRETRAIN_DATA)}")
        if self.slice_label not in SLICE_LABEL_RULES:
            raise ValueError(f"slice_label must be one of {', '.join(SLICE_LABEL_RULES)}")
        for name in ("vision_width", "text_width"):
            if getattr(self, name) % 64 != 0:
                raise ValueError(f"{name} must be a multiple of 64 (the head width)")

    def clip_config(self) -> Any:
        from clue.clip import CLIPConfig

        return CLIPConfig(
            embed_dim=self.embed_dim,
            image_size=self.image_size,
            patch_size=self.patch_size,
            vision_width=self.vision_width,
            vision_layers=self.vision_layers,
            text_width=self.text_width,
            text_layers=self.text_layers,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "pretrain config") -> PretrainConfig:
        return dataclass_from_dict(cls, data, source, "pretrain")


def load_pretrain_config(path: Path) -> PretrainConfig:
    """A PretrainConfig from TOML: top-level keys or a `[pretrain]` table."""
    data = read_toml(path, "pretrain")
    table = data.get("pretrain", data)
    if not isinstance(table, dict):
        raise UserFacingError(f"{path}: [pretrain] must be a table")
    return PretrainConfig.from_dict(dict(table), source=str(path))


# -- captions ------------------------------------------------------------------------------------


def lesion_quarter(mask: np.ndarray) -> str:
    """The quarter of the displayed slice holding the centre of the lesion mask."""
    rows, columns = np.nonzero(mask)
    height, width = mask.shape
    vertical = "upper" if rows.mean() < height / 2 else "lower"
    horizontal = "left" if columns.mean() < width / 2 else "right"
    return f"{vertical} {horizontal}"


def caption(sequence: str | None, view: str, mask: np.ndarray | None) -> str:
    """The caption of one slice: its view and sequence, and the tumour with its quarter.
    Without a sequence (randomised contrasts, many anomaly families) it names neither the
    sequence nor a tumour: "an axial MRI slice of a brain with an anomaly in the upper left…"."""
    article = "an" if view[0] in "aeiou" else "a"
    if sequence is None:
        if mask is None or not mask.any():
            return f"{article} {view} MRI slice of a normal brain"
        return (
            f"{article} {view} MRI slice of a diseased brain with an anomaly in the {lesion_quarter(mask)} of the image"
        )
    words = SEQUENCE_WORDS.get(sequence, sequence)
    if mask is None or not mask.any():
        return f"{article} {view} {words} MRI slice of a healthy brain"
    return f"{article} {view} {words} MRI slice of a brain with a tumour in the {lesion_quarter(mask)} of the image"


def all_captions(sequences: list[str] | None, views: list[str]) -> list[str]:
    """Every caption the scheme can produce for these sequences and views (the classes);
    `sequences=None`: the sequence-free scheme."""
    if sequences is None:
        mask = np.zeros((2, 2), np.uint8)
        texts = []
        for view in views:
            texts.append(caption(None, view, None))
            for corner in ((0, 0), (0, 1), (1, 0), (1, 1)):
                mask[:] = 0
                mask[corner] = 1
                texts.append(caption(None, view, mask))
        return texts
    texts = []
    for sequence in sequences:
        label = {"t1": "T1", "t2": "T2", "flair": "FLAIR"}.get(sequence.lower(), sequence)
        for view in views:
            article = "an" if view[0] in "aeiou" else "a"
            texts.append(f"{article} {view} {label} MRI slice of a healthy brain")
            for quarter in QUARTERS:
                texts.append(
                    f"{article} {view} {label} MRI slice of a brain with a tumour in the {quarter} of the image"
                )
    return texts


# -- pairs ---------------------------------------------------------------------------------------


@dataclass
class PairSet:
    """Preprocessed slices and their caption classes.

    planes: [N, S, S] float16, the slice after intensity clip, pad and resize (before the
    channel replication and CLIP mean/std, which are applied per batch to save memory).
    classes: [N] index into `captions`."""

    planes: torch.Tensor
    classes: torch.Tensor
    captions: list[str]
    description: str
    patch_labels: torch.Tensor  # [N, grid, grid] int8: HEALTHY / TUMOUR / BACKGROUND / IGNORE
    region_captions: tuple[str, ...] = REGION_CAPTIONS
    distinct_batches: bool = True  # batches of distinct caption classes (else: any slices)

    def class_members(self) -> dict[int, np.ndarray]:
        classes = self.classes.numpy()
        return {int(c): np.flatnonzero(classes == c) for c in np.unique(classes)}


def build_pairs(
    config: PretrainConfig, colin27: str | Path | None = None, progress: Callable[[str], None] = print
) -> PairSet:
    from clue.data.demo import open_synthetic
    from clue.preprocess import PreprocessSpec, center_pad, normalise_intensity, preprocess_mask, resize_square

    if config.data == "anomalies":
        return _build_anomaly_pairs(config, colin27, progress)
    slices = open_synthetic(
        split="train",
        cases=config.cases,
        sequences=config.sequences,
        views=config.views,
        slices_per_lesion=config.slices_per_lesion,
        normal_slices=config.normal_slices,
        lesion_free_cases=config.lesion_free_cases,
        colin27=colin27,
    )
    spec = PreprocessSpec(size=config.image_size)
    captions = all_captions(config.sequences, config.views)
    index_of = {text: i for i, text in enumerate(captions)}
    grid = config.image_size // config.patch_size
    planes = torch.empty((len(slices), spec.size, spec.size), dtype=torch.float16)
    patch_labels = torch.empty((len(slices), grid, grid), dtype=torch.int8)
    classes = torch.empty(len(slices), dtype=torch.int64)
    started = time.perf_counter()
    for i in range(len(slices)):
        sample = slices[i]
        meta = sample.meta
        text = caption(str(meta["sequence"]), str(meta["view"]), sample.mask)
        if text not in index_of:
            raise UserFacingError(f"pretrain data: caption {text!r} is outside the caption scheme")
        padded, _, _ = center_pad(normalise_intensity(sample.image, spec), spec.pad_value)
        planes[i] = torch.from_numpy(resize_square(padded, spec.size, "bicubic"))
        classes[i] = index_of[text]
        mask = (
            preprocess_mask(sample.mask, spec)
            if sample.mask is not None
            else np.zeros((spec.size, spec.size), np.float32)
        )
        patch_labels[i] = torch.from_numpy(region_labels(planes[i].float().numpy(), mask, config.patch_size))
    progress(
        f"pretrain pairs: {len(slices)} slices, {len(set(classes.tolist()))} caption classes, "
        f"made in {time.perf_counter() - started:.1f} s"
    )
    description = (
        f"synthetic training seeds {config.cases} lesion cases (+{config.lesion_free_cases} lesion-free), "
        f"sequences {'/'.join(config.sequences)}, views {'/'.join(config.views)}, {len(slices)} slices"
    )
    return PairSet(
        planes=planes, classes=classes, captions=captions, description=description, patch_labels=patch_labels
    )


def _build_anomaly_pairs(
    config: PretrainConfig, colin27: str | Path | None, progress: Callable[[str], None]
) -> PairSet:
    """Pairs from `clue.data.anomalies` (training brains and families, augmented)."""
    from clue.data.anomalies import open_synthetic_anomalies

    slices = open_synthetic_anomalies(
        split="train",
        brains=config.brains,
        sequences=config.renderings,
        views=config.views,
        families=config.families,
        count=config.slices_per_cell,
        anomaly_fraction=config.anomaly_fraction,
        augment=True,
        colin27=None if colin27 is None else str(colin27),
    )
    captions = all_captions(None, config.views)
    index_of = {text: i for i, text in enumerate(captions)}
    grid = config.image_size // config.patch_size
    planes = torch.empty((len(slices), config.image_size, config.image_size), dtype=torch.float16)
    patch_labels = torch.empty((len(slices), grid, grid), dtype=torch.int8)
    classes = torch.empty(len(slices), dtype=torch.int64)
    started = time.perf_counter()
    workers = pair_workers()
    for start, chunk in _pair_chunks(slices, config, index_of, workers):
        stop = start + len(chunk.classes)
        planes[start:stop], classes[start:stop], patch_labels[start:stop] = chunk
        if stop // 1000 > start // 1000:
            progress(f"pretrain pairs: {stop}/{len(slices)} slices ({time.perf_counter() - started:.0f} s)")
    progress(
        f"pretrain pairs: {len(slices)} slices, {len(set(classes.tolist()))} caption classes, "
        f"made in {time.perf_counter() - started:.1f} s" + (f" by {workers} processes" if workers > 1 else "")
    )
    return PairSet(
        planes=planes,
        classes=classes,
        captions=captions,
        description=slices.description,
        patch_labels=patch_labels,
        region_captions=ANOMALY_REGION_CAPTIONS,
        distinct_batches=False,
    )


# Each slice is a function of its own seed (clue.data.anomalies) and its preprocessing does not
# depend on the thread count, so the pairs are the same bit for bit however many processes make
# them (test_pretrain checks it). The work is numpy and scipy on one core per slice: worker
# processes with one torch thread each use the cores this process may use.
PAIR_CHUNK = 250


class _PairChunk(NamedTuple):
    planes: torch.Tensor  # [n, size, size] float16
    classes: torch.Tensor  # [n] int64
    patch_labels: torch.Tensor  # [n, grid, grid] int8


def pair_workers() -> int:
    """Processes that make the pairs: this process's intra-op threads, at most the cores."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def _pair_chunks(
    slices: Any, config: PretrainConfig, index_of: dict[str, int], workers: int
) -> Iterator[tuple[int, _PairChunk]]:
    """(first index, chunk) for every PAIR_CHUNK slices, in index order."""
    starts = range(0, len(slices), PAIR_CHUNK)
    stops = [min(start + PAIR_CHUNK, len(slices)) for start in starts]
    if workers <= 1 or len(starts) <= 1:
        for start, stop in zip(starts, stops, strict=True):
            yield start, _make_pair_chunk(slices, start, stop, config, index_of)
        return
    # spawn, not fork: forking a process whose torch thread pool is running can hang.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        min(workers, len(starts)), mp_context=context, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        futures = [
            pool.submit(_make_pair_chunk, slices, start, stop, config, index_of)
            for start, stop in zip(starts, stops, strict=True)
        ]
        for start, future in zip(starts, futures, strict=True):
            yield start, future.result()


def _make_pair_chunk(
    slices: Any, start: int, stop: int, config: PretrainConfig, index_of: dict[str, int]
) -> _PairChunk:
    from clue.preprocess import PreprocessSpec, center_pad, normalise_intensity, preprocess_mask, resize_square

    spec = PreprocessSpec(size=config.image_size)
    indices = range(start, stop)
    grid = config.image_size // config.patch_size
    planes = torch.empty((len(indices), spec.size, spec.size), dtype=torch.float16)
    labels = torch.empty((len(indices), grid, grid), dtype=torch.int8)
    classes = torch.empty(len(indices), dtype=torch.int64)
    for row, i in enumerate(indices):
        sample = slices[i]
        padded, _, _ = center_pad(normalise_intensity(sample.image, spec), spec.pad_value)
        planes[row] = torch.from_numpy(resize_square(padded, spec.size, "bicubic"))
        mask = (
            preprocess_mask(sample.mask, spec)
            if sample.mask is not None
            else np.zeros((spec.size, spec.size), np.float32)
        )
        classes[row] = index_of[caption(None, str(sample.meta["view"]), (mask > 0.5).astype(np.uint8))]
        region = preprocess_mask(sample.region.astype(np.uint8), spec) if sample.region is not None else None
        labels[row] = torch.from_numpy(
            region_labels(planes[row].float().numpy(), mask, config.patch_size, region, config.lesion_patch_fraction)
        )
    return _PairChunk(planes=planes, classes=classes, patch_labels=labels)


def region_labels(
    plane: np.ndarray, mask: np.ndarray, patch_size: int, brain: np.ndarray | None = None, lesion_fraction: float = 0.5
) -> np.ndarray:
    """Per patch: TUMOUR when at least `lesion_fraction` of it is lesion, IGNORE when some but
    less, else BACKGROUND when less than a tenth of it has signal (outside the brain), else
    HEALTHY. With a `brain` mask (on the plane's grid), BACKGROUND is less than half brain:
    scalp and skull are outside the brain too."""
    size = plane.shape[0]
    grid = size // patch_size

    def fraction(values: np.ndarray) -> np.ndarray:
        return (
            values[: grid * patch_size, : grid * patch_size]
            .reshape(grid, patch_size, grid, patch_size)
            .mean(axis=(1, 3))
        )

    lesion = fraction((mask > 0.5).astype(np.float32))
    labels = np.full((grid, grid), HEALTHY_PATCH, dtype=np.int8)
    if brain is None:
        labels[fraction((plane > 0.05).astype(np.float32)) < 0.1] = BACKGROUND_PATCH
    else:
        labels[fraction((brain > 0.5).astype(np.float32)) < 0.5] = BACKGROUND_PATCH
    labels[lesion > 0] = IGNORE_PATCH
    labels[lesion >= lesion_fraction] = TUMOUR_PATCH
    return labels


def slice_labels(patch_labels: torch.Tensor, rule: str = "patch") -> torch.Tensor:
    """Per slice [B, 1] from its patch labels [B, ...]: TUMOUR (diseased) when any patch is
    abnormal; when lesion pixels touch patches but none is abnormal (a lesion smaller than the
    patch rule sees), IGNORE under rule "patch" and TUMOUR under rule "any"; else HEALTHY."""
    if rule not in SLICE_LABEL_RULES:
        raise ValueError(f"slice_label must be one of {', '.join(SLICE_LABEL_RULES)}")
    flat = patch_labels.reshape(len(patch_labels), -1)
    abnormal = (flat == TUMOUR_PATCH).any(dim=1)
    touched = (flat == IGNORE_PATCH).any(dim=1)
    labels = torch.full((len(flat),), HEALTHY_PATCH, dtype=torch.int8)
    labels[touched] = IGNORE_PATCH if rule == "patch" else TUMOUR_PATCH
    labels[abnormal] = TUMOUR_PATCH
    return labels[:, None]


def region_class_counts(labels: torch.Tensor) -> torch.Tensor:
    """Patches per region class in a batch (IGNORE left out): what `region_loss` balances."""
    flat = labels.reshape(-1).long()
    return torch.bincount(flat[flat != IGNORE_PATCH], minlength=len(REGION_CAPTIONS)).float()


def region_loss(
    patch_features: list[torch.Tensor],
    region_text: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor,
    class_counts: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-balanced cross-entropy of every block's normalized patch features [B, N, E]
    against the normalized region-caption features [3, E]; labels [B, N] (IGNORE left out).
    `class_counts`: the balancing counts when `labels` are one rank's share of a batch (the
    whole batch's, so that the ranks' losses add up to the one-process loss)."""
    flat = labels.reshape(-1).long()
    keep = flat != IGNORE_PATCH
    per_class = region_class_counts(labels) if class_counts is None else class_counts
    present = torch.nonzero(per_class > 0).reshape(-1)
    weights = torch.zeros(len(REGION_CAPTIONS))
    for label in present.tolist():
        weights[label] = 1.0 / len(present)
    pixel_weights = torch.where(
        keep, weights[flat.clamp(min=0)] / per_class[flat.clamp(min=0)].clamp(min=1), torch.zeros(())
    )
    total = torch.zeros(())
    for features in patch_features:
        logits = logit_scale * features.reshape(-1, features.shape[-1]) @ region_text.t()
        losses = torch.nn.functional.cross_entropy(logits, flat.clamp(min=0), reduction="none")
        total = total + (losses * pixel_weights).sum()
    return total / len(patch_features)


def to_model_input(planes: torch.Tensor) -> torch.Tensor:
    """[B, S, S] planes in [0, 1] → [B, 3, S, S] with CLIP's mean/std (preprocess step 5)."""
    from clue.preprocess import CLIP_MEAN, CLIP_STD

    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float32)[None, :, None, None]
    return (planes.float()[:, None].expand(-1, 3, -1, -1) - mean) / std


def sample_batch(
    members: dict[int, np.ndarray], batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct caption classes (at most `batch_size`), one random slice of each."""
    available = np.array(sorted(members))
    chosen = rng.choice(available, size=min(batch_size, len(available)), replace=False)
    rows = np.array([rng.choice(members[int(c)]) for c in chosen])
    return rows, chosen


# -- training ------------------------------------------------------------------------------------


class _Encode(torch.nn.Module):
    """One step's forward as a module, so that under torchrun DDP sees it run: every block's
    patch tokens, the image embedding (last block's CLS, projected) and the caption and
    region-caption features."""

    def __init__(self, model: torch.nn.Module, blocks: list[int], precision: str = "fp32") -> None:
        super().__init__()
        self.model = model
        self.blocks = blocks
        self.bf16 = precision == "bf16"

    def forward(
        self, images: torch.Tensor, captions: torch.Tensor, regions: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor | None]:
        model: Any = self.model
        # Only the towers under autocast (bf16 has 8 significant bits): what leaves them is
        # float32 again, so the image projection CLUE reads, the cosine similarities (scaled
        # by up to 100) and the losses keep float32's resolution.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            block_tokens = model.visual.forward_tokens(images, self.blocks)
            caption_out = model.encode_text(captions)
            region_out = model.encode_text(regions) if regions is not None else None
        block_tokens = [tokens.float() for tokens in block_tokens]
        image_features = F.normalize(model.visual.project(block_tokens[-1][:, 0]), dim=-1)
        text_features = F.normalize(caption_out.float(), dim=-1)
        region_text = F.normalize(region_out.float(), dim=-1) if region_out is not None else None
        return block_tokens, image_features, text_features, region_text


def _gather_with_grad(tensor: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Every rank's rows, in rank order, on every rank; the gradient flows back to each
    rank's own rows (summed over the ranks that used them)."""
    if not runtime.distributed:
        return tensor
    import warnings

    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        # Deprecated in favour of a private module (_functional_collectives) whose backward
        # is a reduce-scatter gloo may not have; this one's works on gloo and NCCL alike.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(tensor), dim=0)


@dataclass
class PretrainResult:
    path: Path
    losses: list[float]
    accuracy: float  # image→text top-1 on the last logged batches
    seconds: float
    description: str


def _learning_rate(config: PretrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to zero (CLIP's schedule)."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * progress))


def pretrain(
    config: PretrainConfig,
    out: Path,
    colin27: str | Path | None = None,
    pairs: PairSet | None = None,
    progress: Callable[[str], None] = print,
) -> PretrainResult:
    """Train a CLIP contrastively on the demo pairs; write its state dict to `out`
    (.safetensors, atomically) and a JSONL loss log beside it. Under torchrun every rank
    calls it with the same arguments; rank 0 writes."""
    with distributed.session(torch.device("cpu")) as (runtime, _), _intra_op_threads(config.threads):
        return _pretrain(config, out, colin27, pairs, progress if runtime.is_main else _quiet, runtime)


@contextlib.contextmanager
def _intra_op_threads(threads: int) -> Iterator[None]:
    """The config's thread count for the duration (0: leave PyTorch's), then the caller's again."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def bf16_matmuls_native() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX tiles). Elsewhere
    PyTorch emulates the towers' bfloat16 matmuls, slower than float32 (the figures: the
    warning in `_pretrain`, measured in docs/demo-model.md § Session 15)."""
    detectors = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(detect()) for detect in detectors if callable(detect))


def _quiet(_: str) -> None:
    """Progress of ranks other than 0: one line per job, not one per process."""


def _pretrain(
    config: PretrainConfig,
    out: Path,
    colin27: str | Path | None,
    pairs: PairSet | None,
    progress: Callable[[str], None],
    runtime: Runtime,
) -> PretrainResult:
    from safetensors.torch import save_file

    from clue.clip import build_clip
    from clue.losses import clip_contrastive_loss
    from clue.tokenizer import get_tokenizer

    out = Path(out)
    if out.suffix != ".safetensors":
        raise UserFacingError(f"{out}: the pretrained backbone is written as .safetensors")
    started = time.perf_counter()
    if config.precision == "bf16" and not bf16_matmuls_native():
        progress(
            "pretrain: this CPU has neither AVX-512 BF16 nor AMX, so PyTorch emulates the bfloat16 towers — "
            "measured at 0.4x the native step rate on AVX-512 without BF16 and 1/24 of it on AVX2 (hours, not "
            "the hour docs/demo-model.md gives) — and the bits may differ from the shipped backbone's; "
            'precision = "fp32" runs faster on such a CPU but trains another draw'
        )
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    if pairs is None:
        pairs = build_pairs(config, colin27, progress)
    members = pairs.class_members()
    if len(members) < 2:
        raise UserFacingError("pretrain data: fewer than two caption classes; a contrastive batch needs negatives")
    distributed.per_rank_batch(config.batch_size, runtime)
    global_rows = min(config.batch_size, len(members)) if pairs.distinct_batches else config.batch_size
    if global_rows % runtime.world_size:
        raise UserFacingError(
            f"pretrain: a batch holds {global_rows} slices (one per caption class), which does not divide "
            f"among {runtime.world_size} processes; run with a world size that divides {global_rows}"
        )
    share = distributed.split_even(list(range(global_rows)), runtime.world_size)[runtime.rank]
    clip_cfg = config.clip_config()
    model = build_clip(clip_cfg, seed=config.seed)
    tokenizer = get_tokenizer()
    tokens = torch.tensor(tokenizer.tokenize(pairs.captions, context_length=clip_cfg.context_length))
    region_tokens = torch.tensor(
        tokenizer.tokenize(list(pairs.region_captions), context_length=clip_cfg.context_length)
    )
    # The captions are a few words: run the text tower over the positions up to the longest
    # EOT, not all of the context (the causal mask makes that the same function).
    used = int(torch.cat([tokens.argmax(dim=-1), region_tokens.argmax(dim=-1)]).max()) + 1
    tokens, region_tokens = tokens[:, :used], region_tokens[:, :used]
    blocks = list(range(1, clip_cfg.vision_layers + 1))

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
        fused=True,  # one kernel over all parameters instead of a dozen ops per tensor
    )
    rng = np.random.default_rng(config.seed)  # the same draws on every rank: the same global batches
    encode: torch.nn.Module = _Encode(model, blocks, config.precision)
    if runtime.distributed:
        encode = distributed.data_parallel(encode, runtime, torch.device("cpu"))
        progress(f"pretrain: {runtime.describe()}, {len(share)} of every {global_rows} slices per process")
    if runtime.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_suffix(".log.jsonl")
    losses: list[float] = []
    correct, seen = 0, 0
    model.train()
    window = time.perf_counter()
    # Only rank 0 writes the log; the others write the same lines nowhere.
    with log_path.open("w", encoding="utf-8") if runtime.is_main else open(os.devnull, "w", encoding="utf-8") as log:
        for step in range(config.steps):
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config, step)
            if pairs.distinct_batches:
                rows, classes = sample_batch(members, config.batch_size, rng)
            else:
                rows = rng.choice(len(pairs.classes), size=config.batch_size, replace=False)
                classes = pairs.classes[torch.from_numpy(rows)].numpy()
            mine = rows[share[0] : share[-1] + 1] if runtime.distributed else rows
            index = torch.from_numpy(mine)
            images = to_model_input(pairs.planes[index])
            # CLIP's image embedding (last block's CLS, projected) and, from the same pass,
            # every block's patch tokens projected the way CLUE reads them. Every rank
            # encodes the batch's captions (few, short) but only its share of the images.
            captions = tokens[torch.from_numpy(classes)] if pairs.distinct_batches else tokens
            block_tokens, image_features, text_features, region_text = encode(
                images, captions, region_tokens if config.region_weight > 0 or config.slice_weight > 0 else None
            )
            scale = model.logit_scale.exp()
            if pairs.distinct_batches:
                # The one-positive InfoNCE over the whole global batch: every rank computes
                # it on all ranks' image features. A rank's images get the gradient from
                # every rank's copy of the loss (summed by the gather), which DDP's average
                # turns back into the one-process gradient.
                all_images = _gather_with_grad(image_features, runtime)
                caption_loss = clip_contrastive_loss(all_images, text_features, scale)
                logged_caption = float(caption_loss.detach())
            else:
                # Several slices share a caption: classify each image among all caption
                # texts (CLIP's zero-shot head, trained) instead of the one-positive InfoNCE.
                # A mean over this rank's equal share: DDP's average makes it the batch mean.
                all_images = image_features
                mine_classes = torch.from_numpy(classes[share[0] : share[-1] + 1] if runtime.distributed else classes)
                caption_loss = F.cross_entropy(scale * image_features @ text_features.t(), mine_classes)
                logged_caption = float(caption_loss.detach())
                if runtime.distributed:
                    logged_caption = (
                        distributed.all_reduce_sum([logged_caption], runtime, torch.device("cpu"))[0]
                        / runtime.world_size
                    )
            loss = caption_loss
            region_part = 0.0
            if config.region_weight > 0:
                assert region_text is not None
                patches = [F.normalize(model.visual.project(t[:, 1:]), dim=-1) for t in block_tokens]
                labels = pairs.patch_labels[index].reshape(len(mine), -1)
                if runtime.distributed:
                    # Balanced over the whole batch's patches; the ranks' losses add up to
                    # the batch's, so each is scaled by the world size against DDP's average.
                    counts = torch.tensor(
                        distributed.all_reduce_sum(region_class_counts(labels).tolist(), runtime, torch.device("cpu")),
                        dtype=torch.float32,
                    )
                    region = region_loss(patches, region_text, labels, scale, counts)
                    loss = loss + config.region_weight * runtime.world_size * region
                    region_part = distributed.all_reduce_sum([float(region.detach())], runtime, torch.device("cpu"))[0]
                else:
                    region = region_loss(patches, region_text, labels, scale)
                    loss = loss + config.region_weight * region
                    region_part = float(region.detach())
            slice_part = 0.0
            if config.slice_weight > 0:
                assert region_text is not None
                # Normal vs diseased only: the pair CLUE's image score compares.
                states = region_text[: TUMOUR_PATCH + 1]
                tokens_cls = [F.normalize(model.visual.project(t[:, :1]), dim=-1) for t in block_tokens]
                verdicts = slice_labels(pairs.patch_labels[index], config.slice_label)
                if runtime.distributed:
                    counts = torch.tensor(
                        distributed.all_reduce_sum(
                            region_class_counts(verdicts).tolist(), runtime, torch.device("cpu")
                        ),
                        dtype=torch.float32,
                    )
                    slice_term = region_loss(tokens_cls, states, verdicts, scale, counts)
                    loss = loss + config.slice_weight * runtime.world_size * slice_term
                    slice_part = distributed.all_reduce_sum([float(slice_term.detach())], runtime, torch.device("cpu"))[
                        0
                    ]
                else:
                    slice_term = region_loss(tokens_cls, states, verdicts, scale)
                    loss = loss + config.slice_weight * slice_term
                    slice_part = float(slice_term.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                # CLIP clamps the temperature at 100.
                model.logit_scale.clamp_(0.0, math.log(100.0))
                if pairs.distinct_batches:
                    hits = (all_images @ text_features.t()).argmax(dim=1) == torch.arange(len(rows))
                else:
                    hits = (image_features @ text_features.t()).argmax(dim=1) == mine_classes
            total_hits = int(hits.sum())
            if runtime.distributed and not pairs.distinct_batches:
                total_hits = int(distributed.all_reduce_sum([float(total_hits)], runtime, torch.device("cpu"))[0])
            losses.append(
                logged_caption + config.region_weight * region_part + config.slice_weight * slice_part
                if runtime.distributed
                else float(loss.detach())
            )
            correct += total_hits
            seen += len(rows)
            log.write(
                json.dumps(
                    {
                        "step": step + 1,
                        "loss": losses[-1],
                        "caption_loss": logged_caption,
                        "region_loss": region_part,
                        "slice_loss": slice_part,
                        "lr": _learning_rate(config, step),
                        "logit_scale": float(model.logit_scale.detach().exp()),
                    }
                )
                + "\n"
            )
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                rate = config.log_every / max(time.perf_counter() - window, 1e-9)
                recent = losses[-config.log_every :]
                progress(
                    f"pretrain step {step + 1}/{config.steps} loss {sum(recent) / len(recent):.4f} "
                    f"(caption {logged_caption:.3f}, region {region_part:.3f}, slice {slice_part:.3f}) "
                    f"batch top-1 {correct / max(seen, 1):.3f} scale {float(model.logit_scale.detach().exp()):.1f} "
                    f"{rate:.2f} steps/s"
                )
                last_accuracy = correct / max(seen, 1)
                correct, seen, window = 0, 0, time.perf_counter()
    model.eval()
    metadata = {
        "format": PRETRAIN_FORMAT,
        "config": config.to_dict(),
        "data": pairs.description,
        "captions": pairs.captions,
        "region_captions": list(pairs.region_captions),
        "final_loss": sum(losses[-config.log_every :]) / len(losses[-config.log_every :]),
        # Not in the config, yet part of what decides the bits: the intra-op thread count sets
        # the order of float sums (one- and two-thread runs of one config part at step 2).
        "threads": torch.get_num_threads(),
        "world_size": runtime.world_size,
    }
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    if runtime.is_main:
        atomic_write(
            out, lambda temporary: save_file(state, str(temporary), metadata={"clue_pretrain": json.dumps(metadata)})
        )
    distributed.barrier(runtime)  # no rank reports the file before it exists
    seconds = time.perf_counter() - started
    progress(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {seconds:.0f} s")
    return PretrainResult(
        path=out, losses=losses, accuracy=last_accuracy, seconds=seconds, description=pairs.description
    )


def read_pretrain_metadata(path: Path) -> dict[str, Any]:
    """What `pretrain` recorded in a backbone file (config, data, captions); {} if none."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception as error:
        raise UserFacingError(f"{path}: not a readable safetensors file ({type(error).__name__})") from error
    return json.loads(meta["clue_pretrain"]) if "clue_pretrain" in meta else {}


def recorded_config(metadata: dict[str, Any]) -> PretrainConfig | None:
    """The config a backbone's header records (`read_pretrain_metadata`), or None: no header,
    or one this code no longer reads."""
    if not isinstance(metadata.get("config"), dict):
        return None
    try:
        return PretrainConfig.from_dict(dict(metadata["config"]), source="backbone header")
    except (UserFacingError, ValueError, TypeError):
        return None


# -- command line --------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "pretrain",
        help="contrastively pre-train a small CLIP on caption pairs of the synthetic demo cases",
        description="Train a small CLIP (same towers as ViT-B/16, scaled down) with CLIP's contrastive "
        "loss on image–caption pairs made from synthetic training cases (Colin27 + seeded lesions). "
        "Writes a CLIP state dict (.safetensors) that `clue train` takes as its backbone.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="pretrain config TOML (default: built-in demo settings)"
    )
    parser.add_argument("--out", type=Path, required=True, help="backbone file to write (.safetensors)")
    parser.add_argument("--colin27", type=Path, default=None, help="Colin27 T1 NIfTI (default: the mricron-data file)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    config = load_pretrain_config(args.config) if args.config is not None else PretrainConfig()
    pretrain(config, args.out, colin27=args.colin27)
    return 0


__all__ = [
    "PairSet",
    "PretrainConfig",
    "PretrainResult",
    "all_captions",
    "build_pairs",
    "caption",
    "load_pretrain_config",
    "pretrain",
    "read_pretrain_metadata",
    "recorded_config",
]
