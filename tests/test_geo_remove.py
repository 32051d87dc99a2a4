"""remove_cube: real DN and reflectance cubes, units, no-data classes, and the same numbers on every scheduler."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from clear_vision import ClearVision
from clear_vision.geo.cube import open_cube
from clear_vision.geo.remove import NO_DATA, _check_grid, check_chunk, check_cube, off_nodata, remove_cube, remove_cube_with, rendered_frames
from geo_data import NRT, nrt_dn, per_band_units_netcdf, restate_dates, synthetic_cube, write_geotiffs, write_landsat7_products


@pytest.fixture(scope="module")
def model() -> ClearVision:
    return ClearVision.load(device="cpu")


@pytest.fixture(scope="module")
def dn_cube(tmp_path_factory) -> xr.DataArray:
    return open_cube(write_geotiffs(tmp_path_factory.mktemp("dn")))


@pytest.fixture(scope="module")
def dn_result(model, dn_cube) -> xr.Dataset:
    return model.remove_cube(dn_cube)


def test_clear_keeps_dims_dtype_coords_units_and_crs(dn_cube, dn_result):
    clear = dn_result["clear"]
    assert clear.dims == dn_cube.dims and clear.shape == dn_cube.shape and clear.dtype == np.uint16
    assert clear.rio.crs == dn_cube.rio.crs and clear.rio.transform() == dn_cube.rio.transform() and clear.rio.nodata == 0
    assert list(clear["band"].values) == list(dn_cube["band"].values)
    assert np.array_equal(clear["time"].values, dn_cube["time"].values)
    assert clear.attrs["scale_factor"] == 1e-4 and "linear" in clear.attrs["fill_method"]
    assert dn_result["mask"].dims == ("time", "y", "x") and dn_result["mask"].dtype == np.uint8
    assert dn_result["probability"].dtype == np.float32


def test_pixels_outside_the_mask_are_bit_identical_and_masked_ones_are_filled(dn_cube, dn_result):
    mask = dn_result["mask"].values
    clear, source = dn_result["clear"].values, dn_cube.values
    outside = np.broadcast_to((mask == 0)[:, None], clear.shape)
    assert np.array_equal(clear[outside], source[outside])
    assert set(np.unique(mask)) <= {0, 1, 2, NO_DATA} and (mask == 1).mean() > 0.05  # the cloudy dates are found
    assert (mask[3, 40:48, 10:30] == NO_DATA).all() and (mask == NO_DATA).sum() == 8 * 20  # the hole, and only it
    assert (clear[3, :, 40:48, 10:30] > 0).all()  # filled from the other dates
    filled = np.broadcast_to((mask != 0)[:, None], clear.shape)
    assert 0.5 * np.median(source[outside]) < np.median(clear[filled]) < 2.0 * np.median(source[outside])  # clear-sky values, not cloud


def test_a_run_on_the_rendered_frames_gives_the_cubes_result_without_running_again(model, dn_cube, dn_result, monkeypatch):
    """The web app showed one run and zipped the GeoTIFFs of a second (twice the time, and masks that could differ)."""
    frames = rendered_frames(model, dn_cube)
    assert frames.shape == (dn_cube.sizes["time"], dn_cube.sizes["y"], dn_cube.sizes["x"], 3) and frames.dtype == np.uint8
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as remove_cube runs each chunk, so the float sums agree to the bit
    try:
        result = model.run(frames, [str(day)[:10] for day in dn_cube["time"].values])
    finally:
        torch.set_num_threads(previous)
    runs = []
    monkeypatch.setattr(model, "process_chunk", lambda *args, **kwargs: runs.append(args))
    again = remove_cube_with(model, dn_cube, result)
    assert not runs
    for name in ("clear", "mask", "probability"):
        assert np.array_equal(again[name].values, dn_result[name].values), name
    assert again.attrs == dn_result.attrs and again["clear"].attrs == dn_result["clear"].attrs
    with pytest.raises(ValueError, match="are not the cube's rendered frames"):
        remove_cube_with(model, dn_cube.isel(time=slice(0, 4)), result)


def test_the_same_cube_in_reflectance_gives_the_same_masks(model, tmp_path, dn_cube, dn_result):
    reflectance = open_cube(write_geotiffs(tmp_path / "refl", reflectance=True))
    assert reflectance.dtype == np.float32
    result = model.remove_cube(reflectance)
    assert np.array_equal(result["mask"].values, dn_result["mask"].values)
    assert result["clear"].dtype == np.float32 and np.isnan(result["clear"].rio.nodata)
    dn_as_reflectance = dn_result["clear"].values * 1e-4
    assert np.abs(result["clear"].values - dn_as_reflectance).max() <= 1.01e-4  # within one DN


def test_dates_in_different_units_give_the_masks_of_one_unit(model, tmp_path, dn_result):
    paths = write_geotiffs(tmp_path / "mixed")
    restate_dates(paths[4:], -0.1)  # Sentinel-2 products from processing baseline 04.00 on
    with pytest.warns(UserWarning, match="different units"):
        mixed = model.remove_cube(open_cube(tmp_path / "mixed"))
    assert mixed["clear"].dtype == np.float32
    assert np.mean(mixed["mask"].values == dn_result["mask"].values) > 0.999


def test_the_same_dates_as_landsat_7_products_give_the_same_masks(model, tmp_path, dn_cube, dn_result):
    """Landsat 7 numbers red B3 (B4 is near infrared) and states its units in the MTL file: read
    from the products alone, the networks see the same RGB as from the Sentinel-2 files."""
    cube = open_cube(write_landsat7_products(tmp_path))
    result = model.remove_cube(cube)
    assert (result["mask"].values == dn_result["mask"].values).mean() > 0.999  # DN rounding differs: 2.75e-5 against 1e-4
    red = result["clear"].sel(band="B3").values * 2.75e-5 - 0.2
    assert np.abs(red - dn_result["clear"].sel(band="B04").values * 1e-4).max() < 2e-3
    assert result["clear"].attrs["scale_factor"] == 2.75e-5 and result["clear"].attrs["add_offset"] == -0.2


def test_unknown_units_and_bad_arguments_are_refused(model, tmp_path, dn_cube):
    unknown = open_cube(write_geotiffs(tmp_path / "noscale", state_scale=False))
    with pytest.raises(ValueError, match=r"uint16 values with no scale_factor .* give open_cube\(..., scale=, offset=\) .* cube.attrs\[.scale_factor.\]"):
        model.remove_cube(unknown)
    with pytest.raises(ValueError, match=r"uint8 values with no scale_factor .* an 8-bit RGB rendering \(a map export, a quicklook\) is a picture: save it as PNG"):
        model.remove_cube((unknown // 256).astype(np.uint8))
    as_reflectance = dn_cube.astype(np.float32)
    as_reflectance.attrs.pop("scale_factor")
    with pytest.raises(ValueError, match=r"not reflectance .*give open_cube\(..., scale="):
        model.remove_cube(as_reflectance)
    with pytest.raises(ValueError, match=r"rgb: \('B5', 'B03', 'B02'\) must name .* its bands are B04, B03, B02, B08"):
        model.remove_cube(dn_cube, rgb=("B5", "B3", "B2"))  # B3 and B2 are B03 and B02
    with pytest.raises(ValueError, match=r"chunks: 16 is not a chunk size"):
        model.remove_cube(dn_cube, chunks=16)
    with pytest.raises(ValueError, match=r"cube: 1 date; clouds are filled from other dates, so a cube needs at least 2"):
        model.remove_cube(dn_cube.isel(time=[0]))
    with pytest.raises(ValueError, match=r"cube: 101 dates; a cube holds at most 100 .* cube.sel\(time=slice\('2019-06-16', '2019-06-16'\)\) keeps its first 100, on the command line --start 2019-06-16 --end 2019-06-16"):
        model.remove_cube(dn_cube.isel(time=[0] * 101))
    with pytest.raises(ValueError, match=r"rgb: no band of the cube is named red/green/blue or B04/B03/B02 \(its bands are band_1, band_2, band_3, band_4\); give rgb="):
        model.remove_cube(dn_cube.assign_coords(band=["band_1", "band_2", "band_3", "band_4"]))
    with pytest.raises(ValueError, match=r"rgb: \('B04', 'B03', 'SCL'\) names a classification or quality band"):
        model.remove_cube(dn_cube.assign_coords(band=["B04", "B03", "B02", "SCL"]), rgb=("B04", "B03", "SCL"))
    with pytest.raises(ValueError, match=r"band name\(s\) B04 repeat \(bands B04, B04, B02, B08\)"):
        model.remove_cube(dn_cube.assign_coords(band=["B04", "B04", "B02", "B08"]), rgb=("B04", "B04", "B02"))
    with pytest.raises(ValueError, match=r"cube: 2 band\(s\) \(B04, B03\); the networks need red, green and blue"):
        model.remove_cube(dn_cube.isel(band=[0, 1]))
    with pytest.raises(ValueError, match=r"expected an xarray.DataArray with dims .* \(lat/lon, t and bands are renamed so; .*got \('time', 'band', 'row', 'x'\); rename them"):
        model.remove_cube(dn_cube.rename(y="row"))


def test_dims_in_another_order_or_named_as_openeo_names_them_are_taken(model, dn_cube, dn_result):
    """openEO's client gives (t, bands, y, x); xarray users may hold (time, y, x, band)."""
    for cube in (dn_cube.transpose("time", "y", "x", "band"), dn_cube.rename(time="t", band="bands")):
        assert np.array_equal(model.remove_cube(cube)["mask"].values, dn_result["mask"].values)


