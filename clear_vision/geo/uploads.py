"""GeoTIFF uploads for the web app: shown as the networks see them, returned as cloud-free GeoTIFFs.

The app works on 8-bit RGB frames. A GeoTIFF of reflectance or digital numbers would be
scaled as a picture; here it is read as a cube instead (units from the file), rendered to 8-bit
RGB exactly as in training for the page, and its cloud-free COGs (every band, its own units
and georeference) are added to the run's zip.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
import xarray as xr
from PIL import Image

from .cube import RGB_ATTR, default_rgb, is_cube_source, open_cube
from .remove import model_gain
from .units import describe_unknown, render_rgb, units_from_metadata
from .write import date_stems, write_cube

if TYPE_CHECKING:
    from ..pipeline import ClearVision

__all__ = ["render_geotiff_uploads", "add_geotiffs_to_zip"]


def render_geotiff_uploads(model: "ClearVision", files: list[str] | None, parent: Path) -> tuple[list[str] | None, xr.DataArray | None]:
    """GeoTIFF uploads -> 8-bit RGB TIFFs in a new folder in `parent`, and their cube: one per
    uploaded file of the same name, or, for one file per band and date (Landsat, HLS), one per
    date named by it.

    Other uploads come back unchanged with no cube. RGB are `default_rgb`'s: the cube's
    `rgb_bands`, else the bands named as red, green and blue, else the first three bands.
    Raises ValueError (one line) for GeoTIFFs whose units or dates cannot be known.
    """
    geotiffs = [path for path in files or [] if is_cube_source(path)]
    if not geotiffs:
        return files, None
    if len(geotiffs) < len(files):
        pictures = [Path(path).name for path in files if path not in geotiffs]
        raise ValueError(
            f"frames: {len(geotiffs)} GeoTIFF(s) of reflectance or digital numbers came with {len(pictures)} picture(s) "
            f"({', '.join(pictures[:3])}{', ...' if len(pictures) > 3 else ''}); a run takes either GeoTIFFs or PNG/JPEG/8-bit TIFF pictures"
        )
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="geotiff-", dir=parent))
    scattered = len({Path(path).parent for path in files}) == len(files) > 1  # as the app stores uploads: each in a folder of its own
    cube = open_cube(_side_by_side(files, folder / "uploads") if scattered else [Path(path) for path in files])
    units = units_from_metadata(cube.attrs, cube.dtype)
    if units is None:
        raise ValueError(f"{describe_unknown(cube.dtype)}. The app takes the units only from the files (GeoTIFF scales and offsets); for others use the command line")
    names = [str(name) for name in cube["band"].values]
    if len(names) < 3:
        raise ValueError(f"frames: GeoTIFFs with {len(names)} band(s); the app needs red, green and blue (bands named red/green/blue or B04/B03/B02, or the first three)")
    rgb = [names.index(name) for name in default_rgb(cube)]
    rgb_units, gain, rendered = units.of_bands(rgb), model_gain(model), []

    def render(values: np.ndarray, nodata: float | None, name: str) -> None:
        values = values.astype(np.float64)
        if nodata is not None and not np.isnan(nodata):
            values[values == nodata] = np.nan
        target = folder / name
        Image.fromarray(render_rgb(np.moveaxis(rgb_units.to_reflectance(values), 0, -1), gain)).save(target, format="TIFF")
        rendered.append(str(target))

    if len(files) == cube.sizes["time"]:  # one file per date: it keeps its name for the app's order list
        for path in files:
            with rasterio.open(path) as source:
                render(source.read([index + 1 for index in rgb]), source.nodata, Path(path).name)
    else:  # one file per band and date: a frame per date, named by the date (the app reads dates from names)
        for index, stem in enumerate(date_stems(cube["time"].values)):
            render(cube.isel(time=index, band=rgb).values, cube.rio.nodata, f"{stem}.tif")
    return rendered, cube.assign_attrs({RGB_ATTR: ",".join(names[index] for index in rgb)})


def _side_by_side(files: list[str], folder: Path) -> list[Path]:
    """Links to the uploads in one folder: the app stores each upload in a folder of its own, and
    `open_cube` takes band files as one date when they share a folder and a name stem."""
    folder.mkdir()
    links = []
    for path in files:
        link = folder / Path(path).name
        if link.exists():
            raise ValueError(f"two uploaded files are named {link.name!r}; rename one")
        link.symlink_to(Path(path).resolve())
        links.append(link)
    return links


def add_geotiffs_to_zip(model: "ClearVision", cube: xr.DataArray, archive: str | Path) -> list[str]:
    """Remove clouds from the GeoTIFF cube and append its cloud-free and mask COGs to the run's zip."""
    with tempfile.TemporaryDirectory(prefix="clear-vision-geotiffs-") as scratch:
        written = write_cube(model.remove_cube(cube), Path(scratch) / "geotiff", format="cog")  # the bands its RGB_ATTR names
        with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as target:
            for path in written:
                target.write(path, f"geotiff/{path.name}")
    return [f"geotiff/{path.name}" for path in written]
