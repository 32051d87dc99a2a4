"""Samplers that turn the preprocessed sets into random training batches (seeded, on the fly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocess.readers import CLOUD, IGNORE, SHADOW
from preprocess.rgb import GAIN_RANGE
from preprocess.sets import load_groups

from .common import random_dihedral, render_batch

__all__ = ["RemovalSampler", "DetectorSampler", "FULL_COVER"]

FULL_COVER = 0.9  # masks above this cover become a fully missing frame (U-TILISE)


class RemovalSampler:
    """Random clear sequences (5..10 frames, time order) with real cloud masks on 1..T//2 frames.

    Masks come from the same site at the same place (half the time) or from any site's / the
    eo-learn cloud masks at a random place; 10 % of the gaps are whole missing frames.
    """

    def __init__(self, path: Path, crop: int = 64) -> None:
        groups = load_groups(path)
        self.sites = {name: group for name, group in groups.items() if "clear" in group and len(group["clear"]) >= 5}
        self.bank = [mask for group in groups.values() for mask in group.get("cloud_masks", [])]
        self.crop = crop

    def _random_mask(self, site: dict, top: int, left: int, rng: np.random.Generator) -> np.ndarray:
        crop = self.crop
        if rng.random() < 0.1:
            return np.ones((crop, crop), dtype=bool)
        if rng.random() < 0.5 and len(site["cloud_masks"]):
            mask = site["cloud_masks"][rng.integers(len(site["cloud_masks"]))][top : top + crop, left : left + crop]
        else:
            source = self.bank[rng.integers(len(self.bank))]
            y, x = rng.integers(source.shape[0] - crop + 1), rng.integers(source.shape[1] - crop + 1)
            mask = random_dihedral(source[y : y + crop, x : x + crop], rng, (0, 1))
        if mask.mean() > FULL_COVER:
            return np.ones((crop, crop), dtype=bool)
        return np.ascontiguousarray(mask)

    def batch(self, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        """frames (B,T,3,S,S) float, masks (B,T,1,S,S) bool, truth_bad (B,T,1,S,S) bool, days (B,T)."""
        steps, crop = int(rng.integers(5, 11)), self.crop
        names = list(self.sites)
        frames, masks, bad, days = [], [], [], []
        for _ in range(size):
            site = self.sites[names[rng.integers(len(names))]]
            chosen = np.sort(rng.choice(len(site["clear"]), size=steps, replace=False))
            height, width = site["clear"].shape[1:3]
            top, left = rng.integers(height - crop + 1), rng.integers(width - crop + 1)
            window = (slice(None), slice(top, top + crop), slice(left, left + crop))
            clear = site["clear"][chosen][window]
            truth_bad = site["clear_bad"][chosen][window]
            gap = np.zeros((steps, crop, crop), dtype=bool)
            for frame in rng.choice(steps, size=rng.integers(1, steps // 2 + 1), replace=False):
                gap[frame] = self._random_mask(site, top, left, rng)
            stacked = random_dihedral(np.concatenate([clear.astype(np.float32), truth_bad[..., None], gap[..., None]], -1), rng, (1, 2))
            frames.append(render_batch(stacked[None, ..., :3], np.array([rng.uniform(*GAIN_RANGE)]))[0])
            bad.append(stacked[..., 3] > 0.5)
            masks.append((stacked[..., 4] > 0.5) | bad[-1])
            site_days = site["days"][chosen].astype(np.float32)
            days.append(site_days - site_days[0])
        return {
            "frames": np.stack(frames).transpose(0, 1, 4, 2, 3).astype(np.float32),
            "masks": np.stack(masks)[:, :, None],
            "truth_bad": np.stack(bad)[:, :, None],
            "days": np.stack(days),
        }


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
