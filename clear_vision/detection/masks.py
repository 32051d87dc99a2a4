"""Stage 1's probabilities -> clean masks: what was detected, and what `run` fills.

Detections smaller than `min_cloud_px` are dropped before anything grows them (a single bright
pixel must not become a 5x5 square). Only the masks that `run` fills get the buffer around every
cloud and mask a mostly cloudy frame, or a partly cloudy one whose visible rest is hazy, whole
(the filler's colour match and the other dates' fills would carry the haze); `detect` reports
what was detected. On a scene larger than NEIGHBOURHOOD_PX these whole-frame rules judge each
pixel's neighbourhood instead of the whole frame, so that a scene cut into chunks gets the same
masks wherever it is cut.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..filling.classical import interpolate_from_other_dates, looks_hazy

__all__ = ["drop_small", "neighbourhood_sums", "mask_full_frames", "mask_hazy_frames", "grow", "detected_masks", "fill_masks", "mask_classes", "NEIGHBOURHOOD_PX"]

NO_DATA = 255
# A frame with at least this share masked whose visible rest is hazy is masked whole: the
# detections are the evidence that the date is cloudy, the haze test that the rest is not ground.
HAZY_MIN_SHARE = 0.05
# The whole-frame rules were calibrated on 128 px frames. A larger scene is judged, pixel by
# pixel, on the 128 px square around it (shifted inwards at the scene's edges): judged whole,
# a 512 px chunk masked a mostly cloudy date in chunk-sized blocks and left its haze in the
# next chunk, where the other dates' fills then copied it. Chunks share tiling.HALO_PX (at
# least half of this) with their neighbours, so every chunk sees its pixels' whole squares.
NEIGHBOURHOOD_PX = 128


def drop_small(masks: np.ndarray, min_pixels: int) -> np.ndarray:
    """(T,H,W) bool without the 8-connected detections of fewer than `min_pixels` pixels."""
    if min_pixels <= 1:
        return masks
    kept = np.zeros_like(masks)
    for index in np.flatnonzero(masks.any(axis=(-2, -1))):
        labels, count = ndimage.label(masks[index], structure=np.ones((3, 3), dtype=bool))
        if count:
            sizes = np.bincount(labels.ravel(), minlength=count + 1)
            large = sizes >= min_pixels
            large[0] = False
            kept[index] = large[labels]
    return kept


def neighbourhood_sums(values: np.ndarray, size: int = NEIGHBOURHOOD_PX) -> np.ndarray:
    """Sums over each pixel's `size` x `size` square in the last two axes (int64, or float64 for floats).

    The square is centred on the pixel and shifted inwards at the array's edges; along an axis
    no longer than `size` it is the whole axis, so a frame that small is summed whole.
    """
    counts = values.dtype.kind != "f"
    sums = values.astype(np.int64 if counts else np.float64)
    for axis in (-2, -1):
        length = sums.shape[axis]
        if length <= size:  # the whole axis: one sum, shared (a view), without the moving sum's cost
            sums = np.broadcast_to(sums.sum(axis=axis, keepdims=True), sums.shape)
            continue
        moving = ndimage.uniform_filter1d(sums.astype(np.float64), size, axis=axis, mode="constant") * size  # centred windows, all inside where used
        moving = np.take(moving, np.clip(np.arange(length), size // 2, length - size + size // 2), axis=axis)  # edges: the first/last whole window
        sums = np.rint(moving).astype(np.int64) if counts else moving
    return sums


def mask_full_frames(masks: np.ndarray, full_cover: float, no_data: np.ndarray | None = None) -> np.ndarray:
    """Frames whose masked fraction of the pixels with data reaches `full_cover` become fully masked;
    on a larger scene, the pixels whose neighbourhood (`neighbourhood_sums`) is that covered.

    A frame that is mostly outside the swath is not cloudy: only its pixels with data count.
    """
    if no_data is None or not no_data.any():  # every pixel counts: one frame's square sizes serve all
        covered = neighbourhood_sums(masks) >= full_cover * neighbourhood_sums(np.ones_like(masks[:1]))
    else:
        covered = neighbourhood_sums(masks & ~no_data) >= full_cover * neighbourhood_sums(~no_data)
    return masks | covered


@torch.inference_mode()
def mask_hazy_frames(masks: np.ndarray, frames: np.ndarray, days: np.ndarray, min_share: float = HAZY_MIN_SHARE) -> np.ndarray:
    """Partly masked frames whose visible rest is hazy are masked whole (on a larger scene, the pixels
    whose neighbourhood is: `neighbourhood_sums`). (T,H,W) masks, (T,H,W,3) uint8 frames.

    The detector was trained to ignore a date's overall brightness (gain, season), so thin haze
    over a whole frame can stay unmasked around the clouds it finds: the frame then shows a dark
    filled hole in its haze, and its hazy pixels are copied into the other dates' fills. The
    test is the fillers' (`looks_hazy`: the visible pixels bluer than the other dates predict
    there). On the training sites' real series (detectors that never saw them) it picked 6 of 39
    partly masked frames, whose visible rest the labels call 56 % bad against 11 % for the others.
    """
    share = neighbourhood_sums(masks) / neighbourhood_sums(np.ones_like(masks[:1]))
    candidates = (share >= min_share) & (share < 1)
    if not candidates.any():
        return masks
    red_blue = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).index_select(1, torch.tensor([0, 2]))[None].float() / 255  # the test's channels
    hidden = torch.from_numpy(masks)[None, :, None]
    estimate, known = interpolate_from_other_dates(red_blue, hidden, torch.as_tensor(days, dtype=torch.float32)[None])
    judged = np.flatnonzero(candidates.any(axis=(1, 2)))  # clear dates have no candidate: skip their sums
    fit = ((~hidden) & known)[0, judged, 0].numpy()  # (N,H,W): the clear pixels the other dates predict
    difference = (red_blue[0, judged] - estimate[0, judged]).numpy()
    count = np.maximum(neighbourhood_sums(fit), 1)
    red, blue = (neighbourhood_sums(np.where(fit, difference[:, channel], 0.0)) / count for channel in (0, 1))
    hazy = np.zeros_like(masks)
    hazy[judged] = looks_hazy(blue, red) & candidates[judged]
    return masks | hazy


def grow(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Grow every masked region by `pixels` (a square buffer, as Fmask and Sen2Cor do): (...,H,W) bool.

    The square is a row segment then a column segment, each grown by ORs of shifted copies whose
    shifts double (radius 1, 3, 7, ...): a few whole-array passes, 8x faster than
    `ndimage.maximum_filter` for `run`'s 2-pixel buffer.
    """
    grown = masks.copy()
    for axis in (-2, -1):
        remaining, step = pixels, 1
        while remaining > 0:
            shift = min(step, remaining)
            wider = grown.copy()  # grown by `shift` either way along the axis
            _shifted_or(wider, grown, shift, axis)
            _shifted_or(wider, grown, -shift, axis)
            grown, remaining, step = wider, remaining - shift, step * 2
    return grown


