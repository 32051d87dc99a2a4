"""Each frame's clear reference: what the same place looks like on the other dates.

A single frame cannot tell thin haze from a bright field or a shadow from dark forest; a time
series can, because the ground stays and clouds come and go. For frame t the reference is the
per-pixel median of up to `neighbours` other frames nearest in time, leaving out their no-data
pixels and, unless every other date is white there, those a cheap first pass (the whiteness
test) calls thick cloud. Where no other frame has data the reference is marked invalid and
stage 1 rests on the frame alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import ndimage

from ..io.decode import no_data_pixels

if TYPE_CHECKING:
    from ..config import Preprocessing

__all__ = ["NEIGHBOURS", "whiteness_test", "temporal_reference", "shows_one_place", "detector_inputs", "spread_into_no_data"]

NEIGHBOURS = 8  # other dates per reference: enough for a robust median, bounded cost on long series
_STRIP_VALUES = 1 << 23  # gathered values per strip of rows (32 MB of float32)


def whiteness_test(frames: np.ndarray, brightness: float = 0.6, whiteness: float = 0.3) -> np.ndarray:
    """The classic thick-cloud test on 8-bit RGB: bright and nearly grey. (...,3) -> (...) bool.

    On its own it is the anchor every detector must beat (BENCHMARK.md); it also keeps thick
    cloud out of the references.
    """
    red, green, blue = (frames[..., channel] for channel in range(3))  # elementwise over channels: reductions over an axis of 3 are slow
    total = red.astype(np.int16) + green + blue
    spread = (np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)).astype(np.int16) * 3
    # mean > brightness and (max - min) / mean < whiteness, compared in float32
    return (total > np.float32(brightness * 3 * 255)) & (spread < np.float32(whiteness) * total)


def _sorting_network(size: int) -> list[tuple[int, int]]:
    """Compare-exchange pairs of Batcher's odd-even merge sort for `size` values (a power of two)."""
    pairs = []
    run = 1
    while run < size:
        step = run
        while step >= 1:
            for start in range(step % run, size - step, 2 * step):
                for offset in range(min(step, size - start - step)):
                    first, second = start + offset, start + offset + step
                    if first // (2 * run) == second // (2 * run):
                        pairs.append((first, second))
            step //= 2
        run *= 2
    return pairs


_MISSING = torch.iinfo(torch.int16).max  # an observation left out: sorts after every 8-bit level
_WHITE_FLAG = 256  # added to a white (thick-cloud) observation: it sorts after every other level


