"""ONNX export of a tiny CLUE: one graph, opset 17, parity with PyTorch, fp16-weight variant,
manifest, atomic output folder, and the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from clue import export as export_module
from clue.clip import CLIP
from clue.errors import UserFacingError
from clue.export import FP16_FILE, FP32_FILE, MANIFEST_FILE, check_parity, export_model, parity_inputs
from clue.manifest import Domain, read_manifest
from clue.model import CLUE, ClueConfig, save_trainable

# Ops the exported graph may contain: all run on onnxruntime-web's WASM backend, and on its
# WebGPU backend (shape arithmetic — Shape, ConstantOfShape, Equal, Where — runs on CPU there).
ALLOWED_OPS = {
    "Add",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Equal",
    "Expand",
    "Flatten",
    "Gather",
    "Gemm",
    "Identity",
    "LayerNormalization",
    "MatMul",
    "Mul",
    "Pow",
    "ReduceL2",
    "ReduceMax",  # the map maximum of image_score "map_max" / "cls_map_max"
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Squeeze",
    "Sub",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
}


def trained_looking(clip: CLIP, cfg: ClueConfig | None = None) -> CLUE:
    """A CLUE whose prompts and adaptor are far from their initial values (as after training)."""
    torch.manual_seed(3)
    model = CLUE(clip, cfg or ClueConfig(n_ctx=4))
    with torch.no_grad():
        for parameter in model.trainable_parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    return model.eval()


def do_export(model: CLUE, out: Path, **kwargs: object) -> export_module.ExportResult:
    return export_model(
        model,
        out,
        model_id="clue-test",
        backbone_description="tiny (random)",
        backbone_sha256=None,
        training_data="none",
        log=lambda _message: None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def exported(tiny_clip: CLIP, tmp_path_factory: pytest.TempPathFactory) -> tuple[CLUE, Path]:
    model = trained_looking(tiny_clip)
    out = tmp_path_factory.mktemp("export") / "model"
    do_export(model, out, fp16=True)
    return model, out


def test_graph_contract(exported: tuple[CLUE, Path]) -> None:
    _, out = exported
    graph_model = onnx.load(str(out / FP32_FILE))
    onnx.checker.check_model(graph_model)
    assert [o.version for o in graph_model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    graph = graph_model.graph
    assert [i.name for i in graph.input] == ["image"]
    assert [o.name for o in graph.output] == ["anomaly_map", "layer_maps", "score"]
    dims = lambda value: [d.dim_value for d in value.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(graph.input[0]) == [1, 3, 32, 32]
    assert [dims(o) for o in graph.output] == [[1, 32, 32], [1, 4, 32, 32], [1]]
    ops = {node.op_type for node in graph.node}
    assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    # The text tower is inside the graph (prompts depend on the image), the token embedding
    # table is not (the fixed token embeddings were folded into constants).
    assert max(np.prod(t.dims) for t in graph.initializer) < 49408 * 128


def test_fp32_parity(exported: tuple[CLUE, Path]) -> None:
    model, out = exported
    worst = check_parity(out / FP32_FILE, model, parity_inputs(32, count=3, seed=11))
    assert max(worst.values()) <= 1e-4, worst


def test_an_image_score_from_the_map_exports_with_parity(tiny_clip: CLIP, tmp_path: Path) -> None:
    model = trained_looking(tiny_clip, ClueConfig(n_ctx=4, image_score="cls_map_max"))
    do_export(model, tmp_path / "model")
    ops = {node.op_type for node in onnx.load(str(tmp_path / "model" / FP32_FILE)).graph.node}
    assert "ReduceMax" in ops and ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    worst = check_parity(tmp_path / "model" / FP32_FILE, model, parity_inputs(32, count=3, seed=11))
    assert max(worst.values()) <= 1e-4, worst


def test_fp16_variant(exported: tuple[CLUE, Path]) -> None:
    model, out = exported
    fp16 = onnx.load(str(out / FP16_FILE))
    half = [t for t in fp16.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert half, "no weights stored as float16"
    # The viewer feeds and reads float32 in both files.
    session = ort.InferenceSession(str(out / FP16_FILE), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == ["tensor(float)"]
    assert {o.type for o in session.get_outputs()} == {"tensor(float)"}
    assert (out / FP16_FILE).stat().st_size < 0.6 * (out / FP32_FILE).stat().st_size
    worst = check_parity(out / FP16_FILE, model, parity_inputs(32, count=2, seed=12))
    assert max(worst.values()) <= 5e-2, worst


def test_manifest_describes_the_files(exported: tuple[CLUE, Path]) -> None:
    model, out = exported
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert [(f.path, f.dtype) for f in manifest.files] == [(FP32_FILE, "float32"), (FP16_FILE, "float16")]
    assert manifest.layers == model.layers == [1, 2, 3, 4]
    assert manifest.input.shape == [1, 3, 32, 32] and manifest.preprocessing.size == 32
    assert manifest.outputs["layer_maps"].shape == [1, 4, 32, 32]
    assert manifest.opset == 17 and manifest.provenance.clinical_use is False


def test_domain_is_written_into_the_manifest(tiny_clip: CLIP, tmp_path: Path) -> None:
    model = trained_looking(tiny_clip)
    domain = Domain(
        modality=["MR"], body_part=["BRAIN"], sequences=["T1"], planes=["axial"], pixel_spacing_mm=[0.5, 2.0]
    )
    do_export(model, tmp_path / "model", domain=domain, parity=False)
    assert read_manifest(tmp_path / "model" / MANIFEST_FILE, verify_files=True).domain == domain
    # Without one, the manifest declares none (the viewer says so).
    do_export(model, tmp_path / "plain", parity=False)
    assert read_manifest(tmp_path / "plain" / MANIFEST_FILE).domain is None


def test_a_bad_domain_is_refused_before_exporting(tiny_clip: CLIP, tmp_path: Path) -> None:
    model = trained_looking(tiny_clip)
    with pytest.raises(UserFacingError, match=r"domain: domain\.planes must be"):
        do_export(model, tmp_path / "model", domain=Domain(modality=["MR"], planes=["transverse"]))
    assert list(tmp_path.iterdir()) == []


def test_output_folder_is_atomic(tiny_clip: CLIP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = trained_looking(tiny_clip)
    out = tmp_path / "model"
    do_export(model, out)
    with pytest.raises(UserFacingError, match="output folder exists"):
        do_export(model, out)
    before = (out / MANIFEST_FILE).read_text()

    def failing_export(model: CLUE, path: Path, opset: int = 17) -> None:
        path.write_bytes(b"half a model")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export_module, "export_onnx", failing_export)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        do_export(model, out, overwrite=True)
    # The previous export is untouched and no staging folder is left behind.
    assert (out / MANIFEST_FILE).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clue")
    export_module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_command_line(tiny_clip: CLIP, tmp_path: Path) -> None:
    model = trained_looking(tiny_clip, ClueConfig(n_ctx=4, layers=[2, 4], class_name="chest"))
    prompts = save_trainable(
        tmp_path / "prompts.safetensors",
        model,
        {  # what `clue train` records beside the weights
            "training_data": "synthetic squares",
            "threshold": {"default": 0.42, "chosen_on": "validation, max pixel F1"},
            "backbone": "preset:tiny-random",
            "backbone_seed": 0,
            "preprocessing": {
                "intensity": {
                    "method": "percentile_clip",
                    "low_percentile": 1.0,
                    "high_percentile": 99.0,
                    "foreground": "greater_than_min",
                },
                "square": {"method": "center_pad", "value": 0.0},
                "resize": {"method": "bicubic_antialias", "size": 32},
                "channels": 3,
                "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
            },
        },
    )
    out = tmp_path / "exported"
    # No --backbone: the one recorded with the prompts (and its seed) is used.
    assert run_cli(["export", "--prompts", str(prompts), "--out", str(out)]) == 0
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert manifest.layers == [2, 4]  # from the config stored with the prompts
    assert manifest.threshold.default == pytest.approx(0.42)
    assert manifest.provenance.training_data == "synthetic squares"
    assert manifest.preprocessing.low_percentile == 1.0
    assert manifest.preprocessing.mean == (0.5, 0.5, 0.5)
    assert "random" in manifest.provenance.backbone and manifest.provenance.backbone_sha256 is None
    # The exported graph computes what the trained model computes.
    image = parity_inputs(32, count=1, seed=5)[0]
    got = ort.InferenceSession(str(out / FP32_FILE)).run(["anomaly_map"], {"image": image})[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(image)).anomaly_map.numpy()
    assert np.abs(got - expected).max() <= 1e-4
    with pytest.raises(UserFacingError, match=r"prompt weights file does not exist"):
        run_cli(
            [
                "export",
                "--backbone",
                "preset:tiny-random",
                "--prompts",
                str(tmp_path / "nope.pt"),
                "--out",
                str(tmp_path / "x"),
            ]
        )


def test_command_line_with_a_checkpoint_file(tiny_clip: CLIP, tmp_path: Path) -> None:
    import hashlib

    from safetensors.torch import save_file

    backbone = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_clip.state_dict().items()}, str(backbone))
    config = tmp_path / "model.toml"
    config.write_text("[model]\nn_ctx = 2\nlayers = [4]\nlayer_weighting = 'mean'\nupsample = 'bilinear'\n")
    out = tmp_path / "exported"
    argv = [
        "export",
        "--backbone",
        str(backbone),
        "--model-config",
        str(config),
        "--out",
        str(out),
        "--fp16",
        "--id",
        "my-model",
    ]
    assert run_cli(argv) == 0
    manifest = read_manifest(out / MANIFEST_FILE, verify_files=True)
    assert manifest.id == "my-model" and manifest.layers == [4]
    assert manifest.provenance.backbone_sha256 == hashlib.sha256(backbone.read_bytes()).hexdigest()
    assert "open_clip_model.safetensors" in manifest.provenance.backbone
    assert manifest.provenance.training_data.startswith("untrained")
    assert [f.dtype for f in manifest.files] == ["float32", "float16"]


def test_backbone_must_be_the_one_the_prompts_were_trained_on(tiny_clip: CLIP, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    backbone = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_clip.state_dict().items()}, str(backbone))
    prompts = save_trainable(tmp_path / "p.pt", trained_looking(tiny_clip), {"backbone_sha256": "0" * 64})
    with pytest.raises(UserFacingError, match=r"other\.safetensors: sha256 .* differs from the backbone"):
        run_cli(["export", "--backbone", str(backbone), "--prompts", str(prompts), "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()
    with pytest.raises(UserFacingError, match="--backbone: required"):
        run_cli(["export", "--prompts", str(prompts), "--out", str(tmp_path / "x")])
