"""Dynamic int8 quantisation of a `clue export` (one of the issue's levers), for the benchmark.

    .venv/bin/python bench/quantize_int8.py .cache/exports/vit-l14-random [--out DIR]

Writes DIR (default: the export folder + "-int8") with `model.onnx` (weights of MatMul/Gemm
with a constant right-hand side as int8, activations quantised per run by
DynamicQuantizeLinear: onnxruntime.quantization.quantize_dynamic) and a `manifest.json`
copied from the source with that one file listed. The file is labelled dtype "float32"
because the manifest's dtype names what the graph takes and returns (float32 tensors), which
is unchanged; the id gets an "-int8" suffix so the panel and results say what runs.

This is a benchmark artefact, not a shipped model: nothing here checks its accuracy beyond
the manifest's contract (same inputs/outputs), and the bench reports only its speed and heap.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic

from clue.errors import UserFacingError
from clue.manifest import file_entry, read_manifest, write_manifest


def quantize_export(source: Path, out: Path) -> Path:
    manifest = read_manifest(source / "manifest.json")
    fp32 = next((f for f in manifest.files if f.dtype == "float32"), None)
    if fp32 is None:
        raise UserFacingError(f"{source / 'manifest.json'}: lists no float32 file to quantise")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.onnx"
    temporary = out / "model.onnx.tmp"
    quantize_dynamic(
        source / fp32.path,
        temporary,
        weight_type=QuantType.QInt8,
        # Only weight matmuls: the attention products (Q·Kᵀ, A·V) have no constant side and
        # quantising them per run costs more than it saves, and hurts accuracy most.
        extra_options={"MatMulConstBOnly": True},
    )
    temporary.replace(target)
    entry = file_entry(target, "float32", out)
    write_manifest(replace(manifest, id=f"{manifest.id}-int8", files=[entry]), out / "manifest.json")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a `clue export` folder (manifest.json + model.onnx)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: EXPORT-int8)")
    args = parser.parse_args(argv)
    source: Path = args.export
    out: Path = args.out if args.out is not None else source.with_name(source.name + "-int8")
    try:
        target = quantize_export(source, out)
    except UserFacingError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
