"""Test data for the cube tests: real Sentinel-2 DN from ../shared/data written as GeoTIFFs, synthetic cubes, Sentinel-2 .SAFE and Landsat Collection 2 products."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from rasterio.transform import from_origin

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
NRT = DATA / "s2_timeseries" / "nrt" / "sentinel2_cube_subset_romania_10m.nc"
NRT_DATES = slice(84, 92)  # 2019-06-16 .. 2019-07-31: clear, partly cloudy and hazy dates
NRT_BANDS = {"B4": "B04", "B3": "B03", "B2": "B02", "B8": "B08"}


def nrt_dn() -> xr.Dataset:
    """8 dates x 100x100 px of the nrt Romania cube (uint16 DN = reflectance x 10000, nodata 0)."""
    if not NRT.is_file():
        pytest.skip(f"real data not found at {NRT} (see ../shared/data/README.md)")
    return xr.open_dataset(NRT, mask_and_scale=False).isel(time=NRT_DATES).load()


def write_geotiffs(folder: Path, reflectance: bool = False, state_scale: bool = True, hole: bool = True) -> list[Path]:
    """One 4-band GeoTIFF per date as rasterio writes them: uint16 DN (scale 0.0001 in the file
    unless state_scale=False) or float32 reflectance with NaN; a no-data hole on date 3 if asked."""
    cube = nrt_dn()
    folder.mkdir(parents=True, exist_ok=True)
    x, y = cube["x"].values, cube["y"].values
    transform = from_origin(x[0] - 5, y[0] + 5, 10, 10)
    paths = []
    for index, when in enumerate(pd.to_datetime(cube["time"].values)):
        dn = np.stack([cube[name].values[index] for name in NRT_BANDS]).astype(np.uint16)
        if hole and index == 3:
            dn[:, 40:48, 10:30] = 0
        data = np.where(dn == 0, np.nan, dn * 1e-4).astype(np.float32) if reflectance else dn
        path = folder / f"S2_{when:%Y%m%d}.tif"
        profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 4, "dtype": data.dtype.name, "crs": "EPSG:3035",
                   "transform": transform, "nodata": float("nan") if reflectance else 0}
        with rasterio.open(path, "w", **profile) as target:
            target.write(data)
            target.descriptions = tuple(NRT_BANDS.values())
            if not reflectance and state_scale:
                target.scales = (1e-4,) * 4
        paths.append(path)
    return paths


def restate_dates(paths: list[Path], offset: float | None) -> None:
    """Rewrite dates as a product of another convention: DN + 1000 with offset -0.1 (Sentinel-2
    processing baseline 04.00), or no scale at all (offset None)."""
    for path in paths:
        with rasterio.open(path, "r+") as handle:
            if offset is None:
                handle.scales = (1.0,) * handle.count
                continue
            data = handle.read()
            handle.write(np.where(data == 0, 0, data + 1000).astype(data.dtype))
            handle.offsets = (offset,) * handle.count


def synthetic_cube(steps: int = 6, height: int = 512, width: int = 512, seed: int = 0) -> xr.DataArray:
    """A georeferenced uint16 DN cube (time, band, y, x) with smooth land, moving clouds and shadows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / 64.0
    land = 0.08 + 0.04 * np.sin(yy * 1.3 + rng.uniform(0, 6)) * np.cos(xx * 0.9) + 0.02 * rng.standard_normal((height, width))
    bands = np.stack([land * 1.1, land, land * 0.8, land * 3.5])  # B04, B03, B02, B08
    frames = np.repeat(bands[None], steps, axis=0) * (1 + 0.05 * rng.standard_normal((steps, 1, 1, 1)))
    for step in range(1, steps, 2):  # every other date: a few thick clouds with shadows beside them
        for _ in range(4):
            cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(20, 60)
            blob = np.exp(-(((yy * 64 - cy) ** 2 + (xx * 64 - cx) ** 2) / radius**2) ** 2)
            shadow = np.exp(-(((yy * 64 - cy - 30) ** 2 + (xx * 64 - cx - 30) ** 2) / radius**2) ** 2)
            frames[step] = frames[step] * (1 - 0.6 * shadow) + 0.7 * blob
    dn = np.clip(frames * 10000, 1, 65535).astype(np.uint16)
    dn[-1, :, :12, :40] = 0  # a strip of no data
    times = pd.date_range("2021-06-01", periods=steps, freq="5D")
    cube = xr.DataArray(
        dn, dims=("time", "band", "y", "x"),
        coords={"time": times, "band": ["B04", "B03", "B02", "B08"], "y": 5_000_000 - 10 * np.arange(height) - 5, "x": 400_000 + 10 * np.arange(width) + 5},
        attrs={"scale_factor": 1e-4, "add_offset": 0.0},
        name="reflectance",
    )
    return cube.rio.write_crs("EPSG:32633").rio.write_nodata(0, encoded=False)


