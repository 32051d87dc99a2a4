"""Preprocessing, samplers, train_mask, train_removal, calibrate and evaluate.

Training runs on a seeded tiny fixture (synthetic fields with blobs of cloud and shadow, put
through the project's own set builders), so a fresh clone tests it without ../shared/data; the
builders on the real data and calibration are tested when ../shared/data is there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from clear_vision import ClearVision
from clear_vision.config import DEFAULT_WEIGHTS_DIR, ClearVisionConfig
from clear_vision.weights import load_network, read_header
from preprocess.readers import CLEAR, CLOUD, SHADOW, Cube

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data (real satellite cubes)")


def synthetic_cube(name: str, steps: int, size: int, seed: int) -> Cube:
    """Fields that stay, with a bright cloud and its dark shadow on every other date."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    ground = np.stack([0.08 + 0.05 * ((x // 16 + y // 16) % 2), 0.09 + 0.03 * ((x // 8) % 2), 0.06 + 0 * x], -1)
    reflectance = np.repeat(ground[None], steps, axis=0) + rng.normal(0, 0.003, (steps, size, size, 3))
    labels = np.full((steps, size, size), CLEAR, np.uint8)
    for step in range(1, steps, 2):
        top, left = rng.integers(0, size // 2, 2)
        cloud = (slice(None), slice(top, top + size // 3), slice(left, left + size // 3))
        shadow = (slice(None), slice(top + size // 3, top + size // 2), slice(left, left + size // 3))
        reflectance[step][cloud[1:]] = 0.45
        reflectance[step][shadow[1:]] *= 0.4
        labels[step][cloud[1:]] = CLOUD
        labels[step][shadow[1:]] = SHADOW
    dates = np.datetime64("2021-05-01") + np.arange(steps) * np.timedelta64(5, "D")
    return Cube(name, reflectance.astype(np.float32), labels, dates)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The four processed sets, built from synthetic cubes by the project's own builders."""
    from preprocess.detector_set import _scene_group, _series_group, _simulated_group
    from preprocess.removal_set import _training_arrays
    from preprocess.sets import benchmark_sequence, save_npz

    out = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    train_cube, val_cube = synthetic_cube("train_site", 12, 64, 1), synthetic_cube("val_site", 12, 64, 2)
    series = _series_group(train_cube)
    detector_train = {f"series:train_site.{key}": value for key, value in series.items()}
    detector_train.update({f"sim:train_site.{key}": value for key, value in _simulated_group(series, rng, 2).items()})
    detector_train.update({f"scene:tiles.{key}": value for key, value in _scene_group(train_cube.reflectance[:4], train_cube.labels[:4], False).items()})
    save_npz(out / "detector_train.npz", detector_train)
    detector_val = {f"series:val_site.{key}": value for key, value in _series_group(val_cube).items()}
    detector_val.update({f"scene:val_tiles.{key}": value for key, value in _scene_group(val_cube.reflectance[:3], val_cube.labels[:3], True).items()})
    save_npz(out / "detector_val.npz", detector_val)
    removal_train = {f"train_site.{key}": value for key, value in _training_arrays(train_cube).items()}
    removal_train.update({f"second_site.{key}": value for key, value in _training_arrays(synthetic_cube("second_site", 10, 64, 3)).items()})
    save_npz(out / "removal_train.npz", removal_train)
    clear = val_cube.clear_frames()
    removal_val = {f"val_site/seq{index:03d}.{key}": value for index in range(2) for key, value in benchmark_sequence(val_cube, rng, clear).items()}
    save_npz(out / "removal_val.npz", removal_val)
    return out


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    from preprocess.detector_set import build_detector_sets
    from preprocess.removal_set import build_removal_sets

    out = tmp_path_factory.mktemp("processed")
    build_detector_sets(DATA, out, seed=0, simulated=4)
    build_removal_sets(DATA, out, seed=0, validation_sequences=3)
    return out


@needs_data
def test_built_sets_hold_out_the_validation_sites(processed):
    from preprocess.sets import load_groups

    train = load_groups(processed / "removal_train.npz")
    validation = load_groups(processed / "removal_val.npz")
    assert not {"MJJ2021_replicated_minicube_225_34TET_47.37_22.05", "sentinel2_cube_subset_romania_10m"} & set(train)
    assert len(validation) == 6  # 3 per held-out site
    for sequence in validation.values():
        assert sequence["truth"].dtype == np.uint8 and 5 <= len(sequence["truth"]) <= 10
        assert sequence["scored"].any() and (sequence["mask"] >= sequence["scored"]).all()
    detector_train, detector_val = load_groups(processed / "detector_train.npz"), load_groups(processed / "detector_val.npz")
    assert {"scene:landsat5", "scene:oncloudn_chip_id_1"} <= set(detector_train) and any(name.startswith("sim:") for name in detector_train)
    assert not {"scene:landsat7", "scene:oncloudn_chip_id_4"} & set(detector_train)
    assert {"scene:landsat7", "scene:oncloudn_chip_id_4"} <= set(detector_val)
    assert not any("34TET" in name or "romania" in name for name in detector_train)


def test_samplers_give_batches_the_networks_take(tiny):
    from training.data import RemovalSampler
    from training.detector_data import DetectorSampler

    rng = np.random.default_rng(0)
    removal = RemovalSampler(tiny / "removal_train.npz", crop=32).batch(rng, 3)
    assert removal["frames"].shape[:2] == removal["masks"].shape[:2] and removal["frames"].shape[2] == 3
    covered = removal["masks"].any(axis=(2, 3, 4))
    assert (covered.sum(axis=1) >= 1).all() and (removal["days"][:, 0] == 0).all()
    detector = DetectorSampler(tiny / "detector_train.npz", crop=32).batch(rng, 16)
    assert detector["images"].shape == (16, 7, 32, 32) and detector["targets"].shape == (16, 2, 32, 32)
    valid = detector["images"][:, 6]
    assert set(np.unique(valid)) <= {0.0, 1.0} and valid.any()  # the reference-valid channel
    assert (detector["images"][:, 3:6][np.broadcast_to(valid[:, None] == 0, (16, 3, 32, 32))] == 0).all()
    assert detector["targets"][:, 0].any() and detector["targets"][:, 1].any()


def test_train_both_networks_resume_and_evaluate(tiny, tmp_path, capsys):
    from training import evaluate, train_mask, train_removal

    weights = tmp_path / "weights"
    args = ["--data", str(tiny), "--out", str(weights), "--crop", "32", "--batch", "2", "--threads", "1", "--validate-every", "2"]
    assert train_mask.main([*args, "--steps", "2", "--widths", "4,8,8", "--run-dir", str(tmp_path / "mask")]) == 0
    assert train_removal.main([*args, "--steps", "2", "--widths", "4,8", "--run-dir", str(tmp_path / "removal")]) == 0
    assert train_removal.main([*args, "--steps", "4", "--widths", "4,8", "--run-dir", str(tmp_path / "removal"), "--resume"]) == 0
    assert "resumed at step 2" in capsys.readouterr().out
    assert torch.load(tmp_path / "removal" / "checkpoint.pt", weights_only=True)["step"] == 4
    config = ClearVisionConfig.load(weights)  # both trainings wrote through one bundle
    assert config.detector.config == {"widths": [4, 8, 8], "in_channels": 7} and config.filler is not None
    detector = load_network("detector", config.detector, weights)
    shipped = torch.load(tmp_path / "mask" / "checkpoint.pt", weights_only=True)["averaged"]  # the moving average, not the last step
    assert all(torch.equal(tensor, shipped[f"module.{name}"]) for name, tensor in detector.state_dict().items())
    record = read_header(weights / config.filler.file)["training"]
    assert record["config"]["steps"] == 4 and len(record["history"]) == 2 and record["command"].startswith("python -m training.train_removal --data")
    assert record["hardware"] == "1 CPU thread" and record["config"]["device"] == "auto"

    assert evaluate.main(["--data", str(tiny), "--weights", str(weights), "--card"]) == 0
    printed = capsys.readouterr().out
    assert "linear" in printed and "brightness" in printed and "pooled" in printed and "oracle*" in printed and "share of error" in printed
    results = json.loads((weights / "evaluation.json").read_text())
    assert results["colour_oracle"]["psnr"] >= results["removal"]["linear"]["fill"]["psnr"]  # a fit on the truth can only help
    card = (weights / "MODEL_CARD.md").read_text()
    assert config.detector.sha256 in card and "python -m training.train_mask" in card
    assert card.startswith("# Clear Vision model card (a bundle trained anew)") and "Held out (chosen before" not in card  # not the shipped bundle's story
    ClearVision.load(weights)


@needs_data
def test_calibrate_writes_through_the_bundle_and_the_defaults_never_touch_the_shipped_one(tiny, tmp_path, capsys, monkeypatch):
    from training import calibrate, train_mask

    shipped = {path.name: path.read_bytes() for path in DEFAULT_WEIGHTS_DIR.iterdir() if path.is_file()}
    monkeypatch.chdir(tmp_path)  # the defaults are relative: runs/bundle, runs/mask
    weights = tmp_path / "runs" / "bundle"
    assert train_mask.main(["--data", str(tiny), "--crop", "32", "--batch", "2", "--steps", "2", "--widths", "4,8,8"]) == 0
    assert calibrate.main(["--data", str(DATA), "--processed", str(tiny), "--per-site", "1"]) == 0
    assert {path.name: path.read_bytes() for path in DEFAULT_WEIGHTS_DIR.iterdir() if path.is_file()} == shipped  # a copied README command replaced them
    config = ClearVisionConfig.load(weights)
    assert config.fill_threshold in calibrate.FILL_THRESHOLDS and config.full_cover in calibrate.FULL_COVERS
    assert json.loads((weights / calibrate.CALIBRATION_NAME).read_text())["chosen"]["fill_threshold"] == config.fill_threshold
    printed = capsys.readouterr().out
    assert "written to" in printed and "keeps the operating points calibrated for its previous detector" not in printed
    assert train_mask.main(["--data", str(tiny), "--crop", "32", "--batch", "2", "--steps", "2", "--widths", "4,8,8", "--run-dir", "runs/again"]) == 0
    assert "note: runs/bundle keeps the operating points calibrated for its previous detector" in capsys.readouterr().out  # a new detector


def test_detector_sampler_leaves_out_excluded_series(tiny):
    from training.detector_data import DetectorSampler

    sampler = DetectorSampler(tiny / "detector_train.npz", exclude_series=("train_site",))
    assert not sampler.series and not sampler.simulated and sampler.scenes  # the series and its simulated clouds
    with pytest.raises(ValueError, match="nowhere_site not in .*its series are train_site"):
        DetectorSampler(tiny / "detector_train.npz", exclude_series=("nowhere_site",))


def test_detector_sampler_leaves_out_excluded_scenes(tiny):
    from training.detector_data import DetectorSampler

    sampler = DetectorSampler(tiny / "detector_train.npz", exclude_scenes=("tiles",))
    assert not sampler.scenes and sampler.series  # the labelled scene, not the series
    rng = np.random.default_rng(0)
    assert sampler.batch(rng, 4)["images"].shape[0] == 4  # series samples only
    with pytest.raises(ValueError, match="exclude_scenes: val_tiles not in .*its scenes are tiles"):
        DetectorSampler(tiny / "detector_train.npz", exclude_scenes=("val_tiles",))


@needs_data
def test_cross_fit_calibration_runs_each_site_with_a_detector_that_never_saw_it(tiny, tmp_path, capsys):
    from preprocess.sets import save_npz
    from training import calibrate, train_mask

    site = "L8_SR_10m_000028085BF08E7E"  # a real calibration site; the tiny series is copied under its name
    processed = tmp_path / "processed"
    processed.mkdir()
    with np.load(tiny / "detector_train.npz") as stored:
        arrays = dict(stored)
    arrays.update({key.replace("train_site", site): value for key, value in arrays.items() if "train_site" in key})
    save_npz(processed / "detector_train.npz", arrays)
    (processed / "detector_val.npz").write_bytes((tiny / "detector_val.npz").read_bytes())
    args = ["--data", str(processed), "--crop", "32", "--batch", "2", "--steps", "2", "--widths", "4,8,8"]
    weights, fold, everything = tmp_path / "weights", tmp_path / "fold", tmp_path / "everything"
    assert train_mask.main([*args, "--out", str(weights), "--run-dir", str(tmp_path / "mask")]) == 0
    assert train_mask.main([*args, "--out", str(fold), "--run-dir", str(tmp_path / "fold_run"), "--exclude-series", site]) == 0
    assert calibrate.main(["--data", str(DATA), "--processed", str(processed), "--weights", str(weights), "--per-site", "1", "--cross-fit", str(fold)]) == 0
    record = json.loads((weights / calibrate.CALIBRATION_NAME).read_text())
    assert record["detector_per_site"] == {site: str(fold)}  # only the site the fold never saw, run by the fold
    assert "note: --cross-fit scores 1 of the 5 calibration sites, those a bundle left out; not scored: " in capsys.readouterr().out
    assert ClearVisionConfig.load(weights).fill_threshold == record["chosen"]["fill_threshold"]
    assert train_mask.main([*args, "--out", str(everything), "--run-dir", str(tmp_path / "all_run")]) == 0
    with pytest.raises(SystemExit):  # before the minute of work it once took to find out
        calibrate.main(["--data", str(DATA), "--processed", str(processed), "--weights", str(weights), "--per-site", "1", "--cross-fit", str(everything)])
    assert "--cross-fit: " in (err := capsys.readouterr().err) and "its detector was trained on every series" in err
    with pytest.raises(SystemExit):
        calibrate.main(["--data", str(tmp_path), "--processed", str(processed), "--weights", str(weights), "--per-site", "1"])
    assert "the calibration sites are the labelled training series of the shared data folder" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(tiny, tmp_path, capsys):
    from training import train_removal

    with pytest.raises(SystemExit):  # before the sets are read
        train_removal.main(["--data", str(tiny), "--out", str(tmp_path), "--steps", "1", "--device", "cuda", "--run-dir", str(tmp_path / "run")])
    assert "no CUDA GPU is available" in capsys.readouterr().err


def test_missing_processed_data_is_a_clear_error(tmp_path, capsys):
    from training import train_removal

    with pytest.raises(SystemExit):
        train_removal.main(["--data", str(tmp_path)])
    assert "python -m preprocess build" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--steps", "0"], "--steps: 0 must be at least 1"),
        (["--validate-every", "0"], "--validate-every: 0 must be at least 1"),
        (["--temporal", "flase"], "'flase' is not true or false"),
        (["--widths", "8,16,x"], "'8,16,x' is not whole numbers separated by commas"),
        (["--resume"], "--resume: no checkpoint at"),
        (["--out", "/proc/clear-vision-out"], "--out: /proc/clear-vision-out cannot be written to"),
        (["--lr", "-1"], "--lr: -1 is not a learning rate in (0, 1]"),
        (["--ema-decay", "1.5"], "--ema-decay: 1.5 is not in [0, 1)"),
        (["--threshold", "1.5"], "--threshold: 1.5 is not a probability in [1e-06, 1]"),  # it failed at the first validation
        (["--device", "foo"], "device: 'foo' is not a device"),
        (["--resume", "--restart"], "--resume and --restart: give one"),
        (["--widths", "4,0,8"], "--widths 4,0,8: channels and heads must be at least 1"),
        (["--device", "gpu"], "--device gpu: device: 'gpu' is not a device; use 'cpu', 'cuda' or auto"),
    ],
)
def test_training_options_that_cannot_work_are_refused_before_any_step(tiny, tmp_path, capsys, extra, message):
    """Found unwritable after the training, a run was lost; a resume without a checkpoint started afresh in silence."""
    from training import train_mask

    with pytest.raises(SystemExit):
        train_mask.main(["--data", str(tiny), "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"), *extra])
    assert message in capsys.readouterr().err


def test_a_missing_validation_set_and_a_crop_the_sets_cannot_hold_are_refused_before_the_steps(tiny, tmp_path, capsys):
    """The validation set was found missing at the first validation, and a crop no series holds
    sampled forever (train_removal) or failed with numpy's 'high <= 0' (train_mask)."""
    from training import train_mask, train_removal

    (tmp_path / "train_only").mkdir()
    (tmp_path / "train_only" / "removal_train.npz").write_bytes((tiny / "removal_train.npz").read_bytes())
    with pytest.raises(SystemExit):
        train_removal.main(["--data", str(tmp_path / "train_only"), "--run-dir", str(tmp_path / "run")])
    assert "removal_val.npz not found; run `python -m preprocess build --out" in capsys.readouterr().err
    args = ["--data", str(tiny), "--out", str(tmp_path / "out"), "--batch", "2", "--steps", "2", "--crop", "256"]
    assert train_removal.main([*args, "--widths", "4,8", "--run-dir", str(tmp_path / "removal")]) == 2
    err = capsys.readouterr().err
    assert "no series gives training sequences: they need 5 dates or more, and a date with at least 30% of a 256 px crop known clear" in err
    assert "--crop 64 or less works" in err  # the fixture's series are 64 px
    assert train_mask.main([*args, "--widths", "4,8,8", "--run-dir", str(tmp_path / "mask")]) == 2
    assert re.search(r"--crop 256: larger than \d+ of the \d+ series, scenes and simulated-cloud sets of .* give --crop \d+ or less", capsys.readouterr().err)


def test_bundles_without_a_detector_are_refused_in_one_line(tiny, tmp_path, capsys):
    from training import calibrate, evaluate, train_removal

    args = ["--data", str(tiny), "--out", str(tmp_path / "filler_only"), "--crop", "32", "--batch", "2", "--threads", "1", "--widths", "4,8", "--steps", "1"]
    assert train_removal.main([*args, "--run-dir", str(tmp_path / "run")]) == 0
    with pytest.raises(SystemExit):
        evaluate.main(["--data", str(tiny), "--weights", str(tmp_path / "filler_only")])
    assert "has no detector; the evaluation runs stage 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        calibrate.main(["--data", str(tmp_path), "--processed", str(tiny), "--weights", str(tmp_path / "filler_only")])
    assert "has no detector; calibration runs stage 1" in capsys.readouterr().err


def test_python_m_training_lists_its_commands(capsys):
    from training.__main__ import COMMANDS, main

    assert main() == 0
    printed = capsys.readouterr().out
    assert all(f"python -m training.{name}" in printed for name in COMMANDS)


def test_a_bundle_without_a_filler_is_evaluated_with_the_classical_fillers(tiny, tmp_path, capsys):
    """A fold, or a bundle after train_mask alone, failed in evaluate: 'learned' needs a filler."""
    from training import evaluate, train_mask

    args = ["--data", str(tiny), "--out", str(tmp_path / "fold"), "--crop", "32", "--batch", "2", "--threads", "1", "--widths", "4,8,8"]
    assert train_mask.main([*args, "--steps", "2", "--run-dir", str(tmp_path / "run")]) == 0
    assert evaluate.main(["--data", str(tiny), "--weights", str(tmp_path / "fold")]) == 0
    printed = capsys.readouterr().out
    assert "has no filler (stage 2): its detector is scored, and `run` with the classical filler 'blend'" in printed
    assert "blend     run" in printed and "learned" not in printed.split("held-out sequences", 1)[1]


def test_ctrl_c_keeps_the_last_step_and_an_earlier_run_is_not_replaced_unasked(tiny, tmp_path, capsys):
    """Stopped by Ctrl-C, a run lost up to two minutes of steps and left a traceback; a fresh
    start in the same --run-dir replaced the earlier checkpoint in silence."""
    from training import train_removal

    args = ["--data", str(tiny), "--out", str(tmp_path / "out"), "--crop", "32", "--batch", "2", "--threads", "1", "--widths", "4,8", "--run-dir", str(tmp_path / "run")]
    sample = train_removal.RemovalSampler.batch

    def interrupted_at_step_3(self, rng, size, calls=[0]):  # noqa: B006 (a counter shared by the calls)
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return sample(self, rng, size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_removal.RemovalSampler, "batch", interrupted_at_step_3)
        assert train_removal.main([*args, "--steps", "6"]) == 130
    assert "stopped at step 3 of 6; the checkpoint" in capsys.readouterr().err
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 3 and not (tmp_path / "out" / "filler.safetensors").exists()
    with pytest.raises(SystemExit):
        train_removal.main([*args, "--steps", "6"])
    assert "holds an earlier run: --resume continues it, --restart starts afresh over it" in capsys.readouterr().err
    assert train_removal.main([*args, "--steps", "6", "--resume"]) == 0
    assert "resumed at step 3" in capsys.readouterr().out
    assert train_removal.main([*args, "--steps", "2", "--restart"]) == 0
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 2
    with pytest.raises(SystemExit):  # the optimiser would keep the learning rate it started with, and the record claim the new one
        train_removal.main([*args, "--steps", "4", "--resume", "--lr", "0.1"])
    assert "trained with --lr 0.002, not 0.1" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a checkpoint without a moving average crashed when resumed with one
        train_removal.main([*args, "--steps", "4", "--resume", "--ema-decay", "0"])
    assert "trained with --ema-decay 0.999, not 0.0" in capsys.readouterr().err
    from training import train_mask

    with pytest.raises(SystemExit):  # "trained with --heads 4, not None": train_mask has no --heads
        train_mask.main(["--data", str(tiny), "--run-dir", str(tmp_path / "run"), "--resume", "--steps", "9"])
    assert "was written by python -m training.train_removal, not python -m training.train_mask" in capsys.readouterr().err


def test_one_seed_gives_one_network_and_a_resume_finds_its_sets_from_another_folder(tiny, tmp_path, monkeypatch):
    """The initial weights were not seeded (two runs of one command differed by up to 0.9), and a
    run started with a relative --data was refused when resumed from elsewhere with the absolute one."""
    from training import train_removal

    args = ["--crop", "32", "--batch", "2", "--threads", "1", "--widths", "4,8", "--steps", "2"]
    for name in ("a", "b"):
        assert train_removal.main(["--data", str(tiny), "--out", str(tmp_path / name), "--run-dir", str(tmp_path / f"run_{name}"), *args]) == 0
    first, second = (load_file(tmp_path / name / "filler.safetensors") for name in ("a", "b"))
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)
    monkeypatch.chdir(tiny.parent)
    relative = ["--data", tiny.name, "--out", str(tmp_path / "c"), "--run-dir", str(tmp_path / "run_c"), *args]
    assert train_removal.main(relative) == 0
    monkeypatch.chdir(tmp_path)
    assert train_removal.main([*relative[2:], "--data", str(tiny), "--steps", "3", "--resume"]) == 0


def test_a_resume_past_the_requested_steps_and_a_single_frame_detector_say_what_they_do(tiny, tmp_path, capsys):
    from training import train_mask

    args = ["--data", str(tiny), "--out", str(tmp_path / "out"), "--crop", "32", "--batch", "2", "--threads", "1", "--widths", "4,8,8", "--run-dir", str(tmp_path / "run")]
    assert train_mask.main([*args, "--steps", "2", "--temporal", "false"]) == 0  # the frame alone: 3 input channels
    config = ClearVisionConfig.load(tmp_path / "out")
    assert load_network("detector", config.detector, tmp_path / "out").in_channels == 3
    with pytest.raises(SystemExit):
        train_mask.main([*args, "--steps", "1", "--resume"])
    assert "is at step 2, past --steps 1; give --steps 2 or more" in capsys.readouterr().err
    for changed, message in ((["--widths", "4,8,16"], "trained with --widths '4,8,8', not '4,8,16'"),
                             (["--exclude-series", "train_site"], "trained with --exclude-series '', not 'train_site'"),
                             (["--temporal", "true"], "trained with --temporal False, not True")):
        with pytest.raises(SystemExit):  # another network, or a fold that saw what it now claims to leave out
            train_mask.main([*args, "--steps", "3", "--temporal", "false", "--resume", *changed])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):  # refused before any folder is made
        train_mask.main([*args, "--steps", "1", "--crop", "10", "--run-dir", str(tmp_path / "crop"), "--out", str(tmp_path / "crop_out")])
    assert "--crop: 10 px does not divide by 4, which the network of --widths 4,8,8 needs" in capsys.readouterr().err
    assert not (tmp_path / "crop").exists() and not (tmp_path / "crop_out").exists()
    config = train_mask.MaskConfig(data=tiny, out=tmp_path / "crop_out", run_dir=tmp_path / "crop", crop=10, widths=(4, 8, 8), steps=1)
    with pytest.raises(ValueError, match="--crop: 10 px does not divide by 4"):  # train() called from Python says it too
        train_mask.train(config)


