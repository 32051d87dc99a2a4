"""Choose `run`'s operating points on the training sites: python -m training.calibrate.

`run` replaces every pixel whose cloud probability reaches the fill threshold, drops detections
under `min_cloud_px` pixels, and masks a frame whole once the detected part reaches
`full_cover`. Each is picked in turn by the `run` PSNR of
BENCHMARK.md on gap sequences of the *training* sites (the held-out sites are never looked at)
and written into the bundle (load, replace, save). Run it after `python -m training.train_mask`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from clear_vision import ClearVision
from clear_vision.config import DEFAULT_WEIGHTS_DIR
from preprocess.readers import read_cube
from preprocess.removal_set import REMOVAL_TRAIN
from preprocess.sets import DEFAULT_DATA, benchmark_sequence

from .score_removal import removal_scores

__all__ = ["FILL_THRESHOLDS", "FULL_COVERS", "MIN_CLOUD_PXS", "CALIBRATION_NAME", "training_site_sequences", "calibrate", "main"]

FILL_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
FULL_COVERS = (0.7, 0.8, 0.9, 1.0)
MIN_CLOUD_PXS = (0, 4, 9, 16)
CALIBRATION_NAME = "calibration.json"  # the scores behind the chosen values, for the model card


def training_site_sequences(data: Path, per_site: int, seed: int = 0) -> dict[str, list[dict[str, np.ndarray]]]:
    """BENCHMARK.md gap sequences (real clouds of the same site) from every training cube with enough clear frames."""
    rng = np.random.default_rng(seed)
    sites: dict[str, list[dict[str, np.ndarray]]] = {}
    for relative in REMOVAL_TRAIN:
        cube = read_cube(data / relative)
        clear = cube.clear_frames()
        if len(clear) >= 5:
            try:
                sites[cube.name] = [benchmark_sequence(cube, rng, clear) for _ in range(per_site)]
            except ValueError:  # no cloudy frame to paste from
                continue
    return sites


def _mean_run_psnr(pipeline: ClearVision, sites: dict[str, list[dict[str, np.ndarray]]]) -> float:
    site_psnr = [removal_scores({"run": pipeline}, sequences, modes=("run",))["run"]["run"]["psnr"] for sequences in sites.values()]
    return round(float(np.mean(site_psnr)), 3)


def calibrate(weights: Path, data: Path, per_site: int = 10) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The fill threshold, then the minimum detection size, then the full-cover fraction, each by
    mean training-site `run` PSNR with the others fixed (the affine filler, so the operating
    points do not depend on which filler ships). Returns (chosen values, scores per candidate).
    """
    sites = training_site_sequences(data, per_site)
    pipeline = ClearVision.load(weights, method="affine")
    chosen: dict[str, float] = {"fill_threshold": pipeline.config.fill_threshold, "min_cloud_px": 0, "full_cover": 1.0}
    scores: dict[str, dict[str, float]] = {}
    for setting, candidates in (("fill_threshold", FILL_THRESHOLDS), ("min_cloud_px", MIN_CLOUD_PXS), ("full_cover", FULL_COVERS)):
        scores[setting] = {}
        for candidate in tqdm(candidates, desc=setting):
            pipeline.config = pipeline.config.replace(**{**chosen, setting: candidate})
            scores[setting][f"{candidate:g}"] = _mean_run_psnr(pipeline, sites)
        chosen[setting] = max(candidates, key=lambda value: scores[setting][f"{value:g}"])
    return chosen, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (../shared/data)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR, help="the bundle folder")
    parser.add_argument("--per-site", type=int, default=10, help="gap sequences per training site")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found: the training cubes of ../shared/data are needed")
    chosen, scores = calibrate(args.weights, args.data, args.per_site)
    print("run PSNR on training-site sequences: " + json.dumps(scores))
    bundle = ClearVision.load(args.weights, method="affine").config.replace(**chosen).save(args.weights)
    (args.weights / CALIBRATION_NAME).write_text(json.dumps({"chosen": chosen, "scores": scores}, indent=1) + "\n")
    print(f"{json.dumps(chosen)} written to {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
