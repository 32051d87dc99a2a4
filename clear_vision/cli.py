"""Command line: python -m clear_vision remove INPUT... --out DIR [--dates ...] [--device ...] [--overwrite]."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .decode import collect_image_paths, dates_from_names, split_dates
from .outputs import build_report, check_writable, planned_files, write_outputs
from .pipeline import ClearVision
from .weights import WeightsError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clear_vision", description="Remove clouds from a satellite image time series.")
    commands = parser.add_subparsers(dest="command", required=True)
    remove = commands.add_parser("remove", help="detect and remove clouds in a sequence of RGB frames")
    remove.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (PNG, JPEG, TIFF) or folders; ordered by natural sort of file names")
    remove.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    remove.add_argument("--dates", help="comma-separated acquisition dates, one per frame (2021-05-10,... or day-of-year numbers); default: dates in the file names, else 5 days apart")
    remove.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    remove.add_argument("--method", default="learned", choices=("learned", "linear", "nearest", "affine"), help="stage 2 filler (default: learned)")
    remove.add_argument("--weights", type=Path, help="folder with the trained weights (default: the bundled model_dict/)")
    remove.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def remove(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    paths = collect_image_paths(args.inputs)
    stems = [path.stem for path in paths]
    check_writable(args.out, planned_files(stems), args.overwrite)  # fail before the work, not after
    dates = split_dates(args.dates) or dates_from_names(paths)
    _say(f"loading model ({args.method})")
    model = ClearVision.load(args.weights, device=args.device, method=args.method)
    _say(f"processing {len(paths)} frames on {model.device.type}")
    result = model.run(paths, dates=dates, progress=lambda fraction, step: _say(f"  {fraction:4.0%} {step}"))
    report = build_report(result, stems, dates, device=model.device.type)
    written = write_outputs(result, report, args.out, overwrite=args.overwrite)
    for warning in result.warnings:
        _say(f"warning: {warning}")
    cover = ", ".join(f"{entry['input']} {entry['cloud_cover']:.0%}" for entry in report["frames"])
    _say(f"cloud cover: {cover}")
    _say(f"wrote {len(written)} files to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return remove(args)
    except (ValueError, FileExistsError, WeightsError) as error:
        _say(f"error: {error}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted: nothing was written")
        return 130
