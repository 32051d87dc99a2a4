"""python -m preprocess {build,examples,download}: data preparation commands."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .detector_set import build_detector_sets
from .removal_set import build_removal_sets
from .sets import DEFAULT_DATA, DEFAULT_OUT, REMOVAL_HELD_OUT, unwritable_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preprocess", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build training/validation sets from ../shared/data")
    build.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"the shared data folder (s2_timeseries/, landsat_timeseries/, cloud_masks/, clear_scenes/; default {DEFAULT_DATA})")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the .npz sets are written (default {DEFAULT_OUT})")
    build.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    build.add_argument("--only", choices=("detector", "removal"), help="build just one of the two sets")
    build.add_argument("--add-series", type=Path, nargs="+", default=[], metavar="PATH",
                       help="your own series to train on as well: a folder of GeoTIFFs (one file per date, or per band and date), a .zarr store, "
                            "or any cube the readers take; labelled by its SCL band where it has one, else from the series itself")
    build.add_argument("--held-out", type=Path, nargs="+", metavar="PATH",
                       help="validation sites for stage 2 instead of the project's (Hungary, Romania): 5 clear dates and a cloudy one each")
    build.add_argument("--scale", type=float, help="reflectance per stored value of --add-series / --held-out files that do not state it (Sentinel-2 L2A DN: 0.0001)")
    build.add_argument("--offset", type=float, help="reflectance offset of such files (Sentinel-2 baseline 04.00 on: -0.1)")
    examples = commands.add_parser("examples", help="render the bundled example sequences from the nrt cube")
    examples.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"the shared data folder (default {DEFAULT_DATA})")
    examples.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples", help="where the sequences are written (default: the repository's examples/, rewritten)")
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
        missing = [str(path) for path in [*args.add_series, *(args.held_out or [])] if not path.exists()]
        if missing:
            parser.error(f"{', '.join(missing)}: no such file or folder")
        held_out = {(args.data / relative).resolve() for relative in REMOVAL_HELD_OUT} | {path.resolve() for path in args.held_out or []}
        both = [str(path) for path in args.add_series if path.resolve() in held_out]
        if both:
            parser.error(f"--add-series: {', '.join(both)} is held out for validation; a site is trained on or held out, not both")
        if args.held_out and args.only == "detector":
            parser.error("--held-out: the validation sites of stage 2 (--only removal, or both sets); stage 1's are the project's")
        return _build(args)
    if args.command == "examples":
        from .examples import NRT_CUBE, render_examples

        if not (args.data / NRT_CUBE).is_file():
            parser.error(f"--data: {args.data / NRT_CUBE} not found; the examples are rendered from the shared data's nrt cube (default {DEFAULT_DATA})")

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


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the half-built sets are removed on the way out


def _build(args: argparse.Namespace) -> int:
    """Build the sets into a staging folder inside --out and move them in together: a refused
    series or an interrupt leaves the previous sets as they were."""
    units = (args.scale, args.offset)
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers can be set there only
    previous = signal.signal(signal.SIGTERM, _stop) if main_thread else None
    try:
        with tempfile.TemporaryDirectory(dir=args.out, prefix=".building-") as staging:
            if args.only in (None, "detector"):
                print("detector sets:", build_detector_sets(args.data, Path(staging), args.seed, added=args.add_series, units=units))
            if args.only in (None, "removal"):
                print("removal sets:", build_removal_sets(args.data, Path(staging), args.seed, added=args.add_series, held_out=args.held_out, units=units))
            for built in sorted(Path(staging).glob("*.npz")):
                built.replace(args.out / built.name)
                print(f"wrote {args.out / built.name}")
    except ValueError as error:  # a series the readers refuse (units unknown, too few dates): one line
        print(f"python -m preprocess build: error: {in_build_terms(str(error))}; the sets in {args.out} are as they were", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"python -m preprocess build: stopped; the sets in {args.out} are as they were", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


# The library's refusals name the clear_vision command line's options; of those, build has only
# --scale and --offset. For the others, what to change in the series' files instead.
_LIBRARY_OPTION = re.compile(r"\(command line: (--[a-z]+)[^)]*\)")
_SAID_IN_THE_FILES = {
    "--dates": "put each date in its file's name, 2021-05-10 or 20210510",
    "--nodata": "set the files' nodata tag",
    "--rgb": "name the bands B04, B03, B02 or red, green, blue",
    "--bands": "keep only the band variables in the store",
}


def in_build_terms(message: str) -> str:
    """A library refusal with its command-line hints that build cannot follow replaced by what to change in the files."""

    def advice(match: re.Match[str]) -> str:
        option = match.group(1)
        if option in ("--scale", "--offset"):
            return match.group(0)
        return f"(preprocess build has no {option}: {_SAID_IN_THE_FILES.get(option, 'state it in the files')})"

    return _LIBRARY_OPTION.sub(advice, message)


if __name__ == "__main__":
    sys.exit(main())
