"""Shared training plumbing: seeds, config, resumable checkpoints, rendering at random gains."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "render_batch", "Checkpointer", "describe_config", "random_dihedral"]


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def render_batch(reflectance: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Reflectance (N,...,3) at per-sample gains -> float in [0,1] quantised like an 8-bit upload."""
    shape = (-1,) + (1,) * (reflectance.ndim - 1)
    scaled = np.clip(np.nan_to_num(reflectance.astype(np.float32), nan=0.0) * gains.reshape(shape), 0.0, 1.0)
    return np.floor(scaled * 255.0 + 0.5) / 255.0


def random_dihedral(array: np.ndarray, rng: np.random.Generator, axes: tuple[int, int]) -> np.ndarray:
    """One of the 8 flips/rotations of the two spatial axes (same for every frame of a sample)."""
    array = np.rot90(array, k=int(rng.integers(4)), axes=axes)
    return np.flip(array, axis=axes[0]) if rng.random() < 0.5 else array


def describe_config(config: Any) -> dict[str, Any]:
    values = asdict(config)
    return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


class Checkpointer:
    """Saves model/optimiser/step/RNG state every few minutes to `run_dir/checkpoint.pt` (atomically)."""

    def __init__(self, run_dir: Path, every_seconds: float = 120.0) -> None:
        self.path = Path(run_dir) / "checkpoint.pt"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.every_seconds, self.last = every_seconds, time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every_seconds

    def save(self, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rng: np.random.Generator, config: dict, history: list) -> None:
        state = {
            "step": step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "numpy_rng": json.dumps(rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "config": json.dumps(config),
            "history": json.dumps(history),
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        torch.save(state, temporary)
        temporary.replace(self.path)
        self.last = time.monotonic()

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> tuple[int, list]:
        """Load the last checkpoint (safe loading: tensors and plain types only); returns (step, history)."""
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"]), json.loads(state["history"])
