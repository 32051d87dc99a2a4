"""Classical temporal gap fillers: linear, nearest and affine (see ../shared/docs/MODELS.md).

They are comparison rows in every evaluation, and `affine` is also the starting point that the
learned filler corrects. All work on batched tensors:
frames (B,T,C,H,W) float in [0,1], masks (B,T,1,H,W) bool (True = replace), days (B,T) float.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

__all__ = ["ClassicalMethod", "CLASSICAL_FILLERS", "interpolate_from_other_dates", "colour_matched_fill", "linear_fill", "nearest_fill", "affine_fill"]

ClassicalMethod = Literal["linear", "nearest", "affine"]
_MIN_FIT_PIXELS = 64  # fewer clear pixels than this: the affine fit falls back to plain linear
# A frame that is mostly cloudy shows mostly cloud edges and haze as "clear": fitting a colour
# change to those turns the fill white, so such frames keep the plain linear fill.
MIN_FIT_FRACTION = 0.2


def _neighbour_indices(clear: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel, the index of the previous and next clear frame, excluding the frame itself.

    Missing neighbours are -1 (previous) and T (next).
    """
    steps = clear.shape[1]
    index = torch.arange(steps, device=clear.device).view(1, steps, 1, 1, 1).expand_as(clear)
    previous = torch.where(clear, index, torch.full_like(index, -1)).cummax(dim=1).values
    following = torch.where(clear, index, torch.full_like(index, steps)).flip(1).cummin(dim=1).values.flip(1)
    previous = torch.cat([torch.full_like(previous[:, :1], -1), previous[:, :-1]], dim=1)
    following = torch.cat([following[:, 1:], torch.full_like(following[:, :1], steps)], dim=1)
    return previous, following


def _gather_time(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B,T,C,H,W), index (B,T,1,H,W) -> values at those times, (B,T,C,H,W)."""
    steps = values.shape[1]
    safe = index.clamp(0, steps - 1).expand(-1, -1, values.shape[2], -1, -1)
    return values.gather(1, safe)


def interpolate_from_other_dates(
    frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor, *, nearest: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate every pixel from the clear observations of the *other* dates.

    Returns (estimate (B,T,C,H,W), has_estimate (B,T,1,H,W)). Linear in time between the
    previous and next clear date, the nearest one at the ends (or always, with nearest=True).
    """
    clear = ~masks
    previous, following = _neighbour_indices(clear)
    steps = frames.shape[1]
    has_previous, has_following = previous >= 0, following < steps
    day_grid = days.to(frames.dtype).view(*days.shape, 1, 1, 1).expand_as(masks).contiguous()
    day_previous = _gather_time(day_grid, previous)
    day_following = _gather_time(day_grid, following)
    span = (day_following - day_previous).clamp_min(1e-6)
    weight_following = ((day_grid - day_previous) / span).clamp(0, 1)
    if nearest:
        weight_following = (weight_following > 0.5).to(frames.dtype)
    weight_following = torch.where(has_previous, weight_following, torch.ones_like(weight_following))
    weight_following = torch.where(has_following, weight_following, torch.zeros_like(weight_following))
    estimate = (1 - weight_following) * _gather_time(frames, previous) + weight_following * _gather_time(frames, following)
    return estimate, has_previous | has_following


def linear_fill(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """Per pixel, linear interpolation in time between the neighbouring clear observations."""
    estimate, known = interpolate_from_other_dates(frames, masks, days)
    return torch.where(masks & known, estimate, frames)


def nearest_fill(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """Per pixel, the clear observation closest in time."""
    estimate, known = interpolate_from_other_dates(frames, masks, days, nearest=True)
    return torch.where(masks & known, estimate, frames)


def affine_fill(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """Linear fill, colour-matched per frame and channel to that frame's own clear pixels."""
    return colour_matched_fill(frames, masks, *interpolate_from_other_dates(frames, masks, days))


def colour_matched_fill(frames: torch.Tensor, masks: torch.Tensor, estimate: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill masked pixels with the other dates' estimate after a per-frame, per-channel affine match.

    The gain and offset are a least-squares fit of the frame's clear pixels against what the
    other dates predict there; frames with too few clear pixels keep the plain estimate.
    """
    fit_weight = ((~masks) & known).to(frames.dtype)  # (B,T,1,H,W)
    count = fit_weight.sum(dim=(-2, -1), keepdim=True)
    total = count.clamp_min(1)
    mean_x = (fit_weight * estimate).sum(dim=(-2, -1), keepdim=True) / total
    mean_y = (fit_weight * frames).sum(dim=(-2, -1), keepdim=True) / total
    centred_x = (estimate - mean_x) * fit_weight
    variance = (centred_x * (estimate - mean_x)).sum(dim=(-2, -1), keepdim=True) / total
    covariance = (centred_x * (frames - mean_y)).sum(dim=(-2, -1), keepdim=True) / total
    enough = count >= max(_MIN_FIT_PIXELS, MIN_FIT_FRACTION * masks.shape[-1] * masks.shape[-2])
    reliable = enough & (variance > 1e-6)
    gain = torch.where(reliable, covariance / variance.clamp_min(1e-6), torch.ones_like(variance)).clamp(0.5, 2.0)
    offset = torch.where(reliable, mean_y - gain * mean_x, torch.zeros_like(mean_y))
    matched = (gain * estimate + offset).clamp(0, 1)
    return torch.where(masks & known, matched, frames)


CLASSICAL_FILLERS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": linear_fill,
    "nearest": nearest_fill,
    "affine": affine_fill,
}
