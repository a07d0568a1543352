"""Running a CLUE model: device choice, loading (a `clue train` prompt file on its backbone, or
an exported ONNX folder) and batched prediction with the training-free baselines beside it.

`clue eval` (clue.evaluate) measures what these functions produce and `clue train` uses them for
its validation pass; both import them from here, so neither reaches into the other's internals.
Under torchrun, `predict_sharded` gives every rank whole batches and gathers them in order, so
the maps are bit-identical to a single process's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clue import distributed
from clue.data.common import SliceDataset
from clue.distributed import Runtime
from clue.errors import UserFacingError
from clue.preprocess import PreprocessSpec, map_to_slice_grid, normalise_intensity, preprocess_mask, preprocess_slice

PIXEL_GRIDS = ("slice", "model")  # where pixel metrics compare: the slice's grid or the model's input


def resolve_backbone_spec(base: Path, spec: str) -> str:
    """A `preset:` spec as is; a checkpoint path relative to `base`."""
    if spec.startswith("preset:"):
        return spec
    path = Path(spec).expanduser()
    return str(path if path.is_absolute() else base / path)


def resolve_device(name: str) -> torch.device:
    """ "auto" picks CUDA when present, else the CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UserFacingError(f"device {name!r}: not a torch device (use auto, cpu, cuda, cuda:1, …)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserFacingError(f"device {name!r}: CUDA is not available on this machine (use auto or cpu)")
    return device


# -- running the model -------------------------------------------------------------------------


@dataclass
class Predictions:
    """Raw outputs for a set of slices, ready for metrics."""

    scores: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    pixel_scores: list[np.ndarray] = field(default_factory=list)  # flattened maps
    pixel_labels: list[np.ndarray] = field(default_factory=list)  # flattened masks (bool)
    pixel_shapes: list[tuple[int, int]] = field(default_factory=list)  # each map's (height, width)
    # per masked slice: the brain (or head) pixels, flattened bool (all True where unknown)
    pixel_regions: list[np.ndarray] = field(default_factory=list)
    # per masked slice: its image label (for the false-positive area on lesion-free slices)
    pixel_slice_labels: list[int] = field(default_factory=list)
    # training-free baselines on the same pixels (slice grid only): name → flattened maps
    baseline_maps: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def has_pixels(self) -> bool:
        return bool(self.pixel_scores)


def predict(
    model: torch.nn.Module,
    dataset: SliceDataset,
    indices: Sequence[int],
    spec: PreprocessSpec,
    batch_size: int = 8,
    pixel_grid: str = "slice",
) -> Predictions:
    """Run `model` (a CLUE) on the given slices; keep image scores and, where the slices have
    masks, the raw maps on the chosen grid."""
    if pixel_grid not in PIXEL_GRIDS:
        raise UserFacingError(f"pixel_grid must be one of {', '.join(PIXEL_GRIDS)}; got {pixel_grid!r}")
    predictions = Predictions()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(indices), batch_size):
            samples = [dataset[i] for i in indices[start : start + batch_size]]
            images = torch.from_numpy(np.stack([preprocess_slice(s.image, spec) for s in samples])).to(device)
            with torch.no_grad():
                out = model(images)
            maps = out.anomaly_map.detach().cpu().numpy()
            scores = out.score.detach().cpu().numpy()
            for sample, model_map, score in zip(samples, maps, scores):
                predictions.scores.append(float(score))
                predictions.labels.append(int(sample.label))
                if sample.mask is None:
                    continue
                predictions.pixel_slice_labels.append(int(sample.label))
                if pixel_grid == "slice":
                    height, width = sample.mask.shape
                    region = sample.region if sample.region is not None else np.ones((height, width), bool)
                    predictions.pixel_scores.append(map_to_slice_grid(model_map, height, width).ravel())
                    predictions.pixel_labels.append(sample.mask.ravel() > 0)
                    predictions.pixel_shapes.append((height, width))
                    predictions.pixel_regions.append(region.ravel().astype(bool))
                    for name, baseline in baseline_maps(sample.image, region, spec).items():
                        predictions.baseline_maps.setdefault(name, []).append(baseline.ravel())
                else:
                    region = sample.region if sample.region is not None else np.ones(sample.mask.shape, bool)
                    predictions.pixel_scores.append(model_map.astype(np.float32).ravel())
                    predictions.pixel_labels.append(preprocess_mask(sample.mask, spec).ravel() > 0.5)
                    predictions.pixel_shapes.append((spec.size, spec.size))
                    predictions.pixel_regions.append(preprocess_mask(region.astype(np.uint8), spec).ravel() > 0.5)
    finally:
        model.train(was_training)
    return predictions


