"""Stage 1's probabilities -> clean masks: what was detected, and what `run` fills.

Detections smaller than `min_cloud_px` are dropped before anything grows them (a single bright
pixel must not become a 5x5 square). Only the masks that `run` fills get the buffer around every
cloud and mask a mostly cloudy frame, or a partly cloudy one whose visible rest is hazy, whole
(the filler's colour match and the other dates' fills would carry the haze); `detect` reports
what was detected.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..filling.classical import hazy_frames, interpolate_from_other_dates

__all__ = ["drop_small", "mask_full_frames", "mask_hazy_frames", "grow", "detected_masks", "fill_masks", "mask_classes"]

NO_DATA = 255
# A frame with at least this share masked whose visible rest is hazy is masked whole: the
# detections are the evidence that the date is cloudy, the haze test that the rest is not ground.
HAZY_MIN_SHARE = 0.05


def drop_small(masks: np.ndarray, min_pixels: int) -> np.ndarray:
    """(T,H,W) bool without the 8-connected detections of fewer than `min_pixels` pixels."""
    if min_pixels <= 1:
        return masks
    kept = np.zeros_like(masks)
    for index, mask in enumerate(masks):
        labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        if count:
            sizes = np.bincount(labels.ravel(), minlength=count + 1)
            large = sizes >= min_pixels
            large[0] = False
            kept[index] = large[labels]
    return kept


def mask_full_frames(masks: np.ndarray, full_cover: float, no_data: np.ndarray | None = None) -> np.ndarray:
    """Frames whose masked fraction of the pixels with data reaches `full_cover` become fully masked.

    A frame that is mostly outside the swath is not cloudy: only its pixels with data count.
    """
    with_data = np.ones_like(masks) if no_data is None else ~no_data
    data_pixels = with_data.sum(axis=(1, 2))
    covered = (masks & with_data).sum(axis=(1, 2)) >= full_cover * data_pixels
    if covered.any():
        masks = masks.copy()
        masks[covered] = True
    return masks


@torch.inference_mode()
def mask_hazy_frames(masks: np.ndarray, frames: np.ndarray, days: np.ndarray, min_share: float = HAZY_MIN_SHARE) -> np.ndarray:
    """Partly masked frames whose visible rest is hazy are masked whole. (T,H,W) masks, (T,H,W,3) uint8 frames.

    The detector was trained to ignore a date's overall brightness (gain, season), so thin haze
    over a whole frame can stay unmasked around the clouds it finds: the frame then shows a dark
    filled hole in its haze, and its hazy pixels are copied into the other dates' fills. The
    test is the fillers' (`hazy_frames`: the visible pixels bluer than the other dates predict
    there). On the training sites' real series (detectors that never saw them) it picked 6 of 39
    partly masked frames, whose visible rest the labels call 56 % bad against 11 % for the others.
    """
    share = masks.mean(axis=(1, 2))
    candidates = (share >= min_share) & (share < 1)
    if not candidates.any():
        return masks
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)[None].float() / 255
    hidden = torch.from_numpy(masks)[None, :, None]
    estimate, known = interpolate_from_other_dates(images, hidden, torch.as_tensor(days, dtype=torch.float32)[None])
    hazy = hazy_frames(images, hidden, estimate, known).view(-1).numpy() & candidates
    if not hazy.any():
        return masks
    masks = masks.copy()
    masks[hazy] = True
    return masks


def grow(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Grow every masked region by `pixels` (a square buffer, as Fmask and Sen2Cor do)."""
    if pixels <= 0:
        return masks
    return ndimage.maximum_filter(masks, size=(1, 2 * pixels + 1, 2 * pixels + 1), mode="constant", cval=False)


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

    def clouds(at: float) -> np.ndarray:
        return grow(drop_small((probability >= at) & ~no_data, min_pixels), buffer)

    masks = mask_full_frames(clouds(fill_threshold), full_cover, no_data) | no_data
    if frames is not None and days is not None:
        masks = mask_hazy_frames(masks, frames, days)
    rows, cols = np.nonzero(masks.all(axis=0))
    if len(rows):
        least_cloudy = np.where(no_data, np.inf, probability)[:, rows, cols].argmin(axis=0)
        clear_there = ~(clouds(threshold) | no_data)[least_cloudy, rows, cols]
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
