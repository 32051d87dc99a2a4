"""open_cube: GeoTIFF folders (one file per date or per band and date), netCDF, zarr; dates, units, errors."""

from __future__ import annotations

import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rioxarray
import xarray as xr
from PIL import Image
from rasterio.transform import Affine, from_origin

from clear_vision import ClearVision
from clear_vision.geo.cube import DIMS, class_bands, cube_rgb, cube_units, default_rgb, is_cube_source, open_cube, recognised_rgb
from clear_vision.geo.units import Units
from geo_data import DATA, NRT, landsat_product, nrt_dn, per_band_units_netcdf, restate_dates, safe_product, synthetic_cube, write_geotiffs

HLS = DATA / "s2_timeseries" / "hls_missouri"
ONCLOUDN = DATA / "cloud_masks" / "oncloudn" / "chip_id_1"


def test_multiband_geotiffs_keep_grid_bands_dates_units_and_nodata(tmp_path):
    paths = write_geotiffs(tmp_path / "dn")
    cube = open_cube(tmp_path / "dn")
    source = nrt_dn()
    assert cube.dims == ("time", "band", "y", "x") and cube.shape == (8, 4, 100, 100) and cube.dtype == np.uint16
    assert list(cube["band"].values) == ["B04", "B03", "B02", "B08"]
    assert [str(day)[:10] for day in cube["time"].values] == [str(day)[:10] for day in source["time"].values]
    assert cube.rio.crs.to_epsg() == 3035 and cube.rio.nodata == 0
    with rasterio.open(paths[0]) as first:
        assert cube.rio.transform() == first.transform
    assert cube_units(cube) == Units(1e-4, 0.0)
    assert np.array_equal(cube.values[2, 0], source["B4"].values[2])


def test_lazy_cube_has_whole_dates_and_bands_per_chunk(tmp_path):
    write_geotiffs(tmp_path / "dn")
    cube = open_cube(tmp_path / "dn", chunks=64)
    assert cube.chunks == ((8,), (4,), (64, 36), (64, 36))
    assert np.array_equal(cube.values, open_cube(tmp_path / "dn").values)


@pytest.mark.skipif(not HLS.is_dir(), reason=f"real data not found at {HLS}")
def test_one_file_per_band_and_date_as_in_hls():
    cube = open_cube(HLS)
    assert cube.shape == (33, 4, 248, 248) and list(cube["band"].values) == ["B02", "B03", "B04", "NIR"]
    assert str(cube["time"].values[0])[:10] == str(cube["time"].values[1])[:10] == "2023-06-02"  # Landsat and Sentinel-2 the same day
    assert cube_units(cube) == Units() and np.isnan(cube.rio.nodata)


def test_a_day_of_two_satellites_may_be_given_as_dates_too():
    """The app passes the dates the files state: HLS's L30 and S30 of one day were refused as a date given twice."""
    folders = [HLS / "20230602", HLS / "20230612"]
    cube = open_cube(folders, dates=["2023-06-02", "2023-06-02", "2023-06-12"])
    assert cube.sizes["time"] == 3 and [Path(str(name)).name[9:12] for name in cube["input_file"].values] == ["L30", "S30", "S30"]
    with pytest.raises(ValueError, match=r"dates: 2023-06-12 given twice"):  # not both files' own date: a typo
        open_cube(folders, dates=["2023-06-02", "2023-06-12", "2023-06-12"])


@pytest.mark.skipif(not ONCLOUDN.is_dir(), reason=f"real data not found at {ONCLOUDN}")
def test_band_files_of_one_date_as_in_on_cloud_n_and_labels_are_not_bands(tmp_path):
    for copy in ("a", "b"):  # the same chip twice: a 2-date series
        shutil.copytree(ONCLOUDN, tmp_path / copy)
    cube = open_cube([tmp_path / "a", tmp_path / "b"], dates=["2020-04-24", "2020-04-29"], scale=1e-4)
    assert cube.shape == (2, 4, 512, 512) and list(cube["band"].values) == ["B02", "B03", "B04", "B08"]
    assert cube_units(cube) == Units(1e-4, 0.0)


@pytest.mark.skipif(not NRT.is_file(), reason=f"real data not found at {NRT}")
def test_netcdf_variables_become_bands_and_unstated_units_stay_unknown():
    cube = open_cube(NRT, bands=["B4", "B3", "B2", "B8"])
    assert cube.shape == (140, 4, 100, 100) and list(cube["band"].values) == ["B4", "B3", "B2", "B8"]
    assert cube.rio.crs is not None and cube.rio.nodata == 0
    assert cube_units(cube) is None  # uint16 with no scale_factor in the file
    assert cube_units(open_cube(NRT, bands=["B4", "B3", "B2"], scale=1e-4)) == Units(1e-4, 0.0)
    assert cube_units(open_cube(NRT, bands=["B4", "B3", "B2"], scale=[1e-4, 1e-4, 2e-4], offset=-0.1)) == Units((1e-4, 1e-4, 2e-4), -0.1)
    with pytest.raises(ValueError, match=r"scale: 2 values for 3 bands \(B4, B3, B2\); give one number, or one per band"):
        open_cube(NRT, bands=["B4", "B3", "B2"], scale=[1e-4, 1e-4])
    with pytest.raises(ValueError, match=r"offset: 'x' is not a number or one number per band"):
        open_cube(NRT, bands=["B4", "B3", "B2"], scale=1e-4, offset="x")


def test_a_cube_built_with_rioxarray_from_files_of_per_band_units_keeps_them(tmp_path):
    """open_rasterio states per-band units as `scales` / `offsets` where the bands' differ (a
    reflectance band beside SCL, as write_cube's COGs are) and warns; open_cube reads the files quietly."""
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 2, "dtype": "uint16", "crs": "EPSG:32633", "transform": from_origin(500_000, 5_000_000, 10, 10)}
    for day in ("2021-06-01", "2021-06-06"):
        with rasterio.open(tmp_path / f"clear_{day}.tif", "w", **profile) as target:
            target.write(np.full((2, 8, 8), 1500, np.uint16))
            target.scales, target.offsets, target.descriptions = (1e-4, 1.0), (-0.1, 0.0), ("B04", "SCL")
    with pytest.warns(UserWarning, match="Scales differ across bands"):
        arrays = [rioxarray.open_rasterio(path) for path in sorted(tmp_path.glob("*.tif"))]
    built = xr.concat(arrays, "time").assign_coords(time=pd.to_datetime(["2021-06-01", "2021-06-06"]), band=["B04", "SCL"])
    assert cube_units(built) == Units((1e-4, 1.0), (-0.1, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert cube_units(open_cube(tmp_path)) == Units((1e-4, 1.0), (-0.1, 0.0))


def test_zarr_round_trip_keeps_crs_and_units(tmp_path):
    write_geotiffs(tmp_path / "dn")
    cube = open_cube(tmp_path / "dn")
    cube.to_dataset(name="reflectance").to_zarr(tmp_path / "cube.zarr", zarr_format=2)
    back = open_cube(tmp_path / "cube.zarr", chunks=64)
    assert back.rio.crs == cube.rio.crs and cube_units(back) == Units(1e-4, 0.0)
    assert np.array_equal(back.values, cube.values)
    with_scl = cube.to_dataset(name="reflectance").assign(SCL=cube.isel(band=0, drop=True))  # a (time, y, x) layer beside it
    with_scl.to_zarr(tmp_path / "scl.zarr", zarr_format=2)
    with pytest.warns(UserWarning, match=r"scl.zarr: the cube is its \(time, band, y, x\) variable reflectance; SCL is not read"):
        open_cube(tmp_path / "scl.zarr")


def _png_folder(tmp: Path) -> Path:
    folder = tmp / "pngs"
    folder.mkdir()
    for day in (1, 2):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / f"2021-05-0{day}.png")
    return folder


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: open_cube(tmp / "missing"), "no such file or folder"),
        (lambda tmp: open_cube(write_geotiffs(tmp / "d"), dates=["2021-01-01"]), "got 1 dates for 8 acquisitions"),
        (lambda tmp: open_cube(write_geotiffs(tmp / "d"), chunks=8), r"chunks: 8 is not a chunk size"),
        (lambda tmp: open_cube(write_geotiffs(tmp / "d"), bands=["B04"]), r"bands: only for netCDF and zarr .* or afterwards: cube.sel\(band=\[...\]\)"),
        (lambda tmp: open_cube(_png_folder(tmp)), r"holds no GeoTIFF .* files; PNG or JPEG frames are pictures, not a cube: give them to ClearVision.run"),
        (lambda tmp: open_cube(_renamed_without_dates(tmp)), r"no acquisition dates found for 8 of 8 acquisitions \(e.g. scene_a.tif: "),
        (lambda tmp: open_cube(_mixed_grids(tmp)), "every date must share one CRS"),
    ],
)
def test_bad_sources_get_one_line_naming_the_problem(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        make(tmp_path)


def _renamed_without_dates(tmp: Path) -> list[Path]:
    paths = write_geotiffs(tmp / "d")
    return [path.rename(path.with_name(f"scene_{chr(97 + index)}.tif")) for index, path in enumerate(paths)]


def _mixed_grids(tmp: Path) -> list[Path]:
    paths = write_geotiffs(tmp / "d")
    with rasterio.open(paths[1], "r+") as target:
        target.crs = "EPSG:32633"
    return paths


def test_only_georeferenced_or_non_8bit_tiffs_take_the_cube_path(tmp_path):
    geo = write_geotiffs(tmp_path / "dn")[0]
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "plain.tif")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "plain.png")
    with rasterio.open(tmp_path / "dn16.tif", "w", driver="GTiff", width=40, height=40, count=3, dtype="uint16") as target:
        target.write(np.full((3, 40, 40), 3000, np.uint16))
    assert is_cube_source(geo) and is_cube_source(tmp_path / "dn16.tif") and is_cube_source(tmp_path / "x.nc")
    assert not is_cube_source(tmp_path / "plain.tif") and not is_cube_source(tmp_path / "plain.png")