def _lower_median(values: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Per row of `chosen` (N,K indices into the dates of `values`): the lower median of those
    dates' values below _WHITE_FLAG, else (all of them flagged white) of their flagged values, the
    flag removed; `_MISSING` where no date has a value. (T,...,C) int16 8-bit levels, white ones
    + _WHITE_FLAG, no data `_MISSING`, each flag on every channel of a pixel -> (N,...,C) int16.

    What torch.nanmedian(values[chosen], dim=1) gives on floats with NaN for missing (and for
    white, where any other date is not white), several times faster on a CPU: a sorting network
    of elementwise min/max over the K dates, in 16-bit integers, without building the (N,K,...)
    stack. One sort serves both medians: the flag puts white values after all others.
    """
    dates = [values.index_select(0, chosen[:, slot]) for slot in range(chosen.shape[1])]  # a copy per slot; 10x faster than values[...]
    size = 1 << (len(dates) - 1).bit_length()
    for first, second in _sorting_network(size):
        if second < len(dates):  # the absent slots would be _MISSING: exchanges with them change nothing
            dates[first], dates[second] = torch.minimum(dates[first], dates[second]), torch.maximum(dates[first], dates[second])
    # Ascending: the values that are not white come first, then the white ones, then the missing.
    # Counted and picked by shifts, clamps and sums only (torch's int16 comparisons and `where`
    # are 5..20x slower on a CPU), counted per pixel (a date's channels share their flags): a
    # level >> 8 is 0 (not white), 1 (white) or 127 (missing); >> 14 is 1 only for _MISSING.
    flags, bits = values[..., 0], chosen.shape[1].bit_length()  # a count of up to K dates fits in `bits` bits
    tally = (1 - (flags >> 8).clamp(max=1)) + (1 - (flags >> 14)) * (1 << bits)  # dates not white, and above them dates with data
    tally = sum(tally.index_select(0, chosen[:, slot]) for slot in range(chosen.shape[1]))
    count, present = tally & ((1 << bits) - 1), tally >> bits
    count = count + (1 - count.clamp(max=1)) * present  # all of them white: the white ones' median
    middle = (count - 1).clamp(min=0) >> 1  # with no observation, slot 0 holds _MISSING
    middle = torch.stack([middle] * values.shape[-1], dim=-1)  # on every channel: broadcasting over the last axis is 10x slower
    median = dates[0]
    for slot in range(1, (len(dates) + 1) // 2):  # sorted, so dates[middle] = dates[0] + the steps up to it
        median = median + (middle - (slot - 1)).clamp(0, 1) * (dates[slot] - dates[slot - 1])
    white = (median >> 8).clamp(max=1) - (median >> 14)
    return median - white * _WHITE_FLAG


def _neighbours(steps: int, days: np.ndarray, count: int) -> np.ndarray:
    """(T, min(T-1, count)): per frame the other frames nearest in time (ties: earlier first), in time order."""
    chosen = []
    for index in range(steps):
        others = np.array([other for other in range(steps) if other != index], dtype=np.int64)
        order = np.argsort(np.abs(days[others] - days[index]), kind="stable")
        chosen.append(np.sort(others[order[:count]]))
    return np.array(chosen, dtype=np.int64).reshape(steps, min(max(steps - 1, 0), count))


def temporal_reference(
    frames: np.ndarray,
    days: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    neighbours: int = NEIGHBOURS,
    white: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """References for the frames `indices` (default: all) of a (T,H,W,3) uint8 series.

    Returns (reference (N,H,W,3) uint8, valid (N,H,W) bool). Works for any T >= 1 (T = 1: no
    reference anywhere) and when most frames are cloudy: thick-cloud pixels of the other dates
    are left out while one of them is not, so a single clear date suffices; where all of them
    are white the reference is that white (a bright surface that stays is ground, not cloud).
    Only no-data pixels never count. Computed in strips of rows, so memory stays bounded on
    large frames. `white`: the frames' whiteness test, if the caller already has it.
    """
    steps, height, width = frames.shape[:3]
    days = np.arange(steps, dtype=np.float64) if days is None else np.asarray(days, dtype=np.float64)
    indices = np.arange(steps) if indices is None else np.asarray(indices)
    chosen = torch.from_numpy(_neighbours(steps, days, neighbours)[indices])  # (N,K)
    references = np.zeros((len(indices), height, width, 3), dtype=np.uint8)
    valid = np.zeros((len(indices), height, width), dtype=bool)
    if chosen.shape[1] == 0:
        return references, valid
    rows = max(1, _STRIP_VALUES // (chosen.numel() * width * 3))
    for top in range(0, height, rows):
        strip = frames[:, top : top + rows]
        observed = torch.from_numpy(np.ascontiguousarray(strip)).to(torch.int16)
        strip_white = whiteness_test(strip) if white is None else white[:, top : top + rows]
        observed += torch.from_numpy(np.ascontiguousarray(strip_white))[..., None].to(torch.int16) * _WHITE_FLAG
        no_data = no_data_pixels(strip)
        if no_data.any():
            observed[torch.from_numpy(no_data)] = _MISSING
        # (N,rows,W,3): the lower median of the other dates that are not white; where all of them
        # are, of the white ones (snow and sand stay: the reference shows them)
        median = _lower_median(observed, chosen)
        missing = median >> 14  # 1 where no other date has data (_MISSING), else 0
        valid[:, top : top + rows] = (missing[..., 0] == 0).numpy()
        references[:, top : top + rows] = (median * (1 - missing)).to(torch.uint8).numpy()
    return references, valid


# `shows_one_place`: frames given together are taken for unrelated images (a scene's tiles) only
# when at least RELATED_MIN_FRAMES of them show enough ground to compare (_MIN_COMPARED_PIXELS:
# fewer, chance correlations reach the threshold; a tile 97 % white gave 0.16 on 422 pixels) and
# none of those correlates with its reference by RELATED_MIN_CORRELATION. On the training data,
# a scene's 128 px tiles, 10 at a time, reached 0.09 at most (139 tiles of six scenes together
# 0.05); consecutive dates of every training series 0.15 at least, 0.85..0.99 where dates are
# clear, and none of their 882 windows of 8, 10 and 16 dates (all dates, 445; clear frames
# alone, 437) was taken for unrelated images.
# Fewer frames overlap (2 dates of a series: -0.08 when one is overcast; 2 tiles: up to 0.21),
# so they stay a series.
RELATED_MIN_FRAMES = 8
RELATED_MIN_CORRELATION = 0.1
_FINE_STRUCTURE_PX = 7  # the box a frame's local mean is taken over: what is left is fine structure
_MIN_COMPARED_PIXELS = 1600
# A frame with less fine structure than this (standard deviation, of 255) cannot tell: its
# structure is noise, which no other date repeats (smooth synthetic fields, water, a veil of
# haze). Real training frames have 2.5..18 (10th to 90th percentile per series or scene).
_MIN_FINE_STRUCTURE = 2.0


def shows_one_place(frames: np.ndarray, references: np.ndarray, valid: np.ndarray, white: np.ndarray, reference_white: np.ndarray | None = None) -> bool:
    """Whether (T,H,W,3) uint8 frames given together look like one place's time series, judged by
    their references (`temporal_reference`) and thick-cloud pixels (`white`; `reference_white`:
    the references' whiteness test, if the caller already has it).

    The ground's fine structure (field edges, roads, tree crowns) repeats from date to date and
    clouds hide it; tiles of different places share none of it. So each frame's structure (grey
    minus its local mean) is correlated with its reference's where both are seen. The frames are
    unrelated only if enough of them could be compared and none correlates; otherwise (small,
    cloudy or featureless frames, few of them) they are taken as a series, as before this test existed.
    """
    reference_white = whiteness_test(references) if reference_white is None else reference_white
    compared = valid & ~white & ~reference_white & ~no_data_pixels(frames)
    candidates = np.flatnonzero(compared.sum(axis=(1, 2)) >= _MIN_COMPARED_PIXELS)
    if len(candidates) < RELATED_MIN_FRAMES:
        return True

    def structure(image: np.ndarray) -> np.ndarray:
        grey = image.mean(axis=-1, dtype=np.float32)
        return grey - ndimage.uniform_filter(grey, size=_FINE_STRUCTURE_PX, mode="reflect")

    judged = 0
    for index in candidates:  # frame by frame: a series is told by its first clear frame, on run's hot path
        where = compared[index]
        own, theirs = structure(frames[index])[where], structure(references[index])[where]
        own, theirs = own - own.mean(), theirs - theirs.mean()
        if own.std() < _MIN_FINE_STRUCTURE:
            continue
        judged += 1
        if (own * theirs).sum() >= RELATED_MIN_CORRELATION * np.sqrt((own * own).sum() * (theirs * theirs).sum()):
            return True
    return judged < RELATED_MIN_FRAMES


def detector_inputs(frames: np.ndarray, reference: np.ndarray | None, valid: np.ndarray | None, preprocessing: "Preprocessing") -> torch.Tensor:
    """What the detector sees, in training and in the pipeline alike.

    frames, reference: (N,H,W,3) uint8; valid: (N,H,W) bool. Returns (N,3,H,W) float32, the
    frames as (value / scale - mean) / std (the bundle's `Preprocessing`), when `reference` is
    None (single-frame detector), else (N,7,H,W): frames, the reference (0 where invalid) and
    the valid channel (0/1). Made in planes, then laid out channels last once: the layout the
    network runs in on a CPU.
    """

    def normalised(images: np.ndarray) -> torch.Tensor:  # planar, in place: cheap broadcasts, no new arrays per step
        planes = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().float()
        return planes.div_(preprocessing.scale).sub_(preprocessing.mean).div_(preprocessing.std)

    parts = [normalised(frames)]
    if reference is not None:
        present = torch.from_numpy(np.ascontiguousarray(valid))[:, None].float()
        parts += [normalised(reference).mul_(present), present]
    return torch.cat(parts, dim=1).contiguous(memory_format=torch.channels_last)


def spread_into_no_data(arrays: Sequence[np.ndarray | None], no_data: np.ndarray) -> list[np.ndarray | None]:
    """Arrays (N,H,W,...) of one batch of frames (the frames, their references, the reference-valid
    mask; None stays None) with each frame's no-data pixels (N,H,W) copied from its nearest pixel
    with data, every channel alike: what the detector sees, as its inputs are made pixel by pixel from them.

    Seen as black, no data (a scene's reprojection border, a swath edge, Landsat 7's stripes)
    made the pixels beside it look like the dark edge of a shadow: `run` masked 87 % of the
    valid pixels within 3 px of the HLS Missouri scene's border. Continued like the reflected
    margin at the frame's edge, it has no edge. The no-data pixels themselves stay masked.
    """
    partial = [index for index, frame in enumerate(no_data) if frame.any() and not frame.all()]
    if not partial:
        return list(arrays)
    arrays = [None if array is None else array.copy() for array in arrays]
    for index in partial:
        rows, cols = ndimage.distance_transform_edt(no_data[index], return_distances=False, return_indices=True)
        for array in arrays:
            if array is not None:
                array[index] = array[index][rows, cols]
    return arrays
