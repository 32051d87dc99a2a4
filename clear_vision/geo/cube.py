"""Open georeferenced reflectance as one cube: an xarray.DataArray with dims (time, band, y, x).

Sources: a folder or list of GeoTIFFs (one multi-band file per date, or one single-band file per
band and date named like `20230602_S30_T15SWD_B04.tif`, `HLS.S30.T15SWD.2023153T165849.v2.0.B04.tif`
or `chip_1/B04.tif`), Sentinel-2 `.SAFE`
products (their JPEG 2000 band files; unzipped or as the .zip Copernicus delivers), Landsat
Collection 2 products (band files and MTL metadata, unpacked or the .tar USGS delivers), a netCDF
file or a zarr store. CRS, transform and nodata come through rioxarray; units are in the attrs
`scale_factor` / `add_offset` (see `units.py`). Lazy (Dask-backed) when `chunks` is given.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
import os
import re
import tarfile
import warnings
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Iterable, Sequence
from functools import cache
from os import PathLike
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import rasterio
import rioxarray
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning
from rasterio.transform import Affine

from ..io.decode import DateLike, date_in_name, first_names, names_dates, natural_key, split_dates
from .units import HOW_TO_FIX, Units, units_from_metadata

__all__ = ["open_cube", "cube_units", "with_units", "north_up_flips", "acquisition_times", "describe_time", "whole_number", "UNITS_BANDS_ATTR", "cube_rgb", "default_rgb", "recognised_rgb", "class_bands", "is_cube_source", "find_rasters", "band_parts", "CUBE_SUFFIXES", "STORE_SUFFIXES", "TIFF_SUFFIXES", "RASTER_SUFFIXES", "DIMS"]

DIMS = ("time", "band", "y", "x")
TIFF_SUFFIXES = (".tif", ".tiff")
RASTER_SUFFIXES = (*TIFF_SUFFIXES, ".jp2")  # JPEG 2000: the band files of Sentinel-2 .SAFE products
STORE_SUFFIXES = (".nc", ".zarr")  # one file or store that holds a whole cube
CUBE_SUFFIXES = (*TIFF_SUFFIXES, *STORE_SUFFIXES)
ARCHIVE_SUFFIXES = (".zip", ".tar")  # products as delivered: Sentinel-2 .SAFE.zip, Landsat .tar
SourceLike = str | PathLike | Sequence[str | PathLike]
XarrayObject = TypeVar("XarrayObject", xr.DataArray, xr.Dataset)
Chunks = int | np.integer | None  # numpy integers too: sizes computed with numpy (min(512, cube.sizes['x']))

# A single-band file is one band of a date when its name ends in a band name, or in a band name
# and its resolution, as Sentinel-2 products name them (T34TET_20220615T093039_B04_10m).
_BAND_NAME = re.compile(r"^(B\d{1,2}A?|NIR\d*|RED|GREEN|BLUE|SWIR\d*|RE\d|REDEDGE\d|COASTAL|PAN)$", re.IGNORECASE)  # Earth Search: rededge1, swir16
_RESOLUTION = re.compile(r"^\d+m$", re.IGNORECASE)
_RESOLUTION_FOLDER = re.compile(r"^R\d+m$", re.IGNORECASE)  # a .SAFE product's IMG_DATA/R10m, R20m, R60m
# HLS v2.0 as LP DAAC names its files: HLS.S30.T15SWD.2023153T165849.v2.0.B04.tif (product, tile,
# year + day of year + time, version, band). L30 (Landsat 8/9) numbers its bands as Landsat does and
# S30 as Sentinel-2, alike only for B01..B04: L30's other bands take the names of their S30
# counterparts (HLS user guide), so a series of both has one set of bands and S30's B05 (red edge)
# never meets L30's B05 (near infrared). Fmask and the angle layers (SZA, VAA...) are not bands.
_HLS_NAME = re.compile(r"^HLS\.([LS]30)\.T\w{5}\.\d{7}T\d{6}\.v\d+\.\d+\.(\w+)$", re.IGNORECASE)
_HLS_BAND = re.compile(r"^B(?:\d{2}|8A)$", re.IGNORECASE)
_HLS_L30_AS_S30 = {"B05": "B8A", "B06": "B11", "B07": "B12", "B09": "B10", "B10": "TIRS1", "B11": "TIRS2"}
# A year and day of year (2017226, HLS's 2023153T165849) is a date only as a part of a name of its
# own, between separators: seven digits in a longer run may be anything (an id, a count).
_DAY_OF_YEAR = re.compile(r"(?:^|(?<=[-_. ]))((?:19|20)\d{2})(\d{3})(?:T(\d{6}))?(?=$|[-_. ])")
# Tags that state when the scene was acquired, most specific first (TIFFTAG_DATETIME is often
# the time the file was written, so it comes last, after a date in the file name).
_DATE_TAGS = ("ACQUISITION_DATE", "DATE_ACQUIRED", "SENSING_TIME", "DATATAKE_SENSING_START", "DATE")
# Landsat Collection 2 product ids (LC08_L2SP_186027_20210615_20210622_02_T1): the sensor comes
# first; the product's MTL metadata file (..._MTL.json / .txt / .xml) beside its band files states
# each band's scale and offset; surface reflectance (SR_B4) and temperature (ST_B10) bands are one date.
_LANDSAT_ID = re.compile(r"^L[COTEM]0\d_L\w{3}_\d{6}_\d{8}_\d{8}_\d{2}_[A-Z0-9]{2}", re.IGNORECASE)
_LANDSAT_LAYERS = {"SR": "REFLECTANCE_{}_BAND_{}", "ST": "TEMPERATURE_{}_BAND_ST_B{}"}  # MTL keys: MULT / ADD, band number
# Landsat 4, 5 (TM) and 7 (ETM+) number blue as band 1, so their red, green and blue are B3, B2, B1.
_LANDSAT_TM_RGB = (re.compile(r"^L[TE]0[4-7]_", re.IGNORECASE), ("B3", "B2", "B1"))
# The band names, in order, that per-band scale_factor/add_offset lists belong to: attrs do not
# follow cube.sel(band=...), names do.
UNITS_BANDS_ATTR = "units_bands"
# CF readers take scale_factor / add_offset as one number per variable and fail on a list (a
# user's cube.to_netcdf() then wrote a file xarray could not reopen): per-band values are kept
# under these names instead, in a cube's attrs and in the files written from it (both are read).
BAND_UNITS_ATTRS = {"scale_factor": "band_scale_factor", "add_offset": "band_add_offset"}
_UNITS_ATTRS = ("scale_factor", "add_offset", UNITS_BANDS_ATTR, *BAND_UNITS_ATTRS.values(), "scales", "offsets")  # the last two: rioxarray's per-band
RGB_ATTR = "rgb_bands"  # the attr naming a cube's red, green and blue (set where names alone mislead, and on results)
# Each date's file (its first band file), along time: two acquisitions of one day (HLS L30 and
# S30) are told apart in the outputs by it, not by their date.
INPUT_FILE_COORD = "input_file"
_RESULT_MASK = re.compile(r"^mask_(.+)$")  # write_cube's COGs: clear_<date>.tif and mask_<date>.tif
_RESULT_CLEAR = re.compile(r"^clear_\d{4}-\d{2}-\d{2}(?:_(\d+))?$")  # a day's second acquisition is clear_<date>_2.tif
# Other names of the cube's dims: openEO's client writes (t, bands, y, x).
_DIM_RENAMES = {"lat": "y", "latitude": "y", "lon": "x", "longitude": "x", "t": "time", "timestamp": "time", "bands": "band"}


def is_cube_source(path: str | PathLike) -> bool:
    """True for what `open_cube` reads and the PNG path cannot: netCDF, zarr, JPEG 2000, georeferenced or non-8-bit TIFFs."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (*STORE_SUFFIXES, ".jp2"):
        return True
    if suffix not in TIFF_SUFFIXES or not path.is_file():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain picture TIFF has none: that is the question asked
            with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(path) as source:
                georeferenced = source.crs is not None or not source.transform.is_identity
                return georeferenced or source.dtypes[0] != "uint8" or source.count not in (1, 3, 4)
    except rasterio.RasterioIOError:
        return False


