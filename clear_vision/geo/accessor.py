"""`cube.clear_vision.remove(...)`: the cube API as an xarray accessor (registered on import of clear_vision.geo)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import xarray as xr

from .cube import Chunks
from .remove import check_cube, remove_cube

if TYPE_CHECKING:
    from ..pipeline import ClearVision

__all__ = ["ClearVisionAccessor"]


@cache
def _default_model() -> "ClearVision":
    """The shipped model, loaded once per process for accessor calls without a model."""
    from ..pipeline import ClearVision

    return ClearVision.load()


@xr.register_dataset_accessor("clear_vision")  # only to refuse a Dataset in words, not with an AttributeError
@xr.register_dataarray_accessor("clear_vision")
class ClearVisionAccessor:
    """Sugar for `ClearVision.remove_cube(cube, ...)` on a (time, band, y, x) DataArray."""

    def __init__(self, cube: xr.DataArray | xr.Dataset) -> None:
        self._cube = cube

    def remove(self, model: "ClearVision | None" = None, *, rgb: Sequence[str] | None = None, chunks: Chunks = None) -> xr.Dataset:
        """Remove clouds with `model` (default: the shipped weights); see `ClearVision.remove_cube`."""
        if model is None:
            check_cube(self._cube, rgb)  # a cube that cannot work is refused before the model's seconds of loading
        return remove_cube(model or _default_model(), self._cube, rgb=rgb, chunks=chunks)