def _shifted_or(target: np.ndarray, source: np.ndarray, shift: int, axis: int) -> None:
    """target |= source moved by `shift` pixels along `axis` (what moves out is dropped, nothing moves in)."""
    length = source.shape[axis]
    if abs(shift) >= length:
        return
    into = [slice(None)] * source.ndim
    into[axis] = slice(shift, None) if shift > 0 else slice(None, length + shift)
    out_of = [slice(None)] * source.ndim
    out_of[axis] = slice(None, length - shift) if shift > 0 else slice(-shift, None)
    target[tuple(into)] |= source[tuple(out_of)]


def detected_masks(probability: np.ndarray, threshold: float, min_pixels: int) -> np.ndarray:
    """What stage 1 detected at `threshold`, small specks dropped; no buffer, no whole frames (those are `run`'s)."""
    return drop_small(probability >= threshold, min_pixels)


def fill_masks(
    probability: np.ndarray,
    threshold: float,
    fill_threshold: float,
    min_pixels: int,
    full_cover: float,
    buffer: int,
    no_data: np.ndarray | None = None,
    frames: np.ndarray | None = None,
    days: np.ndarray | None = None,
) -> np.ndarray:
    """The masks `run` fills: from `fill_threshold` up, cleaned, grown by `buffer`, mostly
    cloudy or hazy frames whole (`mask_hazy_frames`, given the `frames` and `days`), never every
    date of a pixel.

    No data (`no_data`, (T,H,W) bool) is always masked but is not cloud: nothing grows around
    it and it does not count towards a frame's cover, so the valid pixels along a scene's border
    or a swath edge stay. The generous fill threshold can leave a pixel without any clear date
    (image corners, faint haze on every date); there the least cloudy date serves as the source
    if the detection threshold calls it clear.
    """
    no_data = np.zeros(probability.shape, dtype=bool) if no_data is None else no_data

    def clouds(at: float, dates: np.ndarray | slice = slice(None)) -> np.ndarray:
        return grow(drop_small((probability[dates] >= at) & ~no_data[dates], min_pixels), buffer)

    masks = mask_full_frames(clouds(fill_threshold), full_cover, no_data) | no_data
    if frames is not None and days is not None:
        masks = mask_hazy_frames(masks, frames, days)
    rows, cols = np.nonzero(masks.all(axis=0))
    if len(rows):
        least_cloudy = np.where(no_data, np.inf, probability)[:, rows, cols].argmin(axis=0)
        sources, source_of = np.unique(least_cloudy, return_inverse=True)  # cleaned only on those dates: each date's are its own
        clear_there = ~(clouds(threshold, sources) | no_data[sources])[source_of, rows, cols]
        masks[least_cloudy[clear_there], rows[clear_there], cols[clear_there]] = False
    return masks


def mask_classes(masks: np.ndarray, cloud: np.ndarray, shadow: np.ndarray, no_data: np.ndarray, detected: np.ndarray, buffer: int) -> np.ndarray:
    """(T,H,W) uint8: 0 clear, 1 cloud, 2 shadow, 255 no data.

    Shadow is where stage 1 detected shadow as the likelier class (`detected`: the pixels the
    masks grew from) and the buffer around it; every other masked pixel is cloud, including
    what the whole-frame rules add: their date is cloudy or hazy, not shadowed.
    """
    shadow_found = detected & (shadow > cloud)
    shadowy = grow(shadow_found, buffer) & ~(detected & ~shadow_found)  # the buffer does not relabel detected cloud
    classes = np.where(masks, np.where(shadowy, 2, 1), 0).astype(np.uint8)
    classes[no_data] = NO_DATA
    return classes