def open_cube(
    source: SourceLike,
    dates: Iterable[DateLike] | str | None = None,
    chunks: Chunks = None,
    *,
    bands: Iterable[str] | str | None = None,
    scale: float | Sequence[float] | None = None,
    offset: float | Sequence[float] | None = None,
    nodata: float | None = None,
) -> xr.DataArray:
    """Read a time series of georeferenced images into a (time, band, y, x) DataArray.

    Args:
        source: a folder of GeoTIFFs, a list of GeoTIFF files (or of folders, .zip files of
            Sentinel-2 .SAFE products, .tar files of Landsat products), a `.nc` file or a `.zarr` store.
        dates: one date per acquisition, overriding dates in tags or names, in the order the sources
            are given (a folder's files in natural order of their names; band files of one date
            count once, where the first of them comes); the cube is then sorted by date. Any
            iterable, or one string separated by commas or spaces as on the command line.
        chunks: spatial chunk size in pixels for a lazy, Dask-backed cube; None reads it into memory.
        bands: the bands (netCDF/zarr variables) to keep, in this order; default all; any iterable,
            or one string such as "B04,B03,B02".
        scale, offset: reflectance = value * scale + offset, overriding what the files say; one
            number for all bands or one per band.
        nodata: the stored value that marks no data, overriding what the files say (a fill value
            they do not declare, such as -1 or 65535 outside a field).
    """
    dates, bands = _listed("dates", dates), _listed("bands", bands)
    if bands is not None and (not bands or len(set(bands)) < len(bands)):
        raise ValueError(f"bands: {bands!r}; give each band to keep once, or leave bands= out for all of them")
    if chunks is not None:
        size = whole_number(chunks)
        if size is None or size < 32:
            raise ValueError(f"chunks: {chunks!r} is not a chunk size; give a whole number of pixels >= 32, or None")
        chunks = size
    paths = _source_paths(source)
    if not paths:
        raise ValueError("source: no files given; give a folder, GeoTIFF files, a .nc file or a .zarr store")
    stores = [path for path in paths if path.suffix.lower() in STORE_SUFFIXES]
    if stores and len(paths) > 1:
        raise ValueError(f"{stores[0].name}: a netCDF file or zarr store is a whole cube: give it alone (got {len(paths)} inputs), one per run")
    for path in paths:
        if not path.exists():
            raise ValueError(f"source: {path}: no such file or folder")
    if stores:
        cube, file_units = _open_dataset(paths[0], chunks, bands)
    else:
        if bands is not None:
            raise ValueError("bands: only for netCDF and zarr sources; GeoTIFF bands are chosen by the files given, or afterwards: cube.sel(band=[...])")
        cube, date_units, labels = _open_tiffs(_tiff_files(paths), chunks, check_dates=dates is None, nodata=nodata)
        if (scale, offset) == (None, None):
            cube, file_units = _one_unit(cube, date_units, labels)
        else:
            file_units = date_units[0] if all(item == date_units[0] for item in date_units) else None
    if (scale is None) != (offset is None) and file_units is not None:  # the other as the files state it: offset=-0.1 on files stating scale 0.0001
        scale, offset = (file_units.scale if scale is None else scale), (file_units.offset if offset is None else offset)
    units = units_from_metadata({}, cube.dtype, scale, offset) if (scale, offset) != (None, None) else file_units
    for name, value in (("scale", scale), ("offset", offset)):
        if np.ndim(value) and len(value) != cube.sizes["band"]:
            raise ValueError(f"{name}: {len(value)} values for {cube.sizes['band']} bands ({', '.join(map(str, cube['band'].values))}); give one number, or one per band")
    cube = _finish(cube, dates, units)
    if stores and dates is None:
        _warn_repeated_times(cube)
    return cube if nodata is None else cube.rio.write_nodata(_stored_nodata(nodata, cube.dtype), encoded=False)


def _stored_nodata(nodata: object, dtype: np.dtype) -> float | int:
    """A given nodata as a value the cube's type can hold, or refused saying which values it holds."""
    try:
        value = float(nodata)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"nodata: {nodata!r} is not a number") from None
    if np.issubdtype(dtype, np.floating):
        if np.isnan(value):
            raise ValueError("nodata: NaN already marks no data in float values; give the fill value the files use instead")
        with np.errstate(over="ignore"):
            stored = np.asarray(value, dtype=dtype)  # the value as the cube holds it: np.finfo's repr rounds to the largest
        if not np.isfinite(stored):
            largest = np.finfo(dtype).max
            raise ValueError(f"nodata: {value!r} cannot occur in {np.dtype(dtype)} values (at most {str(largest)} either side)")
        return value
    limits = np.iinfo(dtype)
    if not (value.is_integer() and limits.min <= value <= limits.max):
        unsigned = " (a netCDF variable marked _Unsigned stores -1 as the type's largest value)" if value < 0 and limits.min == 0 else ""
        raise ValueError(f"nodata: {value:g} cannot occur in {np.dtype(dtype)} values ({limits.min}..{limits.max}){unsigned}")
    return int(value)


_SOURCES = "a folder, GeoTIFF or JPEG 2000 files, .SAFE folders, .zip or .tar products, a .nc file or a .zarr store: a path or a list of paths"


def _source_paths(source: object) -> list[Path]:
    """`source` as paths; anything else refused saying what is read, and where a cube already in memory goes."""
    if isinstance(source, (str, PathLike)):
        return [Path(source)]
    if isinstance(source, (xr.DataArray, xr.Dataset)):
        raise ValueError(
            f"source: open_cube reads files ({_SOURCES}), got an xarray.{type(source).__name__}. A cube in memory needs no reading: give it to "
            "ClearVision.remove_cube(cube) or cube.clear_vision.remove() (after import clear_vision.geo) as a DataArray of dims (time, band, y, x) "
            "with datetime times, band names and its units in the attrs scale_factor / add_offset; a Dataset of band variables becomes one "
            'with dataset[["B04", "B03", "B02"]].to_dataarray("band").transpose("time", "band", "y", "x")'
        )
    items = list(source) if isinstance(source, Iterable) and not isinstance(source, (bytes, dict)) else None
    if items is None or not all(isinstance(item, (str, PathLike)) for item in items):
        raise ValueError(f"source: open_cube reads files ({_SOURCES}), got {type(source).__name__}")
    return [Path(item) for item in items]


def whole_number(value: object) -> int | None:
    """`value` as an int where it is a whole number (any numbers.Integral: numpy integers too), else None; True is not a size."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None


def _listed(name: str, given: Iterable | str | None) -> list | None:
    """`dates=` or `bands=` as a list: a string split as the command line and `rgb=` split it
    (a string is iterable letter by letter), any other iterable listed (a generator has no len)."""
    if given is None:
        return None
    if isinstance(given, str):
        return split_dates(given) or []
    try:
        return list(given)
    except TypeError:
        raise ValueError(f"{name}: {given!r} is not a list; give a list or other iterable, or one string separated by commas") from None


# How files name the red, green and blue bands: in words, or by number as Sentinel-2, Landsat 8/9
# and HLS do (B04 / B4 / SR_B4 / S2-L2A-B04 red, B03 green, B02 blue), matched on the name's last part.
_RGB_WORDS = [re.compile(rf"(?:^|[-_. ]){word}$", re.IGNORECASE) for word in ("red", "green", "blue")]
_RGB_NUMBERS = [re.compile(rf"(?:^|[-_. ])B0?{number}$", re.IGNORECASE) for number in (4, 3, 2)]


def recognised_rgb(names: Sequence[str]) -> tuple[str, ...] | None:
    """The bands named as red, green and blue (words first, then B04/B4-style numbers), or None.

    Landsat 4..7 number them B3, B2, B1: `cube_rgb` knows that from USGS product names, other files need `rgb` given.
    """
    for patterns in (_RGB_WORDS, _RGB_NUMBERS):
        found = [next((name for name in names if pattern.search(name)), None) for pattern in patterns]
        if all(found):
            return tuple(found)
    return None


# Bands that hold classes or bit flags, not measurements: Sentinel-2's scene classification, Fmask,
# Landsat's QA bands, cloud masks; matched on the band name's last part ("S2-L2A-SCL", "QA_PIXEL",
# "pixel_qa", "s2_dlmask").
_CLASS_BAND = re.compile(r"(?:^|[-_. ])(?:SCL|[A-Z0-9]*MASK|CLM|QA(?:[-_ ]?[A-Z0-9]+)*)$", re.IGNORECASE)


def class_bands(names: Sequence[str]) -> list[int]:
    """Indices of the bands that hold classes or flags (SCL, Fmask, QA..., CLM): filled by the
    nearest clear date's value, since interpolating between two classes invents a third."""
    return [index for index, name in enumerate(names) if _CLASS_BAND.search(str(name))]


def cube_rgb(cube: xr.DataArray) -> tuple[str, ...] | None:
    """The red, green and blue bands: as the cube's `rgb_bands` attr names them (`open_cube` sets
    it for Landsat 4..7 products, whose B4 is near infrared), else by name (`recognised_rgb`), else None.
    An attr naming three bands of which some are missing is refused: the names alone would pick wrong bands."""
    names = [str(name) for name in cube["band"].values]
    stated = tuple(str(cube.attrs.get(RGB_ATTR, "")).split(","))
    if len(stated) != 3:
        return recognised_rgb(names) or _rgb_by_long_name(cube, names)
    missing = [f"{name} ({colour})" for name, colour in zip(stated, ("red", "green", "blue")) if name not in names]
    if missing:  # the names would mislead: Landsat 7's B4 is near infrared
        raise ValueError(
            f"cube: its {RGB_ATTR} attr names {', '.join(stated)} as red, green and blue (Landsat 4, 5 and 7 number blue B1, near infrared B4), "
            f"but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not among its bands ({', '.join(names)}); add the band "
            "(a Landsat product's SR_B1 file), or give rgb=(red, green, blue) (command line: --rgb)"
        )
    return stated


