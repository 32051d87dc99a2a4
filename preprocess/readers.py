"""Readers: every source becomes a `Cube` of RGB reflectance, cloud labels and dates.

Sources: EarthNet2021 `.npz` cubes, EarthNet2021x / GreenEarthNet minicubes (via the
`earthnet` toolkit), generic Sentinel-2 netCDF cubes (reflectance or DN, with SCL) and folders
of RGB frames.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clear_vision.decode import collect_image_paths, dates_from_names, load_frames

__all__ = ["Cube", "CLEAR", "CLOUD", "SHADOW", "IGNORE", "read_cube", "read_earthnet_npz", "read_en21x", "read_s2_netcdf", "read_rgb_folder", "labels_from_scl"]

# Per-pixel label classes used for detector training and for masks.
CLEAR, CLOUD, SHADOW, IGNORE = 0, 1, 2, 255
STANDARD_GAIN = 3.0  # 8-bit frames on disk are taken to be reflectance x 3 (the seed's stretch)


@dataclass
class Cube:
    """One place over time.

    Attributes:
        name: short identifier (file stem).
        reflectance: (T,H,W,3) float32 red, green, blue surface reflectance; NaN = no observation.
        labels: (T,H,W) uint8, CLEAR / CLOUD / SHADOW / IGNORE (no data or unsure class).
        dates: (T,) datetime64[D].
    """

    name: str
    reflectance: np.ndarray
    labels: np.ndarray
    dates: np.ndarray

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
    """DN (reflectance x 10000) or reflectance -> reflectance, decided by magnitude, never guessed."""
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


def read_s2_netcdf(path: str | Path) -> Cube:
    """Generic Sentinel-2 netCDF cube (nrt, WorldCereal, openEO): B04/B03/B02 and SCL over time.

    Reflectance or DN is decided from the magnitude. WorldCereal keeps SCL in a sibling 20 m
    file (`_20m_` instead of `_10m_`), upsampled 2x by nearest neighbour.
    """
    import xarray as xr

    path = Path(path)
    with xr.open_dataset(path, mask_and_scale=False) as dataset:
        time_name = next((name for name in _TIME_NAMES if name in dataset.dims), None)
        bands = [_find(dataset, role) for role in ("red", "green", "blue")]
        if time_name is None or any(band is None for band in bands):
            raise ValueError(f"{path.name}: expected a time dimension and bands B04, B03, B02")
        reflectance = np.stack([_to_reflectance(band.transpose(time_name, ...).values) for band in bands], axis=-1)
        dates = dataset[time_name].values.astype("datetime64[D]")
        scl = _find(dataset, "scl")
        scl = None if scl is None else scl.transpose(time_name, ...).values
    if scl is None:
        sibling = path.with_name(path.name.replace("_10m_", "_20m_"))
        if sibling == path or not sibling.is_file():
            raise ValueError(f"{path.name}: no SCL band and no 20 m sibling file with one")
        with xr.open_dataset(sibling, mask_and_scale=False) as coarse:
            time_name = next(name for name in _TIME_NAMES if name in coarse.dims)
            scl = _find(coarse, "scl").transpose(time_name, ...).values
        scl = scl.repeat(2, axis=1).repeat(2, axis=2)[:, : reflectance.shape[1], : reflectance.shape[2]]
    return Cube(path.stem, reflectance, labels_from_scl(np.nan_to_num(scl).astype(np.int64)), dates)


def read_rgb_folder(path: str | Path) -> Cube:
    """A folder of 8-bit RGB frames (natural sort order); dates from YYYY-MM-DD in file names.

    Frames are taken to be rendered at the standard gain 3, and carry no labels (all IGNORE).
    """
    paths = collect_image_paths([path])
    frames = load_frames(paths)
    reflectance = frames.astype(np.float32) / 255.0 / STANDARD_GAIN
    found = dates_from_names(paths)
    if found:
        dates = np.array(found, dtype="datetime64[D]")
    else:
        dates = np.datetime64("2000-01-01", "D") + np.arange(len(paths)) * np.timedelta64(5, "D")
    labels = np.full(frames.shape[:3], IGNORE, dtype=np.uint8)
    return Cube(Path(path).name, reflectance, labels, dates)


def read_cube(path: str | Path) -> Cube:
    """Pick the reader from the file: folder, .npz, EarthNet2021x minicube or generic S2 netCDF."""
    path = Path(path)
    if path.is_dir():
        return read_rgb_folder(path)
    if path.suffix == ".npz":
        return read_earthnet_npz(path)
    if path.suffix == ".nc":
        import xarray as xr

        with xr.open_dataset(path, mask_and_scale=False) as dataset:
            is_minicube = "s2_dlmask" in dataset.data_vars
        return read_en21x(path) if is_minicube else read_s2_netcdf(path)
    raise ValueError(f"{path}: unsupported cube; expected a folder of frames, .npz or .nc")