def test_eager_threads_and_synchronous_give_the_same_numbers(model):
    cube = synthetic_cube(steps=4, height=200, width=232)
    eager = remove_cube(model, cube, chunks=96)
    lazy = remove_cube(model, cube.chunk({"y": 50, "x": 70}), chunks=96)  # storage chunks do not matter, `chunks` does
    assert lazy["clear"].chunks is not None
    for scheduler in ("threads", "synchronous"):
        computed = lazy.compute(scheduler=scheduler)
        for name in ("clear", "mask", "probability"):
            assert np.array_equal(computed[name].values, eager[name].values), (scheduler, name)
    assert cube.clear_vision.remove(model, chunks=96)["mask"].equals(eager["mask"])  # the accessor is the same call
    assert remove_cube(model, cube, rgb="B04, B03,B02", chunks=96)["mask"].equals(eager["mask"])  # rgb as one string


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_cpu_masks_eager_and_on_dask_threads(dn_cube, dn_result):
    gpu = ClearVision.load(device="cuda")
    eager = gpu.remove_cube(dn_cube)
    assert np.mean(eager["mask"].values == dn_result["mask"].values) > 0.99
    clear = eager["mask"].values == 0
    assert np.array_equal(eager["clear"].values.transpose(1, 0, 2, 3)[:, clear], dn_cube.values.transpose(1, 0, 2, 3)[:, clear])
    lazy = gpu.remove_cube(dn_cube.chunk({"x": 50}), chunks=64).compute(scheduler="threads", num_workers=4)
    whole = gpu.remove_cube(dn_cube, chunks=64)
    for name in ("clear", "mask", "probability"):
        assert np.array_equal(lazy[name].values, whole[name].values), name


