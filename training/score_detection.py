"""Cloud detection on the held-out scenes: precision / recall / F1 / IoU next to the brightness threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clear_vision import ClearVision
from clear_vision.detector import whiteness_test
from preprocess.readers import CLEAR, CLOUD
from preprocess.rgb import BENCHMARK_GAIN, render_rgb
from preprocess.sets import load_groups

from .metrics import detection_counts, detection_scores

__all__ = ["detection_table", "format_detection_table"]


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


def format_detection_table(detection: dict) -> str:
    lines = ["Cloud detection, held-out scenes (cloud vs clear; shadow not scored)", f"{'scene':<46}{'detector':<14}{'P':>6}{'R':>6}{'F1':>6}{'IoU':>6}"]
    for scene, detectors in detection.items():
        for detector, row in detectors.items():
            lines.append(f"{scene[:45]:<46}{detector:<14}{row['precision']:>6.3f}{row['recall']:>6.3f}{row['f1']:>6.3f}{row['iou']:>6.3f}")
    return "\n".join(lines)
