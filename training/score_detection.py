"""Stage 1 on the held-out data: precision / recall / F1 / IoU next to the brightness threshold, and what `run`'s masks leave in or replace."""

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

__all__ = ["detection_table", "format_detection_table", "mask_error_counts", "run_mask_errors", "format_run_mask_errors"]

AS_SERIES = "as a series"  # `detect(tiles, series=True)` on a scene's tiles: judged against each other, the harder case
WITH_SHADOW = "with shadow"  # `detect(frames, shadow=True)`: cloud or cloud shadow, as `fill` would take it


def detection_table(model: ClearVision, path: Path) -> dict:
    """Per held-out scene and pooled: stage 1 vs the brightness threshold, cloud vs clear pixels."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    pooled = {detector: np.zeros(4, np.int64) for detector in ("clear_vision", AS_SERIES, WITH_SHADOW, "brightness")}
    for name, group in load_groups(path).items():
        frames = render_rgb(group["images"].astype(np.float32), BENCHMARK_GAIN)
        labels = group["labels"]
        scored = (labels == CLEAR) | (labels == CLOUD)
        # a series comes with its dates; a scene's tiles come together, without dates, as a user
        # gives them (`detect` tells them from a series), and forced to be a series (the harder case)
        dates = days_to_dates(group["days"]) if "days" in group else None
        predictions = {"clear_vision": model.detect(frames, dates), WITH_SHADOW: model.detect(frames, dates, shadow=True), "brightness": whiteness_test(frames)}
        if dates is None:
            predictions[AS_SERIES] = model.detect(frames, series=True)
        for detector, predicted in predictions.items():
            counts = detection_counts(predicted, labels == CLOUD, scored)
            pooled[detector] += counts
            if dates is not None and detector == "clear_vision":
                pooled[AS_SERIES] += counts  # a series is a series either way
            table.setdefault(name, {})[detector] = detection_scores(counts)
    table["pooled"] = {detector: detection_scores(counts) for detector, counts in pooled.items()}
    return table


def format_detection_table(detection: dict) -> str:
    lines = ["Cloud detection, held-out scenes (cloud vs clear; shadow not scored)", f"{'scene':<46}{'detector':<14}{'P':>6}{'R':>6}{'F1':>6}{'IoU':>6}"]
    for scene, detectors in detection.items():
        for detector, row in detectors.items():
            lines.append(f"{scene[:45]:<46}{detector:<14}{row['precision']:>6.3f}{row['recall']:>6.3f}{row['f1']:>6.3f}{row['iou']:>6.3f}")
    lines.append(f"{AS_SERIES}: a scene's tiles given as detect(tiles, series=True), each judged against the others (clear_vision: detect(tiles), which judges them alone once it sees no common ground)")
    lines.append(f"{WITH_SHADOW}: detect(frames, shadow=True), cloud or cloud shadow (the masks `fill` would take) scored as cloud")
    return "\n".join(lines)


def mask_error_counts(masks: np.ndarray, output: np.ndarray, sequence: dict[str, np.ndarray]) -> dict[str, float]:
    """One gap sequence's `run` masks judged both ways, as sums (see `run_mask_errors`).

    Cloud left in: scored (truly cloudy, truth clear) pixels that `run` did not mask, and their
    squared error. Clear ground replaced: pixels of the dates without pasted cloud, outside the
    true mask, that `run` masked anyway; PSNR cannot see them (they are not scored), a user does.
    """
    scored = sequence["scored"]
    error = ((output.astype(np.float64) - sequence["truth"]) / 255.0) ** 2
    left_in = scored & ~masks
    clear_dates = ~scored.any(axis=(1, 2))
    clear_ground = ~sequence["mask"][clear_dates]
    replaced = masks[clear_dates] & clear_ground
    return {
        "missed": float(left_in.sum()),
        "cloudy": float(scored.sum()),
        "missed_error": float(error[left_in].sum()),
        "total_error": float(error[scored].sum()),
        "replaced": float(replaced.sum()),
        "clear": float(clear_ground.sum()),
        "replaced_whole": float(masks[clear_dates].all(axis=(1, 2)).sum()),
        "clear_dates": float(clear_dates.sum()),
    }


def run_mask_errors(model: ClearVision, sequences: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """What stage 1's masks cost in `run`: the fraction of truly cloudy scored pixels left unmasked
    and their share of the squared error, and the clear ground it replaced on dates without a
    pasted cloud (share of pixels, share of those dates replaced whole)."""
    totals: dict[str, float] = {}
    for sequence in sequences:
        result = model.run(sequence["cloudy"], days_to_dates(sequence["days"]))
        for key, value in mask_error_counts(result.masks, result.frames, sequence).items():
            totals[key] = totals.get(key, 0.0) + value
    return {
        "missed_fraction": totals["missed"] / max(totals["cloudy"], 1),
        "missed_error_share": totals["missed_error"] / max(totals["total_error"], 1e-12),
        "clear_replaced_fraction": totals["replaced"] / max(totals["clear"], 1),
        "clear_dates_replaced_whole": totals["replaced_whole"] / max(totals["clear_dates"], 1),
    }


def format_run_mask_errors(rows: dict[str, dict[str, float]]) -> str:
    lines = [
        "Masks of `run`: cloud left in (truly cloudy scored pixels not masked) and clear ground replaced (dates without pasted cloud)",
        f"{'site':<46}{'missed':>8}{'share of error':>16}{'clear replaced':>16}{'dates whole':>13}",
    ]
    for site, row in rows.items():
        lines.append(
            f"{site[:45]:<46}{row['missed_fraction']:>8.1%}{row['missed_error_share']:>16.1%}"
            f"{row['clear_replaced_fraction']:>16.1%}{row['clear_dates_replaced_whole']:>13.1%}"
        )
    return "\n".join(lines)
