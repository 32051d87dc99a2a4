"""Train stage 1, the cloud detector: python -m training.train_mask [--steps N] [--resume].

The temporal detector sees each frame with the reference of its other dates (see
training/detector_data.py). It learns from real labels of time series (CloudSEN12 dlmask, SCL,
Landsat pixel_qa, HLS Fmask), labelled scenes (ukis Landsat 5, s2cloudless, On Cloud N) and
satellite-cloud-generator clouds, thin cloud and haze on clear frames of real series, at random
gains 2..4. Validation on the held-out scenes is printed for monitoring only; the shipped
weights are a moving average of the trained ones at the last step.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from clear_vision import ClearVision, CloudDetector
from clear_vision.config import ClearVisionConfig

from .common import CALIBRATION_NAME, TrainingConfig, fit, parse_config, run_training, seed_everything, to_device, training_device, update_bundle
from .detector_data import DetectorSampler
from .score_detection import detection_table

@dataclass
class MaskConfig(TrainingConfig):
    run_dir: Path = Path("runs/mask")  # checkpoints
    steps: int = 3000
    batch: int = 24
    lr: float = 3e-3
    widths: tuple[int, ...] = (8, 16, 32, 64, 96)
    temporal: bool = True  # see the other dates' reference (7 input channels), else the frame alone
    shadow_weight: float = 0.5
    threshold: float = 0.5
    exclude_series: str = ""  # comma-separated series left out of training: a fold for `training.calibrate --cross-fit`
    exclude_scenes: str = ""  # comma-separated labelled scenes left out of training: a fold for the detection threshold
    ema_decay: float = 0.999  # ship a moving average of the weights (0: the last step's)
    validate_every: int = 500


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, shadow_weight: float) -> torch.Tensor:
    """Binary cross-entropy per class, unsure pixels weighted 0; shadow counts `shadow_weight`."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weights
    per_class = losses.sum(dim=(0, 2, 3)) / weights.sum(dim=(0, 2, 3)).clamp_min(1)
    return per_class[0] + shadow_weight * per_class[1]


def excluded_series(names: str) -> tuple[str, ...]:
    """`--exclude-series`' or `--exclude-scenes`' comma-separated names (also read back from a fold's training record)."""
    return tuple(name for name in names.split(",") if name)


def network(config: MaskConfig) -> CloudDetector:
    """The detector `config` trains: temporal (7 input channels) or the frame alone (3)."""
    return CloudDetector(widths=config.widths, in_channels=7 if config.temporal else 3)


def train(config: MaskConfig, resume: bool = False, command: str = "python -m training.train_mask") -> Path:
    sampler = DetectorSampler(config.data / "detector_train.npz", crop=config.crop, exclude_series=excluded_series(config.exclude_series),
                              exclude_scenes=excluded_series(config.exclude_scenes))
    device = training_device(config)

    def loss_of_batch(model: torch.nn.Module, rng: np.random.Generator) -> torch.Tensor:
        batch = to_device(sampler.batch(rng, config.batch), device)
        images = batch["images"] if config.temporal else batch["images"][:, :3]  # the frame alone: `detector_inputs` without a reference
        return masked_bce(model(images), batch["targets"], batch["weights"], config.shadow_weight)

    def validate(model: torch.nn.Module) -> dict[str, float]:
        pipeline = ClearVision(model, config=ClearVisionConfig(threshold=config.threshold), method="affine", device=device)
        pooled = detection_table(pipeline, config.data / "detector_val.npz")["pooled"]
        return {"val_f1": round(pooled["clear_vision"]["f1"], 4), "val_f1_brightness": round(pooled["brightness"]["f1"], 4)}

    seed_everything(config.seed)  # the initial weights too: two runs of one command give one network
    model = network(config)
    path = fit(
        model,
        config,
        resume=resume,
        loss_of_batch=loss_of_batch,
        validate=validate,
        role="detector",
        command=command,
    )
    update_bundle(config.out, threshold=config.threshold)
    return path


def main(argv: list[str] | None = None) -> int:
    prog = "python -m training.train_mask"
    config, resume, command = parse_config(MaskConfig, argv, prog, __doc__, ("detector_train.npz", "detector_val.npz"), network)
    if status := run_training(lambda: train(config, resume=resume, command=command), prog):
        return status
    if (Path(config.out) / CALIBRATION_NAME).is_file():  # `run`'s operating points were chosen for the detector just replaced
        print(f"note: {config.out} keeps the operating points calibrated for its previous detector; "
              f"run `python -m training.calibrate --weights {config.out}` (with --cross-fit folds) for this one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
