"""Readers on the small real files of ../shared/data (skipped without it), and the RGB rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from preprocess.readers import CLEAR, CLOUD, IGNORE, SHADOW, labels_from_scl, read_cube, read_earthnet_npz, read_rgb_folder
from preprocess.rgb import render_rgb
from preprocess.scenes import read_clear_geotiff, read_eolearn_masks, read_s2cloudless, read_ukis_landsat

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data (real satellite cubes)")


def test_render_matches_the_benchmark_formula():
    reflectance = np.array([[0.0, 0.1, 0.2], [0.4, np.nan, 1.0]], dtype=np.float32)
    assert render_rgb(reflectance, 3.0).tolist() == [[0, 77, 153], [255, 0, 255]]


def test_scl_classes():
    assert labels_from_scl(np.array([0, 3, 4, 5, 6, 7, 8, 9, 10, 11])).tolist() == [IGNORE, SHADOW, CLEAR, CLEAR, CLEAR, IGNORE, CLOUD, CLOUD, CLOUD, CLEAR]


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