def merge_predictions(parts: Iterable[Predictions]) -> Predictions:
    """Predictions of consecutive runs of slices, concatenated in the order given."""
    merged = Predictions()
    for part in parts:
        for name in (
            "scores",
            "labels",
            "pixel_scores",
            "pixel_labels",
            "pixel_shapes",
            "pixel_regions",
            "pixel_slice_labels",
        ):
            getattr(merged, name).extend(getattr(part, name))
        for name, maps in part.baseline_maps.items():
            merged.baseline_maps.setdefault(name, []).extend(maps)
    return merged


def predict_sharded(
    model: torch.nn.Module,
    dataset: SliceDataset,
    indices: Sequence[int],
    spec: PreprocessSpec,
    batch_size: int,
    pixel_grid: str,
    runtime: Runtime,
) -> Predictions | None:
    """`predict` across the ranks of a torchrun job: the slices are cut into the batches one
    process would run, batch k goes to rank k mod world size, and rank 0 gathers them back
    in order. The same batches give the same maps bit for bit, so the metrics computed from
    the result on rank 0 are exactly the single-process ones. Returns None on other ranks."""
    if not runtime.distributed:
        return predict(model, dataset, indices, spec, batch_size, pixel_grid)
    batches = [list(indices[start : start + batch_size]) for start in range(0, len(indices), batch_size)]
    mine = {
        number: predict(model, dataset, batch, spec, batch_size, pixel_grid)
        for number, batch in enumerate(batches)
        if number % runtime.world_size == runtime.rank
    }
    gathered = distributed.gather_to_main(mine, runtime)
    if gathered is None:
        return None
    by_number = {number: part for rank_parts in gathered for number, part in rank_parts.items()}
    return merge_predictions(by_number[number] for number in range(len(batches)))


BASELINES: tuple[str, ...] = ("brightness", "deviation")


def baseline_maps(image: np.ndarray, region: np.ndarray, spec: PreprocessSpec) -> dict[str, np.ndarray]:
    """The two training-free maps every Table shows beside the model (slice grid):
    `brightness` — the slice's own intensity after the model's intensity normalisation;
    `deviation` — |that intensity − its median over the brain (or head) pixels|."""
    brightness = normalise_intensity(image, spec).astype(np.float32)
    inside = brightness[region] if region.any() else brightness.ravel()
    deviation = np.abs(brightness - np.float32(np.median(inside))).astype(np.float32)
    return {"brightness": brightness, "deviation": deviation}


@dataclass
class LoadedPrompts:
    model: torch.nn.Module
    spec: PreprocessSpec
    info: dict[str, Any]
    backbone_description: str
    backbone_sha256: str | None


