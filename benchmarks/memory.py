"""Peak memory of `ClearVision.run` on large frames: does it stay bounded as the frames grow?

    python -m benchmarks.memory --sizes 2048,4096 --frames 10 --threads 1

Each size runs in a fresh process on PNG files (as the app and the command line get them: the
decoded input is the process's own), so its peak resident set (VmHWM) is the run's alone:
imports, the model, the decoded input, the result arrays and whatever the pipeline holds on
top. `--input array` passes a (T,H,W,3) array instead (it is decoded into a copy as well).
The frames are a seeded synthetic 512x512 sequence mirrored out to the size, so every chunk
has clouds to fill. Writes benchmarks/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from .machine import machine_info, peak_rss_mb
from .synthetic import mirrored_index, synthetic_sequence, write_frames

DEFAULT_OUT = Path(__file__).resolve().parent / "memory.json"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGETS_MB = {2048: 2000, 4096: 2500}  # issue 14: 10 frames under 2.0 GB and 2.5 GB


def large_frames(frames: int, size: int, seed: int = 0) -> np.ndarray:
    """(frames, size, size, 3) uint8: a 512x512 synthetic sequence mirrored out to the size."""
    tile, _ = synthetic_sequence(frames, min(size, 512), min(size, 512), seed=seed)
    index = mirrored_index(np.arange(size), tile.shape[1])
    return tile[:, index][:, :, index]


def child(folder: Path, threads: int, as_array: bool) -> dict[str, Any]:
    """In a fresh process: load the model, run once on the frames in `folder`, report memory."""
    import torch

    from clear_vision import ClearVision
    from clear_vision.io.decode import collect_image_paths, load_frames

    torch.set_num_threads(threads)
    model = ClearVision.load(device="cpu")
    paths = collect_image_paths([folder])
    frames: Any = load_frames(paths) if as_array else paths
    before = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    result = model.run(frames)
    seconds = time.perf_counter() - started
    arrays = (result.frames, result.masks, result.probability, result.mask_class)
    return {
        "seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
        "result_mb": sum(array.nbytes for array in arrays) / 2**20, "probability_dtype": str(result.probability.dtype),
        "cloud_cover": float(result.cloud_cover.mean()),
    }


def measure(size: int, frames: int, threads: int, as_array: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="clear-vision-memory-") as scratch:
        write_frames(large_frames(frames, size), Path(scratch))
        command = [sys.executable, "-m", "benchmarks.memory", "--child", scratch, "--threads", str(threads)] + (["--input", "array"] if as_array else [])
        done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"memory benchmark at {size} px failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(frames=frames, size=size, megapixel_dates_per_s=frames * size * size / 1e6 / result["seconds"])
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2048,4096", help="frame sides, comma-separated")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the run (default 1)")
    parser.add_argument("--input", choices=("paths", "array"), default="paths")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.input == "array")))
        return {}
    results: dict[str, Any] = {"machine": machine_info(), "input": args.input, "threads": args.threads, "runs": []}
    for size in (int(value) for value in args.sizes.split(",")):
        run = measure(size, args.frames, args.threads, args.input == "array")
        target = TARGETS_MB.get(size)
        print(f"{args.frames} frames of {size}x{size} ({args.input}): {run['seconds']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB"
              f" (before the run {run['rss_before_mb']:.0f} MB, result arrays {run['result_mb']:.0f} MB)"
              + (f", target < {target} MB" if target else ""), flush=True)
        results["runs"].append(run)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
