"""Readers: every source becomes a `Cube` of RGB reflectance, cloud labels and dates.

Sources: EarthNet2021 `.npz` cubes, EarthNet2021x / GreenEarthNet minicubes (via the
`earthnet` toolkit), generic Sentinel-2 netCDF cubes (reflectance or DN, with SCL), openEO field
cubes without labels (labelled from the time series itself), Landsat-8 surface-reflectance
cubes with `pixel_qa`, HLS folders of per-band GeoTIFFs, any other georeferenced cube the
library's `clear_vision.open_cube` reads (a folder of GeoTIFFs, a zarr store: a user's own site)
and folders of 8-bit RGB frames.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clear_vision.io.decode import DEFAULT_SPACING_DAYS, collect_image_paths, dates_from_names, load_frames

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "Cube",
    "CLEAR",
    "CLOUD",
    "SHADOW",
    "IGNORE",
    "read_cube",
    "read_earthnet_npz",
    "read_en21x",
    "read_s2_netcdf",
    "read_landsat_qa_netcdf",
    "read_hls_folder",
    "read_geo_cube",
    "read_rgb_folder",
    "labels_from_scl",
    "labels_from_landsat_qa",
    "labels_from_time_series",
]

# Per-pixel label classes used for detector training and for masks.
CLEAR, CLOUD, SHADOW, IGNORE = 0, 1, 2, 255
STANDARD_GAIN = 3.0  # 8-bit frames on disk are taken to be reflectance x 3, the usual stretch of true-colour pictures


@dataclass
class Cube:
    """One place over time.

    Attributes:
        name: short identifier (file stem).
        reflectance: (T,H,W,3) float32 red, green, blue surface reflectance; NaN = no observation.
        labels: (T,H,W) uint8, CLEAR / CLOUD / SHADOW / IGNORE (no data or unsure class).
        dates: (T,) datetime64[D].
        real_labels: whether the labels come with the data (SCL, Fmask, QA, human) rather than
            from the series itself (`labels_from_time_series`): only real ones teach stage 1.
    """

    name: str
    reflectance: np.ndarray
    labels: np.ndarray
    dates: np.ndarray
    real_labels: bool = True

    @property
    def bad(self) -> np.ndarray:
        """(T,H,W) bool: cloud, shadow, unsure or missing - anything not a clear observation."""
        return (self.labels != CLEAR) | np.isnan(self.reflectance).any(axis=-1)

    def days(self, indices: np.ndarray | list[int]) -> np.ndarray:
        """Days since the first of the given frames."""
        chosen = self.dates[np.asarray(indices)]
        return (chosen - chosen[0]).astype("timedelta64[D]").astype(np.float32)

    def clear_frames(self, max_bad: float = 0.03) -> np.ndarray:
        """Indices of frames with less than `max_bad` bad pixels and no NaN (BENCHMARK.md step 1)."""
        no_nan = ~np.isnan(self.reflectance).any(axis=(1, 2, 3))
        return np.flatnonzero(no_nan & (self.bad.mean(axis=(1, 2)) < max_bad))


def labels_from_scl(scl: np.ndarray) -> np.ndarray:
    """Sen2Cor SCL -> labels. Dark areas (2) and unclassified (7) are unsure; snow (11) is clear ground."""
    labels = np.full(scl.shape, IGNORE, dtype=np.uint8)
    labels[np.isin(scl, (4, 5, 6, 11))] = CLEAR
    labels[np.isin(scl, (8, 9, 10))] = CLOUD
    labels[scl == 3] = SHADOW
    return labels


def _to_reflectance(values: np.ndarray) -> np.ndarray:
    """DN (reflectance x 10000) or reflectance -> reflectance, told apart by magnitude: a median above 5
    is taken for DN. A guess that holds for the Sentinel-2 netCDF series it reads (unlike the library,
    which takes units from the files or refuses)."""
    values = values.astype(np.float32)
    values[values <= 0] = np.nan  # 0 is the no-data value of both units
    median = np.nanmedian(values) if np.isfinite(values).any() else 0.0
    return values / 10000.0 if median > 5.0 else values


def read_earthnet_npz(path: str | Path, start: str | None = None) -> Cube:
    """EarthNet2021 `.npz`: `highresdynamic` (H,W,C,T) with C = 5 (B,G,R,NIR,mask) or 7 (+prob, SCL, mask).

    The cubes hold no dates: frames are 5 days apart, from `start` (ISO) if known.
    """
    with np.load(path) as data:
        cube = data["highresdynamic"].astype(np.float32)
    if cube.ndim != 4 or cube.shape[2] not in (5, 7):
        raise ValueError(f"{path}: highresdynamic must be (H,W,5|7,T), got {cube.shape}")
    reflectance = np.moveaxis(cube[:, :, [2, 1, 0], :], -1, 0)  # (T,H,W,3) R,G,B
    if cube.shape[2] == 7:
        labels = labels_from_scl(np.nan_to_num(np.moveaxis(cube[:, :, 5, :], -1, 0)).astype(np.int64))
    else:
        mask = np.moveaxis(cube[:, :, 4, :], -1, 0)
        labels = np.where(mask > 0, CLOUD, CLEAR).astype(np.uint8)
    first = np.datetime64(start or "2000-01-01", "D")
    dates = first + np.arange(reflectance.shape[0]) * np.timedelta64(5, "D")
    return Cube(Path(path).stem, reflectance, labels, dates)


def read_en21x(path: str | Path) -> Cube:
    """EarthNet2021x / GreenEarthNet minicube, read by the earthnet toolkit.

    Labels come from the CloudSEN12 `s2_dlmask` (0 clear, 1 thick, 2 thin cloud, 3 shadow) on
    the same dates the toolkit samples.
    """
    import earthnet
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        npz = earthnet.load_en21x_as_npz(str(path))
    cube = npz["highresdynamic"]  # (H,W,5,T): B02,B03,B04,B8A,mask
    reflectance = np.moveaxis(cube[:, :, [2, 1, 0], :], -1, 0).astype(np.float32)
    with xr.open_dataset(path) as minicube:  # the same every-5th-day sampling as the toolkit
        sampled = minicube.isel(time=slice(4, None, 5))
        dlmask = sampled["s2_dlmask"].values
        dates = sampled["time"].values.astype("datetime64[D]")
    labels = np.full(dlmask.shape, IGNORE, dtype=np.uint8)
    labels[dlmask == 0] = CLEAR
    labels[(dlmask == 1) | (dlmask == 2)] = CLOUD
    labels[dlmask == 3] = SHADOW
    return Cube(Path(path).stem, reflectance, labels, dates)


_BAND_NAMES = {
    "red": ("B04", "B4", "S2-L2A-B04", "s2_B04"),
    "green": ("B03", "B3", "S2-L2A-B03", "s2_B03"),
    "blue": ("B02", "B2", "S2-L2A-B02", "s2_B02"),
    "scl": ("SCL", "S2-L2A-SCL", "s2_SCL"),
}
_TIME_NAMES = ("time", "timestamp", "t")


def _find(dataset, role: str):
    for name in _BAND_NAMES[role]:
        if name in dataset.data_vars:
            return dataset[name]
    return None


def _time_name(dataset) -> str | None:
    return next((name for name in _TIME_NAMES if name in dataset.dims), None)


def _read_rgb(dataset, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T,H,W,3) reflectance (DN scaled by magnitude) and (T,) dates of a netCDF cube's B04, B03, B02."""
    time_name = _time_name(dataset)
    bands = [_find(dataset, role) for role in ("red", "green", "blue")]
    if time_name is None or any(band is None for band in bands):
        raise ValueError(f"{path.name}: expected a time dimension and bands B04, B03, B02")
    reflectance = np.stack([_to_reflectance(band.transpose(time_name, ...).values) for band in bands], axis=-1)
    return reflectance, dataset[time_name].values.astype("datetime64[D]")


