"""Choose stage 1's fill threshold on the training sites: python -m training.calibrate.

`run` replaces every pixel whose cloud probability reaches the fill threshold. The threshold
is picked by the `run` PSNR of BENCHMARK.md on gap sequences of the *training* sites (the
held-out site is never looked at) and written into the detector's weights file, whose
checksum in the model card is renewed. Run it after `python -m training.train_mask`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from clear_vision import ClearVision
from clear_vision.weights import (
    WEIGHT_FILES,
    load_weights,
    record_checksum,
    save_weights,
)
from preprocess.readers import read_cube
from preprocess.removal_set import REMOVAL_TRAIN
from preprocess.sets import DEFAULT_DATA, benchmark_sequence

from .evaluate import MODEL_DIR
from .score_removal import removal_scores

__all__ = ["CANDIDATES", "training_site_sequences", "calibrate", "main"]

CANDIDATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def training_site_sequences(data: Path, per_site: int, seed: int = 0) -> dict[str, list[dict[str, np.ndarray]]]:
    """BENCHMARK.md gap sequences (real clouds of the same site) from every training cube."""
    rng = np.random.default_rng(seed)
    sites: dict[str, list[dict[str, np.ndarray]]] = {}
    for relative in REMOVAL_TRAIN:
        cube = read_cube(data / relative)
        clear = cube.clear_frames()
        sites[cube.name] = [benchmark_sequence(cube, rng, clear) for _ in range(per_site)]
    return sites


def calibrate(weights: Path, data: Path, per_site: int = 10, candidates: tuple[float, ...] = CANDIDATES) -> tuple[float, dict[str, float]]:
    """Mean over the training sites of the `run` PSNR per candidate; returns (best, scores)."""
    sites = training_site_sequences(data, per_site)
    pipeline = ClearVision.load(weights)
    scores = {}
    for candidate in tqdm(candidates, desc="fill thresholds"):
        pipeline.fill_threshold = candidate
        site_psnr = [removal_scores({"run": pipeline}, sequences, modes=("run",))["run"]["run"]["psnr"] for sequences in sites.values()]
        scores[f"{candidate:g}"] = round(float(np.mean(site_psnr)), 3)
    best = max(candidates, key=lambda candidate: scores[f"{candidate:g}"])
    return best, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (../shared/data)")
    parser.add_argument("--weights", type=Path, default=MODEL_DIR)
    parser.add_argument("--per-site", type=int, default=10, help="gap sequences per training site")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found: the training cubes of ../shared/data are needed")
    best, scores = calibrate(args.weights, args.data, args.per_site)
    print("run PSNR on training-site sequences by fill threshold: " + json.dumps(scores))
    detector, metadata = load_weights("detector", args.weights)
    kept = {key: value for key, value in metadata.items() if key not in ("architecture", "config")}
    path = args.weights / WEIGHT_FILES["detector"]
    save_weights(detector, path, {**kept, "fill_threshold": best, "fill_threshold_scores": scores})
    record_checksum(path)
    print(f"fill threshold {best:g} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
