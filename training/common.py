"""Shared training plumbing: the base config, seeds, flags, the loop with resumable checkpoints, the bundle."""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from clear_vision.config import CONFIG_NAME, ClearVisionConfig
from clear_vision.pipeline import resolve_device
from clear_vision.weights import save_weights
from preprocess.sets import DEFAULT_OUT, unwritable_folder

__all__ = ["CALIBRATION_NAME", "run_training", "TRAINED_BUNDLE", "TrainingConfig", "seed_everything", "render_batch", "random_dihedral", "describe_config", "parse_config", "fit", "update_bundle", "training_device", "to_device"]


CALIBRATION_NAME = "calibration.json"  # training.calibrate's scores behind the chosen values, for the model card
# Options a resumed run must keep: the network's shape and inputs, its data, the series or scenes a
# fold leaves out, the learning rate (the optimiser's state carries the one it started with) and
# the moving average (a checkpoint without one cannot resume with one).
KEPT_ON_RESUME = ("widths", "temporal", "heads", "data", "lr", "ema_decay", "exclude_series", "exclude_scenes")
CHECKPOINT_SECONDS = 120.0  # a checkpoint every two minutes, and one when the run is stopped (Ctrl-C)
# Where the training commands (and `training.calibrate`) write by default: a bundle of their own.
# The shipped model_dict/ is replaced only when named (--out model_dict): a command copied from
# the README overwrote the shipped weights before.
TRAINED_BUNDLE = Path("runs/bundle")


@dataclass
class TrainingConfig:
    """The fields every training command shares; each network's config adds its own."""

    data: Path = DEFAULT_OUT  # folder with the sets of `python -m preprocess build`
    out: Path = TRAINED_BUNDLE  # the bundle folder the trained weights are written into
    run_dir: Path = Path("runs")  # checkpoints
    steps: int = 2000
    batch: int = 8
    crop: int = 64
    lr: float = 2e-3
    ema_decay: float = 0.0  # > 0: ship a moving average of the weights instead of the last step's
    validate_every: int = 200
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # "cpu", "cuda" or "auto" (CUDA if available)


def training_device(config: TrainingConfig) -> torch.device:
    return resolve_device(None if config.device == "auto" else config.device)