def _rgb_by_long_name(cube: xr.DataArray, names: list[str]) -> tuple[str, ...] | None:
    """The red, green and blue bands by the names in a `long_name` attr, as rioxarray's
    `open_rasterio` keeps a GeoTIFF's band descriptions beside band numbers 1, 2, ..."""
    long_names = cube.attrs.get("long_name")
    if not isinstance(long_names, (tuple, list)) or len(long_names) != len(names):
        return None
    found = recognised_rgb([str(name) for name in long_names])
    return None if found is None else tuple(names[list(map(str, long_names)).index(name)] for name in found)


def default_rgb(cube: xr.DataArray) -> tuple[str, ...]:
    """The red, green and blue bands (`cube_rgb`), else the first three bands (an RGB file)."""
    return cube_rgb(cube) or tuple(str(name) for name in cube["band"].values[:3])


def cube_units(cube: xr.DataArray) -> Units | None:
    """The units stated in a cube's attrs (`scale_factor`, `add_offset`) for its bands as they are
    now, None where unknown.

    xarray keeps attrs as they are through `cube.sel(band=...)`, so per-band lists are taken by
    the band names `units_bands` records for them; a list without names must have one value per band.
    """
    units = units_from_metadata(cube.attrs, cube.dtype)
    if units is None or all(np.ndim(value) == 0 for value in (units.scale, units.offset)):
        return units
    names = [str(name) for name in cube["band"].values]
    stated = cube.attrs.get(UNITS_BANDS_ATTR)
    owners = str(stated).split(",") if stated is not None else names
    for key, value in (("scale_factor", units.scale), ("add_offset", units.offset)):
        if np.ndim(value) and len(value) != len(owners):
            whose = f"the {len(owners)} bands its {UNITS_BANDS_ATTR} attr names ({stated})" if stated is not None else f"its {len(names)} bands ({', '.join(names)})"
            raise ValueError(f"cube: {len(value)} per-band {key} values in the attrs for {whose}; give one number, or one per band in the cube's band order")
    unknown = [name for name in names if name not in owners]
    if unknown:
        raise ValueError(
            f"cube: band(s) {', '.join(unknown)} have no scale_factor/add_offset: the attrs' per-band values belong to bands {stated} "
            f"({UNITS_BANDS_ATTR}); select bands by name with cube.sel(band=[...]) instead of renaming them, or set scale_factor, add_offset and {UNITS_BANDS_ATTR} anew"
        )
    return units.of_bands([owners.index(name) for name in names])


def with_units(cube: xr.DataArray, units: Units | None) -> xr.DataArray:
    """The cube (data untouched) with attrs stating `units` for its bands: `scale_factor` and
    `add_offset`, per-band values as `band_scale_factor` / `band_add_offset` with the band names
    they belong to (`units_bands`); none of them for unknown units.

    Classification and quality bands (SCL, Fmask, ...) hold classes, not reflectance: they keep
    scale 1 and offset 0 whatever scale the reflectance bands were given.
    """
    names = [str(name) for name in cube["band"].values]
    classes = class_bands(names)
    if units is not None and classes:
        scale, offset = (np.array(np.broadcast_to(value, (len(names),)), dtype=np.float64) for value in (units.scale, units.offset))
        scale[classes], offset[classes] = 1.0, 0.0
        units = Units(*(float(value[0]) if np.all(value == value[0]) else tuple(map(float, value)) for value in (scale, offset)))
    stated = {} if units is None else {"scale_factor": _attr(units.scale), "add_offset": _attr(units.offset)}
    if any(np.ndim(value) for value in stated.values()):
        stated = {BAND_UNITS_ATTRS[key] if np.ndim(value) else key: value for key, value in stated.items()}
        stated[UNITS_BANDS_ATTR] = ",".join(names)
    result = cube.copy(deep=False)
    result.attrs = {**{key: value for key, value in cube.attrs.items() if key not in _UNITS_ATTRS}, **stated}
    return result


# The direction of each axis in a north-up image (GeoTIFF's usual layout, and the images the
# networks learned sun and shadow geometry from): rows run south, columns east.
_NORTH_UP = {"y": -1, "x": 1}


def north_up_flips(cube: xr.DataArray | xr.Dataset) -> dict[str, slice]:
    """The reversals of y and x (for `isel`) that turn a cube north-up, {} where it is; applied
    twice they give the cube back. Axes without coordinates are pixel rows and columns: kept, and
    so are those of a raster with no georeference (`_pixel_grid`)."""
    if _pixel_grid(cube):
        return {}
    return {
        dim: slice(None, None, -1)
        for dim, direction in _NORTH_UP.items()
        if dim in cube.coords and cube.sizes[dim] > 1 and np.sign(float(cube[dim][1] - cube[dim][0])) == -direction
    }


def _pixel_grid(cube: xr.DataArray | xr.Dataset) -> bool:
    """Whether y and x are the pixel centres of GDAL's identity transform and there is no CRS: a
    GeoTIFF without georeference, its rows stored top to bottom as in a picture. Its y runs up
    like a south-up grid's, but flipped it came back upside down (the mirror row order, with a
    transform made up to match)."""
    if not {"y", "x"} <= set(cube.coords) or cube.rio.crs is not None:
        return False
    return all(np.array_equal(cube[dim].values, np.arange(cube.sizes[dim]) + 0.5) for dim in ("y", "x"))


# ---- GeoTIFFs ------------------------------------------------------------------------------


def _tiff_files(paths: list[Path]) -> list[Path]:
    """The raster files of the sources in the order given, a folder's or archive's own files in
    natural order of their paths: `dates=` pairs with the acquisitions in this order, so files a
    user listed are never re-sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = find_rasters(path)
            if not found:
                pictures = any(item.suffix.lower() in (".png", ".jpg", ".jpeg") for item in path.iterdir())
                hint = ("; PNG or JPEG frames are pictures, not a cube: give them to ClearVision.run or to the command line on their own "
                        "(pictures and GeoTIFFs cannot be mixed in one run)") if pictures else ""
                raise ValueError(f"source: {path} holds no GeoTIFF (.tif, .tiff) or JPEG 2000 (.jp2) files{hint}")
            files.extend(sorted(found, key=_path_order))
        elif path.suffix.lower() in RASTER_SUFFIXES:
            files.append(path)
        elif path.suffix.lower() in ARCHIVE_SUFFIXES:
            files.extend(sorted(_archived_rasters(path), key=_path_order))
        else:
            raise ValueError(f"source: {path.name} is not a GeoTIFF; accepted: a folder or list of .tif (or .jp2) files, .SAFE folders, .zip or .tar products, one .nc file, one .zarr store")
    seen: dict[str, Path] = {}
    for path in files:  # a folder and a file in it, or one file listed twice: refused, since dates= pairs by position
        key = str(path) if _in_archive(path) else os.path.realpath(path)
        if key in seen:
            raise ValueError(f"source: {_label(path)} is given twice ({seen[key]} and {path}); give each file once")
        seen[key] = path
    return _without_result_masks(files)


def _path_order(path: Path) -> list:
    """Natural order of a path, folder by folder (date_2 before date_10)."""
    return [natural_key(part) for part in path.parts]


def _without_result_masks(files: list[Path]) -> list[Path]:
    """The files less the masks of `write_cube`'s COG outputs (mask_<date>.tif beside
    clear_<date>.tif): its output folder opens as the cloud-free cube."""
    given = set(files)
    return [path for path in files if not ((mask := _RESULT_MASK.match(path.name)) and path.with_name(f"clear_{mask.group(1)}") in given)]


def _archive_members(archive: Path) -> list[str]:
    """The names of the files in a .zip or .tar, or ValueError naming the archive."""
    try:
        if archive.suffix.lower() == ".zip":
            with zipfile.ZipFile(archive) as opened:
                return opened.namelist()
        with tarfile.open(archive) as opened:
            return [member.name for member in opened.getmembers() if member.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, OSError):
        raise ValueError(f"source: {archive.name} is not a readable {archive.suffix.lower()} file") from None


def _archived_rasters(archive: Path) -> list[Path]:
    """The raster files inside a .zip (a Sentinel-2 product as downloaded) or a .tar (a Landsat
    product as USGS delivers it), as GDAL /vsizip/ or /vsitar/ paths: read in place."""
    members = [name for name in _archive_members(archive) if Path(name).suffix.lower() in RASTER_SUFFIXES]
    if not members:
        raise ValueError(f"source: {archive.name} holds no GeoTIFF (.tif, .tiff) or JPEG 2000 (.jp2) files")
    return [Path(f"/vsi{archive.suffix.lower()[1:]}/{archive.resolve()}") / name for name in members]


def _in_archive(path: Path) -> tuple[Path, str] | None:
    """(the archive, the member's name) of a path made by `_archived_rasters`; None for a file on disk."""
    if path.parts[:2] not in (("/", "vsizip"), ("/", "vsitar")):
        return None
    suffix = "." + path.parts[1][3:]
    end = next(index for index, part in enumerate(path.parts) if index > 1 and part.lower().endswith(suffix))
    return Path("/", *path.parts[2 : end + 1]), "/".join(path.parts[end + 1 :])


def _gdal_name(path: Path) -> str:
    """The name GDAL opens: a file inside an archive is /vsizip/ or /vsitar/ followed by the archive's absolute path."""
    inside = _in_archive(path)
    return str(path) if inside is None else f"/vsi{inside[0].suffix.lower()[1:]}/{inside[0]}/{inside[1]}"


def find_rasters(folder: Path) -> list[Path]:
    """Every GeoTIFF or JPEG 2000 file under a folder, following symlinked subfolders (a folder of
    links to dates); hidden files and folders (macOS `._B04.tif`, `.git`) are not data."""
    found = []
    for root, folders, names in os.walk(folder, followlinks=True):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(root) / name for name in names if not name.startswith(".") and Path(name).suffix.lower() in RASTER_SUFFIXES]
    return found


