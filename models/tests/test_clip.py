"""CLIP towers: OpenAI layout (parameter counts, attention equals nn.MultiheadAttention),
layer taps, text from embeddings with the causal mask."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clue.clip import CLIP, MultiheadSelfAttention, build_clip, preset_config


@pytest.mark.parametrize(
    ("preset", "expected"),
    # OpenAI's published parameter counts of its released CLIP models.
    [("ViT-B-16", 149_620_737), ("ViT-L-14", 427_616_513)],
)
def test_preset_parameter_counts_match_openai(preset: str, expected: int) -> None:
    with torch.device("meta"):
        model = CLIP(preset_config(preset))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_openai_parameter_names() -> None:
    with torch.device("meta"):
        names = set(CLIP(preset_config("ViT-B/16")).state_dict())
    for name in (
        "visual.conv1.weight",
        "visual.class_embedding",
        "visual.positional_embedding",
        "visual.ln_pre.weight",
        "visual.transformer.resblocks.11.attn.in_proj_weight",
        "visual.transformer.resblocks.0.attn.out_proj.bias",
        "visual.transformer.resblocks.0.mlp.c_fc.weight",
        "visual.transformer.resblocks.0.mlp.c_proj.weight",
        "visual.ln_post.bias",
        "visual.proj",
        "token_embedding.weight",
        "positional_embedding",
        "transformer.resblocks.11.ln_2.weight",
        "ln_final.weight",
        "text_projection",
        "logit_scale",
    ):
        assert name in names
    assert "attn_mask" not in names  # rebuilt, not stored (as in OpenAI's checkpoints)


def test_attention_equals_torch_multihead_attention() -> None:
    torch.manual_seed(0)
    ours = MultiheadSelfAttention(width=64, heads=4)
    nn.init.normal_(ours.in_proj_weight, std=0.1)
    nn.init.normal_(ours.in_proj_bias, std=0.1)
    reference = nn.MultiheadAttention(64, 4, batch_first=True)
    reference.load_state_dict(ours.state_dict())  # same names: in_proj_*, out_proj.*
    x = torch.randn(2, 7, 64)
    mask = torch.full((7, 7), float("-inf")).triu(1)
    expected, _ = reference(x, x, x, attn_mask=mask, need_weights=False)
    assert torch.allclose(ours(x, mask), expected, atol=1e-5)
    expected, _ = reference(x, x, x, need_weights=False)
    assert torch.allclose(ours(x), expected, atol=1e-5)


def test_vision_taps(tiny_clip: CLIP) -> None:
    images = torch.randn(2, 3, 32, 32)
    first, last = tiny_clip.visual.forward_tokens(images, [1, 4])
    assert first.shape == last.shape == (2, 1 + 16, 128)
    # The last tap is the tower's own output: projecting its CLS gives CLIP's image embedding.
    assert torch.allclose(tiny_clip.visual.project(last[:, 0]), tiny_clip.encode_image(images))
    with pytest.raises(ValueError, match="outside"):
        tiny_clip.visual.forward_tokens(images, [5])


def test_text_from_embeddings_and_causal_mask(tiny_clip: CLIP) -> None:
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[:, :4] = torch.tensor([49406, 320, 1125, 49407])
    ids[1, 10] = 2368  # after EOT: the causal mask keeps it out of the EOT feature
    features = tiny_clip.encode_text(ids)
    assert features.shape == (2, 64)
    assert torch.allclose(features[0], features[1], atol=1e-6)
    embeddings = tiny_clip.token_embedding(ids)
    assert torch.equal(tiny_clip.encode_text_embeddings(embeddings, torch.tensor([3, 3])), features)
    ids[1, 2] = 2368  # before EOT: changes the feature
    assert not torch.allclose(tiny_clip.encode_text(ids)[1], features[1], atol=1e-4)


def test_text_cut_after_the_last_eot_is_the_same_function(tiny_clip: CLIP) -> None:
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[0, :4] = torch.tensor([49406, 320, 1125, 49407])
    ids[1, :6] = torch.tensor([49406, 320, 2368, 1125, 320, 49407])
    full = tiny_clip.encode_text(ids)
    assert torch.allclose(tiny_clip.encode_text(ids[:, :6]), full, atol=1e-6)
    with pytest.raises(RuntimeError):  # longer than the context: no positional embedding for it
        tiny_clip.encode_text(torch.zeros(1, 78, dtype=torch.long))


def test_contrastive_features_are_normalized() -> None:
    model = build_clip("tiny", seed=1)
    ids = torch.zeros(3, 77, dtype=torch.long)
    ids[:, 0], ids[:, 2] = 49406, 49407
    ids[:, 1] = torch.tensor([320, 1125, 2368])
    image_features, text_features, scale = model.encode_image_and_text_contrastive(torch.randn(3, 3, 32, 32), ids)
    assert torch.allclose(image_features.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text_features.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert scale.item() == pytest.approx(1 / 0.07, rel=1e-5)


def test_build_is_seeded() -> None:
    a, b, c = build_clip("tiny", seed=3), build_clip("tiny", seed=3), build_clip("tiny", seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.visual.proj, c.visual.proj)
