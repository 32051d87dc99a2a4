"""Step 1: decode and validate user input (frames, dates, masks) at the library boundary.

Everything after this module can assume a (T,H,W,3) uint8 array, a (T,) float array of
days since the first frame, and (T,H,W) bool masks.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from contextvars import ContextVar
from os import PathLike
from pathlib import Path
from typing import TypeVar, Union

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "MIN_FRAMES",
    "MAX_FRAMES",
    "MAX_TILES",
    "MIN_SIDE",
    "MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "FrameInput",
    "load_frames",
    "load_images",
    "check_frame_files",
    "is_single_image",
    "no_data_pixels",
    "parse_dates",
    "split_dates",
    "image_size",
    "validate_masks",
    "natural_key",
    "collect_image_paths",
    "in_frame_order",
    "dates_from_names",
    "names_dates",
    "frame_dates",
    "date_in_name",
    "first_names",
    "collected_notes",
]

MIN_FRAMES = 2
MAX_FRAMES = 100
MAX_TILES = 10_000  # `detect` alone: a scene cut into 128-px tiles (a Sentinel-2 tile at 10 m gives 7,396)
MIN_SIDE = 32
MAX_PIXELS = 4096 * 4096  # per frame, checked from the file header before decoding
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_IMAGE_FORMATS = {"PNG", "JPEG", "TIFF", "MPO"}  # MPO: JPEG written by some cameras
# Frames whose typical pixel (the median of each pixel's brightest channel) is darker than this, of
# 255, get a note: the training rendering, clip(reflectance x 3), puts land at 40..110 and the
# darkest training forest at gain 2 at 32; Sentinel-2 digital numbers read as 16-bit pictures
# come out under 5, plain reflectance of that forest at 16.
DARK_BELOW = 20
# Where `collected_notes` is active (per thread: a ContextVar, unlike warnings.catch_warnings, which
# swaps process-wide state and would take another request's notes into this run's), notes on the
# input go to its list instead of being warned.
_COLLECTED: ContextVar[list[str] | None] = ContextVar("clear_vision_notes", default=None)


@contextmanager
def collected_notes() -> Iterator[list[str]]:
    """Collect the notes the decoders and the date parser make inside, for a result to return."""
    notes: list[str] = []
    token = _COLLECTED.set(notes)
    try:
        yield notes
    finally:
        _COLLECTED.reset(token)


def _note(message: str, stacklevel: int = 1) -> None:
    """A note on the input: into `collected_notes`' list where one is active, else a UserWarning
    (`stacklevel` as for warnings.warn, counted from the caller)."""
    notes = _COLLECTED.get()
    if notes is None:
        warnings.warn(message, stacklevel=stacklevel + 1)
    else:
        notes.append(message)
_DARK_SAMPLE_PIXELS = 1_000_000  # the input notes look at a regular sample of about this many
DEFAULT_SPACING_DAYS = 5.0  # Sentinel-2 revisit: used when no dates are given
DAYS_PER_YEAR = 365.0  # a day-of-year series that goes down has started the next year
MAX_DAY_NUMBER_SPAN = 100 * DAYS_PER_YEAR  # longer: seconds or milliseconds taken for days

FrameInput = Union[np.ndarray, Image.Image, str, PathLike]
PathT = TypeVar("PathT", str, Path)
# 2021-05-10, 20210510 or 2021_05_10 (one separator throughout), years 1900..2099, not inside a longer run of digits
_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})([-_]?)(\d{2})\2(\d{2})(?!\d)")
# tile_3_2019_06_11: a chain of numbers (a number standing alone before the date, or any after it);
# S2_2019_06_16 or site1_2019_06_16 is a date: the digit before the underscore ends a word
_NUMBER_BEFORE, _NUMBER_AFTER = re.compile(r"(?:^|[^0-9A-Za-z])\d+_$"), re.compile(r"_\d")
_DATE_SEPARATORS = re.compile(r"[,;\s]+")
_OTHER_DATE_SEPARATORS = re.compile(r"^(\d{4})([_/.])(\d{2})\2(\d{2})(?!\d)")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_FLOAT_SLACK = 1e-6  # float frames a rounding error outside [0, 1] (1.0000002 after arithmetic) are clipped
_BANDS = "1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) bands"
_EXIF_ORIENTATION, _EXIF_QUARTER_TURNS = 0x0112, (5, 6, 7, 8)  # orientations that turn the stored image by 90 degrees


def natural_key(name: str | PathLike) -> list:
    """Sort key so that frame_2 comes before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", Path(name).name)]


