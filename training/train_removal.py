"""Train stage 2, the temporal filler: python -m training.train_removal [--steps N] [--resume].

Learns to fill simulated gaps (real cloud masks on clear sequences of the training sites); the
loss is L1 on the hidden pixels. Validation on the held-out site is printed for monitoring only:
the shipped weights are those of the last step, not picked on the held-out site.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from clear_vision import ClearVision, TemporalFiller
from clear_vision.weights import WEIGHT_FILES, save_weights
from preprocess.build import DEFAULT_OUT

from .common import Checkpointer, describe_config, seed_everything
from .data import RemovalSampler
from .evaluate import load_removal_validation, removal_scores

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "model_dict"


@dataclass
class RemovalConfig:
    data: Path = DEFAULT_OUT  # folder with removal_train.npz / removal_val.npz (python -m preprocess build)
    out: Path = DEFAULT_WEIGHTS  # where filler.safetensors is written
    run_dir: Path = Path("runs/removal")  # checkpoints
    steps: int = 6000
    batch: int = 8
    crop: int = 64
    lr: float = 2e-3
    widths: tuple[int, ...] = (8, 16, 32, 64)
    heads: int = 4
    hidden_weight: float = 1.0  # L1 on the hidden (masked, truly clear) pixels
    visible_weight: float = 0.1  # L1 on the rest: keeps the correction small where nothing is hidden
    validate_every: int = 500
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
    torch.set_num_threads(config.threads)
    rng = seed_everything(config.seed)
    sampler = RemovalSampler(config.data / "removal_train.npz", crop=config.crop)
    validation = load_removal_validation(config.data / "removal_val.npz", limit=12)
    model = TemporalFiller(widths=config.widths, heads=config.heads)
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
    progress = tqdm(range(step, config.steps), initial=step, total=config.steps, desc="removal", mininterval=10)
    for step in progress:
        model.train()
        batch = {key: torch.from_numpy(value) for key, value in sampler.batch(rng, config.batch).items()}
        prediction = model(batch["frames"], batch["masks"], batch["days"])
        loss = hidden_pixel_loss(prediction, batch["frames"], batch["masks"], batch["truth_bad"], config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        progress.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % config.validate_every == 0 or step + 1 == config.steps:
            model.eval()
            scores = removal_scores({"learned": ClearVision(None, model, method="learned")}, validation, modes=("fill",))
            history.append({"step": step + 1, "loss": loss.item(), "val_fill_psnr": scores["learned"]["fill"]["psnr"]})
            tqdm.write(json.dumps(history[-1]))
        if checkpoints.due():
            checkpoints.save(step + 1, model, optimizer, rng, settings, history)
    checkpoints.save(config.steps, model, optimizer, rng, settings, history)
    metadata = {
        "window": 10,
        "preprocessing": {"input": "RGB uint8 / 255", "bands": ["B04", "B03", "B02"], "gain_range": [2.0, 4.0]},
        "training": {"config": settings, "history": history, "minutes": round((time.monotonic() - started) / 60, 1), "command": "python -m training.train_removal " + " ".join(sys.argv[1:])},
    }
    path = config.out / WEIGHT_FILES["filler"]
    digest = save_weights(model.eval(), path, metadata)
    print(f"wrote {path} sha256 {digest}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_removal", description=__doc__)
    defaults = RemovalConfig()
    for name, value in describe_config(defaults).items():
        if name == "widths":
            parser.add_argument("--widths", type=lambda text: tuple(int(v) for v in text.split(",")), default=defaults.widths)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)), default=getattr(defaults, name))
    parser.add_argument("--resume", action="store_true", help="continue from run_dir/checkpoint.pt")
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume")
    config = RemovalConfig(**args)
    if not (config.data / "removal_train.npz").is_file():
        parser.error(f"{config.data}/removal_train.npz not found; run `python -m preprocess build` first")
    train(config, resume=resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
