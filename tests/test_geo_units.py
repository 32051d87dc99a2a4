"""Units: stored values <-> reflectance, what file metadata says, and the networks' 8-bit rendering."""

from __future__ import annotations

import numpy as np
import pytest

from clear_vision.geo.units import Units, check_magnitude, render_rgb, suspect_dark_units, suspect_missing_offset, units_from_metadata


def test_round_trip_is_exact_for_digital_numbers_and_clips_to_the_type():
    units = Units(1e-4, -0.1)
    dn = np.array([[[0, 1000, 1001, 65535]]], dtype=np.uint16)
    assert np.array_equal(units.from_reflectance(units.to_reflectance(dn), np.uint16), dn)
    assert units.to_reflectance(np.array([[[1000]]], np.uint16))[0, 0, 0] == pytest.approx(0.0)
    assert units.from_reflectance(np.array([[[-5.0, 99.0]]], np.float32), np.uint16).tolist() == [[[0, 65535]]]


def test_per_band_units_apply_along_the_band_axis():
    units = Units((1e-4, 2e-4), (0.0, 0.5))
    values = np.full((3, 2, 4, 4), 1000, np.int16)  # (T,B,H,W)
    reflectance = units.to_reflectance(values)
    assert reflectance[:, 0].max() == pytest.approx(0.1) and reflectance[:, 1].max() == pytest.approx(0.7)
    assert np.array_equal(units.from_reflectance(reflectance, np.int16), values)


@pytest.mark.parametrize("shape", [(2, 5, 7), (3, 2, 5, 7)])
def test_reflectance_is_the_float64_result_rounded_once(shape):
    """Block by block in place, as one float64 expression rounded to float32 once (NaN kept)."""
    units = Units((1e-4, 2.75e-5), (-0.1, -0.2))
    digital = np.random.default_rng(0).integers(0, 65536, shape).astype(np.uint16)
    expected = (digital.astype(np.float64) * np.reshape(units.scale, (-1, 1, 1)) + np.reshape(units.offset, (-1, 1, 1))).astype(np.float32)
    assert np.array_equal(units.to_reflectance(digital), expected)
    floats = expected.copy()
    floats[..., 0, 0, 0] = np.nan
    assert np.array_equal(Units().to_reflectance(floats), floats, equal_nan=True)


@pytest.mark.parametrize(
    "metadata, dtype, expected",
    [
        ({}, np.float32, Units()),  # float without metadata: reflectance
        ({}, np.uint16, None),  # digital numbers without a scale: unknown
        ({"scale_factor": 1.0, "add_offset": 0.0}, np.uint16, None),  # rasterio's defaults say nothing
        ({"scale_factor": 1e-4, "add_offset": 0.0}, np.uint16, Units(1e-4, 0.0)),
        ({"scale_factor": [1e-4, 2e-4], "add_offset": [0.0, 0.0]}, np.int16, Units((1e-4, 2e-4), 0.0)),
        ({"BOA_QUANTIFICATION_VALUE": "10000", "BOA_ADD_OFFSET": "-1000"}, np.uint16, Units(1e-4, -0.1)),
        ({"BOA_QUANTIFICATION_VALUE": "10000", "PROCESSING_BASELINE": "04.00"}, np.uint16, Units(1e-4, -0.1)),
        ({"BOA_QUANTIFICATION_VALUE": "10000", "PROCESSING_BASELINE": "02.14"}, np.uint16, Units(1e-4, 0.0)),
        ({"BOA_QUANTIFICATION_VALUE": "10000", "BOA_ADD_OFFSET_B2": "-1000", "BOA_ADD_OFFSET_B4": "-1000"}, np.uint16, Units(1e-4, -0.1)),  # GDAL's per-band names
    ],
)
def test_units_come_from_the_metadata_or_stay_unknown(metadata, dtype, expected):
    assert units_from_metadata(metadata, np.dtype(dtype)) == expected


def test_explicit_scale_wins_and_bad_values_are_named():
    assert units_from_metadata({"scale_factor": 2.0}, np.dtype(np.uint16), scale=1e-4) == Units(1e-4, 0.0)
    with pytest.raises(ValueError, match=r"scale: 0\.0 must be a positive finite number"):
        Units(0.0)
    with pytest.raises(ValueError, match=r"offset: nan must be a finite number"):
        Units(1.0, float("nan"))
    with pytest.raises(ValueError, match=r"BOA_ADD_OFFSET='x' is not a number"):
        units_from_metadata({"BOA_QUANTIFICATION_VALUE": 10000, "BOA_ADD_OFFSET": "x"}, np.dtype(np.uint16))