def date_in_name(name: str | PathLike) -> dt.date | None:
    """The acquisition date written in a file name (2021-05-10, 20210510 or 2021_05_10), else None.

    The first digits that form a real date count: digits that are no date (20219999) are skipped.
    Of a series' names, `names_dates` reads the date that differs between them.
    """
    dates, _ = _dates_in_name(name)
    return dates[0] if dates else None


def _dates_in_name(name: str | PathLike) -> tuple[list[dt.date], str | None]:
    """(the real dates a name holds, in order; the first real date it passed over as part of a
    chain of numbers joined by "_")."""
    name = Path(name).name
    dates, chained = [], None
    for match in _DATE_IN_NAME.finditer(name):
        year, separator, month, day = match.groups()
        try:
            date = dt.date(int(year), int(month), int(day))
        except ValueError:
            continue
        if separator == "_" and (_NUMBER_BEFORE.search(name, 0, match.start()) or _NUMBER_AFTER.match(name, match.end())):
            chained = chained or match.group(0)  # underscores also join tile or grid numbers: only a date standing alone counts
            continue
        dates.append(date)
    return dates, chained


def _series_dates(found: Sequence[list[dt.date]]) -> list[dt.date | None]:
    """Per name the date of the first place in the names where the dates are not all one: a
    series' acquisitions differ, the export or processing date a tool writes first
    (export_20240105_S2_2019-06-16) does not. Product names put the acquisition first
    (S2's ..._20190616T105029_..._20190616T135318, Landsat's ..._20230602_20230607_...)."""
    places = min((len(dates) for dates in found), default=0)
    place = next((index for index in range(places) if len({dates[index] for dates in found}) > 1), 0)
    return [dates[place] if len(dates) > place else None for dates in found]


def names_dates(names: Sequence[str | PathLike]) -> list[dt.date | None]:
    """The acquisition date in each of a series' file names (None where a name has none): where
    the names hold several dates, the one that differs between them (`_series_dates`)."""
    return _series_dates([_dates_in_name(name)[0] for name in names])


def dates_from_names(paths: Sequence[str | PathLike]) -> list[dt.date] | None:
    """Acquisition dates written in every file name (`names_dates`), else None (frames then go evenly spaced).

    When only some names carry a date, warns naming the others: dropping the dates silently
    would leave a user wondering why the report shows none.
    """
    found = [_dates_in_name(path) for path in paths]
    dates = _series_dates([named for named, _ in found])
    if dates and all(dates):
        return dates
    undated = [Path(path).name for path, date in zip(paths, dates) if date is None]
    chained = [(Path(path).name, digits) for path, (_, digits) in zip(paths, found) if digits]
    if chained and len(undated) == len(dates):
        name, digits = chained[0]
        _note(
            f"dates: {digits} in {name!r} looks like a date but is joined by '_' to other numbers (as in tile_3_2019_06_11), "
            f"so no date was read from {'it' if len(chained) == 1 else f'it or {len(chained) - 1} other name(s)'}; frames go in name order, "
            f"{DEFAULT_SPACING_DAYS:g} days apart; give the dates with --dates or dates=, or write them as {digits.replace('_', '-')}",
            stacklevel=2,
        )
    elif len(undated) < len(dates):
        _note(
            f"dates: no date (YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD) in the name of {first_names(undated, shown=5)}; "
            f"frames are taken as {DEFAULT_SPACING_DAYS:g} days apart; give the dates with --dates or dates=",
            stacklevel=2,
        )
    return None


def frame_dates(frames: object, dates: Sequence[DateLike] | None, in_order: bool = True) -> Sequence[DateLike] | None:
    """`dates`; where None and the frames are file paths, the dates written in all their names
    (`names_dates`), as the command line and the app read them, which must then run forward
    (`in_order=False`: else None, for images that need not be a series, as `detect` takes them).
    Silent where some name has none: the command line, which gives its paths here, warns itself."""
    if dates is not None or not isinstance(frames, Sequence) or isinstance(frames, (str, bytes)) or not frames:
        return dates
    if not all(isinstance(item, (str, PathLike)) for item in frames):
        return dates
    named = names_dates(frames)
    if not all(named):
        return None
    if any(later < earlier for earlier, later in zip(named, named[1:])):
        if not in_order:
            return None
        step = next(index for index in range(1, len(named)) if named[index] < named[index - 1])
        raise ValueError(
            f"dates: the file names date frame {step + 1} ({Path(frames[step]).name}) before frame {step} ({Path(frames[step - 1]).name}); "
            "give the paths in time order (sorted by their dates: the command line and the app sort them), or give dates="
        )
    return named


