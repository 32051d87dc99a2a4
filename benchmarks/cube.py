"""Throughput of `remove_cube` on a large georeferenced cube: one process versus a Dask LocalCluster.

    python -m benchmarks.cube                          # 10 dates x 4 bands x 4096x4096, writes benchmarks/cube.json
    python -m benchmarks.cube --size 1024 --dates 5    # quicker
    python -m benchmarks.cube --device cuda --modes single   # on a CUDA GPU: one process was fastest there (README)
    python -m benchmarks.cube --method blend           # stage 2 without its network (faster where tiles have dates at least 90 % hidden; README)

The cube is real Sentinel-2 DN (the nrt Romania cube in ../shared/data, 10 dates, mirrored out to
the requested size; a synthetic scene where that file is absent), stored as zarr and read
lazily, and the result is written chunk by chunk as zarr, as the command line does. Throughput
is in megapixel-dates per second (pixels x dates / seconds / 1e6); peak memory is each
process's peak resident set (ru_maxrss), including about 0.7 GB for `import torch`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, get_args

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio)
import torch
import xarray as xr

from clear_vision import MAX_FRAMES, ClearVision, Method, open_cube, write_cube
from clear_vision.geo.cluster import local_cluster

from .machine import machine_info, peak_rss_mb
from .synthetic import mirrored_index

DEFAULT_OUT = Path(__file__).resolve().parent / "cube.json"
NRT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "s2_timeseries" / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
NRT_FIRST_DATE = 84  # 2019-06-16 onwards: clear, partly cloudy and fully cloudy dates
FULL_TILE = (10980, 30)  # a Sentinel-2 tile: 10980x10980 px, 30 dates


def _base_tile(dates: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """(T,4,100,100) uint16 DN (B04, B03, B02, B08) and their dates."""
    if NRT.is_file():
        source = xr.open_dataset(NRT, mask_and_scale=False).isel(time=slice(NRT_FIRST_DATE, NRT_FIRST_DATE + dates))
        tile = np.stack([source[name].values for name in ("B4", "B3", "B2", "B8")], axis=1)
        return tile.astype(np.uint16), pd.DatetimeIndex(source["time"].values)
    rng = np.random.default_rng(0)
    tile = (rng.uniform(200, 900, (dates, 4, 100, 100)) + np.where(rng.uniform(size=(dates, 1, 100, 100)) > 0.7, 5000, 0)).astype(np.uint16)
    return tile, pd.date_range("2021-06-01", periods=dates, freq="5D")


def _dates_available() -> int:
    """How many dates `build_cube` can give: the nrt cube's from NRT_FIRST_DATE on, else a cube's most."""
    if not NRT.is_file():
        return MAX_FRAMES
    with xr.open_dataset(NRT) as source:
        return min(MAX_FRAMES, source.sizes["time"] - NRT_FIRST_DATE)


def build_cube(path: Path, size: int, dates: int, chunk: int) -> None:
    """Write a (dates, 4, size, size) uint16 DN cube to zarr, chunk by chunk (never whole in memory)."""
    tile, times = _base_tile(dates)

    def mirrored(block_info: dict | None = None) -> np.ndarray:
        (_, _), (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        rows, cols = mirrored_index(np.arange(y0, y1), tile.shape[2]), mirrored_index(np.arange(x0, x1), tile.shape[3])
        return tile[:, :, rows][:, :, :, cols]

    data = da.map_blocks(mirrored, dtype=np.uint16, chunks=((dates,), (4,), *(((chunk,) * (size // chunk) + ((size % chunk,) if size % chunk else ())),) * 2))
    cube = xr.DataArray(
        data, dims=("time", "band", "y", "x"), name="reflectance",
        coords={"time": times, "band": ["B04", "B03", "B02", "B08"], "y": 5_000_000 - 10.0 * np.arange(size) - 5, "x": 400_000 + 10.0 * np.arange(size) + 5},
        attrs={"scale_factor": 1e-4, "add_offset": 0.0},
    ).rio.write_crs("EPSG:32634").rio.write_nodata(0, encoded=False)
    cube.to_dataset().to_zarr(path, mode="w", zarr_format=2, compute=True)


def run_once(model: ClearVision, source: Path, out: Path, chunk: int) -> float:
    """Seconds to read, remove clouds and write the whole cube on the active scheduler."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    write_cube(model.remove_cube(open_cube(source, chunks=chunk), chunks=chunk), out, format="zarr")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="cube side in pixels (default 4096)")
    parser.add_argument("--dates", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=512, help="spatial chunk in pixels (default: remove_cube's 512)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (one thread each)")
    parser.add_argument("--modes", default="single,cluster", help="which runs: single, cluster")
    parser.add_argument("--threads", type=int, default=None, help="the single process's torch threads, one chunk each (default: torch's)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the networks run (default cpu); with cuda every cluster worker shares the GPU")
    parser.add_argument("--method", choices=get_args(Method), default="learned", help="stage 2's filler (default learned, as `ClearVision.load`)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    available = _dates_available()
    if not 2 <= args.dates <= available:
        parser.error(f"--dates: {args.dates} is not in 2..{available} (a cube takes 2..100 dates; the nrt cube has {available} from 2019-06-16)")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    megapixel_dates = args.size * args.size * args.dates / 1e6
    results: dict[str, Any] = {"machine": machine_info(), "cube": {"dates": args.dates, "bands": 4, "size": args.size, "dtype": "uint16", "chunk": args.chunk, "megapixel_dates": megapixel_dates}, "method": args.method}
    work = Path(tempfile.mkdtemp(prefix="clear-vision-cube-bench-"))
    try:
        build_cube(work / "source.zarr", args.size, args.dates, args.chunk)
        model = ClearVision.load(device=args.device, method=args.method)
        for mode in args.modes.split(","):
            if mode == "single":  # one process: one chunk per core, one torch thread per chunk
                with dask.config.set(scheduler="threads", num_workers=torch.get_num_threads()):
                    seconds = run_once(model, work / "source.zarr", work / "single.zarr", args.chunk)
                results["single"] = {"seconds": seconds, "megapixel_dates_per_s": megapixel_dates / seconds, "threads": torch.get_num_threads(), "device": args.device, "peak_rss_mb": peak_rss_mb()}
                if args.device == "cuda":
                    results["single"]["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
            elif mode == "cluster":
                from distributed import Client

                with local_cluster(args.workers, memory_limit="6GiB") as cluster, Client(cluster) as client:
                    seconds = run_once(model, work / "source.zarr", work / "cluster.zarr", args.chunk)
                    peaks = client.run(peak_rss_mb)
                results["cluster"] = {"seconds": seconds, "megapixel_dates_per_s": megapixel_dates / seconds, "workers": args.workers, "device": args.device, "worker_peak_rss_mb": sorted(peaks.values())}
            else:
                raise SystemExit(f"--modes: {mode!r} is not single or cluster")
            print(json.dumps({mode: results[mode]}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    side, dates = FULL_TILE
    for mode in ("single", "cluster"):
        if mode in results:
            results[mode]["full_tile_hours"] = side * side * dates / 1e6 / results[mode]["megapixel_dates_per_s"] / 3600
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