def test_digital_numbers_taken_as_reflectance_are_refused():
    check_magnitude(np.array([0.02, 0.3, 1.4, np.nan], np.float32), Units())
    outliers = np.full(1000, 0.2, np.float32)
    outliers[:9] = 3000.0  # under 1 %: a few hot pixels in reflectance are not digital numbers
    check_magnitude(outliers, Units())
    outliers[9] = np.inf  # nor is an infinite value
    check_magnitude(outliers, Units())
    outliers[10:20] = 3000.0
    with pytest.raises(ValueError, match=r"values reach 3000, which is not reflectance"):
        check_magnitude(outliers, Units())
    with pytest.raises(ValueError, match=r"values reach 3000, which is not reflectance .*scale=0\.0001"):
        check_magnitude(np.array([200.0, 3000.0] * 50, np.float32), Units())
    with pytest.raises(ValueError, match=r"with scale=0.0001,0.0001,1, offset=0;"):  # one scale per band
        check_magnitude(np.array([200.0, 3000.0] * 50, np.float32), Units((1e-4, 1e-4, 1.0)))


def test_rendering_is_the_training_rendering():
    """uint8(clip(reflectance x gain, 0, 1) x 255 + 0.5), NaN black: the frames the networks were trained on."""
    reflectance = np.array([[0.0, 0.1, 0.2], [0.5, -0.1, np.nan], [0.001, 0.3333, 1.2]], np.float32)
    assert render_rgb(reflectance, 3.0).tolist() == [[0, 77, 153], [255, 0, 0], [1, 255, 255]]
    assert render_rgb(reflectance, 2.0).tolist() == [[0, 51, 102], [255, 0, 0], [1, 170, 255]]


def test_units_of_some_bands():
    assert Units((1e-4, 2e-4, 3e-4), 0.5).of_bands([2, 0]) == Units((3e-4, 1e-4), 0.5)
    assert Units(1e-4, -0.1).of_bands([1]) == Units(1e-4, -0.1)


def test_per_band_offsets_that_differ_are_refused_with_their_names():
    with pytest.raises(ValueError, match=r"different offsets \(BOA_ADD_OFFSET_B2=-1000, BOA_ADD_OFFSET_B4=0\)"):
        units_from_metadata({"BOA_QUANTIFICATION_VALUE": "10000", "BOA_ADD_OFFSET_B2": "-1000", "BOA_ADD_OFFSET_B4": "0"}, np.dtype(np.uint16))


def test_sentinel2_numbers_that_never_go_under_1000_suggest_the_forgotten_offset():
    rng = np.random.default_rng(0)
    numbers = rng.integers(150, 3000, (4, 3, 64, 64)).astype(np.uint16)  # reflectance x 10000: dark pixels under 0.1
    numbers[0, :, :8] = 0  # no data
    assert suspect_missing_offset(numbers, Units(1e-4, 0.0)) is None
    offset_numbers = numbers + np.where(numbers > 0, 1000, 0).astype(np.uint16)  # baseline 04.00: + 1000
    assert "give offset=-0.1" in suspect_missing_offset(offset_numbers, Units(1e-4, 0.0))
    assert suspect_missing_offset(offset_numbers, Units(1e-4, -0.1)) is None  # the offset is known
    assert suspect_missing_offset(offset_numbers, Units(2.75e-5, -0.2)) is None  # not Sentinel-2's convention
    assert suspect_missing_offset(offset_numbers.astype(np.float32) * 1e-4, Units()) is None  # reflectance


def test_units_that_make_the_scene_black_are_pointed_out():
    """A wrong offset turns dark ground into no data; a scale given to reflectance blacks out the scene."""
    dn = np.random.default_rng(0).integers(200, 3000, size=(2, 3, 32, 32)).astype(np.uint16)  # before baseline 04.00: dark ground under 1000
    assert suspect_dark_units(dn, Units(1e-4, 0.0), 0) is None
    assert "zero or negative reflectance with scale=0.0001, offset=-0.1" in suspect_dark_units(dn, Units(1e-4, -0.1), 0)
    reflectance = dn.astype(np.float32) / 10000
    reflectance[:, :, :4] = -9999.0  # a nodata border is not dark ground
    assert suspect_dark_units(reflectance, Units(1.0, 0.0), -9999.0) is None
    assert "need no scale" in suspect_dark_units(reflectance, Units(1e-4, 0.0), -9999.0)