def _first_of_each_date(cube: Cube) -> Cube:
    """Keep the first frame of each date, so dates strictly increase (some cubes repeat an acquisition)."""
    _, first = np.unique(cube.dates, return_index=True)
    return Cube(cube.name, cube.reflectance[first], cube.labels[first], cube.dates[first])


def read_s2_netcdf(path: str | Path) -> Cube:
    """Generic Sentinel-2 netCDF cube (nrt, WorldCereal, openEO): B04/B03/B02 and SCL over time.

    Reflectance or DN is decided from the magnitude. WorldCereal keeps SCL in a sibling 20 m
    file (`_20m_` instead of `_10m_`), upsampled 2x by nearest neighbour. A cube with neither
    (the openEO Puglia field cubes) is labelled from its own time series
    (`labels_from_time_series`).
    """
    import xarray as xr

    path = Path(path)
    with xr.open_dataset(path, mask_and_scale=False) as dataset:
        reflectance, dates = _read_rgb(dataset, path)
        scl = _find(dataset, "scl")
        scl = None if scl is None else scl.transpose(_time_name(dataset), ...).values
    sibling = path.with_name(path.name.replace("_10m_", "_20m_"))
    if scl is None and sibling != path and sibling.is_file():
        with xr.open_dataset(sibling, mask_and_scale=False) as coarse:
            scl = _find(coarse, "scl").transpose(_time_name(coarse), ...).values
        scl = scl.repeat(2, axis=1).repeat(2, axis=2)[:, : reflectance.shape[1], : reflectance.shape[2]]
    if scl is None:
        labels = labels_from_time_series(reflectance)
    else:
        labels = labels_from_scl(np.nan_to_num(scl).astype(np.int64))
    return _first_of_each_date(Cube(path.stem, reflectance, labels, dates))


