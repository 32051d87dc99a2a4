"""The classical fillers: exact on signals they model, never touching clear pixels; haze guard and boundary blend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from clear_vision.filling.classical import (
    CLASSICAL_FILLERS,
    _blur,
    _neighbour_indices,
    affine_fill,
    blend_fill,
    blended_estimate,
    blended_estimate_and_observations,
    interpolate_from_other_dates,
    linear_fill,
    nearest_fill,
    local_colour_match,
    neighbour_observations,
    whittaker_fill,
    whittaker_smooth,
)


def linear_in_time(days: list[float], size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    base = torch.rand(1, 1, 3, size, size) * 0.4
    slope = torch.rand(1, 1, 3, size, size) * 0.01
    day_tensor = torch.tensor([days])
    frames = base + slope * day_tensor.view(1, -1, 1, 1, 1)
    return frames, day_tensor


def test_linear_recovers_a_linear_signal_with_uneven_dates():
    frames, days = linear_in_time([0, 3, 20, 21, 40])
    masks = torch.zeros(1, 5, 1, 16, 16, dtype=torch.bool)
    masks[0, 2] = True
    masks[0, 3, :, :8] = True
    filled = linear_fill(frames, masks, days)
    assert torch.allclose(filled, frames, atol=1e-6)


def test_nearest_takes_the_closest_date_and_ends_extrapolate_flat():
    frames = torch.arange(4, dtype=torch.float32).view(1, 4, 1, 1, 1).expand(1, 4, 3, 8, 8).contiguous() / 10
    days = torch.tensor([[0.0, 1.0, 9.0, 10.0]])
    masks = torch.zeros(1, 4, 1, 8, 8, dtype=torch.bool)
    masks[0, 1] = masks[0, 3] = True  # day 1: nearest is day 0; day 10 (end): only day 9 remains
    filled = nearest_fill(frames, masks, days)
    assert torch.allclose(filled[0, 1], frames[0, 0]) and torch.allclose(filled[0, 3], frames[0, 2])


def test_affine_corrects_a_per_frame_colour_shift_that_linear_misses():
    frames, days = linear_in_time([0, 5, 10], size=32)
    frames[0, 1] = 0.7 * frames[0, 1] + 0.1  # hazy acquisition: a gain and offset on the whole frame
    masks = torch.zeros(1, 3, 1, 32, 32, dtype=torch.bool)
    masks[0, 1, :, 8:24, 8:24] = True
    affine_error = (affine_fill(frames, masks, days) - frames)[masks.expand_as(frames)].abs().max()
    linear_error = (linear_fill(frames, masks, days) - frames)[masks.expand_as(frames)].abs().max()
    assert affine_error < 1e-4 < linear_error


def test_colour_match_uses_the_few_clear_pixels_of_a_mostly_hidden_frame():
    frames, days = linear_in_time([0, 5, 10], size=64)
    frames[0, 1] = 0.8 * frames[0, 1] + 0.05  # the hidden date's own colour
    masks = torch.zeros(1, 3, 1, 64, 64, dtype=torch.bool)
    masks[0, 1] = True
    masks[0, 1, :, :, :4] = False  # 6 % of the frame (256 pixels) is clear
    hole = masks.expand_as(frames)
    linear_error = (linear_fill(frames, masks, days) - frames)[hole].abs().mean()
    affine_error = (affine_fill(frames, masks, days) - frames)[hole].abs().mean()
    blend_error = (blend_fill(frames, masks, days) - frames)[hole].abs().mean()  # its ridge pulls the match a little towards no change
    assert affine_error < 1e-4 and blend_error < 0.2 * linear_error
    masks[0, 1, :, :, 2:4] = True  # 3 %: too little to trust, the plain linear fill stays
    assert torch.equal(affine_fill(frames, masks, days), linear_fill(frames, masks, days))


def test_guarded_colour_match_follows_colours_that_move_together():
    torch.manual_seed(0)
    size = 48
    ground = torch.rand(1, 1, 3, size, size) * 0.3 + 0.1
    frames = ground.expand(1, 3, 3, size, size).clone()
    red, green, blue = ground[0, 0]
    frames[0, 1] = torch.stack([0.5 * red + 0.5 * green, 0.7 * green, blue])  # leaves browning: red follows green
    masks = torch.zeros(1, 3, 1, size, size, dtype=torch.bool)
    masks[0, 1, :, 8:40, 8:40] = True
    hole, days = masks.expand_as(frames), torch.tensor([[0.0, 5, 10]])
    affine_error = (affine_fill(frames, masks, days) - frames)[hole].abs().mean()  # one gain per channel
    blend_error = (blend_fill(frames, masks, days) - frames)[hole].abs().mean()  # a colour matrix
    assert affine_error > 0.01 and blend_error < 0.004

def test_each_date_is_colour_matched_to_the_frame_before_it_fills():
    """A gap whose next date is cloudy there too takes the date after, another season: the
    frame's own match, fitted on pixels whose fill comes from the near date, cannot convert it."""
    torch.manual_seed(0)
    size = 48
    ground = torch.rand(1, 1, 3, size, size) * 0.3 + 0.1
    red, green, blue = ground[0, 0]
    frames = ground.expand(1, 3, 3, size, size).clone()
    frames[0, 2] = torch.stack([0.6 * red, 0.5 * red + green, blue])  # the last date: leaves out, greener
    masks = torch.zeros(1, 3, 1, size, size, dtype=torch.bool)
    masks[0, 0, :, 16:32, 16:32] = masks[0, 1, :, 12:36, 12:36] = True  # the next date is cloudy over the gap too
    hole, days = masks.expand_as(frames) & (torch.arange(3) == 0).view(1, 3, 1, 1, 1), torch.tensor([[0.0, 5, 60]])
    linear_error = (linear_fill(frames, masks, days) - frames)[hole].abs().mean()
    blend_error = (blend_fill(frames, masks, days) - frames)[hole].abs().mean()
    assert linear_error > 0.05 and blend_error < 0.008  # one colour matrix for the frame: 0.018


