"""Georeferenced cubes: read reflectance, remove clouds chunk by chunk (Dask), write COGs or zarr."""

from .cube import open_cube
from .units import Units

__all__ = ["open_cube", "Units"]
