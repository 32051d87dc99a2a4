"""write_cube: COGs per date, zarr and netCDF keep CRS, transform, nodata, dtype, bands and dates; all or nothing."""

from __future__ import annotations

import json
import re

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from dask.callbacks import Callback
from hypothesis import given
from hypothesis import strategies as st

import clear_vision.geo.write as write
from clear_vision import ClearVision
from clear_vision.config import DEFAULT_WEIGHTS_DIR, ClearVisionConfig
from clear_vision.geo.cube import cube_units, open_cube
from clear_vision.geo.units import Units
from clear_vision.geo.write import _mask_summary, _passes, cube_file_names, write_cube, write_cube_into
from geo_data import per_band_units_netcdf, synthetic_cube, write_geotiffs


@pytest.fixture(scope="module")
def cube(tmp_path_factory) -> xr.DataArray:
    return open_cube(write_geotiffs(tmp_path_factory.mktemp("dn")), chunks=64)


@pytest.fixture(scope="module")
def result(cube) -> xr.Dataset:
    return ClearVision.load(device="cpu").remove_cube(cube, chunks=64)


def test_a_time_of_day_is_tagged_beside_the_date(tmp_path, result):
    timed = result.assign_coords(time=result["time"].values + np.timedelta64(38726, "s"))
    write_cube(timed.isel(time=slice(0, 2)), tmp_path / "out", format="cog")
    with rasterio.open(tmp_path / "out" / "clear_2019-06-16.tif") as clear:
        assert clear.tags()["ACQUISITION_DATE"] == "2019-06-16" and clear.tags()["ACQUISITION_TIME"] == "2019-06-16T10:45:26Z"
    assert open_cube(tmp_path / "out")["time"].values[0] == np.datetime64("2019-06-16T10:45:26")  # read back with its time


def test_cogs_per_date_keep_grid_units_bands_dates_and_read_back(tmp_path, cube, result):
    written = write_cube(result, tmp_path / "out", format="cog")
    names = cube_file_names(cube["time"].values, "cog")
    assert [path.name for path in written] == names and sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(names)
    with rasterio.open(tmp_path / "out" / "clear_2019-06-26.tif") as clear:
        assert clear.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert clear.crs.to_epsg() == 3035 and clear.transform == cube.rio.transform() and clear.nodata == 0
        assert clear.dtypes == ("uint16",) * 4 and clear.descriptions == ("B04", "B03", "B02", "B08")
        assert clear.scales == (1e-4,) * 4 and clear.tags()["ACQUISITION_DATE"] == "2019-06-26"
        assert clear.tags()["INPUT_FILE"] == str(cube["input_file"].values[2]) and cube["input_file"].values[2].endswith("20190626.tif")
        assert "ACQUISITION_TIME" not in clear.tags()  # dates without a time of day
    with rasterio.open(tmp_path / "out" / "mask_2019-06-26.tif") as mask:
        assert mask.dtypes == ("uint8",) and mask.nodata == 255 and mask.crs.to_epsg() == 3035
        assert np.array_equal(mask.read(1), result["mask"].values[2])
    back = open_cube(tmp_path / "out")  # the output folder itself: its mask_<date>.tif are not dates of the cube
    assert np.array_equal(back.values, result["clear"].values) and np.array_equal(back["time"].values, cube["time"].values)
    assert list(back["band"].values) == ["B04", "B03", "B02", "B08"] and back.attrs["scale_factor"] == 1e-4 and back.rio.nodata == 0 and back.rio.crs == cube.rio.crs
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["dates"][0] == "2019-06-16" and len(report["cloud_cover"]) == 8 and report["scale_factor"] == 1e-4
    assert report["input_files"] == [str(name) for name in cube["input_file"].values]
    assert np.allclose(report["no_data"], (result["mask"].values == 255).mean(axis=(1, 2)), atol=1e-4) and max(report["no_data"]) > 0
    assert "linear" in report["fill_method"] and report["method"] == "learned"
    assert report["fill_threshold"] == ClearVisionConfig.load(DEFAULT_WEIGHTS_DIR).fill_threshold  # how to run it again
    assert report["device"] == "cpu" and report["seconds"] > 0  # as the frames' report has them
    whole = [date for date, masked, no_data in zip(report["dates"], report["cloud_cover"], report["no_data"]) if masked == 1 and no_data < 1]
    assert whole and len(report["warnings"]) == 1 and f"date(s) {', '.join(whole)} masked whole" in report["warnings"][0]  # explained


