"""Cloud removal for a whole cube, chunk by chunk: the same numbers eagerly and on any Dask scheduler.

The cube is cut into a fixed grid of spatial chunks (all dates and bands in each), every chunk
is processed with a halo of its neighbours' pixels, and the halo is trimmed again. The colour
match of the fillers fits each frame of a chunk as a whole, so the numbers depend on the chunk
grid: the grid is set by `chunks` alone (not by how the input happens to be stored), and the
eager path runs the very same grid; each chunk runs on one torch thread. So the eager path, the
threads, processes and synchronous schedulers, a `distributed.LocalCluster` or a remote cluster
all give bit-identical results (on the same kind of CPU).
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import dask
import dask.array as da
import numpy as np
import torch
import xarray as xr

from ..detection.masks import NO_DATA
from ..filling.classical import linear_fill, nearest_fill
from ..io.decode import MAX_FRAMES, MAX_PIXELS, MIN_FRAMES, MIN_SIDE, no_data_pixels, parse_dates, split_dates
from ..tiling import CHUNK_PX, HALO_PX, chunk_grid
from .cube import DIMS, RGB_ATTR, Chunks, acquisition_times, class_bands, cube_rgb, cube_units, describe_time, north_up_flips, whole_number, with_standard_dims, with_units
from .units import MAX_REFLECTANCE, Units, check_magnitude, describe_unknown, render_rgb, suspect_dark_units, suspect_missing_offset

if TYPE_CHECKING:
    from ..pipeline import ClearVision, CloudRemovalOutput

__all__ = ["remove_cube", "rendered_frames", "remove_cube_with", "cube_frames", "stated_nodata", "check_cube", "check_chunk", "chunk_grid", "model_gain", "off_nodata", "DEFAULT_CHUNK_PX", "HALO_PX", "MASK_CLASSES", "NO_DATA", "FILL_METHOD"]

DEFAULT_CHUNK_PX = CHUNK_PX
MASK_CLASSES = {0: "clear", 1: "cloud", 2: "shadow", NO_DATA: "no data"}  # `mask_classes` values
FILL_METHOD = (
    "RGB bands: Clear Vision's temporal-attention network on the 8-bit rendering "
    "uint8(clip(reflectance x gain, 0, 1) x 255 + 0.5), mapped back to reflectance (8-bit steps of 1/(255 x gain)); "
    "where that rendering saturates (reflectance >= 1/gain) and for every other band: the classical 'linear' filler "
    "(per pixel, linear in time between the previous and next clear date with data in that band, the nearest at the ends), "
    "with the same masks; classification and quality bands (SCL, Fmask, QA..., CLM): the value of the clear date "
    "nearest in time, never a blend of two classes. Pixels outside the mask are the input's own values."
)

_MODELS: dict[str, "ClearVision"] = {}
_MODELS_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run a chunk on one torch thread, so its float sums add up in one order in every process.

    With 2 threads in the caller and 1 in a Dask worker, the detector's probabilities differed
    in the last bit. Chunks run in parallel instead (the eager path uses one thread per core).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _ModelHandle:
    """A picklable reference to a ClearVision: rebuilt once per worker process, then reused.

    It travels as one task of the graph, so a distributed worker receives it once, not with every
    chunk (the processes scheduler sends it along with each chunk, but unpickles it once per process).
    """

    def __init__(self, model: "ClearVision") -> None:
        self.payload = pickle.dumps(model)
        self.key = hashlib.sha256(self.payload).hexdigest()
        _MODELS.setdefault(self.key, model)

    def get(self) -> "ClearVision":
        with _MODELS_LOCK:
            if self.key not in _MODELS:
                _MODELS[self.key] = pickle.loads(self.payload)
            return _MODELS[self.key]


def model_gain(model: "ClearVision") -> float:
    """The gain the model's bundle states for rendering reflectance."""
    return float(model.config.preprocessing.gain)


