"""CLUE: output shapes and ranges, the method's formulas, what trains and what stays frozen,
learning on a tiny synthetic task, saving only the trainable part."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from clue.clip import CLIP
from clue.errors import UserFacingError
from clue.losses import LossConfig, clue_loss
from clue.model import (
    CLUE,
    ClueConfig,
    clue_from_files,
    default_layers,
    load_model_config,
    load_trainable,
    save_trainable,
)
from clue.tokenizer import get_tokenizer


def images(count: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_default_layers() -> None:
    assert default_layers(24) == [6, 12, 18, 24]
    assert default_layers(12) == [3, 6, 9, 12]
    assert default_layers(4) == [1, 2, 3, 4]
    assert default_layers(8) == [2, 4, 6, 8]


def test_output_shapes_and_ranges(tiny_clue: CLUE) -> None:
    with torch.no_grad():
        out = tiny_clue(images(3))
    assert out.anomaly_map.shape == (3, 32, 32)
    assert out.layer_maps.shape == (3, 4, 32, 32)
    assert out.score.shape == (3,)
    assert out.layer_scores.shape == (3, 4)
    assert out.grid_map.shape == (3, 4, 4) and out.grid_layer_maps.shape == (3, 4, 4, 4)
    assert out.text_features.shape == (3, 2, 64)
    for tensor in (out.anomaly_map, out.layer_maps, out.score, out.layer_scores):
        assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0
    assert torch.allclose(out.layer_weights.sum(dim=1), torch.ones(3))


def test_formulas(tiny_clue: CLUE, tiny_clip: CLIP) -> None:
    """Recompute the method's quantities from the towers, independently of CLUE.forward."""
    x = images(2)
    out = tiny_clue(x)
    s = tiny_clue.logit_scale_value
    assert s == pytest.approx(float(tiny_clip.logit_scale.exp()))
    tokens = tiny_clip.visual.forward_tokens(x, [1, 2, 3, 4])
    normal, diseased = out.text_features[:, 0], out.text_features[:, 1]
    for index, layer_tokens in enumerate(tokens):
        features = F.normalize(tiny_clip.visual.project(layer_tokens), dim=-1)
        cos_a = torch.einsum("bne,be->bn", features, diseased)
        cos_n = torch.einsum("bne,be->bn", features, normal)
        # p_l = sigmoid(s·M_l) equals the 2-way softmax of the scaled cosines.
        two_way = torch.softmax(s * torch.stack([cos_n, cos_a], dim=-1), dim=-1)[..., 1]
        assert torch.allclose(out.grid_layer_maps[:, index].flatten(1), two_way[:, 1:], atol=1e-5)
        assert torch.allclose(out.layer_scores[:, index], two_way[:, 0], atol=1e-5)
    assert torch.allclose(out.score, out.layer_scores.mean(dim=1))
    # Softmax weighting with τ = 1/s over the layers' mean cosine differences.
    expected_w = torch.softmax(s * out.grid_layer_diffs.mean(dim=(2, 3)), dim=1)
    assert torch.allclose(out.layer_weights, expected_w, atol=1e-6)
    expected_grid = (expected_w[:, :, None, None] * out.grid_layer_maps).sum(dim=1)
    assert torch.allclose(out.grid_map, expected_grid, atol=1e-6)
    upsampled = F.interpolate(expected_grid[:, None], size=(32, 32), mode="bicubic", align_corners=False)[:, 0]
    assert torch.allclose(out.anomaly_map, upsampled.clamp(0, 1), atol=1e-6)


