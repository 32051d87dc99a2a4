"""`cube.clear_vision.remove(...)`: the cube API as an xarray accessor (registered on import of clear_vision.geo)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import xarray as xr

from .cube import Chunks
from .remove import remove_cube

if TYPE_CHECKING:
    from ..pipeline import ClearVision

__all__ = ["ClearVisionAccessor"]


@cache
def _default_model() -> "ClearVision":
    """The shipped model, loaded once per process for accessor calls without a model."""
    from ..pipeline import ClearVision

    return ClearVision.load()


@xr.register_dataarray_accessor("clear_vision")
class ClearVisionAccessor:
    """Sugar for `ClearVision.remove_cube(cube, ...)` on a (time, band, y, x) DataArray."""

    def __init__(self, cube: xr.DataArray) -> None:
        self._cube = cube

    def remove(self, model: "ClearVision | None" = None, *, rgb: Sequence[str] | None = None, chunks: Chunks = None) -> xr.Dataset:
        """Remove clouds with `model` (default: the shipped weights); see `ClearVision.remove_cube`."""
        return remove_cube(model or _default_model(), self._cube, rgb=rgb, chunks=chunks)
