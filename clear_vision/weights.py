"""Save and load network weights as safetensors, with their config, preprocessing and checksum.

A weights file carries everything needed to rebuild its network (architecture name and config)
and how to feed it, so a model cannot be paired with the wrong settings. Checksums of shipped
files are listed in `MODEL_CARD.md` beside them and verified at load.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .detector import CloudDetector
from .filler import TemporalFiller

__all__ = ["WeightsError", "ARCHITECTURES", "WEIGHT_FILES", "TRAIN_COMMANDS", "CARD_NAME", "save_weights", "load_weights", "sha256_of", "recorded_checksums", "record_checksum"]

ARCHITECTURES: dict[str, type[nn.Module]] = {"CloudDetector": CloudDetector, "TemporalFiller": TemporalFiller}
WEIGHT_FILES = {"detector": "detector.safetensors", "filler": "filler.safetensors"}
TRAIN_COMMANDS = {"detector": "python -m training.train_mask", "filler": "python -m training.train_removal"}
CARD_NAME = "MODEL_CARD.md"
_CHECKSUM_LINE = re.compile(r"^sha256 ([0-9a-f]{64})  (\S+)$", re.MULTILINE)


class WeightsError(RuntimeError):
    """Weights are missing, corrupt or do not match the model card."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_checksums(weights_dir: Path) -> dict[str, str]:
    """File name -> sha256, from the `sha256 <hex>  <file>` lines of the model card."""
    card = Path(weights_dir) / CARD_NAME
    if not card.is_file():
        return {}
    return {name: digest for digest, name in _CHECKSUM_LINE.findall(card.read_text(encoding="utf-8"))}


def record_checksum(path: Path) -> None:
    """Put (or replace) the `sha256 <hex>  <file>` line for a freshly trained file in the model card.

    `python -m training.evaluate --card` later rewrites the whole card with the scores.
    """
    path = Path(path)
    card = path.parent / CARD_NAME
    text = card.read_text(encoding="utf-8") if card.is_file() else "# Clear Vision model card\n\n## Checksums (verified at load)\n\n"
    line = f"sha256 {sha256_of(path)}  {path.name}"
    pattern = re.compile(rf"^sha256 [0-9a-f]{{64}}  {re.escape(path.name)}$", re.MULTILINE)
    text = pattern.sub(line, text) if pattern.search(text) else text.rstrip("\n") + "\n" + line + "\n"
    card.write_text(text, encoding="utf-8")


def save_weights(model: nn.Module, path: Path, metadata: dict[str, Any]) -> str:
    """Write model weights with their architecture, config and metadata; return the sha256.

    Written to a temporary name and renamed, so an interrupted save never leaves a half file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"architecture": type(model).__name__, "config": json.dumps(model.config)}
    header.update({key: json.dumps(value) for key, value in metadata.items()})
    temporary = path.with_name(path.name + ".tmp")
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, temporary, metadata=header)
    temporary.replace(path)
    return sha256_of(path)


def load_weights(role: str, weights_dir: Path | str, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network for `role` ("detector" or "filler") from `weights_dir`.

    Verifies the checksum recorded in the model card; returns (model in eval mode, metadata).
    """
    weights_dir = Path(weights_dir)
    path = weights_dir / WEIGHT_FILES[role]
    how_to_fix = f"train them with `{TRAIN_COMMANDS[role]}` (see README.md) or restore {weights_dir}/ from git"
    if not path.is_file():
        raise WeightsError(f"{role} weights not found at {path}; {how_to_fix}")
    expected = recorded_checksums(weights_dir).get(path.name)
    if expected is None:
        raise WeightsError(f"no sha256 for {path.name} in {weights_dir / CARD_NAME}; {how_to_fix}")
    if sha256_of(path) != expected:
        raise WeightsError(f"{path} does not match the checksum in {CARD_NAME} (truncated or replaced?); {how_to_fix}")
    try:
        with safe_open(path, framework="pt") as handle:
            header = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = {key: value if key == "architecture" else json.loads(value) for key, value in header.items()}
        model = ARCHITECTURES[metadata["architecture"]](**metadata["config"])
        model.load_state_dict(state, strict=True)
    except (SafetensorError, KeyError, ValueError, RuntimeError, TypeError) as error:
        raise WeightsError(f"{path} is not a valid {role} weights file ({error}); {how_to_fix}") from None
    return model.to(device).eval(), metadata
