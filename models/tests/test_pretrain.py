"""Contrastive pre-training of the demo backbone (clue.pretrain) on a tiny config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clue.checkpoints import load_backbone
from clue.errors import UserFacingError
from clue.pretrain import (
    PretrainConfig,
    all_captions,
    build_pairs,
    caption,
    load_pretrain_config,
    pretrain,
    read_pretrain_metadata,
    sample_batch,
)

TINY = dict(
    embed_dim=32, image_size=32, patch_size=8, vision_width=64, vision_layers=2, text_width=64, text_layers=1,
    cases=1, sequences=["t1", "t2"], views=["axial", "coronal"], slices_per_lesion=6, normal_slices=3,
    lesion_free_cases=0, batch_size=8, lr=2e-3, warmup_steps=2, log_every=10,
)


@pytest.fixture(scope="module")
def tiny_pairs():
    config = PretrainConfig(**TINY, steps=40)
    return config, build_pairs(config, progress=lambda _: None)


def test_caption_names_view_sequence_and_the_lesion_quarter() -> None:
    mask = np.zeros((10, 20), dtype=np.uint8)
    assert caption("T1", "axial", mask) == "an axial T1 MRI slice of a healthy brain"
    assert caption("FLAIR", "coronal", None) == "a coronal FLAIR MRI slice of a healthy brain"
    mask[7:9, 2:4] = 1  # bottom rows, left columns of the displayed slice
    assert caption("T2", "sagittal", mask) == "a sagittal T2 MRI slice of a brain with a tumour in the lower left of the image"
    mask[:] = 0
    mask[1, 15] = 1
    assert caption("T2", "sagittal", mask).endswith("in the upper right of the image")
    assert len(all_captions(["t1", "t2", "flair"], ["axial", "sagittal", "coronal"])) == 9 * 5


def test_pairs_use_only_training_seeds_and_the_caption_scheme(tiny_pairs) -> None:
    config, pairs = tiny_pairs
    assert "training seeds" in pairs.description
    assert pairs.planes.shape[1:] == (32, 32) and pairs.planes.dtype == torch.float16
    assert float(pairs.planes.min()) >= -0.1 and float(pairs.planes.max()) <= 1.1
    used = {pairs.captions[c] for c in pairs.classes.tolist()}
    assert any("healthy" in text for text in used) and any("tumour" in text for text in used)
    # A batch holds distinct captions, so each image has exactly one positive text.
    rows, classes = sample_batch(pairs.class_members(), 8, np.random.default_rng(0))
    assert len(set(classes.tolist())) == len(classes)
    assert all(int(pairs.classes[r]) == c for r, c in zip(rows, classes))


def test_pretraining_loss_decreases_and_the_file_loads_as_a_backbone(tiny_pairs, tmp_path: Path) -> None:
    config, pairs = tiny_pairs
    out = tmp_path / "backbone.safetensors"
    result = pretrain(config, out, pairs=pairs, progress=lambda _: None)
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert last < first - 0.2, (first, last)
    clip, description, sha = load_backbone(str(out))
    assert clip.config.vision_width == 64 and clip.config.vision_layers == 2 and clip.config.image_size == 32
    assert sha is not None and len(sha) == 64
    assert read_pretrain_metadata(out)["config"]["steps"] == 40
    assert not list(tmp_path.glob("*.tmp"))


def test_same_seed_same_backbone(tiny_pairs, tmp_path: Path) -> None:
    config, pairs = tiny_pairs
    config = PretrainConfig(**{**TINY, "steps": 3})
    a = pretrain(config, tmp_path / "a.safetensors", pairs=pairs, progress=lambda _: None)
    b = pretrain(config, tmp_path / "b.safetensors", pairs=pairs, progress=lambda _: None)
    assert a.losses == b.losses
    assert load_backbone(str(a.path))[2] == load_backbone(str(b.path))[2]


def test_bad_config_is_reported_by_name(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[pretrain]\nsteps = 3\nwidth = 7\n")
    with pytest.raises(UserFacingError, match="width"):
        load_pretrain_config(path)
    path.write_text("[pretrain]\nvision_width = 100\n")
    with pytest.raises(UserFacingError, match="multiple of 64"):
        load_pretrain_config(path)
    with pytest.raises(UserFacingError, match="does not exist"):
        load_pretrain_config(tmp_path / "missing.toml")