def band_parts(path: Path) -> tuple[str, str] | None:
    """(the scene's part of the name, the band) of a band file's name, or None if it names no band."""
    hls = _HLS_NAME.match(path.stem)
    if hls:
        sensor, band = hls.group(1).upper(), hls.group(2).upper()
        if not _HLS_BAND.match(band):
            return None
        return path.stem[: hls.start(2) - 1], _HLS_L30_AS_S30.get(band, band) if sensor == "L30" else band
    parts = path.stem.split("_")
    if len(parts) > 1 and _RESOLUTION.match(parts[-1]):
        parts = parts[:-1]
    if not _BAND_NAME.match(parts[-1]):
        return None
    scene = parts[:-1]
    if _LANDSAT_ID.match(path.name) and len(scene) > 1 and scene[-1].upper() in _LANDSAT_LAYERS:
        scene = scene[:-1]  # a Landsat product's SR_B4 and ST_B10 belong to one date
    return "_".join(scene), parts[-1].upper()


def _landsat_units(path: Path) -> tuple[float, float] | None:
    """(scale, offset) of a Landsat Collection 2 band file as its product's MTL file states them, else None."""
    product = _LANDSAT_ID.match(path.name)
    layer = path.stem[product.end() :].strip("_").split("_") if product else []
    if len(layer) != 2 or layer[0].upper() not in _LANDSAT_LAYERS or not layer[1].upper().startswith("B"):
        return None
    metadata = _mtl_metadata(path.with_name(product.group(0)))
    keys = [_LANDSAT_LAYERS[layer[0].upper()].format(kind, layer[1][1:]) for kind in ("MULT", "ADD")]
    try:
        return (float(metadata[keys[0]]), float(metadata[keys[1]])) if all(key in metadata for key in keys) else None
    except ValueError:
        raise ValueError(f"source: {product.group(0)}_MTL states {keys[0]}={metadata[keys[0]]!r}, {keys[1]}={metadata[keys[1]]!r}, not numbers") from None


@cache
def _mtl_metadata(product: Path) -> dict[str, str]:
    """KEY -> value of a Landsat product's MTL file beside its bands (.json, .txt or .xml), {} if there is none."""
    for suffix in (".json", ".txt", ".xml"):
        name = product.with_name(f"{product.name}_MTL{suffix}")
        content = _read_product_file(name)
        if content is None:
            continue
        text = content.decode("utf-8", errors="replace")
        try:
            if suffix == ".json":
                return dict(_leaves(json.loads(text)))
            if suffix == ".txt":
                return dict(re.findall(r'^\s*(\w+)\s*=\s*"?([^"\n]*?)"?\s*$', text, re.MULTILINE))
            return {element.tag: element.text.strip() for element in ElementTree.fromstring(text).iter() if element.text and element.text.strip()}
        except (json.JSONDecodeError, ElementTree.ParseError) as error:
            raise ValueError(f"source: {name.name} is not readable metadata ({error})") from None
    return {}


def _leaves(document: object) -> list[tuple[str, str]]:
    """(key, value) of every leaf of nested JSON objects."""
    if not isinstance(document, dict):
        return []
    return [pair for key, value in document.items() for pair in (_leaves(value) if isinstance(value, dict) else [(key, str(value))])]


def _scene_dates(groups: list[list[Path]], headers: dict[Path, tuple]) -> list[tuple[dt.date | dt.datetime | None, str]]:
    """Each scene's date and where it was read (`_scene_date`), by its first file; the names'
    dates read across the series (`names_dates`: of two dates in every name, the one that differs)."""
    firsts = [group[0] for group in groups]
    stems, folders = names_dates([path.stem for path in firsts]), names_dates([path.parent.name for path in firsts])
    return [_scene_date(path, headers[path][2], (stem, folder)) for path, stem, folder in zip(firsts, stems, folders)]


def _scene_date(path: Path, tags: dict[str, str], named: tuple[dt.date | None, dt.date | None]) -> tuple[dt.date | dt.datetime | None, str]:
    """A scene's date and where it was read: its time (UTC) where an ACQUISITION_TIME tag gives one
    (as `write_cube` writes it), else an acquisition tag, a date in the file or folder name
    (`named`: the dates the series' names give this file and its folder), else TIFFTAG_DATETIME."""
    try:
        moment = pd.Timestamp(tags["ACQUISITION_TIME"])
    except (KeyError, ValueError):
        moment = pd.NaT
    if not pd.isna(moment):
        return (moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo else moment).to_pydatetime(), "tag ACQUISITION_TIME"
    for key in _DATE_TAGS:
        date = _tag_date(tags.get(key))
        if date is not None:
            return date, f"tag {key}"
    for name, date, where in zip((path.stem, path.parent.name), named, ("names", "folders' names")):
        date = date or _day_of_year(name)
        if date is not None:
            return date, f"their {where}"
    date = _tag_date(tags.get("TIFFTAG_DATETIME"))
    return (date, "tag TIFFTAG_DATETIME, often the time a file was written") if date is not None else (None, "")


def _tag_date(text: str | None) -> dt.date | None:
    """The date a tag's text holds (tags write 2019:06:16 or 2019/06/16 too)."""
    return date_in_name(text.replace(":", "-").replace("/", "-")) if text else None


# The satellite or HLS product a name states: two satellites may image a place on one day
# (Landsat and Sentinel-2 in HLS, Sentinel-2A and 2B), one satellite once at a time.
_SENSOR = re.compile(r"^(?:[LS]30|S2[A-D]|L[COTEM]0\d)$", re.IGNORECASE)
_DATE_PATTERNS = (
    "file and folder names are read for 2021-05-10, 20210510 or 2021_05_10 (standing alone: tile_3_2021_05_10 is a chain of numbers; "
    "10-05-2021, day first, is not read), or a year and day of year between separators (S2_2021130.tif, HLS's 2021130T104021); "
    f"tags for {', '.join(_DATE_TAGS)} or TIFFTAG_DATETIME"
)


def _check_scene_dates(firsts: list[Path], found: list[tuple[dt.date | dt.datetime | None, str]]) -> None:
    """Refuse the dates read from the files (`_scene_date`, one per scene, by its first file) where
    they cannot make a series: some missing, or one time given by several scenes of one satellite
    (all stamped with their export time in TIFFTAG_DATETIME, a date copied under another name)."""
    undated = [path for path, (date, _) in zip(firsts, found) if date is None]
    if undated:
        raise ValueError(  # the app puts its own remedy in place of the words from "; pass dates=" on (geo.uploads)
            f"dates: no acquisition dates found for {len(undated)} of {len(firsts)} acquisitions (e.g. {undated[0].name}: {_DATE_PATTERNS}); "
            "pass dates= (command line: --dates), one per acquisition"
        )
    stems = names_dates([path.stem for path in firsts])
    named = [(path, date, source, name_date) for path, (date, source), name_date in zip(firsts, found, stems) if source.startswith("tag ")]
    differing = [(path, date, source, name_date) for path, date, source, name_date in named if name_date and name_date != pd.Timestamp(date).date()]
    if differing:
        path, date, source, name_date = differing[0]
        warnings.warn(
            f"dates: {len(differing)} of {len(firsts)} acquisitions state a date in their tags other than the one in their name "
            f"(e.g. {_label(path)}: {source} {pd.Timestamp(date).date()}, name {name_date}); the tags' dates are used; "
            "if the names are right, pass dates= (command line: --dates)",
            stacklevel=4,
        )
    scenes: dict[pd.Timestamp, list[tuple[Path, str]]] = {}
    for path, (date, source) in zip(firsts, found):
        scenes.setdefault(pd.Timestamp(date), []).append((path, source))
    for when, alike in scenes.items():
        if len(alike) > 1 and not _all_told_apart([path for path, _ in alike]):
            listed = first_names([_label(path) for path, _ in alike])
            sources = " / ".join(dict.fromkeys(source for _, source in alike))
            day = str(when.date()) if when == when.normalize() else str(when)
            raise ValueError(
                f"dates: {listed} all give {day} (from {sources}); one date holds two acquisitions only from two satellites the names state "
                "(HLS S30 and L30, S2A and S2B): give dates= (command line: --dates), one per acquisition in the order the files are given, "
                "put each file's own date in its name (2021-05-10), or leave out a file given twice under two names"
            )