def _peak_rss_mb() -> float:
    """This process's peak resident memory, VmHWM (ru_maxrss survives exec: a spawned worker reports its parent's peak)."""
    from pathlib import Path

    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def _models_loaded() -> int:
    from clear_vision.geo import remove

    return len(remove._MODELS)


def test_no_seams_at_chunk_borders(model):
    """Chunked and one-chunk results: the same masks (the whole-frame rules judge each pixel's 128 px
    square, which the halo holds), fills that differ (the fillers fit each tile's frames) but not
    more along chunk borders. 320 px wide, the one-chunk run is one detector tile: no seams of its own."""
    cube = synthetic_cube(steps=4, height=256, width=320)
    chunked, whole = remove_cube(model, cube, chunks=128), remove_cube(model, cube, chunks=512)
    border = np.zeros((256, 320), bool)
    border[120:136, :] = True
    for edge in (128, 256):
        border[:, edge - 8 : edge + 8] = True
    changed = (chunked["mask"].values != whole["mask"].values).mean(axis=0)
    difference = np.abs(chunked["clear"].values.astype(np.float64) - whole["clear"].values).mean(axis=(0, 1))
    assert changed.mean() <= 0.005 and changed[border].mean() <= 0.01, (changed.mean(), changed[border].mean())  # judged per chunk: 6.4 %
    assert difference[border].mean() <= 2 * difference[~border].mean() + 1.0, (difference[border].mean(), difference[~border].mean())


def test_a_fill_never_takes_the_nodata_value():
    """A dark fill rounded to DN 0 under nodata 0 reads as a hole in every GIS tool: it becomes the nearest other value."""
    assert off_nodata(np.array([0, 5, 0], np.uint16), 0).tolist() == [1, 5, 1]
    assert off_nodata(np.array([65535, 7], np.uint16), 65535).tolist() == [65534, 7]
    floats = off_nodata(np.array([-9999.0, 0.5], np.float32), -9999.0)
    assert floats[0] != -9999.0 and abs(floats[0] + 9999.0) < 1e-3 and floats[1] == 0.5
    assert off_nodata(np.array([0, 3], np.int16), None).tolist() == [0, 3]


