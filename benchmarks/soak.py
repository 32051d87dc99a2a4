"""Soak test of the web app (issue 6): many sequential requests, memory and temp files watched.

    python -m benchmarks.soak                          # 200 requests; writes benchmarks/soak.json
    python -m benchmarks.soak --requests 20 --every 5
    python -m benchmarks.soak --app-args="--cache-age 60"

Starts `app.py` on a free port with its own GRADIO_TEMP_DIR and TMPDIR, sends varied sequences
(2..10 frames, sizes, PNG/JPEG, dated and undated names) one after the other through
/remove_clouds, and records the server's resident memory (with its children) and the files in
its temp folders at the start, every --every requests and at the end. Exit code 1 when memory
grew more than --max-growth-mb after the first checkpoint, files kept accumulating, or a
request failed, so the run can gate a release.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .machine import count_files
from .server import APP_PATH, AppServer, connect, remove_clouds
from .synthetic import synthetic_sequence, write_frames

DEFAULT_OUT = Path(__file__).resolve().parent / "soak.json"


def varied_request(index: int, rng: np.random.Generator, folder: Path) -> tuple[list[Path], str]:
    """Write request number `index`'s frames into folder: a different sequence each time."""
    frames = int(rng.integers(2, 11))
    height, width = (int(side) for side in rng.integers(48, 257, size=2))
    images, _ = synthetic_sequence(frames, height, width, seed=index)
    suffix = ".jpg" if rng.random() < 0.25 else ".png"
    paths = write_frames(images, folder, stem=f"r{index}", suffix=suffix)
    if rng.random() < 0.5:  # dated names: the app reads dates from them
        first = dt.date(2021, 1, 1) + dt.timedelta(days=int(rng.integers(0, 300)))
        paths = [path.rename(path.with_name(f"{path.stem}_{first + dt.timedelta(days=5 * k)}{suffix}")) for k, path in enumerate(paths)]
    return paths, f"{frames}x{height}x{width}{suffix}"


def checkpoint(server: AppServer, done: int, started: float) -> dict[str, Any]:
    gradio_files, gradio_bytes = count_files(server.gradio_temp)
    tmp_files, tmp_bytes = count_files(server.tmpdir)
    return {
        "requests": done,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "server_rss_mb": round(server.rss_mb(), 1),
        "gradio_temp_files": gradio_files,
        "gradio_temp_mb": round(gradio_bytes / 2**20, 2),
        "tmpdir_files": tmp_files,
        "tmpdir_mb": round(tmp_bytes / 2**20, 2),
    }


def soak(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    latencies: list[float] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clear-vision-soak-") as scratch, AppServer(
        startup_timeout=args.app_timeout, app_args=shlex.split(args.app_args)
    ) as server:
        print(f"app.py on {server.url} (temp folder {server.gradio_temp}), started in {server.startup_seconds:.1f} s", flush=True)
        client = connect(server.url, Path(scratch) / "downloads")
        started = time.perf_counter()
        checkpoints = [checkpoint(server, 0, started)]
        _print_checkpoint(checkpoints[-1])
        for index in range(1, args.requests + 1):
            request_dir = Path(scratch) / "request"
            paths, shape = varied_request(index, rng, request_dir)
            began = time.perf_counter()
            try:
                remove_clouds(client, paths)
                latencies.append(time.perf_counter() - began)
            except Exception as error:  # keep going: the soak is about the server surviving and staying bounded
                errors.append(f"request {index} ({shape}): {type(error).__name__}: {error}")
                print(f"  {errors[-1]}", file=sys.stderr, flush=True)
                if server.process.poll() is not None:
                    raise RuntimeError(f"app.py died during request {index}:\n{server.log_tail()}") from None
            shutil.rmtree(request_dir)
            shutil.rmtree(Path(scratch) / "downloads", ignore_errors=True)  # the client's copies, not the server's
            if index % args.every == 0 or index == args.requests:
                checkpoints.append(checkpoint(server, index, started))
                _print_checkpoint(checkpoints[-1])
        client.close()
    return verdict(args, checkpoints, latencies, errors)


def verdict(args: argparse.Namespace, checkpoints: list[dict[str, Any]], latencies: list[float], errors: list[str]) -> dict[str, Any]:
    """Flat memory and no piling up, judged after the first checkpoint (caches warm by then)."""
    warm, end = checkpoints[min(1, len(checkpoints) - 1)], checkpoints[-1]
    span = max(1, end["requests"] - warm["requests"])
    growth = end["server_rss_mb"] - warm["server_rss_mb"]
    files_per_request = (_files(end) - _files(warm)) / span
    return {
        "config": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "checkpoints": checkpoints,
        "latency": {"median": statistics.median(latencies), "max": max(latencies), "n": len(latencies)} if latencies else None,
        "errors": errors,
        "memory_growth_after_warmup_mb": round(growth, 1),
        "files_added_per_request_after_warmup": round(files_per_request, 3),
        "memory_flat": growth <= args.max_growth_mb,
        "temp_files_flat": files_per_request <= args.max_files_per_request,
        "passed": not errors and growth <= args.max_growth_mb and files_per_request <= args.max_files_per_request,
    }


def _files(point: dict[str, Any]) -> int:
    return point["gradio_temp_files"] + point["tmpdir_files"]


def _print_checkpoint(point: dict[str, Any]) -> None:
    print(f"  after {point['requests']:4d} requests ({point['elapsed_seconds']:7.1f} s): server RSS {point['server_rss_mb']:7.1f} MB,"
          f" temp files {point['gradio_temp_files']} ({point['gradio_temp_mb']:.1f} MB) + TMPDIR {point['tmpdir_files']}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential requests (default 200)")
    parser.add_argument("--every", type=int, default=50, help="record memory and files every N requests (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-growth-mb", type=float, default=100.0, help="allowed RSS growth after the first checkpoint (default 100)")
    parser.add_argument("--max-files-per-request", type=float, default=0.1,
                        help="allowed temp files left behind per request after the first checkpoint (default 0.1)")
    parser.add_argument("--app-args", default="", help='extra arguments for app.py, e.g. "--cache-age 60"')
    parser.add_argument("--app-timeout", type=float, default=300.0, help="seconds to wait for app.py to start (default 300)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results (default benchmarks/soak.json)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.every < 1:
        parser.error(f"--requests and --every must be at least 1, got {args.requests} and {args.every}")
    if not APP_PATH.is_file():
        parser.error(f"{APP_PATH} not found: the soak test needs the web app")

    result = soak(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    latency = result["latency"]
    print(f"\n{args.requests} requests, {len(result['errors'])} failed"
          + (f", median round trip {latency['median']:.2f} s (max {latency['max']:.2f} s)" if latency else ""))
    print(f"server memory after warm-up: {result['memory_growth_after_warmup_mb']:+.1f} MB ({'flat' if result['memory_flat'] else 'GROWING'})")
    print(f"temp files left per request after warm-up: {result['files_added_per_request_after_warmup']:.2f}"
          f" ({'flat' if result['temp_files_flat'] else 'PILING UP'})")
    print(f"results written to {args.out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
