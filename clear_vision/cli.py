"""Command line: python -m clear_vision remove INPUT... --out DIR (or the `clear-vision` command).

PNG/JPEG/8-bit TIFF frames give PNGs and report.json, as always. GeoTIFF (georeferenced or not
8-bit), netCDF and zarr inputs go through the cube path: every band filled, georeferenced
outputs in the input's own units, chunk by chunk on Dask (`--workers`, `--scheduler`).
The output folder is checked (never an input folder, never inside one of a cube's) and its
staging folder created before any work; outputs appear all at once or not at all, an overwrite
replacing the previous run's as a whole; every failure ends in one line and exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import signal
import sys
import threading
import time
import warnings
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, get_args

try:  # torch loads here, for seconds: a Ctrl-C meanwhile ends the command like one during the work
    from .io.decode import IMAGE_SUFFIXES, check_frame_files, collect_image_paths, dates_from_names, first_names, parse_dates, split_dates
    from .io.outputs import StagedFolder, build_report, percent, planned_files, render_files
    from . import __version__
    from .pipeline import ClearVision, Method
    from .weights import WeightsError
    from .webapp.options import device
except KeyboardInterrupt:
    sys.stderr.write("interrupted: nothing was written\n")
    raise SystemExit(128 + signal.SIGINT) from None

__all__ = ["main"]

_CUBE_ONLY = ("rgb", "bands", "scale", "offset", "nodata", "start", "end", "format", "chunk", "workers", "scheduler")  # refused for pictures
SCHEDULER_TIMEOUT_S = 10  # --scheduler: seconds to reach the scheduler and finish the handshake


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def _probability(text: str) -> float:
    value = _finite(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value:g} is not a probability in (0, 1]")
    return value


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; give YYYY-MM-DD") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clear-vision", description="Remove clouds from a satellite image time series.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    remove = commands.add_parser("remove", help="detect and remove clouds in a sequence of frames or a georeferenced cube")
    remove.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (PNG, JPEG, TIFF) or folders, ordered by the dates in their names where every name has one, else by natural sort of the names (with a warning naming the undated ones); or GeoTIFFs / folders of them, Sentinel-2 .SAFE folders or their .zip files, Landsat Collection 2 product folders or their .tar files, one .nc file, one .zarr store")
    remove.add_argument("-o", "--out", required=True, type=Path, help="output folder (created if missing)")
    remove.add_argument("--dates", help="acquisition dates, one per frame, separated by commas (2021-05-10,...; frames also take day-of-year numbers); default: dates in the files (tags, names), else 5 days apart for frames")
    remove.add_argument("--device", type=device, metavar="{cpu,cuda}", help="default: cuda when available, else cpu")
    remove.add_argument("--method", default="learned", choices=get_args(Method), help="stage 2 filler (default: learned; the others are the classical rows of the evaluation)")
    remove.add_argument("--weights", type=Path, help="folder with the trained weights (default: the bundled model_dict/)")
    remove.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"), help="stage 1's arithmetic (default auto: bfloat16 on CPUs that compute it natively, else float32)")
    remove.add_argument("--fill-threshold", type=_probability, help="stage 1 probability from which pixels are replaced (default: the bundle's, calibrated on places the detector never saw); higher keeps more of faintly hazy dates, lower misses less cloud")
    remove.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out (all at once)")
    cube = remove.add_argument_group("georeferenced cubes (GeoTIFF, netCDF, zarr)")
    cube.add_argument("--rgb", help="the red, green and blue band names (default: the bands named red/green/blue or B04/B03/B02, also B4, SR_B4, S2-L2A-B04; else the first three, said on the output; Landsat 4..7: B3,B2,B1, found from USGS product names)")
    cube.add_argument("--bands", help="netCDF/zarr variables to use as bands, comma-separated (default: all (time, y, x) variables)")
    cube.add_argument("--scale", type=_finite, help="reflectance = value x scale + offset, instead of what the files say (needed where they say nothing; Sentinel-2 L2A DN: 0.0001)")
    cube.add_argument("--offset", type=_finite, help="see --scale (Sentinel-2 L2A from processing baseline 04.00: -0.1)")
    cube.add_argument("--nodata", type=_finite, help="the stored value that marks no data, instead of what the files say (a fill value they do not declare, e.g. 65535)")
    cube.add_argument("--start", type=_day, metavar="YYYY-MM-DD", help="use the cube's dates from this day on (a cube takes 2 to 100 dates)")
    cube.add_argument("--end", type=_day, metavar="YYYY-MM-DD", help="use the cube's dates up to this day, inclusive")
    cube.add_argument("--format", choices=("cog", "zarr", "netcdf"), help="one Cloud-Optimized GeoTIFF per date (default), one zarr store or one netCDF file")
    cube.add_argument("--chunk", type=_whole_number, help="spatial chunk size in pixels, 64 to 3968 (default: 512); the same chunk gives the same numbers on any scheduler")
    where = cube.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, help="start a local Dask cluster with N worker processes (one thread each)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use a running Dask scheduler (workers must see --out)")
    return parser


def _say(message: str) -> None:
    """Progress, notes, warnings and errors: stderr."""
    print(message, file=sys.stderr, flush=True)


def _tell(message: str) -> None:
    """The run's outcome (cover per date, what was written): stdout, where a pipe or a log file takes it."""
    print(message, flush=True)


