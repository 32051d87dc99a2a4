"""Padding, spatial tiles, chunks and temporal windows reproduce what one big pass would give."""

from __future__ import annotations

import math

import numpy as np
import torch

from clear_vision.tiling import BLEND_PX, HALO_PX, _tiles, border_weights, chunk_grid, chunk_windows, map_chunks, run_padded, run_tiled, temporal_windows, filling_windows


def test_padding_crops_back_to_the_input_size():
    seen = []

    def record(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[-2:]))
        return x * 2

    x = torch.rand(3, 2, 33, 50)
    assert torch.allclose(run_padded(record, x, 16), x * 2)
    assert seen == [(48, 64)]


def test_tiles_blend_to_the_untiled_result():
    x = torch.rand(2, 3, 300, 520)
    result = run_tiled(lambda tile: tile.mean(dim=1, keepdim=True) + tile, x, multiple=8, tile=128, overlap=32)
    assert torch.allclose(result, x.mean(dim=1, keepdim=True) + x, atol=1e-5)


def test_tiles_are_as_few_as_fit_and_no_larger_than_they_need_to_be():
    seen = []

    def record(tile: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(tile.shape[-2:]))
        return tile

    x = torch.rand(1, 1, 672, 640)  # a 512-pixel chunk with its halo (and the detector's margin)
    assert torch.allclose(run_tiled(record, x, multiple=16, tile=352, overlap=32), x)
    assert seen == [(352, 336)] * 4  # 2x2, not 3x3 tiles of 256 px stepped from the start
    for length in range(257, 1400, 37):  # every length: covered, neighbours overlap enough, sizes kept
        size, starts = _tiles(length, 256, 32, 16)
        assert size <= 256 and size % 16 == 0 and starts[0] == 0 and starts[-1] + size == length
        assert all(following - previous <= size - 32 for previous, following in zip(starts, starts[1:]))
        assert len(starts) == math.ceil((length - 32) / (256 - 32))


def test_temporal_windows_own_every_frame_once():
    assert temporal_windows(7, 10) == [(0, 7, list(range(7)))]
    windows = temporal_windows(23, 10)
    owned = sorted(frame for _, _, frames in windows for frame in frames)
    assert owned == list(range(23))
    assert all(stop - start == 10 and all(start <= f < stop for f in frames) for start, stop, frames in windows)


def test_filling_windows_give_dates_without_a_source_windows_of_their_own():
    assert filling_windows(np.arange(23.0), np.ones(23, bool), 10) == [(list(range(start, stop)), owned) for start, stop, owned in temporal_windows(23, 10)]
    assert filling_windows(np.arange(8.0), np.arange(8) % 2 == 0, 10) == [(list(range(8)), list(range(8)))]  # up to a window: one
    days = np.arange(60.0)
    sources = days % 5 == 0  # a daily grid: one acquisition every fifth day
    windows = filling_windows(days, sources, 10)
    assert sorted(frame for _, owned in windows for frame in owned) == list(range(60))
    assert all(len(window) <= 10 and set(owned) <= set(window) and window == sorted(window) for window, owned in windows)
    observed = np.flatnonzero(sources)
    for window, owned in windows:
        if sources[owned].all():
            assert sources[window].all()  # the sources' windows hold sources only
        else:  # a run of empty days (4 here), with the 6 sources nearest to it
            assert not sources[owned].any() and len(owned) == 4 and sources[window].sum() == 6
            nearest = observed[np.argsort(np.abs(observed - np.mean(owned)), kind="stable")[:6]]
            assert set(window) - set(owned) == set(nearest.tolist())
    long_gap = np.zeros(30, bool)
    long_gap[[0, 29]] = True  # 28 overcast days in a row: in groups of at most half a window
    assert all(len(owned) <= 5 for window, owned in filling_windows(np.arange(30.0), long_gap, 10) if not long_gap[owned].any())
    assert filling_windows(np.arange(12.0), np.zeros(12, bool), 10) == [(list(range(start, stop)), owned) for start, stop, owned in temporal_windows(12, 10)]


def test_chunk_grid_merges_a_thin_last_chunk_into_its_neighbour():
    assert chunk_grid(1024, 256) == (256, 256, 256, 256)
    assert chunk_grid(1000, 256) == (256, 256, 256, 232)
    assert chunk_grid(530, 256) == (256, 274) and 530 - 512 < HALO_PX
    assert chunk_grid(100, 512) == (100,)
    assert chunk_grid(575) == (575,) and chunk_grid(576) == (512, 64)  # run keeps scenes up to 575 px whole


def test_chunk_cores_tile_the_scene_once_and_halos_stop_at_its_edges():
    windows = chunk_windows(300, 700, 256)
    owned = np.zeros((300, 700), int)
    for window in windows:
        owned[window.core] += 1
        for length, read, core, trim in zip((300, 700), window.read, window.core, window.trim):
            assert read.start == max(0, core.start - HALO_PX) and read.stop == min(length, core.stop + HALO_PX)
            assert trim.start == core.start - read.start and trim.stop - trim.start == core.stop - core.start
    assert (owned == 1).all() and len(windows) == 1 * 3