def per_band_units_netcdf(path: Path, steps: int = 4, size: int = 64) -> Path:
    """`synthetic_cube` as a packed netCDF whose bands each state their own units, as GreenEarthNet's
    do: B04 x 1e-4, B03 x 2e-4, B02 x 1e-4 - 0.1, B08 x 4e-4 (the same reflectance in other numbers)."""
    cube = synthetic_cube(steps, size, size)
    units = {"B04": (1e-4, 0.0), "B03": (2e-4, 0.0), "B02": (1e-4, -0.1), "B08": (4e-4, 0.0)}
    variables = {}
    for name, (scale, offset) in units.items():
        reflectance = cube.sel(band=name).values * 1e-4
        stored = np.where(reflectance == 0, 0, np.maximum(np.rint((reflectance - offset) / scale), 1)).astype(np.uint16)  # 0 is no data only where it was
        variables[name] = xr.DataArray(stored, dims=("time", "y", "x"), attrs={"scale_factor": scale, "add_offset": offset, "_FillValue": 0})
    coords = {name: cube[name].values for name in ("time", "y", "x")}
    xr.Dataset(variables, coords=coords).to_netcdf(path, encoding={name: {"_FillValue": None} for name in variables})
    return path


_MTD_MSIL2A = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info><PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE></Product_Info>
    <Product_Image_Characteristics>
      <QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>
      <BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""


def safe_product(root: Path, day: str, rng: np.random.Generator, baseline: str = "04.00") -> dict[str, np.ndarray]:
    """A Sentinel-2 L2A .SAFE as Copernicus delivers it: JPEG 2000 bands under IMG_DATA/R10m, R20m
    and R60m (blue, green and red at all three), SCL, AOT and a 3-band TCI beside them; from
    processing baseline 04.00 on its metadata states BOA_ADD_OFFSET -1000, before it none."""
    product = root / f"S2A_MSIL2A_{day}T093041_N{baseline.replace('.', '')}_R136_T34TET_{day}T122312.SAFE"
    (product / "MTD_MSIL2A.xml").parent.mkdir(parents=True)
    offsets = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13)) if baseline >= "04.00" else ""
    (product / "MTD_MSIL2A.xml").write_text(_MTD_MSIL2A.format(baseline=baseline, offsets=offsets))
    images = product / "GRANULE" / f"L2A_T34TET_A036421_{day}T093044" / "IMG_DATA"
    written = {}
    for resolution, bands in ((10, ("B02", "B03", "B04", "B08", "AOT")), (20, ("B02", "B03", "B04", "B05", "B11", "SCL")), (60, ("B01", "B02"))):
        folder = images / f"R{resolution}m"
        folder.mkdir(parents=True)
        side = 360 // resolution  # 36 px at 10 m: the smallest cube the pipeline takes is 32
        for band in bands:
            data = rng.integers(1000, 5000, (side, side)).astype(np.uint16)
            profile = {"driver": "JP2OpenJPEG", "width": side, "height": side, "count": 1, "dtype": "uint16", "crs": "EPSG:32634",
                       "transform": from_origin(500_000, 5_000_000, resolution, resolution), "QUALITY": 100, "REVERSIBLE": "YES"}
            with rasterio.open(folder / f"T34TET_{day}T093041_{band}_{resolution}m.jp2", "w", **profile) as target:
                target.write(data, 1)
            written[f"{band}_{resolution}m"] = data
        with rasterio.open(folder / f"T34TET_{day}T093041_TCI_{resolution}m.jp2", "w", **{**profile, "count": 3, "dtype": "uint8"}) as target:
            target.write(np.zeros((3, side, side), np.uint8))
    return written


_LANDSAT_BANDS = {"LC08": ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "ST_B10"), "LE07": ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7", "ST_B6")}
_LANDSAT_SKIPPED = ("QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL", "ST_QA", "ST_TRAD", "ST_EMIS")  # flags and intermediate products


