"""Stage 2's sampler: random gap sequences from the preprocessed removal set (seeded, on the fly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocess.rgb import GAIN_RANGE
from preprocess.sets import load_groups

from .common import random_dihedral, render_batch

__all__ = ["RemovalSampler", "FULL_COVER", "MIN_TARGET_CLEAR"]

FULL_COVER = 0.9  # masks above this cover become a fully missing frame (U-TILISE)
MIN_TARGET_CLEAR = 0.3  # a date gets a gap only if at least this much of its crop is known clear
MAX_CROPS_PER_DATE = 4.0  # a series weighs dates x area in crops, the area capped here


class RemovalSampler:
    """Random sequences (5..10 dates of one series, time order) with real cloud shapes hidden on 1..T//2 dates.

    Every date of a series is used, cloudy ones included: their own bad pixels stay masked (as
    in a real run) and are never scored, and the gaps hide pixels known to be clear, which the
    network learns to restore. Gap shapes come from the same series at the same place (half
    the time) or from any series' / the eo-learn cloud masks at a random place; 10 % of the
    gaps are whole missing dates. Series are drawn in proportion to dates x area in crops (capped
    at four), so the six small Puglia fields do not outweigh the large cubes. Series smaller than
    the crop are padded with missing pixels.
    """

    def __init__(self, path: Path, crop: int = 64) -> None:
        groups = load_groups(path)
        self.crop = crop
        series = {name: group for name, group in groups.items() if "frames" in group}
        usable = {name: group for name, group in series.items() if len(group["frames"]) >= 5}
        # A date takes a gap only where its crop is MIN_TARGET_CLEAR known clear; a series that never
        # is (a small field) is drawn and passed over, as when the shipped filler was trained, but
        # with none that can, a batch was drawn forever.
        clearest = {name: int((~group["bad"]).sum(axis=(1, 2)).max()) for name, group in usable.items()}  # known-clear pixels of its clearest date
        if not any(count >= MIN_TARGET_CLEAR * crop**2 for count in clearest.values()):
            found = ", ".join(f"{name.split(':', 1)[-1]} ({len(group['frames'])} dates of {group['frames'].shape[1]}x{group['frames'].shape[2]} px)" for name, group in series.items()) or "none"
            # a crop the size of a whole series holds all its clear pixels: one that many of them fill is sure to work
            sides = {name: max(group["frames"].shape[1:3]) for name, group in usable.items()}
            sure = [sides[name] for name, count in clearest.items() if count >= MIN_TARGET_CLEAR * sides[name] ** 2]
            advice = f"; --crop {max(sure)} or less works" if sure else ""
            raise ValueError(
                f"{path}: no series gives training sequences: they need 5 dates or more, and a date with at least "
                f"{MIN_TARGET_CLEAR:.0%} of a {crop} px crop known clear (--crop {crop}); its series: {found}{advice}"
            )
        weights = np.array([len(group["frames"]) * min(MAX_CROPS_PER_DATE, np.prod(group["frames"].shape[1:3]) / crop**2) for group in usable.values()])
        self.weights = weights / weights.sum()
        self.series = {name: self._padded(group) for name, group in usable.items()}
        self.bank = [mask for group in groups.values() for mask in group.get("cloud_masks", []) if min(mask.shape) >= crop]

    def _padded(self, group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        height, width = group["frames"].shape[1:3]
        pad_y, pad_x = max(0, self.crop - height), max(0, self.crop - width)
        if pad_y or pad_x:
            group = dict(group)
            group["frames"] = np.pad(group["frames"], ((0, 0), (0, pad_y), (0, pad_x), (0, 0)))
            group["bad"] = np.pad(group["bad"], ((0, 0), (0, pad_y), (0, pad_x)), constant_values=True)
            group["cloud_masks"] = np.pad(group["cloud_masks"], ((0, 0), (0, pad_y), (0, pad_x)))
        return group

    def _random_mask(self, series: dict, top: int, left: int, rng: np.random.Generator) -> np.ndarray:
        crop = self.crop
        if rng.random() < 0.1:
            return np.ones((crop, crop), dtype=bool)
        if len(series["cloud_masks"]) and (rng.random() < 0.5 or not self.bank):
            mask = series["cloud_masks"][rng.integers(len(series["cloud_masks"]))][top : top + crop, left : left + crop]
        elif not self.bank:  # no cloud shape of this size anywhere: the date goes missing whole
            return np.ones((crop, crop), dtype=bool)
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
        names = list(self.series)
        frames, masks, bad, days = [], [], [], []
        while len(frames) < size:
            series = self.series[names[rng.choice(len(names), p=self.weights)]]
            count = min(steps, len(series["frames"]))
            chosen = np.sort(rng.choice(len(series["frames"]), size=count, replace=False))
            height, width = series["frames"].shape[1:3]
            top, left = rng.integers(height - crop + 1), rng.integers(width - crop + 1)
            window = (slice(None), slice(top, top + crop), slice(left, left + crop))
            truth_bad = series["bad"][chosen][window]
            targets = np.flatnonzero((~truth_bad).mean(axis=(1, 2)) >= MIN_TARGET_CLEAR)
            if len(targets) == 0 or count < steps:
                continue
            gap = np.zeros((steps, crop, crop), dtype=bool)
            for frame in rng.choice(targets, size=rng.integers(1, min(len(targets), steps // 2) + 1), replace=False):
                gap[frame] = self._random_mask(series, top, left, rng)
            truth = series["frames"][chosen][window].astype(np.float32)
            stacked = random_dihedral(np.concatenate([truth, truth_bad[..., None], gap[..., None]], -1), rng, (1, 2))
            frames.append(render_batch(stacked[None, ..., :3], np.array([rng.uniform(*GAIN_RANGE)]))[0])
            bad.append(stacked[..., 3] > 0.5)
            masks.append((stacked[..., 4] > 0.5) | bad[-1])
            series_days = series["days"][chosen].astype(np.float32)
            days.append(series_days - series_days[0])
        return {
            "frames": np.stack(frames).transpose(0, 1, 4, 2, 3).astype(np.float32),
            "masks": np.stack(masks)[:, :, None],
            "truth_bad": np.stack(bad)[:, :, None],
            "days": np.stack(days),
        }
