"""Render reflectance to the 8-bit RGB that users upload: uint8(clip(reflectance * gain, 0, 1) * 255 + 0.5)."""

from __future__ import annotations

import numpy as np

__all__ = ["render_rgb", "GAIN_RANGE", "BENCHMARK_GAIN"]

GAIN_RANGE = (2.0, 4.0)  # training draws gains here so any reasonable stretch works
BENCHMARK_GAIN = 3.0


def render_rgb(reflectance: np.ndarray, gain: float = BENCHMARK_GAIN) -> np.ndarray:
    """(...,3) reflectance -> (...,3) uint8; NaN (no observation) renders black."""
    scaled = np.clip(np.nan_to_num(reflectance, nan=0.0) * gain, 0.0, 1.0)
    return (scaled * 255.0 + 0.5).astype(np.uint8)
