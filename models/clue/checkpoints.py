"""Load a frozen CLIP from the user's own checkpoint file (nothing is ever downloaded).

Accepted files:
- OpenAI's TorchScript archives (`ViT-L-14.pt`, `ViT-B-16.pt`): their state dict is read
  through `torch.jit.load`; a plain `torch.save`d state dict with the same names also works.
- open_clip state dicts (`.pt`, `.bin`), possibly under a `"state_dict"` key and with the
  `module.` prefix that DistributedDataParallel adds.
- `.safetensors` with open_clip names, or with Hugging Face `CLIPModel` names
  (`vision_model.*`, `text_model.*`), which are mapped onto ours.

The architecture is inferred from tensor shapes, as OpenAI's `build_model` does. Anything
wrong with the file becomes a `UserFacingError` that names the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from clue.clip import CLIP, PRESET_ALIASES, PRESETS, Activation, CLIPConfig, build_clip, freeze, preset_config
from clue.errors import UserFacingError

# Entries that OpenAI's archives and HF checkpoints carry but that are not weights.
IGNORED_KEYS = {"input_resolution", "context_length", "vocab_size", "attn_mask"}
IGNORED_SUFFIXES = ("position_ids", ".attn_mask")

RANDOM_PRESET_PREFIX = "preset:"
RANDOM_PRESET_SUFFIX = "-random"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Reading the raw tensors
# ---------------------------------------------------------------------------------------------


def _is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives are zip files holding compiled code; `torch.save` zips do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.endswith("constants.pkl") for name in archive.namelist())


def _read_torch_file(path: Path) -> tuple[dict[str, Tensor], str]:
    if _is_torchscript_archive(path):
        with warnings.catch_warnings():
            # torch announces jit's deprecation; OpenAI's archives exist only in this form.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
        return dict(module.state_dict()), "torchscript"
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    # Training scripts wrap the weights: {"state_dict": ...} (open_clip) or {"model": ...}.
    for wrapper in ("state_dict", "model", "module"):
        if isinstance(loaded, Mapping) and wrapper in loaded and isinstance(loaded[wrapper], Mapping):
            loaded = loaded[wrapper]
            break
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise UserFacingError(f"{path}: not a CLIP state dict (found {type(loaded).__name__} without tensor values)")
    return dict(loaded), "state_dict"


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path), device="cpu")


def read_state_dict(path: Path) -> tuple[dict[str, Tensor], str]:
    """The checkpoint's tensors (names as stored) and which container they came from."""
    if not path.exists():
        raise UserFacingError(f"{path}: checkpoint file does not exist")
    if not path.is_file():
        raise UserFacingError(f"{path}: is not a file")
    if path.stat().st_size == 0:
        raise UserFacingError(f"{path}: checkpoint file is empty")
    with open(path, "rb") as handle:
        head = handle.read(8)
    try:
        if path.suffix == ".safetensors":
            return _read_safetensors(path), "safetensors"
        if path.suffix in (".pt", ".pth", ".bin", ".ckpt") or head.startswith(b"PK") or head[:2] == b"\x80\x02":
            return _read_torch_file(path)
    except UserFacingError:
        raise
    except Exception as error:  # torch/zip/safetensors raise many types for damaged files
        raise UserFacingError(
            f"{path}: cannot read the checkpoint; the file is truncated or corrupt "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'})"
        ) from error
    raise UserFacingError(
        f"{path}: unknown checkpoint format (expected an OpenAI TorchScript .pt, an open_clip "
        ".pt/.bin state dict, or .safetensors)"
    )


# ---------------------------------------------------------------------------------------------
# Naming: everything becomes OpenAI / open_clip names
# ---------------------------------------------------------------------------------------------

_HF_LAYER = re.compile(r"^(vision_model|text_model)\.encoder\.layers\.(\d+)\.(.+)$")
_HF_LAYER_PARTS = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}
_HF_DIRECT = {
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",  # sic: HF's spelling
    "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
    "vision_model.post_layernorm.weight": "visual.ln_post.weight",
    "vision_model.post_layernorm.bias": "visual.ln_post.bias",
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
    "logit_scale": "logit_scale",
}


def is_hugging_face_layout(state: Mapping[str, Tensor]) -> bool:
    return any(key.startswith(("vision_model.", "text_model.")) for key in state)


