"""CLIP's image and text towers with OpenAI / open_clip parameter names and layout.

A state dict from OpenAI's `ViT-L-14.pt` or an open_clip ViT loads into `CLIP` with no key
renaming. The sizes come from `CLIPConfig`, so tests run the same code on a tiny model.

Attention is written with plain matmuls and softmax (no fused kernels) so that the ONNX
export at opset 17 contains only ops that onnxruntime-web runs on WASM and WebGPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["quick_gelu", "gelu"]


@dataclass(frozen=True)
class CLIPConfig:
    """Sizes of both towers (defaults: ViT-B/16 as OpenAI trained it)."""

    embed_dim: int = 512
    image_size: int = 224
    patch_size: int = 16
    vision_width: int = 768
    vision_layers: int = 12
    vision_head_width: int = 64
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_layers: int = 12
    text_head_width: int = 64
    # OpenAI's weights were trained with QuickGELU; most LAION open_clip weights with GELU.
    activation: Activation = "quick_gelu"

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def vision_heads(self) -> int:
        return self.vision_width // self.vision_head_width

    @property
    def text_heads(self) -> int:
        return self.text_width // self.text_head_width

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


PRESETS: dict[str, CLIPConfig] = {
    "ViT-B-16": CLIPConfig(),
    "ViT-L-14": CLIPConfig(
        embed_dim=768,
        image_size=224,
        patch_size=14,
        vision_width=1024,
        vision_layers=24,
        text_width=768,
        text_layers=12,
    ),
    # Small enough for unit tests and quick demos on a CPU; same code paths as the real ones.
    "tiny": CLIPConfig(
        embed_dim=64,
        image_size=32,
        patch_size=8,
        vision_width=128,
        vision_layers=4,
        text_width=128,
        text_layers=2,
    ),
}
# Spelling used in OpenAI's code and our docs.
PRESET_ALIASES = {"ViT-B/16": "ViT-B-16", "ViT-L/14": "ViT-L-14"}


def preset_config(name: str) -> CLIPConfig:
    key = PRESET_ALIASES.get(name, name)
    if key not in PRESETS:
        raise KeyError(f"unknown CLIP preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[key]


class QuickGELU(nn.Module):
    """x·sigmoid(1.702x): the activation OpenAI's CLIP was trained with."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class MultiheadSelfAttention(nn.Module):
    """Self-attention with `nn.MultiheadAttention`'s parameter names (packed q/k/v).

    Written out as matmul + softmax so that tracing and ONNX export see plain ops.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads != 0:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        batch, length, width = x.shape
        head_width = width // self.heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.reshape(batch, length, 3, self.heads, head_width).permute(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        scores = torch.matmul(query * (head_width**-0.5), key.transpose(-2, -1))
        if mask is not None:
            scores = scores + mask
        attended = torch.matmul(scores.softmax(dim=-1), value)
        attended = attended.permute(0, 2, 1, 3).reshape(batch, length, width)
        return self.out_proj(attended)


class MLP(nn.Module):
    def __init__(self, width: int, activation: Activation) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = QuickGELU() if activation == "quick_gelu" else nn.GELU()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, activation: Activation) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width, activation)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of residual blocks; batch-first (OpenAI's is sequence-first, same weights)."""

    def __init__(self, width: int, layers: int, heads: int, activation: Activation) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads, activation) for _ in range(layers))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, cfg: CLIPConfig) -> None:
        super().__init__()
        width = cfg.vision_width
        self.image_size = cfg.image_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.grid_size**2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, cfg.vision_layers, cfg.vision_heads, cfg.activation)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, cfg.embed_dim))

    def forward_tokens(self, images: Tensor, layers: list[int]) -> list[Tensor]:
        """Token sequences [B, 1 + grid², width] (CLS first) after each requested block.

        `layers` are 1-based block numbers; blocks after the deepest requested one are not run.
        """
        depth = len(self.transformer.resblocks)
        for layer in layers:
            if not 1 <= layer <= depth:
                raise ValueError(f"layer {layer} is outside 1..{depth}")
        x = self.conv1(images)  # [B, width, grid, grid]
        x = x.flatten(2).transpose(1, 2)  # [B, grid², width]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        wanted = set(layers)
        collected: dict[int, Tensor] = {}
        for index, block in enumerate(self.transformer.resblocks[: max(layers)], start=1):
            x = block(x)
            if index in wanted:
                collected[index] = x
        return [collected[layer] for layer in layers]

    def project(self, tokens: Tensor) -> Tensor:
        """The frozen route into the joint space: ln_post then proj (any token, any layer)."""
        return self.ln_post(tokens) @ self.proj

    def forward(self, images: Tensor) -> Tensor:
        """CLIP's image embedding: the last block's CLS, projected (not normalized)."""
        last = self.forward_tokens(images, [len(self.transformer.resblocks)])[0]
        return self.project(last[:, 0])


