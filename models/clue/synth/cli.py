"""``clue demo-data``: regenerate the demo DICOM studies, SEGs, dicomjson and index."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from clue.synth.anatomy import COLIN27_ENV_VAR, DEFAULT_COLIN27_PATH


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo-data",
        help="generate the demo DICOM studies (Colin27 + synthetic lesions) for the viewer",
        description="Generate DICOM MR series (axial/sagittal/coronal) from the real Colin27 T1 "
        "with a seeded synthetic lesion, its ground truth as DICOM SEG, lesion-free series, an "
        "OHIF dicomjson file and index.json. Deterministic: same seed, same bytes.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data/generated/demo"), help="output folder (replaced atomically)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the lesion and acquisition (default 0)")
    parser.add_argument(
        "--colin27",
        type=Path,
        default=None,
        help=f"Colin27 T1 NIfTI (default: ${COLIN27_ENV_VAR} or {DEFAULT_COLIN27_PATH})",
    )
    parser.add_argument(
        "--url-prefix",
        default="/demo-data/",
        help="URL at which the output folder is served, for dicomjson (default /demo-data/)",
    )
    parser.add_argument(
        "--no-extra-contrasts",
        action="store_true",
        help="skip the T2-like and FLAIR-like axial series",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clue.synth.generate import generate_demo

    started = time.perf_counter()
    index = generate_demo(
        out=args.out,
        seed=args.seed,
        colin27_path=args.colin27,
        url_prefix=args.url_prefix,
        extra_contrasts=not args.no_extra_contrasts,
    )
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    studies = index["studies"]
    assert isinstance(studies, list)
    series_count = sum(len(s["series"]) for s in studies)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "studies": len(studies),
                "image_series": series_count,
                "megabytes": round(size / 1e6, 1),
                "seconds": round(seconds, 1),
            }
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m clue.synth.cli [options]``: the same as ``clue demo-data [options]``, without
    importing the other sub-commands (useful for install scripts)."""
    import sys

    from clue.errors import UserFacingError

    parser = argparse.ArgumentParser(prog="python -m clue.synth.cli")
    subparsers = parser.add_subparsers(dest="command")
    register(subparsers)
    args = parser.parse_args(["demo-data", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except UserFacingError as error:
        print(f"clue demo-data: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
