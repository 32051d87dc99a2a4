"""Weights and the bundle: save/load round trips, checksums and classes verified, bad files say how to fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clear_vision import ClearVision, CloudDetector, TemporalFiller, WeightsError
from clear_vision.config import CONFIG_NAME, ClearVisionConfig
from clear_vision.weights import load_network, save_weights, sha256_of

SHIPPED = Path(__file__).resolve().parent.parent / "model_dict"


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    detector = save_weights(CloudDetector(widths=(4, 8, 8), in_channels=7), tmp_path / "detector.safetensors", {"training": {"steps": 1}})
    filler = save_weights(TemporalFiller(widths=(4, 8)), tmp_path / "filler.safetensors")
    ClearVisionConfig(threshold=0.4, fill_threshold=0.3, detector=detector, filler=filler).save(tmp_path)
    return tmp_path


def test_round_trip_rebuilds_the_same_network(bundle):
    config = ClearVisionConfig.load(bundle)
    model = load_network("detector", config.detector, bundle)
    assert config.detector.config == {"widths": [4, 8, 8], "in_channels": 7} and config.threshold == 0.4
    torch.manual_seed(0)
    reference = CloudDetector(widths=(4, 8, 8), in_channels=7).eval()
    x = torch.rand(1, 7, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    modes = {path.name: path.stat().st_mode & 0o777 for path in bundle.iterdir()}
    assert modes[config.detector.file] == modes["clear_vision.json"], modes  # not safetensors' own 0600


def test_clear_vision_save_and_load_give_identical_runs(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (5, 64, 64, 3), dtype=np.uint8)
    frames[2, 10:40, 10:40] = 240  # a cloud
    shipped = ClearVision.load(device="cpu")
    saved = shipped.save(tmp_path / "copy")
    assert saved.name == CONFIG_NAME
    again = ClearVision.load(tmp_path / "copy", device="cpu")
    assert again.config == ClearVisionConfig.load(tmp_path / "copy")
    assert again.training_records == shipped.training_records and "training" in again.training_records["detector"]
    first, second = shipped.run(frames), again.run(frames)
    assert np.array_equal(first.frames, second.frames) and np.array_equal(first.masks, second.masks)
    assert np.array_equal(first.probability, second.probability)


def test_missing_weights_say_how_to_train(bundle):
    (bundle / "detector.safetensors").unlink()
    with pytest.raises(WeightsError, match="python -m training.train_mask"):
        ClearVision.load(bundle)


def test_a_bundle_saved_with_a_classical_filler_says_how_to_load_it(tmp_path):
    ClearVision.load(method="linear").save(tmp_path / "linear")
    with pytest.raises(WeightsError, match=r"names no filler network; it has a detector only \(saved from a pipeline with a classical filler, or one only training.train_mask wrote\): load it with method='linear' .*command line: --method linear"):
        ClearVision.load(tmp_path / "linear")
    assert ClearVision.load(tmp_path / "linear", method="linear").filler is None


def test_broken_bundles_get_advice_for_where_they_come_from(bundle):
    """The bundled weights come back from git; a user's own bundle from ClearVision.save."""
    (bundle / "filler.safetensors").unlink()
    with pytest.raises(WeightsError, match="write it again with ClearVision.save") as raised:
        ClearVision.load(bundle)
    assert "from git" not in str(raised.value)


def test_saving_onto_a_file_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="a_file is a file; give a folder"):
        ClearVision.load(method="linear").save(tmp_path / "a_file")


def test_truncated_or_replaced_file_fails_the_checksum(bundle):
    path = bundle / "filler.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(WeightsError, match="does not match the sha256"):
        ClearVision.load(bundle)


def test_garbage_with_a_matching_checksum_is_still_refused(bundle):
    (bundle / "filler.safetensors").write_bytes(b"\x00" * 64)
    config = ClearVisionConfig.load(bundle)
    config.replace(filler=config.filler.__class__(**{**config.filler.__dict__, "sha256": sha256_of(bundle / "filler.safetensors")})).save(bundle)
    with pytest.raises(WeightsError, match="not a valid filler weights file"):
        ClearVision.load(bundle)


def test_swapped_detector_and_filler_files_say_which_file_is_what(bundle):
    config = ClearVisionConfig.load(bundle)
    config.replace(detector=config.filler, filler=config.detector).save(bundle)  # checksums re-recorded with the swap
    with pytest.raises(WeightsError, match="holds a TemporalFiller network.*the detector must be a CloudDetector"):
        ClearVision.load(bundle)


def test_a_bundle_without_config_is_refused(bundle):
    (bundle / CONFIG_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=CONFIG_NAME):
        ClearVision.load(bundle)


def test_shipped_bundle_loads_and_matches_its_config():
    config = ClearVisionConfig.load(SHIPPED)
    for role in ("detector", "filler"):
        spec = getattr(config, role)
        assert sha256_of(SHIPPED / spec.file) == spec.sha256
        assert not load_network(role, spec, SHIPPED).training


def test_weights_are_plain_safetensors(tmp_path):
    shutil.copy(SHIPPED / "detector.safetensors", tmp_path / "copy.safetensors")
    assert (tmp_path / "copy.safetensors").read_bytes()[8:9] == b"{"  # JSON header, no pickle
