"""Weights: save/load round-trips, checksums are verified, bad files give errors that say how to fix."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from clear_vision import CloudDetector, TemporalFiller, WeightsError
from clear_vision.weights import WEIGHT_FILES, load_weights, save_weights
from training.model_card import write_model_card

SHIPPED = Path(__file__).resolve().parent.parent / "model_dict"


@pytest.fixture()
def weights_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    save_weights(CloudDetector(widths=(4, 8, 8)), tmp_path / WEIGHT_FILES["detector"], {"threshold": 0.4})
    save_weights(TemporalFiller(widths=(4, 8)), tmp_path / WEIGHT_FILES["filler"], {"window": 10})
    write_model_card(tmp_path, "test table")
    return tmp_path


def test_round_trip_rebuilds_the_same_network(weights_dir):
    model, metadata = load_weights("detector", weights_dir)
    assert metadata["threshold"] == 0.4 and metadata["config"] == {"widths": [4, 8, 8]}
    torch.manual_seed(0)
    reference = CloudDetector(widths=(4, 8, 8)).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(WeightsError, match="python -m training.train_mask"):
        load_weights("detector", tmp_path)


def test_truncated_or_replaced_file_fails_the_checksum(weights_dir):
    path = weights_dir / WEIGHT_FILES["filler"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(WeightsError, match="does not match the checksum"):
        load_weights("filler", weights_dir)


def test_garbage_with_a_matching_checksum_is_still_refused(weights_dir):
    (weights_dir / WEIGHT_FILES["filler"]).write_bytes(b"\x00" * 64)
    card = weights_dir / "MODEL_CARD.md"
    digest = hashlib.sha256(b"\x00" * 64).hexdigest()
    lines = [line for line in card.read_text().splitlines() if not line.endswith(WEIGHT_FILES["filler"])]
    card.write_text("\n".join(lines + [f"sha256 {digest}  {WEIGHT_FILES['filler']}"]))
    with pytest.raises(WeightsError, match="not a valid filler weights file"):
        load_weights("filler", weights_dir)


def test_no_recorded_checksum_is_refused(weights_dir):
    (weights_dir / "MODEL_CARD.md").unlink()
    with pytest.raises(WeightsError, match="no sha256"):
        load_weights("detector", weights_dir)


def test_shipped_weights_load_and_match_their_card():
    for role in WEIGHT_FILES:
        model, metadata = load_weights(role, SHIPPED)
        assert not model.training and "training" in metadata


def test_weights_are_plain_safetensors(tmp_path):
    shutil.copy(SHIPPED / WEIGHT_FILES["detector"], tmp_path / "copy.safetensors")
    assert (tmp_path / "copy.safetensors").read_bytes()[8:9] == b"{"  # JSON header, no pickle
