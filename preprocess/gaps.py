"""Simulated gaps: real clouds pasted from other dates, and clouds from satellite-cloud-generator.

Follows BENCHMARK.md / U-TILISE: on 1..T//2 frames of a clear sequence, copy a cloudy frame's
bad pixels (values and mask) into the clear frame at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .readers import CLEAR, CLOUD, IGNORE, SHADOW, Cube

__all__ = ["GapSequence", "cloudy_frames", "make_gap_sequence", "simulate_clouds"]

MIN_SOURCE_COVER = 0.05  # a source frame must be at least this cloudy to be worth pasting


@dataclass
class GapSequence:
    """A clear sequence with pasted clouds.

    Attributes:
        truth: (T,H,W,3) reflectance of the clear frames.
        cloudy: (T,H,W,3) reflectance with the clouds pasted in (NaN where the source was missing).
        mask: (T,H,W) bool, pasted pixels plus pixels bad in the truth: what a filler must replace.
        scored: (T,H,W) bool, pasted pixels whose truth is clear: the pixels that are scored.
        days: (T,) days since the first frame.
    """

    truth: np.ndarray
    cloudy: np.ndarray
    mask: np.ndarray
    scored: np.ndarray
    days: np.ndarray


def cloudy_frames(cube: Cube, min_cover: float = MIN_SOURCE_COVER) -> np.ndarray:
    """Frames usable as cloud sources: at least `min_cover` bad, and not entirely missing."""
    missing = np.isnan(cube.reflectance).all(axis=(1, 2, 3))
    return np.flatnonzero((cube.bad.mean(axis=(1, 2)) >= min_cover) & ~missing)


def make_gap_sequence(cube: Cube, rng: np.random.Generator, length: int, clear: np.ndarray | None = None) -> GapSequence:
    """Pick `length` clear frames (time order), paste real clouds of the same site on 1..T//2 of them."""
    clear = cube.clear_frames() if clear is None else clear
    sources = cloudy_frames(cube)
    if len(clear) < length or len(sources) == 0:
        raise ValueError(f"{cube.name}: needs {length} clear frames and a cloudy one, has {len(clear)} and {len(sources)}")
    chosen = np.sort(rng.choice(clear, size=length, replace=False))
    truth = cube.reflectance[chosen]
    truth_bad = cube.bad[chosen]
    cloudy = truth.copy()
    pasted = np.zeros(truth_bad.shape, dtype=bool)
    for frame in rng.choice(length, size=rng.integers(1, length // 2 + 1), replace=False):
        source = rng.choice(sources)
        source_bad = cube.bad[source]
        cloudy[frame][source_bad] = cube.reflectance[source][source_bad]
        pasted[frame] = source_bad
    return GapSequence(truth, cloudy, pasted | truth_bad, pasted & ~truth_bad, cube.days(chosen))


def simulate_clouds(
    reflectance: np.ndarray,
    rng: np.random.Generator,
    max_level: tuple[float, float] = (0.4, 1.0),
    cloud_opacity: float = 0.2,
    shadow_darkening: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Add a synthetic cloud (and shadow) to one clear (H,W,3) reflectance image.

    Returns (cloudy reflectance, labels (H,W) CLEAR/CLOUD/SHADOW/IGNORE). The generator's cloud
    layer is an exact label: opacity over `cloud_opacity` is cloud, a faint fringe (0.05 up to
    it) is ignored; likewise shadow darker by over `shadow_darkening`. A low `max_level` gives thin
    cloud and haze.
    """
    import satellite_cloud_generator as scg

    torch.manual_seed(int(rng.integers(2**31)))
    image = torch.from_numpy(np.ascontiguousarray(reflectance.transpose(2, 0, 1)))[None].float()
    cloudy, cloud, shadow = scg.add_cloud_and_shadow(
        image,
        max_lvl=(float(rng.uniform(*max_level)), max_level[1]),
        min_lvl=(0.0, 0.05),
        clear_threshold=float(rng.uniform(0.0, 0.6)),
        locality_degree=int(rng.integers(1, 4)),
        decay_factor=float(rng.uniform(1.0, 2.0)),
        shadow_max_lvl=[0.2, 0.6],
        channel_offset=0,
        return_cloud=True,
    )
    opacity = cloud[0].mean(0).numpy()
    darkening = shadow[0].mean(0).numpy()
    labels = np.full(opacity.shape, CLEAR, dtype=np.uint8)
    labels[darkening > shadow_darkening] = SHADOW
    labels[(opacity > 0.05) & (labels == CLEAR)] = IGNORE
    labels[(darkening > 0.05) & (labels == CLEAR)] = IGNORE
    labels[opacity > cloud_opacity] = CLOUD
    return cloudy[0].numpy().transpose(1, 2, 0), labels