def collect_image_paths(inputs: Sequence[str | PathLike]) -> list[Path]:
    """Expand folders into their image files, in time order when every name carries a date.

    Ordered by `in_frame_order`. Files given explicitly must have an image
    suffix; folders contribute only their visible image files (a stray README or a macOS `._frame.png`
    next to the frames is skipped).
    """
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
            if not found:
                with_frames = sorted(sub.name for sub in path.iterdir() if sub.is_dir() and any(item.suffix.lower() in IMAGE_SUFFIXES for item in sub.iterdir()))
                inside = f"; its subfolders {first_names(with_frames)} hold frames: give one of them" if with_frames else ""
                raise ValueError(f"{path}: the folder holds no PNG/JPEG/TIFF frames; accepted: {', '.join(IMAGE_SUFFIXES)} files{inside}")
            paths.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(f"{path.name}: not an image file; accepted: {', '.join(IMAGE_SUFFIXES)}")
            paths.append(path)
        else:
            raise ValueError(f"{item}: no such file or folder")
    return in_frame_order(paths)


def in_frame_order(names: Iterable[PathT]) -> list[PathT]:
    """File names in time order when every name carries a date (stable for equal dates), else in
    natural order (frame_2 before frame_10): the names' dates become the frames' dates, which must
    run forward, and an S2B name sorts before an earlier S2A one."""
    ordered = sorted(names, key=natural_key)
    dates = names_dates(ordered)
    return [name for _, name in sorted(zip(dates, ordered), key=lambda pair: pair[0])] if all(dates) else ordered


