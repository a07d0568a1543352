"""Loading CLIP from each real checkpoint format, written here at tiny size with the real
key names and containers, and the clear errors for damaged or wrong files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor

from clue.checkpoints import load_backbone, load_clip
from clue.clip import CLIP, build_clip
from clue.errors import UserFacingError

# Tracing is how OpenAI-style archives are made; torch announces that jit is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

IDS = torch.zeros(2, 77, dtype=torch.long)
IDS[0, :4] = torch.tensor([49406, 320, 1125, 49407])
IDS[1, :5] = torch.tensor([49406, 320, 1125, 2368, 49407])


@pytest.fixture(scope="module")
def source() -> CLIP:
    model = build_clip("tiny", seed=7).eval()
    # Non-trivial norms and biases, so a mix-up of two tensors cannot go unnoticed.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_post.weight", "ln_final.weight")):
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


def outputs(model: CLIP) -> tuple[Tensor, Tensor]:
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(IDS)


def assert_same_model(loaded: CLIP, source: CLIP, atol: float = 1e-5) -> None:
    assert loaded.config == source.config
    for got, expected in zip(outputs(loaded), outputs(source)):
        assert torch.allclose(got, expected, atol=atol)
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())


class OpenAIStyleCLIP(CLIP):
    """What OpenAI's jit archives hold: the model with a forward, plus three scalar entries
    (input_resolution, context_length, vocab_size) that are not weights."""

    def __init__(self, source: CLIP) -> None:
        super().__init__(source.config)
        self.load_state_dict(source.state_dict())
        self.register_buffer("input_resolution", torch.tensor(source.config.image_size))
        self.register_buffer("context_length", torch.tensor(source.config.context_length))
        self.register_buffer("vocab_size", torch.tensor(source.config.vocab_size))

    def forward(self, image: Tensor, text: Tensor) -> tuple[Tensor, Tensor]:
        return self.encode_image(image), self.encode_text(text)


def write_torchscript(source: CLIP, path: Path, half: bool = False) -> None:
    module = OpenAIStyleCLIP(source).eval()
    if half:
        module = module.half()  # OpenAI ships fp16 weights
        example = (torch.zeros(1, 3, 32, 32, dtype=torch.half), IDS[:1])
        traced = torch.jit.trace(module, example, check_trace=False)
    else:
        traced = torch.jit.trace(module, (torch.zeros(1, 3, 32, 32), IDS[:1]))
    traced.save(str(path))


def test_openai_torchscript_archive(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "ViT-tiny.pt"
    write_torchscript(source, path)
    with zipfile.ZipFile(path) as archive:  # a real TorchScript archive, with compiled code
        assert any("/code/" in name for name in archive.namelist())
    assert_same_model(load_clip(path), source)


def test_openai_torchscript_archive_fp16(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "ViT-tiny-fp16.pt"
    write_torchscript(source, path, half=True)
    loaded = load_clip(path)
    assert loaded.visual.proj.dtype == torch.float32
    # fp16 storage costs precision only: compare with the source rounded the same way.
    rounded = build_clip("tiny")
    rounded.load_state_dict({k: v.half().float() for k, v in source.state_dict().items()})
    assert_same_model(loaded, rounded.eval())


def test_plain_state_dict_with_openai_names(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    state = dict(source.state_dict())
    state["input_resolution"] = torch.tensor(32)
    torch.save(state, path)
    assert_same_model(load_clip(path), source)


def test_open_clip_training_checkpoint(source: CLIP, tmp_path: Path) -> None:
    # open_clip's training loop saves {"epoch", "name", "state_dict", "optimizer"} and, with
    # DistributedDataParallel, prefixes every key with "module.".
    path = tmp_path / "epoch_10.pt"
    state = {f"module.{key}": value for key, value in source.state_dict().items()}
    torch.save({"epoch": 10, "name": "tiny", "state_dict": state}, path)
    assert_same_model(load_clip(path), source)


def test_open_clip_bin(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(source.state_dict(), path)
    assert_same_model(load_clip(path), source)


def test_open_clip_safetensors(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    assert_same_model(load_clip(path), source)


def to_hugging_face_names(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """transformers.CLIPModel's layout: separate q/k/v, Linear projections (out, in)."""
    hf: dict[str, Tensor] = {
        "vision_model.embeddings.class_embedding": state["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": state["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": state["visual.positional_embedding"],
        "vision_model.embeddings.position_ids": torch.arange(17).unsqueeze(0),
        "vision_model.pre_layrnorm.weight": state["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": state["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": state["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": state["visual.ln_post.bias"],
        "visual_projection.weight": state["visual.proj"].t(),
        "text_model.embeddings.token_embedding.weight": state["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": state["positional_embedding"],
        "text_model.embeddings.position_ids": torch.arange(77).unsqueeze(0),
        "text_model.final_layer_norm.weight": state["ln_final.weight"],
        "text_model.final_layer_norm.bias": state["ln_final.bias"],
        "text_projection.weight": state["text_projection"].t(),
        "logit_scale": state["logit_scale"],
    }
    for ours, theirs, blocks in (("visual.transformer", "vision_model", 4), ("transformer", "text_model", 2)):
        for i in range(blocks):
            src, dst = f"{ours}.resblocks.{i}.", f"{theirs}.encoder.layers.{i}."
            for kind in ("weight", "bias"):
                q, k, v = state[f"{src}attn.in_proj_{kind}"].chunk(3, dim=0)
                hf[f"{dst}self_attn.q_proj.{kind}"] = q
                hf[f"{dst}self_attn.k_proj.{kind}"] = k
                hf[f"{dst}self_attn.v_proj.{kind}"] = v
                hf[f"{dst}self_attn.out_proj.{kind}"] = state[f"{src}attn.out_proj.{kind}"]
                hf[f"{dst}layer_norm1.{kind}"] = state[f"{src}ln_1.{kind}"]
                hf[f"{dst}layer_norm2.{kind}"] = state[f"{src}ln_2.{kind}"]
                hf[f"{dst}mlp.fc1.{kind}"] = state[f"{src}mlp.c_fc.{kind}"]
                hf[f"{dst}mlp.fc2.{kind}"] = state[f"{src}mlp.c_proj.{kind}"]
    return {key: value.contiguous() for key, value in hf.items()}


@pytest.mark.parametrize("file_name", ["model.safetensors", "pytorch_model.bin"])
def test_hugging_face_checkpoint(source: CLIP, tmp_path: Path, file_name: str) -> None:
    path = tmp_path / file_name
    state = to_hugging_face_names(dict(source.state_dict()))
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    assert_same_model(load_clip(path), source)


def test_hugging_face_config_sets_activation(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(to_hugging_face_names(dict(source.state_dict())), str(path))
    (tmp_path / "config.json").write_text(json.dumps({"vision_config": {"hidden_act": "gelu"}}))
    assert load_clip(path).config.activation == "gelu"


def test_hugging_face_incomplete_attention(source: CLIP, tmp_path: Path) -> None:
    state = to_hugging_face_names(dict(source.state_dict()))
    del state["text_model.encoder.layers.1.self_attn.k_proj.bias"]
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    with pytest.raises(UserFacingError, match=r"model\.safetensors.*incomplete"):
        load_clip(path)


# -- errors ----------------------------------------------------------------------------------


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match=r"absent\.pt: checkpoint file does not exist"):
        load_clip(tmp_path / "absent.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(UserFacingError, match=r"empty\.pt: checkpoint file is empty"):
        load_clip(tmp_path / "empty.pt")


@pytest.mark.parametrize("kind", ["torchscript", "state_dict", "safetensors"])
def test_truncated_files(source: CLIP, tmp_path: Path, kind: str) -> None:
    path = tmp_path / ("model.safetensors" if kind == "safetensors" else "model.pt")
    if kind == "torchscript":
        write_torchscript(source, path)
    elif kind == "state_dict":
        torch.save(source.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # an interrupted download
    with pytest.raises(
        UserFacingError, match=r"model\.(pt|safetensors): cannot read the checkpoint; the file is truncated or corrupt"
    ):
        load_clip(path)


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    path.write_bytes(b"\x93NUMPY not a checkpoint")
    with pytest.raises(UserFacingError, match=r"weights\.npz: unknown checkpoint format"):
        load_clip(path)


def test_not_a_clip_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, path)
    with pytest.raises(
        UserFacingError, match=r"resnet\.pt: not a CLIP ViT checkpoint; missing keys: visual\.conv1\.weight"
    ):
        load_clip(path)


def test_missing_block_keys(source: CLIP, tmp_path: Path) -> None:
    state = dict(source.state_dict())
    del state["visual.transformer.resblocks.2.mlp.c_fc.weight"]
    del state["transformer.resblocks.0.ln_1.bias"]
    path = tmp_path / "partial.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(UserFacingError, match=r"partial\.safetensors: missing keys.*resblocks\.2\.mlp\.c_fc\.weight"):
        load_clip(path)


def test_shape_mismatch(source: CLIP, tmp_path: Path) -> None:
    state = dict(source.state_dict())
    state["ln_final.weight"] = torch.ones(96)
    path = tmp_path / "mismatch.pt"
    torch.save(state, path)
    with pytest.raises(UserFacingError, match=r"mismatch\.pt: ln_final\.weight has shape \(96,\), expected \(128,\)"):
        load_clip(path)


def test_unexpected_keys(source: CLIP, tmp_path: Path) -> None:
    state = dict(source.state_dict())
    state["visual.attn_pool.query"] = torch.zeros(1, 128)
    path = tmp_path / "coca.pt"
    torch.save(state, path)
    with pytest.raises(UserFacingError, match=r"coca\.pt: keys this CLIP does not have.*attn_pool"):
        load_clip(path)


def test_random_presets() -> None:
    model, description, sha = load_backbone("preset:tiny-random")
    assert sha is None and "random" in description and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(UserFacingError, match="unknown CLIP preset"):
        load_backbone("preset:ViT-Z-99-random")
    with pytest.raises(UserFacingError, match="-random"):
        load_backbone("preset:ViT-B-16")


def test_backbone_file_provenance(source: CLIP, tmp_path: Path) -> None:
    path = tmp_path / "ViT-tiny.pt"
    write_torchscript(source, path)
    _, description, sha = load_backbone(str(path))
    assert "OpenAI TorchScript archive ViT-tiny.pt" in description
    import hashlib

    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
