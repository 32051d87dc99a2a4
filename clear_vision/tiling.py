"""Run a network on any frame size and any sequence length.

Small frames are reflect-padded to the network's size multiple; large frames go through
overlapping tiles blended with linear ramps (bounded memory); long sequences go through
overlapping temporal windows, each frame taken from the window where it sits most centrally.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

__all__ = ["run_padded", "run_tiled", "temporal_windows"]

TensorFn = Callable[[torch.Tensor], torch.Tensor]


def run_padded(fn: TensorFn, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad the last two dims of x up to a multiple, run fn, crop back."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        lead = x.shape[:-3]
        padded = F.pad(x.reshape(-1, *x.shape[-3:]), (0, pad_w, 0, pad_h), mode="reflect")
        x = padded.reshape(*lead, *padded.shape[-3:])
    return fn(x)[..., :height, :width]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, device: torch.device) -> torch.Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32)
    distance_to_edge = torch.minimum(position, length - 1 - position)
    return ((distance_to_edge + 1) / (overlap + 1)).clamp(max=1.0)


def run_tiled(fn: TensorFn, x: torch.Tensor, multiple: int, tile: int = 256, overlap: int = 32) -> torch.Tensor:
    """Apply fn to overlapping tiles of x (..., C, H, W) and blend; fn keeps the spatial size."""
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return run_padded(fn, x, multiple)
    output = weight = None
    for top in _starts(height, tile, overlap):
        for left in _starts(width, tile, overlap):
            patch = x[..., top : top + tile, left : left + tile]
            result = run_padded(fn, patch, multiple)
            window = _ramp(patch.shape[-2], overlap, x.device)[:, None] * _ramp(patch.shape[-1], overlap, x.device)[None, :]
            if output is None:
                output = torch.zeros(*result.shape[:-2], height, width, dtype=result.dtype, device=x.device)
                weight = torch.zeros(height, width, dtype=result.dtype, device=x.device)
            output[..., top : top + tile, left : left + tile] += result * window
            weight[top : top + tile, left : left + tile] += window
    return output / weight


def temporal_windows(steps: int, size: int) -> list[tuple[int, int, list[int]]]:
    """Split T frames into overlapping windows of `size`: (start, stop, frames owned by it)."""
    if steps <= size:
        return [(0, steps, list(range(steps)))]
    starts = list(range(0, steps - size, max(1, size // 2))) + [steps - size]
    owners: dict[int, list[int]] = {start: [] for start in starts}
    for frame in range(steps):
        containing = [start for start in starts if start <= frame < start + size]
        best = min(containing, key=lambda start: abs(frame - (start + (size - 1) / 2)))
        owners[best].append(frame)
    return [(start, start + size, owned) for start, owned in owners.items() if owned]
