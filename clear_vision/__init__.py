"""Clear Vision: cloud removal for satellite image time series.

Stage 1 (`CloudDetector`) finds cloud and shadow in each RGB frame, seeing the other dates of
the same place; stage 2 (`TemporalFiller`, U-TILISE style) fills them from the other dates.
Start with `ClearVision.load()`; a bundle's settings are a `ClearVisionConfig`.

The names below load on first use: torch takes seconds to import, and the command line must
be able to say "interrupted" to a Ctrl-C in that time (and xarray, rioxarray and Dask load only
when a cube is used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ClearVisionConfig
    from .detection.detector import CloudDetector
    from .filling.filler import TemporalFiller
    from .geo import open_cube, write_cube
    from .io.decode import MAX_FRAMES, MAX_PIXELS, MIN_FRAMES, MIN_SIDE
    from .pipeline import ClearVision, CloudRemovalOutput, Method, resolve_device
    from .weights import WeightsError

__all__ = [
    "ClearVision",
    "ClearVisionConfig",
    "CloudRemovalOutput",
    "CloudDetector",
    "TemporalFiller",
    "Method",
    "WeightsError",
    "resolve_device",
    "MIN_FRAMES",
    "MAX_FRAMES",
    "MIN_SIDE",
    "MAX_PIXELS",
    "open_cube",
    "write_cube",
]
__version__ = "0.1.0"
_MODULES = {
    "ClearVisionConfig": "config",
    "CloudDetector": "detection.detector",
    "TemporalFiller": "filling.filler",
    "open_cube": "geo",
    "write_cube": "geo",
    **dict.fromkeys(("MAX_FRAMES", "MAX_PIXELS", "MIN_FRAMES", "MIN_SIDE"), "io.decode"),
    **dict.fromkeys(("ClearVision", "CloudRemovalOutput", "Method", "resolve_device"), "pipeline"),
    "WeightsError": "weights",
}


def __getattr__(name: str) -> object:
    if name in _MODULES:
        value = getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'clear_vision' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
