"""Each frame's clear reference: what the same place looks like on the other dates.

A single frame cannot tell thin haze from a bright field or a shadow from dark forest; a time
series can, because the ground stays and clouds come and go. For frame t the reference is the
per-pixel median of up to `neighbours` other frames nearest in time, leaving out their no-data
pixels and those a cheap first pass (the whiteness test) calls thick cloud. Where no other
frame is usable the reference is marked invalid and stage 1 rests on the frame alone.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["NEIGHBOURS", "whiteness_test", "usable_pixels", "temporal_reference", "detector_inputs"]

NEIGHBOURS = 8  # other dates per reference: enough for a robust median, bounded cost on long series


def whiteness_test(frames: np.ndarray, brightness: float = 0.6, whiteness: float = 0.3) -> np.ndarray:
    """The classic thick-cloud test on 8-bit RGB: bright and nearly grey. (...,3) -> (...) bool.

    On its own it is the anchor every detector must beat (BENCHMARK.md); it also keeps thick
    cloud out of the references.
    """
    rgb = frames.astype(np.float32) / 255.0
    mean = rgb.mean(axis=-1)
    spread = (rgb.max(axis=-1) - rgb.min(axis=-1)) / np.maximum(mean, 1e-6)
    return (mean > brightness) & (spread < whiteness)


def usable_pixels(frames: np.ndarray) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,H,W) bool: not no-data (pure black) and not thick cloud."""
    return ~((frames == 0).all(axis=-1) | whiteness_test(frames))


def _neighbours(steps: int, days: np.ndarray, count: int) -> list[np.ndarray]:
    """For each frame, the indices of up to `count` other frames nearest in time (ties: earlier first)."""
    chosen = []
    for index in range(steps):
        others = np.array([other for other in range(steps) if other != index], dtype=np.int64)
        order = np.argsort(np.abs(days[others] - days[index]), kind="stable")
        chosen.append(np.sort(others[order[:count]]))
    return chosen


def temporal_reference(
    frames: np.ndarray, days: np.ndarray | None = None, indices: np.ndarray | None = None, neighbours: int = NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray]:
    """References for the frames `indices` (default: all) of a (T,H,W,3) uint8 series.

    Returns (reference (N,H,W,3) uint8, valid (N,H,W) bool). Works for any T >= 1 (T = 1: no
    reference anywhere) and when most frames are cloudy (their thick-cloud pixels are left out;
    a pixel needs one usable other date).
    """
    steps = len(frames)
    days = np.arange(steps, dtype=np.float64) if days is None else np.asarray(days, dtype=np.float64)
    indices = np.arange(steps) if indices is None else np.asarray(indices)
    usable = usable_pixels(frames)
    chosen = _neighbours(steps, days, neighbours)
    references = np.zeros((len(indices),) + frames.shape[1:], dtype=np.uint8)
    valid = np.zeros((len(indices),) + frames.shape[1:3], dtype=bool)
    for row, index in enumerate(indices):
        others = chosen[int(index)]
        if len(others) == 0:
            continue
        values = torch.from_numpy(frames[others]).float()  # (K,H,W,3)
        values[~torch.from_numpy(usable[others])] = float("nan")
        median = torch.nanmedian(values, dim=0).values  # the lower median: an observed value
        present = ~torch.isnan(median[..., 0])
        references[row] = torch.nan_to_num(median, nan=0.0).round().to(torch.uint8).numpy()
        valid[row] = present.numpy()
    return references, valid


def detector_inputs(frames: torch.Tensor, reference: torch.Tensor | None, valid: torch.Tensor | None, mean: float, std: float) -> torch.Tensor:
    """What the detector sees, in training and in the pipeline alike.

    frames, reference: (N,3,H,W) in [0,1]; valid: (N,1,H,W) 0/1. Returns (N,3,H,W) normalised
    frames when `reference` is None (single-frame detector), else (N,7,H,W): frames, the
    reference (0 where invalid) and the valid channel.
    """
    normalised = (frames - mean) / std
    if reference is None:
        return normalised
    return torch.cat([normalised, (reference - mean) / std * valid, valid], dim=1)
