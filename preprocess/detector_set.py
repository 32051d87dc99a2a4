"""Stage 1's training and validation sets: labelled time series, labelled scenes, simulated clouds.

The temporal detector learns from a frame *and* the other dates of the same place, so the set
keeps whole series (every date with its labels and day), single labelled scenes (no other dates:
the detector must rest on the frame there), and satellite-cloud-generator clouds, thin cloud and
haze pasted on clear frames of the series with exact labels (the other dates stay real).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .gaps import simulate_clouds
from .readers import IGNORE, Cube, read_cube
from .scenes import Scene, read_clear_geotiff, read_eolearn_clear_scenes, read_oncloudn, read_s2cloudless, read_ukis_landsat
from .sets import DETECTOR_HELD_OUT_SCENES, REMOVAL_HELD_OUT, TILE, save_npz

__all__ = ["DETECTOR_SERIES", "SIMULATION_ONLY", "DETECTOR_SCENES", "build_detector_sets"]

# Time series with real labels (held-out removal sites are not here).
DETECTOR_SERIES = (
    "s2_timeseries/greenearthnet/JAS2021_replicated_minicube_0_29SND_39.29_-8.56.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc",
    "s2_timeseries/worldcereal/S2_L2A_10m_0000280849BAC91C_32631_2018-08-01_2019-11-30.nc",
    "s2_timeseries/openeo_gfmap/bap_quintad_cdse.nc",
    "landsat_timeseries/worldcereal_l8/L8_SR_10m_00002806639B424A.nc",
    "landsat_timeseries/worldcereal_l8/L8_SR_10m_000028085BF08E7E.nc",
    "s2_timeseries/hls_missouri",
)
# Series whose labels are derived from the series itself: in the set without labels (their labelled
# clear frames, through which simulated clouds are placed, are none), as the shipped weights were trained.
SIMULATION_ONLY = tuple(f"s2_timeseries/openeo_gfmap_puglia/openEO_{index}.nc" for index in range(6))
DETECTOR_SCENES = ("cloud_masks/ukis_csmask/landsat5.npz", "cloud_masks/s2cloudless/input_arrays.npz") + tuple(
    f"cloud_masks/oncloudn/chip_id_{index}" for index in (1, 2, 3, 5)
)
MIN_SIDE = 64  # the training crop


def _read_scene(path: Path) -> Scene:
    if path.name.startswith("chip_id_"):
        return read_oncloudn(path)
    if path.parent.name == "ukis_csmask":
        return read_ukis_landsat(path)
    return read_s2cloudless(path)


def _tiles(scene: Scene, size: int = TILE) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = scene.labels.shape[0] // size, scene.labels.shape[1] // size
    images = [scene.reflectance[r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(rows) for c in range(cols)]
    labels = [scene.labels[r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(rows) for c in range(cols)]
    return np.stack(images), np.stack(labels)


def _series_group(cube: Cube, with_labels: bool = True) -> dict[str, np.ndarray]:
    """Every present date of a series: reflectance, labels (IGNORE where unknown or missing), days."""
    present = ~np.isnan(cube.reflectance).all(axis=(1, 2, 3))
    labels = cube.labels[present].copy() if with_labels else np.full(cube.labels[present].shape, IGNORE, np.uint8)
    labels[np.isnan(cube.reflectance[present]).any(axis=-1)] = IGNORE
    days = (cube.dates[present] - cube.dates[present][0]).astype("timedelta64[D]").astype(np.int32)
    return {"images": cube.reflectance[present].astype(np.float16), "labels": labels, "days": days, "shadow_known": np.array(True)}


def _scene_group(images: np.ndarray, labels: np.ndarray, shadow_known: bool) -> dict[str, np.ndarray]:
    return {"images": images.astype(np.float16), "labels": labels, "shadow_known": np.array(shadow_known)}


def _simulated_group(group: dict[str, np.ndarray], rng: np.random.Generator, count: int, clear_labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Simulated cloud, thin cloud or haze (and shadow) on clear frames of one series, at random windows;
    `clear_labels`: labels that pick the clear frames where the group's own are unknown (a user's unlabelled series)."""
    images, labels = group["images"], group["labels"] if clear_labels is None else clear_labels
    size = min(TILE, images.shape[1], images.shape[2])
    clear = np.flatnonzero(((labels == 0).mean(axis=(1, 2)) > 0.97) & ~np.isnan(images.astype(np.float32)).any(axis=(1, 2, 3)))
    out: dict[str, list] = {"images": [], "labels": [], "frame": [], "top": [], "left": []}
    for _ in range(count if len(clear) else 0):
        frame = int(rng.choice(clear))
        top, left = int(rng.integers(images.shape[1] - size + 1)), int(rng.integers(images.shape[2] - size + 1))
        background = images[frame, top : top + size, left : left + size].astype(np.float32)
        thin = rng.random() < 0.4
        # shadows labelled only where clearly darker: a date may be 10 % darker for other reasons (light, season)
        image, label = simulate_clouds(background, rng, max_level=(0.1, 0.4) if thin else (0.4, 1.0), cloud_opacity=0.06 if thin else 0.12, shadow_darkening=0.3)
        for key, value in (("images", image), ("labels", label), ("frame", frame), ("top", top), ("left", left)):
            out[key].append(value)
    if not out["images"]:
        return {}
    return {
        "images": np.stack(out["images"]).astype(np.float16),
        "labels": np.stack(out["labels"]),
        "frame": np.array(out["frame"], np.int32),
        "top": np.array(out["top"], np.int32),
        "left": np.array(out["left"], np.int32),
    }


