"""Which uploaded files run, in what order, with which dates, and whether the app can take them.

Pure functions over file names and headers: browsers send files in no particular order, users
edit the order list, and a shared server must refuse work it cannot finish in reasonable time
before it decodes a single pixel.
"""

from __future__ import annotations

import filecmp
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..geo.uploads import Frame, stated_dates, upload_frames
from ..io.decode import DEFAULT_SPACING_DAYS, IMAGE_SUFFIXES, MIN_FRAMES, date_in_name, dates_from_names, first_names, image_size, in_frame_order, natural_key, split_dates

__all__ = [
    "APP_MIN_FRAMES",
    "APP_MAX_FRAMES",
    "APP_MAX_PIXELS",
    "APP_MAX_FILE_MB",
    "TRAINED_FRAMES",
    "too_large",
    "check_still_there",
    "sort_uploads",
    "frame_order_list",
    "order_frames",
    "in_time_order",
    "check_size",
    "dates_for",
    "example_sequences",
]

APP_MIN_FRAMES = MIN_FRAMES  # the library's minimum
APP_MAX_FRAMES = 10  # one temporal window of the model; longer series belong to the CLI or library
# Pixels per run, all frames together: 10 frames of 1024x1024 take about 40 s on 2 CPU cores and
# keep the server under 3 GB; beyond that a shared server stops being responsive.
APP_MAX_PIXELS = 10 * 1024 * 1024
APP_MAX_FILE_MB = 20  # per uploaded file (MiB, as Gradio counts them)
TRAINED_FRAMES = "5 to 10"


def too_large(files: Sequence[str] | None) -> dict[str, str]:
    """Uploads over APP_MAX_FILE_MB -> a note naming the file, its size and the limit.

    Gradio refuses a whole drop when one file is over its own limit, so the app's limit is
    checked here instead: the page leaves out just the files named, the API refuses the request.
    """
    notes = {}
    for file in files or []:
        path = Path(file)
        size = path.stat().st_size if path.is_file() else 0  # a missing file is named by the readers
        if size > APP_MAX_FILE_MB * 2**20:
            megabytes = math.ceil(size * 10 / 2**20) / 10  # rounded up: never "20.0 MB" for a file over 20 MB
            notes[file] = (f"{path.name} is {megabytes:.1f} MB; this app takes files of at most {APP_MAX_FILE_MB} MB each "
                           "(crop or compress it, or use the command line)")
    return notes


def check_still_there(files: Sequence[str] | None, kept_for: str) -> None:
    """Refuse uploads the server has deleted since (they outlived the cache age), saying so and what to do.

    The page still lists them; the readers would say "frame 1 (...): file not found".
    """
    gone = [Path(file).name for file in files or [] if not Path(file).is_file()]
    if gone:
        raise ValueError(
            f"the uploaded frames have expired ({first_names(gone)}): this app keeps uploads for {kept_for}. "
            "Clear the frames (the x of the frames box) and upload them again"
        )


def sort_uploads(files: list[str] | None, before: Sequence[str] = ()) -> tuple[list[str] | None, str, list[str]]:
    """The uploads and the order list, both in frame order (by the dates in the names, else natural
    order; browsers send files in no particular order), and a note on each file left out and on a
    drop that makes too many frames. `before`: the files the frames box held before this drop
    (Gradio adds a drop to them).

    Left out, the rest of the drop kept: files over APP_MAX_FILE_MB (`too_large`); a file dropped
    again (same name, same bytes), once; a file named as one already there but with other
    contents (the run would refuse both: which is which?). One event sets them all, so no second
    event can overwrite an order the user has started to edit.
    """
    if files is None:
        return None, "", []
    refused = too_large(files)
    notes = [f"Not added: {note}" for note in refused.values()]
    kept: dict[str, str] = {}  # name -> file
    for file in sorted(files, key=lambda file: file not in before):  # those already there first: the drop is what repeats
        name = Path(file).name
        if file in refused:
            continue
        if name not in kept:
            kept[name] = file
        elif file == kept[name] or filecmp.cmp(file, kept[name], shallow=False):
            notes.append(f"{name} was already in the frames box: kept once")
        else:
            notes.append(f"Not added: {name}: a different file of that name is already in the frames box; rename one so the order is clear")
    ordered = in_frame_order(kept.values())
    order = frame_order_list(ordered)
    if (count := len(order.splitlines())) > APP_MAX_FRAMES:
        there = sum(file in before for file in ordered)
        notes.append(
            (f"this drop added {len(ordered) - there} file(s) to the {there} already in the frames box: " if there else "")
            + too_many(count)
            + (" (or clear the frames box with its x and upload again)" if there else "")
        )
    return ordered, order, notes