@pytest.mark.slow
def test_local_cluster_equals_eager_and_worker_memory_stays_flat(model, tmp_path):
    """LocalCluster(2 workers x 1 thread): same numbers as the eager path; worker memory flat when the cube doubles."""
    distributed = pytest.importorskip("distributed")
    from clear_vision.geo.cluster import local_cluster
    from clear_vision.geo.write import write_cube

    cube = synthetic_cube(steps=4, height=256, width=512)
    eager = remove_cube(model, cube, chunks=128)
    with local_cluster(2, memory_limit="3GiB") as cluster, distributed.Client(cluster) as client:
        lazy = remove_cube(model, cube.chunk({"y": 128, "x": 128}), chunks=128).compute()
        processes = remove_cube(model, cube.chunk({"y": 128, "x": 128}), chunks=128).compute(scheduler="processes", num_workers=2)
        for name in ("clear", "mask", "probability"):
            assert np.array_equal(lazy[name].values, eager[name].values), name
            assert np.array_equal(processes[name].values, eager[name].values), name
        assert set(client.run(_models_loaded).values()) == {1}  # one model per worker, not one per chunk
        peaks = []
        for height in (256, 512):  # the same workers, then a cube twice the size, written chunk by chunk
            result = remove_cube(model, synthetic_cube(steps=4, height=height, width=512).chunk({"y": 128, "x": 128}), chunks=128)
            write_cube(result, tmp_path / f"out{height}", format="zarr")
            peaks.append(max(client.run(_peak_rss_mb).values()))
    print(f"worker peak RSS: {peaks[0]:.0f} MB (4x256x512 cube), {peaks[1]:.0f} MB (4x512x512)")
    assert peaks[1] < peaks[0] * 1.15 + 100, peaks


def test_a_class_band_takes_the_class_of_a_clear_date_never_a_blend(model):
    """Interpolated, classes 4 (vegetation) and 8 (cloud) would make 6 (water): date t holds 2**t here."""
    cube = synthetic_cube(steps=6, height=128, width=128)
    classes = xr.full_like(cube.isel(band=[0]), 0).assign_coords(band=["SCL"]) + (2 ** np.arange(6, dtype=np.uint16))[:, None, None, None]
    cube = xr.concat([cube, classes.astype(np.uint16)], dim="band").assign_attrs(cube.attrs)
    result = remove_cube(model, cube)
    scl, filled = cube.sel(band="SCL").values, result["clear"].sel(band="SCL").values
    steps, rows, cols = np.nonzero(filled != scl)
    assert len(steps) > 100 and (result["mask"].values[steps, rows, cols] != 0).all()  # only masked pixels change
    clear_dates = result["mask"].values == 0
    assert all(filled[t, y, x] in scl[clear_dates[:, y, x], y, x] for t, y, x in zip(steps, rows, cols))
    assert np.isin(filled, 2 ** np.arange(6)).all()
    assert "nearest" in result["clear"].attrs["fill_method"] and result["clear"].dtype == cube.dtype


def test_a_class_band_whose_clear_class_is_the_nodata_value_is_not_no_data(model, dn_cube, dn_result):
    """A Sentinel Hub export: B04, B03, B02, B08 and CLM (0 clear, 1 cloud) in one file with nodata 0.
    The file's nodata speaks of the measurements; CLM 0 is the clear class, not a missing pixel."""
    clm = xr.zeros_like(dn_cube.isel(band=[0])).assign_coords(band=["CLM"])
    clm.values[:, :, :64] = 1
    cube = xr.concat([dn_cube, clm], dim="band").assign_attrs(dn_cube.attrs).rio.write_nodata(0, encoded=False)
    mask = model.remove_cube(cube)["mask"].values
    assert np.array_equal(mask == NO_DATA, dn_result["mask"].values == NO_DATA)  # only the reflectance hole


def test_sentinel2_numbers_offset_by_1000_without_an_offset_are_warned_about(model, dn_cube):
    offset = dn_cube.copy(data=np.where(dn_cube.values > 0, dn_cube.values + 1000, 0).astype(np.uint16))
    with pytest.warns(UserWarning, match=r"processing baseline 04\.00 .* give offset=-0\.1"):
        model.remove_cube(offset)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the same numbers without the offset: no warning
        model.remove_cube(dn_cube.isel(time=slice(0, 3)))


def test_a_cube_smaller_than_the_halo_runs(model):
    """52x46 px (the openEO test cube's size) once failed: Dask cannot overlap 64 px on a 52-px axis."""
    cube = synthetic_cube(steps=4, height=52, width=46)
    eager, lazy = remove_cube(model, cube), remove_cube(model, cube.chunk({"y": 52, "x": 46})).compute()
    assert eager["clear"].shape == cube.shape and eager["mask"].shape == (4, 52, 46)
    assert np.array_equal(eager["clear"].values, lazy["clear"].values) and np.array_equal(eager["mask"].values, lazy["mask"].values)
    outside = np.broadcast_to((eager["mask"].values == 0)[:, None], cube.shape)
    assert np.array_equal(eager["clear"].values[outside], cube.values[outside])