def _is_cube(inputs: list[str]) -> bool:
    """Cube path for netCDF, zarr and GeoTIFFs that are georeferenced or not 8-bit RGB; a folder
    with any such file is a cube, and its PNG and JPEG pictures are then not read: said."""
    from .geo.cube import ARCHIVE_SUFFIXES, STORE_SUFFIXES, TIFF_SUFFIXES, find_rasters, is_cube_source

    for item in map(Path, inputs):
        if item.suffix.lower() in (*STORE_SUFFIXES, *ARCHIVE_SUFFIXES):  # archives: Sentinel-2 and Landsat products as downloaded
            return True
        if not item.is_dir():
            if is_cube_source(item):
                return True
            continue
        if any(is_cube_source(raster) for raster in sorted(find_rasters(item))):
            pictures = sorted(
                path.name for path in item.iterdir()
                if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES and path.suffix.lower() not in TIFF_SUFFIXES
            )
            if pictures:
                _say(f"{item}: read as a cube of its GeoTIFFs; its {len(pictures)} PNG/JPEG picture(s) ({first_names(pictures)}) are not read: "
                     "a run takes either GeoTIFFs or pictures")
            return True
    return False


def _check_out_apart(out: Path, inputs: list[str], nested: bool) -> None:
    """Refuse an --out that is an input folder (or, where folders are read with their subfolders,
    inside one): the outputs would be read as inputs by every later run on that folder."""
    target = out.resolve()
    for folder in (Path(item).resolve() for item in inputs if Path(item).is_dir()):
        if target == folder or (nested and target.is_relative_to(folder)):
            where = "is the input folder" if target == folder else "is inside the input folder"
            subfolders = ", read with its subfolders" if nested else ""
            raise ValueError(f"--out: {out} {where} {folder}{subfolders}; later runs would read the outputs as inputs: give a folder outside the inputs")


def _load_model(args: argparse.Namespace) -> ClearVision:
    model = ClearVision.load(args.weights, device=args.device, method=args.method, precision=args.precision)
    if args.fill_threshold is not None:
        model.config = model.config.replace(fill_threshold=args.fill_threshold)
    return model


