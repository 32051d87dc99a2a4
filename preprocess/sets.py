"""Where the processed sets live, which sites train and which are held out, and their file format.

The held-out sites were chosen before any training and are never trained on:
- cloud removal: GreenEarthNet Hungary (34TET, cropland, Sentinel-2 at 20 m) and the nrt
  Romania forest cube (Sentinel-2 at 10 m): two biomes;
- cloud detection: the Hungary frames (CloudSEN12 labels), the ukis Landsat 7 reference scene and
  On Cloud N chip 4 (Guyana, human labels): three continents, two sensors.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .gaps import make_gap_sequence
from .readers import Cube
from .rgb import BENCHMARK_GAIN, render_rgb

__all__ = [
    "unwritable_folder",
    "DEFAULT_DATA",
    "DEFAULT_OUT",
    "REMOVAL_HELD_OUT",
    "DETECTOR_HELD_OUT_SCENES",
    "TILE",
    "save_npz",
    "load_groups",
    "benchmark_sequence",
    "sequences_by_site",
]

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "processed"
REMOVAL_HELD_OUT = (
    "s2_timeseries/greenearthnet/MJJ2021_replicated_minicube_225_34TET_47.37_22.05.nc",
    "s2_timeseries/nrt/sentinel2_cube_subset_romania_10m.nc",
)
DETECTOR_HELD_OUT_SCENES = ("cloud_masks/ukis_csmask/landsat7.npz", "cloud_masks/oncloudn/chip_id_4")
TILE = 128


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to `path` through a temporary file, so a crash never leaves half a dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(path)


def load_groups(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Read an npz written by `save_npz` back as {group: {field: array}} ("group.field" keys)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            group, _, name = key.rpartition(".")
            groups.setdefault(group, {})[name] = data[key]
    return groups


def benchmark_sequence(cube: Cube, rng: np.random.Generator, clear: np.ndarray) -> dict[str, np.ndarray]:
    """One scoring sequence of BENCHMARK.md: 5..10 clear frames, real clouds pasted, 8-bit at gain 3."""
    sequence = make_gap_sequence(cube, rng, int(rng.integers(5, min(10, len(clear)) + 1)), clear)
    return {
        "truth": render_rgb(sequence.truth, BENCHMARK_GAIN),
        "cloudy": render_rgb(sequence.cloudy, BENCHMARK_GAIN),
        "mask": sequence.mask,
        "scored": sequence.scored,
        "days": sequence.days,
    }


def sequences_by_site(path: Path) -> dict[str, list[dict[str, np.ndarray]]]:
    """The held-out gap sequences of `removal_val.npz` ("<site>/seqNNN.<field>" keys), per site in key order."""
    sites: dict[str, list[dict[str, np.ndarray]]] = {}
    for key, sequence in sorted(load_groups(path).items()):
        sites.setdefault(key.split("/")[0], []).append(sequence)
    return sites


def unwritable_folder(folder: Path) -> str | None:
    """Why `folder` cannot take the sets or a training's files, or None: created if missing, then written to once
    (found unwritable only after minutes of work, a run was lost)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        return "is a file"
    except OSError as error:
        return f"cannot be written to ({error.strerror or error})"
    return None
