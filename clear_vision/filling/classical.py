"""Classical temporal gap fillers: linear, nearest, affine, whittaker and blend (see ../shared/docs/MODELS.md).

They are comparison rows in every evaluation; the per-frame and local colour matches here
also build the base that the learned filler corrects. All work on batched tensors:
frames (B,T,C,H,W) float in [0,1], masks (B,T,1,H,W) bool (True = replace), days (B,T) float.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, TypeVar

import numpy as np
import torch
from torch.nn import functional as F

__all__ = [
    "CLASSICAL_FILLERS",
    "interpolate_from_other_dates",
    "whittaker_smooth",
    "hazy_frames",
    "looks_hazy",
    "affine_estimate",
    "colour_matrix_estimate",
    "colour_matched_fill",
    "local_colour_match",
    "neighbour_observations",
    "blended_estimate",
    "blended_estimate_and_observations",
    "blend_fill",
    "linear_fill",
    "nearest_fill",
    "affine_fill",
    "whittaker_fill",
]

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)
_MIN_FIT_PIXELS = 64  # fewer clear pixels than this: the affine fit falls back to plain linear
# A frame whose clear part is under this share keeps the plain linear fill. A few clear pixels
# already fix a hidden date's colour, the largest error of a fill (see the model card); the haze
# guard and bounds below, not this share, keep cloud edges from painting the fill white. 0.05:
# on the training sites' frames 80..99 % hidden it never did worse than 0.2.
MIN_FIT_FRACTION = 0.05


def _neighbour_indices(clear: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel, the index of the previous and next clear frame, excluding the frame itself.

    Missing neighbours are -1 (previous) and T (next). One pass each way over the T frames: 8x
    faster than cumulative max/min along the time axis on 10x640x640 (0.026 against 0.215 s).
    """
    steps = clear.shape[1]
    previous = torch.empty(clear.shape, dtype=torch.int64, device=clear.device)
    following = torch.empty_like(previous)
    latest = torch.full_like(previous[:, 0], -1)
    for step in range(steps):
        previous[:, step] = latest
        latest = torch.where(clear[:, step], step, latest)
    latest = torch.full_like(following[:, 0], steps)
    for step in reversed(range(steps)):
        following[:, step] = latest
        latest = torch.where(clear[:, step], step, latest)
    return previous, following


def _gather_time(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B,T,C,H,W), index (B,T,1,H,W) -> values at those times, (B,T,C,H,W)."""
    steps = values.shape[1]
    safe = index.clamp(0, steps - 1).expand(-1, -1, values.shape[2], -1, -1)
    return values.gather(1, safe)


class _Neighbours(NamedTuple):
    """Per pixel (B,T,1,H,W): the previous and next clear date of the *other* dates (`_neighbour_indices`) and their days."""

    previous: torch.Tensor  # -1 where there is none
    following: torch.Tensor  # T where there is none
    has_previous: torch.Tensor
    has_following: torch.Tensor
    day: torch.Tensor  # the frame's own day
    day_previous: torch.Tensor  # the previous date's day; where there is none, the first date's
    day_following: torch.Tensor  # likewise, the last date's


def _neighbours(masks: torch.Tensor, days: torch.Tensor) -> _Neighbours:
    previous, following = _neighbour_indices(~masks)
    day = days.to(torch.float32).view(*days.shape, 1, 1, 1).expand_as(masks).contiguous()
    steps = masks.shape[1]
    return _Neighbours(previous, following, previous >= 0, following < steps, day, _gather_time(day, previous), _gather_time(day, following))


def _interpolation(neighbours: _Neighbours, nearest: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight of the following date (B,T,1,H,W), has_estimate): how `interpolate_from_other_dates`
    combines each pixel's neighbouring clear observations."""
    span = (neighbours.day_following - neighbours.day_previous).clamp_min(1e-6)
    weight_following = ((neighbours.day - neighbours.day_previous) / span).clamp(0, 1)
    if nearest:
        weight_following = (weight_following > 0.5).to(weight_following.dtype)
    weight_following = torch.where(neighbours.has_previous, weight_following, torch.ones_like(weight_following))
    weight_following = torch.where(neighbours.has_following, weight_following, torch.zeros_like(weight_following))
    return weight_following, neighbours.has_previous | neighbours.has_following