def test_symlinked_date_folders_are_followed(tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    for index, path in enumerate(write_geotiffs(tmp_path / "real")):
        folder = tmp_path / "real" / f"date_{index}"
        folder.mkdir()
        path.rename(folder / path.name)
        (links / folder.name).symlink_to(folder)
    assert open_cube(links).shape == (8, 4, 100, 100)


def test_default_rgb_is_red_green_blue_by_name_else_the_first_three_bands(tmp_path):
    cube = open_cube(write_geotiffs(tmp_path / "dn"))
    assert default_rgb(cube) == ("B04", "B03", "B02")
    assert default_rgb(cube.assign_coords(band=["band_1", "band_2", "band_3", "band_4"])) == ("band_1", "band_2", "band_3")
    # blue first, as many files store them: B2, B3, B4 (the nrt cube), Landsat 8 SR_B2.., openEO's S2-L2A-B02..
    assert recognised_rgb(["B2", "B3", "B4", "B8", "SCL"]) == ("B4", "B3", "B2")
    assert recognised_rgb(["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5"]) == ("SR_B4", "SR_B3", "SR_B2")
    assert recognised_rgb(["S2-L2A-B02", "S2-L2A-B03", "S2-L2A-B04", "S2-L2A-B08"]) == ("S2-L2A-B04", "S2-L2A-B03", "S2-L2A-B02")
    assert recognised_rgb(["Blue", "Green", "Red", "NIR"]) == ("Red", "Green", "Blue")
    assert recognised_rgb(["B12", "B11", "B8A", "B1"]) is None and recognised_rgb(["band_1", "band_2", "band_3"]) is None


def test_band_numbers_with_rioxarray_s_long_names_find_red_green_and_blue(tmp_path):
    paths = write_geotiffs(tmp_path / "dn")
    opened = [rioxarray.open_rasterio(path).expand_dims(time=[pd.Timestamp("2019-06-01") + pd.Timedelta(days=5 * index)]) for index, path in enumerate(paths[:3])]
    cube = xr.concat(opened, dim="time")
    assert list(cube["band"].values) == [1, 2, 3, 4] and cube.attrs["long_name"] == ("B04", "B03", "B02", "B08")
    assert cube_rgb(cube) == ("1", "2", "3")
    assert cube_rgb(cube.assign_attrs(long_name=("B02", "B03", "B04", "B08"))) == ("3", "2", "1")


def test_landsat_collection_2_files_give_bands_dates_and_rgb(tmp_path):
    """LC08_L2SP_<path-row>_<acquired>_<processed>_02_T1_SR_B4.TIF: the first date is the acquisition."""
    rng = np.random.default_rng(0)
    for day in ("20230602", "20230618", "20230704"):
        scene = tmp_path / f"LC08_L2SP_015033_{day}_20230710_02_T1"
        scene.mkdir()
        for band in ("SR_B2", "SR_B3", "SR_B4", "SR_B5", "QA_PIXEL"):
            profile = {"driver": "GTiff", "width": 40, "height": 40, "count": 1, "dtype": "uint16", "crs": "EPSG:32615", "transform": from_origin(500_000, 4_000_000, 30, 30)}
            with rasterio.open(scene / f"{scene.name}_{band}.TIF", "w", **profile) as target:
                target.write(rng.integers(7000, 12000, (40, 40)).astype(np.uint16), 1)
    with pytest.raises(ValueError, match=r"Landsat Collection 2 Level-2 surface reflectance: scale=0.0000275, offset=-0.2"):
        ClearVision.load().remove_cube(open_cube(tmp_path))
    cube = open_cube(tmp_path, scale=0.0000275, offset=-0.2)
    assert list(cube["band"].values) == ["B2", "B3", "B4", "B5"] and default_rgb(cube) == ("B4", "B3", "B2")
    assert [str(day)[:10] for day in cube["time"].values] == ["2023-06-02", "2023-06-18", "2023-07-04"]


def _band_file(path: Path, data: np.ndarray, pixel: float, west: float = 500_000, nodata: float | None = 0) -> None:
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1, "dtype": data.dtype.name, "crs": "EPSG:32634",
               "transform": from_origin(west, 5_000_000, pixel, pixel), "nodata": nodata}
    with rasterio.open(path, "w", **profile) as target:
        target.write(data, 1)


