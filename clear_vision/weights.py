"""Network weights as safetensors: written with the class and training record, read back checked.

Each file's header names the network class and its constructor arguments, so a file cannot be
paired with the wrong network; the bundle's `clear_vision.json` (see `config.py`) records each
file's sha256, verified before the file is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .config import CONFIG_NAME, DEFAULT_WEIGHTS_DIR, NetworkSpec
from .detection.detector import CloudDetector
from .filling.filler import TemporalFiller

__all__ = ["WeightsError", "ARCHITECTURES", "ROLES", "TRAIN_COMMANDS", "save_weights", "load_network", "read_header", "sha256_of"]

ARCHITECTURES: dict[str, type[nn.Module]] = {"CloudDetector": CloudDetector, "TemporalFiller": TemporalFiller}
ROLES: dict[str, type[nn.Module]] = {"detector": CloudDetector, "filler": TemporalFiller}
TRAIN_COMMANDS = {"detector": "python -m training.train_mask", "filler": "python -m training.train_removal"}


class WeightsError(RuntimeError):
    """Weights are missing, corrupt, of the wrong network, or do not match the bundle's checksum."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(model: nn.Module, path: Path, metadata: dict[str, Any] | None = None) -> NetworkSpec:
    """Write model weights with their class, constructor arguments and `metadata` (e.g. the training record).

    Written to a temporary name and renamed, so an interrupted save never leaves a half file.
    Returns the `NetworkSpec` (class, config, file name, sha256) for the bundle's config.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"architecture": type(model).__name__, "config": json.dumps(model.config)}
    header.update({key: json.dumps(value) for key, value in (metadata or {}).items()})
    temporary = path.with_name(path.name + ".tmp")
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, temporary, metadata=header)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # readable as the bundle's other files are (safetensors writes 0600)
    temporary.replace(path)
    return NetworkSpec(type(model).__name__, dict(model.config), path.name, sha256_of(path))


def read_header(path: Path) -> dict[str, Any]:
    """The metadata a weights file carries (architecture, config, training record)."""
    with safe_open(path, framework="pt") as handle:
        header = handle.metadata() or {}
    return {key: value if key == "architecture" else json.loads(value) for key, value in header.items()}


def _how_to_fix(role: str, folder: Path) -> str:
    """Advice for a broken bundle: the bundled one comes from git or a reinstall, a user's from `save`."""
    train = f"train it with `{TRAIN_COMMANDS[role]}` (see README.md)"
    if folder.resolve() == DEFAULT_WEIGHTS_DIR.resolve():
        return f"{train} or restore {folder}/ from git (installed: reinstall clear_vision)"
    return f"{train} or write it again with ClearVision.save; ClearVision.load() without a folder loads the bundled weights"


def load_network(role: str, spec: NetworkSpec | None, folder: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the `role` network ("detector" or "filler") of the bundle in `folder`, in eval mode.

    Checks, in order: the bundle names the file, the file exists, its sha256 matches the bundle,
    and the class stored in the file is the one this role needs.
    """
    folder = Path(folder)
    how_to_fix = _how_to_fix(role, folder)
    if spec is None:
        classical = ""
        if role == "filler":
            classical = (
                "it has a detector only (saved from a pipeline with a classical filler, or one only training.train_mask wrote): load it with "
                "method='linear' (or 'nearest', 'affine', 'whittaker', 'blend'; command line: --method linear), or "
            )
        raise WeightsError(f"{folder / CONFIG_NAME} names no {role} network; {classical}{how_to_fix}")
    path = folder / spec.file
    if not path.is_file():
        raise WeightsError(f"{role} weights not found at {path}; {how_to_fix}")
    if sha256_of(path) != spec.sha256:
        raise WeightsError(f"{path} does not match the sha256 recorded in {CONFIG_NAME} (truncated or replaced?); {how_to_fix}")
    expected = ROLES[role].__name__
    try:
        stored = read_header(path).get("architecture")
    except (SafetensorError, ValueError) as error:
        raise WeightsError(f"{path} is not a valid {role} weights file ({error}); {how_to_fix}") from None
    if stored != expected or spec.architecture != expected:
        raise WeightsError(f"{path} holds a {stored} network and the bundle says {spec.architecture}, but the {role} must be a {expected}; {how_to_fix}")
    try:
        with safe_open(path, framework="pt") as handle:
            state = {name: handle.get_tensor(name) for name in handle.keys()}
        model = ARCHITECTURES[expected](**spec.config)
        model.load_state_dict(state, strict=True)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as error:
        raise WeightsError(f"{path} is not a valid {role} weights file ({error}); {how_to_fix}") from None
    return model.to(device).eval()
