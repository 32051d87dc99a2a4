"""Decoding and validation at the library boundary: what is accepted, converted or refused."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from clear_vision.io.decode import (
    MAX_FRAMES,
    MAX_PIXELS,
    collect_image_paths,
    date_in_name,
    dates_from_names,
    frame_dates,
    in_frame_order,
    names_dates,
    image_size,
    is_single_image,
    load_frames,
    load_images,
    no_data_pixels,
    natural_key,
    parse_dates,
    split_dates,
    validate_masks,
)


def frames_array(count: int = 5, size: int = 40) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray, **kwargs) -> Path:
    Image.fromarray(array).save(path, **kwargs)
    return path


def test_uint8_array_passes_through_unchanged():
    frames = frames_array()
    assert np.array_equal(load_frames(frames), frames)


def test_float_array_in_unit_range_is_scaled():
    frames = frames_array().astype(np.float32) / 255.0
    assert np.array_equal(load_frames(frames), frames_array())


def test_float_frames_a_rounding_error_outside_the_unit_range_are_clipped():
    frames = frames_array().astype(np.float32) / 255.0
    frames[0, 0, 0, 0], frames[0, 0, 0, 1] = 1.0000002, -1e-7  # after arithmetic on [0, 1] values
    assert load_frames(frames)[0, 0, 0, :2].tolist() == [255, 0]
    frames[0, 0, 0, 0] = 1.00001
    with pytest.raises(ValueError, match=r"got values in \[-1e-07, 1.00001\]"):
        load_frames(frames)


@pytest.mark.parametrize("bad, match", [(np.nan, "NaN"), (1.5, r"\[0, 1\]"), (-0.1, r"\[0, 1\]")])
def test_float_array_with_bad_values_is_refused(bad, match):
    frames = frames_array().astype(np.float32) / 255.0
    frames[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=match):
        load_frames(frames)


def test_no_data_is_pure_black_in_all_three_channels():
    frames = frames_array()
    frames[1, 3, 4] = 0
    frames[2, 5, 6] = (0, 0, 1)  # nearly black is data
    assert np.array_equal(no_data_pixels(frames), (frames == 0).all(axis=-1)) and no_data_pixels(frames)[1, 3, 4]
    assert not no_data_pixels(frames)[2, 5, 6]


def test_images_of_different_sizes_decode_into_a_list():
    images = load_images([frames_array(1, 40)[0], frames_array(1, 64)[0].astype(np.float32) / 255, Image.fromarray(frames_array(1, 33)[0])], max_images=3)
    assert [image.shape for image in images] == [(40, 40, 3), (64, 64, 3), (33, 33, 3)] and all(image.dtype == np.uint8 for image in images)
    with pytest.raises(ValueError, match="at most 2 are accepted"):
        load_images(list(frames_array(3)), max_images=2)
    with pytest.raises(ValueError, match="expected a list of images"):
        load_images(frames_array(3), max_images=5)


def test_single_image_is_told_from_a_sequence(tmp_path):
    frames = frames_array()
    for one in (frames[0], frames[0].transpose(2, 0, 1), frames[0, ..., 0], Image.fromarray(frames[0]), str(tmp_path / "a.png"), tmp_path / "a.png"):
        assert is_single_image(one)
    for sequence in (frames, list(frames), [frames[0]], frames.transpose(0, 3, 1, 2), [str(tmp_path / "a.png")], frames[..., 0]):
        assert not is_single_image(sequence)


@pytest.mark.parametrize("count", [0, 1])
def test_too_few_frames(count):
    with pytest.raises(ValueError, match="needs 2 to"):
        load_frames(list(frames_array(5)[:count]))


def test_too_many_frames():
    with pytest.raises(ValueError, match=f"at most {MAX_FRAMES}"):
        load_frames([np.zeros((32, 32, 3), np.uint8)] * (MAX_FRAMES + 1))


def test_mixed_sizes_are_named_with_their_frames():
    frames = [np.zeros((40, 40, 3), np.uint8)] * 5 + [np.zeros((48, 48, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"share one size, got 40x40 \(frames 1, 2, 3 and 2 more\), 48x48 \(frame 6\)"):
        load_frames(frames)


def test_a_folder_or_a_missing_file_is_named_with_what_to_give(tmp_path):
    """A folder where a list of files belongs, given whole or as one frame, and a missing file, named with its path."""
    with pytest.raises(ValueError, match=r"got the folder .*; give a list of the frames' files, e.g. sorted\(glob.glob\("):
        load_frames(str(tmp_path))
    with pytest.raises(ValueError, match=r"frame 1 \(.*\): .* is a folder; give its image files"):
        load_frames([tmp_path, tmp_path])
    with pytest.raises(ValueError, match=r"frame 1: .* is a folder; give its image files"):  # alone in a list: named, not counted as one frame
        load_frames([tmp_path])
    with pytest.raises(ValueError, match=r"frame 2 \(b.png\): file not found: .*nowhere/b.png"):
        load_frames([np.zeros((40, 40, 3), np.uint8), tmp_path / "nowhere" / "b.png"])


def test_too_small_frames():
    with pytest.raises(ValueError, match="at least 32x32"):
        load_frames(np.zeros((3, 31, 64, 3), np.uint8))


@pytest.mark.parametrize("shape", [(5, 40, 40), (5, 40, 40, 5), (5, 40, 40, 2), (40, 40, 3)])
def test_wrong_array_shapes(shape):
    with pytest.raises(ValueError, match=r"\(T,H,W,3\)"):
        load_frames(np.zeros(shape, np.uint8))


def test_wrong_channel_count_in_list():
    with pytest.raises(ValueError, match="frame 2: expected an \\(H,W,3\\) RGB image"):
        load_frames([np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 5), np.uint8)])


def test_files_png_jpeg_tiff(tmp_path):
    frames = frames_array(3)
    frames[1] = np.linspace(0, 255, 40 * 40 * 3).reshape(40, 40, 3).astype(np.uint8)  # smooth: JPEG-friendly
    paths = [save(tmp_path / "a.png", frames[0]), save(tmp_path / "b.jpg", frames[1], quality=95), save(tmp_path / "c.tif", frames[2])]
    decoded = load_frames(paths)
    assert decoded.shape == (3, 40, 40, 3)
    assert np.array_equal(decoded[0], frames[0]) and np.array_equal(decoded[2], frames[2])
    assert np.abs(decoded[1].astype(int) - frames[1]).mean() < 8  # lossy JPEG


def test_rgba_grayscale_palette_are_converted(tmp_path):
    rgb = frames_array(1)[0]
    rgba = Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA")
    gray = Image.fromarray(rgb[..., 0], "L")
    palette = Image.fromarray(rgb).convert("P")
    decoded = load_frames([rgba, gray, palette])
    assert np.array_equal(decoded[0], rgb)
    assert np.array_equal(decoded[1], np.repeat(rgb[..., :1], 3, axis=-1))
    assert decoded[2].shape == rgb.shape


def test_transparent_pixels_are_no_data(tmp_path):
    rgb = frames_array(1)[0] | 1  # no pure black of its own
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[5:15, 5:15] = 0
    rgba = save(tmp_path / "a.png", np.dstack([rgb, alpha]))
    grey = Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA")
    with_key = Image.fromarray(rgb).convert("P")
    with_key.info["transparency"] = int(np.asarray(with_key)[0, 0])
    decoded = load_frames([rgba, grey, with_key])
    transparent = np.zeros(rgb.shape[:2], bool)
    transparent[5:15, 5:15] = True
    assert np.array_equal(no_data_pixels(decoded[:2]), np.stack([transparent] * 2))
    assert np.array_equal(decoded[0][~transparent], rgb[~transparent])
    assert no_data_pixels(decoded[2:])[0, 0, 0] and not no_data_pixels(decoded[2:]).all()


def test_compressed_palette_and_cmyk_tiffs_are_read_in_their_colours(tmp_path):
    import tifffile

    rgb = np.linspace(0, 255, 40 * 40 * 3).reshape(40, 40, 3).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    tifffile.imwrite(tmp_path / "zstd16.tif", rgb.astype(np.uint16) * 257, compression="zstd")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    palette = Image.fromarray(rgb).quantize(256)
    palette.save(tmp_path / "palette.tif")
    decoded = load_frames([tmp_path / name for name in ("lzw.tif", "zstd16.tif", "cmyk.tif", "palette.tif")])
    assert np.array_equal(decoded[0], rgb) and np.array_equal(decoded[1], rgb)
    assert np.abs(decoded[2].astype(int) - rgb).max() <= 1  # CMYK to RGB and back
    assert np.array_equal(decoded[3], np.asarray(palette.convert("RGB")))  # colours, not palette indices


def test_files_holding_several_images_are_refused(tmp_path):
    import tifffile

    rgb = frames_array(2)
    tifffile.imwrite(tmp_path / "pages.tif", rgb)
    Image.fromarray(rgb[0]).save(tmp_path / "moving.png", save_all=True, append_images=[Image.fromarray(rgb[1])])
    with pytest.raises(ValueError, match=r"pages.tif\): the TIFF holds 2 images \(pages\); give one frame per file"):
        load_frames([tmp_path / "pages.tif", tmp_path / "pages.tif"])
    with pytest.raises(ValueError, match=r"an animated PNG \(2 frames\); give one frame per file"):
        load_frames([tmp_path / "moving.png", tmp_path / "moving.png"])


def test_16bit_images_are_scaled(tmp_path):
    values = np.linspace(0, 65535, 40 * 40).reshape(40, 40).astype(np.uint16)
    png = tmp_path / "gray16.png"
    Image.fromarray(values).save(png)
    import tifffile

    tiff = tmp_path / "rgb16.tif"
    tifffile.imwrite(tiff, np.dstack([values] * 3))
    decoded = load_frames([png, tiff])
    expected = np.round(values / 257.0).astype(np.uint8)
    assert np.abs(decoded[0, ..., 0].astype(int) - expected).max() <= 1
    assert np.abs(decoded[1, ..., 2].astype(int) - expected).max() <= 1


def test_non_image_and_corrupt_files(tmp_path):
    good = save(tmp_path / "good.png", frames_array(1)[0])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match=r"frame 2 \(notes.png\): not a readable PNG, JPEG or TIFF"):
        load_frames([good, text])
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut.png\): not a readable"):
        load_frames([good, truncated])
    gif = tmp_path / "anim.gif"
    Image.fromarray(frames_array(1)[0]).save(gif)
    with pytest.raises(ValueError, match="GIF images are not accepted"):
        load_frames([good, gif])


def test_huge_frames_are_refused_from_the_header(tmp_path):
    side = int(MAX_PIXELS**0.5) + 1
    big = tmp_path / "big.png"
    Image.new("L", (side, side)).save(big)  # a tiny file that would decode to many pixels
    with pytest.raises(ValueError, match="too large"):
        load_frames([big, big])


def test_natural_sort_and_folder_expansion(tmp_path):
    for name in ("frame_10.png", "frame_2.png", "frame_1.png"):
        save(tmp_path / name, frames_array(1)[0])
    (tmp_path / "README.txt").write_text("stray file")
    assert [p.name for p in collect_image_paths([tmp_path])] == ["frame_1.png", "frame_2.png", "frame_10.png"]
    assert sorted(["b10", "b9", "a1"], key=natural_key) == ["a1", "b9", "b10"]
    with pytest.raises(ValueError, match="not an image file"):
        collect_image_paths([tmp_path / "README.txt"])
    with pytest.raises(ValueError, match="no such file"):
        collect_image_paths([tmp_path / "missing.png"])


def test_dates_in_all_accepted_forms():
    assert parse_dates(None, 3).tolist() == [0, 5, 10]
    assert parse_dates(["2021-05-10", "2021-05-15", "2021-06-09"], 3).tolist() == [0, 5, 30]
    assert parse_dates([dt.date(2021, 1, 1), dt.datetime(2021, 1, 3, 10)], 2).tolist() == [0, 2]
    assert parse_dates([100, 110, 110], 3).tolist() == [0, 10, 10]
    assert parse_dates(np.array(["2020-02-28", "2020-03-01"], dtype="datetime64[D]"), 2).tolist() == [0, 2]
    assert parse_dates(pd.to_datetime(["2021-12-30", "2022-01-04"]), 2).tolist() == [0, 5]  # DatetimeIndex
    assert parse_dates(pd.Series(pd.to_datetime(["2021-12-30", "2022-01-04"])), 2).tolist() == [0, 5]


def test_day_numbers_are_day_of_year_or_days_since_a_start():
    assert parse_dates([350, 360, 5, 10], 4).tolist() == [0, 10, 20, 25]  # day-of-year across New Year
    assert parse_dates([300, 5, 300], 3).tolist() == [0, 70, 365]  # two year changes
    assert parse_dates(np.array([0.0, 5.5, 12.0]), 3).tolist() == [0, 5.5, 12]  # days since a start, floats
    assert parse_dates([10, 400, 800], 3).tolist() == [0, 390, 790]
    assert parse_dates(np.array([738000, 738005]), 2).tolist() == [0, 5]  # days since an epoch


def test_day_of_year_falling_a_little_and_one_date_for_every_frame_are_said():
    with pytest.warns(UserWarning, match=r"dates: day 9 \(date 2\) follows day 10 and is taken as the next year's, 364 days later \(2 such turn\(s\)\); if the frames are out of order"):
        assert parse_dates([10, 9, 8], 3).tolist() == [0, 364, 728]
    with pytest.warns(UserWarning, match=r"dates: all 3 frames have one date"):
        parse_dates(["2019-06-16"] * 3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_dates([350, 360, 5], 3)  # New Year: a fall of most of a year
        parse_dates(["2023-06-02", "2023-06-02"], 2)  # two satellites on one day (HLS S30 and L30)


def test_integers_that_are_all_yyyymmdd_dates_are_those_dates():
    assert parse_dates([20210430, 20210501, 20210510], 3).tolist() == [0, 1, 10]
    assert parse_dates(np.array([20201225, 20210104]), 2).tolist() == [0, 10]
    assert parse_dates([20211301, 20211302], 2).tolist() == [0, 1]  # no month 13: day numbers


@pytest.mark.parametrize(
    "dates, match",
    [
        (["2021-05-10", "yesterday"], "cannot read 'yesterday'"),
        (["2021-05-10", "2021-05-01"], r"time order \(non-decreasing\), but date 2 \(2021-05-01\) comes before date 1 \(2021-05-10\)"),
        ([400, 10], r"time order .*only when all lie in 1\.\.366"),
        ([0, float("nan")], "day number nan .* not finite"),
        ([True, False], "unsupported type bool"),
        (np.array(["2021-05-10", "NaT"], dtype="datetime64[D]"), "date 2 is missing"),
        ([pd.Timestamp("2021-05-10"), pd.NaT], "date 2 is missing"),
        (["", "2021-05-10"], r"cannot read '' \(date 1\)"),  # positions count from 1, as frames do
        ({"2021-05-10", "2021-05-11"}, "expected a list of 2 dates, got set"),
        (np.array("2021-05-10"), "expected a list of 2 dates, got one <U10 value"),
        (np.array([[1, 2], [3, 4]]), "expected a list of 2 dates, got ndarray"),
        (["2021-05-10", 130], "do not mix"),
        (["2021-05-10"], "got 1 dates for 2 frames"),
        ([1560643200, 1561075200], r"1560643200..1561075200 span 1,184 years; they are days, not seconds \(Unix timestamps\)"),  # 5 days in seconds
        ("2021-05-10", "expected a list"),
    ],
)
def test_bad_dates(dates, match):
    with pytest.raises(ValueError, match=match):
        parse_dates(dates, 2)


def test_channels_first_and_torch_frames_read_like_channels_last():
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)
    first = np.ascontiguousarray(np.moveaxis(frames, -1, 1))  # (T,3,H,W), as torch keeps images
    for layout in (first, list(first), torch.from_numpy(frames), torch.from_numpy(first).float() / 255):
        assert np.array_equal(load_frames(layout), frames)
    with pytest.raises(ValueError, match=r"expected an array of shape \(T,H,W,3\) or \(T,3,H,W\) \(also .*\), got shape \(3, 5, 40, 48\)"):
        load_frames(np.zeros((3, 5, 40, 48), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(3, 40, 48\); grey frames: give them as a list of \(H,W\) arrays"):
        load_frames(frames[..., 0])
    with pytest.raises(ValueError, match=r"got shape \(3, 4, 40, 48\); channels first with alpha or grey: move them last, np.moveaxis\(frames, 1, -1\)"):
        load_frames(np.zeros((3, 4, 40, 48), np.uint8))


def test_rgba_and_grey_arrays_read_as_their_frames_listed():
    """A (T,H,W,4) array is what a list of its RGBA frames is (transparent: no data), (T,H,W,1) grey."""
    rgba = np.random.default_rng(1).integers(1, 256, (3, 40, 48, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[0, :5, :5, 3] = 0
    frames = load_frames(rgba)
    assert np.array_equal(frames, load_frames(list(rgba)))
    assert no_data_pixels(frames)[0].sum() == 25
    grey = load_frames(rgba[..., :1])
    assert np.array_equal(grey, load_frames(list(rgba[..., 0]))) and np.array_equal(grey[..., 0], grey[..., 2])

    class DeviceTensor:  # what a CUDA tensor does when numpy asks for it
        def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
            raise TypeError("can't convert cuda:0 device type tensor to numpy")

    with pytest.raises(ValueError, match=r"frames: DeviceTensor cannot be read as a numpy array .* tensor.detach\(\).cpu\(\).numpy\(\)"):
        load_frames(DeviceTensor())
    with pytest.raises(ValueError, match=r"BFloat16\); pass it as one, e.g. tensor.detach\(\).cpu\(\).float\(\).numpy\(\)"):
        load_frames(torch.from_numpy(frames).bfloat16() / 255)


def test_masks_validation():
    assert validate_masks(np.zeros((2, 40, 40), np.uint8), (2, 40, 40)).dtype == bool
    assert validate_masks(np.ones((2, 40, 40, 1), bool), (2, 40, 40)).all()
    assert validate_masks(torch.ones(2, 1, 40, 40, dtype=torch.bool), (2, 40, 40)).all()  # channels first
    with pytest.raises(ValueError, match=r"masks: shape \(2, 40, 41\); expected an array of shape \(2, 40, 40\) matching the frames"):
        validate_masks(np.zeros((2, 40, 41), bool), (2, 40, 40))
    with pytest.raises(ValueError, match="masks: file names, which masks cannot be; expected an array"):
        validate_masks(["m0.png", "m1.png"], (2, 40, 40))
    with pytest.raises(ValueError, match="masks: None; expected an array"):
        validate_masks(None, (2, 40, 40))
    with pytest.raises(ValueError, match=r"masks: values 0.5 found; expected booleans"):
        validate_masks(np.full((2, 40, 40), 0.5), (2, 40, 40))


def test_masks_saved_as_8bit_images_read_as_0_and_255():
    masks = np.zeros((2, 40, 40), np.uint8)
    masks[1, 5:9] = 255
    assert np.array_equal(validate_masks(masks, (2, 40, 40)), masks > 0)
    masks[0, 0, 0] = 1  # 0, 1 and 255 together mean nothing clear
    with pytest.raises(ValueError, match="0/255"):
        validate_masks(masks, (2, 40, 40))


# ---- property-based: whatever arrives, the answer is a valid array or a ValueError -------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=2000))
def test_random_bytes_never_crash(tmp_path_factory, payload):
    path = tmp_path_factory.mktemp("bytes") / "frame.png"
    path.write_bytes(payload)
    with pytest.raises(ValueError):
        load_frames([path, path])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=40),
    )
)
def test_random_arrays_decode_or_raise_value_error(array):
    try:
        decoded = load_frames(array)
    except ValueError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert decoded.dtype == np.uint8 and decoded.ndim == 4 and decoded.shape[-1] == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.integers(-5, 400), st.text(max_size=12), st.dates(), st.none()), min_size=0, max_size=4))
def test_random_dates_parse_or_raise_value_error(dates):
    try:
        days = parse_dates(dates, len(dates) or 1)
    except ValueError:
        return
    assert (np.diff(days) >= 0).all() and days[0] == 0


def test_dates_from_file_names():
    assert dates_from_names(["a_2021-05-10.png", "b_20210515.tif"]) == [dt.date(2021, 5, 10), dt.date(2021, 5, 15)]
    with pytest.warns(UserWarning, match="frame_2.png"):
        assert dates_from_names(["a_2021-05-10.png", "frame_2.png"]) is None  # only when every name has one
    with pytest.warns(UserWarning, match="id_20219999.png"):
        assert dates_from_names(["id_20219999.png", "id_20210101.png"]) is None  # digits that are no date


def test_names_holding_two_dates_give_the_one_that_differs_between_them(tmp_path):
    exported = [f"export_20240105_S2_2019-06-{day}.png" for day in ("16", "01", "21")]  # a tool's export date first
    assert names_dates(exported) == [dt.date(2019, 6, 16), dt.date(2019, 6, 1), dt.date(2019, 6, 21)]
    assert dates_from_names(exported) == names_dates(exported)
    assert in_frame_order(exported) == [exported[1], exported[0], exported[2]]
    with pytest.raises(ValueError, match="date frame 2"):
        frame_dates([tmp_path / name for name in exported], None)
    products = ["LC08_L2SP_015033_20230602_20230607_02_T1.png", "LC08_L2SP_015033_20230618_20230621_02_T1.png"]
    assert names_dates(products) == [dt.date(2023, 6, 2), dt.date(2023, 6, 18)]  # acquisition first, processing after
    assert names_dates(["a_20230602_20230607.png", "b_20230602_20230607.png"]) == [dt.date(2023, 6, 2)] * 2  # no place differs: the first
    assert names_dates(["a_20230602.png", "b.png"]) == [dt.date(2023, 6, 2), None]


def test_names_without_any_date_give_none_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dates_from_names(["frame_1.png", "frame_2.png"]) is None


def test_paths_without_dates_given_take_the_dates_in_their_names(tmp_path):
    names = ["S2_2019_06_16.png", "S2_2019_06_21.png", "S2_2019_07_01.png"]
    assert frame_dates([tmp_path / name for name in names], None) == [dt.date(2019, 6, 16), dt.date(2019, 6, 21), dt.date(2019, 7, 1)]
    assert frame_dates(names, ["2020-01-01"] * 3) == ["2020-01-01"] * 3  # dates given win
    assert frame_dates(frames_array(3), None) is None and frame_dates(["a.png", "b.png"], None) is None
    with pytest.raises(ValueError, match=r"dates: the file names date frame 2 \(S2_2019_06_16.png\) before frame 1 \(S2_2019_06_21.png\); give the paths in time order"):
        frame_dates([names[1], names[0], names[2]], None)
    assert frame_dates([names[1], names[0], names[2]], None, in_order=False) is None  # images that need not be a series


def test_names_whose_only_dates_are_chained_to_numbers_say_so():
    with pytest.warns(UserWarning, match=r"2019_06_16 in 'frame_01_2019_06_16.png' looks like a date .* or 1 other name\(s\).* 2019-06-16"):
        assert dates_from_names(["frame_01_2019_06_16.png", "frame_02_2019_06_21.png"]) is None


def test_a_name_without_a_date_among_dated_ones_is_named_in_a_warning():
    names = ["S2A_20190616.png", "scene_july.png", "2019-07-06.png", "notes_v2.png"]
    with pytest.warns(UserWarning) as caught:
        assert dates_from_names(names) is None
    (warning,) = caught
    message = str(warning.message)
    assert "\n" not in message and "scene_july.png, notes_v2.png" in message and "S2A" not in message
    assert "5 days apart" in message and "--dates" in message and "dates=" in message


@pytest.mark.parametrize(
    "name, expected",
    [
        ("scene_2019_06_11.tif", dt.date(2019, 6, 11)),
        ("2019_06_11.png", dt.date(2019, 6, 11)),
        ("S2B_MSIL2A_20190616T105029_N0212_R051_T31UFU_20190616T135318.png", dt.date(2019, 6, 16)),
        ("a_2021-05-10.png", dt.date(2021, 5, 10)),
        ("id_20219999_20210101.png", dt.date(2021, 1, 1)),  # the first digits that are a date
        ("2019_13_01.png", None),  # no month 13
        ("2019_02_30.png", None),
        ("S2_2019_06_16.png", dt.date(2019, 6, 16)),  # the digit before "_" ends a word: no chain
        ("site1_2019_06_16.png", dt.date(2019, 6, 16)),
        ("tile_3_2019_06_11.png", None),  # a chain of numbers, not a date
        ("2019_06_11_7.png", None),
        ("x12019_06_11.png", None),  # inside a longer run of digits
        ("2019_06_112.png", None),
        ("2019-06_11.png", None),  # one separator throughout
        ("tile_0001_02_03.png", None),  # years 1900..2099 only
        ("id_00010203.png", None),
    ],
)
def test_date_in_name_forms(name, expected):
    assert date_in_name(name) == expected


def test_folder_is_ordered_by_the_dates_in_its_names(tmp_path):
    names = ["S2B_MSIL2A_20190616T105029.png", "S2A_MSIL2A_20190621T104031.png", "2019-07-01.png", "20190616.png", "scene_2019_06_11.tif"]
    for name in names:
        save(tmp_path / name, frames_array(1)[0])
    expected = ["scene_2019_06_11.tif", "20190616.png", "S2B_MSIL2A_20190616T105029.png", "S2A_MSIL2A_20190621T104031.png", "2019-07-01.png"]
    assert [p.name for p in collect_image_paths([tmp_path])] == expected  # equal dates keep the name order
    assert [p.name for p in collect_image_paths([tmp_path / name for name in names])] == expected  # files given one by one too
    dates = dates_from_names(collect_image_paths([tmp_path]))
    assert parse_dates(dates, len(dates)).tolist() == [0, 5, 5, 10, 20]


def test_folder_without_dates_in_every_name_keeps_the_name_order(tmp_path):
    for name in ("frame_10_20190601.png", "frame_2.png", "frame_1_20190701.png"):
        save(tmp_path / name, frames_array(1)[0])
    assert [p.name for p in collect_image_paths([tmp_path])] == ["frame_1_20190701.png", "frame_2.png", "frame_10_20190601.png"]


def test_hidden_files_in_a_folder_are_skipped(tmp_path):
    for name in ("frame_1.png", "frame_2.png"):
        save(tmp_path / name, frames_array(1)[0])
    (tmp_path / "._frame_1.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS resource fork
    (tmp_path / ".DS_Store").write_bytes(b"Bud1")
    save(tmp_path / ".thumb.png", frames_array(1)[0])
    assert [p.name for p in collect_image_paths([tmp_path])] == ["frame_1.png", "frame_2.png"]
    assert [p.name for p in collect_image_paths([tmp_path / ".thumb.png", tmp_path / "frame_1.png"])] == [".thumb.png", "frame_1.png"]


def test_empty_folder_is_named_with_the_accepted_suffixes(tmp_path):
    (tmp_path / "README.txt").write_text("no frames here")
    (tmp_path / "._frame.png").write_bytes(b"AppleDouble")
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path))}: the folder holds no PNG/JPEG/TIFF frames; accepted: \.png, \.jpg, \.jpeg, \.tif, \.tiff files$"):
        collect_image_paths([tmp_path])
    for name in ("site_b", "site_a"):  # the folder above the sequences, as examples/ is
        (tmp_path / name).mkdir()
        save(tmp_path / name / "frame_1.png", frames_array(1)[0])
    with pytest.raises(ValueError, match=r"tiff files; its subfolders site_a, site_b hold frames: give one of them$"):
        collect_image_paths([tmp_path])


# ---- files that deserve better than "not readable" (issue 14, case 9) ------------------------


def test_float32_rgb_tiff_in_unit_range_is_read(tmp_path):
    import tifffile

    values = frames_array(1)[0].astype(np.float32) / 255.0
    tifffile.imwrite(tmp_path / "float.tif", values, photometric="rgb")
    decoded = load_frames([tmp_path / "float.tif", frames_array(1)[0]])
    assert np.array_equal(decoded[0], frames_array(1)[0])


def test_int16_tiffs_read_as_16_bit_and_negative_values_are_named(tmp_path):
    import tifffile

    values = np.linspace(0, 32767, 40 * 40 * 3).reshape(40, 40, 3).astype(np.int16)
    tifffile.imwrite(tmp_path / "int16.tif", values, photometric="rgb")
    decoded = load_frames([tmp_path / "int16.tif", tmp_path / "int16.tif"])
    assert np.abs(decoded[0].astype(int) - np.round(values / 257.0)).max() <= 1
    values[3, 4, 0] = -7
    tifffile.imwrite(tmp_path / "negative.tif", values, photometric="rgb")
    with pytest.raises(ValueError, match=r"frame 2 \(negative.tif\): int16 image has negative values \(min -7\); accepted"):
        load_frames([tmp_path / "int16.tif", tmp_path / "negative.tif"])


@pytest.mark.parametrize("planar", [False, True])
def test_five_band_tiffs_say_what_is_accepted(tmp_path, planar):
    import tifffile

    bands = np.zeros((5, 40, 40) if planar else (40, 40, 5), np.uint16)
    tifffile.imwrite(tmp_path / "five.tif", bands, photometric="minisblack", planarconfig="separate" if planar else "contig")
    with pytest.raises(ValueError, match=r"five.tif\): expected an \(H,W,3\) RGB image, got shape \(40, 40, 5\), read as 5 bands; accepted: 1 \(gray\)"):
        load_frames([tmp_path / "five.tif", tmp_path / "five.tif"])


def test_planar_rgb_tiff_is_read(tmp_path):
    import tifffile

    rgb = frames_array(1)[0]
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    assert np.array_equal(load_frames([tmp_path / "planar.tif", rgb])[0], rgb)


def test_mode_i_negative_values_are_refused_not_wrapped(tmp_path):
    values = np.full((40, 40), 1000, np.int32)
    assert load_frames([Image.fromarray(values)] * 2)[0, 0, 0, 0] == 4  # 1000 of 65535, as 16-bit
    values[0, 0] = -1
    Image.fromarray(values).save(tmp_path / "neg.tif")
    with pytest.raises(ValueError, match=r"frame 2: int32 image has negative values \(min -1\)"):
        load_frames([Image.fromarray(values * 0), Image.fromarray(values)])
    with pytest.raises(ValueError, match=r"neg.tif\): int32 image has negative values"):
        load_frames([tmp_path / "neg.tif", tmp_path / "neg.tif"])


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    upright = np.zeros((40, 64, 3), np.uint8)
    upright[:10, :, 0] = 255  # red band along the top edge
    stored = Image.fromarray(np.rot90(upright, k=1).copy())  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    stored.save(tmp_path / f"sideways{suffix}", exif=exif)
    save(tmp_path / f"upright{suffix}", upright)
    decoded = load_frames([tmp_path / f"upright{suffix}", tmp_path / f"sideways{suffix}"])
    assert decoded.shape == (2, 40, 64, 3)
    assert np.abs(decoded[1].astype(int) - upright).mean() < 4
    assert image_size(tmp_path / f"sideways{suffix}") == (40, 64)  # the size it is shown at: the header check agrees


def test_big_endian_and_255_scale_floats():
    frames = frames_array(2)
    assert np.array_equal(load_frames((frames.astype(np.uint16) * 257).astype(">u2")), frames)
    with pytest.raises(ValueError, match=r"got values in \[0, 255\] \(8-bit levels as floats: divide by 255\)"):
        load_frames(frames.astype(np.float64))


def test_mode_la_is_converted():
    la = Image.fromarray(np.dstack([frames_array(1)[0][..., 0], np.full((40, 40), 255, np.uint8)]), "LA").convert("La")
    decoded = load_frames([la, frames_array(1)[0]])
    assert np.array_equal(decoded[0, ..., 0], decoded[0, ..., 2]) and decoded[0].any()


def test_a_stack_of_grayscale_frames_given_as_one_image_says_how_to_give_it():
    with pytest.raises(ValueError, match=r"got shape \(4, 40, 48\), read as 48 bands; .* a stack of grayscale frames goes as a list of \(H,W\) arrays"):
        load_images([np.zeros((4, 40, 48), np.uint8)], max_images=1)
    assert load_frames(list(np.zeros((4, 40, 48), np.uint8))).shape == (4, 40, 48, 3)


def test_empty_and_damaged_files_are_named_in_a_users_words(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    whole = save(tmp_path / "cut.png", frames_array()[0]).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"^frame 1 \(empty.png\): empty file \(0 bytes\)$"):
        load_frames([tmp_path / "empty.png", tmp_path / "empty.png"])
    with pytest.raises(ValueError, match=r"cut.png\): not a readable PNG, JPEG or TIFF image \(damaged, cut short, or of another format\)$"):
        load_frames([tmp_path / "cut.png", tmp_path / "cut.png"])


def test_image_size_reads_headers_only(tmp_path):
    import tifffile

    save(tmp_path / "a.png", np.zeros((40, 56, 3), np.uint8))
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((3, 48, 32), np.float32), photometric="rgb", planarconfig="separate")
    (tmp_path / "c.png").write_text("not an image")
    assert image_size(tmp_path / "a.png") == (40, 56) and image_size(tmp_path / "b.tif") == (48, 32)
    with pytest.raises(ValueError, match="c.png: not a readable PNG, JPEG or TIFF"):
        image_size(tmp_path / "c.png")


@pytest.mark.parametrize("text", ["2021-05-10junk", "2021-05-10 junk", "2021", "10/05/2021"])
def test_dates_with_trailing_or_foreign_text_are_refused(text):
    with pytest.raises(ValueError, match=f"cannot read '{text}'"):
        parse_dates(["2021-05-01", text], 2)


def test_date_times_and_compact_dates_are_read():
    assert parse_dates(["2021-05-10T10:30:00", "20210515", "2021-05-20"], 3).tolist() == [0, 5, 10]


def test_dates_spelt_as_in_file_names_are_read():
    assert parse_dates(["2021_05_10", "2021/05/15", "2021.05.20", "2021/05/25 10:00"], 4).tolist() == [0, 5, 10, 15]
    with pytest.raises(ValueError, match="cannot read '2021/5/30'"):  # one digit: not a date of a file name either
        parse_dates(["2021-05-10", "2021/5/30"], 2)


def test_array_likes_of_dates_are_read():
    """Cube users pass `cube.time`; tensors and pandas objects hold day numbers or dates too."""
    times = pd.date_range("2021-05-10", periods=3, freq="5D")
    assert parse_dates(xr.DataArray(times.values, dims="time"), 3).tolist() == [0, 5, 10]
    assert parse_dates(torch.tensor([120, 125, 135]), 3).tolist() == [0, 5, 15]
    assert parse_dates(times.tz_localize("UTC"), 3).tolist() == [0, 5, 10]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2021-05-10,2021-05-15", ["2021-05-10", "2021-05-15"]),
        ("2021-05-10, 2021-05-15", ["2021-05-10", "2021-05-15"]),
        ("2021-05-10 2021-05-15\n2021-05-20", ["2021-05-10", "2021-05-15", "2021-05-20"]),
        (" 100 ,, 105 ", ["100", "105"]),
        ("2021-05-10; 2021-05-15;", ["2021-05-10", "2021-05-15"]),
        ("", None),
        ("  \n ", None),
        (None, None),
    ],
)
def test_typed_dates_split_on_commas_semicolons_or_spaces(text, expected):
    assert split_dates(text) == expected


def test_collected_notes_are_the_collecting_threads_own():
    """run and fill return their notes; another thread's (another web request's) stay out of them."""
    import threading

    from clear_vision.io.decode import collected_notes

    with collected_notes() as notes:
        with warnings.catch_warnings(record=True) as elsewhere:
            warnings.simplefilter("always")
            thread = threading.Thread(target=parse_dates, args=(["2021-01-01"] * 3, 3))
            thread.start()
            thread.join()
        parse_dates([10, 9], 2)
    assert len(notes) == 1 and notes[0].startswith("dates: day 9 (date 2) follows day 10")
    assert [str(record.message) for record in elsewhere][0].startswith("dates: all 3 frames have one date")