def load_trained_model(prompts: Path, backbone: str | None = None) -> LoadedPrompts:
    """A CLUE from a prompt file written by `clue train`, on the backbone it records (or
    `backbone`). A backbone file whose sha256 differs from the recorded one is an error: the
    prompts were trained on other weights."""
    from clue.checkpoints import load_backbone
    from clue.model import CLUE, ClueConfig, load_trainable

    state, info = load_trainable(prompts)
    spec_text = backbone or info.get("backbone")
    if not spec_text:
        raise UserFacingError(
            f"{prompts}: the prompt file records no backbone; give one with --backbone or `backbone` in the config"
        )
    if not spec_text.startswith("preset:") and not Path(spec_text).is_file():
        raise UserFacingError(
            f"{spec_text}: backbone checkpoint not found (recorded in {prompts.name}); give its path with --backbone or `backbone` in the eval config"
        )
    clip, description, sha = load_backbone(
        spec_text, activation=info.get("backbone_activation"), seed=int(info.get("backbone_seed", 0))
    )
    recorded_sha = info.get("backbone_sha256")
    if recorded_sha and sha and recorded_sha != sha:
        raise UserFacingError(
            f"{spec_text}: sha256 {sha[:12]}… differs from the backbone the prompts in {prompts.name} were trained on ({recorded_sha[:12]}…)"
        )
    cfg = ClueConfig.from_dict(dict(info.get("model_config", {})), source=str(prompts))
    model = CLUE(clip, cfg)
    model.load_trainable_state_dict(state, source=str(prompts))
    model.cache_prompt_prefix()  # final prompts: the text tower runs only the image-dependent rows
    if "preprocessing" in info:
        spec = PreprocessSpec.from_manifest(info["preprocessing"], source=str(prompts))
    else:
        spec = PreprocessSpec(size=clip.config.image_size)
    if spec.size != clip.config.image_size:
        raise UserFacingError(
            f"{prompts}: preprocessing size {spec.size} differs from the backbone's input size {clip.config.image_size}"
        )
    return LoadedPrompts(model, spec, info, description, sha)


class ExportedModel(torch.nn.Module):
    """An exported model folder (model.onnx + manifest.json) run by onnxruntime, shaped like
    a CLUE for `predict`: what the viewer runs, measured with the same protocol."""

    def __init__(self, onnx_path: Path) -> None:
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.anchor = torch.nn.Parameter(torch.zeros(0), requires_grad=False)  # `predict` reads the device

    def forward(self, images: torch.Tensor) -> Any:
        from types import SimpleNamespace

        maps, scores = [], []
        for image in images.detach().cpu().numpy():
            out = dict(
                zip(
                    [o.name for o in self.session.get_outputs()],
                    self.session.run(None, {self.input_name: image[None].astype(np.float32)}),
                )
            )
            maps.append(out["anomaly_map"][0])
            scores.append(float(np.asarray(out["score"]).reshape(-1)[0]))
        return SimpleNamespace(anomaly_map=torch.from_numpy(np.stack(maps)), score=torch.tensor(scores))


def load_exported_model(folder: Path) -> LoadedPrompts:
    """An export folder (`clue export` / `clue demo-model`): its fp32 ONNX file, preprocessing
    and threshold from the manifest (sha256 checked)."""
    from clue.manifest import read_manifest

    manifest_path = Path(folder) / "manifest.json"
    manifest = read_manifest(manifest_path, verify_files=True)
    fp32 = [entry for entry in manifest.files if entry.dtype == "float32"]
    if not fp32:
        raise UserFacingError(f"{manifest_path}: no float32 model file to evaluate")
    spec = manifest.preprocessing  # parsed by read_manifest into the one PreprocessSpec
    info = {
        "id": manifest.id,
        "threshold": {"default": manifest.threshold.default, "chosen_on": manifest.threshold.chosen_on},
        "training_data": manifest.provenance.training_data,
    }
    model = ExportedModel(Path(folder) / fp32[0].path)
    return LoadedPrompts(
        model, spec, info, f"exported model {manifest.id} ({fp32[0].path}, onnxruntime)", fp32[0].sha256
    )


__all__ = [
    "BASELINES",
    "PIXEL_GRIDS",
    "ExportedModel",
    "LoadedPrompts",
    "Predictions",
    "baseline_maps",
    "load_exported_model",
    "load_trained_model",
    "merge_predictions",
    "predict",
    "predict_sharded",
    "resolve_backbone_spec",
    "resolve_device",
]
