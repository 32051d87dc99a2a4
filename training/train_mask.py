"""Train stage 1, the cloud detector: python -m training.train_mask [--steps N] [--resume].

Learns from real labels (CloudSEN12 dlmask, SCL, the ukis Landsat reference, s2cloudless) and
from satellite-cloud-generator clouds on clear scenes, at random gains 2..4. Validation on the
held-out scenes is printed for monitoring only; the shipped weights are the last step's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from clear_vision import ClearVision, CloudDetector
from clear_vision.weights import WEIGHT_FILES
from preprocess.sets import DEFAULT_OUT

from .common import fit, parse_config
from .detector_data import DetectorSampler
from .score_detection import detection_table

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "model_dict"


@dataclass
class MaskConfig:
    data: Path = DEFAULT_OUT  # folder with detector_train.npz / detector_val.npz (python -m preprocess build)
    out: Path = DEFAULT_WEIGHTS  # where detector.safetensors is written
    run_dir: Path = Path("runs/mask")  # checkpoints
    steps: int = 2000  # longer runs fit the training sites' label habits: held-out F1 fell from ~0.92 at 2000 to 0.86 at 4000
    batch: int = 24
    crop: int = 64
    lr: float = 3e-3
    widths: tuple[int, ...] = (8, 16, 32, 64, 96)
    shadow_weight: float = 0.5
    threshold: float = 0.5
    ema_decay: float = 0.999  # ship a moving average of the weights (0: the last step's)
    validate_every: int = 500
    seed: int = 0
    threads: int = 2


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, shadow_weight: float) -> torch.Tensor:
    """Binary cross-entropy per class, unsure pixels weighted 0; shadow counts `shadow_weight`."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weights
    per_class = losses.sum(dim=(0, 2, 3)) / weights.sum(dim=(0, 2, 3)).clamp_min(1)
    return per_class[0] + shadow_weight * per_class[1]


def train(config: MaskConfig, resume: bool = False) -> Path:
    sampler = DetectorSampler(config.data / "detector_train.npz", crop=config.crop)

    def loss_of_batch(model: torch.nn.Module, rng: np.random.Generator) -> torch.Tensor:
        batch = {key: torch.from_numpy(value) for key, value in sampler.batch(rng, config.batch).items()}
        return masked_bce(model(batch["images"]), batch["targets"], batch["weights"], config.shadow_weight)

    def validate(model: torch.nn.Module) -> dict[str, float]:
        pipeline = ClearVision(model, None, method="affine", threshold=config.threshold)
        pooled = detection_table(pipeline, config.data / "detector_val.npz")["pooled"]
        return {"val_f1": round(pooled["clear_vision"]["f1"], 4), "val_f1_brightness": round(pooled["brightness"]["f1"], 4)}

    metadata = {
        "threshold": config.threshold,
        "classes": list(CloudDetector.classes),
        "preprocessing": {"input": "RGB uint8 / 255", "bands": ["B04", "B03", "B02"], "gain_range": [2.0, 4.0]},
    }
    return fit(
        CloudDetector(widths=config.widths),
        config,
        resume=resume,
        loss_of_batch=loss_of_batch,
        validate=validate,
        weights_path=config.out / WEIGHT_FILES["detector"],
        metadata=metadata,
        name="train_mask",
    )


def main(argv: list[str] | None = None) -> int:
    config, resume = parse_config(MaskConfig, argv, "python -m training.train_mask", __doc__, "detector_train.npz")
    train(config, resume=resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