def test_a_band_selection_of_a_result_is_written_with_its_own_bands_units(tmp_path):
    """result.sel(band=...) keeps the attrs of all the bands: their per-band units go by band name."""
    packed = open_cube(per_band_units_netcdf(tmp_path / "packed.nc"))
    result = ClearVision.load(device="cpu").remove_cube(packed, chunks=64).sel(band=["B08", "B02"])
    write_cube(result, tmp_path / "cog")
    with rasterio.open(next((tmp_path / "cog").glob("clear_*.tif"))) as clear:
        assert clear.descriptions == ("B08", "B02") and clear.scales == (4e-4, 1e-4) and clear.offsets == (0.0, -0.1)
    write_cube(result, tmp_path / "zarr", format="zarr")
    assert cube_units(open_cube(tmp_path / "zarr" / "clear_vision.zarr")) == Units((4e-4, 1e-4), (0.0, -0.1))
    write_cube(result, tmp_path / "nc", format="netcdf")
    for stored in (xr.open_zarr(tmp_path / "zarr" / "clear_vision.zarr"), xr.open_dataset(tmp_path / "nc" / "clear_vision.nc")):
        # CF readers take one scale per variable (a list made them fail to open the store): per-band values go by other names
        assert np.allclose(stored["clear"].attrs["band_scale_factor"], [4e-4, 1e-4]) and "scale_factor" not in stored["clear"].attrs
        assert np.array_equal(stored["clear"].values, result["clear"].values)
    assert cube_units(open_cube(tmp_path / "nc" / "clear_vision.nc")) == Units((4e-4, 1e-4), (0.0, -0.1))


def test_zarr_keeps_everything_and_reads_back_as_a_cube(tmp_path, cube, result):
    write_cube(result, tmp_path / "out", format="zarr")
    stored = xr.open_zarr(tmp_path / "out" / "clear_vision.zarr", decode_coords="all", mask_and_scale=False)
    assert stored["clear"].rio.crs.to_epsg() == 3035 and stored["mask"].dtype == np.uint8
    back = open_cube(tmp_path / "out" / "clear_vision.zarr")
    assert back.dtype == np.uint16 and back.attrs["scale_factor"] == 1e-4 and back.rio.nodata == 0
    assert np.array_equal(back.values, result["clear"].values) and list(back["band"].values) == ["B04", "B03", "B02", "B08"]
    assert result["input_file"].chunks and list(stored["input_file"].values) == list(cube["input_file"].values)  # a lazy coordinate written too
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["files"] == cube_file_names(cube["time"].values, "zarr") and report["rgb_bands"] == "B04,B03,B02"
    assert np.allclose(report["cloud_cover"], (result["mask"].values != 0).mean(axis=(1, 2)), atol=1e-4)
    assert np.allclose(report["no_data"], (result["mask"].values == 255).mean(axis=(1, 2)), atol=1e-4)