def landsat_product(root: Path, spacecraft: str, day: str, rng: np.random.Generator, metadata: str | None = "txt") -> dict[str, np.ndarray]:
    """A Landsat Collection 2 Level-2 product as USGS delivers it (unpacked): one uint16 GeoTIFF per
    band (surface reflectance SR_B*, surface temperature ST_B*), QA and other layers, and the
    MTL metadata (as .txt, .json or none) that states each band's scale and offset."""
    product_id = f"{spacecraft}_L2SP_186027_{day}_{day[:4]}1231_02_T1"
    folder = root / product_id
    folder.mkdir(parents=True)
    profile = {"driver": "GTiff", "width": 40, "height": 40, "count": 1, "dtype": "uint16", "crs": "EPSG:32634",
               "transform": from_origin(500_000, 5_000_000, 30, 30), "nodata": 0}
    written, entries = {}, {}
    for band in _LANDSAT_BANDS[spacecraft] + _LANDSAT_SKIPPED:
        data = rng.integers(7273, 18000, (40, 40)).astype(np.uint16)  # reflectance 0.0 .. 0.3 at 2.75e-5, -0.2
        with rasterio.open(folder / f"{product_id}_{band}.TIF", "w", **profile) as target:
            target.write(data, 1)
        written[band] = data
        number = band.split("_B")[-1]
        if band.startswith("SR_B"):
            entries[f"REFLECTANCE_MULT_BAND_{number}"], entries[f"REFLECTANCE_ADD_BAND_{number}"] = "2.75E-05", "-0.200000"
        elif band.startswith("ST_B"):
            entries[f"TEMPERATURE_MULT_BAND_ST_B{number}"], entries[f"TEMPERATURE_ADD_BAND_ST_B{number}"] = "0.00341802", "149.000000"
    spacecraft_id = {"LC08": "LANDSAT_8", "LE07": "LANDSAT_7"}[spacecraft]
    date = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    if metadata == "txt":
        lines = ["GROUP = LANDSAT_METADATA_FILE", "  GROUP = IMAGE_ATTRIBUTES", f'    SPACECRAFT_ID = "{spacecraft_id}"', f"    DATE_ACQUIRED = {date}",
                 "  END_GROUP = IMAGE_ATTRIBUTES", "  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
        lines += [f"    {key} = {value}" for key, value in entries.items()] + ["  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "END_GROUP = LANDSAT_METADATA_FILE", "END"]
        (folder / f"{product_id}_MTL.txt").write_text("\n".join(lines) + "\n")
    elif metadata == "json":
        document = {"LANDSAT_METADATA_FILE": {"IMAGE_ATTRIBUTES": {"SPACECRAFT_ID": spacecraft_id, "DATE_ACQUIRED": date}, "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": entries}}
        (folder / f"{product_id}_MTL.json").write_text(json.dumps(document, indent=2))
    return written


def write_landsat7_products(root: Path) -> Path:
    """The nrt dates of `write_geotiffs` (with its no-data hole on date 3) as Landsat 7 Collection 2
    products: blue, green, red and near infrared as SR_B1..SR_B4 in Landsat's units (reflectance =
    DN x 2.75e-5 - 0.2, stated in the MTL)."""
    cube = nrt_dn()
    x, y = cube["x"].values, cube["y"].values
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 1, "dtype": "uint16", "crs": "EPSG:3035",
               "transform": from_origin(x[0] - 5, y[0] + 5, 10, 10), "nodata": 0}
    for index, when in enumerate(pd.to_datetime(cube["time"].values)):
        product_id = f"LE07_L2SP_186027_{when:%Y%m%d}_{when:%Y}1231_02_T1"
        folder = root / product_id
        folder.mkdir(parents=True)
        lines = []
        for number, name in enumerate(("B2", "B3", "B4", "B8"), start=1):
            dn = cube[name].values[index].astype(np.float64)
            if index == 3:
                dn[40:48, 10:30] = 0
            with rasterio.open(folder / f"{product_id}_SR_B{number}.TIF", "w", **profile) as target:
                target.write(np.where(dn == 0, 0, np.rint((dn * 1e-4 + 0.2) / 2.75e-5)).astype(np.uint16), 1)
            lines += [f"    REFLECTANCE_MULT_BAND_{number} = 2.75E-05", f"    REFLECTANCE_ADD_BAND_{number} = -0.200000"]
        (folder / f"{product_id}_MTL.txt").write_text("\n".join(lines) + "\n")
    return root
