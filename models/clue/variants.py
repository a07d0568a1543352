"""Model variants: the int8 file, and each variant's quality against float32 on validation data.

A `clue export` folder lists one ONNX graph per dtype (docs/manifest.md § Model variants):

- `model.onnx` (float32): the reference; its maps are what the evaluation measured.
- `model.fp16.onnx` (float16 weights, float32 compute; `clue export --fp16`).
- `model.int8.onnx` (`--int8`): onnxruntime's dynamic quantisation: the weights of MatMul (and
  the patch-embedding Conv) with a constant right-hand side stored as int8 (per tensor,
  symmetric), activations quantised per run by DynamicQuantizeLinear, MatMulInteger /
  ConvInteger doing the products. Those ops run in onnxruntime's CPU kernels, which is what
  onnxruntime-web's WASM backend and onnxruntime-node are; input and outputs stay float32,
  so the viewer feeds and reads it as it does the others.

Every variant but float32 can carry a `quality` record: the same validation slices run
through the float32 file and the variant (onnxruntime, CPU), and the difference of their
pixel AUROC and image AUROC (variant − float32) and the largest absolute difference of their
raw anomaly maps. The viewer uses a variant in place of float32 without being asked only when
its recorded AUROC loss is within its tolerance (extension/src/engine/variants.ts). The data
must be validation data (training patients or seeds): a set whose `split` is "test" is
refused, so nothing here can be chosen on held-out data.

`clue variants FOLDER --quality-config CONFIG` adds the int8 file and the quality records (of
every variant the folder lists) to an existing export without retraining or re-exporting; the files
already listed stay byte-identical (their sha256 is re-checked before the manifest is
replaced). The shipped demo model's variants were made by

    clue variants artifacts/demo --quality-config clue/configs/validation_eval.toml
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from clue.atomic import atomic_write
from clue.errors import UserFacingError
from clue.manifest import Manifest, ModelFile, VariantQuality, file_entry, read_manifest, write_manifest

FP32_FILE = "model.onnx"
FP16_FILE = "model.fp16.onnx"
INT8_FILE = "model.int8.onnx"
MANIFEST_FILE = "manifest.json"
# Held-out data never decides anything (docs/demo-model.md): such a split is refused.
HELD_OUT_SPLITS = ("test",)


def quantize_int8(source: Path, destination: Path) -> Path:
    """Dynamic int8 quantisation of `source` (a float32 CLUE graph), written atomically."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(temporary: Path) -> None:
        # The quantiser logs a suggestion to run its pre-processing (shape inference) first;
        # the graph's shapes are already static, and the suggestion is noise in our output.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                source,
                temporary,
                weight_type=QuantType.QInt8,
                # Only weight products: the attention products (Q·Kᵀ, A·V) have no constant
                # side, and quantising them per run costs more than it saves and hurts accuracy
                # most.
                extra_options={"MatMulConstBOnly": True},
            )
        finally:
            root.setLevel(level)

    return atomic_write(destination, write)