def remove_frames(args: argparse.Namespace, stack: ExitStack) -> int:
    """PNG/JPEG/8-bit TIFF frames -> <name>_clear.png, <name>_mask.png, report.json."""
    started = time.perf_counter()
    given = [f"--{name}" for name in _CUBE_ONLY if getattr(args, name) is not None]
    if given:
        dated = " (to use only some frames, pass those files)" if args.start or args.end else ""
        raise ValueError(
            f"{', '.join(given)}: options of georeferenced cubes (GeoTIFF, netCDF, zarr); these inputs are pictures "
            f"(PNG, JPEG, 8-bit TIFF), written as PNG: leave them out{dated}"
        )
    paths = collect_image_paths(args.inputs)
    stems = [path.stem for path in paths]
    staged = stack.enter_context(StagedFolder(args.out, planned_files(stems), args.overwrite))  # fail before the work
    args.staged = staged
    dates = split_dates(args.dates) or dates_from_names(paths)
    check_frame_files(paths)  # count, headers, one size and the dates refused before the model's seconds of loading
    with warnings.catch_warnings():  # its notes come back in the run's warnings, said once at the end
        warnings.simplefilter("ignore")
        parse_dates(dates, len(paths))
    _say(f"loading model ({args.method})")
    model = _load_model(args)
    _say(f"processing {len(paths)} frame{'s' if len(paths) != 1 else ''} on {model.device.type}")
    result = model.run(paths, dates=dates, progress=lambda fraction, step: _say(f"  {fraction:4.0%} {step}"))
    report = build_report(result, stems, dates, device=model.device.type, fill_threshold=model.config.fill_threshold)
    for name, content in render_files(result, report).items():
        (staged.path / name).write_bytes(content)
    written = staged.commit()
    for warning in result.warnings:
        _say(f"warning: {warning}")
    _tell(f"cloud cover: {', '.join(_cover(entry['input'], entry['cloud_cover'], entry['no_data']) for entry in report['frames'])}")
    _tell(f"wrote {len(written)} files to {staged.out_dir} in {time.perf_counter() - started:.1f} s")
    return 0


def remove_cube(args: argparse.Namespace, stack: ExitStack) -> int:
    """A georeferenced cube -> clear and mask COGs per date (or zarr) and report.json, in the input's units."""
    from .geo import cube_file_names, open_cube, write_cube_into
    from .geo.write import date_stems
    from .geo.cube import cube_rgb
    from .geo.remove import check_chunk, check_cube, chunk_grid
    from .tiling import HALO_PX

    started = time.perf_counter()
    chunk = check_chunk(args.chunk, option="--chunk")
    source: Any = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    bands = split_dates(args.bands)  # the same comma, semicolon or space splitting
    cube = open_cube(source, dates=split_dates(args.dates), chunks=chunk, bands=bands, scale=args.scale, offset=args.offset, nodata=args.nodata)
    if args.start and args.end and args.start > args.end:
        raise ValueError(f"--start {args.start} is after --end {args.end}; give the earlier day as --start")
    if args.start or args.end:
        first, last = (str(value)[:10] for value in cube["time"].values[[0, -1]])
        cube = cube.sel(time=slice(args.start, args.end))
        if cube.sizes["time"] == 0:
            window = " ".join(part for part in (args.start and f"from {args.start}", args.end and f"up to {args.end}") if part)
            raise ValueError(f"--start/--end: the cube has no date {window}; its dates run from {first} to {last}")
    out_format = args.format or "cog"
    staged = stack.enter_context(StagedFolder(args.out, cube_file_names(cube["time"].values, out_format), args.overwrite))
    args.staged = staged
    steps = cube.sizes["time"]
    _say(f"cube: {steps} date{'s' if steps != 1 else ''} x {cube.sizes['band']} bands ({', '.join(map(str, cube['band'].values))}) x {cube.sizes['y']}x{cube.sizes['x']} px, {cube.dtype}")
    names = [str(name) for name in cube["band"].values]
    rgb = split_dates(args.rgb) or cube_rgb(cube)
    if rgb is None and len(names) >= 3:  # fewer bands: check_cube says what it needs
        rgb = names[:3]
        _say(f"rgb: the bands are not named all three as red/green/blue or as B04/B03/B02; taking the first three ({', '.join(rgb)}) as red, green, blue (--rgb to choose)")
    check_cube(cube, rgb)  # dates, bands and units refused before the model's seconds of loading
    _start_dask(args, stack)
    _say(f"loading model ({args.method})")
    model = _load_model(args)
    result = model.remove_cube(cube, rgb=rgb, chunks=chunk)
    grid = (chunk_grid(cube.sizes["y"], chunk), chunk_grid(cube.sizes["x"], chunk))
    pieces = f"in chunks of {chunk} px" if len(grid[0]) * len(grid[1]) > 1 else "in one chunk"
    if max(grid[0][-1], grid[1][-1]) > chunk:  # a last strip thinner than the halo joined its neighbour
        pieces += f" (the last {max(grid[0][-1], grid[1][-1])} px: a remainder under {HALO_PX} px joins the chunk before it)"
    _say(f"processing {pieces} on {model.device.type}")
    report = write_cube_into(result, staged.path, out_format, progress=True)
    written = staged.commit()
    stems = date_stems(result["time"].values)  # as the files name them: a second acquisition on one day is <day>_2
    _tell(f"cloud cover: {', '.join(_cover(*entry) for entry in zip(stems, report['cloud_cover'], report['no_data']))}")
    for warning in report["warnings"]:
        _say(f"warning: {warning}")
    _tell(f"wrote {len(written)} outputs to {staged.out_dir} in {time.perf_counter() - started:.1f} s")
    return 0


