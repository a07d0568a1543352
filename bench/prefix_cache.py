"""Benchmark: the CLUE graph with and without the prompt-prefix cache, side by side.

Exports one random-weight CLUE twice — as `clue export` does (the image-independent prompt
prefix's keys/values folded into constants, `clue.prompts.PrefixCachedTextEncoder`) and
with the full text tower per slice (the baseline) — then times both in onnxruntime (CPU),
interleaving the runs so machine load hits both alike. Prints the outputs' max difference
and the medians. A benchmark, not a test: it asserts nothing.

    .venv/bin/python bench/prefix_cache.py --preset ViT-L-14-random \\
        --model-config models/clue/configs/clue-vit-l14.toml --runs 11
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from clue import export
from clue.checkpoints import load_backbone
from clue.model import CLUE, load_model_config

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="ViT-B-16-random", help="random backbone preset (e.g. ViT-L-14-random)")
    parser.add_argument("--model-config", default=str(REPO / "models/clue/configs/clue-vit-b16.toml"))
    parser.add_argument("--out", default=None, help="folder for the two graphs (default .cache/exports/prefix-cache/<preset>)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out or REPO / ".cache/exports/prefix-cache" / args.preset)
    out.mkdir(parents=True, exist_ok=True)

    clip, _, _ = load_backbone(f"preset:{args.preset}")
    model = CLUE(clip, load_model_config(args.model_config)).eval()
    with torch.no_grad():  # trained-looking prompts: non-zero V, W and adaptor
        generator = torch.Generator().manual_seed(0)
        for parameter in model.trainable_parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)

    graphs = {"cached": out / "cached.onnx", "full": out / "full.onnx"}
    started = time.perf_counter()
    export.export_onnx(model, graphs["cached"])
    print(f"exported {graphs['cached']} in {time.perf_counter() - started:.1f} s", flush=True)
    # The baseline: the same export with the prefix cache switched off.
    started = time.perf_counter()
    export.export_onnx(model, graphs["full"], prefix_cache=False)
    print(f"exported {graphs['full']} in {time.perf_counter() - started:.1f} s", flush=True)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    sessions = {name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]) for name, path in graphs.items()}
    image = export.parity_inputs(model.image_size, 1)[0]
    outputs = {name: session.run(None, {"image": image}) for name, session in sessions.items()}
    differences = [float(np.abs(a - b).max()) for a, b in zip(outputs["full"], outputs["cached"])]
    print("max abs difference full vs cached (anomaly_map, layer_maps, score):", ", ".join(f"{d:.1e}" for d in differences))
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.runs):
        for name, session in sessions.items():  # interleaved
            started = time.perf_counter()
            session.run(None, {"image": image})
            times[name].append((time.perf_counter() - started) * 1000)
    full, cached = statistics.median(times["full"]), statistics.median(times["cached"])
    print(f"{args.preset}, {args.threads} threads, {args.runs} runs: median full {full:.0f} ms, "
          f"cached {cached:.0f} ms ({100 * (1 - cached / full):.1f} % less)")


if __name__ == "__main__":
    main()
