"""Cloud removal on the held-out gap sequences (BENCHMARK.md): masked PSNR / MAE / RMSE per filler.

Every score is also broken down by how much of the scored pixel's frame is hidden (under 20 %,
20..90 %, over 90 %): on a frame with visible pixels a filler can match that date's colour, on
a fully hidden one it can only interpolate in time.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np

from clear_vision import ClearVision

from .metrics import masked_errors

__all__ = ["HIDDEN_BINS", "days_to_dates", "seam_error", "removal_scores", "removal_scores_by_site", "colour_oracle_scores", "format_removal_table"]

_EPOCH = dt.date(2021, 1, 1)
HIDDEN_BINS = (("<20%", 0.0, 0.2), ("20-90%", 0.2, 0.9), (">90%", 0.9, 1.01))  # share of the frame hidden


def days_to_dates(days: np.ndarray) -> list[dt.date]:
    """Day offsets of a processed set -> dates the pipeline takes (only their differences matter)."""
    return [_EPOCH + dt.timedelta(days=int(day)) for day in days]


def seam_error(output: np.ndarray, truth: np.ndarray, mask: np.ndarray, scored: np.ndarray) -> tuple[float, int]:
    """Sum and count over the edges of filled areas of |step in the output - step in the truth|, [0,1] scale.

    An edge is a pair of 4-neighbours, one scored (filled, truth clear) and one not masked: a
    visible seam is a step there that the clear ground does not have.
    """
    total, count = 0.0, 0
    out, ref, clear = output.astype(np.float64) / 255.0, truth.astype(np.float64) / 255.0, ~mask
    for before, after in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))), ((slice(None), slice(None), slice(None, -1)), (slice(None), slice(None), slice(1, None)))):
        pairs = (scored[before] & clear[after]) | (clear[before] & scored[after])  # vertical, then horizontal neighbours
        step_out, step_ref = (out[after] - out[before])[pairs], (ref[after] - ref[before])[pairs]
        total += float(np.abs(step_out - step_ref).mean(axis=-1).sum())
        count += int(pairs.sum())
    return total, count


def _scores(frames: list[np.ndarray], sequences: list[dict]) -> dict:
    """Mean over sequences of the masked errors, and of the PSNR per hidden-fraction bin.

    A bin's PSNR is averaged over the sequences that have scored pixels in it; `share` is the
    bin's part of all scored pixels; `seam` is the mean step error at the edges of filled areas
    (`seam_error`), pooled over all sequences.
    """
    rows: list[dict[str, float]] = []
    by_bin: dict[str, list[float]] = {label: [] for label, _, _ in HIDDEN_BINS}
    counts = dict.fromkeys(by_bin, 0)
    seam_total, seam_count = 0.0, 0
    for output, sequence in zip(frames, sequences):
        rows.append(masked_errors(output, sequence["truth"], sequence["scored"]))
        total, count = seam_error(output, sequence["truth"], sequence["mask"], sequence["scored"])
        seam_total, seam_count = seam_total + total, seam_count + count
        hidden = sequence["mask"].mean(axis=(1, 2))
        for label, low, high in HIDDEN_BINS:
            scored = sequence["scored"] & ((hidden >= low) & (hidden < high))[:, None, None]
            counts[label] += int(scored.sum())
            if scored.any():
                by_bin[label].append(masked_errors(output, sequence["truth"], scored)["psnr"])
    result = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    result["seam"] = seam_total / max(seam_count, 1)
    total = max(sum(counts.values()), 1)
    result["hidden"] = {label: {"psnr": float(np.mean(values)) if values else float("nan"), "share": counts[label] / total} for label, values in by_bin.items()}
    return result


def _filled(model: ClearVision, sequence: dict, mode: str) -> np.ndarray:
    dates = days_to_dates(sequence["days"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "fill":
            return model.fill(sequence["cloudy"], sequence["mask"], dates).frames
        return model.run(sequence["cloudy"], dates).frames


def _oracle_filled(linear: ClearVision, sequence: dict) -> np.ndarray:
    """The linear fill with each hidden frame's per-channel gain and offset fitted to its truth."""
    filled = _filled(linear, sequence, "fill").astype(np.float64)
    truth = sequence["truth"].astype(np.float64)
    for index in np.flatnonzero(sequence["scored"].any(axis=(1, 2))):
        scored = sequence["scored"][index]
        for channel in range(3):
            x, y = filled[index][..., channel][scored], truth[index][..., channel][scored]
            gain, offset = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (1.0, np.mean(y - x))
            filled[index][..., channel][scored] = np.clip(gain * x + offset, 0, 255)
    return np.round(filled).astype(np.uint8)