def _all_told_apart(paths: list[Path]) -> bool:
    """Whether scenes of one date each name another satellite or acquisition (`_told_apart`)."""
    sensors = [_told_apart(path) for path in paths]
    return None not in sensors and len(set(sensors)) == len(sensors)


def _told_apart(path: Path) -> str | None:
    """What tells a scene from others of its date: the satellite (S2A, LC08) or HLS product (S30, L30)
    its name or a folder above it names, or write_cube's number of a day's acquisition
    (clear_2023-06-02_2.tif: its outputs reopen as a cube); else None."""
    result = _RESULT_CLEAR.match(path.stem)
    if result:
        return f"acquisition {result.group(1) or 1} of the day"
    for part in reversed(path.parts):
        token = next((token for token in re.split(r"[-_. ]", part) if _SENSOR.match(token)), None)
        if token:
            return token.upper()
    return None


def _day_of_year(name: str) -> dt.datetime | None:
    """The one year + day of year (2017226, with its time in HLS's 2023153T165849) a name holds as
    a part of its own; None for none, two, or a day the year does not have (2023366)."""
    found = set()
    for year, day, time in _DAY_OF_YEAR.findall(name):
        try:
            when = dt.datetime.strptime(f"{year}{day}{time}", "%Y%j%H%M%S" if time else "%Y%j")
        except ValueError:
            continue
        if when.year == int(year):  # strptime takes day 366 of 2023 for 2024-01-01
            found.add(when)
    return found.pop() if len(found) == 1 else None


def _open_tiffs(
    files: list[Path], chunks: Chunks, check_dates: bool = True, nodata: float | None = None
) -> tuple[xr.DataArray, list[Units | None], list[str]]:
    """Group the files into scenes (one per date), check they share one grid, stack them; with
    each date's units and a label (its first file) in the stacking order. The dates the files
    give are checked (`_check_scene_dates`) unless the caller gives its own (check_dates=False);
    the no data they state is stored as one value (`_with_nodata`) unless the caller gives its own `nodata`."""
    headers, pixel_sizes = {}, {}
    for path in files:
        try:
            with warnings.catch_warnings():  # a TIFF without georeferencing is read on its pixel grid, and written back so
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(_gdal_name(path)) as handle:
                    headers[path] = handle.count, handle.descriptions, handle.tags(), handle.scales, handle.offsets, handle.dtypes[0]
                    pixel_sizes[path] = handle.res
        except rasterio.RasterioIOError as error:
            raise ValueError(f"source: {path.name} is not a readable GeoTIFF ({error})") from None
    band_files = [path for path in files if headers[path][0] == 1 and band_parts(path)]
    if band_files:  # one file per band and date; other single-band files (labels, masks) are not bands
        _check_landsat_numbering(band_files)
        _warn_left_out([path for path in files if path not in set(band_files)])
        scenes: dict[tuple[Path, str], dict[str, Path]] = {}
        for path in band_files:  # a date: files named alike in one folder (a .SAFE's R10m, R20m and R60m count as one)
            prefix, band = band_parts(path)
            folder = path.parent.parent if _RESOLUTION_FOLDER.match(path.parent.name) else path.parent
            scene = scenes.setdefault((folder, prefix), {})
            scene[band] = _finer(scene[band], path, pixel_sizes) if band in scene else path
        band_names = sorted(next(iter(scenes.values())), key=natural_key)
        for (folder, prefix), scene in scenes.items():
            if sorted(scene, key=natural_key) != band_names:
                renamed = any((hls := _HLS_NAME.match(path.stem)) and hls.group(1).upper() == "L30" for path in band_files)
                hint = f" (HLS L30 bands are named as their S30 counterparts: {', '.join(f'{key} as {value}' for key, value in _HLS_L30_AS_S30.items())})" if renamed else ""
                raise ValueError(f"source: {folder / prefix or folder} has bands {', '.join(sorted(scene, key=natural_key))}, others have {', '.join(band_names)}; every date needs the same bands{hint}")
        groups = [[scene[name] for name in band_names] for scene in scenes.values()]
    else:
        groups = [[path] for path in files]
        count, descriptions = headers[files[0]][:2]
        band_names = [name or f"band_{index + 1}" for index, name in enumerate(descriptions)]
    found = _scene_dates(groups, headers)
    if check_dates:
        _check_scene_dates([group[0] for group in groups], found)
    arrays, units, given = [], [], nodata
    for group in groups:
        (count, descriptions), first = headers[group[0]][:2], headers[groups[0][0]][:2]
        if not band_files and (count, descriptions) != first:
            reordered = count == first[0] and sorted(map(str, descriptions)) == sorted(map(str, first[1]))
            need = "the same bands in the same order (write its bands again in the first file's order)" if reordered else "the same bands"
            raise ValueError(f"source: {_label(group[0])} has bands {descriptions}, {_label(groups[0][0])} has {first[1]}; every date needs {need}")
    read = [[_read_tiff(path, chunks) for path in group] for group in groups]
    if given is None:  # the first no data any file states (a date exported with one, the others without)
        nodata = next((value for parts in read for part in parts if (value := _fill_value(part)) is not None), None)
        read = [[_with_nodata(part, nodata) for part in parts] for parts in read]
    for group, parts in zip(groups, read):
        count, descriptions, tags, scales, offsets, dtype = headers[group[0]]
        parts = _on_finest_grid(parts, group, given)
        arrays.append(xr.concat(parts, dim="band", join="exact") if len(parts) > 1 else parts[0])
        if band_files:
            stated = [_landsat_units(path) or (headers[path][3][0], headers[path][4][0]) for path in group]
            scales, offsets = [scale for scale, _ in stated], [offset for _, offset in stated]
        band_units = {"scale_factor": scales, "add_offset": offsets}
        if all(value == 1.0 for value in scales) and all(value == 0.0 for value in offsets):  # rasterio's defaults: a metadata item may state them (gdal_translate of a netCDF)
            band_units = {}
        metadata = {**tags, **_safe_metadata(group[0]), **band_units}
        units.append(units_from_metadata(metadata, np.dtype(dtype)))
    _check_same_grid(arrays, [group[0] for group in groups])
    cube = xr.concat(arrays, dim="time", join="override", combine_attrs="override").assign_coords(band=band_names)
    cube.attrs = {key: value for key, value in cube.attrs.items() if key in ("_FillValue", "AREA_OR_POINT")}
    stated_nodata = {_safe_metadata(group[0]).get(_SAFE_NODATA) for group in groups}
    if "_FillValue" not in cube.attrs and len(stated_nodata) == 1 and None not in stated_nodata:
        cube.attrs["_FillValue"] = cube.dtype.type(float(stated_nodata.pop()))
    if all(date for date, _ in found):
        cube = cube.assign_coords(time=pd.to_datetime([date for date, _ in found]))
    if band_files and all(_LANDSAT_TM_RGB[0].match(group[0].name) for group in groups):  # stated even without B1: `cube_rgb` then names it missing
        cube.attrs[RGB_ATTR] = ",".join(_LANDSAT_TM_RGB[1])
    labels = [_label(group[0]) for group in groups]
    return cube.assign_coords({INPUT_FILE_COORD: ("time", labels)}), units, labels


def _warn_left_out(files: list[Path]) -> None:
    """Name the files a cube of band files leaves out, so none vanishes unseen; class and quality
    layers (SCL, Fmask, QA_PIXEL: `class_bands`) are skipped by design and quietly."""
    left = [path for path in files if not class_bands([_layer_name(path)])]
    if not left:
        return
    listed = first_names(list(dict.fromkeys(_layer_name(path) for path in left)), shown=5)
    warnings.warn(
        f"source: left out {len(left)} file{'s' * (len(left) > 1)} that are no band files ({listed}; e.g. {_label(left[0])}); "
        "a band file holds one band and its name ends in it (B04, B8A, SR_B4, red, nir, swir16), or in it and its resolution (B04_10m)",
        stacklevel=4,
    )


def _layer_name(path: Path) -> str:
    """What a file holds as its name says: the last part of it, less a resolution (AOT of T34TET_..._AOT_10m, SZA of an HLS name)."""
    hls = _HLS_NAME.match(path.stem)
    parts = [hls.group(2)] if hls else path.stem.split("_")
    return parts[-2] if len(parts) > 1 and _RESOLUTION.match(parts[-1]) else parts[-1]


