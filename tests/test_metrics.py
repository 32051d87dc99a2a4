"""Scores of the benchmark protocol."""

from __future__ import annotations

import numpy as np

from training.metrics import detection_counts, detection_scores, masked_errors


def test_masked_errors_count_only_scored_pixels():
    truth = np.full((2, 4, 4, 3), 100, np.uint8)
    prediction = truth.copy()
    prediction[0, 0, 0] = 100 + 51  # error of 0.2 on one scored pixel
    prediction[1] = 0  # large errors outside the scored pixels are ignored
    scored = np.zeros((2, 4, 4), bool)
    scored[0, 0, :2] = True
    errors = masked_errors(prediction, truth, scored)
    assert np.isclose(errors["mae"], 0.1) and np.isclose(errors["rmse"], np.sqrt(0.02))
    assert np.isclose(errors["psnr"], 10 * np.log10(1 / 0.02))


def test_detection_scores():
    predicted = np.array([True, True, False, False, True])
    reference = np.array([True, False, True, False, True])
    scored = np.array([True, True, True, True, False])
    counts = detection_counts(predicted, reference, scored)
    assert counts.tolist() == [1, 1, 1, 1]
    scores = detection_scores(counts)
    assert scores["precision"] == scores["recall"] == scores["f1"] == 0.5 and np.isclose(scores["iou"], 1 / 3)
