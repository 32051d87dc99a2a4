"""GeoTIFF uploads for the app: rendered as in training under their own names, COGs added to the zip."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from geo_data import DATA, nrt_dn, write_geotiffs, write_landsat7_products
from PIL import Image

from clear_vision import ClearVision
from clear_vision.geo.units import render_rgb
from clear_vision.geo.uploads import add_geotiffs_to_zip, render_geotiff_uploads
from clear_vision.io.decode import load_frames

HLS = DATA / "s2_timeseries" / "hls_missouri"


@pytest.fixture(scope="module")
def model() -> ClearVision:
    return ClearVision.load(device="cpu")


def test_geotiffs_are_rendered_like_training_and_their_cogs_join_the_zip(model, tmp_path):
    paths = [str(path) for path in write_geotiffs(tmp_path / "up", hole=False)]
    frames, cube = render_geotiff_uploads(model, paths, tmp_path / "rendered")
    assert [frame.split("/")[-1] for frame in frames] == [path.split("/")[-1] for path in paths]
    source = nrt_dn()
    expected = render_rgb(np.stack([source[name].values[1] * 1e-4 for name in ("B4", "B3", "B2")], axis=-1).astype(np.float32), 3.0)
    assert np.array_equal(load_frames(frames)[1], expected)  # DN rendered from reflectance, not scaled as a 16-bit picture
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("a_clear.png", b"png")
    added = add_geotiffs_to_zip(model, cube, archive)
    with zipfile.ZipFile(archive) as stored:
        assert set(added) <= set(stored.namelist()) and "a_clear.png" in stored.namelist() and "geotiff/report.json" in added
        stored.extract("geotiff/clear_2019-06-16.tif", tmp_path / "x")
    with rasterio.open(tmp_path / "x" / "geotiff" / "clear_2019-06-16.tif") as clear:
        assert clear.crs.to_epsg() == 3035 and clear.dtypes == ("uint16",) * 4 and clear.count == 4


def test_band_files_are_rendered_one_frame_per_date_named_by_it(model, tmp_path):
    """Landsat products' band files (uploaded beside their MTL files): a frame per date, its red B3."""
    paths = [str(path) for path in sorted(write_landsat7_products(tmp_path / "up").rglob("*.TIF"))]
    frames, cube = render_geotiff_uploads(model, paths, tmp_path / "rendered")
    assert [frame.split("/")[-1] for frame in frames][:2] == ["2019-06-16.tif", "2019-06-21.tif"] and len(frames) == 8
    source = nrt_dn()
    expected = render_rgb(np.stack([source[name].values[1] * 1e-4 for name in ("B4", "B3", "B2")], axis=-1).astype(np.float32), 3.0)
    assert np.abs(load_frames(frames)[1].astype(int) - expected).max() <= 1  # Landsat DN round differently
    assert cube.attrs["rgb_bands"] == "B3,B2,B1"


@pytest.mark.skipif(not HLS.is_dir(), reason=f"real data not found at {HLS}")
def test_band_files_uploaded_each_in_a_folder_of_its_own_are_grouped_by_date(model, tmp_path):
    """As the app stores uploads (a folder per file): HLS band files still make one frame per date."""
    paths = []
    for index, source in enumerate(sorted(HLS.glob("2023061[27]/*_S30_*_B0[234].tif"))):
        (tmp_path / f"upload_{index}").mkdir()
        paths.append(str(shutil.copy(source, tmp_path / f"upload_{index}" / source.name)))
    frames, cube = render_geotiff_uploads(model, paths, tmp_path / "rendered")
    assert cube.sizes["time"] == 2 and [Path(frame).name for frame in frames] == ["2023-06-12.tif", "2023-06-17.tif"]
    picture = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(picture)
    with pytest.raises(ValueError, match=r"frames: 6 GeoTIFF\(s\) of reflectance or digital numbers came with 1 picture\(s\) \(a.png\); a run takes either"):
        render_geotiff_uploads(model, [*paths, str(picture)], tmp_path / "rendered")


def test_pictures_pass_through_and_unknown_units_are_refused(model, tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a.png")
    assert render_geotiff_uploads(model, [str(tmp_path / "a.png")], tmp_path / "r") == ([str(tmp_path / "a.png")], None)
    assert not (tmp_path / "r").exists()  # nothing made for pictures
    paths = [str(path) for path in write_geotiffs(tmp_path / "noscale", state_scale=False)]
    with pytest.raises(ValueError, match="uint16 values with no scale_factor.*The app takes the units only from the files"):
        render_geotiff_uploads(model, paths, tmp_path / "r")


@pytest.mark.slow
def test_the_app_takes_geotiffs_and_zips_the_cloud_free_geotiffs(app_url, tmp_path):
    from gradio_client import Client, handle_file

    paths = write_geotiffs(tmp_path / "up")
    client = Client(app_url, verbose=False, download_files=str(tmp_path / "downloads"))
    summary, archive = client.predict([handle_file(str(path)) for path in paths], api_name="/remove_clouds")
    assert "GeoTIFFs of every date" in summary
    with zipfile.ZipFile(archive) as stored:
        names = stored.namelist()
        assert "S2_20190616_clear.png" in names and "geotiff/clear_2019-06-16.tif" in names and "geotiff/mask_2019-07-31.tif" in names
