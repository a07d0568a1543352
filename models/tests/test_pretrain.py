"""Contrastive pre-training of the demo backbone (clue.pretrain) on a tiny config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clue.checkpoints import load_backbone
from clue.errors import UserFacingError
from clue.pretrain import (
    BACKGROUND_PATCH,
    HEALTHY_PATCH,
    IGNORE_PATCH,
    TUMOUR_PATCH,
    PretrainConfig,
    all_captions,
    build_pairs,
    caption,
    load_pretrain_config,
    pretrain,
    read_pretrain_metadata,
    region_labels,
    region_loss,
    sample_batch,
    slice_labels,
)

TINY = dict(
    embed_dim=32,
    image_size=32,
    patch_size=8,
    vision_width=64,
    vision_layers=2,
    text_width=64,
    text_layers=1,
    cases=1,
    sequences=["t1", "t2"],
    views=["axial", "coronal"],
    slices_per_lesion=6,
    normal_slices=3,
    lesion_free_cases=0,
    batch_size=8,
    lr=2e-3,
    warmup_steps=2,
    log_every=10,
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
    assert (
        caption("T2", "sagittal", mask)
        == "a sagittal T2 MRI slice of a brain with a tumour in the lower left of the image"
    )
    mask[:] = 0
    mask[1, 15] = 1
    assert caption("T2", "sagittal", mask).endswith("in the upper right of the image")
    assert len(all_captions(["t1", "t2", "flair"], ["axial", "sagittal", "coronal"])) == 9 * 5


def test_region_labels_from_mask_and_signal() -> None:
    plane = np.zeros((32, 32), dtype=np.float32)
    plane[8:32, 0:24] = 0.7  # the "brain": 3×3 patches at the lower left
    mask = np.zeros((32, 32), dtype=np.float32)
    mask[8:16, 8:16] = 1  # exactly patch (1, 1)
    mask[16:18, 0:8] = 1  # a sliver of patch (2, 0): neither clearly in nor out
    labels = region_labels(plane, mask, 8)
    assert labels[0].tolist() == [BACKGROUND_PATCH] * 4
    assert labels[1, 1] == TUMOUR_PATCH and labels[2, 0] == IGNORE_PATCH
    assert labels[3, 3] == BACKGROUND_PATCH and labels[3, 2] == HEALTHY_PATCH


def test_region_loss_is_lower_when_patches_match_their_caption() -> None:
    text = torch.eye(3, 4)
    labels = torch.tensor([[0, 1, 2, -1]])
    matching = torch.eye(4)[[0, 1, 2, 3]].unsqueeze(0)
    swapped = torch.eye(4)[[1, 0, 0, 3]].unsqueeze(0)
    good = region_loss([matching], text, labels, torch.tensor(10.0))
    bad = region_loss([swapped], text, labels, torch.tensor(10.0))
    assert float(good) < 0.01 < float(bad)
    # The ignored patch does not count: changing its feature changes nothing.
    other = matching.clone()
    other[0, 3] = torch.tensor([1.0, 0, 0, 0])
    assert torch.allclose(region_loss([other], text, labels, torch.tensor(10.0)), good)


def test_pairs_use_only_training_seeds_and_the_caption_scheme(tiny_pairs) -> None:
    config, pairs = tiny_pairs
    assert "training seeds" in pairs.description
    assert pairs.planes.shape[1:] == (32, 32) and pairs.planes.dtype == torch.float16
    assert float(pairs.planes.min()) >= -0.1 and float(pairs.planes.max()) <= 1.1
    used = {pairs.captions[c] for c in pairs.classes.tolist()}
    assert any("healthy" in text for text in used) and any("tumour" in text for text in used)
    # Patch labels agree with the caption: no lesion patch on a healthy slice; lesion patches
    # on tumour slices (at 32 px a sliver of lesion can vanish from the resized mask).
    lesion_slices = 0
    for labels, cls in zip(pairs.patch_labels, pairs.classes.tolist()):
        present = set(labels.unique().tolist())
        assert HEALTHY_PATCH in present
        has_lesion = bool(present & {TUMOUR_PATCH, IGNORE_PATCH})
        if "healthy" in pairs.captions[cls]:
            assert not has_lesion
        lesion_slices += has_lesion
    assert lesion_slices > 0
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
    metadata = read_pretrain_metadata(out)
    assert metadata["config"]["steps"] == 40
    # what decides the bits beside the config: the threads and processes it ran with
    assert metadata["threads"] == torch.get_num_threads() and metadata["world_size"] == 1
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


def test_anomaly_pairs_caption_no_sequence_and_train(tmp_path: Path) -> None:
    from clue.pretrain import ANOMALY_REGION_CAPTIONS

    config = PretrainConfig(
        **{
            **TINY,
            "data": "anomalies",
            "views": ["axial", "sagittal"],
            "slices_per_cell": 4,
            "renderings": ["randomized", "t1"],
            "anomaly_fraction": 1.0,
            "steps": 4,
        }
    )
    pairs = build_pairs(config, progress=lambda _: None)
    assert len(pairs.classes) == 2 * 2 * 4 and not pairs.distinct_batches
    assert pairs.captions == all_captions(None, ["axial", "sagittal"]) and len(pairs.captions) == 10
    assert all("T1" not in text and "tumour" not in text for text in pairs.captions)
    assert pairs.region_captions == ANOMALY_REGION_CAPTIONS
    assert "brains colin27/colin27-head" in pairs.description
    for labels, cls in zip(pairs.patch_labels, pairs.classes.tolist()):
        if "normal brain" in pairs.captions[cls]:
            assert TUMOUR_PATCH not in labels.unique().tolist()
    assert any("anomaly" in pairs.captions[c] for c in pairs.classes.tolist())
    result = pretrain(config, tmp_path / "b.safetensors", pairs=pairs, progress=lambda _: None)
    assert len(result.losses) == 4 and all(np.isfinite(result.losses))
    assert read_pretrain_metadata(result.path)["region_captions"] == list(ANOMALY_REGION_CAPTIONS)
    assert caption(None, "axial", None) == "an axial MRI slice of a normal brain"


def test_anomaly_pairs_are_the_same_bits_whatever_the_number_of_processes(monkeypatch) -> None:
    import clue.pretrain as pretrain_module

    config = PretrainConfig(
        **{**TINY, "data": "anomalies", "views": ["axial"], "slices_per_cell": 4, "renderings": ["randomized", "t1"]}
    )
    monkeypatch.setattr(pretrain_module, "PAIR_CHUNK", 3)  # 8 slices: chunks of 3, 3 and 2
    made = {}
    for workers in (1, 2):
        monkeypatch.setattr(pretrain_module, "pair_workers", lambda workers=workers: workers)
        lines: list[str] = []
        made[workers] = build_pairs(config, progress=lines.append)
        assert ("by 2 processes" in lines[-1]) == (workers == 2), lines[-1]
    one, two = made[1], made[2]
    assert len(one.classes) == 8
    assert torch.equal(one.planes, two.planes) and one.planes.dtype == torch.float16
    assert torch.equal(one.classes, two.classes) and torch.equal(one.patch_labels, two.patch_labels)


def test_the_configs_thread_count_is_used_recorded_and_given_back(tiny_pairs, tmp_path: Path) -> None:
    _, pairs = tiny_pairs
    before = torch.get_num_threads()
    pinned = 2 if before == 1 else 1  # differs from the caller's, so both directions show
    seen: list[int] = []
    result = pretrain(
        PretrainConfig(**{**TINY, "steps": 2, "threads": pinned}),
        tmp_path / "pinned.safetensors",
        pairs=pairs,
        progress=lambda _: seen.append(torch.get_num_threads()),
    )
    assert seen and set(seen) == {pinned}
    assert read_pretrain_metadata(result.path)["threads"] == pinned
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        PretrainConfig(threads=-1)


def test_region_labels_with_a_brain_mask_call_scalp_background() -> None:
    plane = np.full((16, 16), 0.8, np.float32)  # signal everywhere: a head with scalp
    brain = np.zeros((16, 16), np.float32)
    brain[8:16, 8:16] = 1.0
    labels = region_labels(plane, np.zeros((16, 16), np.float32), 8, brain)
    assert labels.tolist() == [[BACKGROUND_PATCH, BACKGROUND_PATCH], [BACKGROUND_PATCH, HEALTHY_PATCH]]


def test_a_small_lesion_makes_its_patch_abnormal_below_half_when_asked() -> None:
    plane = np.full((16, 16), 0.8, np.float32)
    mask = np.zeros((16, 16), np.float32)
    mask[1:4, 1:4] = 1.0  # 9 of patch (0, 0)'s 64 pixels: 14 %
    assert region_labels(plane, mask, 8)[0, 0] == IGNORE_PATCH
    assert region_labels(plane, mask, 8, lesion_fraction=0.1)[0, 0] == TUMOUR_PATCH
    assert region_labels(plane, mask, 8, lesion_fraction=0.2)[0, 0] == IGNORE_PATCH


def test_slice_labels_call_a_slice_diseased_only_when_a_patch_is_abnormal() -> None:
    healthy = torch.full((2, 2), HEALTHY_PATCH, dtype=torch.int8)
    healthy[0, 0] = BACKGROUND_PATCH
    sub_patch = healthy.clone()
    sub_patch[1, 1] = IGNORE_PATCH  # lesion pixels, but too few for the patch rule
    lesion = sub_patch.clone()
    lesion[0, 1] = TUMOUR_PATCH
    verdicts = slice_labels(torch.stack([healthy, sub_patch, lesion]))
    assert verdicts.shape == (3, 1)
    assert verdicts[:, 0].tolist() == [HEALTHY_PATCH, IGNORE_PATCH, TUMOUR_PATCH]
    # Rule "any": a lesion smaller than the patch rule makes the slice diseased too.
    verdicts = slice_labels(torch.stack([healthy, sub_patch, lesion]), "any")
    assert verdicts[:, 0].tolist() == [HEALTHY_PATCH, TUMOUR_PATCH, TUMOUR_PATCH]
    with pytest.raises(ValueError, match="slice_label"):
        PretrainConfig(**{**TINY, "slice_label": "pixel"})


def test_slice_term_trains_and_is_logged_only_when_on(tiny_pairs, tmp_path: Path) -> None:
    import json

    config, pairs = tiny_pairs
    on = PretrainConfig(**{**TINY, "steps": 40, "slice_weight": 1.0})
    pretrain(on, tmp_path / "on.safetensors", pairs=pairs, progress=lambda _: None)
    logged = [json.loads(line)["slice_loss"] for line in (tmp_path / "on.log.jsonl").read_text().splitlines()]
    assert len(logged) == 40 and all(value > 0 for value in logged)
    assert np.mean(logged[-10:]) < 0.5 * np.mean(logged[:10]), (logged[:10], logged[-10:])
    off = PretrainConfig(**{**TINY, "steps": 3})
    pretrain(off, tmp_path / "off.safetensors", pairs=pairs, progress=lambda _: None)
    assert all(json.loads(line)["slice_loss"] == 0.0 for line in (tmp_path / "off.log.jsonl").read_text().splitlines())
    assert read_pretrain_metadata(tmp_path / "on.safetensors")["config"]["slice_weight"] == 1.0


def test_bf16_towers_change_the_arithmetic_not_the_function_and_return_float32(tiny_pairs) -> None:
    from clue.clip import build_clip
    from clue.pretrain import _Encode, to_model_input
    from clue.tokenizer import get_tokenizer

    config, pairs = tiny_pairs
    clip = build_clip(config.clip_config(), seed=0)
    images = to_model_input(pairs.planes[:4])  # what the training loop feeds the towers
    captions = torch.tensor(get_tokenizer().tokenize(pairs.captions[:3]))
    outputs = {}
    for precision in ("fp32", "bf16"):
        with torch.no_grad():
            outputs[precision] = _Encode(clip, [1, 2], precision)(images, captions, captions)
    (tokens32, image32, text32, _), (tokens16, image16, text16, region16) = outputs["fp32"], outputs["bf16"]
    assert all(t.dtype == torch.float32 for t in [*tokens16, image16, text16, region16])
    for a, b in ((image32, image16), (text32, text16), (tokens32[-1], tokens16[-1])):
        assert not torch.equal(a, b)  # the towers' matmuls did run in bfloat16
        assert torch.allclose(a, b, atol=0.05, rtol=0.05)  # …computing the same function
    with pytest.raises(ValueError, match="precision"):
        PretrainConfig(precision="fp16")


def test_a_bf16_pretraining_learns_keeps_float32_weights_and_records_it(tiny_pairs, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config, pairs = tiny_pairs
    out = tmp_path / "bf16.safetensors"
    result = pretrain(
        PretrainConfig(**{**TINY, "steps": 40, "precision": "bf16"}), out, pairs=pairs, progress=lambda _: None
    )
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert last < first - 0.2, (first, last)
    assert {tensor.dtype for tensor in load_file(str(out)).values()} == {torch.float32}
    assert read_pretrain_metadata(out)["config"]["precision"] == "bf16"


@pytest.mark.parametrize("native", [True, False])
def test_a_bf16_pretraining_says_when_this_cpu_emulates_bfloat16(
    tiny_pairs, tmp_path: Path, monkeypatch, native
) -> None:
    import clue.pretrain as pretraining

    _, pairs = tiny_pairs
    monkeypatch.setattr(pretraining, "bf16_matmuls_native", lambda: native)  # the CPU, not the code under test
    said: list[str] = []
    for precision in ("bf16", "fp32"):
        pretrain(
            PretrainConfig(**{**TINY, "steps": 2, "precision": precision}),
            tmp_path / f"{precision}.safetensors",
            pairs=pairs,
            progress=said.append,
        )
        warned = [line for line in said if "emulates the bfloat16" in line]
        assert len(warned) == (1 if precision == "bf16" and not native else 0), said
        said.clear()


def test_the_bf16_detector_reads_this_cpu() -> None:
    from clue.pretrain import bf16_matmuls_native

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to compare with")
    flags = cpuinfo.read_text(encoding="utf-8").split()
    assert bf16_matmuls_native() == ("avx512_bf16" in flags or "amx_tile" in flags)


def test_slice_label_rule_reaches_the_slice_term(tiny_pairs, tmp_path: Path) -> None:
    """The rule changes the slice term's targets where a slice holds only sub-patch lesion
    pixels, and is recorded with the backbone."""
    import json

    config, pairs = tiny_pairs
    flat = pairs.patch_labels.reshape(len(pairs.patch_labels), -1)
    sub_patch_only = (flat == IGNORE_PATCH).any(dim=1) & ~(flat == TUMOUR_PATCH).any(dim=1)
    assert sub_patch_only.any(), "the tiny set needs a slice whose lesion no patch rule sees"
    losses = {}
    for rule in ("patch", "any"):
        run = PretrainConfig(**{**TINY, "steps": 10, "log_every": 1, "slice_weight": 1.0, "slice_label": rule})
        pretrain(run, tmp_path / f"{rule}.safetensors", pairs=pairs, progress=lambda _: None)
        losses[rule] = [
            json.loads(line)["slice_loss"] for line in (tmp_path / f"{rule}.log.jsonl").read_text().splitlines()
        ]
        assert read_pretrain_metadata(tmp_path / f"{rule}.safetensors")["config"]["slice_label"] == rule
    assert losses["patch"] != losses["any"]