def test_sentinel2_band_files_named_with_their_resolution_go_on_the_finest_grid(tmp_path):
    """T34TET_<sensed>_B04_10m.tif as Sentinel-2 products and Planetary Computer name them; the
    20 m bands take, at each 10 m pixel, the value of the 20 m pixel it lies in; SCL is no band."""
    rng = np.random.default_rng(0)
    swir = {}
    for day in ("20220615", "20220620"):
        scene = tmp_path / f"S2A_MSIL2A_{day}T093041_R136_T34TET_{day}T120000"
        scene.mkdir()
        for band in ("B02", "B03", "B04", "B08"):
            _band_file(scene / f"T34TET_{day}T093039_{band}_10m.tif", rng.integers(1000, 4000, (40, 40)).astype(np.uint16), 10)
        swir[day] = rng.integers(1000, 4000, (20, 20)).astype(np.uint16)
        _band_file(scene / f"T34TET_{day}T093039_B11_20m.tif", swir[day], 20)
        _band_file(scene / f"T34TET_{day}T093039_SCL_20m.tif", rng.integers(1, 11, (20, 20)).astype(np.uint8), 20)
    cube = open_cube(tmp_path, scale=1e-4)
    assert cube.shape == (2, 5, 40, 40) and list(cube["band"].values) == ["B02", "B03", "B04", "B08", "B11"]
    assert [str(day)[:10] for day in cube["time"].values] == ["2022-06-15", "2022-06-20"] and default_rgb(cube) == ("B04", "B03", "B02")
    assert np.array_equal(cube.sel(band="B11").values[1], np.repeat(np.repeat(swir["20220620"], 2, axis=0), 2, axis=1))
    assert np.array_equal(open_cube(tmp_path, scale=1e-4, chunks=32).values, cube.values)
    scene = tmp_path / "S2A_MSIL2A_20220615T093041_R136_T34TET_20220615T120000"
    _band_file(next(scene.glob("*_B11_20m.tif")), swir["20220615"][:, :19], 20, west=500_010)  # half a pixel east, 19 columns: 10 m short each side
    shifted = open_cube(tmp_path, scale=1e-4).sel(band="B11").values[0]
    assert (shifted[:, [0, 39]] == 0).all()  # outside its footprint: no data, not the edge pixels' values
    assert np.array_equal(open_cube(tmp_path, scale=1e-4, chunks=32).sel(band="B11").values[0], shifted)  # lazily alike
    _band_file(next(scene.glob("*_B11_20m.tif")), swir["20220615"][:, :19], 20, west=500_010, nodata=None)
    assert np.array_equal(open_cube(tmp_path, scale=1e-4).sel(band="B11").values[0], shifted)  # stating none, it takes the one the other files state
    for path in tmp_path.rglob("*.tif"):
        with rasterio.open(path, "r+") as handle:
            handle.nodata = None
    with pytest.raises(ValueError, match=r"B11_20m.tif does not cover the whole grid of the finest band .* states no nodata .* give nodata="):
        open_cube(tmp_path, scale=1e-4)
    assert np.array_equal(open_cube(tmp_path, scale=1e-4, nodata=0).sel(band="B11").values[0], shifted)  # the nodata given marks the rest
    assert np.array_equal(shifted[:, 1:39], np.repeat(np.repeat(swir["20220615"][:, :19], 2, axis=0), 2, axis=1))
    _band_file(next(scene.glob("*_B11_20m.tif")), swir["20220615"], 20, west=500_100)  # 100 m off: not the same area
    with pytest.raises(ValueError, match=r"B11_20m.tif covers .* the bands of a date must cover one area in one CRS"):
        open_cube(tmp_path)


