"""Readers on the small real files of ../shared/data (skipped without it), and the RGB rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from preprocess.readers import (
    CLEAR,
    CLOUD,
    IGNORE,
    SHADOW,
    labels_from_landsat_qa,
    labels_from_scl,
    labels_from_time_series,
    read_cube,
    read_earthnet_npz,
    read_rgb_folder,
)
from preprocess.rgb import render_rgb
from preprocess.scenes import read_clear_geotiff, read_eolearn_masks, read_s2cloudless, read_ukis_landsat

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data (real satellite cubes)")


def test_render_matches_the_benchmark_formula():
    reflectance = np.array([[0.0, 0.1, 0.2], [0.4, np.nan, 1.0]], dtype=np.float32)
    assert render_rgb(reflectance, 3.0).tolist() == [[0, 77, 153], [255, 0, 255]]


def test_scl_classes():
    assert labels_from_scl(np.array([0, 3, 4, 5, 6, 7, 8, 9, 10, 11])).tolist() == [IGNORE, SHADOW, CLEAR, CLEAR, CLEAR, IGNORE, CLOUD, CLOUD, CLOUD, CLEAR]


def test_landsat_qa_bits():
    # 322 clear (bits 1, 6, 8), 328 shadow (bit 3), 352 / 480 cloud (bit 5), 834 cirrus high (bits 8-9), 1 fill, 0 _FillValue
    assert labels_from_landsat_qa(np.array([322, 328, 352, 480, 834, 1, 0])).tolist() == [CLEAR, SHADOW, CLOUD, CLOUD, CLOUD, IGNORE, IGNORE]


def test_time_series_labels_flag_bright_and_dark_dates():
    ground = np.full((7, 4, 4, 3), 0.1, dtype=np.float32)
    ground[5] += 0.3  # a cloud on one date: brighter, bluer
    ground[6] *= 0.5  # a shadow on another
    ground[:, 0, 0] = np.nan  # outside the field
    labels = labels_from_time_series(ground)
    assert (labels[:5, 1:, 1:] == CLEAR).all() and (labels[5, 1:, 1:] == CLOUD).all() and (labels[6, 1:, 1:] == SHADOW).all()
    assert (labels[:, 0, 0] == IGNORE).all()


def test_earthnet_npz_layouts(tmp_path):
    rng = np.random.default_rng(0)
    five = rng.random((16, 16, 5, 4)).astype(np.float32)
    five[:, :, 4] = rng.random((16, 16, 4)) > 0.5
    np.savez(tmp_path / "five.npz", highresdynamic=five)
    cube = read_earthnet_npz(tmp_path / "five.npz", start="2020-01-01")
    assert cube.reflectance.shape == (4, 16, 16, 3)
    assert np.allclose(cube.reflectance[..., 0], np.moveaxis(five[:, :, 2], -1, 0))  # red first
    assert (cube.labels == CLOUD).sum() == five[:, :, 4].sum()
    assert cube.days([0, 3]).tolist() == [0, 15]
    seven = np.concatenate([five[:, :, :4], np.zeros((16, 16, 1, 4)), np.full((16, 16, 1, 4), 9.0), np.zeros((16, 16, 1, 4))], 2)
    np.savez(tmp_path / "seven.npz", highresdynamic=seven.astype(np.float32))
    assert (read_cube(tmp_path / "seven.npz").labels == CLOUD).all()


def test_rgb_folder_with_dates_in_names(tmp_path):
    from PIL import Image

    for day in ("2021-05-10", "2021-05-20"):
        Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(tmp_path / f"scene_{day}.png")
    cube = read_rgb_folder(tmp_path)
    assert cube.days([0, 1]).tolist() == [0, 10]
    assert np.allclose(cube.reflectance, 90 / 255 / 3)


@needs_data
def test_greenearthnet_minicube_through_earthnet():
    cube = read_cube(DATA / "s2_timeseries/greenearthnet/JAS2021_replicated_minicube_0_29SND_39.29_-8.56.nc")
    assert cube.reflectance.shape == (30, 128, 128, 3) and cube.labels.shape == (30, 128, 128)
    assert 0.05 < np.nanmedian(cube.reflectance) < 0.3  # reflectance, not DN
    assert 10 <= len(cube.clear_frames()) < 30 and (cube.labels == CLOUD).any()
    assert (np.diff(cube.dates) == np.timedelta64(5, "D")).all()


@needs_data
@pytest.mark.parametrize(
    "relative, shape",
    [
        ("s2_timeseries/nrt/sentinel2_cube_subset_romania_10m.nc", (140, 100, 100, 3)),
        ("s2_timeseries/worldcereal/S2_L2A_10m_0000280849BAC91C_32631_2018-08-01_2019-11-30.nc", (72, 64, 64, 3)),
        ("s2_timeseries/openeo_gfmap/test_optical_cube.nc", (19, 52, 46, 3)),
        ("s2_timeseries/openeo_gfmap/bap_quintad_cdse.nc", (20, 66, 64, 3)),
    ],
)
def test_generic_sentinel2_netcdf(relative, shape):
    cube = read_cube(DATA / relative)
    assert cube.reflectance.shape == shape
    assert 0.01 < np.nanmedian(cube.reflectance) < 0.8  # DN files were scaled to reflectance
    assert (cube.labels == CLOUD).any() and (cube.labels == CLEAR).any()
    assert (np.diff(cube.dates) >= np.timedelta64(0, "D")).all()


@needs_data
def test_labelled_scenes():
    landsat = read_ukis_landsat(DATA / "cloud_masks/ukis_csmask/landsat5.npz")
    assert landsat.reflectance.shape == (512, 512, 3) and {CLOUD, SHADOW, CLEAR} <= set(np.unique(landsat.labels))
    s2 = read_s2cloudless(DATA / "cloud_masks/s2cloudless/input_arrays.npz")
    assert s2.reflectance.shape == (856, 512, 3) and not s2.shadow_known
    clear = read_clear_geotiff(DATA / "clear_scenes/openeo/S2_L2A_sample.tif")
    assert clear.reflectance.shape == (705, 935, 3) and (clear.labels == CLEAR).mean() > 0.9
    masks = read_eolearn_masks(DATA / "cloud_masks/eolearn/CLM.npy")
    assert masks.shape == (68, 101, 100) and masks.dtype == bool


@needs_data
def test_hls_folder_one_frame_per_date():
    cube = read_cube(DATA / "s2_timeseries/hls_missouri")
    assert cube.reflectance.shape == (30, 248, 248, 3) and (np.diff(cube.dates) > np.timedelta64(0, "D")).all()
    assert 0.01 < np.nanmedian(cube.reflectance) < 0.3  # float reflectance as stored
    assert set(np.unique(cube.labels)) == {CLEAR, IGNORE} and ((cube.labels == IGNORE) == np.isnan(cube.reflectance).any(-1)).all()
    assert np.isnan(cube.reflectance).all(axis=(1, 2, 3)).sum() == 9  # fully removed dates stay, as missing frames


@needs_data
def test_puglia_field_cube_labelled_from_its_time_series():
    cube = read_cube(DATA / "s2_timeseries/openeo_gfmap_puglia/openEO_4.nc")
    assert cube.reflectance.shape == (19, 18, 23, 3)
    assert 0.03 < np.nanmedian(cube.reflectance) < 0.3  # int16 DN scaled to reflectance
    outside = np.isnan(cube.reflectance).all(axis=(0, -1))  # -1 = outside the field, on every date
    assert 0 < outside.mean() < 0.5 and (cube.labels[:, outside] == IGNORE).all()
    cover = (cube.labels == CLOUD).sum(axis=(1, 2)) / (~outside).sum()
    assert cover[cube.dates == np.datetime64("2023-09-06")] > 0.9 and np.median(cover) == 0  # the white date, most dates clear


@needs_data
@pytest.mark.parametrize("name, dates", [("L8_SR_10m_00002806639B424A.nc", 24), ("L8_SR_10m_000028085BF08E7E.nc", 23)])
def test_landsat8_worldcereal_cube(name, dates):
    cube = read_cube(DATA / "landsat_timeseries/worldcereal_l8" / name)
    assert cube.reflectance.shape == (dates, 64, 64, 3) and (np.diff(cube.dates) > np.timedelta64(0, "D")).all()
    clear = cube.labels == CLEAR
    assert 0.02 < np.nanmedian(cube.reflectance[clear]) < 0.2  # DN x 0.0001
    assert np.nanmax(cube.reflectance) < 1.7  # wrapped negatives (65xxx) are no data
    assert (cube.labels == CLOUD).any() and len(cube.clear_frames()) >= 5


def _own_site(folder: Path, steps: int = 8, scl: bool = False, stated: bool = True, per_band: bool = False) -> Path:
    """A user's own site as GeoTIFFs, one 4-band (or 5 with SCL) uint16 DN file per date, or
    (`per_band`) one file per band and date, SCL among them, as Sentinel-2 products name them."""
    import rasterio
    from rasterio.transform import from_origin

    from geo_data import synthetic_cube

    cube = synthetic_cube(steps, 64, 64, seed=5)
    folder.mkdir(parents=True)
    for index, when in enumerate(cube["time"].values):
        data = cube.values[index]
        names = list(map(str, cube["band"].values))
        if scl:  # Sen2Cor's classes: vegetation, and cloud where the synthetic clouds are bright
            classes = np.where(data[2] > 2000, 9, 4).astype(np.uint16)
            data, names = np.concatenate([data, classes[None]]), [*names, "SCL"]
        profile = {"driver": "GTiff", "width": 64, "height": 64, "count": len(names), "dtype": "uint16", "crs": "EPSG:32633",
                   "transform": from_origin(400_000, 5_000_000, 10, 10), "nodata": 0}
        layers = [(f"S2_{str(when)[:10].replace('-', '')}_{name}.tif", data[index : index + 1], (name,)) for index, name in enumerate(names)] if per_band else [
            (f"site_{str(when)[:10]}.tif", data, tuple(names))]
        for file_name, layer, descriptions in layers:
            with rasterio.open(folder / file_name, "w", **{**profile, "count": len(layer)}) as target:
                target.write(layer)
                target.descriptions = descriptions
                if stated:
                    target.scales = tuple(1.0 if name == "SCL" else 1e-4 for name in descriptions)
    return folder


def test_a_folder_of_geotiffs_is_read_in_its_units_with_its_scl_labels(tmp_path):
    """Read as 8-bit pictures, such a folder came out 20x too dark with every label IGNORE, silently."""
    from clear_vision.geo import open_cube

    cube = read_cube(_own_site(tmp_path / "own", scl=True))
    stored = open_cube(tmp_path / "own").sel(band=["B04", "B03", "B02"]).values
    impossible = (stored > 25_000).any(axis=1, keepdims=True)  # reflectance above 2.5: a fill value, no data as on the cube path
    expected = np.where((stored == 0) | impossible, np.nan, stored * 1e-4)
    assert impossible.any() and cube.name == "own" and cube.real_labels and cube.reflectance.shape == (8, 64, 64, 3)
    assert np.allclose(cube.reflectance, np.moveaxis(expected, 1, -1), equal_nan=True, atol=1e-6)
    bright, possible = stored[:, 2] > 2000, ~impossible[:, 0]
    assert (cube.labels[bright & possible & (stored[:, 2] != 0)] == CLOUD).all() and (cube.labels[~bright & possible & (stored[:, 0] != 0)] == CLEAR).all()
    assert (cube.labels[np.isnan(cube.reflectance).any(axis=-1)] == IGNORE).all()
    assert str(cube.dates[0]) == "2021-06-01"


def test_a_folder_of_geotiffs_without_labels_or_units(tmp_path):
    unlabelled = read_cube(_own_site(tmp_path / "plain"))
    assert not unlabelled.real_labels and np.array_equal(unlabelled.labels, labels_from_time_series(unlabelled.reflectance))
    with pytest.raises(ValueError, match=r"uint16 values with no scale_factor in the metadata .* give open_cube\(\.\.\., scale=, offset=\)"):
        read_cube(_own_site(tmp_path / "unstated", stated=False))
    assert np.allclose(read_cube(tmp_path / "unstated", scale=1e-4).reflectance, unlabelled.reflectance, equal_nan=True)
    with pytest.raises(ValueError, match="nowhere: no such file or folder"):
        read_cube(tmp_path / "nowhere")


def test_scl_files_beside_band_files_label_the_series_and_results_are_refused(tmp_path):
    """The cube path leaves SCL files out (it fills bands), so such a series was labelled from
    itself; a write_cube result was taken for observations, its fills as ground."""
    from clear_vision.geo import open_cube, write_cube
    from clear_vision import ClearVision

    per_band = read_cube(_own_site(tmp_path / "per_band", scl=True, per_band=True))
    together = read_cube(_own_site(tmp_path / "together", scl=True))
    assert per_band.real_labels and np.array_equal(per_band.labels, together.labels)
    assert np.allclose(per_band.reflectance, together.reflectance, equal_nan=True)
    result = ClearVision.load(method="linear").remove_cube(open_cube(tmp_path / "together"))
    for format in ("zarr", "cog"):
        write_cube(result, tmp_path / format, format=format)
    with pytest.raises(ValueError, match=r"clear_vision.zarr: a Clear Vision result \(its filled pixels are not observations\)"):
        read_cube(tmp_path / "zarr" / "clear_vision.zarr")
    with pytest.raises(ValueError, match="a Clear Vision result"):
        read_cube(tmp_path / "cog")


def test_a_scale_given_applies_only_where_the_files_leave_units_unsaid(tmp_path):
    """--scale 0.0001 for one series made another, stating its own units, 10,000x too dark."""
    stated = read_cube(_own_site(tmp_path / "stated"))
    assert np.allclose(read_cube(tmp_path / "stated", scale=0.5).reflectance, stated.reflectance, equal_nan=True)


@needs_data
def test_build_trains_on_a_users_own_series_and_validates_on_their_sites(tmp_path, capsys):
    """`preprocess build` read only the shared data's fixed files: a user's own site could not be added."""
    from preprocess.__main__ import main
    from preprocess.sets import load_groups

    own = _own_site(tmp_path / "own", steps=12, scl=True)
    out = tmp_path / "sets"
    base = ["build", "--data", str(DATA), "--out", str(out), "--only", "removal"]
    assert main([*base, "--add-series", str(own), "--held-out", str(_own_site(tmp_path / "mine_too", steps=12, scl=True))]) == 0
    assert "frames" in load_groups(out / "removal_train.npz")["own"]
    assert {key.split("/")[0] for key in load_groups(out / "removal_val.npz")} == {"mine_too"}
    before = (out / "removal_train.npz").read_bytes()
    assert main([*base, "--add-series", str(_own_site(tmp_path / "unstated", stated=False))]) == 2
    assert "no scale_factor in the metadata" in capsys.readouterr().err and (out / "removal_train.npz").read_bytes() == before
    with pytest.raises(SystemExit):
        main([*base, "--add-series", str(own), "--held-out", str(own)])
    assert "is held out for validation; a site is trained on or held out, not both" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # it was ignored in silence
        main(["build", "--data", str(DATA), "--out", str(out), "--only", "detector", "--held-out", str(own)])
    assert "--held-out: the validation sites of stage 2" in capsys.readouterr().err


def test_build_errors_advise_what_build_can_do():
    """The library's refusals named --dates and --nodata, which `preprocess build` does not take."""
    from preprocess.__main__ import in_build_terms

    undated = in_build_terms("dates: the files name no date; pass dates= (command line: --dates), one per acquisition")
    assert "--dates:" in undated and "file's name, 2021-05-10" in undated and "command line" not in undated
    assert "set the files' nodata tag" in in_build_terms("give nodata= (command line: --nodata)")
    kept = "give open_cube(..., scale=, offset=) (command line: --scale, --offset)"
    assert in_build_terms(kept) == kept  # build takes those
