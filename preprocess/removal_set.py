"""Stage 2's training and validation sets: every date of every training series, held-out gap sequences.

Training keeps all dates that are not almost entirely bad, with their own bad masks: the
sampler hides known-clear pixels (behind real cloud shapes) and learns to restore them, so the
cloudy dates are training data too, not only the few fully clear frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .gaps import MIN_SOURCE_COVER, cloudy_frames
from .readers import Cube, read_cube
from .scenes import read_eolearn_masks
from .sets import REMOVAL_HELD_OUT, benchmark_sequence, save_npz

__all__ = ["REMOVAL_TRAIN", "MAX_BAD_FRACTION", "build_removal_sets"]

_PUGLIA = tuple(f"s2_timeseries/openeo_gfmap_puglia/openEO_{index}.nc" for index in range(6))
REMOVAL_TRAIN = (
    "s2_timeseries/greenearthnet/JAS2021_replicated_minicube_0_29SND_39.29_-8.56.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_0000280849BAC91C_32631_2018-08-01_2019-11-30.nc",
    "s2_timeseries/openeo_gfmap/bap_quintad_cdse.nc",
    "s2_timeseries/openeo_gfmap/test_optical_cube.nc",
    "s2_timeseries/hls_missouri",
    *_PUGLIA,
    "landsat_timeseries/worldcereal_l8/L8_SR_10m_00002806639B424A.nc",
    "landsat_timeseries/worldcereal_l8/L8_SR_10m_000028085BF08E7E.nc",
)
MAX_BAD_FRACTION = 0.9  # dates worse than this (of the observed area) teach nothing and are dropped


def _training_arrays(cube: Cube) -> dict[str, np.ndarray]:
    """Dates with some clear ground, their bad masks and days, and the site's real gap shapes.

    Pixels never observed on any date (outside a field polygon) are bad but are not clouds, so
    they are left out of the gap shapes.
    """
    bad = cube.bad
    observed = ~bad.all(axis=0)
    bad_share = (bad & observed).sum(axis=(1, 2)) / max(int(observed.sum()), 1)
    kept = np.flatnonzero(bad_share <= MAX_BAD_FRACTION) if observed.any() else np.array([], dtype=np.int64)  # never clear: nothing to learn
    clouds = bad & observed
    return {
        "frames": cube.reflectance[kept].astype(np.float16),
        "bad": bad[kept],
        "days": (cube.dates[kept] - cube.dates[0]).astype("timedelta64[D]").astype(np.int32),
        "cloud_masks": clouds[(bad_share >= MIN_SOURCE_COVER) & (bad_share < 1.0)],
    }


def build_removal_sets(
    data: Path,
    out: Path,
    seed: int = 0,
    validation_sequences: int = 40,
    added: Sequence[Path] = (),
    held_out: Sequence[Path] | None = None,
    units: tuple[float | None, float | None] = (None, None),
) -> dict[str, int]:
    """Stage 2: every training series' usable dates; `validation_sequences` gap sequences per held-out site.

    `added`: a user's own training series; `held_out`: the sites the validation sequences come
    from instead of the project's (`REMOVAL_HELD_OUT`); `units`: the scale and offset of their
    files where the files do not state them (`read_cube`).
    """
    rng = np.random.default_rng(seed)
    train: dict[str, np.ndarray] = {}
    for path in tqdm([data / relative for relative in REMOVAL_TRAIN] + list(added), desc="removal: training series"):
        cube = read_cube(path, *units)
        if f"{cube.name}.frames" in train:
            raise ValueError(f"{path}: a series named {cube.name} is already in the set; give each series its own name")
        arrays = _training_arrays(cube)
        if len(arrays["frames"]) < 5:  # the sampler draws 5..10 dates of one series
            tqdm.write(f"removal: {cube.name} gives no training sequences: {len(arrays['frames'])} of its {len(cube.dates)} dates have clear ground, 5 are needed")
        for field, array in arrays.items():
            train[f"{cube.name}.{field}"] = array
    train["eolearn.cloud_masks"] = read_eolearn_masks(data / "cloud_masks/eolearn/CLM.npy")
    save_npz(out / "removal_train.npz", train)

    validation: dict[str, np.ndarray] = {}
    sites = [data / relative for relative in REMOVAL_HELD_OUT] if held_out is None else list(held_out)
    for path in tqdm(sites, desc="removal: held-out sequences"):
        cube = read_cube(path, *units)
        clear = cube.clear_frames()
        if len(clear) < 5 or len(cloudy_frames(cube)) == 0:
            raise ValueError(
                f"{path}: {len(clear)} clear frame(s) (under 3 % bad, no data nowhere) and {len(cloudy_frames(cube))} cloudy one(s); a held-out site "
                "needs 5 clear frames to build sequences of and a cloudy one to take clouds from (BENCHMARK.md)"
            )
        for index in range(validation_sequences):
            for key, value in benchmark_sequence(cube, rng, clear).items():
                validation[f"{cube.name}/seq{index:03d}.{key}"] = value
    save_npz(out / "removal_val.npz", validation)
    frames = sum(len(value) for key, value in train.items() if key.endswith(".frames"))
    return {"train_series": len(REMOVAL_TRAIN) + len(added), "train_dates": frames, "val_sequences": validation_sequences * len(sites)}
