"""Each frame's reference from the other dates: robust to clouds, any T, no data, and the inputs it makes."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from clear_vision.detection.reference import _MISSING, _WHITE_FLAG, RELATED_MIN_FRAMES, _lower_median, detector_inputs, shows_one_place, spread_into_no_data, temporal_reference, whiteness_test


def ground(steps: int, seed: int = 0) -> np.ndarray:
    """A green-brown field pattern that stays, with a little noise per date."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32]
    base = np.stack([60 + 40 * ((x // 8) % 2), 90 + 30 * ((y // 8) % 2), 50 + 0 * x], -1)
    return np.clip(base[None] + rng.integers(-3, 4, (steps, 32, 32, 3)), 0, 255).astype(np.uint8)


def test_reference_is_the_ground_when_some_dates_are_cloudy():
    frames = ground(6)
    frames[1, :, :16] = 240  # thick cloud on half of date 1
    frames[3, 8:24, 8:24] = 235
    reference, valid = temporal_reference(frames)
    assert valid.all()
    assert np.abs(reference[0].astype(int) - ground(1)[0]).max() <= 8  # the cloud of date 1 is not in it


def test_most_frames_cloudy_still_gives_the_clear_date():
    frames = ground(5)
    frames[[0, 1, 2, 4]] = 245  # four of five dates overcast
    reference, valid = temporal_reference(frames, indices=np.array([0]))
    assert valid[0].all() and np.abs(reference[0].astype(int) - frames[3]).max() == 0


def test_two_frames_and_one_frame():
    frames = ground(2)
    reference, valid = temporal_reference(frames)
    assert valid.all() and np.array_equal(reference[0], frames[1]) and np.array_equal(reference[1], frames[0])
    reference, valid = temporal_reference(frames[:1])
    assert not valid.any() and not reference.any()


def test_no_data_everywhere_else_leaves_the_reference_invalid():
    frames = ground(3)
    frames[1:, :8] = 0  # no data on every other date
    _, valid = temporal_reference(frames, indices=np.array([0]))
    assert not valid[0, :8].any() and valid[0, 8:].all()


def test_white_on_every_other_date_is_the_reference_there():
    frames = ground(4)
    frames[1:, :8] = 245  # snow (or cloud) on every other date
    frames[2, 8:16] = 250  # cloud on one of them only: left out
    reference, valid = temporal_reference(frames, indices=np.array([0]))
    assert valid[0].all() and (reference[0, :8] == 245).all()
    assert np.abs(reference[0, 8:16].astype(int) - ground(1)[0, 8:16]).max() <= 8


def test_references_of_all_frames_at_once_equal_each_frame_alone():
    frames = ground(6, seed=3)
    frames[1:, :6] = 245  # white on every date but the first: the first frame's reference keeps its white there
    frames[:5, 20:26, 4:12] = 250  # white on every date but the last, in another place
    frames[2, 10:14] = 0  # no data on one date
    references, valid = temporal_reference(frames)
    for index in range(len(frames)):
        alone, alone_valid = temporal_reference(frames, indices=np.array([index]))
        assert np.array_equal(references[index], alone[0]) and np.array_equal(valid[index], alone_valid[0])
    assert (references[0, :6] == 245).all() and (references[5, 20:26, 4:12] == 250).all()


def test_neighbours_nearest_in_time_are_used():
    frames = ground(12)
    frames[6:] = 20  # the later dates look different (another season)
    days = np.arange(12) * 10.0
    reference, _ = temporal_reference(frames, days, np.array([0]), neighbours=4)
    assert reference[0].mean() > 40  # built from dates 1..4, not from the dark later dates


def test_detector_inputs_zero_the_invalid_reference():
    from clear_vision.config import Preprocessing

    frames = np.full((1, 4, 4, 3), 191, np.uint8)  # (191 / 255 - 0.5) / 0.25 = 0.996
    reference = np.full((1, 4, 4, 3), 64, np.uint8)
    valid = np.zeros((1, 4, 4), bool)
    valid[..., :2] = True
    inputs = detector_inputs(frames, reference, valid, Preprocessing())
    expected = (torch.tensor([191.0, 64.0]) / 255 - 0.5) / 0.25  # as the 8-bit frames / scale, then normalised
    assert inputs.shape == (1, 7, 4, 4) and inputs.is_contiguous(memory_format=torch.channels_last)
    assert (inputs[:, :3] == expected[0]).all()
    assert (inputs[:, 3:6, :, :2] == expected[1]).all() and (inputs[:, 3:6, :, 2:] == 0).all()
    assert torch.equal(inputs[:, 6], torch.from_numpy(valid).float())
    assert detector_inputs(frames, None, None, Preprocessing()).shape == (1, 3, 4, 4)


def test_no_data_takes_the_nearest_pixel_with_data_in_every_channel():
    frames = np.arange(3 * 4 * 4 * 3).reshape(3, 4, 4, 3).astype(np.uint8)
    valid = np.arange(3 * 4 * 4).reshape(3, 4, 4, 1) % 2 == 0
    no_data = np.zeros((3, 4, 4), bool)
    no_data[0, :, :2] = True  # a swath edge: columns 0, 1 take column 2's values
    no_data[1] = True  # all no data: nothing to copy from
    spread = spread_into_no_data([frames, valid, None], no_data)
    for after, before in zip(spread, (frames, valid)):
        assert np.array_equal(after[0, :, 0], before[0, :, 2]) and np.array_equal(after[0, :, 1], before[0, :, 2])
        assert np.array_equal(after[0, :, 2:], before[0, :, 2:]) and np.array_equal(after[1:], before[1:])
    assert spread[2] is None and spread_into_no_data([frames, valid], np.zeros((3, 4, 4), bool))[0] is frames


def test_whiteness_test_flags_bright_grey_not_bright_colour():
    frames = np.array([[[[230, 230, 235], [250, 200, 60], [40, 60, 30]]]], np.uint8)
    assert whiteness_test(frames).tolist() == [[[True, False, False]]]


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(2, 20), data=st.data())
def test_lower_median_is_torch_nanmedian_for_any_number_of_dates(steps: int, data: st.DataObject) -> None:
    """The sorting network gives exactly torch.nanmedian's lower median, missing where no date has a value."""
    count = data.draw(st.integers(1, steps - 1))
    seed = data.draw(st.integers(0, 2**16))
    missing = data.draw(st.sampled_from([0.0, 0.3, 0.9, 1.0]))
    generator = torch.Generator().manual_seed(seed)
    values = torch.randint(0, 256, (steps, 6, 5, 3), generator=generator).float()
    values[torch.rand(steps, 6, 5, generator=generator) < missing] = float("nan")
    chosen = torch.stack([torch.randperm(steps, generator=generator)[:count] for _ in range(4)])
    expected = torch.nanmedian(values[chosen], dim=1).values
    levels = torch.nan_to_num(values, nan=_MISSING).to(torch.int16)
    median = _lower_median(levels, chosen)
    assert torch.equal(median.float().masked_fill(median == _MISSING, -1.0), torch.nan_to_num(expected, nan=-1.0))


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(2, 12), data=st.data())
def test_lower_median_prefers_dates_that_are_not_white(steps: int, data: st.DataObject) -> None:
    """White (thick-cloud) values count only where every chosen date with a value is white: one sort gives both medians."""
    count = data.draw(st.integers(1, steps - 1))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    white_share, missing = data.draw(st.sampled_from([0.3, 0.8, 1.0])), data.draw(st.sampled_from([0.0, 0.3]))
    values = torch.randint(0, 256, (steps, 6, 5, 3), generator=generator).float()
    white = (torch.rand(steps, 6, 5, generator=generator) < white_share)[..., None].expand_as(values)
    values[torch.rand(steps, 6, 5, generator=generator) < missing] = float("nan")
    chosen = torch.stack([torch.randperm(steps, generator=generator)[:count] for _ in range(4)])
    clear_median = torch.nanmedian(values.masked_fill(white, float("nan"))[chosen], dim=1).values
    white_median = torch.nanmedian(values.masked_fill(~white, float("nan"))[chosen], dim=1).values
    expected = torch.where(clear_median.isnan(), white_median, clear_median)
    levels = torch.nan_to_num(values + white * _WHITE_FLAG, nan=_MISSING).to(torch.int16)
    median = _lower_median(levels, chosen)
    assert torch.equal(median.float().masked_fill(median == _MISSING, -1.0), torch.nan_to_num(expected, nan=-1.0))


def textures(count: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """`count` unrelated places, as the tiles of one scene are: each ground of its own (smoothed noise)."""
    rng = np.random.default_rng(seed)
    fields = ndimage.gaussian_filter(rng.normal(size=(count, size, size)), sigma=(0, 1.5, 1.5))
    green = 100 + 40 * fields / fields.std()
    return np.clip(np.stack([green - 30, green, green - 50], -1), 0, 255).astype(np.uint8)


def one_place(frames: np.ndarray) -> bool:
    reference, valid = temporal_reference(frames)
    return shows_one_place(frames, reference, valid, whiteness_test(frames))


def test_a_series_shows_one_place_and_a_scenes_tiles_do_not():
    series = np.repeat(textures(1), 10, axis=0) + np.random.default_rng(1).integers(0, 4, (10, 64, 64, 3)).astype(np.uint8)
    assert one_place(series) and not one_place(textures(10))
    cloudy = series.copy()
    cloudy[1:9] = 245  # eight of ten dates overcast: the two clear ones still share their ground
    assert one_place(cloudy)


def test_too_few_comparable_frames_stay_a_series():
    """Under RELATED_MIN_FRAMES frames, or frames too small or cloudy to compare, the evidence is too thin to split them."""
    assert one_place(textures(RELATED_MIN_FRAMES - 1))
    assert one_place(textures(10, size=32))  # 1024 pixels a frame: chance correlations would decide
    covered = textures(10)
    covered[:, :, :40] = 245  # 62 % of every tile white: too little ground left to compare
    assert one_place(covered)
    smooth = np.clip(120 + np.random.default_rng(2).normal(0, 1.0, (10, 64, 64, 3)), 0, 255).astype(np.uint8)
    assert one_place(smooth)  # featureless (water, a veil): its structure is noise, which no date repeats
