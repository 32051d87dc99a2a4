"""Stage 1's probabilities -> clean masks: what was detected, and what `run` fills.

Detections smaller than `min_cloud_px` are dropped before anything grows them (a single bright
pixel must not become a 5x5 square). Only the masks that `run` fills get the buffer around every
cloud and mask a mostly cloudy frame whole (its visible rest is haze-tinted, and the filler's
colour match would carry the haze); `detect` reports what was detected.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["drop_small", "mask_full_frames", "grow", "detected_masks", "fill_masks", "mask_classes"]

NO_DATA = 255


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


def grow(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Grow every masked region by `pixels` (a square buffer, as Fmask and Sen2Cor do)."""
    if pixels <= 0:
        return masks
    return ndimage.maximum_filter(masks, size=(1, 2 * pixels + 1, 2 * pixels + 1), mode="constant", cval=False)


def detected_masks(probability: np.ndarray, threshold: float, min_pixels: int) -> np.ndarray:
    """What stage 1 detected at `threshold`, small specks dropped; no buffer, no whole frames (those are `run`'s)."""
    return drop_small(probability >= threshold, min_pixels)


def fill_masks(
    probability: np.ndarray, threshold: float, fill_threshold: float, min_pixels: int, full_cover: float, buffer: int, no_data: np.ndarray | None = None
) -> np.ndarray:
    """The masks `run` fills: from `fill_threshold` up, cleaned, grown by `buffer`, never every date of a pixel.

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
    rows, cols = np.nonzero(masks.all(axis=0))
    if len(rows):
        least_cloudy = np.where(no_data, np.inf, probability)[:, rows, cols].argmin(axis=0)
        clear_there = ~(clouds(threshold) | no_data)[least_cloudy, rows, cols]
        masks[least_cloudy[clear_there], rows[clear_there], cols[clear_there]] = False
    return masks


def mask_classes(masks: np.ndarray, cloud: np.ndarray, shadow: np.ndarray, no_data: np.ndarray) -> np.ndarray:
    """(T,H,W) uint8: 0 clear, 1 cloud, 2 shadow (where shadow is the likelier class), 255 no data."""
    classes = np.where(masks, np.where(shadow > cloud, 2, 1), 0).astype(np.uint8)
    classes[no_data] = NO_DATA
    return classes