def remove_cube(
    model: "ClearVision",
    cube: xr.DataArray,
    *,
    rgb: Sequence[str] | None = None,
    chunks: Chunks = None,
) -> xr.Dataset:
    """Remove clouds from every band of a (time, band, y, x) cube; see `ClearVision.remove_cube`."""
    cube, units, rgb, rgb_index, stored = check_cube(cube, rgb)
    chunk = check_chunk(chunks)
    rgb_units = units.of_bands(rgb_index)  # a class band's scale 1 is not theirs
    note = suspect_missing_offset(stored, rgb_units) or suspect_dark_units(stored, rgb_units, cube.rio.nodata)
    if note:
        warnings.warn(note, stacklevel=3)
    flips = north_up_flips(cube)  # processed north-up: the networks are not flip invariant (sun and shadow geometry)
    cube = cube.isel(flips)
    steps, bands, height, width = cube.shape
    grid = ((steps,), (bands,), chunk_grid(height, chunk), chunk_grid(width, chunk))
    lazy = cube.chunks is not None
    data = cube.data.rechunk(grid) if lazy else da.from_array(cube.values, chunks=grid)
    days = [str(np.datetime_as_string(value, unit="D")) for value in cube["time"].values]
    depth = {0: 0, 1: 0, **{axis: HALO_PX if len(grid[axis]) > 1 else 0 for axis in (2, 3)}}  # one chunk across: no neighbour to borrow from
    packed_dtype = np.result_type(cube.dtype, np.float32)
    halo = da.overlap.overlap(data, depth=depth, boundary="none")
    packed = halo.map_blocks(
        _remove_block,
        dtype=packed_dtype,
        meta=np.empty((0, 0, 0, 0), dtype=packed_dtype),
        chunks=(halo.chunks[0], (bands + 2,), halo.chunks[2], halo.chunks[3]),
        handle=dask.delayed(_ModelHandle(model), pure=True),
        days=days,
        rgb_index=rgb_index,
        class_index=class_bands([str(name) for name in cube["band"].values]),
        units=units,
        nodata=stated_nodata(cube),
        gain=model_gain(model),
        name="clear-vision-remove",
    )
    packed = da.overlap.trim_internal(packed, depth, boundary="none")
    result = _to_dataset(with_units(cube, units), packed, rgb, model).isel(flips)  # back in the input's orientation
    return result if lazy else result.compute(scheduler="threads", num_workers=torch.get_num_threads())


def rendered_frames(model: "ClearVision", cube: xr.DataArray, rgb: Sequence[str] | None = None) -> np.ndarray:
    """The (T,H,W,3) uint8 frames of an eager cube, north-up, exactly as `remove_cube` shows them
    to the networks: run them through `model.run` and give the result to `remove_cube_with`."""
    checked, block, units, rgb_index, class_index, nodata, _ = _whole_cube(cube, rgb)
    return cube_frames(block, units, nodata, rgb_index, class_index, model_gain(model))[2]


def remove_cube_with(model: "ClearVision", cube: xr.DataArray, result: "CloudRemovalOutput", rgb: Sequence[str] | None = None) -> xr.Dataset:
    """`remove_cube`'s Dataset for an eager cube from the pipeline's result on its `rendered_frames`:
    every band filled with that result's masks, without running the networks again (the web app
    shows the result and returns the GeoTIFFs of one run)."""
    checked, block, units, rgb_index, class_index, nodata, flips = _whole_cube(cube, rgb)
    gain = model_gain(model)
    reflectance, missing, frames = cube_frames(block, units, nodata, rgb_index, class_index, gain)
    if result.frames.shape != frames.shape:
        raise ValueError(f"result: {result.frames.shape[:3]} frames are not the cube's rendered frames {frames.shape[:3]}; run model.run(rendered_frames(model, cube))")
    dates = parse_dates([str(np.datetime_as_string(value, unit="D")) for value in checked["time"].values], len(block))
    packed = _packed(block, reflectance, missing, result, dates, rgb_index, class_index, units, nodata, gain)
    names = [str(name) for name in checked["band"].values]
    return _to_dataset(with_units(checked, units), packed, [names[index] for index in rgb_index], model).isel(flips)  # back in the input's orientation, as `remove_cube`'s


