"""`clue demo-model`: rebuild the viewer's embedded demo model from scratch, in one command.

    clue demo-model --out models/artifacts/demo

Five steps, each the project's own command as a user would run it, seeds fixed:

1. **pretrain** (`clue.pretrain`, config ``configs/generalising_pretrain.toml``): a small CLIP
   on captioned slices of synthetic *training* brains and anomaly families →
   ``<out>/checkpoints/backbone.safetensors`` (a plain CLIP state dict);
2. **train** (`clue.train`, config ``configs/generalising_train.toml``): CLUE's prompts and adaptor
   on the frozen backbone, T1 axial only; the validation seeds choose the threshold;
3. **eval** (`clue.evaluate`, config ``configs/demo_eval.toml``): Table 1 on held-out test
   lesion seeds → ``<out>/eval.json`` and ``<out>/table.md``;
4. **export** (`clue.export`): ``model.onnx`` + ``model.fp16.onnx`` + ``manifest.json``
   into ``<out>``, with provenance that says plainly what this model is: a demo, trained on
   synthetic anomalies in one brain (Colin27, with and without skull), not for clinical use;
5. **variants** (`clue.variants`): ``model.int8.onnx`` and each variant's quality against
   float32 on the validation selection set (``configs/validation_eval.toml``), in the manifest.

Intermediate files (backbone, training run, export staging) stay in ``<out>/checkpoints/``,
which git ignores; what ships is the model files and manifest of steps 4–5 plus eval.json and
table.md.
Existing outputs are replaced only once the new ones are complete.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue.atomic import write_text_atomic
from clue.errors import UserFacingError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
# The generalising recipe (training brains with and without skull, five anomaly families,
# randomised contrasts); the earlier tumour-only demo_*.toml recipe is kept for its Table.
DEFAULT_PRETRAIN_CONFIG = CONFIG_DIR / "generalising_pretrain.toml"
DEFAULT_TRAIN_CONFIG = CONFIG_DIR / "generalising_train.toml"
DEFAULT_EVAL_CONFIG = CONFIG_DIR / "demo_eval.toml"
# The variants' quality is measured on the selection set, never on the held-out protocol.
DEFAULT_QUALITY_CONFIG = CONFIG_DIR / "validation_eval.toml"
WORK_DIR = "checkpoints"
BACKBONE_FILE = "backbone.safetensors"
# Every file a build may ship; one that this build does not write (fp16 off) is removed with
# the manifest that named it.
SHIPPED_FILES = ("model.onnx", "model.fp16.onnx", "model.int8.onnx", "manifest.json")

INTENDED_USE = (
    "DEMO MODEL: shows how CLUE anomaly maps work in the viewer. Trained on synthetic anomalies "
    "(five families: tumour, blob, noise texture, cut-paste, multifocal) inserted into one brain "
    "(the Colin27 T1 template, with and without scalp and skull) with a small CLIP pre-trained "
    "here on the same kind of synthetic data; it has never seen a real patient's lesion. Not for "
    "clinical use."
)
# Where the demo model's Table holds up (docs/demo-model.md): written into the manifest, shown
# in the viewer's panel, which cautions on slices outside it. Spacing: Colin27 is 1 mm and the
# training augmentation scales by 0.85–1.15.
DEMO_DOMAIN = {
    "modality": ["MR"],
    "body_part": ["BRAIN", "HEAD"],
    "sequences": ["T1"],
    "planes": ["axial"],
    "pixel_spacing_mm": [0.8, 1.2],
    "note": "Demo model: prompts trained on synthetic anomalies in T1 axial slices of one brain; "
    "see the Table in docs/demo-model.md for where it holds and where it fails.",
}
# Below this image AUROC on its own validation slices the panel's slice score says next to
# nothing, and the domain note tells the reader so (the map may still rank pixels well).
UNINFORMATIVE_IMAGE_AUROC = 0.6


def demo_domain(validation: dict[str, Any] | None) -> dict[str, Any]:
    """DEMO_DOMAIN, its note extended by the build's own validation figures (clue train's)."""
    if not validation or validation.get("pixel_auroc") is None:
        return dict(DEMO_DOMAIN)
    figures = f"On the validation slices its threshold was chosen on: pixel AUROC {validation['pixel_auroc']:.2f}"
    if validation.get("pixel_auroc_brain") is not None:
        figures += f" ({validation['pixel_auroc_brain']:.2f} inside the brain)"
    image_auroc = validation.get("image_auroc")
    if image_auroc is not None:
        figures += f", image AUROC {image_auroc:.2f}"
        if image_auroc < UNINFORMATIVE_IMAGE_AUROC:
            figures += ": the slice score is barely better than chance, read the map, not the score"
    return {**DEMO_DOMAIN, "note": f"{DEMO_DOMAIN['note']} {figures}."}


@dataclass
class DemoBuildResult:
    out_dir: Path
    manifest: dict[str, Any]
    table: str
    seconds: dict[str, float]


def _table_markdown(eval_result: dict[str, Any], seconds: dict[str, float], threshold: dict[str, Any]) -> str:
    """Table 1 of the demo model as Markdown (pixel AUROC / image AUROC per cell)."""
    lines = [
        "# Demo model — Table 1 and the held-out protocol (configs/demo_eval.toml)",
        "",
        "DEMO MODEL: synthetic anomalies in one brain (Colin27), small CLIP pre-trained here; not for "
        "clinical use. Written by `clue demo-model` from `eval.json` (`clue eval`).",
        "",
    ]
    for name, table in eval_result["table1"].items():
        lines.append(f"**{name}** — pixel AUROC / image AUROC")
        lines.append("")
        lines.append("| sequence | " + " | ".join(table["columns"]) + " |")
        lines.append("|---|" + "---|" * len(table["columns"]))
        for r, row in enumerate(table["rows"]):
            cells = []
            for c in range(len(table["columns"])):
                pixel, image = table["pixel_auroc"][r][c], table["image_auroc"][r][c]
                cells.append(f"{pixel:.3f} / {image:.3f}" if pixel is not None and image is not None else "—")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
    from clue.evaluate import detail_table

    for name in eval_result["table1"]:
        rows = [r for r in eval_result["sets"] if r["table"] == 1 and r["name"] == name]
        lines.append("```")
        lines.extend(detail_table(name, rows))
        lines.append("```")
        lines.append("")
    lines.append(f"Default threshold {float(threshold.get('default', 0.5)):.4f}: {threshold.get('chosen_on', '')}.")
    lines.append("")
    lines.append("Build time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    lines.append("")
    return "\n".join(lines)


def build_demo_model(
    out_dir: Path,
    pretrain_config: Path = DEFAULT_PRETRAIN_CONFIG,
    train_config: Path = DEFAULT_TRAIN_CONFIG,
    eval_config: Path = DEFAULT_EVAL_CONFIG,
    colin27: Path | None = None,
    reuse_backbone: bool = False,
    fp16: bool = True,
    quality_config: Path = DEFAULT_QUALITY_CONFIG,
    progress: Callable[[str], None] = print,
) -> DemoBuildResult:
    """Run the five steps into `out_dir` (see the module docstring); returns the manifest,
    the printed Table 1 and the seconds per step."""
    configs = (pretrain_config, train_config, eval_config, quality_config)
    if colin27 is None:
        return _build(out_dir, configs, None, reuse_backbone, fp16, progress)
    # The dataset options of the train/eval configs do not name Colin27; the synth package
    # reads this variable wherever no path is given. Restored afterwards.
    previous = os.environ.get("CLUE_COLIN27")
    os.environ["CLUE_COLIN27"] = str(colin27)
    try:
        return _build(out_dir, configs, colin27, reuse_backbone, fp16, progress)
    finally:
        if previous is None:
            os.environ.pop("CLUE_COLIN27", None)
        else:
            os.environ["CLUE_COLIN27"] = previous


def _build(
    out_dir: Path,
    configs: tuple[Path, Path, Path, Path],
    colin27: Path | None,
    reuse_backbone: bool,
    fp16: bool,
    progress: Callable[[str], None],
) -> DemoBuildResult:
    import torch

    from clue.checkpoints import architecture_name, load_backbone
    from clue.evaluate import format_tables, run_eval
    from clue.export import export_model
    from clue.inference import load_trained_model
    from clue.manifest import Domain, PreprocessSpec, Threshold, read_manifest, write_manifest
    from clue.pretrain import load_pretrain_config, pretrain, read_pretrain_metadata, recorded_config
    from clue.train import load_train_config, run_training
    from clue.variants import add_variants

    pretrain_config, train_config, eval_config, quality_config = configs
    out_dir = Path(out_dir)
    work = out_dir / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started_all = time.perf_counter()

    # 1. Backbone.
    backbone = work / BACKBONE_FILE
    started = time.perf_counter()
    pretrain_cfg = load_pretrain_config(pretrain_config)
    if reuse_backbone and backbone.is_file():
        progress(f"[1/5] pretrain: reusing {backbone}")
        seconds["pretrain_reused"] = 0.0
    else:
        progress(f"[1/5] pretrain → {backbone}")
        pretrain(pretrain_cfg, backbone, colin27=colin27, progress=progress)
        seconds["pretrain"] = time.perf_counter() - started

    # 2. CLUE prompts + adaptor (a fresh run: an old one in the work folder is discarded).
    started = time.perf_counter()
    train_dir = work / "train"
    if train_dir.exists():
        shutil.rmtree(train_dir)
    config = dataclasses.replace(load_train_config(Path(train_config)), backbone=str(backbone.resolve()))
    progress(f"[2/5] train → {train_dir}")
    trained = run_training(config, train_dir, progress=progress)
    seconds["train"] = time.perf_counter() - started

    # 3. Table 1 on the test seeds.
    started = time.perf_counter()
    progress(f"[3/5] eval ({eval_config})")
    eval_tmp = work / "eval.json"
    eval_result = run_eval(
        Path(eval_config), trained.prompts, eval_tmp, backbone=str(backbone.resolve()), progress=progress
    )
    table_text = format_tables(eval_result["sets"])
    progress(table_text)
    seconds["eval"] = time.perf_counter() - started

    # 4. Export with honest provenance.
    started = time.perf_counter()
    progress("[4/5] export")
    loaded = load_trained_model(trained.prompts, str(backbone.resolve()))
    clip, _, backbone_sha = load_backbone(str(backbone.resolve()))
    del clip
    info = loaded.info
    threshold_info = info.get("threshold") or {}
    threshold = Threshold(
        default=float(threshold_info.get("default", 0.5)), chosen_on=str(threshold_info.get("chosen_on", ""))
    )
    arch = architecture_name(loaded.model.clip.config)
    recorded = read_pretrain_metadata(backbone)
    threads = recorded.get("threads")  # absent in backbones made before session 12
    # The provenance describes the backbone this build used: a reused one says how it was made
    # in its own header, whatever the --pretrain-config of this run says.
    made_with = recorded_config(recorded) or pretrain_cfg
    how = (
        f"{made_with.steps} steps, contrastive loss"
        + (", bfloat16 towers" if made_with.precision == "bf16" else "")
        + (f", {threads} CPU thread(s) per process" if threads else "")
    )
    backbone_text = (
        f"demo CLIP, {arch}, text width {loaded.model.clip.config.text_width} × {loaded.model.clip.config.text_layers} blocks; "
        f"pre-trained from random initialisation in this repository by `clue pretrain` "
        f"({how}) on captioned synthetic slices of training seeds; "
        "not OpenAI weights"
    )
    training_data = (
        "DEMO — synthetic anomalies in one brain (Colin27 T1 template, mricron-data): "
        f"CLUE prompts trained on {info.get('training_data')}; backbone pre-trained on "
        f"{_pretrain_data_text(made_with)}. Not for clinical use."
    )
    staging = work / "export"
    torch.manual_seed(0)
    export = export_model(
        loaded.model,
        staging,
        model_id=str(info.get("id") or "clue-demo-t1-axial"),
        backbone_description=backbone_text,
        backbone_sha256=backbone_sha,
        training_data=training_data,
        threshold=threshold,
        preprocessing=PreprocessSpec.from_manifest(info["preprocessing"], source="checkpoint")
        if isinstance(info.get("preprocessing"), dict)
        else None,
        domain=Domain(**demo_domain(threshold_info.get("validation"))),
        fp16=fp16,
        overwrite=True,
        log=progress,
    )
    manifest = export.manifest
    manifest.provenance.intended_use = INTENDED_USE
    manifest.provenance.clinical_use = False
    write_manifest(manifest, staging / "manifest.json")
    read_manifest(staging / "manifest.json", verify_files=True)  # sha256 and sizes re-checked
    seconds["export"] = time.perf_counter() - started

    # 5. The int8 variant and every variant's quality against float32 (selection set only).
    started = time.perf_counter()
    progress(f"[5/5] variants (quality on {quality_config})")
    manifest = add_variants(staging, int8=True, quality_config=Path(quality_config), log=progress)
    seconds["variants"] = time.perf_counter() - started
    seconds["total"] = time.perf_counter() - started_all

    # Ship: model files first, the manifest last (a reader never sees a manifest whose files
    # are not there yet); each file is renamed into place.
    shipped = [entry.path for entry in manifest.files] + ["manifest.json"]
    for name in SHIPPED_FILES:
        if name not in shipped and (out_dir / name).exists():
            (out_dir / name).unlink()  # e.g. an fp16 file from an earlier build with fp16
    for name in shipped:
        os.replace(staging / name, out_dir / name)
    eval_result["build_seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    write_text_atomic(out_dir / "eval.json", json.dumps(eval_result, indent=2, allow_nan=False) + "\n")
    markdown = _table_markdown(eval_result, seconds, threshold_info)
    write_text_atomic(out_dir / "table.md", markdown)
    shutil.rmtree(staging, ignore_errors=True)
    for entry in manifest.files:
        progress(f"{out_dir / entry.path}: {entry.bytes / 1e6:.2f} MB ({entry.dtype}) sha256 {entry.sha256[:12]}…")
    progress(
        f"demo model built in {seconds['total']:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    )
    return DemoBuildResult(out_dir=out_dir, manifest=manifest.to_json_dict(), table=table_text, seconds=seconds)


def _pretrain_data_text(cfg: Any) -> str:
    if cfg.data == "anomalies":
        return (
            f"{cfg.slices_per_cell} slices per rendering and view of the training brains "
            f"({', '.join(cfg.brains)}; spatially augmented), rendered as {' and '.join(cfg.renderings)} × "
            f"{'/'.join(cfg.views)}, {round(100 * cfg.anomaly_fraction)} % with an anomaly of the training families "
            f"({', '.join(cfg.families)}); captions naming the view and the anomaly's quarter of the image"
        )
    return (
        f"{cfg.cases} training lesion cases (+{cfg.lesion_free_cases} lesion-free), "
        f"{'/'.join(s.upper() for s in cfg.sequences)} × {'/'.join(cfg.views)}, captions naming view, sequence "
        "and the tumour's quarter of the image"
    )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo-model",
        help="rebuild the embedded demo model from scratch: pretrain → train → eval → export",
        description="Rebuild the viewer's demo model (deterministic, CPU): pre-train a small CLIP on "
        "captioned synthetic slices, train CLUE's prompts on T1 axial, evaluate Table 1 on held-out "
        "synthetic lesions, export ONNX (+fp16) and the manifest into --out. A demo trained on "
        "synthetic lesions in one brain; not for clinical use.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (e.g. models/artifacts/demo)")
    parser.add_argument(
        "--pretrain-config", type=Path, default=DEFAULT_PRETRAIN_CONFIG, help="backbone pre-training config"
    )
    parser.add_argument(
        "--train-config",
        type=Path,
        default=DEFAULT_TRAIN_CONFIG,
        help="CLUE training config (its backbone is replaced)",
    )
    parser.add_argument("--eval-config", type=Path, default=DEFAULT_EVAL_CONFIG, help="Table 1 test sets")
    parser.add_argument(
        "--quality-config",
        type=Path,
        default=DEFAULT_QUALITY_CONFIG,
        help="validation set on which the fp16/int8 variants' quality against float32 is measured",
    )
    parser.add_argument("--colin27", type=Path, default=None, help="Colin27 T1 NIfTI (default: the mricron-data file)")
    parser.add_argument(
        "--reuse-backbone",
        action="store_true",
        help="keep <out>/checkpoints/backbone.safetensors if present instead of pre-training again",
    )
    parser.add_argument("--no-fp16", action="store_true", help="do not write model.fp16.onnx")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    for path in (args.pretrain_config, args.train_config, args.eval_config, args.quality_config):
        if not Path(path).is_file():
            raise UserFacingError(f"{path}: config file does not exist")
    result = build_demo_model(
        args.out,
        pretrain_config=args.pretrain_config,
        train_config=args.train_config,
        eval_config=args.eval_config,
        colin27=args.colin27,
        reuse_backbone=args.reuse_backbone,
        fp16=not args.no_fp16,
        quality_config=args.quality_config,
        progress=lambda line: print(line, flush=True),
    )
    print(result.table)
    return 0


__all__ = [
    "DEFAULT_EVAL_CONFIG",
    "DEFAULT_QUALITY_CONFIG",
    "DEMO_DOMAIN",
    "demo_domain",
    "DemoBuildResult",
    "INTENDED_USE",
    "build_demo_model",
]