def test_sentinel2_safe_products_give_each_band_at_its_finest_resolution_and_the_products_units(tmp_path):
    rng = np.random.default_rng(0)
    written = {day: safe_product(tmp_path, day, rng) for day in ("20220615", "20220620")}
    cube = open_cube(tmp_path)
    assert list(cube["band"].values) == ["B01", "B02", "B03", "B04", "B05", "B08", "B11"] and cube.shape == (2, 7, 36, 36)
    assert [str(day)[:10] for day in cube["time"].values] == ["2022-06-15", "2022-06-20"]
    assert cube_units(cube) == Units(1e-4, -0.1)  # baseline 04.00: BOA_ADD_OFFSET -1000
    assert np.array_equal(cube.sel(band="B02").values[1], written["20220620"]["B02_10m"])  # the 10 m file, not the 20 or 60 m one
    assert np.array_equal(cube.sel(band="B01").values[0], np.kron(written["20220615"]["B01_60m"], np.ones((6, 6), np.uint16)))
    assert is_cube_source(next(tmp_path.rglob("*_B04_10m.jp2")))
    zipped = []
    for product in sorted(tmp_path.glob("*.SAFE")):  # as Copernicus delivers them: read inside the .zip
        zipped.append(Path(shutil.make_archive(str(tmp_path / "zips" / product.name), "zip", tmp_path, product.name)))
    from_zips = open_cube(zipped, chunks=32)
    assert cube_units(from_zips) == Units(1e-4, -0.1) and np.array_equal(from_zips.values, cube.values)
    (tmp_path / "zips" / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.zip is not a readable .zip file"):
        open_cube([*zipped, tmp_path / "zips" / "broken.zip"])
    images = tmp_path / "S2A_MSIL2A_20220615T093041_N0400_R136_T34TET_20220615T122312.SAFE" / "GRANULE" / "L2A_T34TET_A036421_20220615T093044" / "IMG_DATA"
    shutil.copy(images / "R10m" / "T34TET_20220615T093041_B04_10m.jp2", images / "R20m")  # the 10 m red band twice
    with pytest.raises(ValueError, match="are the same band of one date; give one of them"):
        open_cube(tmp_path)


def test_sentinel2_products_across_processing_baseline_04_become_reflectance(tmp_path):
    """A series across January 2022: baseline 03.01 digital numbers are reflectance x 10000, 04.00 ones that minus 1000."""
    rng = np.random.default_rng(0)
    older, newer = safe_product(tmp_path, "20211215", rng, baseline="03.01"), safe_product(tmp_path, "20220115", rng)
    with pytest.warns(UserWarning, match="different units"):
        cube = open_cube(tmp_path)
    assert cube.dtype == np.float32 and cube_units(cube) == Units(1.0, 0.0)
    assert np.allclose(cube.sel(band="B04").values[0], older["B04_10m"] * 1e-4, atol=1e-6)
    assert np.allclose(cube.sel(band="B04").values[1], newer["B04_10m"] * 1e-4 - 0.1, atol=1e-6)


@pytest.mark.parametrize("metadata", ["txt", "json"])
def test_landsat_collection2_products_read_with_the_units_their_mtl_states(tmp_path, metadata):
    rng = np.random.default_rng(0)
    written = {day: landsat_product(tmp_path, "LC08", day, rng, metadata) for day in ("20210615", "20210701")}
    cube = open_cube(tmp_path)
    # SR_B1..SR_B7 and ST_B10 of a product are one date; QA_PIXEL, SR_QA_AEROSOL, ST_TRAD... are not bands
    assert list(cube["band"].values) == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B10"] and cube.shape == (2, 8, 40, 40)
    assert [str(day)[:10] for day in cube["time"].values] == ["2021-06-15", "2021-07-01"]
    assert cube_units(cube) == Units((2.75e-5,) * 7 + (0.00341802,), (-0.2,) * 7 + (149.0,))
    assert np.array_equal(cube.sel(band="B10").values[1], written["20210701"]["ST_B10"]) and cube_rgb(cube) == ("B4", "B3", "B2")
    tars = []
    for index, product in enumerate(sorted(path for path in tmp_path.iterdir() if path.is_dir())):  # as USGS delivers them: one .tar each, read in place
        with tarfile.open(tmp_path / f"{product.name}.tar", "w") as archive:
            for member in sorted(product.iterdir()):
                archive.add(member, arcname=f"./{member.name}" if index else member.name)  # `tar -C folder .` stores ./name
        tars.append(tmp_path / f"{product.name}.tar")
    from_tars = open_cube(tars)
    assert np.array_equal(from_tars.values, cube.values) and cube_units(from_tars) == cube_units(cube)
    (tmp_path / "broken.tar").write_bytes(b"not a tar")
    with pytest.raises(ValueError, match="broken.tar is not a readable .tar file"):
        open_cube([*tars, tmp_path / "broken.tar"])


def test_landsat_7_products_name_their_red_green_and_blue_b3_b2_b1(tmp_path):
    rng = np.random.default_rng(0)
    for day in ("20210615", "20210701"):
        landsat_product(tmp_path, "LE07", day, rng, metadata=None)  # no MTL: units unknown, as for any integers
    cube = open_cube(tmp_path)
    assert list(cube["band"].values) == ["B1", "B2", "B3", "B4", "B5", "B6", "B7"] and cube_units(cube) is None
    assert cube_rgb(cube) == ("B3", "B2", "B1") and default_rgb(cube) == ("B3", "B2", "B1")  # B4 is near infrared there
    assert cube_rgb(cube.assign_attrs(rgb_bands="B3,B2")) == ("B4", "B3", "B2")  # an attr that names no three bands is ignored


def test_class_bands_are_recognised_by_name():
    names = ["B04", "S2-L2A-SCL", "SCL", "QA_PIXEL", "Fmask", "CLM", "pixel_qa", "s2_dlmask", "B8A", "B03", "NIR", "SCALE", "mask_ratio"]
    assert class_bands(names) == [1, 2, 3, 4, 5, 6, 7]


def test_a_netcdf_with_dims_of_other_names_is_told_which_it_has_and_which_are_taken(tmp_path):
    coords = {"date": pd.date_range("2018-06-01", periods=3, freq="5D"), "northing": -10.0 * np.arange(32), "easting": 10.0 * np.arange(32)}
    layer = xr.DataArray(np.full((3, 32, 32), 0.1, np.float32), dims=("date", "northing", "easting"), coords=coords)
    xr.Dataset({"B04": layer, "B03": layer}).to_netcdf(tmp_path / "odd.nc")
    with pytest.raises(ValueError, match=r"found B04 \(date, northing, easting\), B03 \(date, northing, easting\)\. Other names taken for them: time: t, timestamp; y: lat"):
        open_cube(tmp_path / "odd.nc")


def test_a_netcdf_with_a_timestamp_dimension_and_a_qa_band_without_a_scale(tmp_path):
    """As in the worldcereal Landsat 8 files: (timestamp, y, x) bands with scale_factor, and pixel_qa with none."""
    rng = np.random.default_rng(0)
    coords = {"timestamp": pd.date_range("2018-06-01", periods=3, freq="16D"), "y": 5_629_680 - 10 * np.arange(40), "x": 501_360 + 10 * np.arange(40)}
    bands = {name: xr.DataArray(rng.integers(300, 1500, (3, 40, 40)).astype(np.uint16), dims=("timestamp", "y", "x"), coords=coords, attrs={"scale_factor": 1e-4})
             for name in ("B02", "B03", "B04")}
    bands["pixel_qa"] = xr.DataArray(rng.choice([322, 480, 834], (3, 40, 40)).astype(np.uint16), dims=("timestamp", "y", "x"), coords=coords)
    xr.Dataset(bands).to_netcdf(tmp_path / "l8.nc")
    cube = open_cube(tmp_path / "l8.nc")
    assert cube.sizes == {"time": 3, "band": 4, "y": 40, "x": 40} and cube.attrs["band_scale_factor"] == [1e-4, 1e-4, 1e-4, 1.0]
    cube.to_netcdf(tmp_path / "saved.nc")  # a user's own copy: per-band lists under scale_factor made xarray refuse to reopen it
    assert np.array_equal(xr.open_dataarray(tmp_path / "saved.nc", mask_and_scale=False).values, cube.values) and open_cube(tmp_path / "saved.nc").attrs["band_scale_factor"] == [1e-4, 1e-4, 1e-4, 1.0]


def test_a_cube_without_a_crs_is_never_given_one_unless_its_axes_are_latitude_longitude(tmp_path):
    rng = np.random.default_rng(0)
    time = pd.date_range("2021-06-01", periods=2, freq="5D")
    data = rng.integers(300, 1500, (2, 3, 8, 8)).astype(np.uint16)
    projected = {"time": time, "band": ["B04", "B03", "B02"], "y": 5_000_000 - 10.0 * np.arange(8), "x": 400_000 + 10.0 * np.arange(8)}
    xr.DataArray(data, dims=DIMS, coords=projected, attrs={"scale_factor": 1e-4}).to_dataset(name="reflectance").to_netcdf(tmp_path / "xy.nc")
    assert open_cube(tmp_path / "xy.nc").rio.crs is None  # metres in an unknown projection: not WGS 84
    geographic = {"time": time, "band": ["B04", "B03", "B02"], "lat": 45.0 - 1e-4 * np.arange(8), "lon": 25.0 + 1e-4 * np.arange(8)}
    xr.DataArray(data, dims=("time", "band", "lat", "lon"), coords=geographic, attrs={"scale_factor": 1e-4}).to_dataset(name="reflectance").to_netcdf(tmp_path / "latlon.nc")
    assert open_cube(tmp_path / "latlon.nc").rio.crs == "EPSG:4326"
    # a grid mapping variable the data variable does not name (no grid_mapping attribute) still gives the CRS
    stated = xr.DataArray(data, dims=DIMS, coords=projected, attrs={"scale_factor": 1e-4}).rio.write_crs("EPSG:32635").to_dataset(name="reflectance")
    stated["reflectance"].attrs.pop("grid_mapping", None), stated["reflectance"].encoding.pop("grid_mapping", None)
    stated.reset_coords("spatial_ref").to_netcdf(tmp_path / "unnamed.nc")
    assert open_cube(tmp_path / "unnamed.nc").rio.crs == "EPSG:32635"


@pytest.mark.skipif(not NRT.is_file(), reason=f"real data not found at {NRT}")
def test_dates_in_different_units_are_read_as_reflectance(tmp_path):
    """A series across January 2022: older Sentinel-2 products without the -1000 offset, newer ones with it."""
    paths = write_geotiffs(tmp_path / "mixed")
    restate_dates(paths[4:], -0.1)
    with pytest.warns(UserWarning, match="different units"):
        mixed = open_cube(tmp_path / "mixed")
    alike = open_cube(write_geotiffs(tmp_path / "alike"))
    expected = np.where(alike.values == 0, np.nan, alike.values * 1e-4)
    assert mixed.dtype == np.float32 and cube_units(mixed) == Units(1.0, 0.0) and mixed.rio.crs == alike.rio.crs
    assert np.allclose(mixed.values, expected, atol=1e-6, equal_nan=True)
    lazy = open_cube(tmp_path / "mixed", chunks=64)
    assert lazy.chunks is not None and np.allclose(lazy.values, expected, atol=1e-6, equal_nan=True)
    restate_dates(paths[:2], None)
    with pytest.raises(ValueError, match="mixed/S2_20190616.tif, mixed/S2_20190621.tif state no scale_factor but other dates do"):
        open_cube(tmp_path / "mixed")


def test_netcdf_dates_as_iso_strings_or_a_model_calendar_are_read(tmp_path):
    data = np.random.default_rng(0).integers(300, 1500, (2, 3, 8, 8)).astype(np.uint16)
    coords = {"band": ["B04", "B03", "B02"], "y": 5_000_000 - 10.0 * np.arange(8), "x": 400_000 + 10.0 * np.arange(8)}
    for name, time in (("strings", ["2021-06-01", "2021-06-06"]), ("noleap", xr.date_range("2021-06-01", periods=2, freq="5D", calendar="noleap", use_cftime=True))):
        xr.DataArray(data, dims=DIMS, coords={**coords, "time": time}, attrs={"scale_factor": 1e-4}).to_dataset(name="reflectance").to_netcdf(tmp_path / f"{name}.nc")
        cube = open_cube(tmp_path / f"{name}.nc")
        assert list(cube["time"].dt.strftime("%Y-%m-%d").values) == ["2021-06-01", "2021-06-06"], name
    xr.DataArray(data, dims=DIMS, coords={**coords, "time": ["June", "July"]}, attrs={"scale_factor": 1e-4}).to_dataset(name="reflectance").to_netcdf(tmp_path / "words.nc")
    with pytest.raises(ValueError, match=r"a time coordinate of values like 'June'; .*pass dates= \(command line: --dates\)"):
        open_cube(tmp_path / "words.nc")
    assert open_cube(tmp_path / "words.nc", dates=["2021-06-01", "2021-07-01"]).sizes["time"] == 2
    missing = pd.to_datetime(["2021-06-01", None])
    xr.DataArray(data, dims=DIMS, coords={**coords, "time": missing}, attrs={"scale_factor": 1e-4}).to_dataset(name="reflectance").to_netcdf(tmp_path / "nat.nc")
    with pytest.raises(ValueError, match=r"dates: the time coordinate has no date for acquisition\(s\) 2 \(NaT, counting from 1\)"):
        open_cube(tmp_path / "nat.nc")


def test_a_netcdf_time_stated_twice_is_kept_with_a_warning_unless_dates_are_given(tmp_path):
    data = np.random.default_rng(0).integers(300, 1500, (3, 3, 8, 8)).astype(np.uint16)
    coords = {"band": ["B04", "B03", "B02"], "y": 5_000_000 - 10.0 * np.arange(8), "x": 400_000 + 10.0 * np.arange(8)}
    time = pd.to_datetime(["2021-06-01", "2021-06-06", "2021-06-06"])
    xr.DataArray(data, dims=DIMS, coords={**coords, "time": time}, attrs={"scale_factor": 1e-4}).to_dataset(name="reflectance").to_netcdf(tmp_path / "twice.nc")
    with pytest.warns(UserWarning, match=r"dates: the time coordinate gives 2021-06-06 00:00:00 more than once; each is kept .* cube.drop_duplicates\('time'\)"):
        assert open_cube(tmp_path / "twice.nc").sizes["time"] == 3
    with pytest.warns(UserWarning) as caught:
        assert open_cube(tmp_path / "twice.nc", dates=["2021-06-01", "2021-06-06", "2021-06-11"]).sizes["time"] == 3
    assert [str(warning.message)[:40] for warning in caught] == ["dates: 1 of the dates given differ from "]  # said, and not the repeat


def test_hidden_files_and_folders_beside_the_geotiffs_are_skipped(tmp_path):
    write_geotiffs(tmp_path / "dn")
    (tmp_path / "dn" / "._S2_20190616.tif").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    shutil.move(shutil.copytree(tmp_path / "dn", tmp_path / "copy"), tmp_path / "dn" / ".snapshot")  # a hidden folder of the same files
    assert open_cube(tmp_path / "dn").sizes["time"] == 8


def test_dates_written_with_underscores_in_geotiff_names_are_read(tmp_path):
    for path in write_geotiffs(tmp_path / "dn"):
        day = path.stem.split("_")[1]
        path.rename(path.with_name(f"scene_{day[:4]}_{day[4:6]}_{day[6:]}.tif"))
    cube = open_cube(tmp_path / "dn")
    assert list(cube["time"].dt.strftime("%Y%m%d").values) == [path.stem.split("_")[1] for path in write_geotiffs(tmp_path / "again")]


def test_geotiff_names_holding_an_export_date_first_give_the_acquisition_dates(tmp_path):
    expected = [path.stem.split("_")[1] for path in write_geotiffs(tmp_path / "again")]
    for path in write_geotiffs(tmp_path / "dn"):
        day = path.stem.split("_")[1]
        path.rename(path.with_name(f"export_20240105_S2_{day}.tif"))
    cube = open_cube(tmp_path / "dn")
    assert list(cube["time"].dt.strftime("%Y%m%d").values) == expected


def test_tags_that_date_files_otherwise_than_their_names_are_used_and_said(tmp_path):
    paths = write_geotiffs(tmp_path / "dn")
    with rasterio.open(paths[0], "r+") as target:
        target.update_tags(ACQUISITION_DATE="2019-06-18")
    with pytest.warns(UserWarning, match=r"dates: 1 of 8 acquisitions state a date in their tags other than the one in their name \(e.g. dn/S2_20190616.tif: tag ACQUISITION_DATE 2019-06-18, name 2019-06-16\)"):
        cube = open_cube(tmp_path / "dn")
    assert str(cube["time"].values[0])[:10] == "2019-06-18"


def test_no_data_stated_otherwise_by_some_files_is_stored_as_the_cubes_one_value(tmp_path):
    """Band files whose NIR states 65535 beside the visible bands' 0, and a date exported with 65535:
    those pixels become the cube's nodata (0), not values of 6.55 reflectance."""
    transform = rasterio.transform.from_origin(500_000, 5_000_000, 10, 10)
    for day in ("20190611", "20190616"):
        for band, fill in (("B02", 0), ("B03", 0), ("B04", 0), ("B08", 65535)):
            data = np.full((1, 40, 40), 800, np.uint16)
            data[0, :5] = fill
            profile = {"driver": "GTiff", "width": 40, "height": 40, "count": 1, "dtype": "uint16", "crs": "EPSG:32631", "transform": transform, "nodata": fill}
            with rasterio.open(tmp_path / f"{day}_{band}.tif", "w", **profile) as target:
                target.write(data)
                target.scales = (1e-4,)
    cube = open_cube(tmp_path)
    assert cube.rio.nodata == 0 and list(cube["band"].values) == ["B02", "B03", "B04", "B08"]
    assert (cube.values[:, :, :5] == 0).all() and (cube.values[:, :, 5:] == 800).all()
    paths = write_geotiffs(tmp_path / "dates")
    with rasterio.open(paths[3], "r+") as target:  # its no-data hole, exported with another fill
        target.write(np.where(target.read() == 0, 65535, target.read()).astype(np.uint16))
        target.nodata = 65535
    cube = open_cube(tmp_path / "dates")
    assert cube.rio.nodata == 0 and (cube.values[3][:, 40:48, 10:30] == 0).all() and cube.values.max() < 65535
    assert open_cube(tmp_path / "dates", nodata=65535).values.max() == 65535  # a value given overrides what every file says


def test_bands_and_dates_as_one_string_or_any_iterable(tmp_path):
    """A string was taken letter by letter (bands B, 4, ','...), a generator of dates raised a raw TypeError."""
    path = per_band_units_netcdf(tmp_path / "packed.nc", size=32)
    assert list(open_cube(path, bands="B08, B04,B03")["band"].values) == ["B08", "B04", "B03"]
    assert list(open_cube(path, bands=(name for name in ("B02", "B03")))["band"].values) == ["B02", "B03"]
    days = ["2021-07-01", "2021-07-06", "2021-07-11", "2021-07-16"]
    for dates in ((day for day in days), ",".join(days), " ".join(days)):
        assert list(open_cube(path, dates=dates)["time"].dt.strftime("%Y-%m-%d").values) == days
    with pytest.raises(ValueError, match=r"dates: 5 is not a list; give a list or other iterable, or one string separated by commas"):
        open_cube(path, dates=5)


def test_bands_on_a_cube_stored_as_one_variable_say_what_it_holds(tmp_path):
    synthetic_cube(3, 64, 64).to_dataset().to_zarr(tmp_path / "cube.zarr")
    with pytest.raises(ValueError, match=r"bands: cube.zarr holds its bands \(B04, B03, B02, B08\) in one \(time, band, y, x\) variable, reflectance"):
        open_cube(tmp_path / "cube.zarr", bands=["B99"])


def test_dates_given_pair_with_the_files_in_the_order_given(tmp_path):
    """A list of files out of name order, with dates= in that order: each date keeps its own file's pixels (the files were sorted by name first)."""
    paths = _renamed_without_dates(tmp_path)
    days = [f"2021-06-{day:02d}" for day in range(1, 9)]
    order = [3, 0, 7, 1, 5, 2, 6, 4]
    cube = open_cube([paths[index] for index in order], dates=[days[index] for index in order])
    assert list(cube["time"].dt.strftime("%Y-%m-%d").values) == days
    for index, path in enumerate(paths):
        with rasterio.open(path) as source:
            assert np.array_equal(cube.sel(time=days[index]).values, source.read()), path.name
    shuffled_folders = []  # folders given as a list: their order counts, each one's files in name order
    for index in order[:3]:
        folder = tmp_path / f"folder_{index}"
        folder.mkdir()
        shuffled_folders.append(paths[index].rename(folder / paths[index].name).parent)
    cube = open_cube(shuffled_folders, dates=[days[index] for index in order[:3]])
    for index in order[:3]:
        with rasterio.open(next((tmp_path / f"folder_{index}").iterdir())) as source:
            assert np.array_equal(cube.sel(time=days[index]).values, source.read())


def test_hls_names_as_lp_daac_delivers_them_give_dates_and_bands(tmp_path):
    """HLS.S30.T15SWD.2023153T165849.v2.0.B04.tif: year, day of year and time; the band last. L30
    numbers its bands as Landsat 8 does (B05 near infrared), so they are named as their S30
    counterparts (B8A); Fmask and the angle layers are not bands."""
    rng = np.random.default_rng(0)
    acquisitions = {("S30", "2023153T165849"): ("B02", "B03", "B04", "B8A", "Fmask", "SZA"), ("L30", "2023153T170512"): ("B02", "B03", "B04", "B05", "Fmask"),
                    ("S30", "2023158T165851"): ("B02", "B03", "B04", "B8A", "Fmask", "SZA")}
    written = {}
    for (sensor, when), bands in acquisitions.items():
        for band in bands:
            written[sensor, when, band] = rng.integers(1, 4000, (40, 40)).astype(np.uint16)
            _band_file(tmp_path / f"HLS.{sensor}.T15SWD.{when}.v2.0.{band}.tif", written[sensor, when, band], 30)
    cube = open_cube(tmp_path, scale=1e-4)
    assert cube.shape == (3, 4, 40, 40) and list(cube["band"].values) == ["B02", "B03", "B04", "B8A"]
    assert list(cube["time"].dt.strftime("%Y-%m-%dT%H:%M:%S").values) == ["2023-06-02T16:58:49", "2023-06-02T17:05:12", "2023-06-07T16:58:51"]
    assert np.array_equal(cube.sel(band="B8A").values[1], written["L30", "2023153T170512", "B05"]) and default_rgb(cube) == ("B04", "B03", "B02")
    assert [name.split("/")[1][:8] for name in cube["input_file"].values] == ["HLS.S30.", "HLS.L30.", "HLS.S30."]  # one day's two acquisitions told apart


def test_year_and_day_of_year_dates_are_read_only_as_a_part_of_the_name_of_their_own(tmp_path):
    for path in write_geotiffs(tmp_path / "dn"):
        path.rename(path.with_name(f"S2_{pd.Timestamp(path.stem[3:]):%Y%j}.tif"))
    cube = open_cube(tmp_path / "dn")
    assert list(cube["time"].dt.strftime("%Y-%m-%d").values) == [str(day)[:10] for day in nrt_dn()["time"].values]
    for index, path in enumerate(sorted((tmp_path / "dn").iterdir())):  # digits run on from a letter, or no day of that year: no date
        path.rename(path.with_name(f"id{path.stem[3:]}.tif" if index % 2 else f"S2_2019{366 + index}.tif"))
    with pytest.raises(ValueError, match="no acquisition dates found for 8 of 8"):
        open_cube(tmp_path / "dn")


def test_files_that_give_one_date_are_refused_naming_them(tmp_path):
    """Every file stamped with its export time (TIFFTAG_DATETIME), or a date copied under another name, made a cube of repeated dates."""
    paths = _renamed_without_dates(tmp_path)
    for path in paths:
        with rasterio.open(path, "r+") as target:
            target.update_tags(TIFFTAG_DATETIME="2024:03:01 09:00:00")
    with pytest.raises(ValueError, match=r"dates: d/scene_a.tif, d/scene_b.tif, d/scene_c.tif and 5 more all give 2024-03-01 \(from tag TIFFTAG_DATETIME.*give dates= \(command line: --dates\)"):
        open_cube(tmp_path / "d")
    assert open_cube(tmp_path / "d", dates=[f"2021-06-{day:02d}" for day in range(1, 9)]).sizes["time"] == 8  # dates= is the way out
    folder = tmp_path / "named"
    for path in write_geotiffs(folder)[:3]:
        shutil.copy(path, path.with_name(f"{path.stem}_copy.tif"))
        break
    with pytest.raises(ValueError, match=r"dates: named/S2_20190616.tif, named/S2_20190616_copy.tif all give 2019-06-16 \(from their names\)"):
        open_cube(folder)
    outputs = tmp_path / "outputs"  # write_cube names a day's second acquisition clear_<date>_2.tif: its outputs reopen
    outputs.mkdir()
    for path, name in zip(write_geotiffs(tmp_path / "more")[:3], ("clear_2019-06-16", "clear_2019-06-16_2", "clear_2019-06-21")):
        shutil.copy(path, outputs / f"{name}.tif")
    assert list(open_cube(outputs)["time"].dt.strftime("%Y-%m-%d").values) == ["2019-06-16", "2019-06-16", "2019-06-21"]


def test_the_same_file_given_twice_is_refused(tmp_path):
    paths = write_geotiffs(tmp_path / "dn")
    with pytest.raises(ValueError, match=r"source: dn/S2_20190621.tif is given twice .*; give each file once"):
        open_cube([tmp_path / "dn", paths[1]])
    with pytest.raises(ValueError, match=r"is given twice"):
        open_cube([paths[0], paths[1], paths[0]], dates=["2021-06-01", "2021-06-02", "2021-06-03"])


def test_names_without_a_date_we_read_are_shown_with_the_patterns_read(tmp_path):
    """The message named no file and no pattern, and said no dates were found where only some were missing."""
    paths = write_geotiffs(tmp_path / "dn")
    for index, path in enumerate(paths[:2]):
        day = pd.Timestamp(path.stem[3:])
        path.rename(path.with_name(f"patch_12_{day:%Y_%m_%d}.tif" if index else f"{day:%d-%m-%Y}.tif"))
    with pytest.raises(ValueError, match=r"no acquisition dates found for 2 of 8 acquisitions \(e.g. 16-06-2019.tif: file and folder names are read for 2021-05-10, 20210510 or 2021_05_10 \(standing alone.*; pass dates= \(command line: --dates\), one per acquisition$"):
        open_cube(tmp_path / "dn")


def _moved_date(tmp: Path, index: int, **profile: object) -> list[Path]:
    """`write_geotiffs` with date `index` rewritten in another CRS, size or transform."""
    paths = write_geotiffs(tmp / "d")
    with rasterio.open(paths[index]) as source:
        data, stated, descriptions, scales = source.read(), {**source.profile, **profile}, source.descriptions, source.scales
    with rasterio.open(paths[index], "w", **stated) as target:
        target.write(data[:, : stated["height"], : stated["width"]])
        target.descriptions, target.scales = descriptions, scales
    return paths


def test_a_date_on_another_grid_is_named_by_what_differs(tmp_path):
    """A date in another CRS (reprojected: another size too) was reported as a size mismatch."""
    with pytest.raises(ValueError, match=r"source: d/S2_20190626.tif is in EPSG:32634, d/S2_20190616.tif in EPSG:3035; every date must share one CRS: "
                                         r"reproject S2_20190626.tif onto S2_20190616.tif's grid"):
        open_cube(_moved_date(tmp_path, 2, crs="EPSG:32634", width=90, height=95))


def test_grids_equal_but_for_float_noise_are_one_grid(tmp_path):
    """An origin 1e-7 m off (10 m pixels) is the same grid: the first file's is kept; a thousandth of a pixel is not."""
    paths = write_geotiffs(tmp_path / "d")
    with rasterio.open(paths[0]) as first:
        transform = first.transform
    _moved_date(tmp_path / "noise", 1, transform=transform * Affine.translation(1e-8, 0))
    cube = open_cube(tmp_path / "noise" / "d")
    assert cube.rio.transform() == transform and cube.sizes["time"] == 8
    _moved_date(tmp_path / "off", 1, transform=transform * Affine.translation(1e-3, 0))
    with pytest.raises(ValueError, match=r"d/S2_20190621.tif has transform \(10.0, 0.0, .*every date must share one grid"):
        open_cube(tmp_path / "off" / "d")


def test_an_xarray_object_as_source_is_told_where_it_goes(tmp_path):
    cube = synthetic_cube(2, 32, 32)
    for given in (cube, cube.to_dataset(name="reflectance")):
        with pytest.raises(ValueError, match=r"source: open_cube reads files .*got an xarray.(DataArray|Dataset).*remove_cube\(cube\) or cube.clear_vision.remove\(\)"):
            open_cube(given)
    with pytest.raises(ValueError, match=r"source: open_cube reads files .*got int"):
        open_cube(5)


def test_the_openeo_netcdf_layout_with_a_bands_dimension(tmp_path):
    """openEO's client saves a cube as one variable of dims (t, bands, y, x) beside a `crs` grid mapping variable."""
    cube = synthetic_cube(3, 40, 40)
    dataset = cube.rename(time="t", band="bands").to_dataset(name="openeo")
    dataset["crs"] = xr.DataArray(np.int32(0), attrs={"crs_wkt": cube.rio.crs.to_wkt()})
    dataset.drop_vars("spatial_ref").to_netcdf(tmp_path / "openeo.nc")
    opened = open_cube(tmp_path / "openeo.nc", scale=1e-4)
    assert opened.dims == DIMS and list(opened["band"].values) == ["B04", "B03", "B02", "B08"] and opened.rio.crs == cube.rio.crs
    assert np.array_equal(opened.values, cube.values)


def test_landsat_7_without_its_blue_band_is_refused_rather_than_near_infrared_taken_as_red(tmp_path):
    """LE07 products of SR_B2..SR_B4 only: B4 (near infrared), B3, B2 were taken as red, green, blue."""
    rng = np.random.default_rng(0)
    for day in ("20210615", "20210701"):
        landsat_product(tmp_path / "le07", "LE07", day, rng)
    for path in (tmp_path / "le07").rglob("*_SR_B1.TIF"):
        path.unlink()
    cube = open_cube(tmp_path / "le07")
    assert list(cube["band"].values) == ["B2", "B3", "B4", "B5", "B6", "B7"]
    for rgb in (cube_rgb, default_rgb):
        with pytest.raises(ValueError, match=r"cube: its rgb_bands attr names B3, B2, B1 as red, green and blue .* but B1 \(blue\) is not among its bands \(B2, B3, B4, B5, B6, B7\)"):
            rgb(cube)
    landsat_product(tmp_path / "le07", "LC08", "20210707", rng)  # Landsat 8 numbers blue B2: no one set of bands with Landsat 7
    with pytest.raises(ValueError, match=r"source: .*LE07_.* and .*LC08_.* number their bands differently"):
        open_cube(tmp_path / "le07")


def test_files_left_out_of_a_cube_are_named_in_a_warning(tmp_path):
    """Earth Search items: rededge1.tif was no band and vanished silently, as did any file not named as a band; class layers (SCL, Fmask, QA) stay skipped quietly."""
    rng = np.random.default_rng(0)
    for day in ("20220615", "20220620"):
        item = tmp_path / f"S2A_34TET_{day}_0_L2A"
        item.mkdir()
        for band in ("blue", "green", "red", "nir", "scl", "aot"):
            _band_file(item / f"{band}.tif", rng.integers(1, 4000, (40, 40)).astype(np.uint16), 10)
        _band_file(item / "rededge1.tif", rng.integers(1, 4000, (20, 20)).astype(np.uint16), 20)
    with pytest.warns(UserWarning, match=r"source: left out 2 files that are no band files \(aot; e.g. S2A_34TET_20220615_0_L2A/aot.tif\)") as caught:
        cube = open_cube(tmp_path, scale=1e-4)
    assert not [warning for warning in caught if "scl" in str(warning.message)]
    assert list(cube["band"].values) == ["BLUE", "GREEN", "NIR", "RED", "REDEDGE1"] and default_rgb(cube) == ("RED", "GREEN", "BLUE")


def _with_nodata_special_value(product: Path) -> None:
    """Add the special values Copernicus products state (NODATA 0, SATURATED 65535) to a product's MTD_MSIL2A.xml."""
    metadata = product / "MTD_MSIL2A.xml"
    special = "".join(f"<Special_Values><SPECIAL_VALUE_TEXT>{text}</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>{index}</SPECIAL_VALUE_INDEX></Special_Values>"
                      for text, index in (("NODATA", 0), ("SATURATED", 65535)))
    metadata.write_text(metadata.read_text().replace("<Product_Image_Characteristics>", "<Product_Image_Characteristics>" + special))


def test_safe_products_give_their_nodata_special_value(tmp_path):
    """JPEG 2000 band files state no nodata; the product's metadata does, so the outputs carry it."""
    rng = np.random.default_rng(0)
    for folder in ("plain", "stated"):
        for day in ("20220615", "20220620"):
            safe_product(tmp_path / folder, day, rng)
    assert open_cube(tmp_path / "plain").rio.nodata is None  # products that state none: none
    for product in (tmp_path / "stated").glob("*.SAFE"):
        _with_nodata_special_value(product)
    with pytest.warns(UserWarning, match=r"left out 8 files that are no band files \(AOT, TCI; ") as caught:  # SCL quietly: a class layer
        cube = open_cube(tmp_path / "stated")
    assert not [warning for warning in caught if "SCL" in str(warning.message)]
    assert cube.rio.nodata == 0 and cube.rio.nodata.dtype == np.uint16


def test_a_given_scale_leaves_classification_bands_as_classes():
    """SCL holds classes: the reflectance bands' scale would make a CF reader decode class 4 as 0.0004."""
    nrt_dn()  # skips without the shared data
    cube = open_cube(NRT, scale=1e-4, offset=0)
    names = list(cube["band"].values)
    units = cube_units(cube)
    assert units.scale[names.index("SCL")] == 1.0 and units.scale[names.index("B4")] == 1e-4 and cube.attrs["units_bands"] == ",".join(names)


def test_dates_given_twice_are_refused_and_dates_unlike_the_files_own_are_noted(tmp_path):
    """A typo in --dates put one file's pixels under another's date without a word."""
    path = per_band_units_netcdf(tmp_path / "packed.nc", size=32)
    own = [str(day)[:10] for day in open_cube(path)["time"].values]
    with pytest.raises(ValueError, match=rf"dates: {own[0]} given twice; give each acquisition its own date"):
        open_cube(path, dates=[own[0], own[0], *own[2:]])
    with pytest.warns(UserWarning, match=r"dates: 1 of the dates given differ from the files' own \(.* given as 2030-01-01\); the dates given are used"):
        open_cube(path, dates=[*own[:-1], "2030-01-01"])
    write_geotiffs(tmp_path / "dn")
    files = [str(day)[:10] for day in open_cube(tmp_path / "dn")["time"].values]
    with pytest.warns(UserWarning, match=r"\(2019-06-16 \(S2_20190616.tif\) given as 2019-06-15\)"):  # which file: two of one day are told apart
        open_cube(tmp_path / "dn", dates=["2019-06-15", *files[1:]])


def test_integers_stored_signed_but_marked_unsigned_read_as_unsigned(tmp_path):
    """openEO's netCDF stores uint16 reflectance as int16 with _Unsigned=true (CF): values over 32767 came out negative."""
    cube = synthetic_cube(3, 32, 32)
    values = cube.values.astype(np.uint16)
    values[0, :, 0, 0] = 40000
    variables = {str(name): xr.DataArray(values[:, index], dims=("time", "y", "x"), attrs={"scale_factor": 1e-4}) for index, name in enumerate(cube["band"].values)}
    encoding = {name: {"dtype": "int16", "_Unsigned": "true", "_FillValue": 65535} for name in variables}
    xr.Dataset(variables, coords={name: cube[name].values for name in ("time", "y", "x")}).to_netcdf(tmp_path / "signed.nc", encoding=encoding)
    assert xr.open_dataset(tmp_path / "signed.nc", mask_and_scale=False)["B04"].dtype == np.int16  # stored signed
    read = open_cube(tmp_path / "signed.nc")
    assert read.dtype == np.uint16 and np.array_equal(read.values, values) and read.rio.nodata == 65535


def test_a_fill_value_the_files_do_not_declare_can_be_given(tmp_path):
    """openEO's Puglia cubes store -1 outside the field in int16 marked _Unsigned, with no _FillValue: 65535 as read."""
    cube = synthetic_cube(3, 32, 32)
    values = cube.values.astype(np.uint16)
    values[:, :, :4] = 65535
    stored = values.view(np.int16)  # as the file holds them: 65535 is -1
    variables = {str(name): xr.DataArray(stored[:, index], dims=("time", "y", "x"), attrs={"scale_factor": 1e-4, "_Unsigned": "true"}) for index, name in enumerate(cube["band"].values)}
    xr.Dataset(variables, coords={name: cube[name].values for name in ("time", "y", "x")}).to_netcdf(tmp_path / "field.nc")
    assert open_cube(tmp_path / "field.nc").rio.nodata is None
    assert open_cube(tmp_path / "field.nc", nodata=65535).rio.nodata == 65535
    with pytest.raises(ValueError, match=r"nodata: -1 cannot occur in uint16 values \(0\.\.65535\) \(a netCDF variable marked _Unsigned stores -1 as"):
        open_cube(tmp_path / "field.nc", nodata=-1)
    with pytest.raises(ValueError, match=r"nodata: 'none' is not a number"):
        open_cube(tmp_path / "field.nc", nodata="none")
    with pytest.raises(ValueError, match=r"nodata: NaN already marks no data in float values"):
        open_cube(write_geotiffs(tmp_path / "reflectance", reflectance=True), nodata=float("nan"))
    with pytest.raises(ValueError, match=r"nodata: 1e\+40 cannot occur in float32 values \(at most 3.4028235e\+38 either side\)"):
        open_cube(tmp_path / "reflectance", nodata=1e40)
    assert open_cube(tmp_path / "reflectance", nodata=3.4028235e38).rio.nodata == np.finfo(np.float32).max  # the largest, as numpy prints it


def test_a_netcdf_opened_again_after_a_refusal_does_not_crash(tmp_path):
    """A second handle on one netCDF file, opened and dropped while the first cube still read it
    lazily, crashed the process (a band name mistyped in a notebook, then the file opened again)."""
    import subprocess
    import sys

    from clear_vision.geo import write_cube

    cube = synthetic_cube(3, 64, 64)
    cube.attrs["scale_factor"] = 5e-5  # its near-infrared band, stated as reflectance under 1.5
    write_cube(ClearVision.load(method="linear").remove_cube(cube), tmp_path / "out", format="netcdf")
    script = (
        "import sys\n"
        "from clear_vision.geo import open_cube\n"
        "first = open_cube(sys.argv[1])\n"
        "try:\n    open_cube(sys.argv[1], bands=['B99'])\nexcept ValueError:\n    pass\n"
        "import gc; gc.collect()\n"
        "again = open_cube(sys.argv[1])\n"
        "assert (first.values == again.values).all()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out" / "clear_vision.nc")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "stated",
    [
        {"variables": {"crs": "EPSG:32635"}},
        {"file": {"crs": "EPSG:32635"}},
        {"file": {"spatial_ref": rasterio.crs.CRS.from_epsg(32635).to_wkt()}},
        {"file": {"epsg": 32635}},
    ],
    ids=["crs on each band variable", "crs of the file", "spatial_ref WKT of the file", "epsg of the file"],
)
def test_a_crs_stated_as_an_attribute_of_per_band_variables_or_the_file_is_read(tmp_path, stated):
    """Without a grid mapping variable, some exports state the CRS as an attribute; it was dropped and the outputs had none."""
    rng = np.random.default_rng(0)
    coords = {"time": pd.to_datetime(["2021-06-01", "2021-06-06", "2021-06-11"]), "y": 5e6 - 10 * np.arange(40) - 5, "x": 5e5 + 10 * np.arange(40) + 5}
    bands = {name: (("time", "y", "x"), (0.05 + 0.05 * rng.random((3, 40, 40))).astype(np.float32), stated.get("variables", {})) for name in ("red", "green", "blue")}
    xr.Dataset(bands, coords=coords, attrs=stated.get("file", {})).to_netcdf(tmp_path / "cube.nc")
    assert open_cube(tmp_path / "cube.nc").rio.crs.to_epsg() == 32635


