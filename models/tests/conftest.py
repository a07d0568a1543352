"""Shared fixtures: a tiny frozen CLIP (32 px, patch 8, 4 blocks) and CLUE built on it.

The tiny preset runs the same code as ViT-B/16 and ViT-L/14, in milliseconds on a CPU.
"""

from __future__ import annotations

import pytest
import torch

from clue.clip import CLIP, build_clip, freeze
from clue.model import CLUE, ClueConfig


@pytest.fixture(scope="session")
def tiny_clip() -> CLIP:
    """Shared, frozen, never modified by tests (those that train build their own CLUE on it,
    and the training tests check that it stays bit-identical)."""
    return freeze(build_clip("tiny", seed=0))  # type: ignore[return-value]


@pytest.fixture()
def tiny_clue(tiny_clip: CLIP) -> CLUE:
    torch.manual_seed(0)
    return CLUE(tiny_clip, ClueConfig(n_ctx=4))
