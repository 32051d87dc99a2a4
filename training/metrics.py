"""Scores of BENCHMARK.md: masked PSNR/MAE/RMSE for filling, precision/recall/F1/IoU for detection."""

from __future__ import annotations

import numpy as np

__all__ = ["masked_errors", "detection_counts", "detection_scores"]


def masked_errors(prediction: np.ndarray, truth: np.ndarray, scored: np.ndarray) -> dict[str, float]:
    """uint8 (T,H,W,3) prediction vs truth on the scored (T,H,W) pixels, on the [0,1] scale."""
    difference = (prediction.astype(np.float64) - truth.astype(np.float64))[scored] / 255.0
    mse = float(np.mean(difference**2))
    return {"psnr": 10.0 * np.log10(1.0 / max(mse, 1e-10)), "mae": float(np.mean(np.abs(difference))), "rmse": float(np.sqrt(mse))}


def detection_counts(predicted: np.ndarray, is_cloud: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """[tp, fp, fn, tn] of predicted cloud against reference cloud, on scored pixels only."""
    p, r = predicted[scored], is_cloud[scored]
    return np.array([np.sum(p & r), np.sum(p & ~r), np.sum(~p & r), np.sum(~p & ~r)], dtype=np.int64)


def detection_scores(counts: np.ndarray) -> dict[str, float]:
    tp, fp, fn, _ = (float(c) for c in counts)
    precision = tp / max(tp + fp, 1.0)
    recall = tp / max(tp + fn, 1.0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "iou": tp / max(tp + fp + fn, 1.0),
    }
