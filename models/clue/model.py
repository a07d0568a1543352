"""CLUE: image-conditioned prompts on a frozen CLIP → multi-layer anomaly maps and a score.

Per tapped layer l: patch tokens → frozen ln_post + proj (or a trainable projection) →
`M_l = cos(F_l, P_A) − cos(F_l, P_N)` on the patch grid, `p_l = sigmoid(s·M_l)`;
`M_final = Σ_l w_l p_l` with `w = softmax_l(mean_hw M_l / τ)` (or sum / mean);
bicubic upsampling to the input size, clamped to [0, 1]. The image score is, by default (the
method's), the mean over layers of each layer's CLS probability of "diseased"; as options it is
the anomaly map's maximum or the mean of the two (`image_score`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clue.atomic import atomic_write, save_torch_atomic
from clue.clip import CLIP
from clue.configfile import dataclass_from_dict, read_toml
from clue.errors import UserFacingError
from clue.prompts import ImageAdaptor, PrefixCachedTextEncoder, PromptLearner, TextEncoder, context_init_tokens

LayerWeighting = Literal["softmax", "sum", "mean"]
Projection = Literal["frozen", "trainable"]
Upsample = Literal["bicubic", "bilinear"]
# What the image score reads: the layers' CLS (the method), the anomaly map's maximum, or the
# mean of the two (APRIL-GAN's and MVFA's test-time score). The cross-entropy always trains the
# CLS score, so the option changes the score output and nothing that is trained.
ImageScore = Literal["cls", "map_max", "cls_map_max"]

TRAINABLE_FORMAT = "clue-trainable/1"


def default_layers(depth: int) -> list[int]:
    """Tapped blocks (1-based): the ends of the four quarters (L/14: 6,12,18,24; B/16: 3,6,9,12)."""
    layers = sorted({max(1, round(depth * quarter / 4)) for quarter in range(1, 5)})
    return layers


def _check_choice(name: str, value: object, choices: Any) -> None:
    """`value` must be one of the Literal type `choices`' values (the type is the one list)."""
    allowed = get_args(choices)
    if value not in allowed:
        listed = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise ValueError(f"{name} must be {listed}, not {value!r}")


@dataclass
class ClueConfig:
    """Everything about CLUE on top of the backbone. Defaults are method.md's decisions."""

    layers: list[int] | None = None  # None: default_layers(depth)
    n_ctx: int = 32  # M: number of V vectors and of W vectors
    per_state_context: bool = False  # one V/W set per state instead of a shared one
    state_words: tuple[str, str] = ("normal", "diseased")
    class_name: str = "brain"
    layer_weighting: LayerWeighting = "softmax"
    tau: float | None = None  # softmax temperature; None: 1/s (i.e. softmax of scaled maps)
    logit_scale: float | None = None  # s; None: the backbone's exp(logit_scale) (100 for OpenAI)
    projection: Projection = "frozen"
    upsample: Upsample = "bicubic"
    adaptor_reduction: int = 16
    init_std: float = 0.02
    # CoOp's ctx_init: a phrase of exactly 2·n_ctx BPE tokens that V and W start from (None:
    # random, init_std). With it the adaptor's output layer starts at zero, so that the first
    # prompt is the phrase itself for every image rather than the phrase plus a random π(x).
    context_init: str | None = None
    image_score: ImageScore = "cls"

    def __post_init__(self) -> None:
        self.state_words = tuple(self.state_words)  # type: ignore[assignment]
        _check_choice("layer_weighting", self.layer_weighting, LayerWeighting)
        _check_choice("projection", self.projection, Projection)
        _check_choice("upsample", self.upsample, Upsample)
        _check_choice("image_score", self.image_score, ImageScore)
        if len(self.state_words) != 2:
            raise ValueError("state_words must be two words: (normal, diseased)")
        if self.n_ctx < 1:
            raise ValueError("n_ctx must be at least 1")
        if self.tau is not None and self.tau <= 0:
            raise ValueError("tau must be positive")
        if self.context_init is not None:
            context_init_tokens(self.context_init, self.n_ctx)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state_words"] = list(self.state_words)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model config") -> ClueConfig:
        return dataclass_from_dict(cls, data, source, "model")