def test_black_pixels_no_tag_declares_are_no_data_not_cloud(model, dn_cube, dn_result):
    """Fill values without a nodata tag (0 or -1 outside a field) render black: no data, as on the frames path."""
    cube = dn_cube.copy(data=dn_cube.values.copy()).rio.write_nodata(None, encoded=False)
    cube.values[0, :, 60:90, 60:90] = 0
    mask = model.remove_cube(cube)["mask"].values
    assert (mask[0, 60:90, 60:90] == NO_DATA).all()
    outside = np.ones(mask.shape[1:], bool)
    outside[55:95, 55:95] = False
    assert np.mean(mask[:, outside] == dn_result["mask"].values[:, outside]) > 0.99


def test_red_green_blue_far_above_any_reflectance_on_a_few_pixels_are_no_data_not_cloud(model, dn_cube, dn_result):
    """An undeclared fill value (Landsat 8 France's edge wedge of DN 64537, read as 6.45) was bright
    cloud to stage 1, and the whole-frame rule then masked its clear date whole."""
    cube = dn_cube.copy(data=dn_cube.values.copy())
    cube.values[0, :, :20, -20:] = 64537  # every band; under 1 % of the cube's values: not refused as unscaled numbers
    mask = model.remove_cube(cube)["mask"].values
    assert (mask[0, :20, -20:] == NO_DATA).all()
    outside = np.ones(mask.shape[1:], bool)
    outside[:25, -25:] = False
    assert np.mean(mask[:, outside] == dn_result["mask"].values[:, outside]) > 0.99


def test_valid_pixels_too_dark_to_render_are_not_no_data(model, dn_cube):
    """Deep water at DN 1..6 renders black at gain 3: it is data, and its other bands are not overwritten as no data's are."""
    cube = dn_cube.copy(data=dn_cube.values.copy()).rio.write_nodata(None, encoded=False)
    rgb = [list(cube["band"].values).index(name) for name in ("B04", "B03", "B02")]
    cube.values[0, rgb, 60:90, 60:90] = 3
    cube.values[0, rgb[0], 95:100, 95:100] = 0  # a fill value in one band only: data
    result = model.remove_cube(cube)
    mask = result["mask"].values
    assert not (mask[0, 60:90, 60:90] == NO_DATA).any() and not (mask[0, 95:100, 95:100] == NO_DATA).any()
    kept = mask[0] == 0
    assert np.array_equal(result["clear"].values[0][:, kept], cube.values[0][:, kept])


def test_water_below_zero_is_data_where_the_cube_states_its_nodata(model, dn_cube):
    """Reflectance slightly below 0 (water after atmospheric correction) renders black; with a stated
    nodata (-9999) that value is the no data, and the lake is data on every date, kept where clear."""
    assert int(dn_cube.max()) < 2**15
    cube = dn_cube.astype(np.int16)
    cube.attrs = {key: value for key, value in dn_cube.attrs.items() if key not in ("_FillValue", "nodata")}
    cube = cube.rio.write_nodata(-9999, encoded=False)
    rgb = [list(cube["band"].values).index(name) for name in ("B04", "B03", "B02")]
    cube.values[:, rgb, 60:90, 60:90] = -30
    cube.values[1, :, :10, :10] = -9999
    result = model.remove_cube(cube)
    mask = result["mask"].values
    assert not (mask[:, 60:90, 60:90] == NO_DATA).any() and (mask[1, :10, :10] == NO_DATA).all()
    kept = mask == 0
    assert kept[:, 60:90, 60:90].any() and np.array_equal(result["clear"].values.transpose(1, 0, 2, 3)[:, kept], cube.values.transpose(1, 0, 2, 3)[:, kept])


def test_an_untagged_float_fill_value_left_unfilled_comes_back_as_the_nan_the_output_declares(model, tmp_path):
    """-9999 without a nodata tag reads as no data (it renders black); where no date can fill it, the
    output holds NaN, the nodata its files declare, not a -9999 that nothing declares."""
    cube = open_cube(write_geotiffs(tmp_path / "refl", reflectance=True)).rio.write_nodata(None, encoded=False)
    cube = cube.copy(data=cube.values.copy())
    cube.values[:, :, 10:20, 10:20] = -9999.0  # on every date: nothing to fill from
    result = model.remove_cube(cube)
    clear, mask = result["clear"].values, result["mask"].values
    assert (mask[:, 10:20, 10:20] == NO_DATA).all() and np.isnan(clear[:, :, 10:20, 10:20]).all()
    assert not (clear == -9999.0).any()  # write_cube tags NaN as the nodata of float outputs without one


