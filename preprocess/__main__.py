"""python -m preprocess {build,examples,download}: data preparation commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .detector_set import build_detector_sets
from .removal_set import build_removal_sets
from .sets import DEFAULT_DATA, DEFAULT_OUT, unwritable_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preprocess", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build training/validation sets from ../shared/data")
    build.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with s2_timeseries/, cloud_masks/, clear_scenes/")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the .npz sets are written")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--only", choices=("detector", "removal"), help="build just one of the two sets")
    examples = commands.add_parser("examples", help="render the bundled example sequences from the nrt cube")
    examples.add_argument("--data", type=Path, default=DEFAULT_DATA)
    examples.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples")
    download = commands.add_parser("download", help="download EarthNet2021 with earthnet.Downloader (needs internet)")
    download.add_argument("--out", type=Path, required=True)
    download.add_argument("--splits", default="iid", help="comma-separated: train, iid, ood, extreme, seasonal")
    args = parser.parse_args(argv)

    if args.command == "build":
        if not args.data.is_dir():
            parser.error(f"--data {args.data} does not exist; point it at the shared data folder")
        problem = unwritable_folder(args.out)
        if problem:
            parser.error(f"--out: {args.out} {problem}; give a folder this user can write to")
        if args.only in (None, "detector"):
            print("detector sets:", build_detector_sets(args.data, args.out, args.seed))
        if args.only in (None, "removal"):
            print("removal sets:", build_removal_sets(args.data, args.out, args.seed))
        return 0
    if args.command == "examples":
        from .examples import render_examples

        for path in render_examples(args.data, args.out):
            print(path)
        return 0
    from .download import DownloadError, download_earthnet

    try:
        download_earthnet(args.out, args.splits.split(","))
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