def test_clear_pixels_are_untouched_and_never_seen_pixels_kept():
    frames = torch.rand(2, 6, 3, 16, 16)
    masks = torch.rand(2, 6, 1, 16, 16) > 0.6
    masks[:, :, :, 0, 0] = True  # cloudy on every date
    days = torch.arange(6.0).repeat(2, 1) * 5
    for fill in CLASSICAL_FILLERS.values():
        filled = fill(frames, masks, days)
        assert torch.equal(filled[~masks.expand_as(frames)], frames[~masks.expand_as(frames)])
        assert torch.equal(filled[:, :, :, 0, 0], frames[:, :, :, 0, 0])
    _, known = interpolate_from_other_dates(frames, masks, days)
    assert not known[:, :, :, 0, 0].any()


def test_whittaker_keeps_a_constant_and_stays_between_its_neighbours():
    frames = torch.full((1, 5, 3, 8, 8), 0.3)
    frames[:, 3:] = 0.5  # a step between day 20 and day 21
    days = torch.tensor([[0.0, 3, 20, 21, 40]])
    masks = torch.zeros(1, 5, 1, 8, 8, dtype=torch.bool)
    masks[0, 2] = True
    filled = whittaker_fill(frames, masks, days)
    assert 0.3 <= filled[0, 2].min() and filled[0, 2].max() <= 0.5
    constant = torch.full((1, 5, 3, 8, 8), 0.4)
    assert torch.allclose(whittaker_fill(constant, masks, days), constant, atol=1e-5)
    smoothed, known = whittaker_smooth(frames, masks, days, smoothing=0.0)  # no smoothing: clear dates kept
    assert known.all() and torch.allclose(smoothed[~masks.expand_as(frames)], frames[~masks.expand_as(frames)], atol=1e-4)


