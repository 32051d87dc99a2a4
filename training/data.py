"""Stage 2's sampler: random gap sequences from the preprocessed removal set (seeded, on the fly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocess.rgb import GAIN_RANGE
from preprocess.sets import load_groups

from .common import random_dihedral, render_batch

__all__ = ["RemovalSampler", "FULL_COVER"]

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
