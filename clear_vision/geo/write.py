"""Write a `remove_cube` result: Cloud-Optimized GeoTIFFs per date, one zarr store, or one netCDF file.

Everything goes into a staging folder that replaces `out_dir` in one step (see
`clear_vision.io.outputs.StagedFolder`), so a failure leaves nothing half-written. Chunks are
computed and written in parallel by whatever Dask scheduler is active, in passes of a few
chunks per thread so that memory does not grow with the cube; GeoTIFF windows of one
file are written under a lock for that file (a `distributed.Lock` on a cluster), and zarr chunks
need none. netCDF cannot take chunks in parallel: the result goes to a zarr store first, which
is then copied into the netCDF file chunk by chunk. On a cluster, workers must see `out_dir`'s
filesystem (true for a LocalCluster).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import dask
import dask.array as da
import numpy as np
import rasterio
import rasterio.shutil
import xarray as xr
import zarr
from dask.callbacks import Callback
from dask.core import flatten
from rasterio.windows import Window
from tqdm import tqdm

from ..detection.masks import NEIGHBOURHOOD_PX
from ..io.outputs import NETCDF_NAME, REPORT_NAME, ZARR_NAME, StagedFolder
from .cube import BAND_UNITS_ATTRS, INPUT_FILE_COORD, RGB_ATTR, cube_units, north_up_flips, with_units
from .remove import MASK_CLASSES, NO_DATA

__all__ = ["write_cube", "write_cube_into", "cube_file_names", "date_stems", "Format", "ZARR_NAME", "NETCDF_NAME"]

Format = Literal["cog", "zarr", "netcdf"]
_RESULT_VARIABLES = ("clear", "mask", "probability")
_TILE_PX = 256  # GeoTIFF tiles; the default chunk (512) is a multiple, so windows rarely split a tile
_BLOCKS_PER_THREAD = 4  # chunks per Dask thread in one pass: the last chunks of a pass leave threads idle


def cube_file_names(times: Sequence[np.datetime64], format: Format) -> list[str]:
    """The files written for these dates: clear_<date>.tif and mask_<date>.tif (or one zarr store or netCDF file), report.json."""
    if format not in get_args(Format):
        raise ValueError(f"format: {format!r} is not one of {', '.join(get_args(Format))}")
    if format in ("zarr", "netcdf"):
        return [ZARR_NAME if format == "zarr" else NETCDF_NAME, REPORT_NAME]
    return [f"{kind}_{stem}.tif" for stem in date_stems(times) for kind in ("clear", "mask")] + [REPORT_NAME]


def write_cube(result: xr.Dataset, out_dir: str | Path, format: Format = "cog", *, overwrite: bool = False, progress: bool = False) -> list[Path]:
    """Write `clear` and `mask` with CRS, transform, nodata, band names and dates; all or nothing.

    Args:
        result: what `ClearVision.remove_cube` returned (lazy or in memory).
        out_dir: the output folder (created; existing outputs are replaced only with overwrite,
            and then as a whole: the previous run's outputs that this one does not write go too).
        format: "cog" (one Cloud-Optimized GeoTIFF per date for `clear` and for `mask`), "zarr"
            or "netcdf" (one store / file with `clear`, `mask` and `probability`, CF-encoded:
            the input's dtype with its scale_factor and add_offset, its CRS as spatial_ref).
        progress: print a progress bar over chunks to stderr.
    """
    result = _checked_result(result)
    names = cube_file_names(result["time"].values, format)
    with StagedFolder(out_dir, names, overwrite) as staged:
        _write_checked(result, staged.path, format, progress)
        return staged.commit()


def write_cube_into(result: xr.Dataset, folder: Path, format: Format, *, progress: bool = False) -> dict[str, Any]:
    """Write the outputs into an existing (staging) folder; return the report also saved as report.json.

    The cube is written in passes of a few chunks per Dask thread (`_passes`), each pass one
    `compute`. Given the whole cube at once, Dask's static order read about two chunk rows
    ahead, so a worker's memory grew with the cube's width (3.0 GB per worker at 4096 px
    against 1.5 GB at 1024); a pass holds a fixed number of chunks whatever the cube's size.
    """
    return _write_checked(_checked_result(result), folder, format, progress)


def _write_checked(result: xr.Dataset, folder: Path, format: Format, progress: bool) -> dict[str, Any]:
    """`write_cube_into` for a result that `_checked_result` returned (`write_cube` checks it before staging)."""
    started = time.perf_counter()  # a lazy result is computed here: the seconds are the run's
    if result["clear"].rio.crs is None:  # a cube built by hand often loses spatial_ref on the way
        warnings.warn(
            "write_cube: the cube has no CRS, so the outputs are not georeferenced (in Python, give the cube one before remove_cube: cube.rio.write_crs('EPSG:32633'))",
            stacklevel=3,
        )
    names = cube_file_names(result["time"].values, format)
    if format in ("zarr", "netcdf"):
        path = folder / (ZARR_NAME if format == "zarr" else f".{ZARR_NAME}.tmp")
        shares, unfilled = _write_zarr(result, path, progress)
        if format == "netcdf":
            stored = xr.open_zarr(path, mask_and_scale=False)
            stored.to_netcdf(folder / NETCDF_NAME, encoding={name: {"zlib": True, "complevel": 4} for name in stored.data_vars})
            shutil.rmtree(path)
    else:
        result = _north_up(result)
        temporary, layers = [], []
        for index, stem in enumerate(date_stems(result["time"].values)):
            for kind, layer in (("clear", result["clear"][index]), ("mask", result["mask"][index].expand_dims("band"))):
                path = folder / f".{kind}_{stem}.tmp.tif"
                _create_geotiff(path, layer, result, index, kind)
                temporary.append((path, folder / f"{kind}_{stem}.tif", kind))
                layers.append(_Layer(da.asarray(layer.data), _Windows(path), _file_lock(path)))
        _store_in_passes(layers, progress)
        shares, unfilled = _mask_summary(_read_band(path) for path, _, kind in temporary if kind == "mask")
        for source, target, kind in temporary:  # tiled GeoTIFF -> COG with overviews; then drop the draft
            rasterio.shutil.copy(source, target, driver="COG", compress="DEFLATE", blocksize=512, overview_resampling="nearest" if kind == "mask" else "average")
            source.unlink()
    report = _report(result, names, shares, unfilled, format, time.perf_counter() - started)
    (folder / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _checked_result(result: Any) -> xr.Dataset:
    """Refuse, before any staging, what is not `remove_cube`'s Dataset: xarray's own KeyError says
    neither what is missing nor what is expected. `clear` comes back with units attrs for its bands
    as they are now (`cube_units`: a `result.sel(band=...)` keeps the attrs of all the bands)."""
    expected = f"the Dataset that remove_cube returns, with {', '.join(_RESULT_VARIABLES)}"
    if not isinstance(result, xr.Dataset):
        what = f"the DataArray {result.name!r}" if isinstance(result, xr.DataArray) and result.name else f"a {type(result).__name__}"
        raise ValueError(f"result: got {what}; give {expected}")
    missing = [name for name in _RESULT_VARIABLES if name not in result.data_vars]
    if missing:
        raise ValueError(f"result: the Dataset has no {', '.join(missing)}; give {expected}")
    return result.assign(clear=with_units(result["clear"], cube_units(result["clear"])))


def _write_zarr(result: xr.Dataset, path: Path, progress: bool) -> tuple[np.ndarray, int]:
    """The result as one zarr store; the mask shares per date and the pixels left cloudy (see `_report`)."""
    uniform = result.chunk({"y": result["clear"].data.chunksize[2], "x": result["clear"].data.chunksize[3]}) if result["clear"].chunks else result
    # coordinates in memory: to_zarr(compute=False) defers a Dask-backed one (a chunked cube's
    # input_file), and only the three variables are stored below, so it was written empty
    uniform = uniform.assign_coords({name: uniform[name].compute() for name, coord in uniform.coords.items() if coord.chunks})
    # xarray writes the metadata and coordinates; the three variables are stored together in
    # each pass, so each chunk's pipeline runs once for all of them
    uniform.to_zarr(path, mode="w", compute=False, consolidated=False, zarr_format=2)
    group = zarr.open_group(path, mode="r+", zarr_format=2)
    encoded = {name: da.asarray(xr.conventions.encode_cf_variable(uniform[name].variable, name=name).data) for name in uniform.data_vars}  # as to_zarr encodes them
    _store_in_passes([_Layer(data, group[name], False) for name, data in encoded.items()], progress)
    zarr.consolidate_metadata(path, zarr_format=2)
    # the cover from the written mask: a cover computed in the same call ran every chunk a
    # second time on a distributed cluster, which optimises each collection's graph apart
    written = xr.open_zarr(path, mask_and_scale=False)["mask"]
    return _mask_summary(written[index].values for index in range(written.shape[0]))


def _stated_units(clear: xr.DataArray, key: str, default: float | None = None) -> Any:
    """`clear`'s `scale_factor` or `add_offset`: one number, or per band (`with_units` keeps those under `BAND_UNITS_ATTRS`)."""
    return clear.attrs.get(key, clear.attrs.get(BAND_UNITS_ATTRS[key], default))


def _north_up(result: xr.Dataset) -> xr.Dataset:
    """The result north-up, as GeoTIFFs are expected to be (many tools mishandle south-up ones),
    with its transform computed anew (a transform stored with the result describes it as it was)."""
    flips = north_up_flips(result)
    if not flips:
        return result
    flipped = result.isel(flips)
    return flipped.rio.write_transform(flipped.rio.transform(recalc=True))


class _Pass(NamedTuple):
    """A rectangle of whole chunks written by one `compute`."""

    rows: slice
    cols: slice
    chunks: int


def _passes(chunks: tuple[tuple[int, ...], tuple[int, ...]], blocks: int) -> list[_Pass]:
    """Rectangles of whole chunks, at most `blocks` of them each, near square, tiling the (y, x) grid.

    Near square because a pass also reads the ring of chunks around it for their halos: a
    2x4-chunk pass reads 16 of them, a 1x8 one 22.
    """
    row_edges, col_edges = [int(edge) for edge in np.cumsum((0, *chunks[0]))], [int(edge) for edge in np.cumsum((0, *chunks[1]))]
    rows, cols = len(chunks[0]), len(chunks[1])
    across = min(cols, max(1, math.isqrt(2 * blocks)))
    down = max(1, blocks // across)
    return [
        _Pass(slice(row_edges[top], row_edges[min(top + down, rows)]), slice(col_edges[left], col_edges[min(left + across, cols)]), (min(top + down, rows) - top) * (min(left + across, cols) - left))
        for top in range(0, rows, down)
        for left in range(0, cols, across)
    ]


class _Layer(NamedTuple):
    """An array and where it goes: a GeoTIFF's windows or a zarr array, written under `lock` (False: none needed)."""

    data: da.Array
    target: Any
    lock: Any


def _store_in_passes(layers: list[_Layer], progress: bool) -> None:
    """Store the layers, which share one (y, x) chunk grid, in passes of one `compute` each (see
    `write_cube_into`); the progress bar counts a (y, x) chunk, all its dates, bands and layers."""
    passes = _passes(layers[0].data.chunks[-2:], _BLOCKS_PER_THREAD * _threads())
    # closed on failure too, so that an error is printed on a line of its own, not after the bar
    with tqdm(total=sum(done.chunks for done in passes), unit="chunk", desc="chunks", disable=not progress, file=sys.stderr) as bar:
        for rows, cols, _ in passes:
            stores = []
            for data, target, lock in layers:
                region = (slice(None),) * (data.ndim - 2) + (rows, cols)
                stores.append(da.store(data[region], target, lock=lock, regions=region, compute=False))
            _compute(stores, bar)


def date_stems(times: Sequence[np.datetime64]) -> list[str]:
    """One file stem per date, YYYY-MM-DD; a second acquisition on one day gets _2."""
    stems, seen = [], {}
    for value in times:
        day = str(np.datetime_as_string(np.datetime64(value, "D")))
        seen[day] = seen.get(day, 0) + 1
        stems.append(day if seen[day] == 1 else f"{day}_{seen[day]}")
    return stems


def _compute(stores: list[da.Array], bar: tqdm) -> None:
    """Run one pass's stores on the active scheduler: the distributed client if there is one, else
    dask's default. `bar` counts each (y, x) chunk as the last of its blocks is stored, not once
    the pass is done (a pass of minutes left the bar still)."""
    keys = {key for store in stores for key in flatten(store.__dask_keys__())}  # (name, ..., y, x); a store given twice runs once
    left, names = Counter(key[-2:] for key in keys), {key[0] for key in keys}

    def stored(key: Any) -> None:
        if isinstance(key, tuple) and key[0] in names:
            left[key[-2:]] -= 1
            if not left[key[-2:]]:
                bar.update()

    # persisted, not computed: the blocks' keys are then the graph's outputs, which no
    # optimisation fuses away (with one block, compute fused it into its finalize task)
    client = _client()
    if client is None:
        with Callback(posttask=lambda key, *_: stored(key)):  # called on this thread, as each task ends
            dask.persist(*stores)
        return
    from distributed import as_completed, futures_of

    # unoptimised: blockwise fusion names fused tasks alike in every pass (trim-getitem-...), and a
    # fused key still being released from the last pass made the scheduler fail with a KeyError once
    # in CI (cf. dask/dask#9888); the scheduler still runs only what the pass's stores need
    for future in as_completed(futures_of(client.persist(stores, optimize_graph=False))):  # one graph per pass
        future.result()  # raises a chunk's error
        stored(future.key)


def _threads() -> int:
    """How many chunks the active scheduler runs at once."""
    client = _client()
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _client() -> Any:
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _file_lock(path: Path) -> Any:
    if _client() is not None:
        from distributed import Lock

        return Lock(f"clear-vision-write-{path}")
    return threading.Lock()


class _Windows:
    """A `da.store` target that writes each (band, y, x) block into its window of a GeoTIFF."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __setitem__(self, key: tuple[slice, slice, slice], block: np.ndarray) -> None:
        window = Window.from_slices(key[1], key[2])
        with rasterio.open(self.path, "r+") as target:
            target.write(block, window=window)


def _create_geotiff(path: Path, layer: xr.DataArray, result: xr.Dataset, index: int, kind: str) -> None:
    """An empty tiled GeoTIFF with the grid, nodata, band names, units and date of one output."""
    bands, height, width = layer.shape
    clear = result["clear"]
    nodata = NO_DATA if kind == "mask" else clear.rio.nodata
    if nodata is None and np.issubdtype(layer.dtype, np.floating):
        nodata = np.nan  # a cube's NaN is no data (remove_cube reads it so): the tag says it to GIS tools
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": layer.dtype.name,
        "crs": clear.rio.crs, "transform": clear.rio.transform(), "nodata": nodata,
        "tiled": True, "blockxsize": _TILE_PX, "blockysize": _TILE_PX, "compress": "DEFLATE", "BIGTIFF": "IF_SAFER",
    }
    moment = np.datetime64(result["time"].values[index], "s")  # naive UTC, as open_cube gives times
    date = str(np.datetime64(moment, "D"))
    with rasterio.open(path, "w", **profile) as target:
        target.update_tags(ACQUISITION_DATE=date, SOURCE="Clear Vision cloud removal")
        if moment != np.datetime64(date):  # a time of day: a day's two acquisitions (Landsat 8 France, 24 s apart) told apart
            target.update_tags(ACQUISITION_TIME=f"{moment}Z")
        if INPUT_FILE_COORD in result.coords:
            target.update_tags(INPUT_FILE=str(result[INPUT_FILE_COORD].values[index]))
        if kind == "mask":
            target.set_band_description(1, "mask")
            target.update_tags(1, CLASSES=json.dumps({str(value): name for value, name in MASK_CLASSES.items()}))
        else:
            target.update_tags(FILL_METHOD=clear.attrs.get("fill_method", ""), RGB_BANDS=_rgb_band_names(result) or "")
            scales = np.broadcast_to(_stated_units(clear, "scale_factor", 1.0), (bands,))
            offsets = np.broadcast_to(_stated_units(clear, "add_offset", 0.0), (bands,))
            target.scales, target.offsets = tuple(map(float, scales)), tuple(map(float, offsets))
            for band, name in enumerate(_band_names(clear), start=1):
                target.set_band_description(band, name)


def _band_names(clear: xr.DataArray) -> list[str]:
    """The bands' names: the band coordinate, or where it only numbers them (1, 2, ... as rioxarray's
    `open_rasterio` gives them), the band descriptions it keeps beside them in `long_name`."""
    names = [str(value) for value in clear["band"].values]
    described = clear.attrs.get("long_name")
    if np.issubdtype(clear["band"].dtype, np.integer) and isinstance(described, (tuple, list)) and len(described) == len(names) and all(described):
        return [str(name) for name in described]
    return names


def _rgb_band_names(result: xr.Dataset) -> str | None:
    """The bands the networks saw as red, green and blue (the result's `rgb_bands`), named as `_band_names` names them."""
    numbers, names = [str(value) for value in result["clear"]["band"].values], _band_names(result["clear"])
    stated = result.attrs.get(RGB_ATTR)
    return None if stated is None else ",".join(names[numbers.index(band)] if band in numbers else band for band in str(stated).split(","))


def _report(result: xr.Dataset, names: list[str], shares: np.ndarray, unfilled: int, format: Format, seconds: float) -> dict[str, Any]:
    """report.json; `shares` (T, 2): per date the share of pixels masked (no data included, as in
    the frames' reports) and the share with no data (1 for a date with no observation at all);
    `unfilled`: the pixels cloudy on every date with data (`_mask_summary`); `seconds`
    spent writing (and so computing a lazy result), as the frames' report has its run's."""
    clear = result["clear"]
    notes = [note for note in (_whole_dates_note(result, shares), _unfilled_note(unfilled, clear.shape[-2] * clear.shape[-1]), _empty_note(shares)) if note]
    return {
        "dates": [str(np.datetime_as_string(np.datetime64(value, "D"))) for value in result["time"].values],
        "cloud_cover": [round(float(value), 4) for value in shares[:, 0]],
        "no_data": [round(float(value), 4) for value in shares[:, 1]],
        "files": names,
        "input_files": [str(name) for name in result[INPUT_FILE_COORD].values] if INPUT_FILE_COORD in result.coords else None,  # a day's two acquisitions told apart
        "format": format,
        "bands": _band_names(clear),
        "rgb_bands": _rgb_band_names(result),  # what the networks saw as red, green, blue: a plain B2,B3,B4 file taken in that order swaps red and blue
        "dtype": clear.dtype.name,
        "scale_factor": _stated_units(clear, "scale_factor"),
        "add_offset": _stated_units(clear, "add_offset"),
        "crs": None if clear.rio.crs is None else clear.rio.crs.to_string(),
        "mask_classes": {str(value): name for value, name in MASK_CLASSES.items()},
        "method": result.attrs.get("method"),
        "fill_threshold": result.attrs.get("fill_threshold"),
        "fill_method": result.attrs.get("fill_method"),
        "device": result.attrs.get("device"),
        "seconds": round(seconds, 3),
        "unfilled_pixels": unfilled,
        "warnings": notes,
    }


def _read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as source:
        return source.read(1)


def _mask_summary(masks: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
    """From the written masks, one date at a time, each read once: per date the shares of pixels not
    clear and with no data (T, 2), and how many pixels are cloud or shadow on some date and masked on
    all of them (cloud, shadow or no data): nothing clear to fill them from, so they keep their input values."""
    shares, masked_always, cloudy_once = [], None, None
    for mask in masks:
        masked, missing = mask != 0, mask == NO_DATA
        shares.append((masked.mean(), missing.mean()))
        masked_always = masked if masked_always is None else masked_always & masked
        cloudy_once = (masked & ~missing) if cloudy_once is None else cloudy_once | (masked & ~missing)
    return np.array(shares), 0 if masked_always is None else int(np.count_nonzero(masked_always & cloudy_once))


def _unfilled_note(unfilled: int, pixels: int) -> str | None:
    """The note on pixels left cloudy: in the mask they are cloud or shadow like the filled ones."""
    if not unfilled:
        return None
    return (
        f"{unfilled} pixel(s) ({unfilled / pixels:.2%} of the scene) are cloud or shadow on every date with data: with no clear date "
        "to fill them from they keep their input values, though the mask marks them cloud or shadow (find them: masked on every date)"
    )


def _empty_note(shares: np.ndarray) -> str | None:
    """The note on a cube without a pixel of data (nodata or NaN everywhere): written as it came,
    which a user would otherwise take for a run that found nothing to do."""
    if len(shares) and (shares[:, 1] >= 1).all():
        return "no date has a pixel with data (every value is the nodata value or NaN): nothing was detected or filled; check the files or their nodata tag"
    return None


def _whole_dates_note(result: xr.Dataset, shares: np.ndarray) -> str | None:
    """A note on the dates masked whole: partly clear ones among them are the whole-frame rules' doing,
    which a user reading "100 %" for a date that looks half clear cannot guess (`run`'s frames get a
    sharper note, with each frame's detected share, from the probabilities a cube's writer does not keep)."""
    whole = [str(np.datetime_as_string(np.datetime64(value, "D"))) for value, (masked, no_data) in zip(result["time"].values, shares) if masked >= 1 and no_data < 1]
    if not whole:
        return None
    threshold = result.attrs.get("fill_threshold")
    return (
        f"date(s) {', '.join(whole)} masked whole: besides overcast dates, the whole-frame rules mask a date mostly detected as cloud, "
        f"or partly detected with a hazy rest, all over (on scenes over {NEIGHBOURHOOD_PX} px, each {NEIGHBOURHOOD_PX} px square around a pixel is judged), so such a date "
        f"may look partly clear; a higher fill threshold{f' (now {threshold:g})' if threshold is not None else ''} keeps more of them"
    )
