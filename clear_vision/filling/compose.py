"""Step 4: compose the output: unmasked pixels keep their input values exactly."""

from __future__ import annotations

import numpy as np

__all__ = ["compose"]


def compose(frames: np.ndarray, prediction: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """frames (T,H,W,3) uint8, prediction (T,H,W,3) float in [0,1], replace (T,H,W) bool -> uint8."""
    predicted = np.round(np.clip(prediction, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.where(replace[..., None], predicted, frames)