def test_netcdf_keeps_everything_in_one_file_and_reads_back_as_a_cube(tmp_path, cube, result):
    written = write_cube(result, tmp_path / "out", format="netcdf")
    assert [path.name for path in written] == ["clear_vision.nc", "report.json"] == sorted(path.name for path in (tmp_path / "out").iterdir())
    with xr.open_dataset(tmp_path / "out" / "clear_vision.nc", decode_coords="all", mask_and_scale=False) as stored:
        assert stored["clear"].rio.crs.to_epsg() == 3035 and stored["clear"].rio.transform() == cube.rio.transform()
        assert stored["clear"].dtype == np.uint16 and stored["clear"].attrs["scale_factor"] == 1e-4 and stored["clear"].encoding["zlib"]
        assert np.array_equal(stored["mask"].values, result["mask"].values) and np.array_equal(stored["probability"].values, result["probability"].values)
        assert list(stored["input_file"].values) == list(cube["input_file"].values) and stored["input_file"].values[2].endswith("20190626.tif")
    back = open_cube(tmp_path / "out" / "clear_vision.nc")
    assert np.array_equal(back.values, result["clear"].values) and np.array_equal(back["time"].values, cube["time"].values)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["format"] == "netcdf"
    names = [str(name) for name in result["clear"]["band"].values]
    picked = open_cube(tmp_path / "out" / "clear_vision.nc", bands=",".join(names[:3][::-1]))  # bands= picks from the clear variable's band axis
    assert np.array_equal(picked.values, back.sel(band=names[:3][::-1]).values)
    for empty_or_twice in ("", ["B04", "B04"]):  # a cube of no bands, or one band twice, came back
        with pytest.raises(ValueError, match=r"bands: .*; give each band to keep once, or leave bands= out"):
            open_cube(tmp_path / "out" / "clear_vision.nc", bands=empty_or_twice)
    with pytest.raises(ValueError, match=rf"bands: B99 not in clear_vision.nc; its \(time, band, y, x\) variable clear holds bands {', '.join(names)}; its \(time, y, x\) variables are mask, probability"):
        open_cube(tmp_path / "out" / "clear_vision.nc", bands="B99")


