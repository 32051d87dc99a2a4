"""GeoTIFF uploads for the app: frames (a file, or a date's band files), rendered as in training, COGs added to the zip."""

from __future__ import annotations

import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import tifffile
from geo_data import NRT_BANDS, nrt_dn, write_geotiffs, write_landsat7_products
from PIL import Image
from rasterio.transform import from_origin

from clear_vision import ClearVision
from clear_vision.geo.units import render_rgb
from clear_vision.geo.uploads import Frame, add_geotiffs_to_zip, render_geotiff_frames, stated_dates, upload_frames
from clear_vision.io.decode import load_frames



@pytest.fixture(scope="module")
def model() -> ClearVision:
    return ClearVision.load(device="cpu")


def test_geotiffs_are_rendered_like_training_and_their_cogs_join_the_zip(model, tmp_path):
    paths = [str(path) for path in write_geotiffs(tmp_path / "up", hole=False)]
    frames = upload_frames(paths)
    assert [frame.name for frame in frames] == [Path(path).name for path in paths] and {frame.kind for frame in frames} == {"geotiff"}
    dates = stated_dates(frames)
    assert dates[:2] == ["2019-06-16", "2019-06-21"]
    rendered, cube = render_geotiff_frames(model, frames, dates, tmp_path / "rendered")
    assert [path.name for path in rendered] == [Path(path).name for path in paths]
    source = nrt_dn()
    expected = render_rgb(np.stack([source[name].values[1] * 1e-4 for name in ("B4", "B3", "B2")], axis=-1).astype(np.float32), 3.0)
    assert np.array_equal(load_frames(rendered)[1], expected)  # DN rendered from reflectance, not scaled as a 16-bit picture
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("a_clear.png", b"png")
    result = model.run(load_frames(rendered), dates)
    added = add_geotiffs_to_zip(model, cube, result, archive)
    with zipfile.ZipFile(archive) as stored:
        assert set(added) <= set(stored.namelist()) and "a_clear.png" in stored.namelist() and "geotiff/report.json" in added
        for name in ("clear", "mask"):
            stored.extract(f"geotiff/{name}_2019-06-21.tif", tmp_path / "x")
    with rasterio.open(tmp_path / "x" / "geotiff" / "clear_2019-06-21.tif") as clear:
        assert clear.crs.to_epsg() == 3035 and clear.dtypes == ("uint16",) * 4 and clear.count == 4
        red, green, blue = (clear.read(index + 1) for index in range(3))  # B4, B3, B2 as written
    with rasterio.open(tmp_path / "x" / "geotiff" / "mask_2019-06-21.tif") as mask:
        classes = mask.read(1)
    # the two halves of the zip are one run: the COGs' masks are the page's, their RGB renders as its frames
    assert np.array_equal(classes, result.mask_class[1]) and result.masks[1].any()
    shown = render_rgb(np.stack([red, green, blue], axis=-1).astype(np.float32) * 1e-4, 3.0)
    assert np.abs(shown.astype(int) - result.frames[1].astype(int)).max() <= 1


def test_the_cube_holds_the_chosen_frames_in_their_order_with_their_dates(model, tmp_path):
    """The order list and typed dates once changed only the PNGs: geotiff/ kept every date of the files."""
    frames = upload_frames([str(path) for path in write_geotiffs(tmp_path / "up", hole=False)])
    chosen = [frames[4], frames[0], frames[2]]
    rendered, cube = render_geotiff_frames(model, chosen, ["2022-01-01", "2022-01-11", "2022-01-21"], tmp_path / "rendered")
    assert [path.name for path in rendered] == [frame.name for frame in chosen]
    assert [str(day)[:10] for day in cube["time"].values] == ["2022-01-01", "2022-01-11", "2022-01-21"]
    assert list(cube["input_file"].values) == [frame.name for frame in chosen]  # report.json and the COGs' INPUT_FILE name the uploads
    with rasterio.open(chosen[0].files[0]) as first:
        assert np.array_equal(cube.isel(time=0).values, first.read())


