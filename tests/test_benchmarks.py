"""The benchmarks keep working: reference sizes, a tiny end-to-end run, the app case, soak logic.

No timing limits here: the numbers depend on the machine; only their presence and sanity are checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import run as bench
from benchmarks import soak
from benchmarks.reference import ReferenceMaskUNet, ReferencePipeline, ReferenceTemporalUNet, count_weights
from benchmarks.server import APP_PATH, PROJECT_ROOT
from benchmarks.synthetic import synthetic_sequence

STATS_KEYS = {"median", "q1", "q3", "min", "max", "n", "samples"}


def assert_stats(stats: dict, n: int) -> None:
    assert STATS_KEYS <= stats.keys()
    assert stats["n"] == n == len(stats["samples"])
    assert 0 < stats["min"] <= stats["q1"] <= stats["median"] <= stats["q3"] <= stats["max"]


def test_reference_networks_have_the_seed_sizes() -> None:
    """MODELS.md: ~17 M weights for the mask U-Net, ~7 M for the temporal U-Net."""
    mask_net, fill_net = ReferenceMaskUNet().eval(), ReferenceTemporalUNet().eval()
    assert 16e6 < count_weights(mask_net) < 18.5e6
    assert 6.5e6 < count_weights(fill_net) < 7.5e6
    with torch.inference_mode():
        assert mask_net(torch.rand(2, 3, 32, 32)).shape == (2, 2, 32, 32)
        assert fill_net(torch.rand(1, 3, 3, 32, 32)).shape == (1, 3, 3, 32, 32)


def test_reference_pipeline_keeps_clear_pixels() -> None:
    frames, masks = synthetic_sequence(3, 32, 48, seed=1)
    filled = ReferencePipeline().fill(frames, masks)
    assert filled.shape == frames.shape and filled.dtype == np.uint8
    assert np.array_equal(filled[~masks], frames[~masks])
    assert ReferencePipeline().detect(frames).shape == masks.shape


def test_synthetic_sequence_is_seeded_and_has_clouds() -> None:
    frames, masks = synthetic_sequence(6, 40, 56, seed=3)
    again, _ = synthetic_sequence(6, 40, 56, seed=3)
    assert frames.shape == (6, 40, 56, 3) and frames.dtype == np.uint8 and masks.shape == (6, 40, 56)
    assert np.array_equal(frames, again)
    assert not masks[0].any() and masks.any()  # first frame clear, some clouds to fill


def test_tiny_benchmark_writes_the_expected_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--tiny", "--skip-app", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    frames, size, large_size = bench.TINY["frames"], bench.TINY["size"], bench.TINY["large_size"]
    assert f"| cpu | run, {frames} frames {size}x{size} |" in done.stdout  # the markdown table for README.md

    results = json.loads(out.read_text())
    assert {"machine", "config", "weights", "devices"} <= results.keys()
    assert results["machine"]["torch"] == torch.__version__ and results["machine"]["logical_cores"] >= 1
    assert results["config"]["threads"] == 2 and results["config"]["repeats"] == bench.TINY["repeats"]
    assert all(count > 0 for count in results["weights"].values())
    cpu = results["devices"]["cpu"]
    assert cpu["shape"] == [frames, size, size]
    for case in ("run", "detect", "fill"):
        assert_stats(cpu[case]["ours"], bench.TINY["repeats"])
        assert_stats(cpu[case]["reference"], bench.TINY["repeats"])
        assert cpu[case]["ratio"] > 0 and cpu[case]["paired_ratio"] > 0
    large = cpu["large"]
    assert large["shape"] == [frames, large_size, large_size]
    assert large["seconds"] > 0 and large["peak_rss_mb"] >= large["rss_before_mb"] > 0 and large["peak_growth_mb"] >= 0
    for key in ("startup_seconds", "load_seconds", "first_run_seconds"):
        assert_stats(cpu["load"][key], bench.TINY["load_repeats"])


def test_tiny_options_yield_to_explicit_ones() -> None:
    args = bench.parse_args(["--tiny", "--repeats", "3"])
    assert args.repeats == 3 and args.size == bench.TINY["size"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--repeats", "0"])


def test_app_options() -> None:
    args = bench.parse_args(["--app-only", "--app-path", "/tmp/app_new.py", "--app-baseline", "/tmp/app_rev.py"])
    assert args.app_only and args.app_path == Path("/tmp/app_new.py") and args.app_baseline == Path("/tmp/app_rev.py")
    assert bench.parse_args([]).app_path == APP_PATH and bench.parse_args([]).app_baseline is None


@pytest.mark.skipif(not APP_PATH.is_file(), reason="app.py not present")
def test_app_case_reports_throughput_and_peak_memory_against_a_baseline() -> None:
    args = bench.parse_args(["--tiny", "--app-baseline", str(APP_PATH)])  # the app against itself: both columns filled
    result = bench.measure_app(args)
    assert result["requests"] == bench.TINY["app_clients"] * bench.TINY["app_requests"]
    assert_stats(result["baseline"]["round_trip"], result["requests"])
    assert result["requests_per_second"] > 0 and result["server_rss_mb"] > 0
    assert_stats(result["round_trip"], result["requests"])
    largest = result["largest"]
    assert largest["frames"] == [args.frames, args.large_size, args.large_size]
    assert largest["seconds"] > 0 and largest["peak_rss_mb"] >= largest["rss_before_mb"] > 0
    table = bench.markdown({"machine": {**bench.machine_info(), "cuda": None}, "config": {"threads": 2},
                            "weights": bench.weight_counts(None), "devices": {}, "app": result})
    assert f"| app | /remove_clouds, {args.frames} PNGs {args.large_size}x{args.large_size} (the most it takes) |" in table
    assert f"| app | same, `{APP_PATH}` (alternating) |" in table


def test_soak_requests_vary_and_verdict_flags_growth(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shapes = {soak.varied_request(index, rng, tmp_path / str(index))[1] for index in range(6)}
    assert len(shapes) > 1
    args = argparse.Namespace(max_growth_mb=100.0, max_files_per_request=0.1)
    point = {"requests": 0, "server_rss_mb": 500.0, "gradio_temp_files": 10, "tmpdir_files": 0}
    flat = [point, {**point, "requests": 50}, {**point, "requests": 100, "server_rss_mb": 520.0}]
    growing = [point, {**point, "requests": 50}, {**point, "requests": 100, "server_rss_mb": 900.0, "gradio_temp_files": 500}]
    assert soak.verdict(args, flat, [1.0, 2.0], [])["passed"]
    result = soak.verdict(args, growing, [1.0, 2.0], [])
    assert not result["memory_flat"] and not result["temp_files_flat"] and not result["passed"]
