"""Stage 1's training and validation sets: labelled frames from real cubes and scenes, and simulated clouds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .gaps import simulate_clouds
from .readers import IGNORE, Cube, read_cube
from .removal_set import REMOVAL_TRAIN
from .scenes import (
    Scene,
    read_clear_geotiff,
    read_eolearn_clear_scenes,
    read_s2cloudless,
    read_ukis_landsat,
)
from .sets import DETECTOR_HELD_OUT_SCENES, REMOVAL_HELD_OUT, TILE, save_npz

__all__ = ["build_detector_sets"]


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

    held_out_cube = read_cube(data / REMOVAL_HELD_OUT[0])
    held_out_scene = read_ukis_landsat(data / DETECTOR_HELD_OUT_SCENES[0])
    images, labels = _tiles(held_out_scene)
    validation = {f"{held_out_cube.name}.{key}": value for key, value in _cube_group(held_out_cube).items()}
    validation.update({f"{held_out_scene.name}.images": images.astype(np.float16), f"{held_out_scene.name}.labels": labels, f"{held_out_scene.name}.shadow_known": np.array(True)})
    save_npz(out / "detector_val.npz", validation)
    return {"train_frames": sum(len(v) for k, v in train.items() if k.endswith(".images")), "val_frames": sum(len(v) for k, v in validation.items() if k.endswith(".images"))}