# Unlabelled cubes: a pixel's clear reference is its median over all dates (the surface stays,
# clouds and shadows come and go; MODELS.md, Tmask). Thresholds in reflectance / brightness ratio.
CLOUD_BLUE_RISE, UNSURE_BLUE_RISE = 0.04, 0.02  # blue above the reference: cloud / haze margin
SHADOW_RATIO, UNSURE_RATIO = 0.7, 0.8  # brightness below this share of the reference: shadow / unsure


def labels_from_time_series(reflectance: np.ndarray) -> np.ndarray:
    """Labels for a cube without cloud labels, from each pixel's deviation from its median over time.

    Blue more than 0.04 above the pixel's median is cloud (0.02..0.04: unsure haze margin);
    mean brightness under 0.7x the median is shadow (0.7..0.8: unsure); NaN is IGNORE. Works
    when most dates are clear, as in the Puglia summer cubes (2..3 cloudy dates of 19).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels (outside the field)
        reference = np.nanmedian(reflectance, axis=0)
    blue_rise = reflectance[..., 2] - reference[..., 2]
    ratio = reflectance.mean(axis=-1) / np.maximum(reference.mean(axis=-1), 1e-4)
    labels = np.full(reflectance.shape[:3], CLEAR, dtype=np.uint8)
    labels[(blue_rise > UNSURE_BLUE_RISE) | (ratio < UNSURE_RATIO)] = IGNORE
    labels[ratio < SHADOW_RATIO] = SHADOW
    labels[blue_rise > CLOUD_BLUE_RISE] = CLOUD
    labels[np.isnan(reflectance).any(axis=-1)] = IGNORE
    return labels


def labels_from_landsat_qa(qa: np.ndarray) -> np.ndarray:
    """Landsat Collection-1 SR `pixel_qa` -> labels: bit 0 fill, 3 cloud shadow, 5 cloud, 8-9 cirrus confidence.

    High-confidence cirrus counts as cloud (like SCL 10); fill is IGNORE; all else is clear.
    """
    qa = qa.astype(np.int64)
    labels = np.full(qa.shape, CLEAR, dtype=np.uint8)
    labels[(qa >> 3) & 1 == 1] = SHADOW
    labels[((qa >> 5) & 1 == 1) | ((qa >> 8) & 3 == 3)] = CLOUD
    labels[(qa & 1 == 1) | (qa == 0)] = IGNORE  # 0 is the file's _FillValue
    return labels


LANDSAT_SR_SCALE = 1e-4  # Collection-1 SR: DN x 0.0001 = reflectance (the files' scale_factor)
LANDSAT_SR_MAX = 16000  # above: saturated (20000) or a negative value stored as uint16 (65xxx)


def read_landsat_qa_netcdf(path: str | Path) -> Cube:
    """WorldCereal Landsat-8 SR cube: B04 red, B03 green, B02 blue (Landsat numbering) uint16 and `pixel_qa`.

    Checked by magnitude: clear-land medians of 300..1000 DN = reflectance 0.03..0.1 at the
    files' scale factor 0.0001. Repeated acquisition dates keep their first frame.
    """
    import xarray as xr

    path = Path(path)
    with xr.open_dataset(path, mask_and_scale=False) as dataset:
        time_name = _time_name(dataset)
        digital = np.stack([dataset[band].transpose(time_name, ...).values for band in ("B04", "B03", "B02")], axis=-1)
        qa = dataset["pixel_qa"].transpose(time_name, ...).values
        dates = dataset[time_name].values.astype("datetime64[D]")
    reflectance = digital.astype(np.float32) * LANDSAT_SR_SCALE
    reflectance[(digital == 0) | (digital > LANDSAT_SR_MAX)] = np.nan
    labels = labels_from_landsat_qa(qa)
    labels[np.isnan(reflectance).any(axis=-1)] = IGNORE
    return _first_of_each_date(Cube(path.stem, reflectance, labels, dates))


def read_hls_folder(path: str | Path) -> Cube:
    """HLS folder: `YYYYMMDD/YYYYMMDD_{S30,L30}_<tile>_{B02,B03,B04}.tif`, float32 reflectance, NaN = Fmask cloud/shadow.

    NaN pixels are IGNORE (removed cloud or shadow, not looked at), the rest CLEAR. When both
    S30 and L30 exist on a date, the one with more valid pixels is kept: mixing sensors inside
    one frame would put a seam where they meet.
    """
    import rasterio

    path = Path(path)
    frames, dates = [], []
    for day in sorted(folder for folder in path.iterdir() if folder.is_dir() and folder.name.isdigit()):
        candidates = []
        for product in ("S30", "L30"):
            files = [next(day.glob(f"{day.name}_{product}_*_{band}.tif"), None) for band in ("B04", "B03", "B02")]
            if all(files):
                bands = []
                for file in files:
                    with rasterio.open(file) as source:
                        bands.append(source.read(1).astype(np.float32))
                candidates.append(np.stack(bands, axis=-1))
        if candidates:
            frames.append(max(candidates, key=lambda frame: np.isfinite(frame).all(axis=-1).sum()))
            dates.append(np.datetime64(f"{day.name[:4]}-{day.name[4:6]}-{day.name[6:]}", "D"))
    if not frames:
        raise ValueError(f"{path}: no HLS date folders with B04, B03, B02 GeoTIFFs")
    reflectance = np.stack(frames)
    labels = np.where(np.isnan(reflectance).any(axis=-1), IGNORE, CLEAR).astype(np.uint8)
    return Cube(path.name, reflectance, labels, np.array(dates, dtype="datetime64[D]"))


def read_rgb_folder(path: str | Path) -> Cube:
    """A folder of 8-bit RGB frames, in the order the library reads such a folder (`collect_image_paths`:
    by the dates in the names where every name has one, else natural sort order); dates from the names.

    Frames are taken to be rendered at the standard gain 3, and carry no labels (all IGNORE).
    """
    paths = collect_image_paths([path])
    frames = load_frames(paths)
    reflectance = frames.astype(np.float32) / 255.0 / STANDARD_GAIN
    found = dates_from_names(paths)
    if found:
        dates = np.array(found, dtype="datetime64[D]")
    else:
        dates = np.datetime64("2000-01-01", "D") + (np.arange(len(paths)) * DEFAULT_SPACING_DAYS).astype("timedelta64[D]")  # as the library takes undated frames
    labels = np.full(frames.shape[:3], IGNORE, dtype=np.uint8)
    return Cube(Path(path).name, reflectance, labels, dates)


def read_geo_cube(path: str | Path, scale: float | None = None, offset: float | None = None) -> Cube:
    """A georeferenced cube as `clear_vision.open_cube` reads it (a folder of GeoTIFFs, one file per
    date or per band and date; a zarr store), in the units its files state: a user's own site.

    Labels come from its Sen2Cor SCL band, or its per-date SCL files beside band files (which
    the cube path leaves out: it fills bands), where it has them (`labels_from_scl`); else from
    the series itself (`labels_from_time_series`; `real_labels` False). No data is NaN and
    IGNORE. `scale`, `offset`: the units of a series whose files do not state them; files that
    state theirs keep them. A Clear Vision result is refused: its filled pixels are no observations.
    """
    from clear_vision.geo import open_cube
    from clear_vision.geo.cube import class_bands, cube_units, default_rgb, find_rasters, with_units
    from clear_vision.geo.remove import check_cube, cube_frames, stated_nodata
    from clear_vision.geo.units import DEFAULT_GAIN, units_from_metadata

    path = Path(path)
    opened = open_cube(path)
    if "fill_method" in opened.attrs or any(_RESULT_FILE.match(raster.stem) for raster in (find_rasters(path) if path.is_dir() else [])):
        raise ValueError(f"{path}: a Clear Vision result (its filled pixels are not observations); add the series it was made from")
    if (scale is not None or offset is not None) and cube_units(opened) is None:  # only where the files leave the units unsaid
        opened = with_units(opened, units_from_metadata({}, opened.dtype, scale, offset))
    cube, units, _, rgb_index, _ = check_cube(opened, default_rgb(opened))  # its dates, bands and units, as `remove_cube` checks them
    names = [str(name) for name in cube["band"].values]
    # no data as the cube path finds it (nodata, NaN, impossible values, black): never a training pixel
    reflectance, missing, _ = cube_frames(cube.values, units, stated_nodata(cube), rgb_index, class_bands(names), DEFAULT_GAIN)
    reflectance = np.moveaxis(reflectance[:, rgb_index], 1, -1)
    reflectance[missing] = np.nan
    scl = _scene_classes(path, cube)
    labels = labels_from_scl(scl) if scl is not None else labels_from_time_series(reflectance)
    labels[np.isnan(reflectance).any(axis=-1)] = IGNORE
    dates = cube["time"].values.astype("datetime64[D]")
    return Cube(path.stem if path.is_file() or path.suffix else path.name, reflectance, labels, dates, real_labels=scl is not None)


_RESULT_FILE = re.compile(r"^(?:clear|mask)_\d{4}-\d{2}-\d{2}(?:_\d+)?$")  # write_cube's COGs


def _scene_classes(path: Path, cube: xr.DataArray) -> np.ndarray | None:
    """(T,H,W) Sen2Cor classes: the cube's SCL band, or per-date *_SCL files beside its band files, else None."""
    from clear_vision.geo import open_cube
    from clear_vision.geo.cube import find_rasters

    names = [str(name) for name in cube["band"].values]
    band = next((index for index, name in enumerate(names) if name.upper().endswith("SCL")), None)
    if band is not None:
        return cube.values[:, band]
    files = sorted(raster for raster in find_rasters(path) if raster.stem.upper().endswith("SCL")) if path.is_dir() else []
    if not files:
        return None
    classes = open_cube(files)
    missing = sorted(set(cube["time"].values) - set(classes["time"].values))
    if missing or classes.shape[-2:] != cube.shape[-2:]:
        why = f"none for {', '.join(str(np.datetime64(day, 'D')) for day in missing[:3])}" if missing else f"{classes.shape[-2]}x{classes.shape[-1]} px, the bands {cube.shape[-2]}x{cube.shape[-1]}"
        raise ValueError(f"{path}: its SCL files do not match its bands ({why}); give every date an SCL file on the bands' grid, or none")
    return classes.sel(time=cube["time"].values).values[:, 0]