def test_map_chunks_assembles_what_each_chunk_computes_on_its_halo_even_over_its_own_input():
    original = np.random.default_rng(0).integers(0, 255, (2, 300, 700, 3), dtype=np.uint8)
    scene = original.copy()

    def chunk(window):  # a 3x3 maximum needs one pixel of context: the halo gives it, so chunks are exact
        piece = torch.from_numpy(scene[:, window.read[0], window.read[1]]).permute(0, 3, 1, 2).float()
        brightest = torch.nn.functional.max_pool2d(piece, 3, stride=1, padding=1).permute(0, 2, 3, 1).to(torch.uint8).numpy()
        return brightest, scene[:, window.read[0], window.read[1], 0] > 127

    whole = chunk(chunk_windows(300, 700, 1024)[0])
    windows, seen = chunk_windows(300, 700, 128), []
    brightest, bright = map_chunks(chunk, windows, 2, seen.append)
    assert np.array_equal(brightest, whole[0]) and np.array_equal(bright, whole[1]) and seen == list(range(len(windows))) == list(range(2 * 5))
    in_place, _ = map_chunks(chunk, windows, 2, into=scene)  # writes over what later chunks read
    assert in_place is scene and np.array_equal(in_place, whole[0]) and not np.array_equal(in_place, original)


def test_border_weights_share_every_pixel_among_the_chunks_that_computed_it():
    shape, total = (300, 700), np.zeros((300, 700))
    for window in chunk_windows(*shape, 128):
        weights = border_weights(window.core, window.read, shape)
        total[window.read] += weights
        reach = np.zeros(shape, bool)  # the core and BLEND_PX beyond it: inside the read window, with context to spare
        reach[max(0, window.core[0].start - BLEND_PX) : window.core[0].stop + BLEND_PX, max(0, window.core[1].start - BLEND_PX) : window.core[1].stop + BLEND_PX] = True
        assert (weights[~reach[window.read]] == 0).all() and BLEND_PX <= HALO_PX // 2
        inner = border_weights(window.core, tuple(slice(part.start + BLEND_PX, part.stop - BLEND_PX) for part in window.core), shape)
        assert (inner == 1).all()
    assert np.allclose(total, 1)


def shaded_fill(scene: np.ndarray, cloud: np.ndarray, core: tuple[slice, slice], read: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """A chunk filling its clouds with a shade of its own, as a colour match fitted per chunk does: 40 apart across a column border."""
    shade = 60 + 40 * (core[1].start // 128) + 10 * (core[0].start // 128)
    return np.where(cloud[:, read[0], read[1], None], np.uint8(shade), scene[:, read[0], read[1]]), cloud[:, read[0], read[1]].copy()


def test_map_chunks_blends_fills_across_chunk_borders_where_both_chunks_filled():
    scene = np.random.default_rng(1).integers(0, 50, (2, 300, 700, 3), dtype=np.uint8)
    cloud = np.zeros((2, 300, 700), bool)
    cloud[:, 40:260, 60:640] = True

    def fill(window):
        filled, valid = shaded_fill(scene, cloud, window.core, window.read)
        if window.core == (slice(0, 128), slice(256, 384)):  # this chunk leaves a patch by its left border unfilled
            local = (1, slice(40 - window.read[0].start, 100 - window.read[0].start), slice(200 - window.read[1].start, 300 - window.read[1].start))
            filled[local], valid[local] = scene[1, 40:100, 200:300], False
        return filled, valid

    windows = chunk_windows(300, 700, 128)
    cut, masks = map_chunks(fill, windows, 2)
    blended, _ = map_chunks(fill, windows, 2, blend_where=1)
    assert np.array_equal(blended[~masks], scene[~masks])  # only fills change
    for axis in (0, 1):  # frame 0: steps between neighbouring filled pixels, down and across
        both = (np.diff(masks[0].astype(int), axis=axis) == 0) & np.delete(masks[0], 0, axis=axis)
        cut_steps, steps = (np.abs(np.diff(values[0].astype(int), axis=axis))[both] for values in (cut, blended))
        assert cut_steps.max() == (10 if axis == 0 else 40) and steps.max() <= 1, (cut_steps.max(), steps.max())
    far = np.ones((300, 700), bool)
    for border in (128, 256, 384, 512):
        far[:, border - BLEND_PX : border + BLEND_PX] = far[border - BLEND_PX : border + BLEND_PX] = False
    assert np.array_equal(blended[:, far], cut[:, far])  # away from the borders each chunk's own fill
    assert (blended[1, 40:96, 224:256] == 60 + 40).all()  # its neighbour did not fill these: its own shade alone
    in_place, _ = map_chunks(fill, windows, 2, into=scene.copy(), blend_where=1)
    assert np.array_equal(in_place, blended)
