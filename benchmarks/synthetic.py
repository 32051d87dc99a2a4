"""Seeded synthetic sequences for the benchmarks: the networks cost the same on any content, so no data set is needed.

The sequences carry white clouds and shadows so that stage 2 always has work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["synthetic_sequence", "write_frames", "mirrored_index"]


def synthetic_sequence(frames: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded (T,H,W,3) uint8 sequence of one place, clouds on half the frames, and its (T,H,W) masks.

    Ground: fields (blocks) and smooth relief in vegetation colours, a seasonal gain per frame.
    Clouds: white Gaussian blobs with a displaced shadow; the first frame is always clear, so
    every pixel has a clear observation.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    block = 24
    fields = rng.uniform(-25, 25, size=(height // block + 1, width // block + 1, 3)).astype(np.float32)
    ground = np.repeat(np.repeat(fields, block, axis=0), block, axis=1)[:height, :width]
    ground += np.array([70, 95, 60], dtype=np.float32)
    for _ in range(4):
        k_row, k_col = rng.uniform(0.005, 0.05, size=2)
        ground += rng.uniform(5, 15) * np.sin(k_row * rows + k_col * cols + rng.uniform(0, 2 * np.pi))[..., None]

    images = np.empty((frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((frames, height, width), dtype=bool)
    cloudy = set(rng.choice(np.arange(1, frames), size=max(1, frames // 2), replace=False).tolist()) if frames > 1 else set()
    for index in range(frames):
        image = ground * rng.uniform(0.85, 1.15) + rng.normal(0, 2, size=ground.shape).astype(np.float32)
        if index in cloudy:
            cloud = _blobs(rng, rows, cols)
            shift = int(0.08 * min(height, width))
            shadow = np.roll(cloud, (shift, shift), axis=(0, 1)) * (cloud < 0.2)
            image = image * (1 - 0.5 * shadow[..., None])
            image = image * (1 - cloud[..., None]) + 235.0 * cloud[..., None]
            masks[index] = (cloud > 0.2) | (shadow > 0.2)
        images[index] = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return images, masks


def _blobs(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cloud opacity in [0,1]: a few Gaussian blobs, saturated in their cores."""
    height, width = rows.shape
    opacity = np.zeros_like(rows)
    for _ in range(int(rng.integers(2, 6))):
        radius = rng.uniform(0.06, 0.2) * min(height, width)
        centre_row, centre_col = rng.uniform(0, height), rng.uniform(0, width)
        opacity += np.exp(-((rows - centre_row) ** 2 + (cols - centre_col) ** 2) / (2 * radius**2))
    return np.clip(1.5 * opacity, 0, 1)


def write_frames(images: np.ndarray, folder: Path, stem: str = "frame", suffix: str = ".png") -> list[Path]:
    """Write frames as numbered image files (as a user would upload them); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images, start=1):
        path = folder / f"{stem}_{index:02d}{suffix}"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def mirrored_index(index: np.ndarray, length: int) -> np.ndarray:
    """Index into a tile mirrored without end (0 1 .. n-1 n-1 .. 0 0 1 ..): large test scenes from a small tile."""
    period = index % (2 * length)
    return np.where(period < length, period, 2 * length - 1 - period)