def test_contact_sheets_without_the_shared_data_are_refused_before_the_evaluation(tiny, tmp_path, capsys):
    from training import evaluate

    with pytest.raises(SystemExit):
        evaluate.main(["--data", str(tiny), "--sheets", str(tmp_path / "sheets"), "--shared", str(tmp_path / "nowhere")])
    assert "--sheets: " in capsys.readouterr().err and not (tmp_path / "sheets").exists()


@needs_data
def test_bundles_that_are_not_there_are_refused_in_one_line(tiny, tmp_path, capsys):
    """A FileNotFoundError traceback came after the sets were read; now the folders are checked first."""
    from training import calibrate, evaluate

    for main, argv, message in (
        (evaluate.main, ["--data", str(tiny), "--weights", str(tmp_path / "nowhere")], "--weights: "),
        (calibrate.main, ["--data", str(DATA), "--processed", str(tiny), "--weights", str(DEFAULT_WEIGHTS_DIR), "--cross-fit", str(tmp_path / "fold1")], "--cross-fit: "),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        err = capsys.readouterr().err
        assert message in err and "clear_vision.json not found; give a bundle folder" in err


@needs_data
def test_preprocess_and_calibrate_refuse_what_cannot_work_before_the_work(tiny, tmp_path, capsys):
    """An unwritable --out for the sets, no sequences per site, a bundle that is not there: one line, at once."""
    from preprocess.__main__ import main as preprocess_main
    from training import calibrate

    with pytest.raises(SystemExit):
        preprocess_main(["build", "--data", str(DATA), "--out", "/proc/clear-vision-sets"])
    assert "--out: /proc/clear-vision-sets cannot be written to" in capsys.readouterr().err
    for extra, message in ((["--per-site", "0"], "--per-site: 0 must be at least 1"), (["--weights", str(tmp_path / "none")], "clear_vision.json not found; give a bundle folder")):
        with pytest.raises(SystemExit):
            calibrate.main(["--data", str(DATA), "--processed", str(tiny), *extra])
        assert message in capsys.readouterr().err


def test_every_training_flag_says_what_it_does():
    from training.common import FLAG_HELP
    from training.train_mask import MaskConfig
    from training.train_removal import RemovalConfig

    for config in (MaskConfig, RemovalConfig):
        assert not [field.name for field in dataclasses.fields(config) if field.name not in FLAG_HELP], config


def test_simulated_clouds_go_on_frames_an_unlabelled_series_own_labels_call_clear():
    """A user's series without labels sits in the detector set unlabelled; its labels from the
    series itself pick the clear frames that carry simulated clouds."""
    from preprocess.detector_set import _simulated_group

    group = {"images": np.full((4, 64, 64, 3), 0.1, np.float16), "labels": np.full((4, 64, 64), 255, np.uint8)}
    assert _simulated_group(group, np.random.default_rng(0), 3) == {}
    own = np.zeros((4, 64, 64), np.uint8)
    own[:2] = CLOUD
    simulated = _simulated_group(group, np.random.default_rng(0), 3, clear_labels=own)
    assert simulated["images"].shape == (3, 64, 64, 3) and set(simulated["frame"]) <= {2, 3}