def _cover(name: str, masked: float, no_data: float) -> str:
    """A frame's cloud cover among its pixels with data (report.json's share counts no data as masked), and its no data."""
    if no_data >= 1:
        return f"{name} no data"
    cover = f"{name} {percent((masked - no_data) / (1 - no_data))}"  # run's masks hold its no data
    return f"{cover} ({percent(no_data)} no data)" if no_data >= 0.005 else cover


def _start_dask(args: argparse.Namespace, stack: ExitStack) -> None:
    """--workers: a LocalCluster for this run; --scheduler: connect to a running one; else this process."""
    if not (args.workers or args.scheduler):
        import dask
        import torch

        stack.enter_context(dask.config.set(scheduler="threads", num_workers=torch.get_num_threads()))  # one chunk per core
        return
    from distributed import Client

    from .geo.cluster import local_cluster, quiet_failed_tasks

    for name in [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] == "distributed"]:  # filters are per logger
        logging.getLogger(name).addFilter(_without_tracebacks)
        stack.callback(logging.getLogger(name).removeFilter, _without_tracebacks)  # after the client has closed: it logs then too
    if args.workers:
        stack.push(partial(_quiet_when_stopped, None))  # a Ctrl-C while the workers start: their failed starts stay unlogged
        cluster = stack.enter_context(local_cluster(args.workers))
        client = stack.enter_context(Client(cluster))
        client.run(quiet_failed_tasks)  # a chunk that fails is said in one line here
    else:
        _handshake(args.scheduler, SCHEDULER_TIMEOUT_S)
        try:
            client = stack.enter_context(Client(args.scheduler, timeout=SCHEDULER_TIMEOUT_S))
        except (OSError, TimeoutError, ValueError) as error:
            detail = str(error) or f"no scheduler answered within {SCHEDULER_TIMEOUT_S} s"
            raise ValueError(f"--scheduler: cannot reach {args.scheduler} ({type(error).__name__}: {detail}); give tcp://HOST:PORT of a running dask scheduler") from None
        _check_has_workers(client, args.scheduler)
        _check_imports(client, args.scheduler)
        _check_workers_see(client, args.staged.path, args.scheduler)
        _note_trimming_workers(client)
    stack.push(partial(_quiet_when_stopped, client if args.workers else None))  # unwinds before the client closes
    workers = len(client.scheduler_info().get("workers", {}))
    _say(f"dask: {workers} worker{'s' if workers != 1 else ''} at {client.scheduler.address}")