def test_a_crs_attribute_rasterio_cannot_read_is_said(tmp_path):
    coords = {"time": pd.to_datetime(["2021-06-01", "2021-06-06"]), "y": 5e6 - 10 * np.arange(40) - 5, "x": 5e5 + 10 * np.arange(40) + 5}
    bands = {name: (("time", "y", "x"), np.full((2, 40, 40), 0.1, np.float32)) for name in ("red", "green", "blue")}
    xr.Dataset(bands, coords=coords, attrs={"crs": "somewhere nice"}).to_netcdf(tmp_path / "cube.nc")
    with pytest.warns(UserWarning, match=r"crs: 'somewhere nice' is not a CRS rasterio reads; the cube has none"):
        assert open_cube(tmp_path / "cube.nc").rio.crs is None


def test_an_offset_given_alone_keeps_the_scale_the_files_state(tmp_path):
    """Sentinel-2 DN with scale 0.0001 in the files, and the baseline-04.00 offset added by hand:
    the given offset alone had set the scale to 1 and the cube was refused for it."""
    cube = open_cube(write_geotiffs(tmp_path / "dn"), offset=-0.1)
    assert cube_units(cube) == Units(1e-4, -0.1)
    assert cube_units(open_cube(write_geotiffs(tmp_path / "dn"), scale=2e-4)) == Units(2e-4, 0.0)