def test_band_files_are_one_frame_per_date_named_by_the_part_they_share(model, tmp_path):
    """Landsat band files as a browser uploads them (no MTL file: the units are in the files): a frame per date, its red B3."""
    paths = sorted(write_landsat7_products(tmp_path / "up").rglob("*.TIF"))
    for path in paths:
        with rasterio.open(path, "r+") as target:
            target.scales, target.offsets = (2.75e-5,), (-0.2,)
    frames = upload_frames([str(path) for path in paths])
    assert [frame.name for frame in frames][:2] == ["LE07_L2SP_186027_20190616_20191231_02_T1", "LE07_L2SP_186027_20190621_20191231_02_T1"]
    assert len(frames) == 8 and {len(frame.files) for frame in frames} == {4} and {frame.kind for frame in frames} == {"bands"}
    rendered, cube = render_geotiff_frames(model, frames, stated_dates(frames), tmp_path / "rendered")
    assert rendered[0].name == "LE07_L2SP_186027_20190616_20191231_02_T1.tif"
    source = nrt_dn()
    expected = render_rgb(np.stack([source[name].values[1] * 1e-4 for name in ("B4", "B3", "B2")], axis=-1).astype(np.float32), 3.0)
    assert np.abs(load_frames(rendered)[1].astype(int) - expected).max() <= 1  # Landsat DN round differently
    assert cube.attrs["rgb_bands"] == "B3,B2,B1"


def test_band_files_of_identical_bytes_stored_in_one_folder_are_grouped_by_their_names(model, tmp_path):
    """As the app stores uploads: a folder per content, so the band files of two all-no-data dates
    (identical bytes) share one folder while the others have one each; each date is still one frame."""
    paths = []
    for index, path in enumerate(write_band_files(tmp_path / "bands", empty_dates=(1, 2))):
        folder = tmp_path / "uploads" / ("same" if path.name[:8] in ("20190621", "20190626") else str(index))
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(str(shutil.copy(path, folder / path.name)))
    assert len(list((tmp_path / "uploads" / "same").iterdir())) == 8
    frames = upload_frames(paths)
    rendered, cube = render_geotiff_frames(model, frames, stated_dates(frames), tmp_path / "rendered")
    assert [path.name for path in rendered] == ["20190616_S30_T35TLK.tif", "20190621_S30_T35TLK.tif", "20190626_S30_T35TLK.tif",
                                                "20190701_S30_T35TLK.tif"]
    assert list(cube["band"].values) == ["B02", "B03", "B04", "B08"] and cube.sizes["time"] == 4
    assert (cube.isel(time=[1, 2]).values == 0).all() and (cube.isel(time=[0, 3]).values > 0).mean() > 0.9


def write_band_files(folder: Path, empty_dates: tuple[int, ...] = (), steps: int = 4) -> list[Path]:
    """The first `steps` nrt dates as HLS names them (one uint16 file per band and date, scale
    1e-4 in the file, no band description), the dates in `empty_dates` all no data (0): their
    files are identical, byte for byte."""
    cube = nrt_dn()
    folder.mkdir(parents=True)
    x, y = cube["x"].values, cube["y"].values
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 1, "dtype": "uint16", "crs": "EPSG:3035",
               "transform": from_origin(x[0] - 5, y[0] + 5, 10, 10), "nodata": 0}
    paths = []
    for index, when in enumerate(pd.to_datetime(cube["time"].values[:steps])):
        for source, band in NRT_BANDS.items():
            path = folder / f"{when:%Y%m%d}_S30_T35TLK_{band}.tif"
            with rasterio.open(path, "w", **profile) as target:
                target.write(np.zeros((100, 100), np.uint16) if index in empty_dates else cube[source].values[index].astype(np.uint16), 1)
                target.scales = (1e-4,)
            paths.append(path)
    return paths


def test_one_date_geotiffs_are_sorted_from_one_header_read_each(tmp_path, monkeypatch):
    """upload_frames read every file twice: to tell GeoTIFFs from pictures, then for its band count, which only band files need."""
    paths = write_geotiffs(tmp_path / "up", hole=False)[:3]
    opened = Counter()
    real_open = rasterio.open

    def counting_open(path, *args, **kwargs):
        opened[Path(path).name] += 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting_open)
    assert {frame.kind for frame in upload_frames([str(path) for path in paths])} == {"geotiff"}
    assert set(opened) == {path.name for path in paths} and max(opened.values()) == 1, opened