def test_existing_outputs_are_kept_unless_overwrite_and_replaced_all_at_once(tmp_path, result):
    out = tmp_path / "out"
    write_cube(result, out, format="zarr")
    (out / "notes.txt").write_text("mine")
    before = (out / "report.json").read_text()
    with pytest.raises(FileExistsError, match=r"--overwrite \(in Python, overwrite=True\) replaces the earlier run.s outputs as a whole"):
        write_cube(result, out, format="zarr")
    assert (out / "report.json").read_text() == before
    write_cube(result, out, format="zarr", overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and not list(tmp_path.glob(".out.*"))


def test_overwrite_replaces_the_previous_run_as_a_whole_and_a_failed_one_changes_nothing(tmp_path, result):
    out = tmp_path / "out"
    write_cube(result, out, format="cog")
    (out / "notes.txt").write_text("mine")
    (out / "clear_notes.tif").write_text("mine")  # named like an output, but no run wrote it
    write_cube(result.isel(time=slice(2, None)), out, format="cog", overwrite=True)
    assert sorted(path.name for path in out.glob("*_2019-*.tif")) == sorted(cube_file_names(result["time"].values[2:], "cog")[:-1])
    write_cube(result, out, format="zarr", overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == ["clear_notes.tif", "clear_vision.zarr", "notes.txt", "report.json"]
    bad = synthetic_cube(steps=3, height=64, width=64).astype(np.float32)  # fails inside the chunks: not reflectance
    bad.attrs = {}
    with pytest.raises(ValueError, match="not reflectance"):
        write_cube(ClearVision.load(device="cpu", method="linear").remove_cube(bad.chunk({"y": 64, "x": 64}), chunks=64), out, format="cog", overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == ["clear_notes.tif", "clear_vision.zarr", "notes.txt", "report.json"]
    assert json.loads((out / "report.json").read_text())["format"] == "zarr" and sorted(path.name for path in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("format", ["zarr", "netcdf"])
def test_mask_and_crs_read_back_with_xarray_defaults(tmp_path, result, format):
    """255 is a class of the mask (no data), not a fill value: a _FillValue made it NaN and the mask float32.
    And the CRS: without a `coordinates` attribute the grid mapping came back as a data variable."""
    write_cube(result, tmp_path / "out", format=format)
    path = tmp_path / "out" / ("clear_vision.zarr" if format == "zarr" else "clear_vision.nc")
    with xr.open_zarr(path) if format == "zarr" else xr.open_dataset(path) as stored:
        mask = stored["mask"]
        assert mask.dtype == np.uint8 and np.array_equal(mask.values, result["mask"].values) and (mask.values == 255).any()
        assert "_FillValue" not in mask.encoding and mask.attrs["flag_meanings"] == "clear cloud shadow no_data"
        assert list(stored.data_vars) == ["clear", "mask", "probability"]  # the grid mapping a coordinate, not a fourth variable
        assert stored.rio.crs.to_epsg() == 3035 and all(stored[name].rio.crs.to_epsg() == 3035 for name in stored.data_vars)


@pytest.mark.parametrize("format", ["zarr", "netcdf"])
def test_gdal_reads_the_crs_and_transform_of_zarr_and_netcdf_outputs(tmp_path, cube, result, format):
    """QGIS and gdalinfo read a variable's CRS from its grid_mapping attribute: without one they saw none."""
    write_cube(result, tmp_path / "out", format=format)
    where = f'ZARR:"{tmp_path}/out/clear_vision.zarr":/' if format == "zarr" else f"netcdf:{tmp_path}/out/clear_vision.nc:"
    for variable in ("clear", "mask"):
        with rasterio.open(where + variable) as stored:
            assert stored.crs == cube.rio.crs and stored.transform.almost_equals(cube.rio.transform()), (variable, stored.crs, stored.transform)


def test_anything_but_remove_cubes_dataset_is_refused_naming_what_is_missing(tmp_path, result):
    with pytest.raises(ValueError, match=r"^result: got the DataArray 'clear'; give the Dataset that remove_cube returns, with clear, mask, probability$"):
        write_cube(result["clear"], tmp_path / "out")
    with pytest.raises(ValueError, match=r"^result: the Dataset has no mask; give the Dataset that remove_cube returns"):
        write_cube(result.drop_vars("mask"), tmp_path / "out", format="zarr")
    assert list(tmp_path.iterdir()) == []


def test_the_result_is_checked_once_by_write_cube_and_by_write_cube_into_alone(tmp_path, monkeypatch, result):
    calls = []
    original = write._checked_result
    monkeypatch.setattr(write, "_checked_result", lambda result: calls.append(1) or original(result))
    write_cube(result, tmp_path / "out", format="zarr")
    assert len(calls) == 1
    with pytest.raises(ValueError, match=r"^result: got the DataArray 'clear'; give the Dataset that remove_cube returns"):
        write_cube_into(result["clear"], tmp_path, "zarr")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_failure_while_computing_leaves_nothing(tmp_path):
    """Digital numbers mislabelled as reflectance beyond the first chunk (which remove_cube checks at
    once) fail inside the chunks, mid-write."""
    bad = synthetic_cube(steps=3, height=64, width=128).astype(np.float32)
    bad.attrs = {}
    bad[..., :64] = bad[..., :64] * 1e-4  # the first chunk reads as reflectance
    lazy = ClearVision.load(device="cpu", method="linear").remove_cube(bad.chunk({"y": 64, "x": 64}), chunks=64)
    with pytest.raises(ValueError, match="not reflectance"):
        write_cube(lazy, tmp_path / "out", format="cog")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("format", ["zarr", "netcdf", "cog"])
def test_every_chunk_is_computed_once_per_write(tmp_path, monkeypatch, cube, format):
    """Writing the outputs and the report's cover runs each chunk of the pipeline once, not once per output."""
    import clear_vision.geo.remove as remove

    calls = []
    original = remove._remove_block
    monkeypatch.setattr(remove, "_remove_block", lambda block, **options: calls.append(block.shape) or original(block, **options))
    lazy = ClearVision.load(device="cpu").remove_cube(cube, chunks=64)
    write_cube(lazy, tmp_path / "out", format=format)
    assert len(calls) == lazy["clear"].data.numblocks[2] * lazy["clear"].data.numblocks[3], calls


@pytest.mark.slow
def test_every_chunk_is_computed_once_per_write_on_a_local_cluster(tmp_path, monkeypatch, cube):
    """A distributed client optimises each collection apart: the report's cover must not re-run the chunks there."""
    distributed = pytest.importorskip("distributed")
    import clear_vision.geo.remove as remove
    from clear_vision.geo.cluster import local_cluster

    log, original = str(tmp_path / "chunk-runs"), remove._remove_block

    def counted(block, **options):  # runs in the worker processes: count in a file
        with open(log, "a") as runs:
            runs.write(".")
        return original(block, **options)

    monkeypatch.setattr(remove, "_remove_block", counted)
    model = ClearVision.load(device="cpu")
    with local_cluster(2) as cluster, distributed.Client(cluster):
        for format in ("zarr", "netcdf", "cog"):
            open(log, "w").close()
            lazy = model.remove_cube(cube, chunks=64)
            write_cube(lazy, tmp_path / format, format=format)
            assert len(open(log).read()) == lazy["clear"].data.numblocks[2] * lazy["clear"].data.numblocks[3], format


def _eight_chunks(monkeypatch) -> tuple[xr.Dataset, list[int]]:
    """A lazy result of 2 x 4 chunks of 64 px (a second to write), and the number of chunks computed so far."""
    import clear_vision.geo.remove as remove

    computed = []
    original = remove._remove_block
    monkeypatch.setattr(remove, "_remove_block", lambda block, **options: computed.append(1) or original(block, **options))
    cube = synthetic_cube(steps=3, height=128, width=256).chunk({"y": 64, "x": 64})
    return ClearVision.load(device="cpu", method="linear").remove_cube(cube, chunks=64), computed


def _bar_updates(monkeypatch, computed: list[int]) -> list[tuple[int, int]]:
    """Each update of write_cube's progress bar: its step and how many chunks were computed by then."""
    updates = []

    class Recorded(write.tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            updates.append((n, len(computed)))
            return super().update(n)

    monkeypatch.setattr(write, "tqdm", Recorded)
    return updates


def _bar_draws(err: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]+", err) if line.startswith("chunks:")]


@pytest.mark.parametrize("format", ["cog", "zarr", "netcdf"])
def test_the_progress_bar_counts_each_chunk_as_it_is_stored_from_a_first_draw_with_the_total(tmp_path, monkeypatch, capsys, format):
    """It moved once per pass (8 chunks at a time on 2 cores, minutes apart on a big cube), and was
    first drawn without a total ('chunks: 0chunk [00:00, ?chunk/s]')."""
    result, computed = _eight_chunks(monkeypatch)
    updates = _bar_updates(monkeypatch, computed)
    with dask.config.set(scheduler="threads", num_workers=1):  # passes of 4 chunks
        write_cube(result, tmp_path / "out", format=format, progress=True)
    assert [step for step, _ in updates] == [1] * 8, updates
    assert updates[0][1] < 4, updates  # counted before the pass's last chunk is computed
    draws = _bar_draws(capsys.readouterr().err)
    assert " 0/8 [" in draws[0] and " 8/8 [" in draws[-1], draws


def test_the_progress_bar_counts_each_chunk_as_it_is_stored_on_a_distributed_client(tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    result, _ = _eight_chunks(monkeypatch)
    updates = _bar_updates(monkeypatch, [])  # the chunks are computed on copies of the graph: not counted here
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, distributed.Client(cluster):
        write_cube(result, tmp_path / "out", format="cog", progress=True)  # passes of 4 chunks
    assert [step for step, _ in updates] == [1] * 8, updates
    draws = _bar_draws(capsys.readouterr().err)
    assert " 0/8 [" in draws[0] and " 8/8 [" in draws[-1], draws


@given(rows=st.lists(st.integers(1, 5), min_size=1, max_size=12), cols=st.lists(st.integers(1, 5), min_size=1, max_size=30), blocks=st.integers(1, 16))
def test_passes_cover_every_chunk_once_with_at_most_the_allowed_number(rows, cols, blocks):
    passes = _passes((tuple(rows), tuple(cols)), blocks)
    covered = np.zeros((sum(rows), sum(cols)), int)
    row_edges, col_edges = set(np.cumsum([0, *rows]).tolist()), set(np.cumsum([0, *cols]).tolist())
    for done in passes:
        assert {done.rows.start, done.rows.stop} <= row_edges and {done.cols.start, done.cols.stop} <= col_edges  # whole chunks
        inside = sum(done.rows.start <= edge < done.rows.stop for edge in sorted(row_edges)[:-1]) * sum(done.cols.start <= edge < done.cols.stop for edge in sorted(col_edges)[:-1])
        assert done.chunks == inside <= blocks
        covered[done.rows, done.cols] += 1
    assert (covered == 1).all()


class _HeldArrays(Callback):
    """The largest total of arrays the threaded scheduler holds between tasks (views count as their base)."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        bases = {}
        for value in state["cache"].values():
            while isinstance(value, np.ndarray) and isinstance(value.base, np.ndarray):
                value = value.base
            if isinstance(value, np.ndarray):
                bases[id(value)] = value.nbytes
        self.peak = max(self.peak, sum(bases.values()))


def test_memory_held_while_writing_does_not_grow_with_the_cube_width(tmp_path):
    """Written in passes of a few chunks: a cube twice as wide holds no more chunks at once (Dask's
    static order over the whole graph read about two chunk rows ahead)."""
    model = ClearVision.load(device="cpu")
    held = []
    for width in (512, 1024):
        eager = synthetic_cube(steps=3, height=128, width=width)

        def chunk_of(values: np.ndarray = eager.values, block_info: dict | None = None) -> np.ndarray:  # a copy: not a view of the whole cube
            return values[tuple(slice(*location) for location in block_info[None]["array-location"])].copy()

        chunked = eager.copy(data=da.map_blocks(chunk_of, dtype=eager.dtype, chunks=((3,), (4,), (64, 64), (64,) * (width // 64))))
        watch = _HeldArrays()
        with watch, dask.config.set(scheduler="threads", num_workers=1):
            write_cube(model.remove_cube(chunked, chunks=64), tmp_path / f"out{width}", format="zarr")
        held.append(watch.peak)
    assert held[1] <= held[0] * 1.1, held


def test_cogs_of_a_south_up_result_are_north_up(tmp_path, result):
    south_up = result.isel(y=slice(None, None, -1)).rio.write_transform(result.isel(y=slice(None, None, -1))["clear"].rio.transform(recalc=True))
    write_cube(south_up, tmp_path / "out")
    for kind in ("clear", "mask"):
        with rasterio.open(tmp_path / "out" / f"{kind}_2019-06-26.tif") as written:
            assert written.transform == result["clear"].rio.transform() and written.transform.e < 0
            assert np.array_equal(written.read(), result[kind].values[2].reshape(written.count, *written.shape))


def test_float_cogs_without_a_nodata_value_are_tagged_nan(tmp_path):
    cube = synthetic_cube(steps=4, height=64, width=64)
    reflectance = (cube.where(cube != 0) * 1e-4).astype(np.float32).drop_attrs()  # no nodata tag: NaN marks no data
    result = ClearVision.load(device="cpu").remove_cube(reflectance, chunks=64)
    write_cube(result, tmp_path / "out")
    with rasterio.open(tmp_path / "out" / "clear_2021-06-16.tif") as clear:
        assert np.isnan(clear.nodata)


def test_a_result_without_crs_is_written_with_a_warning_that_says_how_to_give_one(tmp_path, result):
    bare = result.copy()
    for name in bare.data_vars:
        bare[name] = bare[name].drop_vars("spatial_ref", errors="ignore")
    bare = bare.drop_vars("spatial_ref", errors="ignore")
    assert bare["clear"].rio.crs is None
    with pytest.warns(UserWarning, match=r"no CRS, so the outputs are not georeferenced .*rio\.write_crs"):
        write_cube(bare, tmp_path / "out", format="zarr")


def test_pixels_cloudy_on_every_date_are_counted_and_explained(tmp_path, result):
    """They keep their input values, yet the mask calls them cloud like the filled ones: the report says how many."""
    first, second = np.array([[1, 0], [255, 2]], np.uint8), np.array([[2, 0], [255, 255]], np.uint8)
    assert _mask_summary([first, second])[1] == 2  # no data on every date is not cloud
    mask = result["mask"].values.copy()
    mask[:, :4, :4] = 1
    left = result.assign(mask=result["mask"].copy(data=mask))
    for format in ("cog", "zarr"):
        write_cube(left, tmp_path / format, format=format)
        report = json.loads((tmp_path / format / "report.json").read_text())
        expected = int(((mask != 0).all(axis=0) & ((mask == 1) | (mask == 2)).any(axis=0)).sum())
        assert report["unfilled_pixels"] == expected >= 16 and any(f"{expected} pixel(s)" in note and "keep their input values" in note for note in report["warnings"])


def test_geotiffs_without_georeference_come_back_in_their_own_row_order(tmp_path):
    """GDAL reads them with the identity transform, whose y runs up: taken for south-up, they were
    processed upside down and written mirrored, with a made-up transform. Rows stay as stored, and
    the networks see them as the same pixels georeferenced north-up."""
    cube = synthetic_cube(steps=3, height=64, width=64).clip(max=14000)  # thick clouds at reflectance 1.4 at most, as a file's magnitude check wants
    folder = tmp_path / "plain"
    folder.mkdir()
    for index, when in enumerate(cube["time"].values):
        with rasterio.open(folder / f"f_{str(when)[:10]}.tif", "w", driver="GTiff", width=64, height=64, count=4, dtype="uint16", nodata=0) as target:
            target.write(cube.values[index])
            target.scales = (1e-4,) * 4
            target.descriptions = tuple(cube["band"].values)
    with pytest.warns(UserWarning, match="CRS"):
        plain = open_cube(folder)
        write_cube(ClearVision.load(device="cpu").remove_cube(plain), tmp_path / "out")
    georeferenced = ClearVision.load(device="cpu").remove_cube(cube)
    with rasterio.open(tmp_path / "out" / "clear_2021-06-01.tif") as clear, rasterio.open(tmp_path / "out" / "mask_2021-06-01.tif") as mask:
        assert clear.transform.is_identity and clear.crs is None
        assert np.array_equal(clear.read(), georeferenced["clear"].values[0]) and np.array_equal(mask.read(1), georeferenced["mask"].values[0])


def test_a_cube_without_any_data_is_written_with_a_note_saying_so(tmp_path):
    cube = synthetic_cube(steps=3, height=64, width=64)
    empty = (cube * 1e-4).astype(np.float32).drop_attrs().rio.write_crs("EPSG:32633")
    empty[:] = np.nan
    write_cube(ClearVision.load(device="cpu").remove_cube(empty), tmp_path / "out")
    notes = json.loads((tmp_path / "out" / "report.json").read_text())["warnings"]
    assert any(note.startswith("no date has a pixel with data") for note in notes), notes


def test_bands_numbered_by_rioxarray_are_written_with_their_descriptions(tmp_path):
    """`rioxarray.open_rasterio` per file and `xr.concat`, the usual way in Python: bands 1..4 with the
    files' descriptions in `long_name`. The outputs carry the descriptions, not the numbers."""
    import pandas as pd
    import rioxarray

    paths = write_geotiffs(tmp_path / "in")
    cube = xr.concat([rioxarray.open_rasterio(path) for path in paths], dim=pd.Index(pd.to_datetime([path.stem[3:] for path in paths]), name="time"))
    assert cube["band"].values.tolist() == [1, 2, 3, 4] and tuple(cube.attrs["long_name"]) == ("B04", "B03", "B02", "B08")
    result = ClearVision.load(device="cpu", method="linear").remove_cube(cube)
    assert result["clear"]["band"].values.tolist() == [1, 2, 3, 4]  # the input's own coordinate
    write_cube(result, tmp_path / "out", format="cog")
    with rasterio.open(tmp_path / "out" / "clear_2019-06-26.tif") as clear:
        assert clear.descriptions == ("B04", "B03", "B02", "B08") and clear.tags()["RGB_BANDS"] == "B04,B03,B02"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["bands"] == ["B04", "B03", "B02", "B08"] and report["rgb_bands"] == "B04,B03,B02"
