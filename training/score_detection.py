"""Cloud detection on the held-out scenes: precision / recall / F1 / IoU next to the brightness threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clear_vision import ClearVision
from clear_vision.detection.reference import whiteness_test
from preprocess.readers import CLEAR, CLOUD
from preprocess.rgb import BENCHMARK_GAIN, render_rgb
from preprocess.sets import load_groups

from .metrics import detection_counts, detection_scores
from .score_removal import days_to_dates

__all__ = ["detection_table", "format_detection_table", "missed_cloud", "format_missed_cloud"]


def detection_table(model: ClearVision, path: Path) -> dict:
    """Per held-out scene and pooled: stage 1 vs the brightness threshold, cloud vs clear pixels."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    pooled = {"clear_vision": np.zeros(4, np.int64), "brightness": np.zeros(4, np.int64)}
    for name, group in load_groups(path).items():
        frames = render_rgb(group["images"].astype(np.float32), BENCHMARK_GAIN)
        labels = group["labels"]
        scored = (labels == CLEAR) | (labels == CLOUD)
        # a series comes with its dates; a scene's tiles come as unrelated frames
        dates = days_to_dates(group["days"]) if "days" in group else None
        predictions = {"clear_vision": model.detect(frames, dates), "brightness": whiteness_test(frames)}
        for detector, predicted in predictions.items():
            counts = detection_counts(predicted, labels == CLOUD, scored)
            pooled[detector] += counts
            table.setdefault(name, {})[detector] = detection_scores(counts)
    table["pooled"] = {detector: detection_scores(counts) for detector, counts in pooled.items()}
    return table


def format_detection_table(detection: dict) -> str:
    lines = ["Cloud detection, held-out scenes (cloud vs clear; shadow not scored)", f"{'scene':<46}{'detector':<14}{'P':>6}{'R':>6}{'F1':>6}{'IoU':>6}"]
    for scene, detectors in detection.items():
        for detector, row in detectors.items():
            lines.append(f"{scene[:45]:<46}{detector:<14}{row['precision']:>6.3f}{row['recall']:>6.3f}{row['f1']:>6.3f}{row['iou']:>6.3f}")
    return "\n".join(lines)


def missed_cloud(model: ClearVision, sequences: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """What stage 1 leaves in `run`: the fraction of truly cloudy scored pixels not masked, and their share of the squared error."""
    missed = cloudy = 0
    missed_error = total_error = 0.0
    for sequence in sequences:
        dates = days_to_dates(sequence["days"])
        result = model.run(sequence["cloudy"], dates)
        scored = sequence["scored"]
        error = ((result.frames.astype(np.float64) - sequence["truth"]) / 255.0) ** 2
        left_in = scored & ~result.masks
        missed += int(left_in.sum())
        cloudy += int(scored.sum())
        missed_error += float(error[left_in].sum())
        total_error += float(error[scored].sum())
    return {"missed_fraction": missed / max(cloudy, 1), "missed_error_share": missed_error / max(total_error, 1e-12)}


def format_missed_cloud(rows: dict[str, dict[str, float]]) -> str:
    lines = ["Cloud left in by `run` (truly cloudy scored pixels not masked)", f"{'site':<46}{'missed':>8}{'share of error':>16}"]
    for site, row in rows.items():
        lines.append(f"{site[:45]:<46}{row['missed_fraction']:>8.1%}{row['missed_error_share']:>16.1%}")
    return "\n".join(lines)