def hazy_frame_with_a_hole(size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three dates of the same ground; the middle one's visible part is hazy (grey-blue), its centre hidden."""
    torch.manual_seed(0)
    ground = torch.rand(1, 1, 3, size, size) * 0.3
    truth = ground.expand(1, 3, 3, size, size).clone()
    frames = truth.clone()
    frames[0, 1] += torch.tensor([0.15, 0.17, 0.2]).view(3, 1, 1)
    masks = torch.zeros(1, 3, 1, size, size, dtype=torch.bool)
    masks[0, 1, :, 8:24, 8:24] = True
    return frames, masks, torch.tensor([[0.0, 5, 10]]), truth


def test_colour_match_falls_back_on_a_hazy_frame():
    frames, masks, days, truth = hazy_frame_with_a_hole()
    hole = masks.expand_as(frames)
    affine_error = (affine_fill(frames, masks, days) - truth)[hole].abs().mean()
    blend_error = (blend_fill(frames, masks, days) - truth)[hole].abs().mean()
    assert affine_error > 0.15 and blend_error < 1e-4  # affine paints the haze in; the guarded match keeps the clear dates' colour


def boundary_step(filled: torch.Tensor, top: int, bottom: int) -> float:
    """Mean jump across the top and bottom edges of the hidden square block [top:bottom, top:bottom] of frame 1."""
    inside = filled[0, 1, :, :, top:bottom]
    return float(((inside[:, top] - inside[:, top - 1]).abs().mean() + (inside[:, bottom - 1] - inside[:, bottom]).abs().mean()) / 2)


def test_blend_removes_the_step_at_the_edge_of_a_fill():
    size = 48
    ramp = torch.linspace(0.2, 0.5, size).view(1, 1, 1, size, 1).expand(1, 3, 3, size, size)
    frames = ramp.clone()
    frames[0, 1] -= 0.08  # this date is darker (light, moisture): per-frame shift, smooth ground
    masks = torch.zeros(1, 3, 1, size, size, dtype=torch.bool)
    masks[0, 1, :, 16:32, 16:32] = True
    days = torch.tensor([[0.0, 5, 10]])
    truth_step = boundary_step(frames, 16, 32)
    linear_step = boundary_step(linear_fill(frames, masks, days), 16, 32)
    blend_step = boundary_step(blend_fill(frames, masks, days), 16, 32)
    assert linear_step > truth_step + 0.05 and abs(blend_step - truth_step) < 0.01


def test_blend_matches_contrast_locally_where_one_frame_fit_cannot():
    torch.manual_seed(0)
    size = 64
    ground = torch.rand(1, 1, 3, size, size) * 0.3 + 0.1  # texture: the same fields on every date
    frames = ground.expand(1, 3, 3, size, size).clone()
    frames[0, 1, :, :, :32] = 1.6 * ground[0, 0, :, :, :32] - 0.05  # this date's left half: more contrast
    frames[0, 1, :, :, 32:] = 0.7 * ground[0, 0, :, :, 32:] + 0.08  # its right half: less
    masks = torch.zeros(1, 3, 1, size, size, dtype=torch.bool)
    masks[0, 1, :, 28:36, 12:20] = True
    hole, days = masks.expand_as(frames), torch.tensor([[0.0, 5, 10]])
    affine_error = (affine_fill(frames, masks, days) - frames)[hole].abs().mean()
    blend_error = (blend_fill(frames, masks, days) - frames)[hole].abs().mean()
    assert affine_error > 0.05 and blend_error < 0.003  # a local offset alone left 0.03: the gain is local too

def test_broad_pass_carries_the_surroundings_colour_into_a_large_gap():
    torch.manual_seed(0)
    size = 96
    ground = torch.rand(1, 1, 3, size, size) * 0.3 + 0.1  # what the other dates predict
    frame = ground.clone()
    frame[..., :48] += 0.1  # on this date the left half is brighter, the right half darker
    frame[..., 48:] -= 0.05
    masks = torch.zeros(1, 1, 1, size, size, dtype=torch.bool)
    masks[..., 24:72, 4:44] = True  # a gap far wider than the near passes reach
    hole = masks.expand_as(frame)
    near_only = (local_colour_match(frame, ground, masks, scales=(3.0,)) - frame)[hole].abs().mean()
    broad_to_near = (local_colour_match(frame, ground, masks) - frame)[hole].abs().mean()
    assert near_only > 0.05 and broad_to_near < 0.025

def test_local_match_leaves_fully_hidden_frames_and_clear_pixels_alone():
    torch.manual_seed(1)
    frames, prediction = torch.rand(1, 3, 3, 32, 32), torch.rand(1, 3, 3, 32, 32)
    masks = torch.zeros(1, 3, 1, 32, 32, dtype=torch.bool)
    masks[0, 0] = True
    masks[0, 2, :, :8] = True
    blended = local_colour_match(frames, prediction, masks)
    assert torch.equal(blended[0, 0], prediction[0, 0])  # nothing visible: nothing to blend
    assert torch.equal(blended[:, 1:], local_colour_match(frames[:, 1:], prediction[:, 1:], masks[:, 1:]))  # the others as if alone
    assert not torch.allclose(blended[0, 2, :, :8], prediction[0, 2, :, :8])
    filled = blend_fill(frames, masks, torch.tensor([[0.0, 5, 10]]))
    assert torch.equal(filled[~masks.expand_as(frames)], frames[~masks.expand_as(frames)])


@given(clear=st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=20))
def test_neighbour_indices_are_the_nearest_clear_other_dates(clear):
    """(T, 6 pixels) clear flags -> for each date the last clear date before it and the first after it."""
    flags = torch.tensor(clear)[None, :, None, None, :]  # (1,T,1,1,6)
    previous, following = _neighbour_indices(flags)
    steps = len(clear)
    for step in range(steps):
        for pixel in range(6):
            before = [other for other in range(step) if clear[other][pixel]]
            after = [other for other in range(step + 1, steps) if clear[other][pixel]]
            assert previous[0, step, 0, 0, pixel] == (before[-1] if before else -1)
            assert following[0, step, 0, 0, pixel] == (after[0] if after else steps)