def too_many(count: int) -> str:
    """What is wrong with `count` frames, over APP_MAX_FRAMES, and how to leave some out."""
    return (
        f"{count} frames given; this app takes at most {APP_MAX_FRAMES} (the model was trained on {TRAINED_FRAMES}): "
        f"delete {count - APP_MAX_FRAMES} line(s) from the frame order list to leave those frames out, or give fewer files"
    )


def frames_of(files: Sequence[str] | None) -> list[Frame]:
    """`upload_frames`, naming a damaged file as such.

    The library takes a TIFF it cannot open for a picture, so a damaged GeoTIFF among GeoTIFFs was
    refused as "a picture" mixed with GeoTIFFs; the header check used for every picture names it.
    """
    try:
        return upload_frames(files)
    except ValueError:
        for file in files or []:
            try:
                if Path(file).is_file():  # a missing one is named by `check_still_there` or the readers
                    image_size(file)
            except ValueError as error:
                raise ValueError(f"{error}; remove it (the x on its row in the frames box) or upload a good copy") from None
        raise


def frame_order_list(files: list[str] | None) -> str:
    """The order list shown after an upload: one line per frame, in frame order. A frame is an
    uploaded file, or for GeoTIFFs with one file per band and date, the part of the names a
    date's band files share. Uploads it cannot take yet (two of one name, pictures with
    GeoTIFFs) are listed by file name: the run names the problem."""
    try:
        names = [frame.name for frame in in_time_order(frames_of(files))]
    except ValueError:
        names = in_frame_order(Path(f).name for f in files or [])
    return "\n".join(names)


def order_frames(files: list[str] | None, order: str) -> list[Frame]:
    """The uploaded frames in the order the user asked for (blank order = `in_time_order`).

    A line names a frame (see `frame_order_list`); a band file's name stands for its date.
    Raises ValueError naming the problem: a file over APP_MAX_FILE_MB, no files, a name uploaded
    twice, an unknown or repeated name in the order list, or a frame count outside the app's range.
    File types are checked by the upload component, file contents by the library.
    """
    refused = too_large(files)
    if refused:
        raise ValueError("; ".join(refused.values()))
    frames = frames_of(files)
    if not frames:
        raise ValueError(f"no frames uploaded: add {APP_MIN_FRAMES} to {APP_MAX_FRAMES} images of one place, or click an example")
    by_name = {path.name: frame for frame in frames if frame.kind == "bands" for path in frame.files}
    by_name.update((frame.name, frame) for frame in frames)
    by_name.update({name.strip(): frame for name, frame in by_name.items()})  # lines are read stripped: " a.png" is listed as "a.png"
    names = [line.strip() for line in (order or "").splitlines() if line.strip()]
    if not names:
        chosen = in_time_order(frames)
    else:
        chosen = []
        for name in names:
            if name not in by_name:
                raise ValueError(
                    f"frame order: {name!r} is not one of the uploaded files; list {_line_kind(frames)}, one per line "
                    "(empty the list to run every frame in time order)"
                )
            if by_name[name] in chosen:
                again = "" if name == by_name[name].name.strip() else f" (the date of {by_name[name].name})"
                raise ValueError(f"frame order: {name!r}{again} is listed twice; list each frame once")
            chosen.append(by_name[name])
    if len(chosen) > APP_MAX_FRAMES:
        raise ValueError(too_many(len(chosen)))
    if len(chosen) < APP_MIN_FRAMES:
        raise ValueError(
            f"got {len(chosen)} frame(s); this app takes {APP_MIN_FRAMES} to {APP_MAX_FRAMES} frames of one place "
            f"(the model was trained on {TRAINED_FRAMES})"
        )
    return chosen