def test_uploads_that_cannot_make_one_series_are_named(tmp_path):
    picture = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(picture)
    geotiffs = [str(path) for path in write_geotiffs(tmp_path / "multi")]
    bands = [str(path) for path in write_band_files(tmp_path / "bands")]
    with pytest.raises(ValueError, match=r"frames: 8 TIFF\(s\) of satellite data \(.*: georeferenced, or not 8-bit, so read as reflectance or digital numbers\) came with 1 picture\(s\) \(a.png\); a run takes either"):
        upload_frames([*geotiffs, str(picture)])
    with pytest.raises(ValueError, match=r"frames: S2_20190616.tif is not a band file \(one band, the name ending in it, like 20230602_S30_T15SWD_B04.tif\)"):
        upload_frames([*bands, geotiffs[0]])
    (tmp_path / "again").mkdir()
    twice = shutil.copy(bands[0], tmp_path / "again" / "20190616_S30_T35TLK_B02_10m.tif")
    with pytest.raises(ValueError, match=r"frames: 20190616_S30_T35TLK_B02.tif and 20190616_S30_T35TLK_B02_10m.tif are both band B02 of 20190616_S30_T35TLK"):
        upload_frames([*bands, str(twice)])
    with pytest.raises(ValueError, match="two uploaded files are named 'a.png'"):
        upload_frames([str(picture), str(picture)])


def test_pictures_pass_through_and_unknown_units_are_refused_naming_the_files(model, tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a.png")
    assert upload_frames([str(tmp_path / "a.png")]) == [Frame("a.png", (tmp_path / "a.png",), "picture")]
    frames = upload_frames([str(path) for path in write_geotiffs(tmp_path / "noscale", state_scale=False)])
    with pytest.raises(ValueError, match=r"^frames S2_20190616.tif, S2_20190621.tif, S2_20190626.tif and 5 more: uint16 values with no scale in the files.*state the scale in the files \(gdal_edit.py -scale 0.0001"):
        render_geotiff_frames(model, frames, stated_dates(frames), tmp_path / "r")


def test_a_plain_16_bit_tiff_is_refused_naming_it_with_what_to_do(model, tmp_path):
    """Not georeferenced, 16-bit: read as satellite data (16-bit TIFFs are mostly digital numbers,
    which scaled as a picture come back almost black), so the message says how to send a picture."""
    path = tmp_path / "t16_2019-06-16.tif"
    tifffile.imwrite(path, np.full((40, 40, 3), 3000, np.uint16), photometric="rgb")
    frames = upload_frames([str(path), str(shutil.copy(path, tmp_path / "t16_2019-06-21.tif"))])
    assert {frame.kind for frame in frames} == {"geotiff"}
    with pytest.raises(ValueError) as error:
        render_geotiff_frames(model, frames, stated_dates(frames), tmp_path / "r")
    assert str(error.value).startswith("frames t16_2019-06-16.tif, t16_2019-06-21.tif: uint16 values with no scale in the files")
    assert "save pictures as 8-bit PNG, JPEG or TIFF, or as 16-bit PNG (scaled to 8 bits)" in str(error.value) and "scale=" not in str(error.value)


def test_a_frame_without_a_date_is_named_with_the_page_remedy_and_no_server_path(model, tmp_path):
    paths = write_geotiffs(tmp_path / "up")
    undated = [shutil.copy(path, tmp_path / f"tile_{index}.tif") for index, path in enumerate(paths[:3])]
    frames = upload_frames([str(path) for path in undated])
    with pytest.raises(ValueError, match=r"^frame 1 \(tile_0.tif\): dates: no acquisition dates found .*; type one date per frame in the Dates box$"):
        stated_dates(frames)
    bands = write_band_files(tmp_path / "bands")
    bands[5].unlink()  # the second date lacks B03
    frames = upload_frames([str(path) for path in bands if path.exists()])
    with pytest.raises(ValueError) as error:
        render_geotiff_frames(model, frames, stated_dates(frames), tmp_path / "r")
    assert str(error.value).startswith("20190621_S30_T35TLK has bands B02, B04, B08") and str(tmp_path) not in str(error.value)
    assert "frame_" not in str(error.value)  # the folders uploads are stored in are not the user's words
    assert str(error.value).endswith("or leave that date out (delete its line from the frame order list)")


@pytest.mark.slow
def test_the_app_takes_geotiffs_and_zips_the_cloud_free_geotiffs(app_url, tmp_path):
    from gradio_client import Client, handle_file

    paths = write_geotiffs(tmp_path / "up")
    client = Client(app_url, verbose=False, download_files=str(tmp_path / "downloads"))
    summary, archive = client.predict([handle_file(str(path)) for path in paths], api_name="/remove_clouds")
    assert "GeoTIFFs of these frames and dates" in summary
    with zipfile.ZipFile(archive) as stored:
        names = stored.namelist()
        assert "S2_20190616_clear.png" in names and "geotiff/clear_2019-06-16.tif" in names and "geotiff/mask_2019-07-31.tif" in names