def _is_hls_folder(path: Path) -> bool:
    return any(folder.is_dir() and folder.name.isdigit() and any(folder.glob("*_B04.tif")) for folder in path.iterdir())


def read_cube(path: str | Path, scale: float | None = None, offset: float | None = None) -> Cube:
    """Pick the reader from the file: HLS folder, a folder of GeoTIFFs or a zarr store the library
    reads as a cube, a folder of 8-bit pictures, .npz, EarthNet2021x minicube, Landsat QA or S2 netCDF.
    `scale`, `offset`: for a georeferenced cube whose files do not state their units."""
    from clear_vision.geo.cube import find_rasters, is_cube_source

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".zarr":
        return read_geo_cube(path, scale, offset)
    if path.is_dir():
        if _is_hls_folder(path):
            return read_hls_folder(path)
        # georeferenced or not 8-bit: reflectance or digital numbers in stated units (read as 8-bit pictures they came out 20x too dark)
        return read_geo_cube(path, scale, offset) if any(is_cube_source(raster) for raster in find_rasters(path)) else read_rgb_folder(path)
    if path.suffix == ".npz":
        return read_earthnet_npz(path)
    if path.suffix == ".nc":
        import xarray as xr

        with xr.open_dataset(path, mask_and_scale=False) as dataset:
            variables = set(dataset.data_vars)
        if "s2_dlmask" in variables:
            return read_en21x(path)
        return read_landsat_qa_netcdf(path) if "pixel_qa" in variables else read_s2_netcdf(path)
    raise ValueError(f"{path}: unsupported cube; expected a folder of GeoTIFFs or of 8-bit frames, a .zarr store, .npz or .nc")
