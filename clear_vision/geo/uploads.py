"""GeoTIFF uploads for the web app: shown as the networks see them, returned as cloud-free GeoTIFFs.

The app works on 8-bit RGB frames. A GeoTIFF of reflectance or digital numbers would be
scaled as a picture; here it is read as a cube instead (units from the file), rendered to 8-bit
RGB exactly as in training for the page, and its cloud-free COGs (every band, its own units
and georeference) are added to the run's zip. The cube holds exactly the frames the page runs,
in its order and with its dates, and its COGs are filled with that run's masks
(`remove_cube_with`), so the two halves of one zip never disagree.
"""

from __future__ import annotations

import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import rasterio
import xarray as xr
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning

from ..io.decode import first_names
from .cube import INPUT_FILE_COORD, RGB_ATTR, band_parts, cube_units, default_rgb, is_cube_source, open_cube
from .remove import remove_cube_with, rendered_frames
from .write import write_cube

if TYPE_CHECKING:
    from ..pipeline import ClearVision, CloudRemovalOutput

__all__ = ["Frame", "upload_frames", "stated_dates", "render_geotiff_frames", "add_geotiffs_to_zip"]

FrameKind = Literal["picture", "geotiff", "bands"]
_INSPECT_CHUNK_PX = 512  # dates are read from lazily opened files: headers only, no pixels


@dataclass(frozen=True)
class Frame:
    """One frame of an upload, as the order list names it: a picture or a one-date GeoTIFF under
    its file name, or the band files of one date (`..._B04.tif`) under the part of their names
    they share (`20230602_S30_T15SWD`)."""

    name: str
    files: tuple[Path, ...]
    kind: FrameKind

    @property
    def stem(self) -> str:
        """The name its outputs are named after."""
        return self.name if self.kind == "bands" else Path(self.name).stem

    @cached_property
    def stated_date(self) -> str:
        """A GeoTIFF frame's acquisition date (YYYY-MM-DD) as its files state it: a date tag, else the
        file name (a date's band files state one date: its first file is read). Read once: a request
        orders its frames by these dates and then dates the run with them."""
        cube = open_cube([self.files[0]], chunks=_INSPECT_CHUNK_PX)  # headers only
        return str(np.datetime_as_string(cube["time"].values[0], unit="D"))


def upload_frames(files: Sequence[str] | None) -> list[Frame]:
    """The uploads as frames, in upload order; band files of one date make one frame.

    Raises ValueError naming the files: two uploads of one name, pictures mixed with GeoTIFFs,
    band files mixed with one-date GeoTIFFs, or two files of one band for one date.
    """
    paths = [Path(path) for path in files or []]
    seen: set[str] = set()
    for path in paths:
        if path.name in seen:
            raise ValueError(f"two uploaded files are named {path.name!r}; rename one so the order is clear")
        seen.add(path.name)
    geotiffs = [path for path in paths if is_cube_source(path)]
    if not geotiffs:
        return [Frame(path.name, (path,), "picture") for path in paths]
    if len(geotiffs) < len(paths):
        pictures = [path.name for path in paths if path not in geotiffs]
        raise ValueError(
            f"frames: {len(geotiffs)} TIFF(s) of satellite data ({first_names([path.name for path in geotiffs])}: georeferenced, or not 8-bit, "
            f"so read as reflectance or digital numbers) came with {len(pictures)} picture(s) ({first_names(pictures)}); a run takes "
            "either satellite TIFFs or PNG/JPEG/8-bit TIFF pictures (save a 16-bit picture as 16-bit PNG)"
        )
    # A band file: named as one, and of one band (its header is read only when the name says band).
    bands = {path: parts for path in paths if (parts := band_parts(path)) and _single_band(path)}
    if not bands:
        return [Frame(path.name, (path,), "geotiff") for path in paths]
    others = [path.name for path in paths if path not in bands]
    if others:
        raise ValueError(
            f"frames: {first_names(others)} {'is not a band file' if len(others) == 1 else 'are not band files'} (one band, the name ending in it, "
            "like 20230602_S30_T15SWD_B04.tif) but came with band files; a run takes either one GeoTIFF per date or one per band and date"
        )
    dates: dict[str, dict[str, Path]] = {}
    for path, (scene, band) in bands.items():
        date = dates.setdefault(scene or "bands", {})  # "B04.tif", "B03.tif": one date with no name of its own
        if band in date:
            raise ValueError(f"frames: {date[band].name} and {path.name} are both band {band} of {scene}; upload one file per band and date")
        date[band] = path
    return [Frame(name, tuple(date.values()), "bands") for name, date in dates.items()]


def _single_band(path: Path) -> bool:
    with warnings.catch_warnings():  # a TIFF without georeferencing is still read
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as source:
            return source.count == 1


