"""Stage 1's sampler: random labelled frames with the other dates of the same place (seeded, on the fly).

Each sample is what the pipeline gives the temporal detector: the frame, the reference that
`clear_vision.detection.reference.temporal_reference` builds from 1..9 other dates, and its valid
channel, all rendered to 8-bit at a random gain (2..4) with a per-date brightness change
(season, light). Some samples get a misleading reference, as users' data can: the other dates
shifted by 8..24 px (misregistered) or taken from another place, and single scenes come either
alone or with unrelated tiles, so the network learns to rest on the frame when the dates disagree.
Some series samples get a bright, nearly white surface painted on every date at one place and
labelled clear: what stays from date to date is ground (snow, sand, roofs), not cloud.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clear_vision.config import Preprocessing
from clear_vision.detection.reference import detector_inputs, temporal_reference
from clear_vision.io.decode import DEFAULT_SPACING_DAYS
from preprocess.readers import CLEAR, CLOUD, IGNORE, SHADOW
from preprocess.rgb import GAIN_RANGE, render_rgb
from preprocess.sets import load_groups

__all__ = ["DetectorSampler"]

DATE_BRIGHTNESS = (0.9, 1.1)  # per-date brightness factor on top of the sequence's gain
MISREGISTERED, ELSEWHERE = 0.1, 0.05  # chance that the other dates are shifted / of another place
SERIES_SHARE = 0.65  # the rest: single labelled scenes (human and reference labels of other sensors and places)
PERSISTENT_BRIGHT = 0.15  # chance that a series sample gets a bright surface (snow, sand, roof) on every date


def _kept(groups: dict[str, dict], kind: str, excluded: tuple[str, ...], path: Path) -> dict[str, dict]:
    """The groups of one kind ("series" or "scene") by name, without the excluded ones (each must exist)."""
    named = {name.split(":", 1)[1]: group for name, group in groups.items() if name.startswith(f"{kind}:")}
    unknown = sorted(set(excluded) - set(named))
    if unknown:
        plural = "series" if kind == "series" else f"{kind}s"
        raise ValueError(f"exclude_{plural}: {', '.join(unknown)} not in {path}; its {plural} are {', '.join(sorted(named))}")
    return {name: group for name, group in named.items() if name not in excluded}


class DetectorSampler:
    """Batches of (inputs (B,7,S,S), targets (B,2,S,S) cloud/shadow, weights (B,2,S,S))."""

    def __init__(
        self, path: Path, crop: int = 64, preprocessing: Preprocessing | None = None, exclude_series: tuple[str, ...] = (), exclude_scenes: tuple[str, ...] = ()
    ) -> None:
        """`exclude_series`: series names left out with their simulated clouds; `exclude_scenes`:
        labelled scenes left out (calibration folds: data a detector never saw)."""
        groups = load_groups(path)
        self.series = _kept(groups, "series", exclude_series, path)
        self.simulated = {name.split(":", 1)[1]: group for name, group in groups.items() if name.startswith("sim:") and name.split(":", 1)[1] in self.series}
        scenes = _kept(groups, "scene", exclude_scenes, path)
        self.scenes = list(scenes.values())
        self.crop = crop
        sides = {name: min(group["images"].shape[1:3]) for name, group in {**self.series, **scenes}.items()}
        sides.update({f"simulated clouds of {name}": group["images"].shape[1] for name, group in self.simulated.items() if len(group["images"])})
        smallest = min(sides, key=sides.get) if sides else None
        if smallest is not None and sides[smallest] < crop:
            larger = sum(side < crop for side in sides.values())
            raise ValueError(
                f"--crop {crop}: larger than {larger} of the {len(sides)} series, scenes and simulated-cloud sets of {path} "
                f"(the smallest: {smallest}, {sides[smallest]} px a side); give --crop {sides[smallest]} or less"
            )
        if not (self.series or self.scenes):
            raise ValueError(f"{path}: no labelled series or scene left to train on (--exclude-series / --exclude-scenes left out all of them)")
        self.preprocessing = preprocessing or Preprocessing()

    # ---- sources ------------------------------------------------------------------------

    def _window(self, height: int, width: int, rng: np.random.Generator, inside: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
        """(top, left, scale): half the windows cover twice the ground (averaged down 2x, like 20..30 m data)."""
        top0, left0, side = inside if inside is not None else (0, 0, min(height, width))
        scale = 2 if side >= 2 * self.crop and rng.random() < 0.5 else 1
        size = self.crop * scale
        limit_h = (side if inside else height) - size
        limit_w = (side if inside else width) - size
        return top0 + int(rng.integers(limit_h + 1)), left0 + int(rng.integers(limit_w + 1)), scale

    def _cut(self, images: np.ndarray, top: int, left: int, scale: int) -> np.ndarray:
        """(N,H,W,C) -> (N,crop,crop,C), averaging scale x scale blocks (NaN stays NaN)."""
        size = self.crop * scale
        cut = images[:, top : top + size, left : left + size].astype(np.float32)
        if scale > 1:
            cut = cut.reshape(len(cut), self.crop, scale, self.crop, scale, -1).mean(axis=(2, 4))
        return cut

    def _others(self, group: dict, target: int, rng: np.random.Generator) -> np.ndarray:
        """1..9 other dates, mostly near the target in time."""
        steps = len(group["images"])
        nearby = np.array([index for index in range(max(0, target - 12), min(steps, target + 13)) if index != target])
        count = min(len(nearby), int(rng.integers(1, 10)))
        return np.sort(rng.choice(nearby, size=count, replace=False)) if count else np.array([], dtype=np.int64)

    def _series_sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """A real frame or a simulated cloud on a clear one, with other dates of its series."""
        names = list(self.series)
        use_simulated = rng.random() < 0.55
        if use_simulated:
            name = list(self.simulated)[rng.integers(len(self.simulated))]
            sim, group = self.simulated[name], self.series[name]
            pick = int(rng.integers(len(sim["images"])))
            target, side = int(sim["frame"][pick]), sim["images"].shape[1]
            top, left, scale = self._window(0, 0, rng, inside=(int(sim["top"][pick]), int(sim["left"][pick]), side))
            local = (top - int(sim["top"][pick]), left - int(sim["left"][pick]))
            frame = self._cut(sim["images"][pick : pick + 1], *local, scale)[0]
            labels = sim["labels"][pick][local[0] : local[0] + self.crop * scale : scale, local[1] : local[1] + self.crop * scale : scale]
        else:
            group = self.series[names[rng.integers(len(names))]]
            cloudy = np.flatnonzero(np.isin(group["labels"], (CLOUD, SHADOW)).mean(axis=(1, 2)) > 0.05)
            target = int(rng.choice(cloudy)) if len(cloudy) and rng.random() < 0.6 else int(rng.integers(len(group["images"])))
            top, left, scale = self._window(*group["images"].shape[1:3], rng)
            frame = self._cut(group["images"][target : target + 1], top, left, scale)[0]
            labels = group["labels"][target, top : top + self.crop * scale : scale, left : left + self.crop * scale : scale]
        others = self._others(group, target, rng)
        source, (o_top, o_left) = group, (top, left)
        chance = rng.random()
        if chance < MISREGISTERED:
            height, width = group["images"].shape[1:3]
            size = self.crop * scale
            o_top = int(np.clip(top + rng.choice([-1, 1]) * rng.integers(8, 25), 0, height - size))
            o_left = int(np.clip(left + rng.choice([-1, 1]) * rng.integers(8, 25), 0, width - size))
        elif chance < MISREGISTERED + ELSEWHERE:
            source = self.series[names[rng.integers(len(names))]]
            others = self._others(source, int(rng.integers(len(source["images"]))), rng)
            o_top, o_left, scale_other = self._window(*source["images"].shape[1:3], rng)
            stack = self._cut(source["images"][others], o_top, o_left, scale_other) if len(others) else np.zeros((0, self.crop, self.crop, 3), np.float32)
            days = np.concatenate([[0.0], np.sort(rng.uniform(-60, 60, len(others)))])
            return frame, stack, labels, days, True
        stack = self._cut(source["images"][others], o_top, o_left, scale) if len(others) else np.zeros((0, self.crop, self.crop, 3), np.float32)
        days = np.concatenate([[group["days"][target]], group["days"][others]]).astype(np.float64)
        return frame, stack, labels, days, True

    def _scene_sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """A single labelled frame, alone or among unrelated tiles (no real other date exists)."""
        group = self.scenes[rng.integers(len(self.scenes))]
        index = int(rng.integers(len(group["images"])))
        top, left, scale = self._window(*group["images"].shape[1:3], rng)
        frame = self._cut(group["images"][index : index + 1], top, left, scale)[0]
        labels = group["labels"][index, top : top + self.crop * scale : scale, left : left + self.crop * scale : scale]
        count = 0 if rng.random() < 0.5 else int(rng.integers(1, 10))
        unrelated = []
        for _ in range(count):
            other = self.scenes[rng.integers(len(self.scenes))]
            o_top, o_left, o_scale = self._window(*other["images"].shape[1:3], rng)
            unrelated.append(self._cut(other["images"][int(rng.integers(len(other["images"])))][None], o_top, o_left, o_scale)[0])
        stack = np.stack(unrelated) if unrelated else np.zeros((0, self.crop, self.crop, 3), np.float32)
        return frame, stack, labels, np.arange(count + 1, dtype=np.float64) * DEFAULT_SPACING_DAYS, bool(group["shadow_known"])

    def _paint_persistent_bright(self, stack: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A textured bright ellipse on every date of the (K+1,S,S,3) stack, clear ground in the labels."""
        size = stack.shape[1]
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(size / 10, size / 3, 2)
        angle = rng.uniform(0, np.pi)
        u, v = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle), -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        patch = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
        level = rng.uniform(0.22, 0.6) * rng.uniform(0.95, 1.05, 3)
        surface = level + rng.normal(0, 0.01, (size, size, 3)) * level
        stack = stack.copy()
        stack[:, patch] = surface[patch]
        labels = labels.copy()
        labels[patch] = CLEAR
        return stack, labels

    # ---- batches ------------------------------------------------------------------------

    def batch(self, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        inputs, targets, weights = [], [], []
        pre = self.preprocessing
        for _ in range(size):
            series = not self.scenes or (bool(self.series) and rng.random() < SERIES_SHARE)  # a fold may leave out every scene
            frame, others, labels, days, shadow_known = self._series_sample(rng) if series else self._scene_sample(rng)
            k, flip = int(rng.integers(4)), rng.random() < 0.5
            stack = np.concatenate([frame[None], others]).astype(np.float32)
            if series and len(others) and rng.random() < PERSISTENT_BRIGHT:
                stack, labels = self._paint_persistent_bright(stack, labels, rng)
            stack = np.rot90(stack, k=k, axes=(1, 2))
            labels = np.rot90(labels, k=k)
            if flip:
                stack, labels = stack[:, ::-1], labels[::-1]
            gain = rng.uniform(*GAIN_RANGE) * rng.uniform(*DATE_BRIGHTNESS, size=len(stack))
            rendered = np.stack([render_rgb(image, float(g)) for image, g in zip(stack, gain)])
            reference, valid = temporal_reference(rendered, days, np.array([0]))
            features = detector_inputs(rendered[:1], reference, valid, pre)
            inputs.append(features[0].numpy())
            known = labels != IGNORE
            targets.append(np.stack([labels == CLOUD, labels == SHADOW]))
            weights.append(np.stack([known, known & shadow_known]))
        return {
            "images": np.stack(inputs).astype(np.float32),
            "targets": np.stack(targets).astype(np.float32),
            "weights": np.stack(weights).astype(np.float32),
        }