def _check_landsat_numbering(band_files: list[Path]) -> None:
    """Refuse Landsat 4, 5, 7 band files beside Landsat 8, 9 ones: their B1..B7 are other bands (blue is B1 on one, B2 on the other)."""
    landsat = [path for path in band_files if _LANDSAT_ID.match(path.name)]
    older = next((path for path in landsat if _LANDSAT_TM_RGB[0].match(path.name)), None)
    newer = next((path for path in landsat if not _LANDSAT_TM_RGB[0].match(path.name)), None)
    if older is not None and newer is not None:
        raise ValueError(
            f"source: {_label(older)} and {_label(newer)} number their bands differently (Landsat 4, 5 and 7: blue B1, near infrared B4; "
            "Landsat 8 and 9: blue B2, near infrared B5), so they make no one set of bands; open each sensor's products as a cube of its own"
        )


def _one_unit(cube: xr.DataArray, date_units: list[Units | None], labels: list[str]) -> tuple[xr.DataArray, Units | None]:
    """The cube's one unit. Dates whose files state different units (Sentinel-2 L2A before and
    after processing baseline 04.00, January 2022, differ by an offset of -1000) are read as
    float32 reflectance, NaN where no data: no stored encoding holds them all exactly."""
    if all(item == date_units[0] for item in date_units):
        return cube, date_units[0]
    unstated = [label for label, item in zip(labels, date_units) if item is None]
    if unstated:
        raise ValueError(f"cube: {first_names(unstated)} state no scale_factor but other dates do, so the dates cannot be read alike; {HOW_TO_FIX}")
    scale = xr.DataArray(np.array([np.broadcast_to(item.scale, cube.sizes["band"]) for item in date_units]), dims=("time", "band"))
    offset = xr.DataArray(np.array([np.broadcast_to(item.offset, cube.sizes["band"]) for item in date_units]), dims=("time", "band"))
    nodata = cube.attrs.get("_FillValue")
    reflectance = (cube.astype(np.float64) * scale + offset).astype(np.float32)
    if nodata is not None:
        reflectance = reflectance.where(cube != nodata)
    reflectance.attrs = {**cube.attrs, "_FillValue": np.nan}
    warnings.warn(f"cube: the dates state {len(set(date_units))} different units (scale, offset); read as float32 reflectance, and written back as such", stacklevel=3)
    return reflectance, Units()


def _finer(kept: Path, other: Path, pixel_sizes: dict[Path, tuple[float, float]]) -> Path:
    """Of two files of one band and date, the finer: a .SAFE product stores its bands at 10, 20 and 60 m."""
    if pixel_sizes[kept] == pixel_sizes[other]:
        raise ValueError(f"source: {_label(kept)} and {_label(other)} are the same band of one date; give one of them")
    return kept if abs(pixel_sizes[kept][0]) < abs(pixel_sizes[other][0]) else other


# What a Sentinel-2 product's metadata file says of its digital numbers (L2A: BOA_..., L1C: the
# TOA quantification and RADIO_ADD_OFFSET); units.py reads these names.
_SAFE_UNITS = {"BOA_QUANTIFICATION_VALUE": "BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE": "QUANTIFICATION_VALUE",
               "BOA_ADD_OFFSET": "BOA_ADD_OFFSET", "RADIO_ADD_OFFSET": "BOA_ADD_OFFSET", "PROCESSING_BASELINE": "PROCESSING_BASELINE"}


_SAFE_NODATA = "NODATA"  # the key of the product's no-data value: its Special_Values NODATA (0), which its JPEG 2000 files do not state


def _safe_metadata(path: Path) -> dict[str, str]:
    """The units and no-data value a file's .SAFE product states (MTD_MSIL2A.xml / MTD_MSIL1C.xml), {} outside one."""
    product = next((folder for folder in path.parents if folder.name.upper().endswith(".SAFE")), None)
    return _product_metadata(product) if product is not None else {}


@cache
def _product_metadata(product: Path) -> dict[str, str]:
    found: dict[str, set[str]] = {}
    for name in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
        text = _read_product_file(product / name)
        if text is None:
            continue
        try:
            for element in ElementTree.fromstring(text).iter():
                tag = _local_tag(element)
                key = _SAFE_UNITS.get(tag)
                if key and element.text and element.text.strip():
                    found.setdefault(key, set()).add(element.text.strip())
                if tag == "Special_Values":  # <SPECIAL_VALUE_TEXT>NODATA</...><SPECIAL_VALUE_INDEX>0</...>
                    values = {_local_tag(child): (child.text or "").strip() for child in element}
                    if values.get("SPECIAL_VALUE_TEXT") == _SAFE_NODATA and values.get("SPECIAL_VALUE_INDEX"):
                        found.setdefault(_SAFE_NODATA, set()).add(values["SPECIAL_VALUE_INDEX"])
        except ElementTree.ParseError as error:
            raise ValueError(f"source: {product.name}/{name} is not readable XML ({error})") from None
    return {key: next(iter(values)) for key, values in found.items() if len(values) == 1}  # one value for every band


def _local_tag(element: ElementTree.Element) -> str:
    """An XML element's name without its namespace."""
    return element.tag.rsplit("}", 1)[-1]


def _read_product_file(path: Path) -> bytes | None:
    """A file's bytes, on disk or inside a .zip or .tar (`_in_archive`); None if it is not there."""
    inside = _in_archive(path)
    if inside is None:
        return path.read_bytes() if path.is_file() else None
    archive, member = inside
    if archive.suffix.lower() == ".zip":
        with zipfile.ZipFile(archive) as opened:
            return opened.read(member) if member in opened.namelist() else None
    with tarfile.open(archive) as opened:  # members may be stored as ./name
        found = next((item for item in opened.getmembers() if item.isfile() and os.path.normpath(item.name) == member), None)
        return opened.extractfile(found).read() if found is not None else None


def _read_tiff(path: Path, chunks: Chunks) -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        # per-band scales are read from the header (`_open_tiffs`): rioxarray's note on them is noise here
        warnings.filterwarnings("ignore", message=r"(Scales|Offsets) differ across bands", category=UserWarning)
        array = rioxarray.open_rasterio(_gdal_name(path), mask_and_scale=False, chunks={"band": -1, "y": chunks, "x": chunks} if chunks else None)
        return array if chunks else array.load()


def _fill_value(array: xr.DataArray) -> float | None:
    """The no-data value a file states, None where it states none or NaN (NaN marks itself)."""
    value = array.attrs.get("_FillValue")
    return None if value is None or np.isnan(value) else value


def _with_nodata(array: xr.DataArray, nodata: float | None) -> xr.DataArray:
    """A file's no data stored as the cube's one `nodata` value (the first a file states): band files
    or dates that state others (an HLS-style NIR file's 65535 beside the visible bands' 0, a date
    exported with another fill) would otherwise keep them as values, and the outputs, which
    state one nodata, would give them out as reflectance. A file that states none takes it too."""
    own = _fill_value(array)
    if nodata is None or own == nodata:
        return array
    if own is None:
        return array.assign_attrs(_FillValue=array.dtype.type(nodata)) if np.can_cast(np.min_scalar_type(nodata), array.dtype) else array
    if not np.can_cast(np.min_scalar_type(nodata), array.dtype):
        raise ValueError(f"source: a file states no data as {own:g}, the first as {nodata:g}, which its {array.dtype} values cannot hold; give nodata= (command line: --nodata)")
    restated = array.where(array != own, array.dtype.type(nodata)).astype(array.dtype)
    restated.attrs = {**array.attrs, "_FillValue": array.dtype.type(nodata)}
    return restated


def _on_finest_grid(bands: list[xr.DataArray], paths: list[Path], nodata: float | None = None) -> list[xr.DataArray]:
    """One date's band files on its finest grid: a coarser band (Sentinel-2's 20 m bands beside
    its 10 m ones) covering the same area in the same CRS takes, at each fine pixel, the value of
    the coarse pixel it lies in (nearest neighbour: values, classes and no data kept as stored).
    """
    finest = min(range(len(bands)), key=lambda index: abs(bands[index].rio.resolution()[0]))
    fine = bands[finest]
    fine_bounds, (fine_x, fine_y) = np.array(fine.rio.bounds()), np.abs(fine.rio.resolution())
    placed = []
    for band, path in zip(bands, paths):
        if band.shape[-2:] == fine.shape[-2:] and band.rio.transform() == fine.rio.transform():
            placed.append(band)
            continue
        step = np.abs(band.rio.resolution())
        if band.rio.crs != fine.rio.crs or np.abs(np.array(band.rio.bounds()) - fine_bounds).max() > step.max() / 2:
            raise ValueError(
                f"source: {_label(path)} covers {band.rio.bounds()} in {band.rio.crs}, {_label(paths[finest])} covers {fine.rio.bounds()} "
                f"in {fine.rio.crs}; the bands of a date must cover one area in one CRS (reproject first)"
            )
        if step[0] < fine_x or step[1] < fine_y:
            raise ValueError(f"source: {_label(path)} has pixels of {step[0]:g} x {step[1]:g}, finer in one direction than {_label(paths[finest])}'s; resample first")
        placed.append(_within_footprint(band, fine, step, path, nodata))
    return placed