def test_a_result_written_by_xarray_itself_keeps_the_mask_classes(model, tmp_path, dn_cube):
    """`.to_zarr` / `.to_netcdf` of the result, not write_cube: no storage encoding of the input's
    zarr v2 store travels along, and the no-data class stays 255 in a uint8 mask."""
    dn_cube.to_dataset(name="reflectance").to_zarr(tmp_path / "source.zarr", zarr_format=2)
    result = model.remove_cube(open_cube(tmp_path / "source.zarr", chunks=64))
    result.to_zarr(tmp_path / "result.zarr")
    result.to_netcdf(tmp_path / "result.nc")
    for mask in (xr.open_zarr(tmp_path / "result.zarr")["mask"], xr.open_dataset(tmp_path / "result.nc")["mask"]):
        assert mask.dtype == np.uint8 and (mask.values == NO_DATA).any() and np.array_equal(mask.values, result["mask"].values)


def test_per_band_units_follow_band_selection_and_a_mismatch_is_refused_before_dask_runs(model, tmp_path):
    """xarray keeps attrs as they are through cube.sel(band=...): a reordered cube was converted
    with other bands' scales (wrong masks, no error), a subset failed inside a Dask task."""
    cube = open_cube(per_band_units_netcdf(tmp_path / "packed.nc"))
    reference = remove_cube(model, cube, chunks=64)
    for bands in (["B08", "B02", "B03", "B04"], ["B02", "B04", "B03"]):
        selected = remove_cube(model, cube.sel(band=bands), chunks=64)
        assert np.array_equal(selected["mask"].values, reference["mask"].values), bands
        assert selected["clear"].equals(reference["clear"].sel(band=bands)), bands
        assert selected["clear"].attrs["band_scale_factor"] == [cube.attrs["band_scale_factor"][cube.attrs["units_bands"].split(",").index(name)] for name in bands]
    lazy = cube.chunk({"y": 32, "x": 32})
    with pytest.raises(ValueError, match=r"cube: 2 per-band scale_factor values in the attrs for its 4 bands \(B04, B03, B02, B08\); give one number, or one per band"):
        remove_cube(model, lazy.drop_attrs().assign_attrs(scale_factor=[1e-4, 2e-4]), chunks=64)  # lazy: refused before anything is computed
    with pytest.raises(ValueError, match=r"cube: band\(s\) red have no scale_factor/add_offset: the attrs' per-band values belong to bands B04,B03,B02,B08"):
        remove_cube(model, lazy.assign_coords(band=["red", "B03", "B02", "B08"]), rgb=("red", "B03", "B02"), chunks=64)


@pytest.mark.parametrize("flips", [{"y": slice(None, None, -1)}, {"y": slice(None, None, -1), "x": slice(None, None, -1)}], ids=["south-up", "south-up-west-right"])
def test_a_flipped_cube_gives_the_north_up_results_in_its_own_orientation(model, flips):
    """The networks are not flip invariant (sun and shadow geometry): a south-up netCDF was processed upside down."""
    cube = synthetic_cube(steps=4, height=96, width=96)
    north_up = remove_cube(model, cube, chunks=64)
    flipped = cube.isel(flips)
    result = remove_cube(model, flipped, chunks=64)
    assert all(result.indexes[dim].equals(flipped.indexes[dim]) for dim in ("y", "x")) and result["clear"].rio.transform() == flipped.rio.transform()
    for name in ("clear", "mask", "probability"):
        assert np.array_equal(result[name].isel(flips).values, north_up[name].values), name


def test_times_with_a_time_zone_are_read_as_naive_utc(model):
    """STAC tooling gives tz-aware times: numpy could not read their dtype (a raw TypeError)."""
    cube = synthetic_cube(steps=4, height=64, width=64)
    reference = remove_cube(model, cube, chunks=64)
    utc = pd.DatetimeIndex(cube["time"].values).tz_localize("UTC")
    for times in (utc, utc.tz_convert("Europe/Bucharest")):  # 03:00 in Bucharest is midnight UTC
        result = remove_cube(model, cube.assign_coords(time=times), chunks=64)
        assert np.array_equal(result["time"].values, reference["time"].values) and result["mask"].equals(reference["mask"])


def test_iso_string_and_cftime_times_are_read_as_open_cube_reads_them(model):
    cube = synthetic_cube(steps=4, height=64, width=64)
    reference = remove_cube(model, cube, chunks=64)
    for times in (["2021-06-01", "2021-06-06", "2021-06-11", "2021-06-16"], xr.date_range("2021-06-01", periods=4, freq="5D", calendar="noleap", use_cftime=True)):
        result = remove_cube(model, cube.assign_coords(time=times), chunks=64)
        assert np.array_equal(result["time"].values, reference["time"].values) and result["mask"].equals(reference["mask"])
    with pytest.raises(ValueError, match=r"cube: needs a 'time' coordinate of dates .*, found a time coordinate of values like 'June'; open_cube\(..., dates="):
        remove_cube(model, cube.assign_coords(time=["June", "July", "August", "May"]), chunks=64)


