"""Stage 1 on held-out data: the detection table, and judged through `run`'s masks (cloud left in, clear ground replaced)."""

from __future__ import annotations

import numpy as np

from clear_vision import ClearVision
from preprocess.readers import CLEAR, CLOUD
from training.score_detection import AS_SERIES, WITH_SHADOW, detection_table, format_detection_table, format_run_mask_errors, mask_error_counts


def test_detection_table_gives_a_scenes_tiles_as_users_do_and_as_a_series_with_and_without_shadow_and_pools_series_once(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0.02, 0.08, (4, 64, 64, 3)).astype(np.float32)  # reflectance: dark ground
    images[1, 10:40, 10:40] = 0.6  # a white cloud on one tile / date
    labels = np.full((4, 64, 64), CLEAR, np.uint8)
    labels[1, 10:40, 10:40] = CLOUD
    np.savez(tmp_path / "groups.npz", **{"scene:a.images": images, "scene:a.labels": labels,
                                          "series:b.images": images, "series:b.labels": labels, "series:b.days": np.arange(4) * 5.0})
    table = detection_table(ClearVision.load(), tmp_path / "groups.npz")
    assert set(table["scene:a"]) == {"clear_vision", "brightness", AS_SERIES, WITH_SHADOW} and set(table["series:b"]) == {"clear_vision", "brightness", WITH_SHADOW}
    assert table["scene:a"][AS_SERIES]["recall"] > 0.9 and table["series:b"]["clear_vision"]["recall"] > 0.9
    assert set(table["pooled"]) == {"clear_vision", "brightness", AS_SERIES, WITH_SHADOW}
    assert f"{AS_SERIES}: a scene's tiles given as detect(tiles, series=True)" in format_detection_table(table)


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
