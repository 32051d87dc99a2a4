"""One request end to end with the real model: refused before any work, or summary and files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.synthetic import synthetic_sequence, write_frames
from clear_vision import ClearVision
from clear_vision.webapp.runs import ModelRunner, process


@pytest.fixture(scope="module")
def runner() -> ModelRunner:
    return ModelRunner(ClearVision.load(device="cpu"))


def no_progress(fraction: float, step: str) -> None:
    pass


def test_a_request_gives_summary_and_files(runner: ModelRunner, tmp_path: Path) -> None:
    images, _ = synthetic_sequence(4, 48, 64, seed=2)
    paths = [str(p) for p in write_frames(images, tmp_path / "up", stem="x")]
    order = "\n".join(Path(p).name for p in reversed(paths))

    summary, files, warnings = process(runner, paths, "2021-05-10 2021-05-15 2021-05-20 2021-05-25", order, tmp_path / "results", no_progress)

    assert "4 frames of 64x48 px" in summary and "dates as typed" in summary
    assert [caption for _, caption in files.clears] == ["1. x_04.png", "2. x_03.png", "3. x_02.png", "4. x_01.png"]
    expected = runner.model.run(images[::-1], dates=["2021-05-10", "2021-05-15", "2021-05-20", "2021-05-25"]).frames
    returned = np.stack([np.asarray(Image.open(path)) for path, _ in files.clears])
    assert (np.abs(returned.astype(int) - expected) > 2).mean() < 0.01
    assert zipfile.ZipFile(files.archive).testzip() is None and isinstance(warnings, list)


def test_too_large_a_request_is_refused_before_decoding(runner: ModelRunner, tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    huge = []
    for index in range(10):
        Image.new("L", (4096, 4096)).save(tmp_path / "up" / f"f{index}.png")
        huge.append(str(tmp_path / "up" / f"f{index}.png"))
    with pytest.raises(ValueError, match="this app takes at most 10,485,760 pixels per run"):
        process(runner, huge, "", "", tmp_path / "results", no_progress)
    assert not (tmp_path / "results").exists()


def test_junk_date_is_refused(runner: ModelRunner, tmp_path: Path) -> None:
    images, _ = synthetic_sequence(2, 40, 40)
    paths = [str(p) for p in write_frames(images, tmp_path / "up")]
    with pytest.raises(ValueError, match="cannot read '2021-05-10junk'"):
        process(runner, paths, "2021-05-10junk, 2021-05-15", "", tmp_path / "results", no_progress)


def test_a_higher_fill_threshold_replaces_less_and_a_bad_one_is_refused(runner: ModelRunner, tmp_path: Path) -> None:
    paths = [str(path) for path in sorted((Path(__file__).resolve().parent.parent / "examples" / "romania_2019_summer").glob("*.png"))]
    summary, files, _ = process(runner, paths, "", "", tmp_path / "results", no_progress, fill_threshold=0.4)
    default_summary, default_files, _ = process(runner, paths, "", "", tmp_path / "results", no_progress)
    covered = [json_cover(files.archive), json_cover(default_files.archive)]
    assert "fill threshold 0.4" in summary and "fill threshold" not in default_summary and covered[0] < covered[1]
    assert runner.with_fill_threshold(None) is runner.model and runner.with_fill_threshold(0.4).detector is runner.model.detector
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"fill threshold: .* is not a probability in \(0, 1\]"):
            process(runner, paths, "", "", tmp_path / "results", no_progress, fill_threshold=bad)


def json_cover(archive: str) -> float:
    """The mean cloud cover that a run's report.json states."""
    with zipfile.ZipFile(archive) as bundle:
        return float(np.mean([entry["cloud_cover"] for entry in json.loads(bundle.read("report.json"))["frames"]]))