def load_model_config(path: str | Path) -> ClueConfig:
    """A ClueConfig from TOML: top-level keys, or a `[model]` table (so that a training config
    can hold the model settings too)."""
    path = Path(path)
    data = read_toml(path, "model")
    table = data.get("model", data)
    if not isinstance(table, dict):
        raise UserFacingError(f"{path}: [model] must be a table")
    return ClueConfig.from_dict(dict(table), source=str(path))


@dataclass
class ClueOutput:
    """CLUE's outputs. Maps at input resolution are [0,1]; grid ones are at patch resolution."""

    anomaly_map: Tensor  # [B, S, S] raw M_final, upsampled, clamped to [0, 1]
    layer_maps: Tensor  # [B, L, S, S] p_l, upsampled, clamped to [0, 1]
    score: Tensor  # [B] the image score, as ClueConfig.image_score says
    cls_score: Tensor  # [B] mean_l S_l, what the cross-entropy trains (= score for "cls")
    layer_scores: Tensor  # [B, L] S_l: diseased probability of layer l's CLS
    grid_map: Tensor  # [B, g, g] M_final on the patch grid
    grid_layer_maps: Tensor  # [B, L, g, g] p_l on the patch grid
    grid_layer_diffs: Tensor  # [B, L, g, g] M_l (cosine differences)
    layer_weights: Tensor  # [B, L] w_l
    text_features: Tensor  # [B, 2, E] normalized (normal, diseased)


