"""Clear Vision: cloud removal for satellite image time series.

Stage 1 (`CloudDetector`) finds cloud and shadow in each RGB frame, seeing the other dates of
the same place; stage 2 (`TemporalFiller`, U-TILISE style) fills them from the other dates.
Start with `ClearVision.load()`; a bundle's settings are a `ClearVisionConfig`.
"""

from .config import ClearVisionConfig
from .detection.detector import CloudDetector
from .filling.filler import TemporalFiller
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
_CUBE_API = {"open_cube", "write_cube"}  # xarray, rioxarray and Dask load only when a cube is used


def __getattr__(name: str) -> object:
    if name in _CUBE_API:
        from . import geo

        return getattr(geo, name)
    raise AttributeError(f"module 'clear_vision' has no attribute {name!r}")