def _whole_cube(cube: xr.DataArray, rgb: Sequence[str] | None) -> tuple[xr.DataArray, np.ndarray, Units, list[int], list[int], float | None, dict[str, slice]]:
    """(the checked cube north-up, its stored values, units, RGB and class band indices, nodata, the
    flips that made it north-up and give the input's orientation back) of an eager cube."""
    checked, units, _, rgb_index, _ = check_cube(cube, rgb)
    flips = north_up_flips(checked)
    checked = checked.isel(flips)
    class_index = class_bands([str(name) for name in checked["band"].values])
    return checked, np.asarray(checked.values), units, rgb_index, class_index, stated_nodata(checked), flips


def check_chunk(chunks: Chunks, option: str = "chunks") -> int:
    """The spatial chunk `remove_cube` works in: None gives the default; refused outside what one chunk
    with its halo may hold, in the words of where it was given (`option`: the command line's --chunk)."""
    chunk = whole_number(DEFAULT_CHUNK_PX if chunks is None else chunks)
    if chunk is None or not 64 <= chunk <= int(MAX_PIXELS**0.5) - 2 * HALO_PX:
        default = f"None ({DEFAULT_CHUNK_PX})" if option == "chunks" else f"leave it out ({DEFAULT_CHUNK_PX})"
        raise ValueError(f"{option}: {chunks!r} is not a chunk size; give a whole number of pixels in [64, {int(MAX_PIXELS**0.5) - 2 * HALO_PX}], or {default}")
    return chunk


def check_cube(cube: xr.DataArray, rgb: Sequence[str] | None) -> tuple[xr.DataArray, Units, tuple[str, ...], list[int], np.ndarray]:
    """The cube with naive UTC times (`acquisition_times`, as `open_cube` reads them), its units,
    its red, green and blue band names (found by name when `rgb` is None), their indices, and
    the stored red, green and blue of its first chunk, read to check their magnitude
    (`_first_chunk_rgb`; `remove_cube` checks its units on them too)."""
    if isinstance(cube, xr.DataArray):  # openEO's client gives (t, bands, y, x)
        cube = with_standard_dims(cube)
        cube = cube.transpose(*DIMS) if set(cube.dims) == set(DIMS) else cube
    if not isinstance(cube, xr.DataArray) or tuple(cube.dims) != DIMS:
        got = tuple(cube.dims) if isinstance(cube, xr.DataArray) else type(cube).__name__
        raise ValueError(
            f"cube: expected an xarray.DataArray with dims {DIMS} (lat/lon, t and bands are renamed so; see clear_vision.open_cube), got {got}"
            + ("; rename them: cube.rename({...})" if isinstance(cube, xr.DataArray) else "")
        )
    steps, _, height, width = cube.shape
    if steps < MIN_FRAMES:
        raise ValueError(f"cube: {steps} date{'s' if steps != 1 else ''}; clouds are filled from other dates, so a cube needs at least {MIN_FRAMES} (add dates, or select a wider time range: on the command line --start/--end)")
    times = acquisition_times(cube)
    if steps > MAX_FRAMES:
        first, last = ("START", "END") if times is None else (str(value.date()) for value in times[[0, MAX_FRAMES - 1]])
        raise ValueError(
            f"cube: {steps} dates; a cube holds at most {MAX_FRAMES} (each chunk holds all of them in memory); select a time range: "
            f"cube.sel(time=slice('{first}', '{last}')){f' keeps its first {MAX_FRAMES}' if times is not None else ''}, on the command line --start {first} --end {last}"
        )
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"cube: {height}x{width} pixels is too small; at least {MIN_SIDE}x{MIN_SIDE}")
    if times is None:
        raise ValueError(
            f"cube: needs a 'time' coordinate of dates (datetimes, ISO strings or cftime dates), found {describe_time(cube)}; "
            "open_cube(..., dates=[...]) or cube.assign_coords(time=[...]) sets one"
        )
    cube = cube.assign_coords(time=times)
    if np.any(np.diff(cube["time"].values).astype(np.int64) < 0):
        raise ValueError("cube: dates must be in time order; use cube.sortby('time')")
    names = [str(name) for name in cube["band"].values]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"cube: band name(s) {', '.join(repeated)} repeat (bands {', '.join(names)}); every band needs its own name")
    if len(names) < 3:
        raise ValueError(f"cube: {len(names)} band(s) ({', '.join(names)}); the networks need red, green and blue: give a cube with at least those three bands")
    if isinstance(rgb, str):  # "B04,B03,B02", split as the command line splits it
        rgb = split_dates(rgb) or ()
    if rgb is None:
        rgb = cube_rgb(cube)
        if rgb is None:
            raise ValueError(f"rgb: no band of the cube is named red/green/blue or B04/B03/B02 (its bands are {', '.join(names)}); give rgb=(red, green, blue)")
    rgb = tuple(_band_named(str(name), names) for name in rgb)
    if len(rgb) != 3 or any(name not in names for name in rgb):
        raise ValueError(f"rgb: {tuple(rgb)!r} must name the red, green and blue bands of the cube; its bands are {', '.join(names)}")
    if len(set(rgb)) < 3:
        raise ValueError(f"rgb: {tuple(rgb)!r} names a band twice; red, green and blue are three bands of the cube ({', '.join(names)})")
    if any(names.index(name) in class_bands(names) for name in rgb):
        raise ValueError(f"rgb: {tuple(rgb)!r} names a classification or quality band; give the red, green and blue reflectance bands")
    if not (np.issubdtype(cube.dtype, np.integer) or np.issubdtype(cube.dtype, np.floating)):
        raise ValueError(f"cube: {cube.dtype} values are not accepted; use integer digital numbers or float reflectance")
    units = cube_units(cube)  # per-band values taken by band name, or refused here: inside a Dask task a mismatch is a broadcast error
    if units is None:
        raise ValueError(describe_unknown(cube.dtype))
    _check_grid(cube)
    rgb_index = [names.index(name) for name in rgb]
    stored = _first_chunk_rgb(cube, rgb_index)
    values = stored.astype(np.float64)
    if cube.rio.nodata is not None:
        values[stored == cube.rio.nodata] = np.nan
    check_magnitude(units.of_bands(rgb_index).to_reflectance(values), units.of_bands(rgb_index))  # before the model loads; every chunk checks itself too
    return cube, units, rgb, rgb_index, stored


