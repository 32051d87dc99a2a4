"""Train stage 1, the cloud detector: python -m training.train_mask [--steps N] [--resume].

Learns from real labels (CloudSEN12 dlmask, SCL, the ukis Landsat reference, s2cloudless) and
from satellite-cloud-generator clouds on clear scenes, at random gains 2..4. Validation on the
held-out scenes is printed for monitoring only; the shipped weights are the last step's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm import tqdm

from clear_vision import ClearVision, CloudDetector
from clear_vision.weights import WEIGHT_FILES, save_weights
from preprocess.build import DEFAULT_OUT

from .common import Checkpointer, describe_config, seed_everything
from .data import DetectorSampler
from .evaluate import detection_table

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "model_dict"


@dataclass
class MaskConfig:
    data: Path = DEFAULT_OUT  # folder with detector_train.npz / detector_val.npz (python -m preprocess build)
    out: Path = DEFAULT_WEIGHTS  # where detector.safetensors is written
    run_dir: Path = Path("runs/mask")  # checkpoints
    steps: int = 4000
    batch: int = 16
    crop: int = 64
    lr: float = 3e-3
    widths: tuple[int, ...] = (8, 16, 32, 64, 96)
    shadow_weight: float = 0.5
    threshold: float = 0.5
    validate_every: int = 500
    seed: int = 0
    threads: int = 2


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, config: MaskConfig) -> torch.Tensor:
    """Binary cross-entropy per class, unsure pixels weighted 0; shadow counts `shadow_weight`."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weights
    per_class = losses.sum(dim=(0, 2, 3)) / weights.sum(dim=(0, 2, 3)).clamp_min(1)
    return per_class[0] + config.shadow_weight * per_class[1]


def train(config: MaskConfig, resume: bool = False) -> Path:
    torch.set_num_threads(config.threads)
    rng = seed_everything(config.seed)
    sampler = DetectorSampler(config.data / "detector_train.npz", crop=config.crop)
    model = CloudDetector(widths=config.widths)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    checkpoints = Checkpointer(config.run_dir)
    settings = describe_config(config)
    print(json.dumps(settings, indent=1))
    step, history = 0, []
    if resume and checkpoints.path.exists():
        step, history = checkpoints.restore(model, optimizer, rng)
        for _ in range(step):
            schedule.step()
        print(f"resumed at step {step}")
    started = time.monotonic()
    progress = tqdm(range(step, config.steps), initial=step, total=config.steps, desc="mask", mininterval=10)
    for step in progress:
        model.train()
        batch = {key: torch.from_numpy(value) for key, value in sampler.batch(rng, config.batch).items()}
        loss = masked_bce(model(batch["images"]), batch["targets"], batch["weights"], config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        progress.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % config.validate_every == 0 or step + 1 == config.steps:
            pipeline = ClearVision(model.eval(), None, method="affine", threshold=config.threshold)
            scores = detection_table(pipeline, config.data / "detector_val.npz")["pooled"]
            history.append({"step": step + 1, "loss": loss.item(), "val_f1": scores["clear_vision"]["f1"], "val_f1_brightness": scores["brightness"]["f1"]})
            tqdm.write(json.dumps(history[-1]))
        if checkpoints.due():
            checkpoints.save(step + 1, model, optimizer, rng, settings, history)
    checkpoints.save(config.steps, model, optimizer, rng, settings, history)
    metadata = {
        "threshold": config.threshold,
        "classes": list(CloudDetector.classes),
        "preprocessing": {"input": "RGB uint8 / 255", "bands": ["B04", "B03", "B02"], "gain_range": [2.0, 4.0]},
        "training": {"config": settings, "history": history, "minutes": round((time.monotonic() - started) / 60, 1), "command": "python -m training.train_mask " + " ".join(sys.argv[1:])},
    }
    path = config.out / WEIGHT_FILES["detector"]
    digest = save_weights(model.eval(), path, metadata)
    print(f"wrote {path} sha256 {digest}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_mask", description=__doc__)
    defaults = MaskConfig()
    for name, value in describe_config(defaults).items():
        if name == "widths":
            parser.add_argument("--widths", type=lambda text: tuple(int(v) for v in text.split(",")), default=defaults.widths)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)), default=getattr(defaults, name))
    parser.add_argument("--resume", action="store_true", help="continue from run_dir/checkpoint.pt")
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume")
    config = MaskConfig(**args)
    if not (config.data / "detector_train.npz").is_file():
        parser.error(f"{config.data}/detector_train.npz not found; run `python -m preprocess build` first")
    train(config, resume=resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