def test_units_stated_as_metadata_items_are_read(tmp_path):
    """`scale_factor` / `add_offset` as GDAL metadata items (gdal_translate of a netCDF), not band
    scales: refused before with "no scale_factor in the metadata"."""
    paths = write_geotiffs(tmp_path / "dn", state_scale=False)
    for path in paths:
        with rasterio.open(path, "r+") as handle:
            handle.update_tags(scale_factor="0.0001", add_offset="-0.1")
    assert cube_units(open_cube(paths)) == Units(1e-4, -0.1)


def test_a_nodata_only_a_later_file_states_is_the_cube_s(tmp_path):
    """The first date's file states none, the third states 0: the outputs declared none, and GIS tools showed its edge as black ground."""
    paths = write_geotiffs(tmp_path / "dn")
    for path in paths[:2]:
        with rasterio.open(path, "r+") as handle:
            handle.nodata = None
    cube = open_cube(paths)
    assert cube.rio.nodata == 0


def test_a_date_with_the_same_bands_in_another_order_is_told_so(tmp_path):
    paths = write_geotiffs(tmp_path / "dn")
    with rasterio.open(paths[1], "r+") as handle:
        handle.descriptions = tuple(reversed(handle.descriptions))
    with pytest.raises(ValueError, match=r"S2_\d+\.tif has bands \('B08', 'B02', 'B03', 'B04'\), .*; every date needs the same bands in the same order"):
        open_cube(paths)