def stated_dates(frames: Sequence[Frame]) -> list[str]:
    """Each GeoTIFF frame's `Frame.stated_date`; a ValueError names the frame by its place in `frames`."""
    dates = []
    for number, frame in enumerate(frames, start=1):
        with _in_user_words(f"frame {number} ({frame.name}): "):
            dates.append(frame.stated_date)
    return dates


def render_geotiff_frames(model: "ClearVision", frames: Sequence[Frame], dates: Sequence[str], parent: Path) -> tuple[list[Path], xr.DataArray]:
    """8-bit RGB TIFFs of GeoTIFF frames as the networks see them (`rendered_frames`: north-up),
    named by the frames, in a new folder in `parent`; and the cube of exactly these frames, in
    this order, with these `dates` (calendar dates, in time order).

    Each frame's files are linked under their uploaded names into a folder of its own
    (`frame_1`, `frame_2`, ... in the given order): the app stores uploads of identical bytes
    (two all-NaN dates) in one folder and others each in a folder of its own, while `open_cube`
    takes band files as one date when they share a folder and a name stem. RGB are
    `default_rgb`'s: the cube's `rgb_bands`, else the bands named as red, green and blue, else
    the first three. Raises ValueError (one line) for GeoTIFFs whose units cannot be known.
    """
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="geotiff-", dir=parent))
    for number, frame in enumerate(frames, start=1):
        (folder / f"frame_{number}").mkdir()
        for path in frame.files:
            (folder / f"frame_{number}" / path.name).symlink_to(path.resolve())
    with _in_user_words(within=folder):
        cube = open_cube([folder / f"frame_{number}" for number in range(1, len(frames) + 1)], dates=list(dates))
    cube = cube.assign_coords({INPUT_FILE_COORD: ("time", [frame.name for frame in frames])})  # the uploads' names, not the folders above
    units = cube_units(cube)
    if units is None:
        raise ValueError(
            f"frames {first_names([frame.name for frame in frames])}: {cube.dtype} values with no scale in the files (GeoTIFF scale and "
            "offset tags), so their reflectance cannot be known. The app reads TIFFs that are georeferenced or not 8-bit as "
            "satellite data, with the units the files state; save pictures as 8-bit PNG, JPEG or TIFF, or as 16-bit PNG "
            "(scaled to 8 bits); for satellite data, state the scale in the files (gdal_edit.py -scale 0.0001 FILE.tif for "
            "Sentinel-2 L2A digital numbers, add -offset -0.1 from processing baseline 04.00 on) or use the command line, "
            "which takes --scale and --offset"
        )
    names = [str(name) for name in cube["band"].values]
    if len(names) < 3:
        raise ValueError(f"frames: GeoTIFFs with {len(names)} band(s); the app needs red, green and blue (bands named red/green/blue or B04/B03/B02, or the first three)")
    cube = cube.assign_attrs({RGB_ATTR: ",".join(default_rgb(cube))})
    with _in_user_words(within=folder):
        images = rendered_frames(model, cube)  # as `remove_cube_with` renders them: north-up, no data black
    rendered = []
    for frame, image in zip(frames, images):
        target = folder / f"{frame.stem}.tif"
        Image.fromarray(image).save(target, format="TIFF")
        rendered.append(target)
    return rendered, cube


@contextmanager
def _in_user_words(prefix: str = "", within: Path | None = None) -> Iterator[None]:
    """ValueErrors that name uploads as the user did, without the folders they are stored in
    (`within/frame_3/x.tif` is `x.tif`), and give a missing date the page's remedy."""
    try:
        yield
    except ValueError as error:
        message = str(error) if within is None else re.sub(r"\bframe_\d+/", "", str(error).replace(f"{within}/", ""))
        message = re.sub(r"; pass dates= \(command line: --dates\), one per acquisition$", "; type one date per frame in the Dates box", message)
        message = re.sub(r"; every date needs the same bands$", "; every date needs the same bands: upload the missing band files, or leave that date out (delete its line from the frame order list)", message)
        raise ValueError(prefix + message.removeprefix("source: ")) from None


def add_geotiffs_to_zip(model: "ClearVision", cube: xr.DataArray, result: "CloudRemovalOutput", archive: str | Path) -> list[str]:
    """Append the GeoTIFF cube's cloud-free and mask COGs to the run's zip: every band filled with
    the masks of `result`, the run on its rendered frames (`remove_cube_with`: no second run)."""
    with tempfile.TemporaryDirectory(prefix="clear-vision-geotiffs-") as scratch:
        written = write_cube(remove_cube_with(model, cube, result), Path(scratch) / "geotiff", format="cog")  # the bands its RGB_ATTR names
        with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as target:
            for path in written:
                target.write(path, f"geotiff/{path.name}")
    return [f"geotiff/{path.name}" for path in written]
