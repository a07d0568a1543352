"""Benchmark: `clue train` and `clue eval` throughput with 1, 2, … processes under torchrun.

Launches `torchrun --standalone --nproc_per_node=N` on this script for each N (one thread per
process, so N processes use N cores), repeated `--runs` times, and prints the medians:
training slices/s (an epoch's slices over an epoch's time, timed on the training loop alone
from the progress lines: start-up and data synthesis are not counted), eval slices/s (the rows'
`seconds`: sharded prediction, gather and metrics), the speed-up over 1 process and the
efficiency (speed-up / N). The global batch is the config's for every N. A benchmark, not a
test: it asserts nothing. Figures and what they mean: docs/scaling.md.

    nice -n 10 .venv/bin/python bench/distributed_scaling.py --procs 1,2 --runs 3
    .venv/bin/python bench/distributed_scaling.py --backbone preset:ViT-B-16-random --model-config clue-vit-b16.toml
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "models" / "clue" / "configs"

TRAIN = """seed = 0
epochs = {epochs}
batch_size = {batch}
backbone = "{backbone}"
log_every = 1000
model_config = "{model_config}"

[data]
kind = "demo-synthetic"
options = {{ split = "train", cases = {cases}, sequences = ["t1"], views = ["axial"], normal_slices = 2 }}
"""

EVAL = """batch_size = {batch}

[[table1]]
name = "synthetic test cases"
kind = "demo-synthetic"
options = {{ split = "test", cases = {cases}, sequences = ["t1"], views = ["axial", "coronal"], normal_slices = 2 }}
"""


def worker(args: argparse.Namespace) -> None:
    """One rank of a torchrun job: time training and eval; rank 0 writes the figures."""
    import torch
    import torch.distributed as dist

    from clue.evaluate import run_eval
    from clue.train import load_train_config, run_training

    torch.set_num_threads(1)
    # One process group for every run of this job (the commands leave an existing one alone):
    # re-creating it between runs would re-rendezvous on torchrun's store for nothing.
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    work = Path(args.work)
    # The training loop alone: from the line run_training prints as the loop starts to the
    # last epoch's line (rank 0 prints both; the ranks step together), so start-up, data
    # synthesis and the final validation are not counted.
    stamps: list[tuple[float, str]] = []
    config = load_train_config(work / "train.toml")
    run_training(config, work / f"run_{os.environ['TORCHELASTIC_RUN_ID']}",
                 progress=lambda line: stamps.append((time.perf_counter(), line)))
    from clue.data.common import open_dataset

    slices = len(open_dataset(config.data.kind, config.data.root, **config.data.options))
    prompts = work / f"run_{os.environ['TORCHELASTIC_RUN_ID']}" / "prompts.safetensors"
    evaluated = run_eval(work / "eval.toml", prompts, work / f"eval_{os.environ['TORCHELASTIC_RUN_ID']}.json",
                         progress=lambda _: None)
    if rank == 0:  # the others were given no progress lines
        loop_started = next(t for t, line in stamps if line.startswith("training "))
        loop_ended = [t for t, line in stamps if " done: mean loss" in line][-1]
        eval_slices = sum(row["slices"] for row in evaluated["sets"])
        eval_seconds = sum(row["seconds"] for row in evaluated["sets"])
        record = {"world_size": dist.get_world_size(), "train_slices_per_epoch": slices,
                  "train_epoch_seconds": (loop_ended - loop_started) / config.epochs,
                  "eval_slices": eval_slices, "eval_seconds": eval_seconds}
        temporary = Path(args.result + ".tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, args.result)
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", default="1,2", help="process counts to compare (default 1,2)")
    parser.add_argument("--runs", type=int, default=3, help="repeats per process count; medians are printed")
    parser.add_argument("--backbone", default="preset:tiny-random")
    parser.add_argument("--model-config", default="clue-tiny.toml", help="a file in models/clue/configs")
    parser.add_argument("--batch", type=int, default=8, help="global batch (train and eval)")
    parser.add_argument("--cases", type=int, default=4, help="synthetic lesion cases (train and test)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs timed per run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    procs = [int(p) for p in args.procs.split(",")]
    records: dict[int, list[dict[str, Any]]] = {n: [] for n in procs}
    with tempfile.TemporaryDirectory(prefix="clue-scaling-") as folder:
        work = Path(folder)
        model_config = CONFIGS / args.model_config
        (work / "train.toml").write_text(TRAIN.format(
            epochs=args.epochs, batch=args.batch, backbone=args.backbone, model_config=model_config, cases=args.cases))
        (work / "eval.toml").write_text(EVAL.format(batch=args.batch, cases=args.cases))
        for run in range(args.runs):
            for n in procs:  # interleaved, so that a change in machine load hits every N alike
                result = work / f"result_{n}_{run}.json"
                command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                           "--rdzv-id", f"n{n}r{run}", str(Path(__file__).resolve()), "--worker", "--work", str(work),
                           "--result", str(result)]
                done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
                records[n].append(json.loads(result.read_text()))
                print(f"run {run + 1}/{args.runs}, {n} process(es): {records[n][-1]}", file=sys.stderr)

    def median(n: int, key: str) -> float:
        return statistics.median(r[key] for r in records[n])

    base_train = median(procs[0], "train_slices_per_epoch") / median(procs[0], "train_epoch_seconds")
    base_eval = median(procs[0], "eval_slices") / median(procs[0], "eval_seconds")
    print(f"backbone {args.backbone}, model config {args.model_config}, global batch {args.batch}, "
          f"{args.runs} runs each (medians), {os.cpu_count()} CPU cores, one thread per process, gloo")
    print(f"{'processes':>9}  {'train slices/s':>14}  {'speed-up':>8}  {'efficiency':>10}  "
          f"{'eval slices/s':>13}  {'speed-up':>8}  {'efficiency':>10}")
    for n in procs:
        train = median(n, "train_slices_per_epoch") / median(n, "train_epoch_seconds")
        evaluation = median(n, "eval_slices") / median(n, "eval_seconds")
        print(f"{n:>9}  {train:>14.2f}  {train / base_train:>8.2f}  {train / base_train / (n / procs[0]):>10.0%}  "
              f"{evaluation:>13.2f}  {evaluation / base_eval:>8.2f}  {evaluation / base_eval / (n / procs[0]):>10.0%}")


if __name__ == "__main__":
    main()