def _without_tracebacks(record: logging.LogRecord) -> bool:
    """A log filter for the run: distributed logged a lost scheduler as an error with its chained
    tracebacks (about 40 lines before the command's own line, which names the failure and says that
    nothing was written). Its records with a traceback are dropped; its other warnings stay."""
    return record.exc_info is None


def _handshake(address: str, seconds: float) -> None:
    """Reach `address` and open and close one Dask connection, bounded in time, or refuse in one
    line saying why: no such host, nothing listening (at once, not after the timeout), or something
    that is not a Dask scheduler. distributed's own timeout does not cover its handshake, so a port
    that accepts but never speaks Dask (its dashboard, say) would make `Client` wait for ever, and
    one that answers in another protocol (a web server's HTTP 400) made it fail with a traceback."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    from distributed.comm import connect

    def refuse(why: str) -> ValueError:
        return ValueError(f"--scheduler: cannot reach {address} ({why}); give tcp://HOST:PORT of a running dask scheduler")

    parts = urlsplit(address if "://" in address else f"tcp://{address}")  # without a scheme, distributed takes tcp
    if parts.scheme != "tcp":
        raise refuse(f"the command line connects over tcp:// only, not {parts.scheme}://; for TLS, connect from Python with distributed.Client(security=...) and call remove_cube")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as error:  # a port that is no number or out of range
        raise refuse(str(error)) from None
    if not host or port is None:
        raise refuse("no host or no port")
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except socket.gaierror as error:
        raise refuse(f"host {host} not found: {error.strerror}") from None
    except (TimeoutError, socket.timeout):
        raise refuse(f"no answer from {host}:{port} within {seconds:g} s") from None
    except OSError as error:
        raise refuse(f"{error.strerror or error} on port {port}") from None

    async def open_and_close() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=seconds), seconds)
        await comm.close()

    try:
        asyncio.run(open_and_close())
    except (TimeoutError, asyncio.TimeoutError):
        raise refuse(f"TimeoutError: no scheduler answered within {seconds:g} s") from None
    except Exception as error:  # noqa: BLE001 (whatever a server of another protocol makes distributed's reader do)
        raise refuse(f"something answers on port {port}, but not as a Dask scheduler ({type(error).__name__})") from None


def _check_has_workers(client: Any, address: str) -> None:
    """A scheduler without workers would hold the run for ever: given SCHEDULER_TIMEOUT_S for one
    to join, else refused."""
    try:
        client.wait_for_workers(1, timeout=SCHEDULER_TIMEOUT_S)
    except TimeoutError:
        raise ValueError(
            f"--scheduler: the scheduler at {address} has no workers (none joined within {SCHEDULER_TIMEOUT_S} s); "
            f"start some (dask worker {address}) or use --workers N for a local cluster"
        ) from None


def _check_workers_see(client: Any, folder: Path, address: str) -> None:
    """Workers write their chunks straight into the staging folder in --out's parent: one that does
    not see it there wrote into its own filesystem (a zarr came out empty, the run said it was done)."""
    blind = sorted(worker for worker, writable in client.run(os.access, str(folder), os.W_OK).items() if not writable)
    if blind:
        raise ValueError(
            f"--scheduler: {len(blind)} worker(s) at {address} cannot write to {folder.parent} ({', '.join(blind[:3])}); "
            "--out must be on a filesystem every worker sees at the same path, writable by them"
        )


def _note_trimming_workers(client: Any) -> None:
    """A note for workers that return freed memory to the system after every large array, as dask's
    nanny makes them (MALLOC_TRIM_THRESHOLD_=65536): chunks ran 2.4x slower there."""
    from .geo.cluster import TRIM_VARIABLE

    trimming = {worker: value for worker, value in client.run(os.getenv, TRIM_VARIABLE).items() if value is not None}
    if trimming:
        _say(
            f"note: {len(trimming)} worker(s) have {TRIM_VARIABLE}={next(iter(trimming.values()))} (set by dask's nanny), which "
            "made chunks run about 2.4x slower; start workers with `dask worker --no-nanny`, or see README.md (Cubes on Dask)"
        )


def _quiet_when_stopped(local_client: Any, kind: type[BaseException] | None, *_: object) -> bool:
    """Ctrl-C, or a chunk that failed, cancels the chunks in flight, and distributed logs every
    cancelled gather (dozens of tracebacks, here) and task (on each worker) as an error. The command
    says in one line why the run stopped: its logs and its own local workers' stay quiet from here on.
    A refusal before the work (ValueError: a cluster that cannot import clear_vision) cancels nothing."""
    if kind is not None and not issubclass(kind, ValueError):
        for name in ("asyncio", "distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        if local_client is not None:
            from .geo.cluster import silence_worker_logs

            local_client.run(silence_worker_logs, on_error="ignore")
    return False


def _check_imports(client: Any, address: str) -> None:
    """A cluster started elsewhere must import clear_vision on the scheduler and every worker:
    else a worker fails each task in its own log, and the run here waits for ever."""
    for where, check in (("scheduler", client.run_on_scheduler), ("workers", client.run)):
        try:
            check(exec, "import clear_vision")  # a builtin: it travels by name, nothing of clear_vision in the message
        except ImportError as error:
            raise ValueError(
                f"--scheduler: the {where} at {address} cannot import clear_vision ({error}); start them where it is installed "
                "(pip install . in their environment, or PYTHONPATH set to this repository)"
            ) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.staged = None
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main_thread else None
    try:
        cube = _is_cube(args.inputs)
        _check_out_apart(args.out, args.inputs, nested=cube)  # cubes read folders with their subfolders, frames only their own files
        with ExitStack() as stack, warnings.catch_warnings():
            warnings.showwarning = lambda message, *_: _say(f"warning: {message}")  # one line, not the source line that warned
            return (remove_cube if cube else remove_frames)(args, stack)
    except (ValueError, FileExistsError, PermissionError, WeightsError) as error:
        _say(f"error: {error}")
    except Exception as error:  # noqa: BLE001 (OS errors, and distributed's own: a scheduler or worker lost mid-run)
        if type(error).__module__.startswith("distributed."):  # its CommClosedError is an OSError too
            cause = (str(error).splitlines() or [""])[0]
            _say(f"error: dask: the cluster stopped or failed during the run ({type(error).__name__}: {cause}); nothing was written to {args.out}")
        elif type(error) is Exception and (args.workers or args.scheduler):  # how distributed hands on a worker's error it cannot rebuild
            cause = (str(error).splitlines() or [""])[0]
            _say(
                f"error: dask: a chunk failed on a worker ({cause}); nothing was written to {args.out}"
                "; without --workers / --scheduler the same error names the file where a file cannot be read"
            )
        elif isinstance(error, OSError):  # disk full, permissions, vanished folders: after the checks, one line
            said = error.strerror or str(error)
            if error.__cause__ is not None and "See previous exception" in said:  # rasterio's write error: GDAL's own words are the cause
                said = str(error.__cause__).strip().rstrip(".")
            _say(f"error: {said}{f': {error.filename}' if error.filename else ''}; nothing was written to {args.out}")
        else:
            raise
    except KeyboardInterrupt as stop:
        if args.staged is not None and args.staged.committed:
            _say(f"interrupted: the outputs were already complete in {args.staged.out_dir}")
        else:
            _say("interrupted: nothing was written")
        return 128 + (signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 2


class _Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, SLURM, docker stop), handled as Ctrl-C is: the staging folder is removed."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated()
