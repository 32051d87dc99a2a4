"""preprocess sets, training.data, train_mask, train_removal and evaluate on a tiny real set.

One fixture builds small training/validation sets from ../shared/data; the tests run a few
optimisation steps of each network, resume from a checkpoint and evaluate the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clear_vision import ClearVision
from clear_vision.weights import load_weights

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data (real satellite cubes)")


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    from preprocess.detector_set import build_detector_sets
    from preprocess.removal_set import build_removal_sets

    out = tmp_path_factory.mktemp("processed")
    build_detector_sets(DATA, out, seed=0, simulated=4)
    build_removal_sets(DATA, out, seed=0, validation_sequences=3)
    return out


def test_built_sets_hold_out_the_validation_site(processed):
    from preprocess.sets import load_groups

    train = load_groups(processed / "removal_train.npz")
    validation = load_groups(processed / "removal_val.npz")
    assert "MJJ2021_replicated_minicube_225_34TET_47.37_22.05" not in train
    assert len(validation) == 3
    for sequence in validation.values():
        assert sequence["truth"].dtype == np.uint8 and 5 <= len(sequence["truth"]) <= 10
        assert sequence["scored"].any() and (sequence["mask"] >= sequence["scored"]).all()
    detector_sets = load_groups(processed / "detector_train.npz")
    assert {"simulated", "landsat5"} <= set(detector_sets) and "landsat7" not in detector_sets


def test_samplers_give_batches_the_networks_take(processed):
    from training.data import RemovalSampler
    from training.detector_data import DetectorSampler

    rng = np.random.default_rng(0)
    removal = RemovalSampler(processed / "removal_train.npz", crop=32).batch(rng, 3)
    assert removal["frames"].shape[:2] == removal["masks"].shape[:2] and removal["frames"].shape[2] == 3
    covered = removal["masks"].any(axis=(2, 3, 4))
    assert (covered.sum(axis=1) >= 1).all() and (removal["days"][:, 0] == 0).all()
    detector = DetectorSampler(processed / "detector_train.npz", crop=32).batch(rng, 4)
    assert detector["images"].shape == (4, 3, 32, 32) and detector["targets"].shape == (4, 2, 32, 32)
    assert 0 <= detector["images"].min() and detector["images"].max() <= 1


def test_train_both_networks_resume_and_evaluate(processed, tmp_path, capsys):
    from training import evaluate, train_mask, train_removal

    weights = tmp_path / "weights"
    args = ["--data", str(processed), "--out", str(weights), "--crop", "32", "--batch", "2", "--threads", "1", "--validate-every", "2"]
    assert train_mask.main([*args, "--steps", "2", "--widths", "4,8,8", "--run-dir", str(tmp_path / "mask")]) == 0
    assert train_removal.main([*args, "--steps", "2", "--widths", "4,8", "--run-dir", str(tmp_path / "removal")]) == 0
    assert train_removal.main([*args, "--steps", "4", "--widths", "4,8", "--run-dir", str(tmp_path / "removal"), "--resume"]) == 0
    assert "resumed at step 2" in capsys.readouterr().out
    checkpoint = torch.load(tmp_path / "removal" / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 4
    mask_checkpoint = torch.load(tmp_path / "mask" / "checkpoint.pt", weights_only=True)
    detector, _ = load_weights("detector", weights)
    shipped = mask_checkpoint["averaged"]  # the detector ships the moving average, not the last step
    assert all(torch.equal(tensor, shipped[f"module.{name}"]) for name, tensor in detector.state_dict().items())

    from training.model_card import write_model_card

    write_model_card(weights, "tiny")
    model, metadata = load_weights("filler", weights)
    assert metadata["training"]["config"]["steps"] == 4 and len(metadata["training"]["history"]) == 2
    assert evaluate.main(["--data", str(processed), "--weights", str(weights), "--card"]) == 0
    printed = capsys.readouterr().out
    assert "linear" in printed and "brightness" in printed and "pooled" in printed and "oracle*" in printed
    results = json.loads((weights / "evaluation.json").read_text())
    assert results["colour_oracle"]["psnr"] >= results["removal"]["linear"]["fill"]["psnr"]  # a fit on the truth can only help
    assert "sha256" in (weights / "MODEL_CARD.md").read_text()
    ClearVision.load(weights)  # the card written by evaluate still verifies the weights

    from training import calibrate

    assert calibrate.main(["--data", str(DATA), "--weights", str(weights), "--per-site", "1"]) == 0
    chosen = ClearVision.load(weights).fill_threshold  # rewritten weights still verify
    assert chosen in calibrate.CANDIDATES and f"fill threshold {chosen:g} written" in capsys.readouterr().out


def test_missing_processed_data_is_a_clear_error(tmp_path, capsys):
    from training import train_removal

    with pytest.raises(SystemExit):
        train_removal.main(["--data", str(tmp_path)])
    assert "python -m preprocess build" in capsys.readouterr().err
