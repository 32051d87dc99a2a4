"""Train stage 2, the temporal filler: python -m training.train_removal [--steps N] [--resume].

Learns to fill simulated gaps (real cloud masks on clear sequences of the training sites); the
loss is L1 on the hidden pixels. Validation on the held-out site is printed for monitoring only:
the shipped weights are those of the last step, not picked on the held-out site.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clear_vision import ClearVision, TemporalFiller
from preprocess.sets import load_removal_validation

from .common import TrainingConfig, fit, parse_config
from .data import RemovalSampler
from .score_removal import removal_scores

@dataclass
class RemovalConfig(TrainingConfig):
    run_dir: Path = Path("runs/removal")  # checkpoints
    widths: tuple[int, ...] = (8, 16, 32, 64)
    heads: int = 4
    hidden_weight: float = 1.0  # L1 on the hidden (masked, truly clear) pixels
    visible_weight: float = 0.1  # L1 on the rest: keeps the correction small where nothing is hidden


def hidden_pixel_loss(
    prediction: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor, truth_bad: torch.Tensor, hidden_weight: float, visible_weight: float
) -> torch.Tensor:
    """L1 on hidden pixels plus a little on visible ones; pixels bad in the truth are never scored."""
    error = (prediction - truth).abs()
    valid = (~truth_bad).float()
    hidden = masks.float() * valid
    visible = (~masks).float() * valid
    hidden_loss = (error * hidden).sum() / (3 * hidden.sum()).clamp_min(1)
    visible_loss = (error * visible).sum() / (3 * visible.sum()).clamp_min(1)
    return hidden_weight * hidden_loss + visible_weight * visible_loss


def train(config: RemovalConfig, resume: bool = False, command: str = "python -m training.train_removal") -> Path:
    sampler = RemovalSampler(config.data / "removal_train.npz", crop=config.crop)
    validation = load_removal_validation(config.data / "removal_val.npz", limit=12)

    def loss_of_batch(model: torch.nn.Module, rng: np.random.Generator) -> torch.Tensor:
        batch = {key: torch.from_numpy(value) for key, value in sampler.batch(rng, config.batch).items()}
        prediction = model(batch["frames"], batch["masks"], batch["days"])
        return hidden_pixel_loss(prediction, batch["frames"], batch["masks"], batch["truth_bad"], config.hidden_weight, config.visible_weight)

    def validate(model: torch.nn.Module) -> dict[str, float]:
        scores = removal_scores({"learned": ClearVision(filler=model, method="learned")}, validation, modes=("fill",))
        return {"val_fill_psnr": round(scores["learned"]["fill"]["psnr"], 3)}

    return fit(
        TemporalFiller(widths=config.widths, heads=config.heads),
        config,
        resume=resume,
        loss_of_batch=loss_of_batch,
        validate=validate,
        role="filler",
        command=command,
    )


def main(argv: list[str] | None = None) -> int:
    config, resume, command = parse_config(RemovalConfig, argv, "python -m training.train_removal", __doc__, "removal_train.npz")
    train(config, resume=resume, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
