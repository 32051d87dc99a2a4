"""Train stage 2, the temporal filler: python -m training.train_removal [--steps N] [--resume].

Learns to restore hidden pixels on every date of the training series: real cloud shapes hide
pixels known to be clear, on clear and cloudy dates alike (their own clouds stay masked and
unscored); the loss is L1 on the hidden pixels. Validation on the held-out sites is printed
for monitoring only: the shipped weights are those of the last step, not picked on it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clear_vision import ClearVision, TemporalFiller
from preprocess.sets import sequences_by_site

from .common import TrainingConfig, fit, parse_config, run_training, seed_everything, to_device, training_device
from .data import RemovalSampler
from .score_removal import removal_scores

VALIDATION_PER_SITE = 6  # held-out sequences per site monitored during training
# Training series span at most 16 months of farmland, users' series (and the held-out Romania
# forest's) years of ground that may not change at all. Dates are shifted by a random offset
# and stretched by a random factor, so that the network cannot tie the size of a change to the
# number of days: the first run, without both, lost 3.4 dB on the Romania sequences.
MAX_DAY_OFFSET = 1800.0
DAY_STRETCH = (0.25, 4.0)  # log-uniform


@dataclass
class RemovalConfig(TrainingConfig):
    run_dir: Path = Path("runs/removal")  # checkpoints
    steps: int = 2500  # the shipped filler: 34 min on one thread of a busy 2-core machine
    ema_decay: float = 0.999
    validate_every: int = 500
    widths: tuple[int, ...] = (8, 16, 32, 64)
    heads: int = 4


def hidden_pixel_loss(prediction: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor, truth_bad: torch.Tensor) -> torch.Tensor:
    """L1 on the hidden pixels whose truth is clear and that some other date sees.

    Visible pixels are composed from the input anyway, and a pixel no other date sees is left
    unfilled by the pipeline.
    """
    seen_elsewhere = (~masks).any(dim=1, keepdim=True)
    hidden = (masks & ~truth_bad & seen_elsewhere).float()
    return ((prediction - truth).abs() * hidden).sum() / (3 * hidden.sum()).clamp_min(1)


def network(config: RemovalConfig) -> TemporalFiller:
    """The filler `config` trains."""
    return TemporalFiller(widths=config.widths, heads=config.heads)


def train(config: RemovalConfig, resume: bool = False, command: str = "python -m training.train_removal") -> Path:
    sampler = RemovalSampler(config.data / "removal_train.npz", crop=config.crop)
    sites = sequences_by_site(config.data / "removal_val.npz")
    validation = [sequence for sequences in sites.values() for sequence in sequences[:VALIDATION_PER_SITE]]
    device = training_device(config)

    def loss_of_batch(model: torch.nn.Module, rng: np.random.Generator) -> torch.Tensor:
        batch = sampler.batch(rng, config.batch)
        stretch = np.exp(rng.uniform(*np.log(DAY_STRETCH), size=(config.batch, 1)))
        batch["days"] = (batch["days"] * stretch + rng.uniform(0, MAX_DAY_OFFSET, size=(config.batch, 1))).astype(np.float32)
        batch = to_device(batch, device)
        prediction = model(batch["frames"], batch["masks"], batch["days"])
        return hidden_pixel_loss(prediction, batch["frames"], batch["masks"], batch["truth_bad"])

    def validate(model: torch.nn.Module) -> dict[str, float]:
        scores = removal_scores({"learned": ClearVision(filler=model, method="learned", device=device)}, validation, modes=("fill",))
        return {"val_fill_psnr": round(scores["learned"]["fill"]["psnr"], 3)}

    seed_everything(config.seed)  # the initial weights too: two runs of one command give one network
    model = network(config)
    return fit(
        model,
        config,
        resume=resume,
        loss_of_batch=loss_of_batch,
        validate=validate,
        role="filler",
        command=command,
    )


def main(argv: list[str] | None = None) -> int:
    prog = "python -m training.train_removal"
    config, resume, command = parse_config(RemovalConfig, argv, prog, __doc__, ("removal_train.npz", "removal_val.npz"), network)
    return run_training(lambda: train(config, resume=resume, command=command), prog)


if __name__ == "__main__":
    sys.exit(main())