def in_time_order(frames: list[Frame]) -> list[Frame]:
    """Frames in `in_frame_order` of their names, then GeoTIFFs in order of the dates their files
    state (tags may date files whose names carry none); as named when a date cannot be read:
    the run names the problem, or takes typed dates."""
    by_name = {frame.name: frame for frame in frames}
    ordered = [by_name[name] for name in in_frame_order(by_name)]
    if not ordered or ordered[0].kind == "picture":
        return ordered
    try:
        dates = stated_dates(ordered)
    except ValueError:
        return ordered
    return [frame for _, frame in sorted(zip(dates, ordered), key=lambda pair: pair[0])]


def _line_kind(frames: list[Frame]) -> str:
    """What a line of the order list names, for these uploads."""
    if frames[0].kind == "bands":
        return "dates by the part of their band files' names they share (like 20230602_S30_T15SWD), or by a band file's name"
    return "uploaded file names"


def check_size(paths: list[Path]) -> None:
    """Refuse, from the file headers alone, a run larger than APP_MAX_PIXELS.

    Ten 4096x4096 PNGs are under 8 MB as files but would take 9 GB and many minutes to process.
    """
    sizes = [image_size(path, f"frame {index} ({path.name})") for index, path in enumerate(paths, start=1)]
    if len(set(sizes)) > 1:  # the library's message gives the sizes, not which frames are odd
        height, width = Counter(sizes).most_common(1)[0][0]
        odd = [f"{path.name} ({h}x{w})" for path, (h, w) in zip(paths, sizes) if (h, w) != (height, width)]
        raise ValueError(
            f"all frames must share one size: most are {height}x{width} px (rows x columns), but not {first_names(odd, shown=5)}"
            "; crop or resize those to match, or leave them out "
            "(delete their lines from the frame order list)"
        )
    total = sum(height * width for height, width in sizes)
    if total > APP_MAX_PIXELS:
        height, width = max(sizes, key=lambda size: size[0] * size[1])
        raise ValueError(
            f"{len(paths)} frames of up to {height}x{width} px are {total:,} pixels; this app takes at most "
            f"{APP_MAX_PIXELS:,} pixels per run (e.g. {APP_MAX_FRAMES} frames of 1024x1024): "
            "crop or downscale the frames, or use the command line for larger ones"
        )


def dates_for(text: str, frames: list[Frame]) -> tuple[list[str] | None, str]:
    """Dates to pass to the library and a note saying where they came from.

    Typed dates win; else the dates GeoTIFFs state (a date tag, else the file name: the note says
    which, `_stated_source`); else dates found in every frame's name; else None (equally spaced
    frames). Dates the user did not type must run forward in the chosen order, and the message
    says where they came from; the library validates typed ones.
    """
    typed = split_dates(text)
    if typed:
        return typed, "dates as typed"
    if frames[0].kind != "picture":
        found = stated_dates(frames)
        note = _stated_source(frames, found)
    else:
        with warnings.catch_warnings():  # its warning names the undated files: here the note does, on the page
            warnings.simplefilter("ignore")
            in_names = dates_from_names([frame.name for frame in frames])
        if not in_names:
            undated = [frame.name for frame in frames if date_in_name(frame.name) is None]
            missing = f" (none in the name of {first_names(undated)}; type them in the Dates box)" if len(undated) < len(frames) else ""
            return None, f"no dates{missing}: frames taken as {DEFAULT_SPACING_DAYS:g} days apart"
        found, note = [str(date) for date in in_names], "dates read from file names"
    for index in range(1, len(found)):
        if found[index] < found[index - 1]:  # ISO dates sort as text
            raise ValueError(
                f"frame order: the {note} are not in time order: {frames[index - 1].name} ({found[index - 1]}) is listed before "
                f"{frames[index].name} ({found[index]}); the model takes frames in time order. Keep the dated frames in time "
                "order (empty the order list to restore it), or type one date per frame, in the listed order, in the Dates box"
            )
    return found, note


def _stated_source(frames: list[Frame], found: list[str]) -> str:
    """Where GeoTIFF frames' `found` dates came from, for the summary and report.json: a user who
    sees a wrong date must know whether to fix a tag or a name.

    The library reads a date tag first, else the file name, and does not say which: a date the
    name does not hold came from a tag; one it holds is the name's (a tag there states the same).
    """
    tagged = [frame.name for frame, date in zip(frames, found) if str(date_in_name(frame.files[0])) != date]
    if not tagged:
        return "dates read from file names"
    if len(tagged) == len(frames):
        return "dates read from the files' date tags"
    return f"dates read from the date tags of {first_names(tagged)} and from the other file names"


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
