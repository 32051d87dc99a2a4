"""Stage 2's training and validation sets: clear frames and real cloud masks per site, held-out gap sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .gaps import cloudy_frames
from .readers import read_cube
from .scenes import read_eolearn_masks
from .sets import REMOVAL_HELD_OUT, benchmark_sequence, save_npz

__all__ = ["REMOVAL_TRAIN", "build_removal_sets"]

REMOVAL_TRAIN = (
    "s2_timeseries/greenearthnet/JAS2021_replicated_minicube_0_29SND_39.29_-8.56.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_0000280849BAC91C_32631_2018-08-01_2019-11-30.nc",
)


def build_removal_sets(data: Path, out: Path, seed: int = 0, validation_sequences: int = 40) -> dict[str, int]:
    """Stage 2: clear frames + real cloud masks per training site; `validation_sequences` gap sequences per held-out site."""
    rng = np.random.default_rng(seed)
    train: dict[str, np.ndarray] = {}
    for relative in tqdm(REMOVAL_TRAIN, desc="removal: training sites"):
        cube = read_cube(data / relative)
        clear = cube.clear_frames()
        train[f"{cube.name}.clear"] = cube.reflectance[clear].astype(np.float16)
        train[f"{cube.name}.clear_bad"] = cube.bad[clear]
        train[f"{cube.name}.days"] = (cube.dates[clear] - cube.dates[0]).astype("timedelta64[D]").astype(np.int32)
        train[f"{cube.name}.cloud_masks"] = cube.bad[cloudy_frames(cube)]
    train["eolearn.cloud_masks"] = read_eolearn_masks(data / "cloud_masks/eolearn/CLM.npy")
    save_npz(out / "removal_train.npz", train)

    validation: dict[str, np.ndarray] = {}
    for relative in tqdm(REMOVAL_HELD_OUT, desc="removal: held-out sequences"):
        cube = read_cube(data / relative)
        clear = cube.clear_frames()
        for index in range(validation_sequences):
            for key, value in benchmark_sequence(cube, rng, clear).items():
                validation[f"{cube.name}/seq{index:03d}.{key}"] = value
    save_npz(out / "removal_val.npz", validation)
    return {"train_sites": len(REMOVAL_TRAIN), "train_clear_frames": sum(len(v) for k, v in train.items() if k.endswith(".clear")), "val_sequences": validation_sequences * len(REMOVAL_HELD_OUT)}
