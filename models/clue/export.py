"""`clue export`: one ONNX graph per dtype + manifest.json, checked against PyTorch.

The graph takes `image` [1, 3, S, S] float32 and returns `anomaly_map` [1, S, S],
`layer_maps` [1, L, S, S] and `score` [1]. The prompts depend on the image, so the text tower
is inside the graph; everything that does not depend on the image is folded into constants
at export time: the SOT / state / class / EOT token embeddings, V, the causal mask, and, since
the text tower is causal, the keys and values of the whole `[SOT] [state] [class] [V]` prefix
in every layer (only `[W+π(x)] [EOT]` runs per image; nothing after EOT is computed).

The fp16 file stores the weights in float16 and casts them back to float32 at load time, so
the input and outputs stay float32 and every op computes in float32 (identical numerics on
WASM and WebGPU, half the download). Everything is written into a temporary folder next to
the output and renamed into place at the end: a failed export leaves no half-written model.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from clue import __version__
from clue.checkpoints import load_backbone
from clue.errors import UserFacingError
from clue.manifest import (
    Domain,
    Manifest,
    Postprocessing,
    PreprocessSpec,
    Provenance,
    TensorSpec,
    Threshold,
    file_entry,
    validate_domain_dict,
    write_manifest,
)
from clue.model import CLUE, ClueConfig, load_model_config, load_trainable
from clue.variants import _quality_text, measure_quality, open_quality_set, quantize_int8

DEFAULT_OPSET = 17
FP32_FILE = "model.onnx"
FP16_FILE = "model.fp16.onnx"
INT8_FILE = "model.int8.onnx"
MANIFEST_FILE = "manifest.json"
# Parity bounds: fp32 must match PyTorch to float rounding; fp16 weights are reported.
FP32_PARITY_BOUND = 1e-4
FP16_PARITY_BOUND = 5e-2
# Below this many elements a weight stays float32 (biases, norms: no size to gain).
FP16_MIN_ELEMENTS = 1024


class ExportWrapper(nn.Module):
    """CLUE with the three graph outputs as a plain tuple (ONNX needs tensors, not a dataclass)."""

    def __init__(self, model: CLUE) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.model(image)
        return out.anomaly_map, out.layer_maps, out.score


@contextlib.contextmanager
def _prompt_prefix_cached(model: CLUE, enabled: bool = True) -> Iterator[None]:
    if not enabled:
        yield
        return
    model.cache_prompt_prefix()
    try:
        yield
    finally:
        model.drop_prompt_prefix_cache()


def export_onnx(model: CLUE, path: Path, opset: int = DEFAULT_OPSET, prefix_cache: bool = True) -> None:
    """Trace CLUE (batch 1) into one ONNX file.

    Uses the TorchScript-based exporter: it emits opset 17 directly (the torch.export-based
    one starts at 18 and its down-conversion fails on this graph) and is fast on big models.
    `prefix_cache=False` keeps the full text tower per image (the baseline the prefix cache
    is measured against, bench/prefix_cache.py).
    """
    import warnings

    # The graph runs only the image-conditioned prompt tokens through the text tower; the
    # fixed prefix's keys/values become constants (`PrefixCachedTextEncoder`). The parity
    # check compares against the uncached PyTorch forward, so it also proves the cache exact.
    size = model.image_size
    example = torch.zeros(1, 3, size, size)
    with torch.no_grad(), warnings.catch_warnings(), _prompt_prefix_cached(model, prefix_cache):
        wrapper = ExportWrapper(model).eval()
        # The legacy exporter announces its own deprecation, and warns about advanced indexing
        # with negative indices (ours are constant, non-negative EOT positions).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["anomaly_map", "layer_maps", "score"],
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def convert_weights_to_fp16(source: Path, destination: Path, min_elements: int = FP16_MIN_ELEMENTS) -> int:
    """Store float32 weights (initializers and large Constant nodes) as float16, each followed
    by a Cast back to float32. Returns how many tensors were converted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    casts: list[onnx.NodeProto] = []
    converted = 0
    fp16_max = float(np.finfo(np.float16).max)

    def to_half(array: np.ndarray) -> np.ndarray:
        # Out-of-range values would become inf; clip them (CLIP's weights are far inside).
        return np.clip(array, -fp16_max, fp16_max).astype(np.float16)

    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(initializer)
        if array.size < min_elements:
            continue
        name = initializer.name
        half_name = name + "__fp16"
        initializer.CopyFrom(numpy_helper.from_array(to_half(array), half_name))
        casts.append(helper.make_node("Cast", [half_name], [name], to=TensorProto.FLOAT, name=name + "__cast"))
        converted += 1
    kept_nodes = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = node.attribute[0].t
            if tensor.data_type == TensorProto.FLOAT:
                array = numpy_helper.to_array(tensor)
                if array.size >= min_elements:
                    output = node.output[0]
                    half_name = output + "__fp16"
                    graph.initializer.append(numpy_helper.from_array(to_half(array), half_name))
                    casts.append(
                        helper.make_node("Cast", [half_name], [output], to=TensorProto.FLOAT, name=output + "__cast")
                    )
                    converted += 1
                    continue
        kept_nodes.append(node)
    del graph.node[:]
    graph.node.extend(casts + kept_nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(destination))
    return converted


