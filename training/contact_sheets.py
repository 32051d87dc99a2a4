"""Contact sheets of real cloudy sequences from the held-out sites: input | mask | output per frame.

Numbers hide what a person sees at once (grey islands, missed haze, shadows copied into other
dates, seams), so every model change is looked at on these sheets. One sheet per sequence: a
row per frame with the input, the input with the filled mask in red (cloud) and blue (shadow),
and `run`'s output; below each row the frame's date and masked fraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from clear_vision import ClearVision
from clear_vision.io.outputs import overlay_mask
from preprocess.readers import read_cube
from preprocess.rgb import BENCHMARK_GAIN, render_rgb
from preprocess.sets import REMOVAL_HELD_OUT

__all__ = ["cloudy_windows", "contact_sheet", "write_contact_sheets"]

LENGTH = 10  # frames per sheet, the size users send
SCALE = 2  # enlarge small frames so a person can see the edges


def cloudy_windows(data: Path, per_site: int = 2) -> list[tuple[str, np.ndarray, list]]:
    """Runs of LENGTH consecutive dates with real clouds from each held-out site: (name, frames, dates).

    Chosen by a fixed rule, not by eye: the windows whose mean labelled cloud cover is closest to
    30 % (cloudy enough to matter, clear enough to fill from), non-overlapping.
    """
    windows = []
    for relative in REMOVAL_HELD_OUT:
        cube = read_cube(data / relative)
        present = np.flatnonzero(~np.isnan(cube.reflectance).all(axis=(1, 2, 3)))
        bad = cube.bad[present].mean(axis=(1, 2))
        starts = list(range(0, len(present) - LENGTH + 1))
        order = sorted(starts, key=lambda start: abs(bad[start : start + LENGTH].mean() - 0.3))
        taken: list[int] = []
        for start in order:
            if len(taken) == per_site:
                break
            if all(abs(start - other) >= LENGTH for other in taken):
                taken.append(start)
        for start in sorted(taken):
            chosen = present[start : start + LENGTH]
            frames = render_rgb(cube.reflectance[chosen], BENCHMARK_GAIN)
            windows.append((f"{cube.name[:24]}_{start:03d}", frames, list(cube.dates[chosen].astype(object))))
    return windows


def contact_sheet(model: ClearVision, frames: np.ndarray, dates: list) -> Image.Image:
    """One sheet: per frame the input, the mask `run` filled over it, and the output."""
    result = model.run(frames, dates)
    height, width = frames.shape[1] * SCALE, frames.shape[2] * SCALE
    caption, gap = 14, 4
    sheet = Image.new("RGB", (3 * width + 4 * gap, len(frames) * (height + caption + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for index, frame in enumerate(frames):
        classes = result.mask_class[index]
        overlay = overlay_mask(frame, result.masks[index] & (classes != 2))
        overlay = overlay_mask(overlay, result.masks[index] & (classes == 2), colour=(40, 90, 255))
        top = gap + index * (height + caption + gap)
        for column, image in enumerate((frame, overlay, result.frames[index])):
            tile = Image.fromarray(image).resize((width, height), Image.NEAREST)
            sheet.paste(tile, (gap + column * (width + gap), top))
        draw.text((gap, top + height), f"{dates[index]}  masked {result.cloud_cover[index]:.0%}", fill="black")
    return sheet


def write_contact_sheets(model: ClearVision, data: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frames, dates in cloudy_windows(data):
        path = out / f"{name}.png"
        contact_sheet(model, frames, dates).save(path)
        paths.append(path)
    return paths