def convert_hugging_face(state: Mapping[str, Tensor], path: Path) -> dict[str, Tensor]:
    """Map `transformers.CLIPModel` names onto ours (q/k/v are packed into in_proj)."""
    converted: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str, str], dict[str, Tensor]] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key.endswith(IGNORED_SUFFIXES):
            continue
        if key in _HF_DIRECT:
            converted[_HF_DIRECT[key]] = value
        elif key == "visual_projection.weight":
            converted["visual.proj"] = value.t().contiguous()  # HF stores Linear(out, in)
        elif key == "text_projection.weight":
            converted["text_projection"] = value.t().contiguous()
        elif match := _HF_LAYER.match(key):
            tower, index, rest = match.groups()
            prefix = ("visual.transformer" if tower == "vision_model" else "transformer") + f".resblocks.{index}."
            projection = re.match(r"self_attn\.(q|k|v)_proj\.(weight|bias)$", rest)
            if projection:
                qkv.setdefault((prefix, projection.group(2), "in_proj"), {})[projection.group(1)] = value
                continue
            for hf_part, our_part in _HF_LAYER_PARTS.items():
                if rest.startswith(hf_part + "."):
                    converted[prefix + our_part + rest[len(hf_part) :]] = value
                    break
            else:
                unknown.append(key)
        else:
            unknown.append(key)
    for (prefix, kind, _), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise UserFacingError(
                f"{path}: Hugging Face attention weights incomplete at {prefix}: have {sorted(parts)} of q, k, v"
            )
        converted[f"{prefix}attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    if unknown:
        raise UserFacingError(
            f"{path}: unexpected Hugging Face keys (not a CLIP ViT?): {', '.join(sorted(unknown)[:5])}"
        )
    return converted


def normalize_names(state: Mapping[str, Tensor], path: Path) -> dict[str, Tensor]:
    """Strip DDP prefixes, convert HF names, drop non-weight entries."""
    stripped = {key[len("module.") :] if key.startswith("module.") else key: value for key, value in state.items()}
    if is_hugging_face_layout(stripped):
        stripped = convert_hugging_face(stripped, path)
    return {
        key: value for key, value in stripped.items() if key not in IGNORED_KEYS and not key.endswith(IGNORED_SUFFIXES)
    }


# ---------------------------------------------------------------------------------------------
# Architecture from shapes
# ---------------------------------------------------------------------------------------------


def _count_blocks(state: Mapping[str, Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    return max(indices) + 1 if indices else 0


def infer_config(
    state: Mapping[str, Tensor],
    path: Path,
    activation: Activation = "quick_gelu",
    vision_head_width: int = 64,
    text_head_width: int = 64,
) -> CLIPConfig:
    """CLIP sizes from tensor shapes. Head widths cannot be seen in the weights: OpenAI's and
    open_clip's B/16 and L/14 use 64 (ViT-H/14 uses 80; pass it)."""
    required = (
        "visual.conv1.weight",
        "visual.positional_embedding",
        "visual.proj",
        "token_embedding.weight",
        "positional_embedding",
        "text_projection",
    )
    absent = [key for key in required if key not in state]
    if absent:
        raise UserFacingError(
            f"{path}: not a CLIP ViT checkpoint; missing keys: {', '.join(absent[:5])}"
            + (f" (and {len(absent) - 5} more)" if len(absent) > 5 else "")
        )
    conv = state["visual.conv1.weight"]
    if conv.ndim != 4 or conv.shape[1] != 3 or conv.shape[2] != conv.shape[3]:
        raise UserFacingError(f"{path}: visual.conv1.weight has shape {tuple(conv.shape)}, expected [width, 3, p, p]")
    vision_width, patch_size = int(conv.shape[0]), int(conv.shape[-1])
    positions = int(state["visual.positional_embedding"].shape[0])
    grid = round((positions - 1) ** 0.5)
    if grid * grid + 1 != positions:
        raise UserFacingError(
            f"{path}: visual.positional_embedding has {positions} rows, not 1 + a square number of patches"
        )
    text_width = int(state["token_embedding.weight"].shape[1])
    for name, width in (("vision", vision_width), ("text", text_width)):
        head_width = vision_head_width if name == "vision" else text_head_width
        if width % head_width != 0:
            raise UserFacingError(f"{path}: {name} width {width} is not a multiple of the head width {head_width}")
    return CLIPConfig(
        embed_dim=int(state["visual.proj"].shape[1]),
        image_size=grid * patch_size,
        patch_size=patch_size,
        vision_width=vision_width,
        vision_layers=_count_blocks(state, "visual.transformer.resblocks."),
        vision_head_width=vision_head_width,
        context_length=int(state["positional_embedding"].shape[0]),
        vocab_size=int(state["token_embedding.weight"].shape[0]),
        text_width=text_width,
        text_layers=_count_blocks(state, "transformer.resblocks."),
        text_head_width=text_head_width,
        activation=activation,
    )


def _hugging_face_activation(path: Path) -> Activation | None:
    """HF checkpoints keep `hidden_act` in a config.json beside the weights."""
    config_file = path.with_name("config.json")
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    act = config.get("vision_config", {}).get("hidden_act", config.get("hidden_act"))
    return act if act in ("quick_gelu", "gelu") else None


def build_from_state_dict(
    state: Mapping[str, Tensor],
    path: Path,
    activation: Activation = "quick_gelu",
    vision_head_width: int = 64,
    text_head_width: int = 64,
) -> CLIP:
    cfg = infer_config(state, path, activation, vision_head_width, text_head_width)
    model = CLIP(cfg)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing:
        raise UserFacingError(
            f"{path}: missing keys for a CLIP with {cfg.vision_layers} vision / {cfg.text_layers} text blocks: "
            f"{', '.join(missing[:5])}" + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        )
    if unexpected:
        raise UserFacingError(
            f"{path}: keys this CLIP does not have (unsupported architecture?): "
            f"{', '.join(unexpected[:5])}" + (f" (and {len(unexpected) - 5} more)" if len(unexpected) > 5 else "")
        )
    for key, target in expected.items():
        if tuple(state[key].shape) != tuple(target.shape):
            raise UserFacingError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(target.shape)} "
                "for the architecture inferred from the other tensors"
            )
    # OpenAI's archives hold fp16 weights; CLUE computes in fp32 and exports fp16 itself.
    model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    return model


def _load_clip_with_origin(
    path: Path,
    activation: Activation | None,
    vision_head_width: int,
    text_head_width: int,
) -> tuple[CLIP, str]:
    raw, container = read_state_dict(path)
    hugging_face = is_hugging_face_layout(raw)
    state = normalize_names(raw, path)
    if activation is None:
        activation = (_hugging_face_activation(path) if hugging_face else None) or "quick_gelu"
    model = build_from_state_dict(state, path, activation, vision_head_width, text_head_width)
    origin = {"torchscript": "OpenAI TorchScript archive", "state_dict": "PyTorch state dict"}.get(container, container)
    if hugging_face:
        origin += ", Hugging Face names"
    return freeze(model), origin  # type: ignore[return-value]


def load_clip(
    path: str | Path,
    activation: Activation | None = None,
    vision_head_width: int = 64,
    text_head_width: int = 64,
) -> CLIP:
    """A frozen CLIP (eval mode, requires_grad False) from a local checkpoint file.

    `activation`: None picks QuickGELU for OpenAI archives and open_clip state dicts (OpenAI
    weights) and the `hidden_act` of a Hugging Face config.json beside the file; LAION-trained
    open_clip weights need `"gelu"`.
    """
    return _load_clip_with_origin(Path(path), activation, vision_head_width, text_head_width)[0]


def architecture_name(cfg: CLIPConfig) -> str:
    """ "ViT-L/14" for the known shapes, else the sizes spelled out."""
    for name, preset in PRESETS.items():
        if replace(preset, activation=cfg.activation) == cfg and name in PRESET_ALIASES.values():
            return next(alias for alias, key in PRESET_ALIASES.items() if key == name)
    return f"ViT patch {cfg.patch_size}, width {cfg.vision_width}, {cfg.vision_layers} blocks, {cfg.image_size}px"


def load_backbone(spec: str, activation: Activation | None = None, seed: int = 0) -> tuple[CLIP, str, str | None]:
    """A checkpoint path, or `preset:<name>-random` for a randomly initialised CLIP.

    Returns the frozen model, a description for provenance, and the file's sha256 (None for
    random presets).
    """
    if spec.startswith(RANDOM_PRESET_PREFIX):
        name = spec[len(RANDOM_PRESET_PREFIX) :]
        if not name.endswith(RANDOM_PRESET_SUFFIX):
            raise UserFacingError(
                f"{spec}: random backbones are named preset:<name>{RANDOM_PRESET_SUFFIX}, e.g. preset:ViT-B-16-random"
            )
        try:
            cfg = preset_config(name[: -len(RANDOM_PRESET_SUFFIX)])
        except KeyError as error:
            raise UserFacingError(f"{spec}: {error.args[0]}") from error
        if activation is not None:
            cfg = replace(cfg, activation=activation)
        model = freeze(build_clip(cfg, seed=seed))
        return model, f"{architecture_name(cfg)} (random initialisation, seed {seed})", None  # type: ignore[return-value]
    path = Path(spec)
    model, origin = _load_clip_with_origin(path, activation, 64, 64)
    description = f"{architecture_name(model.config)} ({origin} {path.name}, {model.config.activation})"
    return model, description, file_sha256(path)