def load_frames(frames: np.ndarray | Sequence[FrameInput], min_frames: int = MIN_FRAMES, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Decode a sequence into a (T,H,W,3) uint8 array, or raise ValueError naming the problem.

    Accepts a (T,H,W,3) uint8 array, a float array in [0,1], or a list of arrays, PIL images
    or PNG/JPEG/TIFF file paths. Arrays may come channels first ((T,3,H,W), (3,H,W), as torch
    keeps them) and as anything numpy can read (a CPU torch tensor, an xarray DataArray).
    Grayscale, palette, RGBA and 16-bit images are converted;
    integer files of other types (int16 TIFFs, PIL mode I) are read as 16-bit when their values
    are 0..65535; float TIFFs must lie in [0,1]; EXIF orientation is applied. `min_frames`, `max_frames`:
    a sequence needs two, stage 1 alone can judge one, and a scene's tiles may be many more.
    """
    if not isinstance(frames, (np.ndarray, Image.Image)) and hasattr(frames, "__array__"):
        frames = _as_array(frames, "frames")
    if isinstance(frames, np.ndarray):
        if frames.ndim == 3:  # one (3,H,W) image would look the same: grey frames come as a list
            raise ValueError(
                f"frames: expected an array of shape (T,H,W,3) or (T,3,H,W), got shape {frames.shape}; grey frames: give them as a "
                "list of (H,W) arrays (list(frames)), as one (3,H,W) image has the same shape"
            )
        if frames.ndim != 4 or not (3 in (frames.shape[1], frames.shape[-1]) or frames.shape[-1] in (1, 4)):
            moved = "; channels first with alpha or grey: move them last, np.moveaxis(frames, 1, -1)" if frames.ndim == 4 and frames.shape[1] in (1, 4) else ""
            raise ValueError(f"frames: expected an array of shape (T,H,W,3) or (T,3,H,W) (also (T,H,W,4) with alpha, (T,H,W,1) grey), got shape {frames.shape}{moved}")
        items: Sequence[FrameInput] = list(frames)  # each frame converted as a list's would be (RGBA, grey)
    elif isinstance(frames, (str, PathLike)):
        what = "the folder" if Path(frames).is_dir() else "one path"
        raise ValueError(
            f"frames: expected a (T,H,W,3) array or a list of images/paths, got {what} {str(frames)!r}; "
            f"give a list of the frames' files, e.g. sorted(glob.glob('{Path(frames) / '*.png' if what == 'the folder' else frames}')) (the command line takes a folder)"
        )
    elif isinstance(frames, Image.Image) or not isinstance(frames, Sequence):
        raise ValueError(f"frames: expected a (T,H,W,3) array or a list of images/paths, got {type(frames).__name__}")
    else:
        items = frames
    decoded = load_images(items, max_frames, min_images=min_frames)
    _check_one_size([frame.shape[:2] for frame in decoded])
    return np.stack(decoded)


def check_frame_files(paths: Sequence[str | PathLike]) -> None:
    """What `load_frames` would refuse of these files that their headers tell (how many, readable,
    not too large, one size), without decoding them: the command line checks before it loads the model."""
    _check_count(len(paths), MIN_FRAMES, MAX_FRAMES)
    sizes = []
    for index, path in enumerate(paths, start=1):
        sizes.append(image_size(path, f"frame {index} ({Path(path).name})"))
        _check_pixels(*sizes[-1], f"frame {index} ({Path(path).name})")
    _check_one_size(sizes, [Path(path).name for path in paths])


def _check_one_size(sizes: Sequence[tuple[int, int]], names: Sequence[str] | None = None) -> None:
    """Refuse frames of more than one (height, width), naming which frames (or files: `names`) have which."""
    members: dict[tuple[int, int], list[str]] = {}
    for number, size in enumerate(sizes, start=1):
        members.setdefault(tuple(size), []).append(names[number - 1] if names else str(number))
    if len(members) > 1:
        listed = ", ".join(f"{h}x{w} ({_listed(items, names is None)})" for (h, w), items in sorted(members.items(), key=lambda item: -len(item[1])))
        raise ValueError(f"frames: all frames must share one size, got {listed}")


def _listed(items: list[str], numbered: bool) -> str:
    """'frame 3', 'frames 1, 2, 4 and 7 more', or the file names so."""
    shown = first_names(items)
    return f"frame{'s' if len(items) > 1 else ''} {shown}" if numbered else shown


def load_images(images: Sequence[FrameInput], max_images: int, min_images: int = 1) -> list[np.ndarray]:
    """Decode a list of images of any sizes (a scene's tiles with its ragged edge tiles; the
    frames of `load_frames`) into a list of (H,W,3) uint8 arrays."""
    if isinstance(images, (str, PathLike, Image.Image, np.ndarray)) or not isinstance(images, Sequence):
        raise ValueError(f"frames: expected a list of images/paths, got {type(images).__name__}")
    if len(images) < min_images:  # a folder in a list ([folder]) is named as one, not counted as a frame too few
        for index, item in enumerate(images, start=1):
            if isinstance(item, (str, PathLike)):
                image_size(item, f"frame {index}")
    _check_count(len(images), min_images, max_images)
    return [_decode_one(item, i) for i, item in enumerate(images, start=1)]


def no_data_pixels(images: np.ndarray) -> np.ndarray:
    """(...,H,W) bool: the pure black pixels of (...,H,W,3) uint8 images, read as no data.

    OR-ing the channels is about 10x faster than `(images == 0).all(axis=-1)`, whose reduction
    runs along the 3-wide last axis.
    """
    return (images[..., 0] | images[..., 1] | images[..., 2]) == 0


def input_notes(images: np.ndarray) -> tuple[str, ...]:
    """Notes on (T,H,W,3) uint8 frames the networks would misread without a word: dark ones
    (`_dark_note`) and ones without colour (`_colourless_note`). Both look at one regular sample
    of about _DARK_SAMPLE_PIXELS pixels and its brightest channel per pixel, taken by
    `np.maximum` (25x faster than .max(axis=-1), see `no_data_pixels`)."""
    stride = max(1, math.isqrt(images[..., 0].size // _DARK_SAMPLE_PIXELS))
    sample = images[:, ::stride, ::stride]
    brightest = np.maximum(np.maximum(sample[..., 0], sample[..., 1]), sample[..., 2])
    return tuple(note for note in (_dark_note(images, brightest), _colourless_note(sample, brightest)) if note)


def _colourless_note(sample: np.ndarray, brightest: np.ndarray) -> str | None:
    """A note when the frames have no colour: red, green and blue equal on every pixel of ground
    (with data, not near white), as in a grayscale picture or one band given three times. Stage 1
    tells haze and cloud from bright ground by colour too, and grey ground reads as cloud
    (grayscale PNGs of a clear series came out 54..95 % masked, without a word)."""
    ground = (brightest > 0) & (brightest < 200)
    if ground.sum() < 0.1 * ground.size:  # mostly cloud or no data: grey is what clouds are
        return None
    if ((sample[..., 0] != sample[..., 1]) | (sample[..., 1] != sample[..., 2]))[ground].any():
        return None
    return (
        "the frames have no colour (red, green and blue are equal: a grayscale picture, or one band given three times); "
        "stage 1 tells cloud and haze from bright ground by colour as well as brightness and was trained on true colour "
        "(B04, B03, B02), so grey ground is taken for cloud: give true-colour frames"
    )


def _dark_note(images: np.ndarray, brightest: np.ndarray) -> str | None:
    """A note when the frames are dark, where clouds are faint or cannot be told from the ground:
    the usual sign of digital numbers or reflectance given as 16-bit or float pictures (Sentinel-2
    DN up to 3000 become 12 of 255, plain reflectance of forest 16), which would otherwise come
    back with clouds missed without a word. The typical pixel decides, not the brightest: one
    bright cloud in a dark series kept a note on the brightest pixel silent."""
    with_data = brightest[brightest > 0]  # pure black is no data
    typical = int(np.median(with_data)) if with_data.size else 0
    if typical >= DARK_BELOW:
        return None
    return (
        f"the frames are dark (typical pixel {typical} of 255, brightest {int(images.max())}), so clouds are faint or cannot be seen in them: "
        "the networks were trained on reflectance rendered as clip(reflectance x 3, 0, 1) x 255, where land is about 40..110; "
        "16-bit frames are read as pictures over 0..65535 and float frames over 0..1, so digital numbers or plain reflectance "
        "come out dark: render them that way first, or give them as files that state their units: GeoTIFF (also in the web "
        "app), netCDF or zarr to remove_cube or the command line"
    )


def is_single_image(frames: object) -> bool:
    """One image rather than a sequence: a path, a PIL image, or an array (H,W), (H,W,C) or
    (C,H,W) with C of 1..4 channels; a sequence is a list or an array of 4 dimensions."""
    if isinstance(frames, (str, PathLike, Image.Image)):
        return True
    if not hasattr(frames, "__array__") or isinstance(frames, Sequence):
        return False
    shape = tuple(getattr(frames, "shape", ()))
    return len(shape) == 2 or (len(shape) == 3 and (shape[0] <= 4 or shape[-1] <= 4))


def _as_array(value: object, label: str) -> np.ndarray:
    """An array-like (a torch tensor, an xarray DataArray) as numpy; a GPU tensor is not copied silently."""
    try:
        return np.asarray(value)
    except (TypeError, RuntimeError) as error:
        remedy = "tensor.detach().cpu().float().numpy()" if getattr(value, "dtype", None) is not None and "bfloat16" in str(value.dtype) else "tensor.detach().cpu().numpy()"
        raise ValueError(f"{label}: {type(value).__name__} cannot be read as a numpy array ({error}); pass it as one, e.g. {remedy}") from None


def _check_count(count: int, min_frames: int, max_frames: int) -> None:
    if count < min_frames:
        raise ValueError(f"frames: got {count} frame(s); a sequence needs {min_frames} to {max_frames} frames")
    if count > max_frames:
        raise ValueError(f"frames: got {count} frames; at most {max_frames} are accepted per call")


def _decode_one(item: FrameInput, index: int) -> np.ndarray:
    label = f"frame {index}"
    if isinstance(item, (str, PathLike)):
        label = f"frame {index} ({Path(item).name})"
        array = _read_image_file(Path(item), label)
    elif isinstance(item, Image.Image):
        _check_pixels(item.size[1], item.size[0], label)
        array = _pil_to_array(item, label)
    elif isinstance(item, np.ndarray) or hasattr(item, "__array__"):
        array = _as_array(item, label)
    else:
        raise ValueError(f"{label}: expected an array, a PIL image or a file path, got {type(item).__name__}")
    rgb = _to_rgb_uint8(array, label)
    _check_pixels(*rgb.shape[:2], label)
    return rgb


def _check_pixels(h: int, w: int, label: str) -> None:
    """Refuse a frame size outside MIN_SIDE..MAX_PIXELS (from a file's header too, before decoding)."""
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"{label}: size {h}x{w} is too small; frames must be at least {MIN_SIDE}x{MIN_SIDE}")
    if h * w > MAX_PIXELS:
        raise ValueError(f"{label}: {h}x{w} pixels is too large; at most {MAX_PIXELS:,} pixels per frame")


def image_size(path: str | PathLike, label: str | None = None) -> tuple[int, int]:
    """(height, width) of an image file from its header, without decoding the pixels.

    Lets callers refuse frames too large for them before any memory is spent on them.
    """
    path = Path(path)
    label = label or path.name
    if path.is_dir():
        raise ValueError(f"{label}: {path} is a folder; give its image files, e.g. sorted(glob.glob('{path}/*.png')) (the command line takes a folder)")
    if not path.is_file():
        raise ValueError(f"{label}: file not found: {path}")
    try:
        if _is_tiff(path):
            import tifffile

            with tifffile.TiffFile(path) as tiff:
                images = sum(1 for page in tiff.pages if not (page.is_reduced or page.is_mask))  # a COG's overviews and masks are not images
                if images > 1:
                    raise ValueError(f"{label}: the TIFF holds {images} images (pages); give one frame per file")
                page = tiff.pages[0]
                return page.imagelength, page.imagewidth
        with Image.open(path) as image:
            if image.format not in _IMAGE_FORMATS:
                raise ValueError(f"{label}: {image.format} images are not accepted; use PNG, JPEG or TIFF")
            if image.format == "PNG" and getattr(image, "n_frames", 1) > 1:
                raise ValueError(f"{label}: an animated PNG ({image.n_frames} frames); give one frame per file")
            if image.getexif().get(_EXIF_ORIENTATION) in _EXIF_QUARTER_TURNS:  # decoded upright (`_pil_to_array`): its size as shown
                return image.size[0], image.size[1]
            return image.size[1], image.size[0]
    except ValueError:
        raise
    except Exception:  # PIL and tifffile raise many types for corrupt/truncated files
        raise _unreadable(path, label) from None


def _unreadable(path: Path, label: str) -> ValueError:
    """What is wrong with a file no image reader takes, in a user's words (not a reader's exception)."""
    if path.stat().st_size == 0:
        return ValueError(f"{label}: empty file (0 bytes)")
    return ValueError(f"{label}: not a readable PNG, JPEG or TIFF image (damaged, cut short, or of another format)")


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(4) in _TIFF_MAGIC


def _read_image_file(path: Path, label: str) -> np.ndarray:
    height, width = image_size(path, label)
    _check_pixels(height, width, label)
    try:
        array = _read_tiff(path) if _is_tiff(path) else None
        if array is None:
            with Image.open(path) as image:
                image.load()
    except Exception:  # PIL and tifffile raise many types for corrupt/truncated files
        raise _unreadable(path, label) from None
    if array is None:
        return _pil_to_array(image, label)
    if np.issubdtype(array.dtype, np.integer) and array.dtype not in (np.uint8, np.uint16):
        return _integers_as_16bit(array, label)
    return array


def _read_tiff(path: Path) -> np.ndarray | None:
    """TIFFs go through tifffile, which reads the 16-bit, signed and float multi-band data that PIL
    cannot; None for palette and CMYK TIFFs, whose stored values (palette indices, inks) are not
    their colours: PIL reads those."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        if page.photometric in (tifffile.PHOTOMETRIC.PALETTE, tifffile.PHOTOMETRIC.SEPARATED):
            return None
        array = page.asarray()
        return np.moveaxis(array, 0, -1) if page.axes.startswith("S") else array  # planar: bands first


def _integers_as_16bit(array: np.ndarray, label: str) -> np.ndarray:
    """Integer images of other types (int16, int32, PIL mode I) are 16-bit images when their values fit.

    Negative values have no meaning as brightness and are refused rather than wrapped to white.
    """
    low, high = int(array.min(initial=0)), int(array.max(initial=0))
    if low < 0:
        raise ValueError(
            f"{label}: {array.dtype} image has negative values (min {low}); accepted: integers 0..65535 "
            "(scaled as 16-bit), uint8, or float in [0, 1]"
        )
    if high > 65535:
        raise ValueError(
            f"{label}: {array.dtype} image has values up to {high}; accepted: integers 0..65535 "
            "(scaled as 16-bit), uint8, or float in [0, 1]"
        )
    return array.astype(np.uint16)


def _pil_to_array(image: Image.Image, label: str) -> np.ndarray:
    image = ImageOps.exif_transpose(image)  # a photo taken sideways shows upright, as in every viewer
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":
        return _integers_as_16bit(np.asarray(image), label)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode == "La":  # luminance with premultiplied alpha: PIL converts it only to LA
        image = image.convert("LA")
    if image.has_transparency_data:  # RGBA, LA, or a palette or RGB image with a transparent colour
        return np.asarray(image.convert("LA" if image.mode in ("L", "LA") else "RGBA"))  # alpha read by `_to_rgb_uint8`
    if image.mode not in ("RGB", "L"):
        try:
            image = image.convert("RGB")  # palette, CMYK, 1-bit: the colour meaning is clear
        except ValueError:
            raise ValueError(f"{label}: PIL image mode {image.mode!r} cannot be converted to RGB; use RGB, RGBA, L or P") from None
    return np.asarray(image)


def _to_rgb_uint8(array: np.ndarray, label: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] != 3:  # channels first, as torch keeps them
        array = np.moveaxis(array, 0, -1)
    if array.ndim != 3:
        raise ValueError(f"{label}: expected an (H,W,3) RGB image, got shape {array.shape}")
    if array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"{label}: expected an (H,W,3) RGB image, got shape {array.shape}, read as {array.shape[-1]} bands; accepted: {_BANDS}, "
            "channels last (or 3 first); a stack of grayscale frames goes as a list of (H,W) arrays"
        )
    if array.shape[-1] in (2, 4):  # transparent pixels (alpha 0) show nothing: no data, which is pure black here
        array = np.where(array[..., -1:] == 0, 0, array)
    if array.shape[-1] in (1, 2):  # grayscale (+ alpha): replicate the gray band
        array = np.repeat(array[..., :1], 3, axis=-1)
    array = array[..., :3]  # drop alpha
    if not array.dtype.isnative:  # big-endian data, as some TIFF writers and network formats store it
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{label}: float frames must be finite values in [0, 1]; found NaN or infinity")
        lo, hi = float(array.min()), float(array.max())
        if lo < -_FLOAT_SLACK or hi > 1.0 + _FLOAT_SLACK:
            hint = " (8-bit levels as floats: divide by 255)" if lo >= 0 and hi <= 255 else ""
            raise ValueError(f"{label}: float frames must lie in [0, 1]; got values in [{lo:.7g}, {hi:.7g}]{hint}")
        return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{label}: {array.dtype} frames are not accepted; use uint8, uint16 or float in [0, 1]")
    raise ValueError(f"{label}: unsupported pixel type {array.dtype}; use uint8, uint16 or float in [0, 1]")


DateLike = Union[dt.date, str, int, float, np.datetime64]


def split_dates(text: str | None) -> list[str] | None:
    """Typed dates (command line, app) as a list: separated by commas, spaces or newlines; None when blank.

    Only splits: `parse_dates` checks the values, so every caller gets the same messages.
    """
    parts = [part for part in _DATE_SEPARATORS.split(text or "") if part]
    return parts or None


def parse_dates(dates: Sequence[DateLike] | None, count: int) -> np.ndarray:
    """Turn dates into float days since the first frame; None means equally spaced (5 days).

    Accepts datetime.date/datetime (pandas Timestamps too), numpy datetime64, ISO strings
    ("2021-05-10", "20210510") or day numbers, not mixed, in time order; integers that are all
    dates written as YYYYMMDD (20210510) are those dates. Day numbers are
    day-of-year or days since any start (ints or floats). Day-of-year cannot say the year, so in
    a series of numbers all within 1..366 a number smaller than the one before starts the next
    year (350, 360, 5: the 5 is 10 days after the 360); other numbers must not decrease.
    """
    if dates is None:
        return np.arange(count, dtype=np.float32) * DEFAULT_SPACING_DAYS
    if hasattr(dates, "__array__") and not isinstance(dates, np.ndarray):  # an xarray time coordinate, a tensor, pandas
        dates = np.asarray(dates)
    if isinstance(dates, (str, bytes, Mapping, Set)) or not isinstance(dates, Iterable) or not hasattr(dates, "__len__") or np.ndim(dates) > 1:
        raise ValueError(f"dates: expected a list of {count} dates, got {type(dates).__name__}")
    if isinstance(dates, np.ndarray) and dates.ndim == 0:
        raise ValueError(f"dates: expected a list of {count} dates, got one {dates.dtype} value")
    if len(dates) != count:
        raise ValueError(f"dates: got {len(dates)} dates for {count} frames; give one date per frame")
    days = [_to_day_number(value, position) for position, value in enumerate(dates, start=1)]
    kinds = {kind for kind, _ in days}
    if len(kinds) > 1:
        raise ValueError("dates: do not mix calendar dates and day numbers")
    numbers = np.array([number for _, number in days], dtype=np.float64)
    if kinds == {"number"} and (calendar := _yyyymmdd_ordinals(numbers)) is not None:
        numbers, kinds = calendar, {"date"}
    if kinds == {"number"} and ((numbers >= 1) & (numbers <= 366)).all():
        _note_day_of_year_turns(numbers)
        numbers = numbers + DAYS_PER_YEAR * np.concatenate([[0], np.cumsum(np.diff(numbers) < 0)])  # day-of-year: a new year
    steps = np.diff(numbers)
    if (steps < 0).any():
        where = int(np.argmax(steps < 0))
        wrap = " (day numbers start a new year on going down only when all lie in 1..366, as day-of-year)" if kinds == {"number"} else ""
        raise ValueError(
            f"dates: must be in time order (non-decreasing), but date {where + 2} ({_shown(dates[where + 1])}) comes before "
            f"date {where + 1} ({_shown(dates[where])}) (counting from 1){wrap}"
        )
    span = numbers[-1] - numbers[0]
    if kinds == {"number"} and span > MAX_DAY_NUMBER_SPAN:
        raise ValueError(
            f"dates: day numbers {numbers[0]:.0f}..{numbers[-1]:.0f} span {span / DAYS_PER_YEAR:,.0f} years; they are days, "
            "not seconds (Unix timestamps): give dates (2021-05-10) or days since a start"
        )
    if count >= 3 and span == 0:
        _note(
            f"dates: all {count} frames have one date; the filler weighs the other dates by their distance in time, "
            "here none: give each frame its own acquisition date",
            stacklevel=3,
        )
    return (numbers - numbers[0]).astype(np.float32)


def _shown(date: DateLike) -> str:
    """A date as a message shows it: as given, its day for datetimes."""
    if isinstance(date, np.datetime64):
        return str(date.astype("datetime64[D]"))
    return str(date.date()) if isinstance(date, dt.datetime) else str(date)


def _note_day_of_year_turns(numbers: np.ndarray) -> None:
    """Warn where a day-of-year number falls by less than half a year: taken as the next year's
    (parse_dates), it puts most of a year between two frames, as a list out of order does silently
    (10, 9, 8, ...: nine years)."""
    falls = -np.diff(numbers)
    close = np.flatnonzero((falls > 0) & (falls < DAYS_PER_YEAR / 2))
    if len(close):
        first = int(close[0])
        _note(
            f"dates: day {numbers[first + 1]:g} (date {first + 2}) follows day {numbers[first]:g} and is taken as the next year's, "
            f"{DAYS_PER_YEAR - falls[first]:g} days later ({len(close)} such turn(s)); if the frames are out of order, give them in "
            "time order, or give dates (2021-05-10)",
            stacklevel=3,
        )


def _yyyymmdd_ordinals(numbers: np.ndarray) -> np.ndarray | None:
    """Day numbers that are all dates written as YYYYMMDD integers (20190616; years 1900..2099) as
    ordinal days, else None: as days they would span some 55,000 years, and a month's turn 70 days."""
    if not (np.mod(numbers, 1) == 0).all() or not ((numbers >= 19000101) & (numbers <= 20991231)).all():
        return None
    try:
        return np.array([dt.date(int(n) // 10000, int(n) // 100 % 100, int(n) % 100).toordinal() for n in numbers], dtype=np.float64)
    except ValueError:  # no such month or day: not dates
        return None


def _to_day_number(value: DateLike, position: int) -> tuple[str, float]:
    """One date as ("date", ordinal day) or ("number", day number); `position` counts from 1."""
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError(f"dates: date {position} is missing (NaT)")
        value = value.astype("datetime64[D]").item()
    if isinstance(value, dt.datetime):
        if value != value:  # pandas.NaT
            raise ValueError(f"dates: date {position} is missing (NaT)")
        value = value.date()
    if isinstance(value, dt.date):
        return "date", float(value.toordinal())
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        if not np.isfinite(value):
            raise ValueError(f"dates: day number {value} (date {position}) is not finite")
        return "number", float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) <= 3:
            return _to_day_number(int(text), position)
        text = _OTHER_DATE_SEPARATORS.sub(r"\1-\3-\4", text)  # 2021_05_10, 2021/05/10, 2021.05.10 as in file names
        for reader in (dt.date.fromisoformat, lambda iso: dt.datetime.fromisoformat(iso).date()):
            try:  # the whole text must be a date (or a date and time): "2021-05-10junk" is refused
                return "date", float(reader(text).toordinal())
            except ValueError:
                continue
        raise ValueError(
            f"dates: cannot read {value!r} (date {position}); use dates like 2021-05-10 (also 20210510, 2021_05_10, "
            "2021/05/10) or day numbers"
        )
    raise ValueError(f"dates: date {position} has unsupported type {type(value).__name__}; use dates, ISO strings or day numbers")


def validate_masks(masks: np.ndarray | Sequence, shape: tuple[int, int, int]) -> np.ndarray:
    """Check user masks against the frames' (T,H,W); True means 'replace this pixel'.

    Booleans, 0/1 values, or 0/255 as masks saved as 8-bit images hold them."""
    if not isinstance(masks, (np.ndarray, Sequence)) and hasattr(masks, "__array__"):
        masks = _as_array(masks, "masks")
    try:
        array = np.asarray(masks)
    except ValueError:
        raise ValueError(f"masks: expected a (T,H,W) boolean array matching the frames {shape}") from None
    if array.ndim == 4 and 1 in (array.shape[1], array.shape[-1]):  # (T,H,W,1) or channels first (T,1,H,W)
        array = array[..., 0] if array.shape[-1] == 1 else array[:, 0]
    if array.shape != tuple(shape):
        given = "None" if masks is None else "file names, which masks cannot be" if array.dtype.kind in "US" else f"shape {array.shape}"
        raise ValueError(f"masks: {given}; expected an array of shape {tuple(shape)} matching the frames (T,H,W), True = replace")
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.number) and (np.isin(array, (0, 1)).all() or np.isin(array, (0, 255)).all()):
        return array.astype(bool)
    found = np.unique(array)
    shown = ", ".join(map(str, found[:5])) + (" ..." if len(found) > 5 else "")
    raise ValueError(f"masks: values {shown} found; expected booleans (or 0/1, or 0/255 values), True = cloudy pixel to replace")


def first_names(names: Sequence[str], shown: int = 3) -> str:
    """The first `shown` names of a list and how many more, for a one-line message."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
