"""Render the app's bundled example sequences from the nrt Romania cube (the one licence that allows it).

Each sequence is a run of consecutive acquisition dates that mixes clear, partly cloudy and
fully cloudy frames, so a user sees clouds detected and filled from the clear dates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .readers import read_cube
from .rgb import BENCHMARK_GAIN, render_rgb

__all__ = ["NRT_CUBE", "SEQUENCES", "CREDIT", "LICENCE", "render_examples"]

NRT_CUBE = "s2_timeseries/nrt/sentinel2_cube_subset_romania_10m.nc"
CREDIT = "Contains modified Copernicus Sentinel data, via the nrt package"
LICENCE = "EUPL-1.2"

# name -> (first date, last date), inclusive; every acquisition in between is kept.
SEQUENCES: dict[str, tuple[str, str]] = {
    "romania_2018_summer": ("2018-07-01", "2018-08-25"),
    "romania_2019_summer": ("2019-06-16", "2019-08-10"),
    "romania_2020_spring": ("2020-03-12", "2020-05-16"),
}
MIN_LENGTH, MAX_LENGTH = 5, 10  # the range the removal model was trained on


def render_examples(data: Path, out: Path) -> list[Path]:
    """Write examples/<name>/frame_NN_<date>.png for every sequence, plus README.md; return the paths.

    Frames are 8-bit RGB at the benchmark gain, the form users upload. Folders are rewritten
    from scratch so a changed date range leaves no stale frames behind.
    """
    cube = read_cube(Path(data) / NRT_CUBE)
    out = Path(out)
    written: list[Path] = []
    readme_rows: list[str] = []
    for name, (first, last) in SEQUENCES.items():
        indices = _date_range(cube.dates, first, last, name)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("frame_*.png"):
            stale.unlink()
        for number, index in enumerate(indices, start=1):
            date = str(cube.dates[index])
            path = folder / f"frame_{number:02d}_{date}.png"
            Image.fromarray(render_rgb(cube.reflectance[index], BENCHMARK_GAIN)).save(path, optimize=True)
            written.append(path)
        cover = ", ".join(f"{cube.bad[index].mean():.0%}" for index in indices)
        readme_rows.append(f"| `{name}/` | {first} .. {last} | {len(indices)} | {cover} |")
    readme = out / "README.md"
    readme.write_text(_readme(readme_rows))
    written.append(readme)
    return written


def _date_range(dates: np.ndarray, first: str, last: str, name: str) -> np.ndarray:
    """Indices of the acquisitions from `first` to `last`; refuses a range outside the trained lengths."""
    inside = (dates >= np.datetime64(first, "D")) & (dates <= np.datetime64(last, "D"))
    indices = np.flatnonzero(inside)
    if not MIN_LENGTH <= len(indices) <= MAX_LENGTH:
        raise ValueError(f"{name}: {first}..{last} holds {len(indices)} frames; examples need {MIN_LENGTH} to {MAX_LENGTH}")
    return indices


def _readme(rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""# Example sequences

{CREDIT}. Licence: {LICENCE}.

Rendered by `python -m preprocess examples` from the shared data file
`{NRT_CUBE}`, the `nrt` package's test cube: a forest in Romania,
Sentinel-2 L2A at 10 m, 100x100 pixels. Frames are true colour (B04, B03, B02) as 8-bit PNG,
`uint8(clip(reflectance x {BENCHMARK_GAIN:g}, 0, 1) x 255 + 0.5)`, one folder per sequence of
consecutive acquisitions; file names carry order and date (`frame_01_2018-07-01.png`).

| sequence | dates | frames | cloud, shadow or unsure per frame (Sen2Cor SCL) |
|---|---|---|---|
{table}
"""
