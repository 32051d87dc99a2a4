"""Georeferenced cubes: read reflectance, remove clouds chunk by chunk (Dask), write COGs or zarr.

    cube = open_cube("tiles/", chunks=512)                  # (time, band, y, x), lazy
    result = ClearVision.load().remove_cube(cube)            # clear, mask, probability
    write_cube(result, "out/", format="cog")                 # one COG per date, atomically
"""

from . import accessor  # noqa: F401  (registers cube.clear_vision)
from .cluster import local_cluster
from .cube import CUBE_SUFFIXES, is_cube_source, open_cube
from .remove import DEFAULT_CHUNK_PX, FILL_METHOD, HALO_PX, MASK_CLASSES, remove_cube
from .units import DEFAULT_GAIN, Units
from .uploads import add_geotiffs_to_zip, render_geotiff_frames
from .write import cube_file_names, write_cube, write_cube_into

__all__ = [
    "open_cube",
    "remove_cube",
    "write_cube",
    "write_cube_into",
    "cube_file_names",
    "is_cube_source",
    "local_cluster",
    "render_geotiff_frames",
    "add_geotiffs_to_zip",
    "Units",
    "CUBE_SUFFIXES",
    "DEFAULT_CHUNK_PX",
    "HALO_PX",
    "MASK_CLASSES",
    "FILL_METHOD",
    "DEFAULT_GAIN",
]