def to_device(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """A sampler's numpy batch as tensors on the training device."""
    return {key: torch.from_numpy(value).to(device, non_blocking=True) for key, value in batch.items()}


def _hardware(device: torch.device) -> str:
    """Where the training ran, for the training record (the card states it)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{threads} CPU thread{'s' if threads != 1 else ''}"


def update_bundle(folder: Path, **changes: Any) -> Path:
    """Load the bundle's config in `folder` (defaults if there is none yet), change fields, save it."""
    folder = Path(folder)
    config = ClearVisionConfig.load(folder) if (folder / CONFIG_NAME).is_file() else ClearVisionConfig()
    return config.replace(**changes).save(folder)


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


FLAG_HELP = {  # what each training flag does, for --help (the training commands' configs share them)
    "data": "folder with the sets of `python -m preprocess build`",
    "out": "bundle folder the weights are written into (--out model_dict replaces the shipped weights)",
    "run_dir": "folder of the resumable checkpoint (checkpoint.pt, written every 2 minutes and on Ctrl-C)",
    "steps": "optimiser steps in all (a resumed run continues to this many)",
    "batch": "samples per step",
    "crop": "side of the training crops in pixels",
    "lr": "peak learning rate of AdamW (cosine schedule)",
    "ema_decay": "decay of the moving average of the weights that is shipped (0: the last step's weights)",
    "validate_every": "steps between validations on the held-out sets (monitoring only)",
    "seed": "seed of every random choice",
    "threads": "CPU threads",
    "device": "cpu, cuda or auto (CUDA when there is one)",
    "widths": "channels per level of the network, comma-separated",
    "temporal": "the detector sees the other dates' reference (7 input channels); false: the frame alone",
    "shadow_weight": "weight of the cloud-shadow class in the loss",
    "threshold": "detection threshold written into the bundle and used in validation",
    "exclude_series": "series left out of training, comma-separated: a fold for `training.calibrate --cross-fit`",
    "exclude_scenes": "labelled scenes left out of training, comma-separated: a fold that judges the detection threshold",
    "heads": "attention heads of the temporal filler",
}


def describe_config(config: Any) -> dict[str, Any]:
    values = asdict(config)
    return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def crop_problem(config: Any, model: torch.nn.Module) -> str | None:
    """Why `config.crop` does not fit `model` (its side must divide by the network's size multiple), or None.

    Unchecked, the network's first forward failed with a traceback, after the sets were read."""
    multiple = getattr(model, "size_multiple", 1)
    if config.crop % multiple:
        return f"--crop: {config.crop} px does not divide by {multiple}, which the network of --widths {','.join(map(str, config.widths))} needs; give a multiple of {multiple}"
    return None


def parse_config(
    config_type: type, argv: list[str] | None, prog: str, description: str, required_files: tuple[str, ...], network: Callable[[Any], torch.nn.Module]
) -> tuple[Any, bool, str]:
    """Every config field becomes a --flag with its default; returns (config, resume, the command line).

    What can be known before the sets are read is refused here, before any folder is made (found
    inside the training, a bad value cost the steps run until then): the sets' files
    (`required_files`, the validation set too), the numbers' ranges, the device, the network
    `network` builds from the config and the crop its size multiple must divide, and an earlier
    run's checkpoint that a fresh start would replace.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    defaults = config_type()
    for field in fields(config_type):
        default = getattr(defaults, field.name)
        if isinstance(default, tuple):
            kind = _whole_numbers
        elif isinstance(default, bool):
            kind = _yes_or_no
        else:
            kind = type(default)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=default, help=f"{FLAG_HELP.get(field.name, '')} (default: {shown})")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    parser.add_argument("--restart", action="store_true", help="start afresh, replacing the checkpoint an earlier run left in RUN_DIR")
    args = vars(parser.parse_args(argv))
    resume, restart = args.pop("resume"), args.pop("restart")
    config = config_type(**args)
    missing = [str(config.data / name) for name in required_files if not (config.data / name).is_file()]
    if missing:
        parser.error(f"{', '.join(missing)} not found; run `python -m preprocess build --out {config.data}` first (it writes the training and validation sets)")
    for name in ("steps", "batch", "validate_every", "threads"):
        if getattr(config, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: {getattr(config, name)} must be at least 1")
    for name, (fits, accepted) in _RANGES.items():
        value = getattr(config, name, None)
        if value is not None and not (math.isfinite(value) and fits(value)):
            parser.error(f"--{name.replace('_', '-')}: {value:g} is not {accepted}")
    network_flags = f"--widths {','.join(map(str, config.widths))}{f' --heads {config.heads}' if hasattr(config, 'heads') else ''}"
    if any(width < 1 for width in config.widths) or getattr(config, "heads", 1) < 1:
        parser.error(f"{network_flags}: channels and heads must be at least 1")
    try:
        training_device(config)
    except ValueError as error:
        parser.error(f"--device {config.device}: {str(error).replace('or None (automatic)', 'or auto')}")
    try:
        model = network(config)
    except (ValueError, RuntimeError) as error:
        parser.error(f"{network_flags}: {error}")
    if problem := crop_problem(config, model):
        parser.error(problem)
    checkpoint = Path(config.run_dir) / "checkpoint.pt"
    if resume and restart:
        parser.error("--resume and --restart: give one (continue the checkpoint, or start afresh over it)")
    if resume and not checkpoint.is_file():
        parser.error(f"--resume: no checkpoint at {checkpoint}; check --run-dir, or leave --resume out to start afresh")
    if not resume and not restart and checkpoint.is_file():
        parser.error(f"{checkpoint} holds an earlier run: --resume continues it, --restart starts afresh over it, or give another --run-dir")
    if resume:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if (done := int(state["step"])) > config.steps:
            parser.error(f"--resume: the checkpoint at {checkpoint} is at step {done}, past --steps {config.steps}; give --steps {done} or more")
        writer = str(state.get("command", prog))
        if not writer.startswith(prog):
            parser.error(f"--resume: the checkpoint at {checkpoint} was written by {' '.join(writer.split()[:3])}, not {prog}; give that command's --run-dir")
        started, now = json.loads(state.get("config", "{}")), json.loads(json.dumps(describe_config(config)))  # older checkpoints have none
        if state.get("data_folder") == str(Path(config.data).resolve()):
            now["data"] = started.get("data")  # one folder, written another way or from another working folder
        for name in KEPT_ON_RESUME:
            if name in started and name in now and started[name] != now[name]:
                then, given = (",".join(map(str, value)) if isinstance(value, list) else value for value in (started[name], now.get(name)))
                parser.error(
                    f"--resume: the checkpoint at {checkpoint} was trained with --{name.replace('_', '-')} {then!r}, not {given!r}: a resumed run keeps "
                    "its network and its data (a fold resumed with other series left out would be taken for one that never saw them); "
                    "give the same value, or start afresh in another --run-dir"
                )
    for name in ("out", "run_dir"):  # found unwritable after the training, the run was lost; made last, so a refusal leaves no empty folder
        problem = unwritable_folder(Path(getattr(config, name)))
        if problem:
            parser.error(f"--{name.replace('_', '-')}: {getattr(config, name)} {problem}; give a folder this user can write to")
    command = " ".join([prog, *(argv if argv is not None else sys.argv[1:])])
    return config, resume, command


_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {  # the training configs' numbers that must lie in a range
    "lr": (lambda value: 0 < value <= 1, "a learning rate in (0, 1]"),
    "ema_decay": (lambda value: 0 <= value < 1, "in [0, 1) (0: ship the last step's weights)"),
    "threshold": (lambda value: 1e-6 <= value <= 1, "a probability in [1e-06, 1]"),
    "shadow_weight": (lambda value: 0 <= value <= 100, "a loss weight in [0, 100]"),
}


def _whole_numbers(text: str) -> tuple[int, ...]:
    """'8,16,32' -> (8, 16, 32)."""
    try:
        return tuple(int(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not whole numbers separated by commas (e.g. 8,16,32)") from None


def _yes_or_no(text: str) -> bool:
    """true/false, yes/no or 1/0; anything else is refused rather than read as false."""
    answers = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.lower() not in answers:
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false (also yes/no, 1/0)")
    return answers[text.lower()]


def _checkpoint(
    path: Path,
    step: int,
    minutes: float,
    model: torch.nn.Module,
    averaged: AveragedModel | None,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    history: list,
    settings: dict[str, Any],
    command: str,
) -> None:
    state = {
        "step": step,
        "config": json.dumps(settings),  # what --resume must keep (KEPT_ON_RESUME)
        "command": command,  # which training command may resume it
        "data_folder": str(Path(settings["data"]).resolve()),  # the sets, wherever --resume is run from
        "minutes": minutes,
        "model": model.state_dict(),
        **({"averaged": averaged.state_dict()} if averaged is not None else {}),
        "optimizer": optimizer.state_dict(),
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "history": json.dumps(history),
    }
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


class TrainingStopped(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) after the step under way, whose checkpoint was written."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what schedulers and `kill` send before they kill


class _StopAfterTheStep:
    """While active (in the main thread): the first SIGINT or SIGTERM is noted, not raised, so the
    loop can checkpoint its last whole step; the handlers before it are back for a second one."""

    def __init__(self) -> None:
        self.asked = False
        self._previous: dict[int, Any] = {}

    def _note(self, signum: int, frame: Any) -> None:
        self.asked = True
        self.__exit__()

    def __enter__(self) -> "_StopAfterTheStep":
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._note) for number in _STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}


def run_training(train: Callable[[], Any], prog: str) -> int:
    """A training command's exit status: 0 done; 2 with one line for a set the run cannot use
    (the samplers' ValueError: too small, a crop it cannot hold); 130 when stopped."""
    try:
        train()
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except TrainingStopped:
        return 130
    except KeyboardInterrupt:  # before the first step, or a second Ctrl-C
        print(f"{prog}: stopped at once; the steps since the last checkpoint (one every {CHECKPOINT_SECONDS / 60:g} minutes) are lost", file=sys.stderr)
        return 130
    return 0


def fit(
    model: torch.nn.Module,
    config: Any,
    *,
    resume: bool,
    loss_of_batch: Callable[[torch.nn.Module, np.random.Generator], torch.Tensor],
    validate: Callable[[torch.nn.Module], dict[str, float]],
    role: str,
    command: str,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
) -> Path:
    """AdamW + cosine schedule for config.steps; checkpoints every few minutes, resumable.

    Ctrl-C (SIGINT) or SIGTERM finishes the step under way, writes the checkpoint and raises
    TrainingStopped; a second one stops at once.

    With `config.ema_decay` > 0 the shipped weights (and validation) are an exponential moving
    average of the trained ones, so they do not hinge on where the last noisy step landed.
    Validation is printed and kept in the weights' history for monitoring only. The final weights
    go into the bundle `config.out` as `<role>.safetensors`, with the config, history, command and
    training time as their training record, and the bundle's `clear_vision.json` names them.
    """
    if problem := crop_problem(config, model):  # the command line refuses it before making folders; a caller of train() here
        raise ValueError(problem)
    torch.set_num_threads(config.threads)
    rng = seed_everything(config.seed)
    settings = describe_config(config)
    print(json.dumps(settings, indent=1))
    device = training_device(config)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True) if config.ema_decay > 0 else None
    shipped = averaged.module if averaged is not None else model
    checkpoint = Path(config.run_dir) / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    step, history, minutes_before = 0, [], 0.0
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # tensors and plain types only
        model.load_state_dict(state["model"])
        if averaged is not None:
            averaged.load_state_dict(state["averaged"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        step, history, minutes_before = int(state["step"]), json.loads(state["history"]), float(state.get("minutes", 0.0))
        print(f"resumed at step {step}")

    def cosine(at: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(at, config.steps) / config.steps))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine, last_epoch=step - 1 if step else -1)
    started = last_save = time.monotonic()

    def minutes() -> float:
        return round(minutes_before + (time.monotonic() - started) / 60, 1)

    progress = tqdm(range(step, config.steps), initial=step, total=config.steps, desc=role, mininterval=10)
    with _StopAfterTheStep() as stop:
        for step in progress:
            model.train()
            loss = loss_of_batch(model, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if averaged is not None:
                averaged.update_parameters(model)
            progress.set_postfix(loss=f"{loss.item():.4f}")
            if (step + 1) % config.validate_every == 0 or step + 1 == config.steps:
                history.append({"step": step + 1, "loss": round(loss.item(), 5), **validate(shipped.eval())})
                tqdm.write(json.dumps(history[-1]))
            if stop.asked and step + 1 < config.steps:
                _checkpoint(checkpoint, step + 1, minutes(), model, averaged, optimizer, rng, history, settings, command)
                progress.close()
                again = "the command with --resume in place of --restart" if "--restart" in command.split() else "the same command with --resume"
                print(f"stopped at step {step + 1} of {config.steps}; the checkpoint {checkpoint} keeps it: {again} continues", file=sys.stderr)
                raise TrainingStopped
            if time.monotonic() - last_save >= checkpoint_seconds:
                _checkpoint(checkpoint, step + 1, minutes(), model, averaged, optimizer, rng, history, settings, command)
                last_save = time.monotonic()
    _checkpoint(checkpoint, config.steps, minutes(), model, averaged, optimizer, rng, history, settings, command)
    training = {"config": settings, "history": history, "minutes": minutes(), "hardware": _hardware(device), "command": command}
    spec = save_weights(shipped.to("cpu").eval(), Path(config.out) / f"{role}.safetensors", {"training": training})
    bundle = update_bundle(config.out, **{role: spec})
    print(f"wrote {Path(config.out) / spec.file} sha256 {spec.sha256} (recorded in {bundle})")
    return Path(config.out) / spec.file
