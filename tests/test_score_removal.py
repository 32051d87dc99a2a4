"""Removal scores: per site, per hidden-fraction bin, and the table that prints them."""

from __future__ import annotations

import numpy as np

from clear_vision import ClearVision
from training.score_removal import HIDDEN_BINS, format_removal_table, removal_scores_by_site, seam_error


def gap_sequence(rng: np.random.Generator, hidden_rows: int) -> dict[str, np.ndarray]:
    """Five frames of one smooth scene drifting in time; frame 2 hides its first `hidden_rows` of 32 rows."""
    ground = np.linspace(40, 200, 32)[None, :, None, None] * np.ones((1, 32, 32, 3))
    truth = np.clip(ground + np.arange(5)[:, None, None, None] * 4 + rng.normal(0, 2, (5, 32, 32, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((5, 32, 32), dtype=bool)
    mask[2, :hidden_rows] = True
    cloudy = truth.copy()
    cloudy[mask] = 250
    return {"truth": truth, "cloudy": cloudy, "mask": mask, "scored": mask.copy(), "days": np.arange(5) * 5}


def test_scores_per_site_and_hidden_fraction():
    rng = np.random.default_rng(0)
    sites = {"a": [gap_sequence(rng, 3), gap_sequence(rng, 32)], "b": [gap_sequence(rng, 16)]}  # 9 %, 100 %, 50 % hidden
    models = {name: ClearVision(method=name) for name in ("linear", "nearest")}
    scores = removal_scores_by_site(models, sites, modes=("fill",))
    assert set(scores) == {"pooled", "a", "b"}
    site_a = scores["a"]["linear"]["fill"]["hidden"]
    assert site_a["20-90%"]["share"] == 0 and np.isnan(site_a["20-90%"]["psnr"])
    assert site_a["<20%"]["share"] + site_a[">90%"]["share"] == 1 and site_a[">90%"]["share"] > 0.9
    assert scores["b"]["linear"]["fill"]["hidden"]["20-90%"]["share"] == 1
    assert scores["pooled"]["linear"]["fill"]["psnr"] > scores["pooled"]["nearest"]["fill"]["psnr"] > 20  # a steady drift: linear wins
    table = format_removal_table(scores["pooled"], title="toy")
    assert "toy" in table and all(label in table for label, _, _ in HIDDEN_BINS) and "nearest" in table


def test_seam_error_sees_a_step_the_ground_does_not_have():
    truth = np.full((1, 8, 8, 3), 100, dtype=np.uint8)
    mask = np.zeros((1, 8, 8), dtype=bool)
    mask[0, 2:6, 2:6] = True
    stepped = truth.copy()
    stepped[mask] = 130
    total, count = seam_error(stepped, truth, mask, mask)
    assert count == 16 and np.isclose(total / count, 30 / 255)
    assert seam_error(truth, truth, mask, mask)[0] == 0