def test_layer_weighting_options(tiny_clip: CLIP) -> None:
    x = images(2)
    torch.manual_seed(0)
    mean = CLUE(tiny_clip, ClueConfig(n_ctx=4, layer_weighting="mean"))
    torch.manual_seed(0)
    total = CLUE(tiny_clip, ClueConfig(n_ctx=4, layer_weighting="sum"))
    torch.manual_seed(0)
    flat = CLUE(tiny_clip, ClueConfig(n_ctx=4, tau=1e6))  # very high τ: uniform softmax
    out_mean, out_sum, out_flat = mean(x), total(x), flat(x)
    assert torch.allclose(out_mean.grid_map, out_mean.grid_layer_maps.mean(dim=1), atol=1e-6)
    assert torch.allclose(out_sum.grid_map, out_sum.grid_layer_maps.sum(dim=1), atol=1e-6)
    assert torch.allclose(out_flat.grid_map, out_mean.grid_map, atol=1e-5)
    bilinear = CLUE(tiny_clip, ClueConfig(n_ctx=4, upsample="bilinear"))(x)
    expected = F.interpolate(bilinear.grid_map[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(bilinear.anomaly_map, expected.clamp(0, 1), atol=1e-6)


def test_image_score_options(tiny_clip: CLIP) -> None:
    """The option changes the score alone: maps, CLS scores and the loss stay the method's."""
    x = images(3)
    outputs = {}
    for option in ("cls", "map_max", "cls_map_max"):
        torch.manual_seed(0)
        outputs[option] = CLUE(tiny_clip, ClueConfig(n_ctx=4, image_score=option))(x)  # type: ignore[arg-type]
    cls, map_max, both = outputs["cls"], outputs["map_max"], outputs["cls_map_max"]
    maxima = cls.anomaly_map.detach().flatten(1).max(dim=1).values
    assert torch.allclose(cls.score, cls.layer_scores.mean(dim=1))
    assert torch.allclose(map_max.score, maxima)
    assert torch.allclose(both.score, (cls.layer_scores.mean(dim=1) + maxima) / 2)
    assert not torch.allclose(map_max.score, cls.score)
    masks = (torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.8).float()
    labels = torch.tensor([1.0, 0.0, 1.0])
    reference, _ = clue_loss(cls, masks, labels)
    for out in (map_max, both):
        assert torch.equal(out.anomaly_map, cls.anomaly_map)
        assert torch.equal(out.cls_score, cls.score)
        assert torch.equal(clue_loss(out, masks, labels)[0], reference)
    with pytest.raises(ValueError, match="image_score"):
        ClueConfig(image_score="map_mean")  # type: ignore[arg-type]


def test_prompt_layout(tiny_clue: CLUE, tiny_clip: CLIP) -> None:
    tokenizer = get_tokenizer()
    learner = tiny_clue.prompt_learner
    bias = torch.randn(1, 128)
    embeddings, eot = learner(bias)
    m = 4
    word = lambda text: tiny_clip.token_embedding(torch.tensor(tokenizer.encode(text)))  # noqa: E731
    sot = tiny_clip.token_embedding(torch.tensor([49406]))
    # Normal: [SOT][normal][brain][V×M][W+π ×M][EOT]; diseased is two BPE tokens, so one longer.
    for row, state, prefix_length in ((0, "normal", 3), (1, "diseased", 4)):
        prefix = torch.cat([sot, word(state), word("brain")])
        assert prefix.shape[0] == prefix_length
        assert torch.allclose(embeddings[row, :prefix_length], prefix)
        assert torch.equal(embeddings[row, prefix_length : prefix_length + m], learner.context_v[0])
        conditioned = embeddings[row, prefix_length + m : prefix_length + 2 * m]
        assert torch.allclose(conditioned, learner.context_w[0] + bias)
        assert int(eot[row]) == prefix_length + 2 * m
        assert torch.allclose(embeddings[row, prefix_length + 2 * m], word("<|endoftext|>")[0])
    with pytest.raises(ValueError, match="prompt too long"):
        CLUE(tiny_clip, ClueConfig(n_ctx=40))


def test_prompts_depend_on_the_image(tiny_clue: CLUE) -> None:
    with torch.no_grad():
        tiny_clue.adaptor.linear2.bias.add_(0.5)  # a non-trivial π(x)
        out = tiny_clue(images(2))
    assert not torch.allclose(out.text_features[0], out.text_features[1], atol=1e-4)


@pytest.mark.parametrize("per_state_context", [False, True])
def test_context_init_starts_from_the_region_captions(tiny_clip: CLIP, per_state_context: bool) -> None:
    """With context_init the first prompts are the captions "[state] brain <phrase>" for every
    image: the text features equal CLIP's own encoding of those captions."""
    from clue.pretrain import ANOMALY_REGION_CAPTIONS

    phrase = "tissue in an MRI slice."
    model = CLUE(tiny_clip, ClueConfig(n_ctx=3, context_init=phrase, per_state_context=per_state_context)).eval()
    captions = [f"{state} brain {phrase}" for state in ("normal", "diseased")]
    assert captions == list(ANOMALY_REGION_CAPTIONS[:2])  # the pre-training's words, in this order
    tokens = torch.tensor(get_tokenizer().tokenize(captions, context_length=tiny_clip.config.context_length))
    with torch.no_grad():
        expected = F.normalize(tiny_clip.encode_text(tokens), dim=-1)
        features = model(images(2)).text_features
    for image in range(2):
        assert torch.allclose(features[image], expected, atol=1e-5)
    with pytest.raises(ValueError, match="6 BPE tokens; it must be exactly 2 × n_ctx = 8"):
        ClueConfig(n_ctx=4, context_init=phrase)


def test_per_state_context(tiny_clip: CLIP) -> None:
    model = CLUE(tiny_clip, ClueConfig(n_ctx=4, per_state_context=True))
    assert model.prompt_learner.context_v.shape == (2, 4, 128)
    embeddings, _ = model.prompt_learner(torch.zeros(1, 128))
    assert torch.equal(embeddings[1, 4:8], model.prompt_learner.context_v[1])


@pytest.mark.parametrize("per_state_context", [False, True])
def test_prefix_cache_gives_the_full_text_towers_outputs(tiny_clip: CLIP, per_state_context: bool) -> None:
    model = CLUE(tiny_clip, ClueConfig(n_ctx=4, per_state_context=per_state_context)).eval()
    learner = model.prompt_learner
    # "normal" is one BPE token and "diseased" two: the cached prefixes differ in length.
    assert learner.prefix_lengths[0] != learner.prefix_lengths[1]
    with torch.no_grad():  # trained-looking prompts: V, W and π(x) all non-trivial
        generator = torch.Generator().manual_seed(3)
        learner.context_v.copy_(torch.randn(learner.context_v.shape, generator=generator))
        learner.context_w.copy_(torch.randn(learner.context_w.shape, generator=generator))
        # Seeded adaptor too (its default init follows the global RNG, which earlier tests
        # move): π(x) must differ between images.
        for parameter in model.adaptor.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        batch = images(3, seed=4)
        full = model(batch)
        cached = model.cache_prompt_prefix()(batch)
    assert torch.allclose(cached.text_features, full.text_features, atol=1e-5)
    assert torch.allclose(cached.anomaly_map, full.anomaly_map, atol=1e-5)
    assert torch.allclose(cached.score, full.score, atol=1e-6)
    # The conditioned rows differ per image, so the cache did not collapse the batch.
    assert not torch.allclose(cached.text_features[0], cached.text_features[1], atol=1e-4)


def test_prefix_cache_is_dropped_when_training(tiny_clue: CLUE) -> None:
    # V trains, so a cache kept across training would serve stale prompts: train() drops it,
    # and eval() does not silently bring it back (only cache_prompt_prefix() builds one).
    tiny_clue.cache_prompt_prefix()
    assert tiny_clue.prefix_cached_text is not None
    tiny_clue.train()
    assert tiny_clue.prefix_cached_text is None
    tiny_clue.eval()
    assert tiny_clue.prefix_cached_text is None
    tiny_clue.cache_prompt_prefix().drop_prompt_prefix_cache()
    assert tiny_clue.prefix_cached_text is None


@pytest.mark.parametrize("projection", ["frozen", "trainable"])
def test_only_prompts_and_adaptor_get_gradients(tiny_clip: CLIP, projection: str) -> None:
    # The tiny adaptor has 2 hidden ReLU units: with some initialisations both are dead for
    # both images and the adaptor rightly gets no gradient. Seed the initialisation so the
    # test does not depend on how much of the global random stream earlier tests used.
    torch.manual_seed(0)
    model = CLUE(tiny_clip, ClueConfig(n_ctx=4, projection=projection))
    out = model(images(2))
    loss, _ = clue_loss(out, torch.zeros(2, 32, 32), torch.tensor([0.0, 1.0]))
    loss.backward()
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    expected = {
        "prompt_learner.context_v",
        "prompt_learner.context_w",
        "adaptor.linear1.weight",
        "adaptor.linear1.bias",
        "adaptor.linear2.weight",
        "adaptor.linear2.bias",
    }
    if projection == "trainable":
        expected |= {f"layer_projections.{i}.weight" for i in range(4)}
    assert with_grad == expected
    assert not any(p.requires_grad for p in tiny_clip.parameters())
    assert set(model.trainable_state_dict()) == expected


def test_clip_bit_identical_after_training_step(tiny_clip: CLIP) -> None:
    before = {k: v.clone() for k, v in tiny_clip.state_dict().items()}
    model = CLUE(tiny_clip, ClueConfig(n_ctx=4))
    model.train()
    assert not tiny_clip.training  # the backbone stays in eval mode
    trainable_before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=1e-3, betas=(0.5, 0.999))
    loss, _ = clue_loss(model(images(2)), torch.zeros(2, 32, 32), torch.tensor([1.0, 0.0]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for key, value in tiny_clip.state_dict().items():
        assert torch.equal(value, before[key]), key
    changed = [k for k, v in model.trainable_state_dict().items() if not torch.equal(v, trainable_before[k])]
    assert len(changed) == len(trainable_before)


def synthetic_batch(generator: torch.Generator, count: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dark noisy images; every other one has a bright 8×8 square, which is the anomaly."""
    x = torch.randn(count, 3, 32, 32, generator=generator) * 0.3 - 1.0
    masks, labels = torch.zeros(count, 32, 32), torch.zeros(count)
    for i in range(0, count, 2):
        r, c = torch.randint(0, 24, (2,), generator=generator).tolist()
        x[i, :, r : r + 8, c : c + 8] += 2.5
        masks[i, r : r + 8, c : c + 8] = 1.0
        labels[i] = 1.0
    return x, masks, labels


def test_loss_decreases_on_a_synthetic_task(tiny_clip: CLIP) -> None:
    torch.manual_seed(0)
    model = CLUE(tiny_clip, ClueConfig(n_ctx=4))
    generator = torch.Generator().manual_seed(0)
    batches = [synthetic_batch(generator) for _ in range(4)]
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=1e-3, betas=(0.5, 0.999))
    history = []
    for step in range(40):
        x, masks, labels = batches[step % 4]
        loss, parts = clue_loss(model(x), masks, labels, LossConfig())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(parts)
    first = sum(h["total"] for h in history[:4]) / 4
    last = sum(h["total"] for h in history[-4:]) / 4
    assert last < 0.7 * first, (first, last)
    assert sum(h["dice"] for h in history[-4:]) / 4 < 0.6  # the map finds the squares


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_save_and_load_trainable(tiny_clip: CLIP, tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(1)
    model = CLUE(tiny_clip, ClueConfig(n_ctx=4, class_name="chest"))
    path = save_trainable(tmp_path / f"prompts{suffix}", model, {"training_data": "synthetic squares"})
    state, info = load_trainable(path)
    assert set(state) == set(model.trainable_state_dict())  # nothing of CLIP is saved
    assert info["training_data"] == "synthetic squares" and info["model_config"]["class_name"] == "chest"
    restored = clue_from_files(tiny_clip, path)
    assert restored.cfg == model.cfg
    x = images(2)
    assert torch.equal(restored(x).anomaly_map, model(x).anomaly_map)
    assert not list(tmp_path.glob("*.tmp"))


def test_trainable_weights_must_fit(tiny_clip: CLIP, tmp_path: Path) -> None:
    path = save_trainable(tmp_path / "p.pt", CLUE(tiny_clip, ClueConfig(n_ctx=4)))
    with pytest.raises(UserFacingError, match=r"p\.pt: prompt_learner\.context_v has shape"):
        clue_from_files(tiny_clip, path, ClueConfig(n_ctx=6))
    with pytest.raises(UserFacingError, match=r"p\.pt: trainable weights do not fit.*missing layer_projections"):
        clue_from_files(tiny_clip, path, ClueConfig(n_ctx=4, projection="trainable"))
    (tmp_path / "broken.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(UserFacingError, match=r"broken\.safetensors: cannot read prompt weights"):
        load_trainable(tmp_path / "broken.safetensors")


def test_model_config_toml(tmp_path: Path, tiny_clip: CLIP) -> None:
    path = tmp_path / "model.toml"
    path.write_text(
        '[model]\nlayers = [2, 4]\nn_ctx = 3\nlayer_weighting = "mean"\nstate_words = ["healthy", "tumour"]\n'
    )
    cfg = load_model_config(path)
    assert cfg.layers == [2, 4] and cfg.n_ctx == 3 and cfg.state_words == ("healthy", "tumour")
    assert CLUE(tiny_clip, cfg)(images(1)).layer_maps.shape == (1, 2, 32, 32)
    path.write_text("n_ctx = 3\nlayer_weigthing = 'mean'\n")
    with pytest.raises(UserFacingError, match=r"model\.toml: unknown model setting\(s\): layer_weigthing"):
        load_model_config(path)
    path.write_text("layer_weighting = 'max'\n")
    with pytest.raises(UserFacingError, match="layer_weighting must be"):
        load_model_config(path)
    path.write_text("layers = [2, 9]\n")
    with pytest.raises(UserFacingError, match="layer 9 is outside"):
        CLUE(tiny_clip, load_model_config(path))


def test_shipped_configs_load() -> None:
    from importlib.resources import files

    layers = {}
    for name in ("clue-vit-l14", "clue-vit-b16", "clue-tiny"):
        layers[name] = load_model_config(Path(str(files("clue") / "configs" / f"{name}.toml"))).layers
    assert layers == {"clue-vit-l14": [6, 12, 18, 24], "clue-vit-b16": [3, 6, 9, 12], "clue-tiny": [1, 2, 3, 4]}
    # Every shipped training config's [model] is a valid ClueConfig (a context_init phrase of
    # the wrong token count would only fail once a run had loaded its backbone).
    from clue.train import load_train_config

    trained = sorted((Path(str(files("clue") / "configs"))).glob("*_train.toml"))
    assert len(trained) >= 2
    for path in trained:
        ClueConfig.from_dict(load_train_config(path).model, source=str(path))