def _check_grid(cube: xr.DataArray) -> None:
    """Refuse what the outputs' georeference would get wrong: x or y coordinates not evenly spaced
    (rows cut out of a netCDF; a GeoTIFF's transform has one pixel size, fitted it misplaces
    pixels), and a no-data value the cube's type cannot hold (rioxarray's own error says neither)."""
    for dim in ("y", "x"):
        if dim in cube.coords and cube.sizes[dim] > 2 and np.issubdtype(cube[dim].dtype, np.number):
            steps = np.diff(cube[dim].values.astype(np.float64))
            if np.abs(steps - np.median(steps)).max() > 0.01 * np.abs(np.median(steps)):
                raise ValueError(
                    f"cube: its {dim} coordinate is not evenly spaced (steps {steps.min():g}..{steps.max():g}); the outputs' grid has one pixel "
                    "size: give the whole grid, or resample it to a regular one first (rioxarray's reproject)"
                )
    try:
        cube.rio.nodata
    except ValueError:  # rioxarray casting a NaN fill value to the integer type
        raise ValueError(
            f"cube: its no-data value (_FillValue or nodata attr) is NaN, which {cube.dtype} values cannot hold (attrs kept from a float cube?); "
            "state one they can: cube.rio.write_nodata(0), or drop the attr"
        ) from None


def _first_chunk_rgb(cube: xr.DataArray, rgb_index: list[int]) -> np.ndarray:
    """The stored red, green and blue of the cube's first chunk (its first Dask block, else
    CHUNK_PX square), read now: cheap on any cube."""
    rows, cols = (cube.chunks[2][0], cube.chunks[3][0]) if cube.chunks is not None else (CHUNK_PX, CHUNK_PX)
    return np.asarray(cube.isel(band=rgb_index, y=slice(0, rows), x=slice(0, cols)).values)