def interpolate_from_other_dates(
    frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor, *, nearest: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate every pixel from the clear observations of the *other* dates.

    Returns (estimate (B,T,C,H,W), has_estimate (B,T,1,H,W)). Linear in time between the
    previous and next clear date, the nearest one at the ends (or always, with nearest=True).
    """
    neighbours = _neighbours(masks, days)
    weight_following, known = _interpolation(neighbours, nearest)
    return _between(_gather_time(frames, neighbours.previous), _gather_time(frames, neighbours.following), weight_following), known


def _between(before: torch.Tensor, after: torch.Tensor, weight_following: torch.Tensor) -> torch.Tensor:
    """The previous and next observations weighted by `_interpolation`'s weight of the following date."""
    weight_following = weight_following.to(before.dtype)
    return (1 - weight_following) * before + weight_following * after


def _source_matched_estimate(frames: torch.Tensor, masks: torch.Tensor, neighbours: _Neighbours, before: torch.Tensor, after: torch.Tensor, weight_following: torch.Tensor) -> torch.Tensor:
    """The linear estimate (`_between`) with each pixel's previous and next clear observation
    (`before`, `after`, from the `neighbours` dates) first taken through the colour matrix of its own date onto the frame.

    One colour match per frame cannot serve pixels whose fills come from different dates: where
    the next date is also cloudy, a pixel's fill comes from a date further away, perhaps another
    season (green summer leaves filled into a brown autumn frame around them). So each pair of
    dates gets its own bounded colour matrix (`_colour_matrices`), fitted on the pixels clear
    on both; a pair with too few of them (`_fit_pixels`' rule) keeps the observation as it is.
    Only frames with masked pixels are matched: nothing of the others is filled.
    """
    b, steps, channels, height, width = frames.shape
    pixels = height * width
    estimate = _between(before, after, weight_following)
    used = torch.zeros(b, steps, steps + 2, dtype=torch.bool, device=frames.device)  # (frame, source date + 1)
    for dates in (neighbours.previous, neighbours.following):
        used.scatter_(2, dates.flatten(2) + 1, True)
    clear = ~masks
    needed = max(_MIN_FIT_PIXELS, MIN_FIT_FRACTION * pixels)
    enough_clear = clear.flatten(2).sum(dim=2) >= needed  # (B,T): a pair has no more clear pixels than either date
    used = used[..., 1:-1] & (masks.flatten(2).any(dim=2) & enough_clear)[..., None] & enough_clear[:, None, :]
    batch, step, source = used.nonzero(as_tuple=True)  # every pair fitted at once: one call per tile
    if not len(batch):
        return estimate
    # per (batch item, date) rows: index_select and index_add_ are several times faster than advanced indexing
    frame_rows, source_rows = batch * steps + step, batch * steps + source
    clear_rows = clear.flatten(0, 1)
    fit_weight = (clear_rows.index_select(0, frame_rows) & clear_rows.index_select(0, source_rows)).to(frames.dtype)[None]  # (1,N,1,H,W)
    count = fit_weight.sum(dim=(-2, -1), keepdim=True)
    sources = _design(frames)  # (B*T,C+1,P)
    matrices = _colour_matrices(sources.index_select(0, source_rows), frames.flatten(0, 1).index_select(0, frame_rows)[None], fit_weight, count)
    # a pair adds its weight in the estimate times what its matrix changes: pairs that keep the
    # observation add nothing, and no frame x date stack of the matched observations is built
    change = matrices - torch.eye(channels + 1, channels, dtype=frames.dtype, device=frames.device)
    fitted = (count >= needed).flatten()
    follows, previous, following = (values.flatten(0, 1).flatten(1) for values in (weight_following.to(frames.dtype), neighbours.previous, neighbours.following))
    for date in source[fitted].unique().tolist():  # one source date at a time: bounded memory
        pair = fitted & (source == date)
        rows = frame_rows[pair]
        weight = torch.where(previous.index_select(0, rows) == date, 1 - follows.index_select(0, rows), 0.0)
        weight = torch.where(following.index_select(0, rows) == date, weight + follows.index_select(0, rows), weight)  # (N,P)
        added = change[pair].transpose(-1, -2) @ sources.index_select(0, source_rows[pair])  # (N,C,P)
        estimate.view(b * steps, channels, pixels).index_add_(0, rows, weight[:, None] * added)
    return estimate


def neighbour_observations(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per pixel, the previous and next clear observation of the other dates and their distance in days.

    Returns (previous (B,T,C,H,W), following, days_to_previous (B,T,1,H,W), days_to_following);
    a missing side takes the other side's observation and a distance of 1000 days.
    """
    neighbours = _neighbours(masks, days)
    return _observations_around(frames, neighbours, _gather_time(frames, neighbours.previous), _gather_time(frames, neighbours.following))


def _observations_around(frames: torch.Tensor, neighbours: _Neighbours, before: torch.Tensor, after: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`neighbour_observations` from the neighbouring dates and their observations (`before`, `after`) already gathered."""
    far = torch.full_like(neighbours.day, 1000.0)
    to_previous = torch.where(neighbours.has_previous, neighbours.day - neighbours.day_previous, far)
    to_following = torch.where(neighbours.has_following, neighbours.day_following - neighbours.day, far)
    before_filled = torch.where(neighbours.has_previous, before, torch.where(neighbours.has_following, after, frames))
    after_filled = torch.where(neighbours.has_following, after, before_filled)
    return before_filled, after_filled, to_previous.to(frames.dtype), to_following.to(frames.dtype)


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


# Whittaker smoother: days are measured in units of 10 days, so the smoothing weight reads as
# "how much a change over ~10 days costs"; order and weight chosen on the training sites.
WHITTAKER_DAY_UNIT = 10.0
WHITTAKER_ORDER = 1  # second differences overshoot on 5..10 uneven dates (-1..-3 dB on the training sites)
WHITTAKER_SMOOTHING = 1.0


def _difference_matrix(days: torch.Tensor, order: int) -> torch.Tensor:
    """(B,T) days -> (B,T-order,T) first or second divided differences on the uneven dates."""
    b, steps = days.shape
    t = days.to(torch.float64) / WHITTAKER_DAY_UNIT
    rows = torch.arange(steps - order, device=days.device)
    matrix = torch.zeros(b, steps - order, steps, dtype=torch.float64, device=days.device)
    if order == 1:
        h = (t[:, 1:] - t[:, :-1]).clamp_min(1e-3)
        matrix[:, rows, rows], matrix[:, rows, rows + 1] = -1 / h, 1 / h
        return matrix
    h1 = (t[:, 1:-1] - t[:, :-2]).clamp_min(1e-3)
    h2 = (t[:, 2:] - t[:, 1:-1]).clamp_min(1e-3)
    matrix[:, rows, rows] = 2 / (h1 * (h1 + h2))
    matrix[:, rows, rows + 1] = -2 / (h1 * h2)
    matrix[:, rows, rows + 2] = 2 / (h2 * (h1 + h2))
    return matrix


def whittaker_smooth(
    frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor, smoothing: float | None = None, order: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel, the Whittaker smoother z = argmin sum w (y - z)^2 + smoothing * |D z|^2.

    w is 1 on clear observations and 0 under the mask; D holds divided differences of
    `order` (1 or 2) on the real, uneven dates. Returns (smoothed (B,T,C,H,W) at every date,
    has_clear_date (B,T,1,H,W)).
    """
    smoothing = WHITTAKER_SMOOTHING if smoothing is None else smoothing
    order = min(WHITTAKER_ORDER if order is None else order, frames.shape[1] - 1)
    known = (~masks).any(dim=1, keepdim=True).expand_as(masks)
    weight = (~masks[:, :, 0]).permute(0, 2, 3, 1).to(torch.float64)  # (B,H,W,T)
    system = torch.diag_embed(weight + 1e-6)  # tiny ridge: pixels with too few clear dates stay solvable
    if order >= 1:
        difference = _difference_matrix(days, order)
        system = system + (smoothing * difference.transpose(1, 2) @ difference)[:, None, None]
    values = frames.permute(0, 3, 4, 1, 2).to(torch.float64)  # (B,H,W,T,C)
    smoothed = torch.linalg.solve(system, weight[..., None] * values)
    return smoothed.to(frames.dtype).permute(0, 3, 4, 1, 2).clamp(0, 1), known


def whittaker_fill(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """Masked pixels from the Whittaker smoother weighted by the clear mask (clear pixels kept)."""
    smoothed, known = whittaker_smooth(frames, masks, days)
    return torch.where(masks & known, smoothed, frames)


# The learned filler's colour match is bounded, so that one frame's fit can never paint the
# fill white, and skips frames whose visible part is itself hazy: blue brighter than the other
# dates predict by this much (and no less in blue than in red: haze is grey-blue, ripening or
# bare soil reddens) means the frame shows haze, and the fill keeps the other dates' colours.
# It fits every pixel outside the mask: `run` masks already carry a 2-pixel buffer around
# detected clouds (an extra 1-pixel margin cost 0.05..0.4 dB on the training sites).
MAX_OFFSET = 0.3
HAZE_BLUE_RISE = 0.06
GAIN_BOUNDS = (0.5, 2.0)


def _fit_pixels(masks: torch.Tensor, known: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weight (B,T,1,H,W) of the clear pixels a colour match is fitted on, their count (B,T,1,1,1), enough of them to fit)."""
    fit_weight = ((~masks) & known).to(dtype)
    count = fit_weight.sum(dim=(-2, -1), keepdim=True)
    return fit_weight, count, count >= max(_MIN_FIT_PIXELS, MIN_FIT_FRACTION * masks.shape[-1] * masks.shape[-2])


def looks_hazy(blue_rise: ArrayLike, red_rise: ArrayLike) -> ArrayLike:
    """The haze test on clear pixels' mean rise over what the other dates predict (arrays or tensors):
    brighter in blue by HAZE_BLUE_RISE, and no less in blue than in red."""
    return (blue_rise > HAZE_BLUE_RISE) & (blue_rise >= red_rise)


def hazy_frames(frames: torch.Tensor, masks: torch.Tensor, estimate: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """(B,T,1,1,1) bool: frames whose clear pixels look hazy (`looks_hazy`) against the other dates' estimate."""
    weight, count, _ = _fit_pixels(masks, known, frames.dtype)
    rise = (weight * (frames - estimate)).sum(dim=(-2, -1), keepdim=True) / count.clamp_min(1)
    return looks_hazy(rise[:, :, 2:3], rise[:, :, 0:1])


# The blend's colour match (the learned filler's base) fits a 3x3 colour matrix and an offset,
# not one gain per channel: a date's colours move together (green leaves turning brown lower
# green and raise red), which per-channel gains cannot follow. A ridge, relative to the fit's
# pixel count, pulls the matrix towards the identity; chosen on the training sites' gap
# sequences (see the model card).
COLOUR_RIDGE = 1e-3
GREY_GAIN_BOUNDS = (0.0, 3.0)  # a channel's response to a grey change: never inverted, at most tripled


def _design(values: torch.Tensor) -> torch.Tensor:
    """(B,T,C,H,W) -> (B*T,C+1,P): each pixel's values and a 1, the rows a colour matrix multiplies."""
    return torch.cat([values, torch.ones_like(values[:, :, :1])], dim=2).flatten(3).flatten(0, 1)


def _colour_matrices(design: torch.Tensor, frames: torch.Tensor, fit_weight: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Per frame the (C+1,C) matrix M = argmin sum w |design M - frame|^2 + ridge |M - I|^2 (the
    offset row unpenalised), with each channel's gain on grey (its column sum) and offset bounded."""
    channels = frames.shape[2]
    weighted = design * fit_weight.flatten(3).flatten(0, 1)
    normal = (weighted @ design.transpose(1, 2)).double()
    target = (weighted @ frames.flatten(3).flatten(0, 1).transpose(1, 2)).double()
    penalty = torch.ones(channels + 1, dtype=torch.float64, device=frames.device)
    penalty[-1] = 0.0
    ridge = torch.diag(penalty) * COLOUR_RIDGE * count.flatten(0, 1).view(-1, 1, 1).double()
    ridge = ridge + 1e-9 * torch.eye(channels + 1, dtype=torch.float64, device=frames.device)  # solvable with no pixels
    identity = torch.eye(channels + 1, channels, dtype=torch.float64, device=frames.device)
    matrix = torch.linalg.solve(normal + ridge, target + ridge @ identity).to(frames.dtype)
    coefficients = matrix[:, :channels]
    grey_gain = coefficients.sum(dim=1, keepdim=True)  # each output channel's gain on a grey change
    coefficients = coefficients * grey_gain.clamp(*GREY_GAIN_BOUNDS) / grey_gain.where(grey_gain.abs() > 1e-6, torch.ones_like(grey_gain))
    pixels = count.flatten(0, 1).view(-1, 1, 1).clamp_min(1).double()
    mean_estimate, mean_frame = (normal[:, -1:, :channels] / pixels).to(frames.dtype), (target[:, -1:] / pixels).to(frames.dtype)
    offset = (mean_frame - mean_estimate @ coefficients).clamp(-MAX_OFFSET, MAX_OFFSET)  # refitted: the bounded gains keep the fitted mean
    return torch.cat([coefficients, offset], dim=1)


def _colour_matrix_match(frames: torch.Tensor, estimate: torch.Tensor, fit_weight: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The estimate through each frame's bounded colour matrix (`_colour_matrices`)."""
    design = _design(estimate)
    return (_colour_matrices(design, frames, fit_weight, count).transpose(1, 2) @ design).view(frames.shape)


def affine_estimate(frames: torch.Tensor, masks: torch.Tensor, estimate: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """MODELS.md's `affine` colour match of the other dates' estimate, at every pixel: per frame and
    channel a gain and offset, a least-squares fit of the frame's clear pixels against what the
    other dates predict there; frames with too few clear pixels keep the plain estimate."""
    fit_weight, count, enough = _fit_pixels(masks, known, frames.dtype)
    total = count.clamp_min(1)
    mean_x = (fit_weight * estimate).sum(dim=(-2, -1), keepdim=True) / total
    mean_y = (fit_weight * frames).sum(dim=(-2, -1), keepdim=True) / total
    centred_x = (estimate - mean_x) * fit_weight
    variance = (centred_x * (estimate - mean_x)).sum(dim=(-2, -1), keepdim=True) / total
    covariance = (centred_x * (frames - mean_y)).sum(dim=(-2, -1), keepdim=True) / total
    reliable = enough & (variance > 1e-6)
    gain = torch.where(reliable, covariance / variance.clamp_min(1e-6), torch.ones_like(variance)).clamp(*GAIN_BOUNDS)
    offset = torch.where(reliable, mean_y - gain * mean_x, torch.zeros_like(mean_y))
    return (gain * estimate + offset).clamp(0, 1)


def colour_matrix_estimate(frames: torch.Tensor, masks: torch.Tensor, estimate: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """The other dates' estimate at every pixel through each frame's bounded colour matrix and
    offset (`_colour_matrix_match`); frames with too few clear pixels keep the plain estimate."""
    fit_weight, count, enough = _fit_pixels(masks, known, frames.dtype)
    return torch.where(enough, _colour_matrix_match(frames, estimate, fit_weight, count), estimate).clamp(0, 1)


def colour_matched_fill(frames: torch.Tensor, masks: torch.Tensor, estimate: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Masked pixels from MODELS.md's affine colour match of the other dates' estimate; clear pixels kept."""
    return torch.where(masks & known, affine_estimate(frames, masks, estimate, known), frames)


def _gaussian_operator(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """(size,size) matrix of a 1-D Gaussian blur with zero padding: row i weights the pixels within
    3 sigma of i by the kernel normalised over its full width (missing pixels beyond the edge count as 0)."""
    sigma = max(sigma, 0.5)
    radius = max(1, int(3 * sigma))
    total = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device) / sigma) ** 2).sum()
    positions = torch.arange(size, dtype=like.dtype, device=like.device)
    offsets = positions[None, :] - positions[:, None]
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2) / total
    return torch.where(offsets.abs() <= radius, weights, torch.zeros_like(weights))


def _blur(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N,C,H,W) with zero padding; sigma in pixels of `values`.

    As two matrix products (rows, then columns): on the local match's coarse grids they are
    several times faster on a CPU than depthwise convolutions with long kernels.
    """
    height, width = values.shape[-2:]
    return _gaussian_operator(height, sigma, values) @ values @ _gaussian_operator(width, sigma, values).T


# The local colour match, coarse to fine: how far each pass reaches into a filled area (Gaussian
# sigma in pixels) and how strongly a local gain is pulled back to 1 (a variance, in [0,1] units
# squared). Chosen on the training sites' gap sequences (see the model card): a local gain and
# offset beat the local offset alone, and three passes beat any single reach.
LOCAL_SCALES_PX = (16.0, 6.0, 3.0)
LOCAL_GAIN_SHRINK = 3e-4
LOCAL_SUPPORT = 0.25  # visible share of the neighbourhood at which a pass applies fully


def local_colour_match(frames: torch.Tensor, prediction: torch.Tensor, masks: torch.Tensor, scales: tuple[float, ...] = LOCAL_SCALES_PX) -> torch.Tensor:
    """Blend a fill into its frame: a gain and offset fitted on the visible pixels around it.

    A guided filter with masked weights: normalised Gaussian convolutions give, around every
    pixel, the visible pixels' means and (co)variances of prediction and frame, hence a local
    gain (bounded, shrunk towards 1 by LOCAL_GAIN_SHRINK) and offset, carried into the masked
    area and fading where few visible pixels are near. Passes go from broad to near (`scales`):
    the broad one sets a large gap's colour from its surroundings, the near ones make the fill
    meet the frame without a step. Everything is computed on a quarter-resolution grid, the
    gain and offset held constant within a cell (a fast guided filter), and applied at full
    resolution once. `prediction` must be the estimate at every pixel (not composed with the
    frame). Where nothing is visible (whole frame hidden) it is unchanged.
    """
    channels, (height, width) = frames.shape[2], frames.shape[-2:]
    seen = (~masks).flatten(0, 1).flatten(1).any(dim=1)  # frames hidden whole stay as they are: skipped
    if not seen.any():
        return prediction
    weight = (~masks).to(frames.dtype).flatten(0, 1)[seen]  # (N,1,H,W)
    x, y = prediction.flatten(0, 1)[seen], frames.flatten(0, 1)[seen]
    factor = 4 if min(height, width) >= 16 else 1
    pool = (lambda values: F.avg_pool2d(values, factor, ceil_mode=True)) if factor > 1 else (lambda values: values)
    sums = torch.cat([pool(part) for part in (weight * x, weight * y, weight * x * x, weight * x * y, weight)], dim=1)
    sum_x, sum_y, sum_xx, sum_xy = sums[:, : 4 * channels].split(channels, dim=1)
    sum_w = sums[:, 4 * channels :]
    gain_so_far, offset_so_far = torch.ones_like(sum_x), torch.zeros_like(sum_x)  # the prediction so far: gain * x + offset
    for sigma in scales:
        a, b = gain_so_far, offset_so_far
        moments = torch.cat([a * sum_x + b * sum_w, sum_y, a * a * sum_xx + 2 * a * b * sum_x + b * b * sum_w, a * sum_xy + b * sum_y, sum_w], dim=1)
        moments = _blur(moments, sigma / factor)
        reach = moments[:, 4 * channels :]
        mean_p, mean_y, mean_pp, mean_py = (part / reach.clamp_min(1e-6) for part in moments[:, : 4 * channels].split(channels, dim=1))
        variance, covariance = (mean_pp - mean_p * mean_p).clamp_min(0), mean_py - mean_p * mean_y
        gain = ((covariance + LOCAL_GAIN_SHRINK) / (variance + LOCAL_GAIN_SHRINK)).clamp(*GAIN_BOUNDS)
        fade = (reach / LOCAL_SUPPORT).clamp(max=1.0)
        step_gain, step_offset = 1 + fade * (gain - 1), fade * (mean_y - gain * mean_p)
        gain_so_far, offset_so_far = step_gain * a, step_gain * b + step_offset
    fit = torch.cat([gain_so_far, offset_so_far], dim=1)
    if factor > 1:
        fit = F.interpolate(fit, scale_factor=factor, mode="bilinear", align_corners=False)[..., :height, :width]
    gain, offset = fit.split(channels, dim=1)
    matched = prediction.flatten(0, 1).clone()
    matched[seen] = (gain * x + offset).clamp(0, 1)
    return matched.view_as(prediction)


def _blend(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor, observations: bool = False) -> tuple[torch.Tensor, ...]:
    """(`blended_estimate`, has_estimate), and with `observations` what `neighbour_observations`
    gives, from the same neighbouring dates (the learned filler needs both)."""
    neighbours = _neighbours(masks, days)
    weight_following, known = _interpolation(neighbours)
    before, after = _gather_time(frames, neighbours.previous), _gather_time(frames, neighbours.following)
    estimate = _between(before, after, weight_following)
    hazy = hazy_frames(frames, masks, estimate, known)
    if not hazy.all():
        matched_sources = _source_matched_estimate(frames, masks, neighbours, before, after, weight_following)
        estimate = torch.where(hazy, estimate.clamp(0, 1), colour_matrix_estimate(frames, masks, matched_sources, known))
    matched = torch.where(known, estimate.clamp(0, 1), frames)
    blended = torch.where(hazy, matched, local_colour_match(frames, matched, masks))
    return (blended, known, *_observations_around(frames, neighbours, before, after)) if observations else (blended, known)


def blended_estimate(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """The other dates' estimate, each observation colour-matched from its date to the frame and
    the whole through the frame's colour matrix, then blended into the frame locally.

    A frame whose visible part is hazy is neither matched nor blended: its haze must not reach
    the filled pixels (the haze test compares it with the plain estimate).
    """
    return _blend(frames, masks, days)[0]


def blended_estimate_and_observations(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(`blended_estimate`, *`neighbour_observations`), computed from the neighbouring dates once."""
    blended, _, *observations = _blend(frames, masks, days, observations=True)
    return (blended, *observations)


def blend_fill(frames: torch.Tensor, masks: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """The other dates' fill colour-matched per date and frame and blended into the frame's own visible pixels around the gap (`local_colour_match`)."""
    estimate, known = _blend(frames, masks, days)
    return torch.where(masks & known, estimate, frames)


CLASSICAL_FILLERS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": linear_fill,
    "nearest": nearest_fill,
    "affine": affine_fill,
    "whittaker": whittaker_fill,
    "blend": blend_fill,
}
