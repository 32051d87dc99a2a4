"""Which uploaded files run, in what order, with which dates, and whether the app can take them.

Pure functions over file names and headers: browsers send files in no particular order, users
edit the order list, and a shared server must refuse work it cannot finish in reasonable time
before it decodes a single pixel.
"""

from __future__ import annotations

from pathlib import Path

from ..io.decode import IMAGE_SUFFIXES, MIN_FRAMES, dates_from_names, image_size, in_frame_order, natural_key, split_dates

__all__ = [
    "APP_MIN_FRAMES",
    "APP_MAX_FRAMES",
    "APP_MAX_PIXELS",
    "TRAINED_FRAMES",
    "sort_uploads",
    "frame_order_list",
    "order_frames",
    "check_size",
    "dates_for",
    "example_sequences",
]

APP_MIN_FRAMES = MIN_FRAMES  # the library's minimum
APP_MAX_FRAMES = 10  # one temporal window of the model; longer series belong to the CLI or library
# Pixels per run, all frames together: 10 frames of 1024x1024 take about 40 s on 2 CPU cores and
# keep the server under 3 GB; beyond that a shared server stops being responsive.
APP_MAX_PIXELS = 10 * 1024 * 1024
TRAINED_FRAMES = "5 to 10"


def sort_uploads(files: list[str] | None) -> tuple[list[str] | None, str]:
    """The uploads and the order list, both in frame order (by the dates in the names, else natural
    order); browsers send files in no particular order.

    One event sets both, so no second event can overwrite an order the user has started to edit.
    """
    ordered = None if files is None else in_frame_order(files)
    return ordered, frame_order_list(ordered)


def frame_order_list(files: list[str] | None) -> str:
    """The order list shown after an upload: uploaded file names in frame order, one per line."""
    return "\n".join(in_frame_order(Path(f).name for f in files or []))


def order_frames(files: list[str] | None, order: str) -> list[Path]:
    """Uploaded files in the order the user asked for (blank order = `in_frame_order`).

    Raises ValueError naming the problem: no files, a name uploaded twice, an unknown or
    repeated name in the order list, or a frame count outside the app's range. File types are
    checked by the upload component, file contents by the library.
    """
    paths = [Path(f) for f in files or []]
    if not paths:
        raise ValueError(f"no frames uploaded: add {APP_MIN_FRAMES} to {APP_MAX_FRAMES} images of one place, or click an example")
    by_name: dict[str, Path] = {}
    for path in paths:
        if path.name in by_name:
            raise ValueError(f"two uploaded files are named {path.name!r}; rename one so the order is clear")
        by_name[path.name] = path
    names = [line.strip() for line in (order or "").splitlines() if line.strip()]
    if not names:
        chosen = in_frame_order(paths)
    else:
        for index, name in enumerate(names):
            if name not in by_name:
                raise ValueError(f"frame order: {name!r} is not one of the uploaded files; list uploaded file names, one per line")
            if name in names[:index]:
                raise ValueError(f"frame order: {name!r} is listed twice; list each frame once")
        chosen = [by_name[name] for name in names]
    if not APP_MIN_FRAMES <= len(chosen) <= APP_MAX_FRAMES:
        raise ValueError(
            f"got {len(chosen)} frame(s); this app takes {APP_MIN_FRAMES} to {APP_MAX_FRAMES} frames of one place "
            f"(the model was trained on {TRAINED_FRAMES})"
            + ("; a new upload adds to the frames already there: clear them (the x of the frames box) first" if len(chosen) > APP_MAX_FRAMES else "")
        )
    return chosen


def check_size(paths: list[Path]) -> None:
    """Refuse, from the file headers alone, a run larger than APP_MAX_PIXELS.

    Ten 4096x4096 PNGs are under 8 MB as files but would take 9 GB and many minutes to process.
    """
    sizes = [image_size(path, f"frame {index} ({path.name})") for index, path in enumerate(paths, start=1)]
    total = sum(height * width for height, width in sizes)
    if total > APP_MAX_PIXELS:
        height, width = max(sizes, key=lambda size: size[0] * size[1])
        raise ValueError(
            f"{len(paths)} frames of up to {width}x{height} px are {total:,} pixels; this app takes at most "
            f"{APP_MAX_PIXELS:,} pixels per run (e.g. {APP_MAX_FRAMES} frames of 1024x1024): "
            "crop or downscale the frames, or use the command line for larger ones"
        )


def dates_for(text: str, paths: list[Path]) -> tuple[list[str] | None, str]:
    """Dates to pass to the library and a note saying where they came from.

    Typed dates win; else dates found in every file name; else None (equally spaced frames).
    The library validates the values themselves.
    """
    typed = split_dates(text)
    if typed:
        return typed, "dates as typed"
    found = dates_from_names(paths)
    if found:
        return [str(date) for date in found], "dates read from file names"
    return None, "no dates: frames taken as 5 days apart"


def example_sequences(folder: Path) -> dict[str, list[str]]:
    """Label -> frame paths (natural order) for every sub-folder of `folder` holding images."""
    if not folder.is_dir():
        return {}
    sequences = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        paths = sorted((str(p) for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if paths:
            label = sub.name.replace("_", " ").capitalize()
            sequences[f"{label} ({len(paths)} frames)"] = paths
    return sequences