def _band_named(name: str, names: list[str]) -> str:
    """The cube's band that `name` means: itself, else the one band spelled with or without the
    number's leading zero (B04 for B4, as Sentinel-2's files and other tools spell them), else the
    one whose name ends in it after a separator (B04 for openEO's S2-L2A-B04, as red/green/blue
    are recognised by default)."""
    if name in names:
        return name
    wanted = _without_leading_zeros(name)
    for matches in (lambda band: _without_leading_zeros(band) == wanted, lambda band: _without_leading_zeros(re.split(r"[-_. ]", band)[-1]) == wanted):
        spelled = [band for band in names if matches(band)]
        if spelled:
            return spelled[0] if len(spelled) == 1 else name
    return name


def _without_leading_zeros(name: str) -> str:
    return re.sub(r"(?<=[A-Za-z])0+(?=\d)", "", name).upper()


def stated_nodata(cube: xr.DataArray) -> float | None:
    """The cube's nodata value as `cube_frames` takes it: None where it states none, or NaN (NaN is found as NaN)."""
    nodata = cube.rio.nodata
    return None if nodata is None or np.isnan(nodata) else nodata


def cube_frames(block: np.ndarray, units: Units, nodata: float | None, rgb_index: list[int], class_index: list[int], gain: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored (T,B,h,w) values -> (reflectance (T,B,h,w), NaN where a band has no data; no data
    (T,h,w), where red, green or blue has none; the 8-bit RGB frames (T,h,w,3) the networks see):
    what every path that runs the networks on a cube renders.

    A pixel is no data by its red, green and blue alone: a band the networks do not see (a 20 m
    band's edge, a missing NIR) takes nothing from a pixel whose RGB is there, and is NaN only in
    its own reflectance.
    """
    reflectance = units.to_reflectance(block)
    for band in range(block.shape[1]):
        if band in class_index:  # a class band's values are classes: 0 is "clear" in a cloud mask, whatever the file's nodata
            continue
        absent = np.isnan(block[:, band]) if np.issubdtype(block.dtype, np.floating) else np.zeros(block[:, band].shape, bool)
        if nodata is not None:
            absent |= block[:, band] == nodata
        reflectance[:, band][absent] = np.nan
    rgb = reflectance[:, rgb_index]  # (T,3,h,w), one copy for the tests below, kept in step with `reflectance`
    missing = np.isnan(rgb).any(axis=1)
    check_magnitude(rgb, units)
    # red, green or blue far above any reflectance on a few pixels: a fill value no tag declares
    # (Landsat 8 France's edge wedge of DN 64537 read as 6.45): no data, not bright cloud that
    # the whole-frame rule counts. Other bands may hold anything (thermal in kelvin, indices).
    impossible = (rgb > MAX_REFLECTANCE).any(axis=1)
    if impossible.any():
        missing |= impossible
        rgb[np.broadcast_to(impossible[:, None], rgb.shape)] = np.nan
        for band in rgb_index:
            reflectance[:, band][impossible] = np.nan
    frames = render_rgb(np.moveaxis(rgb, 1, -1), gain)  # NaN (no data) renders black
    # Where the cube states no nodata value (or NaN), black is no data, as on the frames path, where
    # no RGB band is above 0: fill values no tag declares (0, -1, -9999). Where it states one, that
    # value is the no data, and water slightly below 0 after atmospheric correction stays data. A
    # valid pixel that renders black (deep water: DN 1..6 at gain 3) is seen as the darkest non-black.
    black = no_data_pixels(frames)
    if nodata is None:
        missing |= black & ~(np.nan_to_num(rgb, nan=0.0) > 0).any(axis=1)
    frames[black & ~missing] = (0, 0, 1)
    return reflectance, missing, frames


def _remove_block(
    block: np.ndarray, handle: _ModelHandle, days: list[str], rgb_index: list[int], class_index: list[int], units: Units, nodata: float | None, gain: float
) -> np.ndarray:
    """One chunk with its halo: (T,B,h,w) input -> (T,B+2,h,w): clear bands, mask class, probability."""
    reflectance, missing, frames = cube_frames(block, units, nodata, rgb_index, class_index, gain)
    dates = parse_dates(days, len(block))
    with _one_torch_thread():
        result = handle.get().process_chunk(frames, dates)
        return _packed(block, reflectance, missing, result, dates, rgb_index, class_index, units, nodata, gain)


def _packed(
    block: np.ndarray,
    reflectance: np.ndarray,
    missing: np.ndarray,
    result: "CloudRemovalOutput",
    dates: np.ndarray,
    rgb_index: list[int],
    class_index: list[int],
    units: Units,
    nodata: float | None,
    gain: float,
) -> np.ndarray:
    """(T,B+2,h,w): the block's bands filled where `result` (the pipeline's, on `cube_frames`' frames)
    replaced pixels, in the stored units and type; its mask classes; its probability."""
    steps, bands, height, width = block.shape
    measured = [band for band in range(bands) if band not in class_index]
    masks = result.masks
    replace = masks & ~result.unfilled
    values, known = _filled_values(reflectance, masks, dates, result.frames, rgb_index, measured, gain, replace)
    classes_filled = _nearest_values(block[:, class_index], masks, dates, replace)
    clear = block.copy()
    for band in measured:  # back to the stored units only where a pixel is replaced and the band has a value for it
        stored = off_nodata(units.of_bands([band]).from_reflectance(values[band][None, None], block.dtype)[0, 0], nodata)
        clear[:, band][replace] = np.where(known[band], stored, clear[:, band][replace])
    for position, band in enumerate(class_index):  # class bands: stored values, copied
        clear[:, band][replace] = classes_filled[position]
    if nodata is None and np.issubdtype(block.dtype, np.floating):  # written with NaN as nodata: no data left unfilled says so too
        for band in measured:  # (an untagged fill value, -9999 say, was read as no data because it renders black: in every band)
            clear[:, band][missing & ~replace] = np.nan
    classes = np.where(masks, np.where(result.mask_class == 2, 2, 1), 0).astype(np.uint8)  # 1 cloud, 2 shadow; anything else masked counts as cloud
    classes[missing] = NO_DATA
    packed = np.empty((steps, bands + 2, height, width), dtype=np.result_type(block.dtype, np.float32))
    packed[:, :bands], packed[:, bands], packed[:, bands + 1] = clear, classes, result.probability
    return packed


def off_nodata(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Filled values with any that equal the file's nodata moved to the nearest other value: a
    dark fill rounded to DN 0 under nodata 0 was a hole to every GIS tool (seen on a cube with
    no-data edges on some dates: 4 of 20 million filled pixels)."""
    if nodata is None or not (hit := values == nodata).any():
        return values
    if np.issubdtype(values.dtype, np.integer):
        values[hit] = nodata + 1 if nodata < np.iinfo(values.dtype).max else nodata - 1
    else:
        values[hit] = np.nextafter(values.dtype.type(nodata), values.dtype.type(np.inf))
    return values


def _filled_values(
    reflectance: np.ndarray, masks: np.ndarray, days: np.ndarray, network_rgb: np.ndarray, rgb_index: list[int], linear_bands: list[int], gain: float, replace: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """((B, N) reflectance of the RGB and `linear_bands` at the N replaced pixels, (B, N) whether each
    has a value): the network's RGB where it is not saturated, else `linear`.

    `linear` works per pixel on any band and any units (no clipping to [0,1], no RGB-specific
    colour or haze rules), so it fills NIR and SWIR as faithfully as the visible bands. It runs
    once for all the bands that need it, each from the clear dates where it has data (NaN in
    `reflectance`): a band with data on none of them has no value there.
    """
    bands = reflectance.shape[1]
    saturated = (network_rgb[replace] == 255).any(axis=-1)
    values = np.empty((bands, len(saturated)), np.float32)
    known = np.ones((bands, len(saturated)), bool)
    linear_bands = [band for band in linear_bands if band not in rgb_index or saturated.any()]
    if linear_bands:
        absent = np.isnan(reflectance[:, linear_bands])
        band_masks = masks[:, None] | absent  # (T,C,h,w): a date without the band's data is no source of it
        values[linear_bands] = _classical_values(linear_fill, np.nan_to_num(reflectance[:, linear_bands], nan=0.0), band_masks, days, replace)
        shown = (~band_masks).any(axis=0)  # (C,h,w): some date has the band there, clear (the replaced date itself is masked)
        known[linear_bands] = np.broadcast_to(shown[:, None], (len(linear_bands), *masks.shape))[:, replace]
    for channel, band in enumerate(rgb_index):
        network = network_rgb[..., channel][replace].astype(np.float32) / (255.0 * gain)
        values[band] = np.where(saturated, values[band], network) if saturated.any() else network
        known[band] = True  # the pipeline filled it (`replace` holds only pixels some date shows)
    return values, known


def _nearest_values(stored: np.ndarray, masks: np.ndarray, days: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """(C, N) stored values of the class bands `stored` (T,C,h,w) at the N replaced pixels: those
    of the clear date nearest in time, copied as they are (float64 holds any band's integers)."""
    if stored.shape[1] == 0:
        return np.empty((0, int(replace.sum())), stored.dtype)
    return _classical_values(nearest_fill, np.nan_to_num(stored.astype(np.float64)), masks, days, replace).astype(stored.dtype)


@torch.inference_mode()
def _classical_values(filler: Callable, values: np.ndarray, masks: np.ndarray, days: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """(C, N): a classical filler run once on (T,C,h,w) `values` with the chunk's (T,h,w) masks (the
    bands share them, so the clear dates are found once) or each band's own (T,C,h,w), at the N
    replaced pixels."""
    hidden = torch.from_numpy(np.ascontiguousarray(masks))[None]
    filled = filler(torch.from_numpy(values)[None], hidden[:, :, None] if masks.ndim == 3 else hidden, torch.from_numpy(days)[None])[0].numpy()
    return np.moveaxis(filled, 1, 0)[:, replace]


def _to_dataset(cube: xr.DataArray, packed: da.Array | np.ndarray, rgb: Sequence[str], model: "ClearVision") -> xr.Dataset:
    """The result Dataset; its attrs say how it was made (rgb bands, gain, stage 2's method, the
    fill threshold), enough to run it again the same way."""
    bands = cube.sizes["band"]
    plane_coords = {name: coord for name, coord in cube.coords.items() if "band" not in coord.dims}
    clear = xr.DataArray(packed[:, :bands].astype(cube.dtype), dims=DIMS, coords=cube.coords, attrs=dict(cube.attrs), name="clear")
    clear.attrs["fill_method"] = FILL_METHOD
    mask = xr.DataArray(
        packed[:, bands].astype(np.uint8),
        dims=("time", "y", "x"),
        coords=plane_coords,
        name="mask",
        attrs={"flag_values": list(MASK_CLASSES), "flag_meanings": "clear cloud shadow no_data", "long_name": "pixels replaced, by class"},
    )  # no _FillValue: 255 is a class, which xarray's decoding would turn into NaN (and the mask into float32)
    probability = xr.DataArray(
        packed[:, bands + 1].astype(np.float32), dims=("time", "y", "x"), coords=plane_coords, name="probability",
        attrs={"long_name": "stage 1 probability of cloud or cloud shadow", "valid_range": [0.0, 1.0]},
    )
    # without the source's storage encoding (a zarr v2 store's compressor on the coordinates): the result is written anew, anywhere
    dataset = xr.Dataset({"clear": clear, "mask": mask, "probability": probability}).drop_encoding()
    dataset["mask"].encoding["_FillValue"] = None  # nor one a store would add by default (zarr: 0, the clear class)
    dataset.attrs = {
        RGB_ATTR: ",".join(map(str, rgb)), "gain": model_gain(model), "method": model.method, "fill_threshold": model.config.fill_threshold,
        "fill_method": FILL_METHOD, "source": "Clear Vision cloud removal", "device": model.device.type,
    }
    if cube.rio.crs is None:
        return dataset
    # every variable names its grid mapping (CF), or GDAL tools (QGIS, gdalinfo) see no CRS in a zarr or netCDF written from it;
    # and lists it as a coordinate: xarray writes no `coordinates` for a 0-d one, and read back with
    # its defaults the grid mapping was a data variable, the CRS lost (`rio.crs` None)
    dataset = dataset.rio.write_crs(cube.rio.crs).rio.write_coordinate_system()
    for name in dataset.data_vars:
        dataset[name].encoding["coordinates"] = dataset.rio.grid_mapping
    return dataset