def _within_footprint(band: xr.DataArray, fine: xr.DataArray, step: np.ndarray, path: Path, nodata: float | None = None) -> xr.DataArray:
    """A coarser band on the fine grid: each fine pixel takes the coarse pixel it lies in; fine
    pixels outside the band's footprint (a grid shifted by part of a coarse pixel) take no data
    (`nodata` as given, else the band's), not the nearest edge pixel's value; without either,
    an integer band is refused."""
    nodata = _fill_value(band) if nodata is None else _stored_nodata(nodata, band.dtype)
    fill = {} if nodata is None else {"fill_value": band.dtype.type(nodata)}
    placed = band.reindex(y=fine["y"], method="nearest", tolerance=step[1] / 2 * (1 + 1e-9), **fill)
    placed = placed.reindex(x=fine["x"], method="nearest", tolerance=step[0] / 2 * (1 + 1e-9), **fill)
    if nodata is None and placed.dtype != band.dtype:  # NaN made room for pixels outside: nothing to mark them with
        raise ValueError(
            f"source: {_label(path)} does not cover the whole grid of the finest band (a shift by part of a pixel) and states no nodata "
            "to mark the rest with; give nodata= (command line: --nodata), or resample it onto the finest band's grid"
        )
    return placed.assign_coords(y=fine["y"], x=fine["x"])


def _label(path: Path) -> str:
    """A file named with its folder: band files of different dates share names."""
    return f"{path.parent.name}/{path.name}"


# Grids this close (at every corner, in pixels) are one grid: float noise in an origin written by
# other software (501360.0000001) is no other grid. The cube takes the first file's.
_GRID_TOLERANCE_PX = 1e-6


def _check_same_grid(arrays: list[xr.DataArray], names: list[Path]) -> None:
    """Every date on the first one's grid: CRS first (another CRS comes with another size, which
    named the wrong cause), then size, transform (within `_GRID_TOLERANCE_PX`) and data type."""
    first, label = arrays[0], _label(names[0])
    for array, name in zip(arrays[1:], names[1:]):
        if array.rio.crs != first.rio.crs:
            raise ValueError(
                f"source: {_label(name)} is in {_crs_name(array.rio.crs)}, {label} in {_crs_name(first.rio.crs)}; every date must share one CRS: "
                f"reproject {name.name} onto {names[0].name}'s grid (rioxarray's reproject_match, or gdalwarp)"
            )
        for what, mine, theirs, fix in (
            ("size", array.shape[-2:], first.shape[-2:], "every date must share one grid (reproject first)"),
            ("transform", array.rio.transform(), first.rio.transform(), "every date must share one grid (reproject first)"),
            ("data type", array.dtype, first.dtype, "every date must be stored alike (convert the files to one data type)"),
        ):
            if mine != theirs and not (what == "transform" and _same_grid(mine, theirs, first.shape[-2:])):
                mine, theirs = (tuple(value)[:6] if what == "transform" else value for value in (mine, theirs))  # an Affine prints on 3 lines
                raise ValueError(f"source: {_label(name)} has {what} {mine}, {label} has {theirs}; {fix}")


def _same_grid(transform: Affine, other: Affine, shape: tuple[int, int]) -> bool:
    """True where the two transforms put every corner of a `shape` (rows, columns) image within `_GRID_TOLERANCE_PX` pixels of each other."""
    rows, columns = shape
    corners = [(0, 0), (columns, 0), (0, rows), (columns, rows)]
    apart = max(np.hypot(*np.subtract(transform @ corner, other @ corner)) for corner in corners)
    pixel = min(np.hypot(transform.a, transform.d), np.hypot(transform.b, transform.e))
    return bool(apart <= _GRID_TOLERANCE_PX * pixel)


def _crs_name(crs: CRS | None) -> str:
    """A CRS as people write it (EPSG:32631), its WKT where it has no code; "no CRS" for none."""
    return "no CRS" if crs is None else crs.to_string()


# ---- netCDF and zarr -----------------------------------------------------------------------


def with_standard_dims(data: XarrayObject) -> XarrayObject:
    """`lat`/`lon`, `t`/`timestamp` and `bands` (as netCDF files and openEO's client name them) renamed
    to the cube's `y`/`x`, `time` and `band`; names already standard stay."""
    return data.rename({old: new for old, new in _DIM_RENAMES.items() if old in data.dims and new not in data.dims})


def _open_dataset(path: Path, chunks: Chunks, bands: list[str] | None) -> tuple[xr.DataArray, Units | None]:
    options = {"mask_and_scale": False, "decode_coords": "all", "chunks": {} if chunks else None}
    try:
        with warnings.catch_warnings():  # xarray's note on a malformed CF bounds attribute is not the user's to act on
            warnings.filterwarnings("ignore", message=r"Variable\(s\) referenced in bounds not in variables")
            dataset = xr.open_zarr(path, **options) if path.suffix.lower() == ".zarr" else xr.open_dataset(path, **options)
    except (OSError, ValueError) as error:
        raise ValueError(f"source: {path.name} is not a readable {path.suffix} cube ({type(error).__name__}: {error})") from None
    try:
        cube, units = _dataset_cube(dataset, path, chunks, bands)
    except BaseException:
        dataset.close()
        raise
    if not chunks:  # eager: read now and let the file go. A second handle on one netCDF file, opened
        cube = cube.load()  # and dropped while the first was still read lazily, crashed the process (netCDF4 1.7.5, HDF5 2.2)
        dataset.close()
    return cube, units


def _dataset_cube(dataset: xr.Dataset, path: Path, chunks: Chunks, bands: list[str] | None) -> tuple[xr.DataArray, Units | None]:
    """The (time, band, y, x) cube of an opened netCDF or zarr dataset and its units (`_open_dataset`)."""
    geographic = bool({"lat", "latitude", "lon", "longitude"} & set(dataset.dims)) and not {"y", "x"} & set(dataset.dims)  # degrees, unless x/y exist too
    dataset = with_standard_dims(dataset)
    stacked = [name for name, variable in dataset.data_vars.items() if set(variable.dims) == set(DIMS)]
    chosen = (stacked[0] if len(stacked) == 1 or "clear" not in stacked else "clear") if stacked else None
    on_band_axis = chosen is not None and "band" in dataset[chosen].coords and set(bands or ()) <= set(map(str, dataset[chosen]["band"].values))
    if chosen is not None and (bands is None or on_band_axis):  # already a cube, e.g. written by write_cube; bands= picks from its band axis
        left = [name for name, variable in dataset.data_vars.items() if name != chosen and set(variable.dims) >= {"time", "y", "x"}]
        if left and chosen != "clear":  # write_cube's own stores hold clear, mask and probability
            warnings.warn(f"source: {path.name}: the cube is its (time, band, y, x) variable {chosen}; {', '.join(left)} {'is' if len(left) == 1 else 'are'} not read", stacklevel=3)
        cube = dataset[chosen].transpose(*DIMS)
        variable_attrs = dict(cube.attrs)
        if bands is not None:
            cube = cube.sel(band=list(bands))
        units = cube_units(cube)
    else:
        layers = [name for name, variable in dataset.data_vars.items() if set(variable.dims) == {"time", "y", "x"}]
        if not layers and stacked:  # bands= picks variables; these bands are values of one variable's band axis
            present = ", ".join(map(str, dataset[stacked[0]]["band"].values)) if "band" in dataset[stacked[0]].coords else "unnamed"
            raise ValueError(
                f"bands: {path.name} holds its bands ({present}) in one (time, band, y, x) variable, {stacked[0]}, and bands= picks "
                "(time, y, x) variables: leave bands out (command line: --bands), and choose bands with rgb= or cube.sel(band=[...])"
            )
        if not layers:
            found = ", ".join(f"{name} ({', '.join(map(str, variable.dims))})" for name, variable in dataset.data_vars.items()) or "none"
            aliases = "; ".join(f"{dim}: {', '.join(old for old, new in _DIM_RENAMES.items() if new == dim)}" for dim in ("time", "y", "x", "band"))
            raise ValueError(
                f"source: {path.name} has no variable with dims (time, y, x) or (time, band, y, x); found {found}. Other names taken for them: "
                f"{aliases}; for other names, rename the dims and save the file again: xarray.open_dataset(...).rename({{...}}).to_netcdf(...)"
            )
        chosen = bands if bands is not None else layers
        unknown = [name for name in chosen if name not in layers]
        if unknown or not chosen:
            axis = f"its (time, band, y, x) variable {stacked[0]} holds bands {', '.join(map(str, dataset[stacked[0]]['band'].values))}; " if stacked and "band" in dataset[stacked[0]].coords else ""
            raise ValueError(f"bands: {', '.join(unknown) or 'none'} not in {path.name}; {axis}its (time, y, x) variables are {', '.join(layers)}")
        dtypes = {name: dataset[name].dtype for name in chosen}
        if len(set(dtypes.values())) > 1:
            listed = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
            raise ValueError(f"bands: {listed} have different data types; choose bands of one type with bands= (command line: --bands)")
        classes = set(class_bands(chosen))  # copied, never converted: their units do not matter
        per_band = [Units(1.0, 0.0) if index in classes else units_from_metadata(dataset[name].attrs, dtypes[name]) for index, name in enumerate(chosen)]
        units = None if any(item is None for item in per_band) else Units(
            tuple(float(np.ravel(item.scale)[0]) for item in per_band), tuple(float(np.ravel(item.offset)[0]) for item in per_band)
        )
        first = variable_attrs = dict(dataset[chosen[0]].attrs)
        nodata = first.get("_FillValue", first.get("missing_value"))
        cube = xr.concat([dataset[name] for name in chosen], dim=pd.Index(chosen, name="band"), combine_attrs="drop").transpose(*DIMS)
        cube.attrs = {key: value for key, value in (("_FillValue", nodata), ("_Unsigned", first.get("_Unsigned"))) if value is not None}
    if str(cube.attrs.pop("_Unsigned", "")).lower() == "true" and cube.dtype.kind == "i":  # decoded here, never passed on
        cube = _as_unsigned(cube)
    if chunks:
        cube = cube.chunk({"y": chunks, "x": chunks})
    if cube.rio.crs is None:
        cube = _crs_of_dataset(cube, dataset, variable_attrs, geographic=geographic)
    return cube, units