class CLIP(nn.Module):
    """Both towers; parameter names match OpenAI's and open_clip's state dicts."""

    def __init__(self, cfg: CLIPConfig) -> None:
        super().__init__()
        self.config = cfg
        self.visual = VisionTransformer(cfg)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, cfg.text_width))
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads, cfg.activation)
        self.ln_final = nn.LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.zeros(cfg.text_width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        # Causal mask: position i attends to positions ≤ i. Not saved (OpenAI's is rebuilt too).
        causal = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("attn_mask", causal, persistent=False)

    def encode_text_embeddings(self, embeddings: Tensor, eot_positions: Tensor) -> Tensor:
        """Text features from token *embeddings* [B, context, width] (prompt vectors included).

        `eot_positions` [B] holds each row's EOT index (CLIP reads its feature there).
        `context` may be shorter than `context_length` when every EOT lies within it: under the
        causal mask no position sees a later one, so the features are the same function.
        Returns projected, unnormalized features [B, embed_dim].
        """
        length = embeddings.shape[1]
        x = embeddings + self.positional_embedding[:length].to(embeddings.dtype)
        x = self.transformer(x, self.attn_mask[:length, :length].to(x.dtype))
        x = self.ln_final(x)
        rows = torch.arange(x.shape[0], device=x.device)
        return x[rows, eot_positions] @ self.text_projection

    def encode_text(self, token_ids: Tensor) -> Tensor:
        """CLIP's text embedding of token ids [B, context]; EOT is the highest id (argmax)."""
        return self.encode_text_embeddings(self.token_embedding(token_ids), token_ids.argmax(dim=-1))

    def encode_image(self, images: Tensor) -> Tensor:
        return self.visual(images)

    def encode_image_and_text_contrastive(self, images: Tensor, token_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalized image and text features and the logit scale (exp'd), for CLIP's
        contrastive pre-training (`clue.losses.clip_contrastive_loss`)."""
        image_features = F.normalize(self.encode_image(images), dim=-1)
        text_features = F.normalize(self.encode_text(token_ids), dim=-1)
        return image_features, text_features, self.logit_scale.exp()


def initialize_weights(model: CLIP, seed: int | None = None) -> CLIP:
    """Random initialisation in the spirit of CLIP's (scaled normals), reproducible by seed."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    cfg = model.config

    def normal_(tensor: Tensor, std: float) -> None:
        with torch.no_grad():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)

    vision_scale = cfg.vision_width**-0.5
    normal_(model.visual.conv1.weight, (3 * cfg.patch_size**2) ** -0.5)
    normal_(model.visual.class_embedding, vision_scale)
    normal_(model.visual.positional_embedding, vision_scale)
    normal_(model.visual.proj, vision_scale)
    normal_(model.token_embedding.weight, 0.02)
    normal_(model.positional_embedding, 0.01)
    normal_(model.text_projection, cfg.text_width**-0.5)
    for transformer, width, layers in (
        (model.visual.transformer, cfg.vision_width, cfg.vision_layers),
        (model.transformer, cfg.text_width, cfg.text_layers),
    ):
        attn_std = width**-0.5
        proj_std = attn_std * (2 * layers) ** -0.5
        for block in transformer.resblocks:
            normal_(block.attn.in_proj_weight, attn_std)
            normal_(block.attn.out_proj.weight, proj_std)
            normal_(block.mlp.c_fc.weight, (2 * width) ** -0.5)
            normal_(block.mlp.c_proj.weight, proj_std)
    return model


def build_clip(preset_or_config: str | CLIPConfig = "ViT-B-16", seed: int | None = 0) -> CLIP:
    """A randomly initialised CLIP (for tests, demos, or contrastive pre-training)."""
    cfg = preset_config(preset_or_config) if isinstance(preset_or_config, str) else preset_or_config
    if seed is None:
        return initialize_weights(CLIP(cfg), None)
    # Module constructors draw their default init (biases) from the global RNG: seed it too,
    # without disturbing the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return initialize_weights(CLIP(cfg), seed)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: the backbone never changes."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


__all__ = [
    "CLIP",
    "CLIPConfig",
    "PRESETS",
    "build_clip",
    "freeze",
    "initialize_weights",
    "preset_config",
]
