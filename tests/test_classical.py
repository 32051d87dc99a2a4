"""The classical fillers: exact on signals they model, never touching clear pixels."""

from __future__ import annotations

import torch

from clear_vision.classical import affine_fill, interpolate_from_other_dates, linear_fill, nearest_fill


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


def test_clear_pixels_are_untouched_and_never_seen_pixels_kept():
    frames = torch.rand(2, 6, 3, 16, 16)
    masks = torch.rand(2, 6, 1, 16, 16) > 0.6
    masks[:, :, :, 0, 0] = True  # cloudy on every date
    days = torch.arange(6.0).repeat(2, 1) * 5
    for fill in (linear_fill, nearest_fill, affine_fill):
        filled = fill(frames, masks, days)
        assert torch.equal(filled[~masks.expand_as(frames)], frames[~masks.expand_as(frames)])
        assert torch.equal(filled[:, :, :, 0, 0], frames[:, :, :, 0, 0])
    _, known = interpolate_from_other_dates(frames, masks, days)
    assert not known[:, :, :, 0, 0].any()