class CLUE(nn.Module):
    """Frozen CLIP + prompt learner + image adaptor (+ optional per-layer projections)."""

    def __init__(self, clip: CLIP, cfg: ClueConfig | None = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else ClueConfig()
        depth = clip.config.vision_layers
        layers = list(cfg.layers) if cfg.layers is not None else default_layers(depth)
        for layer in layers:
            if not 1 <= layer <= depth:
                raise UserFacingError(f"model config: layer {layer} is outside the backbone's blocks 1..{depth}")
        self.cfg = cfg
        self.layers = layers
        self.clip = clip
        for parameter in clip.parameters():
            parameter.requires_grad_(False)
        clip.eval()
        clip_cfg = clip.config
        self.image_size = clip_cfg.image_size
        self.grid_size = clip_cfg.grid_size
        self.prompt_learner = PromptLearner(
            clip,
            n_ctx=cfg.n_ctx,
            state_words=cfg.state_words,
            class_name=cfg.class_name,
            per_state_context=cfg.per_state_context,
            init_std=cfg.init_std,
            context_init=cfg.context_init,
        )
        self.adaptor = ImageAdaptor(clip_cfg.embed_dim, clip_cfg.text_width, cfg.adaptor_reduction)
        if cfg.context_init is not None:
            with torch.no_grad():
                self.adaptor.linear2.weight.zero_()
                self.adaptor.linear2.bias.zero_()
        self.text_encoder = TextEncoder(clip)
        # Built by cache_prompt_prefix() once the prompts are final (evaluation, export).
        self.prefix_cached_text: PrefixCachedTextEncoder | None = None
        self.layer_projections: nn.ModuleList | None = None
        if cfg.projection == "trainable":
            # Start from the frozen route (proj), then let each layer adapt its own.
            projections = []
            for _ in layers:
                linear = nn.Linear(clip_cfg.vision_width, clip_cfg.embed_dim, bias=False)
                with torch.no_grad():
                    linear.weight.copy_(clip.visual.proj.t())
                projections.append(linear)
            self.layer_projections = nn.ModuleList(projections)
        scale = cfg.logit_scale if cfg.logit_scale is not None else float(clip.logit_scale.detach().exp())
        self.logit_scale_value = scale
        self.tau_value = cfg.tau if cfg.tau is not None else 1.0 / scale

    def train(self, mode: bool = True) -> CLUE:
        """The backbone stays in eval mode whatever the trainer asks."""
        super().train(mode)
        self.clip.eval()
        if mode:
            self.prefix_cached_text = None  # V changes while training: the cache would be stale
        return self

    def cache_prompt_prefix(self) -> CLUE:
        """Compute the image-independent part of both prompts once (see
        `PrefixCachedTextEncoder`); forward then runs only the image-conditioned tokens
        through the text tower. Same outputs to float rounding. Dropped by `train()` and by
        `drop_prompt_prefix_cache()`."""
        self.eval()
        self.prefix_cached_text = PrefixCachedTextEncoder(self.clip, self.prompt_learner)
        return self

    def drop_prompt_prefix_cache(self) -> CLUE:
        self.prefix_cached_text = None
        return self

    # -- trainable parameters only ------------------------------------------------------------

    def trainable_modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {"prompt_learner": self.prompt_learner, "adaptor": self.adaptor}
        if self.layer_projections is not None:
            modules["layer_projections"] = self.layer_projections
        return modules

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for module in self.trainable_modules().values() for p in module.parameters()]

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Only V, W, the adaptor (and the optional projections): what training changes."""
        state: dict[str, Tensor] = {}
        for name, module in self.trainable_modules().items():
            for key, value in module.state_dict().items():
                state[f"{name}.{key}"] = value.detach().clone()
        return state

    def load_trainable_state_dict(self, state: dict[str, Tensor], source: str = "prompts") -> None:
        expected = self.trainable_state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            detail = []
            if missing:
                detail.append(f"missing {', '.join(missing[:5])}")
            if unexpected:
                detail.append(f"unexpected {', '.join(unexpected[:5])}")
            raise UserFacingError(f"{source}: trainable weights do not fit this model config ({'; '.join(detail)})")
        for key, value in state.items():
            if tuple(value.shape) != tuple(expected[key].shape):
                raise UserFacingError(
                    f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)} "
                    "(different backbone or n_ctx?)"
                )
        for name, module in self.trainable_modules().items():
            prefix = name + "."
            module.load_state_dict(
                {k[len(prefix) :]: v.float() for k, v in state.items() if k.startswith(prefix)}, strict=True
            )

    # -- forward ----------------------------------------------------------------------------------

    def _project(self, tokens: Tensor, index: int) -> Tensor:
        visual = self.clip.visual
        if self.layer_projections is None:
            return visual.project(tokens)
        return self.layer_projections[index](visual.ln_post(tokens))

    def _upsample(self, maps: Tensor) -> Tensor:
        size = (self.image_size, self.image_size)
        if self.cfg.upsample == "bicubic":
            return F.interpolate(maps, size=size, mode="bicubic", align_corners=False)
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)

    def _image_score(self, cls_score: Tensor, anomaly_map: Tensor) -> Tensor:
        if self.cfg.image_score == "cls":
            return cls_score
        map_max = anomaly_map.flatten(1).amax(dim=1)
        if self.cfg.image_score == "map_max":
            return map_max
        return 0.5 * (cls_score + map_max)

    def forward(self, images: Tensor) -> ClueOutput:
        batch = images.shape[0]
        depth = self.clip.config.vision_layers
        visual = self.clip.visual
        wanted = sorted(set(self.layers) | {depth})
        tokens_by_layer = dict(zip(wanted, visual.forward_tokens(images, wanted)))

        # π(x) from the normalized projected CLS of the last block.
        image_feature = F.normalize(visual.project(tokens_by_layer[depth][:, 0]), dim=-1)
        bias = self.adaptor(image_feature)
        if self.prefix_cached_text is not None:
            text = self.prefix_cached_text(bias)  # [B, 2, E] (normal, diseased)
        else:
            embeddings, eot_positions = self.prompt_learner(bias)
            text = self.text_encoder(embeddings, eot_positions).reshape(batch, 2, -1)  # (normal, diseased)

        scale = self.logit_scale_value
        diffs = []
        for index, layer in enumerate(self.layers):
            features = F.normalize(self._project(tokens_by_layer[layer], index), dim=-1)  # [B, 1+N, E]
            cosines = torch.matmul(features, text.transpose(1, 2))  # [B, 1+N, 2]
            diffs.append(cosines[..., 1] - cosines[..., 0])
        diff = torch.stack(diffs, dim=1)  # [B, L, 1+N]
        grid = self.grid_size
        grid_diffs = diff[:, :, 1:].reshape(batch, len(self.layers), grid, grid)
        grid_probs = torch.sigmoid(scale * grid_diffs)
        layer_scores = torch.sigmoid(scale * diff[:, :, 0])

        if self.cfg.layer_weighting == "softmax":
            weights = torch.softmax(grid_diffs.mean(dim=(2, 3)) / self.tau_value, dim=1)
        elif self.cfg.layer_weighting == "mean":
            weights = torch.full_like(layer_scores, 1.0 / len(self.layers))
        else:  # "sum" (AnomalyCLIP-style): the [0, 1] clamp after upsampling bounds it
            weights = torch.ones_like(layer_scores)
        grid_map = (weights[:, :, None, None] * grid_probs).sum(dim=1)

        anomaly_map = self._upsample(grid_map.unsqueeze(1)).squeeze(1).clamp(0.0, 1.0)
        layer_maps = self._upsample(grid_probs).clamp(0.0, 1.0)
        cls_score = layer_scores.mean(dim=1)
        return ClueOutput(
            anomaly_map=anomaly_map,
            layer_maps=layer_maps,
            score=self._image_score(cls_score, anomaly_map),
            cls_score=cls_score,
            layer_scores=layer_scores,
            grid_map=grid_map,
            grid_layer_maps=grid_probs,
            grid_layer_diffs=grid_diffs,
            layer_weights=weights,
            text_features=text,
        )


# -- saving / loading the trainable part --------------------------------------------------------


def save_trainable(path: str | Path, model: CLUE, metadata: dict[str, Any] | None = None) -> Path:
    """Write V, W, adaptor (+ projections) and the model config; .safetensors or .pt.

    Written to a temporary file and renamed, so a crash never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"format": TRAINABLE_FORMAT, "model_config": model.cfg.to_dict(), "layers": model.layers}
    info.update(metadata or {})
    state = {key: value.contiguous() for key, value in model.trainable_state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        return atomic_write(
            path, lambda temporary: save_file(state, str(temporary), metadata={"clue": json.dumps(info)})
        )
    return save_torch_atomic({"clue": info, "state_dict": state}, path)


def load_trainable(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(trainable state dict, info with "model_config") from a file written by save_trainable."""
    path = Path(path)
    if not path.is_file():
        raise UserFacingError(f"{path}: prompt weights file does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                state = {key: handle.get_tensor(key) for key in handle.keys()}
            info = json.loads(meta["clue"]) if "clue" in meta else {}
        else:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
            if not isinstance(loaded, dict) or "state_dict" not in loaded:
                raise UserFacingError(f"{path}: not a CLUE prompt file (no state_dict entry)")
            state, info = dict(loaded["state_dict"]), dict(loaded.get("clue", {}))
    except UserFacingError:
        raise
    except Exception as error:
        raise UserFacingError(
            f"{path}: cannot read prompt weights; truncated or corrupt ({type(error).__name__})"
        ) from error
    if info.get("format") not in (None, TRAINABLE_FORMAT):
        raise UserFacingError(f"{path}: unknown prompt file format {info.get('format')!r}")
    return state, info


def clue_from_files(clip: CLIP, prompts_path: str | Path, cfg: ClueConfig | None = None) -> CLUE:
    """A CLUE with trained prompts. The config stored in the prompt file is used unless `cfg`
    is given."""
    state, info = load_trainable(prompts_path)
    if cfg is None:
        cfg = ClueConfig.from_dict(dict(info.get("model_config", {})), source=str(prompts_path))
    model = CLUE(clip, cfg)
    model.load_trainable_state_dict(state, source=str(prompts_path))
    return model
