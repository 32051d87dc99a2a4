"""Render reflectance to the 8-bit RGB that users upload, as the shipped preprocessing does:
the library's `render_rgb`, at the bundle's gain for evaluation and gains drawn from its range in training."""

from __future__ import annotations

from clear_vision.config import Preprocessing
from clear_vision.geo.units import render_rgb

__all__ = ["render_rgb", "GAIN_RANGE", "BENCHMARK_GAIN"]

GAIN_RANGE = Preprocessing().gain_range  # training draws gains here so any reasonable stretch works
BENCHMARK_GAIN = Preprocessing().gain
