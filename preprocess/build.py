"""Build the training and validation sets from ../shared/data, reproducibly (seeded).

One site, GreenEarthNet Hungary (34TET), and one Landsat scene are held out of training
entirely: they are what validation and `training/evaluate.py` score on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .gaps import cloudy_frames, make_gap_sequence, simulate_clouds
from .readers import IGNORE, Cube, read_cube
from .rgb import BENCHMARK_GAIN, render_rgb
from .scenes import Scene, read_clear_geotiff, read_eolearn_clear_scenes, read_eolearn_masks, read_s2cloudless, read_ukis_landsat

__all__ = ["DEFAULT_DATA", "DEFAULT_OUT", "REMOVAL_TRAIN", "REMOVAL_HELD_OUT", "benchmark_sequence", "build_detector_sets", "build_removal_sets", "save_npz", "load_groups"]

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "processed"
REMOVAL_TRAIN = (
    "s2_timeseries/greenearthnet/JAS2021_replicated_minicube_0_29SND_39.29_-8.56.nc",
    "s2_timeseries/nrt/sentinel2_cube_subset_romania_10m.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_0000280849BAC91C_32631_2018-08-01_2019-11-30.nc",
)
REMOVAL_HELD_OUT = "s2_timeseries/greenearthnet/MJJ2021_replicated_minicube_225_34TET_47.37_22.05.nc"
DETECTOR_HELD_OUT_SCENE = "cloud_masks/ukis_csmask/landsat7.npz"
TILE = 128


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to `path` through a temporary file, so a crash never leaves half a dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(path)


def load_groups(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Read an npz written by this module back as {group: {field: array}} ("group.field" keys)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            group, _, name = key.rpartition(".")
            groups.setdefault(group, {})[name] = data[key]
    return groups


def _tiles(scene: Scene, size: int = TILE) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = scene.labels.shape[0] // size, scene.labels.shape[1] // size
    images = [scene.reflectance[r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(rows) for c in range(cols)]
    labels = [scene.labels[r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(rows) for c in range(cols)]
    return np.stack(images), np.stack(labels)


def _cube_group(cube: Cube) -> dict[str, np.ndarray]:
    present = ~np.isnan(cube.reflectance).all(axis=(1, 2, 3))
    labels = cube.labels[present].copy()
    labels[np.isnan(cube.reflectance[present]).any(axis=-1)] = IGNORE
    return {"images": cube.reflectance[present].astype(np.float16), "labels": labels, "shadow_known": np.array(True)}


def build_detector_sets(data: Path, out: Path, seed: int = 0, simulated: int = 300) -> dict[str, int]:
    """Labelled frames for stage 1: real labels from cubes and scenes, plus simulated clouds."""
    rng = np.random.default_rng(seed)
    train: dict[str, np.ndarray] = {}
    backgrounds = []
    for relative in tqdm(REMOVAL_TRAIN, desc="detector: labelled cubes"):
        cube = read_cube(data / relative)
        for key, value in _cube_group(cube).items():
            train[f"{cube.name}.{key}"] = value
        if min(cube.labels.shape[1:]) >= TILE:
            backgrounds.extend(cube.reflectance[cube.clear_frames()][:, :TILE, :TILE])
    for scene in (read_ukis_landsat(data / "cloud_masks/ukis_csmask/landsat5.npz"), read_s2cloudless(data / "cloud_masks/s2cloudless/input_arrays.npz")):
        images, labels = _tiles(scene)
        train.update({f"{scene.name}.images": images.astype(np.float16), f"{scene.name}.labels": labels, f"{scene.name}.shadow_known": np.array(scene.shadow_known)})
    clear_scene = read_clear_geotiff(data / "clear_scenes/openeo/S2_L2A_sample.tif")
    clear_images, clear_labels = _tiles(clear_scene)
    backgrounds.extend(clear_images)
    eolearn_clear = read_eolearn_clear_scenes(data / "cloud_masks/eolearn/REFERENCE_SCENES.npy")
    crop = min(eolearn_clear[0].labels.shape)
    train.update(  # clear ground of other places: negatives that keep bright soil and water out of the mask
        {
            f"{clear_scene.name}.images": clear_images.astype(np.float16),
            f"{clear_scene.name}.labels": clear_labels,
            f"{clear_scene.name}.shadow_known": np.array(True),
            "eolearn_clear.images": np.stack([scene.reflectance[:crop, :crop] for scene in eolearn_clear]).astype(np.float16),
            "eolearn_clear.labels": np.stack([scene.labels[:crop, :crop] for scene in eolearn_clear]),
            "eolearn_clear.shadow_known": np.array(True),
        }
    )
    sim_images, sim_labels = [], []
    for _ in tqdm(range(simulated), desc="detector: simulated clouds"):
        background = backgrounds[rng.integers(len(backgrounds))]
        background = np.rot90(background, k=int(rng.integers(4))).copy()
        image, labels = simulate_clouds(background, rng)
        sim_images.append(image)
        sim_labels.append(labels)
    train.update({"simulated.images": np.stack(sim_images).astype(np.float16), "simulated.labels": np.stack(sim_labels), "simulated.shadow_known": np.array(True)})
    save_npz(out / "detector_train.npz", train)

    held_out_cube = read_cube(data / REMOVAL_HELD_OUT)
    held_out_scene = read_ukis_landsat(data / DETECTOR_HELD_OUT_SCENE)
    images, labels = _tiles(held_out_scene)
    validation = {f"{held_out_cube.name}.{key}": value for key, value in _cube_group(held_out_cube).items()}
    validation.update({f"{held_out_scene.name}.images": images.astype(np.float16), f"{held_out_scene.name}.labels": labels, f"{held_out_scene.name}.shadow_known": np.array(True)})
    save_npz(out / "detector_val.npz", validation)
    return {"train_frames": sum(len(v) for k, v in train.items() if k.endswith(".images")), "val_frames": sum(len(v) for k, v in validation.items() if k.endswith(".images"))}


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


def build_removal_sets(data: Path, out: Path, seed: int = 0, validation_sequences: int = 40) -> dict[str, int]:
    """Stage 2: clear frames + real cloud masks per training site; fixed gap sequences of the held-out site."""
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

    cube = read_cube(data / REMOVAL_HELD_OUT)
    clear = cube.clear_frames()
    validation: dict[str, np.ndarray] = {}
    for index in tqdm(range(validation_sequences), desc="removal: held-out sequences"):
        for key, value in benchmark_sequence(cube, rng, clear).items():
            validation[f"seq{index:03d}.{key}"] = value
    save_npz(out / "removal_val.npz", validation)
    return {"train_sites": len(REMOVAL_TRAIN), "train_clear_frames": sum(len(v) for k, v in train.items() if k.endswith(".clear")), "val_sequences": validation_sequences}