def test_chunk_sizes_computed_with_numpy_are_taken_and_true_is_not_a_size(model, tmp_path):
    cube = synthetic_cube(steps=4, height=64, width=64)
    assert remove_cube(model, cube, chunks=np.int64(64))["mask"].equals(remove_cube(model, cube, chunks=64)["mask"])
    assert check_chunk(np.int32(100)) == 100 and type(check_chunk(np.uint16(100))) is int
    with pytest.raises(ValueError, match=r"chunks: True is not a chunk size; give a whole number of pixels in \[64, "):
        check_chunk(True)
    lazy = open_cube(per_band_units_netcdf(tmp_path / "packed.nc"), chunks=np.int64(32))
    assert lazy.chunks is not None and lazy.chunksizes["x"][0] == 32
    with pytest.raises(ValueError, match=r"chunks: np.float64\(32.0\) is not a chunk size; give a whole number of pixels >= 32"):
        open_cube(tmp_path / "packed.nc", chunks=np.float64(32))


def test_the_accessor_is_registered_by_clear_vision_geo_and_clear_vision_alone_stays_light():
    """As README.md says: `import clear_vision` imports no xarray or Dask, `import clear_vision.geo` registers cube.clear_vision."""
    script = (
        "import sys, clear_vision; assert not {'xarray', 'dask'} & set(sys.modules), sorted({'xarray', 'dask'} & set(sys.modules)); "
        "import clear_vision.geo, xarray; assert hasattr(xarray.DataArray, 'clear_vision')"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_the_accessor_on_a_dataset_says_what_it_takes():
    """`ds.clear_vision.remove()` on a Dataset: refused in words (it was an AttributeError), before any model loads."""
    cube = synthetic_cube(steps=3, height=64, width=64)
    with pytest.raises(ValueError, match=r"cube: expected an xarray.DataArray with dims \('time', 'band', 'y', 'x'\).*got Dataset"):
        cube.to_dataset(name="reflectance").clear_vision.remove()


def test_rgb_names_a_band_with_or_without_the_leading_zero_or_by_the_end_of_its_name():
    cube = synthetic_cube(steps=2, height=32, width=32)  # bands B04, B03, B02, B08
    assert check_cube(cube, ("B4", "B3", "B2"))[2] == ("B04", "B03", "B02")
    with pytest.raises(ValueError, match=r"rgb: \('B5', 'B03', 'B02'\) must name the red, green and blue bands"):
        check_cube(cube, ("B5", "B03", "B02"))
    openeo = cube.assign_coords(band=["S2-L2A-B04", "S2-L2A-B03", "S2-L2A-B02", "S2-L2A-B08"])  # as openEO names them
    assert check_cube(openeo, ("B04", "B3", "S2-L2A-B02"))[2] == ("S2-L2A-B04", "S2-L2A-B03", "S2-L2A-B02")
    twice = cube.assign_coords(band=["L8-B04", "S2-B04", "S2-B03", "S2-B02"])
    with pytest.raises(ValueError, match=r"rgb: \('B04', 'S2-B03', 'S2-B02'\) must name"):  # two bands end in B04: neither is guessed
        check_cube(twice, ("B04", "S2-B03", "S2-B02"))


def test_rgb_naming_a_band_twice_is_refused():
    cube = synthetic_cube(steps=2, height=32, width=32)
    with pytest.raises(ValueError, match=r"rgb: \('B04', 'B04', 'B02'\) names a band twice"):
        check_cube(cube, ("B04", "B4", "B02"))


def test_a_grid_the_outputs_cannot_state_is_refused():
    cube = synthetic_cube(steps=2, height=64, width=64)
    gap = cube.isel(y=list(range(20)) + list(range(30, 64)))  # rows cut out of the middle
    with pytest.raises(ValueError, match=r"cube: its y coordinate is not evenly spaced \(steps -110..-10\)"):
        check_cube(gap, None)
    digital = (cube.fillna(0) * 10000).round().astype("uint16").assign_attrs(scale_factor=1e-4, add_offset=0.0, _FillValue=np.nan)
    with pytest.raises(ValueError, match=r"no-data value \(_FillValue or nodata attr\) is NaN, which uint16 values cannot hold"):
        check_cube(digital, None)
    _check_grid(digital.assign_attrs(_FillValue=0))  # a no-data value the type holds passes


def test_units_that_misread_a_real_cube_are_warned_about_though_it_has_a_class_band(model):
    """The nrt cube with its SCL band (whose scale stays 1): a forgotten and a wrong offset each name the fix."""
    nrt_dn()  # skips without the shared data
    cube = open_cube(NRT, scale=1e-4, offset=0).isel(time=slice(0, 4))
    shifted = cube.copy(data=np.where(cube.values > 0, cube.values + 1000, 0).astype(np.uint16))  # baseline 04.00 numbers
    with pytest.warns(UserWarning, match=r"give offset=-0.1"):
        model.remove_cube(shifted)
    with pytest.warns(UserWarning, match=r"read as zero or negative reflectance with scale=0.0001, offset=-0.1"):
        model.remove_cube(open_cube(NRT, scale=1e-4, offset=-0.1).isel(time=slice(0, 4)))


def test_a_band_without_data_takes_nothing_from_the_others(model):
    """NIR missing (NaN) where red, green and blue are there: a 20 m band's edge on every date, a
    strip on one date. The RGB, the masks and the other bands come out as without the gaps; NIR
    stays missing where it was and is not replaced, and its fills come only from dates that have it."""
    whole = (synthetic_cube(steps=6, height=128, width=128).astype(np.float32) * np.float32(1e-4)).rio.write_nodata(np.nan, encoded=False)
    whole = whole.where(whole > 0)  # the DN strip of 0 is no data: NaN in every band
    whole.attrs = {}  # reflectance, not DN
    gappy = whole.copy(data=whole.values.copy())
    nir = gappy.values[:, 3]
    nir[:, :, 110:] = np.nan  # on every date
    nir[2, 40:60, :] = np.nan  # one date (a clear one: the clouds are on odd dates)
    expected, result = model.remove_cube(whole), model.remove_cube(gappy)
    assert np.array_equal(result["mask"].values, expected["mask"].values)
    assert np.array_equal(result["clear"].values[:, :3], expected["clear"].values[:, :3], equal_nan=True)
    assert np.array_equal((result["mask"].values == 255), np.isnan(whole.values[:, :3]).any(axis=1))  # no data by RGB alone
    out_nir, clear = result["clear"].values[:, 3], result["mask"].values == 0
    assert np.array_equal(out_nir[clear], nir[clear], equal_nan=True)  # kept, missing or not
    replaced = np.isin(result["mask"].values, (1, 2))
    assert replaced[:, :, 110:].any() and np.isnan(out_nir[replaced & (np.arange(128) >= 110)]).all()  # no date has NIR there
    rows = (np.arange(128) >= 40) & (np.arange(128) < 60)
    away = replaced & ~rows[:, None] & (np.arange(128) < 110)  # where every date has NIR: the fills of the cube without gaps
    assert away.any() and np.array_equal(out_nir[away], expected["clear"].values[:, 3][away])
    sources = np.where(clear & ~np.isnan(nir), nir, np.nan)  # per pixel, the NIR of the dates a fill may come from
    lowest, highest = np.nanmin(sources, axis=0), np.nanmax(sources, axis=0)
    times, ys, xs = np.nonzero(replaced & rows[:, None] & (np.arange(128) < 110))
    assert len(times) and np.all((lowest[ys, xs] <= out_nir[times, ys, xs]) & (out_nir[times, ys, xs] <= highest[ys, xs]))  # never a missing value read as 0


def test_remove_cube_with_gives_a_flipped_cube_back_in_its_own_orientation(model, tmp_path):
    """The web app's path: a south-up upload came back north-up under its south-up transform (in a
    GIS mirrored and shifted by its own height), where `remove_cube` gives it back as it came."""
    import rasterio

    from clear_vision import write_cube

    flipped = synthetic_cube(steps=4, height=96, width=96).isel(y=slice(None, None, -1))
    result = remove_cube_with(model, flipped, model.run(rendered_frames(model, flipped), [str(day)[:10] for day in flipped["time"].values]))
    assert result.indexes["y"].equals(flipped.indexes["y"]) and result["clear"].rio.transform() == flipped.rio.transform()
    assert np.mean(result["mask"].values == remove_cube(model, flipped)["mask"].values) > 0.99
    write_cube(result, tmp_path / "out")
    with rasterio.open(sorted((tmp_path / "out").glob("clear_*.tif"))[0]) as written:
        assert tuple(written.bounds) == pytest.approx(flipped.rio.bounds()) and written.transform.e < 0  # written north-up, over the same ground
        assert np.array_equal(written.read(1), result["clear"].values[0, 0][::-1])
