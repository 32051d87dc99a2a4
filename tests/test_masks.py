"""Mask cleaning: specks dropped before any buffer, mostly cloudy frames whole, the buffer only where `run` fills."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from clear_vision.detection.masks import (
    NEIGHBOURHOOD_PX,
    detected_masks,
    drop_small,
    fill_masks,
    grow,
    mask_classes,
    mask_full_frames,
    mask_hazy_frames,
    neighbourhood_sums,
)
from clear_vision.tiling import HALO_PX, chunk_windows


def test_single_bright_pixels_are_dropped_not_grown_into_squares():
    probability = np.zeros((1, 20, 20), np.float32)
    probability[0, 3, 3] = 0.9  # a speck
    probability[0, 10:14, 10:14] = 0.9  # a 16-pixel cloud
    detected = detected_masks(probability, 0.5, min_pixels=5)
    assert not detected[0, 3, 3] and detected[0, 10:14, 10:14].all() and detected.sum() == 16
    filled = fill_masks(probability, 0.5, 0.5, min_pixels=5, full_cover=1.0, buffer=2)
    assert not filled[0, :6, :6].any() and filled[0, 8:16, 8:16].all() and filled.sum() == 64


def test_drop_small_keeps_diagonal_neighbours_together():
    masks = np.zeros((1, 5, 5), bool)
    masks[0, [0, 1, 2], [0, 1, 2]] = True  # 3 pixels touching at corners: one region
    assert drop_small(masks, 3).sum() == 3 and drop_small(masks, 4).sum() == 0


def test_mostly_cloudy_frames_are_masked_whole():
    masks = np.zeros((2, 10, 10), bool)
    masks[0, :, :9] = True  # 90 %
    masks[1, :, :5] = True  # 50 %
    whole = mask_full_frames(masks, 0.9)
    assert whole[0].all() and np.array_equal(whole[1], masks[1])


def test_grow_is_a_square_buffer():
    masks = np.zeros((1, 9, 9), bool)
    masks[0, 4, 4] = True
    assert grow(masks, 2)[0, 2:7, 2:7].all() and grow(masks, 2).sum() == 25 and grow(masks, 0).sum() == 1


def test_a_pixel_is_never_filled_on_every_date_where_its_least_cloudy_date_is_clear():
    probability = np.zeros((3, 32, 32), np.float32)
    probability[:, :4, :4] = np.array([0.3, 0.25, 0.9])[:, None, None]  # above the fill threshold on every date
    probability[:, 20:, 20:] = 1.0  # cloud on every date: stays masked
    masks = fill_masks(probability, 0.5, 0.2, min_pixels=0, full_cover=1.0, buffer=2)
    assert not masks[1, :4, :4].any()  # the least cloudy date, clear at the detection threshold, is the source
    assert masks[0, :4, :4].all() and masks[2, :4, :4].all() and masks[:, 20:, 20:].all()


def test_mask_classes():
    masks = np.array([[[True, True, False, True]]])
    cloud = np.array([[[0.9, 0.2, 0.0, 1.0]]], np.float32)
    shadow = np.array([[[0.1, 0.7, 0.0, 0.0]]], np.float32)
    no_data = np.array([[[False, False, False, True]]])
    detected = np.array([[[True, True, False, False]]])
    assert mask_classes(masks, cloud, shadow, no_data, detected, buffer=0).tolist() == [[[1, 2, 0, 255]]]


def test_shadow_class_is_shadow_detections_and_their_buffer_and_whole_frame_pixels_are_cloud():
    masks = np.ones((1, 1, 8), bool)  # all masked: a date masked whole
    cloud = np.array([[[0.9, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.6]]], np.float32)
    shadow = np.array([[[0.1, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1, 0.2]]], np.float32)
    detected = np.array([[[True, False, True, False, False, False, False, True]]])
    classes = mask_classes(masks, cloud, shadow, np.zeros_like(masks), detected, buffer=1)
    # cloud, its neighbour (buffer of the shadow), shadow, buffer, then undetected pixels (shadow > cloud, but whole-frame) and cloud
    assert classes.tolist() == [[[1, 2, 2, 2, 1, 1, 1, 1]]]


def test_no_data_is_masked_but_not_grown_and_does_not_make_a_frame_cloudy():
    probability = np.zeros((3, 20, 20), np.float32)
    no_data = np.zeros((3, 20, 20), bool)
    no_data[0, :, :14] = True  # 70 % outside the swath, the rest clear
    no_data[1, :2] = True  # a border row
    probability[no_data] = 1.0  # what stage 1 reports there
    probability[2, :, :13] = 0.9  # 65 % cloud: masked whole
    masks = fill_masks(probability, 0.5, 0.2, min_pixels=0, full_cover=0.6, buffer=2, no_data=no_data)
    assert masks[no_data].all()
    assert not masks[0, :, 14:].any() and not masks[1, 2:].any()  # no buffer around no data, frame 0 not whole
    assert masks[2].all()
    # without being told, the same probabilities read as cloud: buffered, and frame 0 masked whole
    as_cloud = fill_masks(probability, 0.5, 0.2, min_pixels=0, full_cover=0.6, buffer=2)
    assert as_cloud[0, 4:, 14:].all() and as_cloud[1, 2:4].all()


def test_a_no_data_date_is_never_the_source_picked_for_a_pixel_masked_everywhere():
    probability = np.full((2, 8, 8), 0.3, np.float32)  # above the fill threshold on both dates
    no_data = np.zeros((2, 8, 8), bool)
    no_data[0] = True
    probability[0] = 1.0
    masks = fill_masks(probability, 0.5, 0.2, min_pixels=0, full_cover=1.0, buffer=0, no_data=no_data)
    assert masks[0].all() and not masks[1].any()


def _series_with_a_partly_masked_frame(rest_change: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    frames = np.full((4, 32, 32, 3), (60, 80, 50), np.uint8)  # green ground on every date
    frames[2] = np.clip(frames[2].astype(int) + np.array(rest_change), 0, 255).astype(np.uint8)
    masks = np.zeros((4, 32, 32), bool)
    masks[2, :10] = True  # 31 % detected on date 2
    return frames, masks


def test_a_partly_masked_frame_whose_visible_rest_is_hazy_is_masked_whole():
    days = np.array([0.0, 5.0, 10.0, 15.0])
    hazy, masks = _series_with_a_partly_masked_frame((12, 18, 25))  # grey-blue veil: blue up most
    assert mask_hazy_frames(masks, hazy, days)[2].all()
    for rest in ((0, 0, 0), (40, 20, 18)):  # clear ground; ground that brightened, most in red (ripening, bare soil)
        frames, masks = _series_with_a_partly_masked_frame(rest)
        assert np.array_equal(mask_hazy_frames(masks, frames, days), masks)
    masks[2] = False
    masks[2, :1, :10] = True  # 1 % detected: too little evidence that the date is cloudy
    assert np.array_equal(mask_hazy_frames(masks, hazy, days), masks)
    probability = np.where(_series_with_a_partly_masked_frame((0, 0, 0))[1], 0.9, 0.0).astype(np.float32)
    assert fill_masks(probability, 0.5, 0.2, 0, 0.6, 0, frames=hazy, days=days)[2].all()
    assert not fill_masks(probability, 0.5, 0.2, 0, 0.6, 0)[2, 10:].any()


def test_neighbourhood_sums_are_the_square_around_each_pixel_shifted_inside_the_array():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, (2, 13, 30))
    sums = neighbourhood_sums(values, size=8)
    for row in range(13):
        for col in range(30):
            top, left = min(max(row - 4, 0), 13 - 8), min(max(col - 4, 0), 30 - 8)
            assert np.array_equal(sums[:, row, col], values[:, top : top + 8, left : left + 8].sum(axis=(1, 2)))
    assert np.array_equal(neighbourhood_sums(values, size=64), np.broadcast_to(values.sum(axis=(1, 2))[:, None, None], values.shape))  # smaller: whole
    floats = rng.uniform(size=(1, 20, 20)).astype(np.float32)
    assert neighbourhood_sums(floats, size=8).dtype == np.float64


def test_on_a_larger_scene_the_whole_frame_rule_judges_each_pixels_neighbourhood():
    masks = np.zeros((1, 256, 640), bool)
    masks[0, :, :256] = np.random.default_rng(1).uniform(size=(256, 256)) < 0.9  # a mostly cloudy left part
    whole = mask_full_frames(masks, 0.6)
    assert whole[0, :, :200].all()  # its gaps are masked where they lie among clouds
    assert not whole[0, :, 256 + NEIGHBOURHOOD_PX // 2 :].any()  # clear ground farther away stays
    assert mask_full_frames(masks[:, :128, :128], 0.6)[0].all()  # a frame of the calibrated size: judged whole


def _blobs(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.uniform(size=shape), (0, sigma, sigma, 0)[: len(shape)])
    return (field - field.min()) / np.ptp(field)


def test_fill_masks_of_a_scene_cut_into_chunks_with_their_halo_are_those_of_the_whole_scene():
    """The whole-frame rules look no farther than tiling.HALO_PX: chunks agree with the whole scene."""
    assert 2 * HALO_PX >= NEIGHBOURHOOD_PX
    rng = np.random.default_rng(2)
    steps, height, width = 5, 300, 420
    cloudier_left = np.linspace(1.8, 0.0, width)  # cloud cover that changes across the scene, and so from chunk to chunk
    probability = (_blobs(rng, (steps, height, width), 6) * np.array([0.4, 1.0, 0.8, 0.6, 1.2])[:, None, None] * cloudier_left).astype(np.float32)
    frames = (_blobs(rng, (steps, height, width, 3), 3) * 60 + 40).astype(np.uint8)
    frames[1, :, :200] += np.array([8, 14, 30], np.uint8)  # a hazy part of a partly cloudy date
    days = np.array([0.0, 10, 20, 35, 50])

    def masks_of(window: tuple[slice, slice], min_pixels: int, buffer: int) -> np.ndarray:
        return fill_masks(probability[(slice(None), *window)], 0.5, 0.2, min_pixels, 0.6, buffer, frames=frames[(slice(None), *window)], days=days)

    for min_pixels, buffer, tolerance in ((0, 0, 0.0), (16, 2, 0.002)):  # specks and buffers cut at a halo's edge may differ a little
        whole = masks_of((slice(None), slice(None)), min_pixels, buffer)
        stitched = np.zeros_like(whole)
        for window in chunk_windows(height, width, chunk=128):
            stitched[(slice(None), *window.core)] = masks_of(window.read, min_pixels, buffer)[(slice(None), *window.trim)]
        assert (stitched != whole).mean() <= tolerance, (min_pixels, buffer, (stitched != whole).mean())
        assert 0.2 < whole.mean() < 0.9 and not whole[1].all()  # the rules had something to decide


@pytest.mark.parametrize("pixels", range(0, 12))
def test_grow_is_a_square_maximum_filter(pixels):
    masks = np.random.default_rng(pixels).random((3, 40, 37)) < 0.05
    masks[0, 0, 0] = masks[1, -1, -1] = True  # at the corners: nothing grows in from outside
    expected = ndimage.maximum_filter(masks, size=(1, 2 * pixels + 1, 2 * pixels + 1), mode="constant", cval=False) if pixels else masks
    assert np.array_equal(grow(masks, pixels), expected)
