"""benchmarks/memory.py: a seconds-long run reports the figures the README quotes (no limits on them here)."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.memory import large_frames, main


def test_large_frames_mirror_a_synthetic_tile():
    frames = large_frames(2, 600)
    assert frames.shape == (2, 600, 600, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[:, 511], frames[:, 512]) and np.array_equal(frames[:, :, 511], frames[:, :, 512])


def test_tiny_run_reports_peak_memory_and_the_result_size(tmp_path):
    results = main(["--sizes", "96", "--frames", "2", "--out", str(tmp_path / "memory.json")])
    (run,) = results["runs"]
    assert run["peak_rss_mb"] >= run["rss_before_mb"] > 100 and run["seconds"] > 0 and run["probability_dtype"] == "float32"
    assert run["result_mb"] == 2 * 96 * 96 * (3 + 1 + 4 + 1) / 2**20
    assert json.loads((tmp_path / "memory.json").read_text())["runs"][0]["size"] == 96
