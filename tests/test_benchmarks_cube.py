"""benchmarks/cube.py: a seconds-long run of the cube benchmark gives every figure the README quotes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.cube import main
from benchmarks.synthetic import mirrored_index


def test_mirrored_index_repeats_the_tile_without_end():
    assert mirrored_index(np.arange(7), 3).tolist() == [0, 1, 2, 2, 1, 0, 0]


@pytest.mark.parametrize("method", ["learned", "blend"])
def test_tiny_run_reports_throughput_memory_and_the_full_tile_estimate(tmp_path, method):
    results = main(["--size", "160", "--dates", "3", "--chunk", "64", "--modes", "single", "--method", method, "--out", str(tmp_path / "cube.json")])
    assert results["method"] == method
    single = results["single"]
    assert single["megapixel_dates_per_s"] > 0 and single["peak_rss_mb"] > 100 and single["full_tile_hours"] > 0
    assert results["cube"]["megapixel_dates"] == 160 * 160 * 3 / 1e6
    assert json.loads((tmp_path / "cube.json").read_text())["single"]["seconds"] == single["seconds"]


@pytest.mark.parametrize("dates", ["1", "101"])
def test_dates_the_cube_cannot_give_are_refused_before_any_work(dates, capsys):
    with pytest.raises(SystemExit):
        main(["--dates", dates, "--size", "64"])
    assert "--dates: " in capsys.readouterr().err
