"""The protocol of BENCHMARK.md on the held-out site: python -m training.evaluate [--card].

Cloud removal: masked PSNR / MAE / RMSE of `fill` (true masks) and `run` (own masks) next to
the classical fillers. Cloud detection: precision / recall / F1 / IoU of stage 1 against
reference masks (shadow not scored) next to a brightness threshold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from clear_vision import ClearVision
from clear_vision.detector import whiteness_test
from preprocess.build import DEFAULT_OUT, load_groups
from preprocess.readers import CLEAR, CLOUD
from preprocess.rgb import BENCHMARK_GAIN, render_rgb

from .metrics import detection_counts, detection_scores, masked_errors

__all__ = ["load_removal_validation", "removal_scores", "colour_oracle_scores", "detection_table", "main"]

MODEL_DIR = Path(__file__).resolve().parent.parent / "model_dict"
_EPOCH = dt.date(2021, 1, 1)


def load_removal_validation(path: Path, limit: int | None = None) -> list[dict[str, np.ndarray]]:
    sequences = [group for _, group in sorted(load_groups(path).items())]
    return sequences[:limit] if limit else sequences


def _dates(days: np.ndarray) -> list[dt.date]:
    return [_EPOCH + dt.timedelta(days=int(day)) for day in days]


def removal_scores(models: dict[str, ClearVision], sequences: list[dict], modes: tuple[str, ...] = ("fill", "run")) -> dict:
    """{name: {mode: {psnr, mae, rmse}}}, each averaged over sequences."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, model in models.items():
        for mode in modes:
            rows = []
            for sequence in sequences:
                dates = _dates(sequence["days"])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if mode == "fill":
                        output = model.fill(sequence["cloudy"], sequence["mask"], dates)
                    else:
                        output = model.run(sequence["cloudy"], dates)
                rows.append(masked_errors(output.frames, sequence["truth"], sequence["scored"]))
            results.setdefault(name, {})[mode] = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return results


def colour_oracle_scores(linear: ClearVision, sequences: list[dict]) -> dict[str, float]:
    """The linear fill after each frame's gain and offset are fitted to its hidden truth.

    Not a method (it looks at the answer): it shows how much of the error is a per-date colour
    shift, which no filler can know on a date where everything is hidden.
    """
    rows = []
    for sequence in sequences:
        filled = linear.fill(sequence["cloudy"], sequence["mask"], _dates(sequence["days"])).frames.astype(np.float64)
        truth = sequence["truth"].astype(np.float64)
        for index in np.flatnonzero(sequence["scored"].any(axis=(1, 2))):
            scored = sequence["scored"][index]
            for channel in range(3):
                x, y = filled[index][..., channel][scored], truth[index][..., channel][scored]
                gain, offset = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (1.0, np.mean(y - x))
                filled[index][..., channel][scored] = np.clip(gain * x + offset, 0, 255)
        rows.append(masked_errors(filled, sequence["truth"], sequence["scored"]))
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def detection_table(model: ClearVision, path: Path) -> dict:
    """Per held-out scene and pooled: stage 1 vs the brightness threshold, cloud vs clear pixels."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    pooled = {"clear_vision": np.zeros(4, np.int64), "brightness": np.zeros(4, np.int64)}
    for name, group in load_groups(path).items():
        frames = render_rgb(group["images"].astype(np.float32), BENCHMARK_GAIN)
        labels = group["labels"]
        scored = (labels == CLEAR) | (labels == CLOUD)
        predictions = {"clear_vision": model.detect(frames), "brightness": whiteness_test(frames)}
        for detector, predicted in predictions.items():
            counts = detection_counts(predicted, labels == CLOUD, scored)
            pooled[detector] += counts
            table.setdefault(name, {})[detector] = detection_scores(counts)
    table["pooled"] = {detector: detection_scores(counts) for detector, counts in pooled.items()}
    return table


def format_tables(removal: dict, detection: dict, oracle: dict | None = None) -> str:
    lines = ["Cloud removal, held-out site (masked pixels, [0,1] scale)", f"{'method':<10}{'mode':<6}{'PSNR dB':>9}{'MAE':>8}{'RMSE':>8}{'vs linear':>11}"]
    reference = removal["linear"]["fill"]["psnr"]
    rows = [(name, mode, row) for name, modes in removal.items() for mode, row in modes.items()]
    rows += [("oracle*", "fill", oracle)] if oracle is not None else []
    for name, mode, row in rows:
        lines.append(f"{name:<10}{mode:<6}{row['psnr']:>9.2f}{row['mae']:>8.4f}{row['rmse']:>8.4f}{row['psnr'] - reference:>+11.2f}")
    if oracle is not None:
        lines.append("* linear with each hidden frame's colour fitted to its truth: not a method, the size of the per-date colour shift")
    lines += ["", "Cloud detection, held-out scenes (cloud vs clear; shadow not scored)", f"{'scene':<46}{'detector':<14}{'P':>6}{'R':>6}{'F1':>6}{'IoU':>6}"]
    for scene, detectors in detection.items():
        for detector, row in detectors.items():
            lines.append(f"{scene[:45]:<46}{detector:<14}{row['precision']:>6.3f}{row['recall']:>6.3f}{row['f1']:>6.3f}{row['iou']:>6.3f}")
    return "\n".join(lines)


def evaluate(data: Path, weights: Path, device: str | None = None) -> dict:
    learned = ClearVision.load(weights, device=device)
    models = {"learned": learned}
    models.update({name: ClearVision.load(weights, device=device, method=name) for name in ("linear", "nearest", "affine")})
    sequences = load_removal_validation(data / "removal_val.npz")
    removal = removal_scores(models, sequences)
    oracle = colour_oracle_scores(models["linear"], sequences)
    detection = detection_table(learned, data / "detector_val.npz")
    return {"removal": removal, "colour_oracle": oracle, "detection": detection, "sequences": len(sequences)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="folder with removal_val.npz and detector_val.npz")
    parser.add_argument("--weights", type=Path, default=MODEL_DIR)
    parser.add_argument("--device", default=None)
    parser.add_argument("--card", action="store_true", help="save evaluation.json and rewrite MODEL_CARD.md with the numbers")
    args = parser.parse_args(argv)
    for name in ("removal_val.npz", "detector_val.npz"):
        if not (args.data / name).is_file():
            parser.error(f"{args.data / name} not found; run `python -m preprocess build` first")
    results = evaluate(args.data, args.weights, args.device)
    table = format_tables(results["removal"], results["detection"], results["colour_oracle"])
    print(f"{results['sequences']} held-out sequences\n{table}")
    if args.card:
        from .model_card import write_model_card

        (args.weights / "evaluation.json").write_text(json.dumps(results, indent=1))
        print(f"wrote {write_model_card(args.weights, table)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