class _Session:
    """One onnxruntime CPU session: image [1, 3, S, S] → (anomaly_map [S, S], score)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        anomaly_map, score = self.session.run(["anomaly_map", "score"], {"image": image[None].astype(np.float32)})
        return anomaly_map[0], float(np.asarray(score).reshape(-1)[0])


def _auroc_or_none(scores: np.ndarray, labels: np.ndarray) -> float | None:
    from clue.metrics import auroc

    try:
        return float(auroc(scores, labels))
    except ValueError:  # one class only
        return None


def _delta(variant: float | None, reference: float | None) -> float | None:
    return None if variant is None or reference is None else variant - reference


def measure_quality(
    reference: Path,
    variants: Sequence[Path],
    dataset: Any,
    spec: Any,
    eval_set: str,
    indices: Sequence[int] | None = None,
) -> list[VariantQuality]:
    """Run every slice of `dataset` through `reference` (float32) and each of `variants`;
    one VariantQuality per variant. Pixel AUROC is on the slice grid (the map mapped back as
    the viewer does), pooled over the slices that have a mask; image AUROC over all slices."""
    from clue.preprocess import map_to_slice_grid, preprocess_slice

    paths = [Path(reference), *map(Path, variants)]
    sessions = [_Session(path) for path in paths]
    picked = list(range(len(dataset))) if indices is None else list(indices)
    if not picked:
        raise UserFacingError(f"{eval_set}: no slices to measure variant quality on")
    scores: list[list[float]] = [[] for _ in paths]
    pixel_scores: list[list[np.ndarray]] = [[] for _ in paths]
    labels: list[int] = []
    pixel_labels: list[np.ndarray] = []
    worst = [0.0 for _ in paths]
    for index in picked:
        sample = dataset[index]
        image = preprocess_slice(sample.image, spec)
        outputs = [session(image) for session in sessions]
        labels.append(int(sample.label))
        if sample.mask is not None:
            pixel_labels.append(sample.mask.ravel() > 0)
        for k, (anomaly_map, score) in enumerate(outputs):
            scores[k].append(score)
            worst[k] = max(worst[k], float(np.abs(anomaly_map - outputs[0][0]).max()))
            if sample.mask is not None:
                height, width = sample.mask.shape
                pixel_scores[k].append(map_to_slice_grid(anomaly_map, height, width).ravel())
    label_array = np.asarray(labels, dtype=bool)
    image_auroc = [_auroc_or_none(np.asarray(s, dtype=np.float64), label_array) for s in scores]
    if pixel_labels:
        pixel_label_array = np.concatenate(pixel_labels)
        pixel_auroc = [_auroc_or_none(np.concatenate(p), pixel_label_array) for p in pixel_scores]
    else:
        pixel_auroc = [None for _ in paths]
    return [
        VariantQuality(
            versus="float32",
            eval_set=eval_set,
            slices=len(picked),
            pixel_auroc_delta=_delta(pixel_auroc[k], pixel_auroc[0]),
            image_auroc_delta=_delta(image_auroc[k], image_auroc[0]),
            max_abs_map_diff=worst[k],
        )
        for k in range(1, len(paths))
    ]


def open_quality_set(config_path: Path) -> tuple[Any, str]:
    """The one set of an eval config (e.g. clue/configs/validation_eval.toml) as (dataset,
    description). Refuses a config with several sets or a held-out split."""
    from clue.data import open_dataset
    from clue.evaluate import load_eval_config

    config = load_eval_config(Path(config_path))
    if len(config.sets) != 1:
        raise UserFacingError(
            f"{config_path}: --quality-config must name exactly one set (validation data), found {len(config.sets)}"
        )
    entry = config.sets[0]
    split = entry.options.get("split")
    if split in HELD_OUT_SPLITS:
        raise UserFacingError(
            f"{config_path}: set {entry.name!r} is the held-out {split!r} split; variant quality is "
            "recorded on validation data only"
        )
    dataset = open_dataset(entry.kind, entry.root, **entry.options)
    options = ", ".join(f"{key}={value}" for key, value in entry.options.items())
    return dataset, f"{entry.name}: {entry.kind} ({options})"


def with_quality(manifest: Manifest, quality: dict[str, VariantQuality]) -> Manifest:
    """`manifest` with the quality of the listed dtypes replaced."""
    return replace(
        manifest,
        files=[replace(entry, quality=quality.get(entry.dtype, entry.quality)) for entry in manifest.files],
    )


def add_variants(
    folder: Path,
    *,
    int8: bool = True,
    quality_config: Path | None = None,
    log: Callable[[str], None] = print,
) -> Manifest:
    """Add model.int8.onnx (from the float32 file) and the quality records to an export
    folder; the files already listed are not rewritten, and the manifest is replaced last
    (atomically), so a reader sees the old manifest or the complete new one."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    manifest = read_manifest(manifest_path, verify_files=True)
    fp32 = next((entry for entry in manifest.files if entry.dtype == "float32"), None)
    if fp32 is None:
        raise UserFacingError(f"{manifest_path}: lists no float32 file to derive variants from")
    before = {entry.path: entry.sha256 for entry in manifest.files}
    files: list[ModelFile] = list(manifest.files)
    if int8:
        if any(entry.path == INT8_FILE and entry.dtype != "int8" for entry in files):
            raise UserFacingError(f"{manifest_path}: {INT8_FILE} is listed with another dtype")
        started = time.perf_counter()
        quantize_int8(folder / fp32.path, folder / INT8_FILE)
        entry = file_entry(folder / INT8_FILE, "int8", folder)
        files = [f for f in files if f.dtype != "int8"] + [entry]
        log(f"wrote {INT8_FILE} ({entry.bytes / 1e6:.2f} MB) in {time.perf_counter() - started:.1f} s")
    manifest = replace(manifest, files=files)
    if quality_config is not None:
        dataset, description = open_quality_set(quality_config)
        variants = [entry for entry in manifest.files if entry.dtype != "float32"]
        started = time.perf_counter()
        measured = measure_quality(
            folder / fp32.path,
            [folder / entry.path for entry in variants],
            dataset,
            manifest.preprocessing,
            description,
        )
        manifest = with_quality(manifest, {entry.dtype: q for entry, q in zip(variants, measured)})
        for entry, q in zip(variants, measured):
            log(f"{entry.path} vs {fp32.path} on {q.slices} slices: {_quality_text(q)}")
        log(f"quality measured in {time.perf_counter() - started:.1f} s")
    # The files listed before must be the same bytes as before (nothing here rewrites them).
    for entry in manifest.files:
        if entry.path in before and file_entry(folder / entry.path, entry.dtype, folder).sha256 != before[entry.path]:
            raise UserFacingError(f"{folder / entry.path}: changed while adding variants; manifest not written")
    write_manifest(manifest, manifest_path)
    return read_manifest(manifest_path, verify_files=True)


def _quality_text(q: VariantQuality) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.5f}"

    return (
        f"pixel AUROC {fmt(q.pixel_auroc_delta)}, image AUROC {fmt(q.image_auroc_delta)}, "
        f"max |map diff| {q.max_abs_map_diff:.2e}"
    )


# -- command line --------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "variants",
        help="add the int8 variant and variant quality (vs float32, on validation data) to an export folder",
        description="Add model.int8.onnx (dynamic int8 quantisation of model.onnx) and each variant's "
        "quality against float32 on a validation set to an existing `clue export` folder, "
        "without retraining; the files already there stay byte-identical.",
    )
    parser.add_argument("folder", type=Path, help="export folder (manifest.json + model.onnx)")
    parser.add_argument("--no-int8", action="store_true", help="do not (re)write model.int8.onnx")
    parser.add_argument(
        "--quality-config",
        type=Path,
        default=None,
        help="eval config TOML naming one VALIDATION set (e.g. clue/configs/validation_eval.toml); "
        "omitted: no quality is measured (the viewer then never picks a variant by itself)",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    manifest = add_variants(args.folder, int8=not args.no_int8, quality_config=args.quality_config)
    for entry in manifest.files:
        quality = f"; {_quality_text(entry.quality)}" if entry.quality is not None else ""
        print(f"{args.folder / entry.path}: {entry.dtype}, sha256 {entry.sha256[:12]}…{quality}")
    return 0
