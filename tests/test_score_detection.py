"""Stage 1 judged through `run`'s masks: cloud left in, and clear ground replaced."""

from __future__ import annotations

import numpy as np

from training.score_detection import format_run_mask_errors, mask_error_counts


def test_mask_errors_count_cloud_left_in_and_clear_ground_replaced():
    truth = np.full((3, 4, 4, 3), 100, dtype=np.uint8)
    pasted = np.zeros((3, 4, 4), dtype=bool)
    pasted[1, :2] = True  # date 1 has 8 pasted pixels; dates 0 and 2 are clear
    sequence = {"truth": truth, "mask": pasted, "scored": pasted.copy()}
    masks = np.zeros_like(pasted)
    masks[1, 0] = True  # 4 of the 8 pasted pixels masked, 4 left in
    masks[0] = True  # a clear date replaced whole
    masks[2, 3, :2] = True  # and 2 pixels of the other
    output = truth.copy()
    output[1, 1, :] = 151  # the cloud left in: 51 / 255 off
    counts = mask_error_counts(masks, output, sequence)
    assert counts["missed"] == 4 and counts["cloudy"] == 8
    assert np.isclose(counts["missed_error"], 4 * 3 * (51 / 255) ** 2) and np.isclose(counts["total_error"], counts["missed_error"])
    assert counts["replaced"] == 18 and counts["clear"] == 32
    assert counts["replaced_whole"] == 1 and counts["clear_dates"] == 2
    row = {"missed_fraction": 0.5, "missed_error_share": 1.0, "clear_replaced_fraction": 18 / 32, "clear_dates_replaced_whole": 0.5}
    assert "56.2%" in format_run_mask_errors({"site": row})
