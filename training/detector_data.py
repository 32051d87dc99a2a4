"""Stage 1's sampler: random labelled crops from the preprocessed detector set (seeded, on the fly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocess.readers import CLOUD, IGNORE, SHADOW
from preprocess.rgb import GAIN_RANGE
from preprocess.sets import load_groups

from .common import random_dihedral, render_batch

__all__ = ["DetectorSampler"]


class DetectorSampler:
    """Random crops of labelled frames at random gains and orientations.

    Targets per pixel: cloud (1/0), shadow (1/0), and weights that drop unsure pixels and, for
    cloud-only sources, the shadow target. Where the source is large enough, half the crops
    cover twice the ground, averaged down 2x: coarser sensors (Landsat at 30 m) look like that.
    """

    def __init__(self, path: Path, crop: int = 64) -> None:
        self.sources = load_groups(path)
        self.crop = crop

    def _crop(self, source: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        height, width = source["labels"].shape[1:]
        scale = 2 if min(height, width) >= 2 * self.crop and rng.random() < 0.5 else 1
        size = self.crop * scale
        index = rng.integers(len(source["images"]))
        top, left = rng.integers(height - size + 1), rng.integers(width - size + 1)
        image = source["images"][index, top : top + size, left : left + size].astype(np.float32)
        labels = source["labels"][index, top : top + size, left : left + size]
        if scale > 1:
            image = image.reshape(self.crop, scale, self.crop, scale, 3).mean(axis=(1, 3))
            labels = labels[::scale, ::scale]
        return image, labels

    def batch(self, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        names = list(self.sources)
        images, targets, weights = [], [], []
        for _ in range(size):
            source = self.sources[names[rng.integers(len(names))]]
            image, labels = self._crop(source, rng)
            stacked = random_dihedral(np.concatenate([image, labels[..., None].astype(np.float32)], -1), rng, (0, 1))
            image, labels = stacked[..., :3], stacked[..., 3].astype(np.uint8)
            images.append(render_batch(image[None], np.array([rng.uniform(*GAIN_RANGE)]))[0])
            known = labels != IGNORE
            targets.append(np.stack([labels == CLOUD, labels == SHADOW]))
            weights.append(np.stack([known, known & bool(source["shadow_known"])]))
        return {
            "images": np.stack(images).transpose(0, 3, 1, 2).astype(np.float32),
            "targets": np.stack(targets).astype(np.float32),
            "weights": np.stack(weights).astype(np.float32),
        }
