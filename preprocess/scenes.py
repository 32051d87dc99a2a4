"""Single scenes with cloud labels (detector training/validation) and clear scenes (backgrounds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .readers import CLEAR, CLOUD, IGNORE, SHADOW, labels_from_scl

__all__ = ["Scene", "read_ukis_landsat", "read_s2cloudless", "read_clear_geotiff", "read_eolearn_masks", "read_eolearn_clear_scenes", "read_oncloudn"]


@dataclass
class Scene:
    """One labelled image: reflectance (H,W,3) RGB, labels (H,W) CLEAR/CLOUD/SHADOW/IGNORE.

    `shadow_known` is False when the labels say nothing about shadow (cloud-only masks).
    """

    name: str
    reflectance: np.ndarray
    labels: np.ndarray
    shadow_known: bool = True


def read_ukis_landsat(path: str | Path) -> Scene:
    """ukis-csmask reference scene: bands Blue, Green, Red, ...; msk 4 cloud, 0 shadow, 1/2/3 clear."""
    with np.load(path) as data:
        image, mask = data["img"], data["msk"][..., 0]
    labels = np.full(mask.shape, CLEAR, dtype=np.uint8)
    labels[mask == 4] = CLOUD
    labels[mask == 0] = SHADOW
    return Scene(Path(path).stem, image[..., [2, 1, 0]].astype(np.float32), labels)


def read_s2cloudless(path: str | Path) -> Scene:
    """s2cloudless test scene (L1C, 13 bands) with the s2cloudless mask: a noisy, cloud-only label."""
    with np.load(path) as data:
        image, mask = data["s2_im"][0], data["cl_mask"][0]
    labels = np.where(mask > 0, CLOUD, CLEAR).astype(np.uint8)
    return Scene(Path(path).stem, image[..., [3, 2, 1]].astype(np.float32), labels, shadow_known=False)


def read_clear_geotiff(path: str | Path) -> Scene:
    """openEO sample GeoTIFF: B04, B03, B02, B08 DN and SCL."""
    import rasterio

    with rasterio.open(path) as source:
        bands = source.read()
    reflectance = np.moveaxis(bands[:3], 0, -1).astype(np.float32) / 10000.0
    return Scene(Path(path).stem, reflectance, labels_from_scl(bands[4].astype(np.int64)))


def read_eolearn_masks(path: str | Path) -> np.ndarray:
    """eo-learn CLM.npy: (N,H,W) bool real cloud masks, used as shapes for gap simulation."""
    return np.load(path)[..., 0].astype(bool)




def read_eolearn_clear_scenes(path: str | Path) -> list[Scene]:
    """eo-learn REFERENCE_SCENES.npy: 5 clear L1C scenes (13 bands): every pixel is a clear example."""
    scenes = np.load(path)
    return [
        Scene(f"eolearn_clear_{index}", scene[..., [3, 2, 1]].astype(np.float32), np.full(scene.shape[:2], CLEAR, np.uint8))
        for index, scene in enumerate(scenes)
    ]


def read_oncloudn(folder: str | Path) -> Scene:
    """On Cloud N chip: B04, B03, B02 GeoTIFFs (L2A DN = reflectance x 10000) and a human cloud label.

    Cloud shadow is not labelled (it is 0 like clear ground), so the scene says nothing about shadow.
    """
    import rasterio

    folder = Path(folder)
    bands = []
    for band in ("B04", "B03", "B02"):
        with rasterio.open(folder / f"{band}.tif") as source:
            bands.append(source.read(1).astype(np.float32))
    with rasterio.open(folder / "label.tif") as source:
        label = source.read(1)
    reflectance = np.stack(bands, axis=-1)
    no_data = (reflectance <= 0).all(axis=-1)
    reflectance = reflectance / 10000.0
    labels = np.where(label > 0, CLOUD, CLEAR).astype(np.uint8)
    labels[no_data] = IGNORE
    return Scene(f"oncloudn_{folder.name}", reflectance, labels, shadow_known=False)
