"""Choose `run`'s operating points on the training sites: python -m training.calibrate.

First the shadow output is put on the cloud output's scale: the offset added to the shadow logit
whose cloud-or-shadow masks at the detection threshold best match the training detector set. Then `run`
replaces every pixel whose cloud or shadow probability reaches the fill threshold, drops detections
under `min_cloud_px` pixels, and masks a frame whole once the detected part reaches
`full_cover`. Each is picked in turn by the `run` PSNR of
BENCHMARK.md on gap sequences of the *training* sites (the held-out sites are never looked at)
and written into the bundle (load, replace, save). Run it after `python -m training.train_mask`.

With `--cross-fit`, each training site is scored with a detector trained without it (bundles of
`python -m training.train_mask --exclude-series ...`): on a site it has trained on, the detector
can miss a sixth as much cloud (Portugal 1.7 % against 10.8 %), so operating points chosen there
fit it, not places it has never seen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from clear_vision import ClearVision
from clear_vision.config import CONFIG_NAME, ClearVisionConfig
from clear_vision.weights import load_network, read_header
from preprocess.readers import read_cube
from preprocess.detector_set import DETECTOR_SERIES
from preprocess.sets import DEFAULT_DATA, DEFAULT_OUT, benchmark_sequence

from .common import CALIBRATION_NAME, TRAINED_BUNDLE
from .detector_data import DetectorSampler
from .score_removal import removal_scores
from .train_mask import excluded_series

__all__ = ["FILL_THRESHOLDS", "FULL_COVERS", "MIN_CLOUD_PXS", "CALIBRATION_NAME", "training_site_sequences", "calibrate", "main"]

FILL_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
FULL_COVERS = (0.6, 0.7, 0.8, 0.9, 1.0)
MIN_CLOUD_PXS = (0, 9, 16, 25, 36, 64)
SHADOW_OFFSETS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
CALIBRATION_EXCLUDED = ("s2_timeseries/hls_missouri",)


def training_site_sequences(data: Path, per_site: int, seed: int = 0) -> dict[str, list[dict[str, np.ndarray]]]:
    """BENCHMARK.md gap sequences (real clouds of the same site) from the training series whose clouds are
    real and labelled (Sen2Cor, CloudSEN12, pixel_qa): Puglia's labels are derived from the series
    itself and HLS Missouri has its clouds cut out, so neither can say how much of a cloud is missed."""
    rng = np.random.default_rng(seed)
    sites: dict[str, list[dict[str, np.ndarray]]] = {}
    for relative in DETECTOR_SERIES:
        if relative in CALIBRATION_EXCLUDED:
            continue
        cube = read_cube(data / relative)
        clear = cube.clear_frames()
        if len(clear) >= 5:
            try:
                sites[cube.name] = [benchmark_sequence(cube, rng, clear) for _ in range(per_site)]
            except ValueError:  # no cloudy frame to paste from
                continue
    return sites


def shadow_logit_offset(pipeline: ClearVision, detector_train: Path, batches: int = 20, seed: int = 0) -> tuple[float, dict[str, float]]:
    """The offset added to the shadow logit: the one whose masks, cloud or shadow at the detection
    threshold, best match the labelled cloud and shadow of random training samples (F1, pixels
    whose shadow is known). Returns (offset, F1 per candidate)."""
    sampler = DetectorSampler(detector_train, preprocessing=pipeline.config.preprocessing)
    rng = np.random.default_rng(seed)
    logits, truth = [], []
    with torch.inference_mode():
        for _ in range(batches):
            batch = sampler.batch(rng, 32)
            known = batch["weights"][:, 1] > 0
            output = pipeline.detector(torch.from_numpy(batch["images"])).numpy()
            logits.append(output.transpose(1, 0, 2, 3)[:, known])
            truth.append((batch["targets"][:, 0] > 0.5)[known] | (batch["targets"][:, 1] > 0.5)[known])
    cloud, shadow = np.concatenate(logits, axis=1)
    truth = np.concatenate(truth)
    cut = float(np.log(pipeline.config.threshold / (1 - pipeline.config.threshold)))
    scores = {}
    for candidate in SHADOW_OFFSETS:
        hit = (cloud >= cut) | (shadow + candidate >= cut)
        scores[f"{candidate:g}"] = round(2 * float((hit & truth).sum()) / max(float(hit.sum() + truth.sum()), 1.0), 4)
    return max(SHADOW_OFFSETS, key=lambda value: scores[f"{value:g}"]), scores


def _mean_run_psnr(judges: dict[str, ClearVision], sites: dict[str, list[dict[str, np.ndarray]]], config: ClearVisionConfig) -> float:
    site_psnr = []
    for site, sequences in sites.items():
        judges[site].config = config
        site_psnr.append(removal_scores({"run": judges[site]}, sequences, modes=("run",))["run"]["run"]["psnr"])
    return round(float(np.mean(site_psnr)), 3)


def fold_detectors(folders: tuple[Path, ...]) -> dict[str, tuple[Path, torch.nn.Module]]:
    """{series name: (bundle, its detector)} for every series a cross-fit bundle was trained without
    (read from the detector's training record)."""
    unseen: dict[str, tuple[Path, torch.nn.Module]] = {}
    for folder in folders:
        spec = ClearVisionConfig.load(folder).detector
        record = read_header(Path(folder) / spec.file).get("training", {}).get("config", {})
        names = excluded_series(record.get("exclude_series", ""))
        if not names:
            raise ValueError(f"{folder}: its detector was trained on every series; train a fold with `python -m training.train_mask --exclude-series NAME,...`")
        detector = load_network("detector", spec, folder)
        unseen.update({name: (Path(folder), detector) for name in names})
    return unseen


def calibrate(
    weights: Path, data: Path, processed: Path, per_site: int = 10, unseen: dict[str, tuple[Path, torch.nn.Module]] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, str]]:
    """The fill threshold, then the minimum detection size, then the full-cover fraction, each by
    mean training-site `run` PSNR with the others fixed (the affine filler, so the operating
    points do not depend on which filler ships). With `unseen` (`fold_detectors` of the
    cross-fit bundles), each site is run by a detector that never saw it, and only such sites count. Returns (chosen values, scores per
    candidate, which detector ran each site).
    """
    pipeline = ClearVision.load(weights, method="affine")
    sites = training_site_sequences(data, per_site)  # first: a fold that leaves none of them out is refused before the minute of the offset
    every_site = list(sites)
    unseen = unseen or {}
    if unseen:
        sites = {site: sequences for site, sequences in sites.items() if site in unseen}
        if not sites:
            raise ValueError(f"--cross-fit: the bundles leave out none of the calibration sites ({', '.join(every_site)}); they left out {', '.join(sorted(unseen))}")
        if len(sites) < len(every_site):  # one fold given, say: the operating points rest on fewer sites than the calibration has
            print(f"note: --cross-fit scores {len(sites)} of the {len(every_site)} calibration sites, those a bundle left out; "
                  f"not scored: {', '.join(site for site in every_site if site not in sites)}")
    offset, shadow_scores = shadow_logit_offset(pipeline, processed / "detector_train.npz")
    pipeline.config = pipeline.config.replace(shadow_logit_offset=offset)
    judges = {site: ClearVision(unseen[site][1], config=pipeline.config, method="affine") if unseen else pipeline for site in sites}
    detectors = {site: str(unseen[site][0]) if unseen else str(weights) for site in sites}
    chosen: dict[str, float] = {"shadow_logit_offset": offset, "fill_threshold": pipeline.config.fill_threshold, "min_cloud_px": 0, "full_cover": 1.0}
    scores: dict[str, dict[str, float]] = {"shadow_logit_offset": shadow_scores}
    for setting, candidates in (("fill_threshold", FILL_THRESHOLDS), ("min_cloud_px", MIN_CLOUD_PXS), ("full_cover", FULL_COVERS)):
        scores[setting] = {}
        for candidate in tqdm(candidates, desc=setting):
            scores[setting][f"{candidate:g}"] = _mean_run_psnr(judges, sites, pipeline.config.replace(**{**chosen, setting: candidate}))
        chosen[setting] = max(candidates, key=lambda value: scores[setting][f"{value:g}"])
    return chosen, scores, detectors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"the shared data folder (default {DEFAULT_DATA})")
    parser.add_argument("--weights", type=Path, default=TRAINED_BUNDLE, help="the bundle folder it calibrates (default: the training commands' runs/bundle; model_dict for the shipped one)")
    parser.add_argument("--processed", type=Path, default=DEFAULT_OUT, help=f"folder with detector_train.npz of python -m preprocess build (default {DEFAULT_OUT})")
    parser.add_argument("--per-site", type=int, default=10, help="gap sequences per training site (default 10)")
    parser.add_argument("--cross-fit", type=Path, nargs="+", default=(), metavar="BUNDLE", help="bundles of detectors trained with --exclude-series: each site is scored by one that never saw it")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found: the training cubes of ../shared/data are needed")
    if args.per_site < 1:
        parser.error(f"--per-site: {args.per_site} must be at least 1")
    for option, bundle in [("--weights", args.weights), *(("--cross-fit", fold) for fold in args.cross_fit)]:
        if not (bundle / CONFIG_NAME).is_file():
            parser.error(f"{option}: {bundle / CONFIG_NAME} not found; give a bundle folder (python -m training.train_mask --out writes one)")
        if ClearVisionConfig.load(bundle).detector is None:
            parser.error(f"{option}: {bundle} has no detector; calibration runs stage 1 (train one with `python -m training.train_mask --out {bundle}`)")
    if not (args.processed / "detector_train.npz").is_file():
        parser.error(f"{args.processed / 'detector_train.npz'} not found; run `python -m preprocess build` first")
    missing = [str(args.data / relative) for relative in DETECTOR_SERIES if relative not in CALIBRATION_EXCLUDED and not (args.data / relative).exists()]
    if missing:  # found after the shadow offset's minute, as a traceback
        parser.error(f"--data: {missing[0]} not found; the calibration sites are the labelled training series of the shared data folder (default {DEFAULT_DATA})")
    try:
        unseen = fold_detectors(tuple(args.cross_fit))  # a bundle that is not a fold, found after a minute of work
    except ValueError as error:
        parser.error(f"--cross-fit: {error}")
    try:
        chosen, scores, detectors = calibrate(args.weights, args.data, args.processed, args.per_site, unseen)
    except ValueError as error:  # a fold that leaves out none of the sites: found once they are read
        print(f"python -m training.calibrate: error: {error}", file=sys.stderr)
        return 2
    print("scores on training data (shadow_logit_offset: F1 of cloud or shadow; the others: run PSNR dB of gap sequences): " + json.dumps(scores))
    bundle = ClearVision.load(args.weights, method="affine").config.replace(**chosen).save(args.weights)
    record = {"chosen": chosen, "scores": scores, "detector_per_site": detectors}
    (args.weights / CALIBRATION_NAME).write_text(json.dumps(record, indent=1) + "\n")
    print(f"{json.dumps(chosen)} written to {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