def _as_unsigned(cube: xr.DataArray) -> xr.DataArray:
    """CF's `_Unsigned`: integers stored signed (netCDF-3 has no unsigned types) that mean unsigned
    ones, as xarray's CF decoding reads them; read as stored, values over 32767 came out negative."""
    unsigned = np.dtype(f"u{cube.dtype.itemsize}")
    result = cube.astype(unsigned)  # two's complement: -1 is 65535
    if "_FillValue" in result.attrs:
        result.attrs["_FillValue"] = int(np.array(result.attrs["_FillValue"], cube.dtype).astype(unsigned))
    return result


_CRS_ATTRS = ("crs_wkt", "spatial_ref", "crs", "epsg", "epsg_code")  # attributes some exports state a CRS in, without a grid mapping


def _crs_of_dataset(cube: xr.DataArray, dataset: xr.Dataset, variable_attrs: dict, geographic: bool) -> xr.DataArray:
    """A CRS the variable does not point to: the file's one grid mapping variable (CF), else one
    stated as an attribute of the band variables or of the file (`crs`, `spatial_ref`, `epsg`: as
    some exports write it), else WGS 84 for latitude/longitude axes; else none (never guessed
    for x/y in unknown units)."""
    mappings = [variable for variable in dataset.variables.values() if "crs_wkt" in variable.attrs or "spatial_ref" in variable.attrs]
    if len(mappings) == 1:
        return cube.rio.write_crs(mappings[0].attrs.get("crs_wkt", mappings[0].attrs.get("spatial_ref")))
    for attrs in (variable_attrs, dataset.attrs):
        for key in _CRS_ATTRS:
            if key in attrs:
                try:
                    return cube.rio.write_crs(CRS.from_user_input(int(attrs[key]) if key in ("epsg", "epsg_code") else attrs[key]))
                except (CRSError, TypeError, ValueError):
                    warnings.warn(f"{key}: {attrs[key]!r} is not a CRS rasterio reads; the cube has none (give it one: cube.rio.write_crs('EPSG:...'))", stacklevel=4)
    return cube.rio.write_crs("EPSG:4326") if geographic else cube


def _warn_repeated_times(cube: xr.DataArray) -> None:
    """A netCDF or zarr time coordinate stating one instant twice is most likely one acquisition
    stored twice (a concatenation repeated); the cube's own times are kept, but the user is told."""
    times = pd.DatetimeIndex(cube["time"].values)
    repeated = times[times.duplicated()].unique()
    if len(repeated):
        listed = ", ".join(str(time) for time in repeated[:3]) + (", ..." if len(repeated) > 3 else "")
        warnings.warn(
            f"dates: the time coordinate gives {listed} more than once; each is kept and filled as a separate acquisition "
            "(write_cube names the second clear_<date>_2); if one acquisition is stored twice, drop it: cube.drop_duplicates('time')",
            stacklevel=3,
        )


# ---- common --------------------------------------------------------------------------------


def _check_given_twice(cube: xr.DataArray, given: pd.DatetimeIndex, found: pd.DatetimeIndex | None) -> None:
    """Refuse a date given twice (a typo puts one file's pixels under another's date), unless it is
    those files' own date and their names tell two satellites apart (HLS S30 and L30 of one day,
    as the app passes the dates the files state)."""
    labels = [Path(str(name)) for name in cube[INPUT_FILE_COORD].values] if INPUT_FILE_COORD in cube.coords else None
    refused = []
    for date in given[given.duplicated()].unique():
        positions = np.flatnonzero(given == date)
        own = found is not None and all(found[position].date() == date.date() for position in positions)
        if not (own and labels is not None and _all_told_apart([labels[position] for position in positions])):
            refused.append(str(date.date()))
    if refused:
        raise ValueError(f"dates: {', '.join(refused)} given twice; give each acquisition its own date, in the order the files are given")


def _finish(cube: xr.DataArray, dates: list[DateLike] | None, units: Units | None) -> xr.DataArray:
    """Dates, time order, units and nodata in one place, whatever the source."""
    if dates is not None:
        if len(dates) != cube.sizes["time"]:
            raise ValueError(f"dates: got {len(dates)} dates for {cube.sizes['time']} acquisitions; give one per acquisition, in the order the files are given")
        try:
            given = pd.to_datetime([str(date) for date in dates], format="ISO8601")
        except ValueError:
            raise ValueError(f"dates: {list(dates)!r} are not all ISO dates like 2021-05-10") from None
        found = acquisition_times(cube)
        if given.duplicated().any():
            _check_given_twice(cube, given, found)
        labels = [f" ({Path(str(name)).name})" for name in cube[INPUT_FILE_COORD].values] if INPUT_FILE_COORD in cube.coords else [""] * len(given)
        changed = [] if found is None else [f"{old.date()}{label} given as {new.date()}" for old, new, label in zip(found, given, labels) if old.date() != new.date()]
        if changed:  # the day, not the time: a tag's time of day is no disagreement
            listed = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
            warnings.warn(f"dates: {len(changed)} of the dates given differ from the files' own ({listed}); the dates given are used", stacklevel=3)
        cube = cube.assign_coords(time=given)
    times = acquisition_times(cube)
    if times is None:
        raise ValueError(
            f"dates: no acquisition dates found ({describe_time(cube)}; GeoTIFFs give them as tags ACQUISITION_DATE/TIFFTAG_DATETIME or in the "
            "file name, netCDF and zarr as a datetime 'time' coordinate); pass dates= (command line: --dates), one per acquisition"
        )
    if times.isna().any():
        missing = ", ".join(str(position + 1) for position in np.flatnonzero(times.isna())[:5])
        raise ValueError(f"dates: the time coordinate has no date for acquisition(s) {missing} (NaT, counting from 1); pass dates= (command line: --dates), one per acquisition")
    cube = cube.assign_coords(time=times).sortby("time")
    if cube.chunks is not None:  # every chunk holds all dates and bands of its area
        cube = cube.chunk({"time": -1, "band": -1})
    cube = with_units(cube, units)
    nodata = cube.attrs.get("_FillValue")
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        cube = cube.rio.write_nodata(nodata, encoded=False)
    cube.name = cube.name or "reflectance"
    return cube


def acquisition_times(cube: xr.DataArray) -> pd.DatetimeIndex | None:
    """A cube's time coordinate as naive UTC datetimes, as the pipeline and the outputs' dates take
    them: times with a time zone (STAC tooling gives UTC) converted, ISO strings and cftime dates of
    a model calendar ("noleap") read; None where there are no times."""
    if "time" not in cube.coords:
        return None
    index = cube.get_index("time")
    if isinstance(index, pd.DatetimeIndex):
        return index.tz_convert(None) if index.tz is not None else index
    try:
        return pd.to_datetime([str(value) for value in cube["time"].values], format="ISO8601", utc=True).tz_convert(None)
    except (ValueError, TypeError, OverflowError):
        return None


def describe_time(cube: xr.DataArray) -> str:
    """What a cube has in place of acquisition times, for a message."""
    return f"a time coordinate of values like {str(cube['time'].values[0])!r}" if "time" in cube.coords else "no time coordinate"


def _attr(value: float | tuple[float, ...]) -> float | list[float]:
    return float(value) if np.ndim(value) == 0 else [float(item) for item in value]