def build_detector_sets(
    data: Path, out: Path, seed: int = 0, simulated: int = 600, added: Sequence[Path] = (), units: tuple[float | None, float | None] = (None, None)
) -> dict[str, int]:
    """`detector_train.npz` and `detector_val.npz`; `simulated` clouds spread over the series.

    `added`: a user's own series (anything `read_cube` reads; `units`: the scale and offset of
    files that do not state them), trained on with their labels where they come with the data
    (an SCL band), else only through simulated clouds on the frames their own labels call clear.

    Groups: "series:<name>" (a labelled time series), "sim:<name>" (simulated clouds on that
    series' clear frames, which the sampler shows with the series' other dates), "scene:<name>"
    (single labelled frames or tiles, no other dates).
    """
    rng = np.random.default_rng(seed)
    train: dict[str, np.ndarray] = {}
    series: dict[str, dict[str, np.ndarray]] = {}
    clear_labels: dict[str, np.ndarray] = {}  # an added unlabelled series: its own labels pick the frames for simulated clouds
    sources = [(data / relative, True) for relative in DETECTOR_SERIES] + [(data / relative, False) for relative in SIMULATION_ONLY]
    added = [Path(path) for path in added]
    for path, labelled in tqdm(sources + [(path, True) for path in added], desc="detector: series"):
        cube = read_cube(path, *units)
        if min(cube.reflectance.shape[1:3]) < MIN_SIDE:
            tqdm.write(f"detector: {cube.name} left out: {cube.reflectance.shape[1]}x{cube.reflectance.shape[2]} px, under the {MIN_SIDE} px training crop")
            continue
        if cube.name in series:
            raise ValueError(f"{path}: a series named {cube.name} is already in the set; give each series its own name")
        series[cube.name] = _series_group(cube, with_labels=labelled and cube.real_labels)
        if path in added and not cube.real_labels:
            clear_labels[cube.name] = _series_group(cube)["labels"]
    per_series = max(1, simulated // max(1, len(series)))
    for name, group in tqdm(series.items(), desc="detector: simulated clouds"):
        train.update({f"series:{name}.{key}": value for key, value in group.items()})
        simulated_clouds = _simulated_group(group, rng, per_series, clear_labels.get(name))
        if name in clear_labels and not simulated_clouds:
            tqdm.write(f"detector: {name} teaches stage 1 nothing: it has no labels and no frame that its own labels call 97 % clear for simulated clouds")
        train.update({f"sim:{name}.{key}": value for key, value in simulated_clouds.items()})
    for relative in DETECTOR_SCENES:
        scene = _read_scene(data / relative)
        images, labels = _tiles(scene)
        train.update({f"scene:{scene.name}.{key}": value for key, value in _scene_group(images, labels, scene.shadow_known).items()})
    clear_scene = read_clear_geotiff(data / "clear_scenes/openeo/S2_L2A_sample.tif")  # clear ground of other places
    images, labels = _tiles(clear_scene)
    train.update({f"scene:{clear_scene.name}.{key}": value for key, value in _scene_group(images, labels, True).items()})
    eolearn_clear = read_eolearn_clear_scenes(data / "cloud_masks/eolearn/REFERENCE_SCENES.npy")
    crop = min(eolearn_clear[0].labels.shape)
    stacked = np.stack([scene.reflectance[:crop, :crop] for scene in eolearn_clear]), np.stack([scene.labels[:crop, :crop] for scene in eolearn_clear])
    train.update({f"scene:eolearn_clear.{key}": value for key, value in _scene_group(*stacked, True).items()})
    save_npz(out / "detector_train.npz", train)

    held_out_cube = read_cube(data / REMOVAL_HELD_OUT[0])
    validation = {f"series:{held_out_cube.name}.{key}": value for key, value in _series_group(held_out_cube).items()}
    for relative in DETECTOR_HELD_OUT_SCENES:
        scene = _read_scene(data / relative)
        images, labels = _tiles(scene)
        validation.update({f"scene:{scene.name}.{key}": value for key, value in _scene_group(images, labels, scene.shadow_known).items()})
    save_npz(out / "detector_val.npz", validation)
    count = lambda sets: sum(len(value) for key, value in sets.items() if key.endswith(".images"))  # noqa: E731
    return {"train_frames": count(train), "val_frames": count(validation)}
