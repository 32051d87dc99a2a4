"""Test data for the cube tests: real Sentinel-2 DN from ../shared/data written as GeoTIFFs, synthetic cubes and Sentinel-2 .SAFE products."""

from __future__ import annotations

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


_MTD_MSIL2A = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info><PROCESSING_BASELINE>04.00</PROCESSING_BASELINE></Product_Info>
    <Product_Image_Characteristics>
      <QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>
      <BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""


def safe_product(root: Path, day: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A Sentinel-2 L2A .SAFE as Copernicus delivers it: JPEG 2000 bands under IMG_DATA/R10m, R20m
    and R60m (blue, green and red at all three), SCL, AOT and a 3-band TCI beside them."""
    product = root / f"S2A_MSIL2A_{day}T093041_N0400_R136_T34TET_{day}T122312.SAFE"
    (product / "MTD_MSIL2A.xml").parent.mkdir(parents=True)
    (product / "MTD_MSIL2A.xml").write_text(_MTD_MSIL2A.format(offsets="".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))))
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
