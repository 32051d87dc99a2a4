"""Cloud removal on the held-out gap sequences (BENCHMARK.md): masked PSNR / MAE / RMSE per filler."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np

from clear_vision import ClearVision

from .metrics import masked_errors

__all__ = ["removal_scores", "colour_oracle_scores", "format_removal_table"]

_EPOCH = dt.date(2021, 1, 1)


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


def format_removal_table(removal: dict, oracle: dict | None = None) -> str:
    lines = ["Cloud removal, held-out sites (masked pixels, [0,1] scale)", f"{'method':<10}{'mode':<6}{'PSNR dB':>9}{'MAE':>8}{'RMSE':>8}{'vs linear':>11}"]
    reference = removal["linear"]["fill"]["psnr"]
    rows = [(name, mode, row) for name, modes in removal.items() for mode, row in modes.items()]
    rows += [("oracle*", "fill", oracle)] if oracle is not None else []
    for name, mode, row in rows:
        lines.append(f"{name:<10}{mode:<6}{row['psnr']:>9.2f}{row['mae']:>8.4f}{row['rmse']:>8.4f}{row['psnr'] - reference:>+11.2f}")
    if oracle is not None:
        lines.append("* linear with each hidden frame's colour fitted to its truth: not a method, the size of the per-date colour shift")
    return "\n".join(lines)
