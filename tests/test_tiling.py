"""Padding, spatial tiles and temporal windows reproduce what one big pass would give."""

from __future__ import annotations

import torch

from clear_vision.tiling import run_padded, run_tiled, temporal_windows


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


def test_temporal_windows_own_every_frame_once():
    assert temporal_windows(7, 10) == [(0, 7, list(range(7)))]
    windows = temporal_windows(23, 10)
    owned = sorted(frame for _, _, frames in windows for frame in frames)
    assert owned == list(range(23))
    assert all(stop - start == 10 and all(start <= f < stop for f in frames) for start, stop, frames in windows)