def removal_scores_by_site(models: dict[str, ClearVision], sites: dict[str, list[dict]], modes: tuple[str, ...] = ("fill", "run")) -> dict:
    """{"pooled" | site: {name: {mode: scores}}}: every filler runs once per sequence, scored pooled and per site."""
    groups = {"pooled": [sequence for sequences in sites.values() for sequence in sequences], **sites}
    results: dict[str, dict] = {group: {} for group in groups}
    for name, model in models.items():
        for mode in modes:
            outputs = {id(sequence): _filled(model, sequence, mode) for sequence in groups["pooled"]}
            for group, sequences in groups.items():
                results[group].setdefault(name, {})[mode] = _scores([outputs[id(sequence)] for sequence in sequences], sequences)
    return results


def removal_scores(models: dict[str, ClearVision], sequences: list[dict], modes: tuple[str, ...] = ("fill", "run")) -> dict:
    """{name: {mode: {psnr, mae, rmse, hidden: {bin: {psnr, share}}}}}, each averaged over sequences."""
    return removal_scores_by_site(models, {"all": sequences}, modes)["all"]


def colour_oracle_scores(linear: ClearVision, sequences: list[dict]) -> dict:
    """The linear fill after each frame's gain and offset are fitted to its hidden truth.

    Not a method (it looks at the answer): it shows how much of the error is a per-date colour
    shift, which no filler can know on a date where everything is hidden.
    """
    return _scores([_oracle_filled(linear, sequence) for sequence in sequences], sequences)


def format_removal_table(removal: dict, oracle: dict | None = None, title: str = "held-out sites") -> str:
    """One row per filler and mode: PSNR, MAE, RMSE, gain over `linear` fill, PSNR per hidden-fraction bin."""
    bins = [label for label, _, _ in HIDDEN_BINS]
    reference = removal["linear"]["fill"]["psnr"]
    lines = [
        f"Cloud removal, {title} (masked pixels, [0,1] scale; PSNR by share of the frame hidden)",
        f"{'method':<10}{'mode':<6}{'PSNR dB':>9}{'MAE':>8}{'RMSE':>8}{'vs linear':>11}" + "".join(f"{label:>9}" for label in bins) + f"{'seam':>8}",
    ]
    rows = [(name, mode, row) for name, modes in removal.items() for mode, row in modes.items()]
    rows += [("oracle*", "fill", oracle)] if oracle is not None else []
    for name, mode, row in rows:
        per_bin = "".join(f"{row['hidden'][label]['psnr']:>9.2f}" for label in bins)
        lines.append(f"{name:<10}{mode:<6}{row['psnr']:>9.2f}{row['mae']:>8.4f}{row['rmse']:>8.4f}{row['psnr'] - reference:>+11.2f}{per_bin}{row['seam']:>8.4f}")
    shares = removal["linear"]["fill"]["hidden"]
    lines.append("scored pixels per bin: " + ", ".join(f"{label} {shares[label]['share']:.0%}" for label in bins))
    lines.append("seam: mean |step in the output - step in the truth| across the edges of filled areas (lower is better)")
    if oracle is not None:
        lines.append("* linear with each hidden frame's colour fitted to its truth: not a method, the size of the per-date colour shift")
    return "\n".join(lines)