def parity_inputs(size: int, count: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Deterministic test images in the range of CLIP-normalized inputs."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, size, size, generator=generator).numpy() for _ in range(count)]


def check_parity(onnx_path: Path, model: CLUE, inputs: list[np.ndarray]) -> dict[str, float]:
    """Max abs difference between onnxruntime (CPU) and PyTorch, per output, over `inputs`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    wrapper = ExportWrapper(model).eval()
    names = ["anomaly_map", "layer_maps", "score"]
    worst = {name: 0.0 for name in names}
    for image in inputs:
        onnx_outputs = session.run(names, {"image": image.astype(np.float32)})
        with torch.no_grad():
            torch_outputs = wrapper(torch.from_numpy(image))
        for name, got, expected in zip(names, onnx_outputs, torch_outputs):
            if got.shape != tuple(expected.shape):
                raise AssertionError(
                    f"{onnx_path}: output {name} has shape {got.shape}, PyTorch {tuple(expected.shape)}"
                )
            worst[name] = max(worst[name], float(np.abs(got - expected.numpy()).max()))
    return worst


def git_commit(repo_dir: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit or None


@dataclass
class ExportResult:
    out_dir: Path
    manifest: Manifest
    parity: dict[str, dict[str, float]]  # dtype → output → max abs diff
    seconds: dict[str, float]  # step → wall seconds


def export_model(
    model: CLUE,
    out_dir: Path,
    *,
    model_id: str,
    backbone_description: str,
    backbone_sha256: str | None,
    training_data: str,
    threshold: Threshold | None = None,
    preprocessing: PreprocessSpec | None = None,
    domain: Domain | None = None,
    fp16: bool = False,
    int8: bool = False,
    quality_set: tuple[Any, str] | None = None,
    opset: int = DEFAULT_OPSET,
    parity: bool = True,
    overwrite: bool = False,
    version: str = __version__,
    log: Any = print,
) -> ExportResult:
    """Export `model` to `out_dir` (model.onnx [+ model.fp16.onnx] [+ model.int8.onnx] + manifest.json).

    `quality_set` = (validation dataset, its description): every variant's maps and scores are
    compared with float32's on it and recorded as the file's "quality" (clue.variants).

    `domain` is where the model was validated (written as the manifest's "domain"; the viewer
    shows it and cautions on slices outside it); None leaves it undeclared.
    """
    out_dir = Path(out_dir)
    if domain is not None:
        # Checked before the export, which can take minutes, rather than when the manifest is written.
        problems = validate_domain_dict(domain.to_json_dict())
        if problems:
            raise UserFacingError(f"domain: {'; '.join(problems)}")
    if preprocessing is not None and preprocessing.size != model.image_size:
        raise UserFacingError(
            f"preprocessing resizes to {preprocessing.size} px but the model takes {model.image_size} px"
        )
    if out_dir.exists() and not overwrite:
        raise UserFacingError(f"{out_dir}: output folder exists; pass --overwrite to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the viewer's web server must read it
    seconds: dict[str, float] = {}
    parity_report: dict[str, dict[str, float]] = {}
    try:
        size = model.image_size
        started = time.perf_counter()
        export_onnx(model, staging / FP32_FILE, opset)
        seconds["export_fp32"] = time.perf_counter() - started
        log(f"exported {FP32_FILE} in {seconds['export_fp32']:.1f} s")
        files = [(staging / FP32_FILE, "float32")]
        if fp16:
            started = time.perf_counter()
            count = convert_weights_to_fp16(staging / FP32_FILE, staging / FP16_FILE)
            seconds["convert_fp16"] = time.perf_counter() - started
            log(f"wrote {FP16_FILE} ({count} weight tensors stored as float16) in {seconds['convert_fp16']:.1f} s")
            files.append((staging / FP16_FILE, "float16"))
        if int8:
            started = time.perf_counter()
            quantize_int8(staging / FP32_FILE, staging / INT8_FILE)
            seconds["quantize_int8"] = time.perf_counter() - started
            log(f"wrote {INT8_FILE} (dynamic int8 quantisation) in {seconds['quantize_int8']:.1f} s")
            files.append((staging / INT8_FILE, "int8"))
        if parity:
            inputs = parity_inputs(size)
            # int8 is not held to a parity bound: its loss is what the quality record measures.
            for path, dtype in [(p, d) for p, d in files if d != "int8"]:
                started = time.perf_counter()
                worst = check_parity(path, model, inputs)
                seconds[f"parity_{dtype}"] = time.perf_counter() - started
                parity_report[dtype] = worst
                bound = FP32_PARITY_BOUND if dtype == "float32" else FP16_PARITY_BOUND
                summary = ", ".join(f"{name} {value:.2e}" for name, value in worst.items())
                log(f"parity {path.name} vs PyTorch (max abs diff over {len(inputs)} inputs): {summary}")
                if max(worst.values()) > bound:
                    raise UserFacingError(
                        f"{path.name}: ONNX output differs from PyTorch by {max(worst.values()):.2e} "
                        f"(> {bound:g}); the export is wrong, not written"
                    )
        quality: dict[str, Any] = {}
        if quality_set is not None and len(files) > 1:
            dataset, description = quality_set
            started = time.perf_counter()
            spec = preprocessing if preprocessing is not None else PreprocessSpec(size=size)
            measured = measure_quality(staging / FP32_FILE, [path for path, _ in files[1:]], dataset, spec, description)
            quality = {dtype: q for (_, dtype), q in zip(files[1:], measured)}
            seconds["quality"] = time.perf_counter() - started
            for dtype, q in quality.items():
                log(f"quality {dtype} vs float32 on {q.slices} slices of {description}: {_quality_text(q)}")
        layers = list(model.layers)
        manifest = Manifest(
            id=model_id,
            version=version,
            files=[replace(file_entry(path, dtype, staging), quality=quality.get(dtype)) for path, dtype in files],
            opset=opset,
            input=TensorSpec("image", [1, 3, size, size], "float32"),
            outputs={
                "anomaly_map": TensorSpec("anomaly_map", [1, size, size]),
                "layer_maps": TensorSpec("layer_maps", [1, len(layers), size, size]),
                "score": TensorSpec("score", [1]),
            },
            layers=layers,
            preprocessing=preprocessing if preprocessing is not None else PreprocessSpec(size=size),
            postprocessing=Postprocessing(),
            threshold=threshold if threshold is not None else Threshold(),
            provenance=Provenance(
                backbone=backbone_description,
                backbone_sha256=backbone_sha256,
                training_data=training_data,
                commit=git_commit(Path(__file__).resolve().parent),
                created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            ),
            domain=domain,
        )
        write_manifest(manifest, staging / MANIFEST_FILE)
        # Swap into place: the old folder (if any) is removed only after the new one is complete.
        retired = None
        if out_dir.exists():
            retired = out_dir.with_name(f".{out_dir.name}.old-{int(time.time())}")
            out_dir.rename(retired)
        staging.rename(out_dir)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(out_dir=out_dir, manifest=manifest, parity=parity_report, seconds=seconds)


# -- command line --------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "export",
        help="export a trained CLUE to ONNX (fp32, optional fp16 and int8) + manifest.json for the viewer",
        description="Export CLUE as one ONNX graph (image → anomaly_map, layer_maps, score) with "
        "the manifest the viewer reads. Runs a parity check against PyTorch in onnxruntime.",
    )
    parser.add_argument(
        "--backbone",
        default=None,
        help="CLIP checkpoint file (OpenAI .pt, open_clip .pt/.bin, .safetensors) "
        "or preset:<ViT-B-16|ViT-L-14|tiny>-random for a random backbone "
        "(default: the backbone recorded in --prompts)",
    )
    parser.add_argument(
        "--prompts",
        type=Path,
        default=None,
        help="trained prompt weights (.pt/.safetensors from `clue train`); omitted: "
        "untrained random prompts (for size/speed measurements only)",
    )
    parser.add_argument(
        "--model-config", type=Path, default=None, help="model config TOML (default: the config stored in --prompts)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created atomically)")
    parser.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx (float16 weights)")
    parser.add_argument(
        "--int8", action="store_true", help="also write model.int8.onnx (dynamic int8 quantisation of the weights)"
    )
    parser.add_argument(
        "--quality-config",
        type=Path,
        default=None,
        help="eval config TOML naming one VALIDATION set (e.g. clue/configs/validation_eval.toml): each "
        "variant's pixel/image AUROC and map difference against float32 on it are recorded in the manifest",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default 17)")
    parser.add_argument("--id", dest="model_id", default=None, help="model id for the manifest")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="default map threshold (default: the one stored in --prompts, else 0.5)",
    )
    parser.add_argument("--training-data", default=None, help="training data description for provenance")
    parser.add_argument(
        "--activation",
        choices=["quick_gelu", "gelu"],
        default=None,
        help="backbone MLP activation (default: QuickGELU, OpenAI's; LAION weights need gelu)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of a random backbone (default: the one recorded in --prompts, else 0)",
    )
    parser.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    info: dict[str, Any] = {}
    state = None
    if args.prompts is not None:
        state, info = load_trainable(args.prompts)
    backbone = args.backbone or info.get("backbone")
    if not backbone:
        raise UserFacingError("--backbone: required (the prompt file records no backbone)")
    seed = args.seed if args.seed is not None else int(info.get("backbone_seed") or 0)
    activation = args.activation or info.get("backbone_activation")
    clip, backbone_description, backbone_sha = load_backbone(backbone, activation=activation, seed=seed)
    trained_on = info.get("backbone_sha256")
    if trained_on and backbone_sha and trained_on != backbone_sha:
        raise UserFacingError(
            f"{backbone}: sha256 {backbone_sha[:12]}… differs from the backbone the prompts in "
            f"{args.prompts} were trained on ({trained_on[:12]}…)"
        )
    if args.model_config is not None:
        cfg = load_model_config(args.model_config)
    elif info.get("model_config"):
        cfg = ClueConfig.from_dict(dict(info["model_config"]), source=str(args.prompts))
    else:
        cfg = ClueConfig()
    torch.manual_seed(seed)
    model = CLUE(clip, cfg)
    if state is not None:
        model.load_trainable_state_dict(state, source=str(args.prompts))
    model.eval()

    stored_threshold = info.get("threshold") if isinstance(info.get("threshold"), dict) else None
    if args.threshold is not None:
        if not 0.0 <= args.threshold <= 1.0:
            raise UserFacingError(f"--threshold {args.threshold}: must be in [0, 1]")
        threshold = Threshold(default=args.threshold, chosen_on="given on the command line")
    elif stored_threshold is not None:
        threshold = Threshold(
            default=float(stored_threshold["default"]), chosen_on=str(stored_threshold.get("chosen_on", ""))
        )
    else:
        threshold = Threshold()
    training_data = (
        args.training_data
        or info.get("training_data")
        or ("untrained prompts (random initialisation)" if args.prompts is None else "not recorded")
    )
    model_id = args.model_id or info.get("id") or f"clue-{args.out.name}"
    preprocessing = None
    if isinstance(info.get("preprocessing"), dict):
        try:
            preprocessing = PreprocessSpec.from_manifest(info["preprocessing"], source=str(args.prompts))
        except (KeyError, TypeError) as error:
            raise UserFacingError(f"{args.prompts}: recorded preprocessing block is malformed ({error})") from error
    result = export_model(
        model,
        args.out,
        model_id=model_id,
        backbone_description=backbone_description,
        backbone_sha256=backbone_sha,
        training_data=str(training_data),
        threshold=threshold,
        preprocessing=preprocessing,
        fp16=args.fp16,
        int8=args.int8,
        quality_set=open_quality_set(args.quality_config) if args.quality_config is not None else None,
        opset=args.opset,
        parity=not args.no_parity,
        overwrite=args.overwrite,
    )
    for entry in result.manifest.files:
        print(f"{result.out_dir / entry.path}: {entry.bytes / 1e6:.1f} MB ({entry.dtype}), sha256 {entry.sha256[:12]}…")
    print(f"{result.out_dir / MANIFEST_FILE}: written; total {time.perf_counter() - started:.1f} s")
    return 0