@pytest.mark.parametrize("sigma", [0.3, 0.75, 1.5, 4.0])
def test_blur_is_a_zero_padded_gaussian_of_three_sigma(sigma):
    from scipy import ndimage

    values = torch.rand(2, 3, 9, 40, dtype=torch.float64)
    expected = ndimage.gaussian_filter(values.numpy(), max(sigma, 0.5), mode="constant", cval=0.0, radius=max(1, int(3 * max(sigma, 0.5))), axes=(-2, -1))
    assert np.allclose(_blur(values, sigma).numpy(), expected, atol=1e-12)


def test_the_filler_inputs_share_one_pass_over_the_neighbouring_dates():
    """What the learned filler gets at once equals the blend and the neighbour observations computed apart."""
    torch.manual_seed(3)
    frames = torch.rand(2, 6, 3, 32, 32)
    masks = torch.rand(2, 6, 1, 32, 32) < 0.4
    masks[0, 2] = True  # one date hidden whole
    days = torch.tensor([[0.0, 5, 9, 30, 31, 50], [0.0, 1, 2, 3, 4, 5]])
    base, *observations = blended_estimate_and_observations(frames, masks, days)
    assert torch.equal(base, blended_estimate(frames, masks, days))
    for shared, apart in zip(observations, neighbour_observations(frames, masks, days)):
        assert torch.equal(shared, apart)


def test_a_batch_is_filled_as_each_sequence_alone():
    torch.manual_seed(4)
    ground = torch.rand(2, 1, 3, 32, 32) * 0.4 + 0.1
    frames = ground * torch.linspace(0.8, 1.3, 5).view(1, 5, 1, 1, 1) * torch.tensor([1.0, 0.7]).view(2, 1, 1, 1, 1)
    masks = torch.zeros(2, 5, 1, 32, 32, dtype=torch.bool)
    masks[0, 1, :, 4:20, 4:20] = masks[0, 2, :, 8:24, 8:24] = masks[1, 3, :, 10:30, 2:12] = True
    days = torch.tensor([[0.0, 10, 20, 30, 40], [0.0, 3, 50, 60, 61]])
    together = blend_fill(frames, masks, days)
    for index in range(2):
        alone = blend_fill(frames[index : index + 1], masks[index : index + 1], days[index : index + 1])
        assert torch.allclose(together[index : index + 1], alone, atol=1e-6)
