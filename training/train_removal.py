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
from clear_vision.weights import WEIGHT_FILES
from preprocess.sets import DEFAULT_OUT, load_removal_validation

from .common import fit, parse_config
from .data import RemovalSampler
from .score_removal import removal_scores

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "model_dict"


@dataclass
class RemovalConfig:
    data: Path = DEFAULT_OUT  # folder with removal_train.npz / removal_val.npz (python -m preprocess build)
    out: Path = DEFAULT_WEIGHTS  # where filler.safetensors is written
    run_dir: Path = Path("runs/removal")  # checkpoints
    steps: int = 2000
    batch: int = 8
    crop: int = 64
    lr: float = 2e-3
    widths: tuple[int, ...] = (8, 16, 32, 64)
    heads: int = 4
    hidden_weight: float = 1.0  # L1 on the hidden (masked, truly clear) pixels
    visible_weight: float = 0.1  # L1 on the rest: keeps the correction small where nothing is hidden
    ema_decay: float = 0.0  # > 0: ship a moving average of the weights instead of the last step's
    validate_every: int = 200
    seed: int = 0
    threads: int = 2


def hidden_pixel_loss(prediction: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor, truth_bad: torch.Tensor, config: RemovalConfig) -> torch.Tensor:
    """L1 on hidden pixels plus a little on visible ones; pixels bad in the truth are never scored."""
    error = (prediction - truth).abs()
    valid = (~truth_bad).float()
    hidden = masks.float() * valid
    visible = (~masks).float() * valid
    hidden_loss = (error * hidden).sum() / (3 * hidden.sum()).clamp_min(1)
    visible_loss = (error * visible).sum() / (3 * visible.sum()).clamp_min(1)
    return config.hidden_weight * hidden_loss + config.visible_weight * visible_loss


def train(config: RemovalConfig, resume: bool = False) -> Path:
    sampler = RemovalSampler(config.data / "removal_train.npz", crop=config.crop)
    validation = load_removal_validation(config.data / "removal_val.npz", limit=12)

    def loss_of_batch(model: torch.nn.Module, rng: np.random.Generator) -> torch.Tensor:
        batch = {key: torch.from_numpy(value) for key, value in sampler.batch(rng, config.batch).items()}
        prediction = model(batch["frames"], batch["masks"], batch["days"])
        return hidden_pixel_loss(prediction, batch["frames"], batch["masks"], batch["truth_bad"], config)

    def validate(model: torch.nn.Module) -> dict[str, float]:
        scores = removal_scores({"learned": ClearVision(None, model, method="learned")}, validation, modes=("fill",))
        return {"val_fill_psnr": round(scores["learned"]["fill"]["psnr"], 3)}

    metadata = {"window": 10, "preprocessing": {"input": "RGB uint8 / 255", "bands": ["B04", "B03", "B02"], "gain_range": [2.0, 4.0]}}
    return fit(
        TemporalFiller(widths=config.widths, heads=config.heads),
        config,
        resume=resume,
        loss_of_batch=loss_of_batch,
        validate=validate,
        weights_path=config.out / WEIGHT_FILES["filler"],
        metadata=metadata,
        name="train_removal",
    )


def main(argv: list[str] | None = None) -> int:
    config, resume = parse_config(RemovalConfig, argv, "python -m training.train_removal", __doc__, "removal_train.npz")
    train(config, resume=resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
