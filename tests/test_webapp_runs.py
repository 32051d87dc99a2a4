"""One request end to end with the real model: refused before any work, or summary and files."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import rasterio
from geo_data import write_geotiffs
from PIL import Image
from test_geo_uploads import write_band_files

from benchmarks.synthetic import synthetic_sequence, write_frames
from clear_vision import ClearVision
from clear_vision.webapp.runs import ModelRunner, process
from clear_vision.webapp.uploads import sort_uploads


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

    assert "4 frames of 48x64 px (rows x columns" in summary and "dates as typed" in summary
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
    assert "fill threshold 0.4" in summary and "fill threshold 0." not in default_summary and covered[0] < covered[1]  # named when not the default
    reports = [json.loads(zipfile.ZipFile(run.archive).read("report.json")) for run in (files, default_files)]
    assert [(report["fill_threshold"], report["dates_source"]) for report in reports] == [(0.4, "dates read from file names"), (0.2, "dates read from file names")]
    assert runner.with_fill_threshold(None) is runner.model and runner.with_fill_threshold(0.4).detector is runner.model.detector
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"fill threshold: .* is not a probability in \(0, 1\]"):
            process(runner, paths, "", "", tmp_path / "results", no_progress, fill_threshold=bad)


def json_cover(archive: str) -> float:
    """The mean cloud cover that a run's report.json states."""
    with zipfile.ZipFile(archive) as bundle:
        return float(np.mean([entry["cloud_cover"] for entry in json.loads(bundle.read("report.json"))["frames"]]))


def as_uploaded(paths: list[Path], folder: Path) -> list[str]:
    """The files as the app's upload component stores them: in a folder named after their content,
    so files of identical bytes (all-no-data dates) share one."""
    stored = []
    for path in paths:
        where = folder / hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        where.mkdir(parents=True, exist_ok=True)
        stored.append(str(shutil.copy(path, where / path.name)))
    return stored


def geotiff_names(archive: str) -> tuple[list[str], list[str | None], list[str]]:
    """A run's zip: the GeoTIFFs, report.json's frame dates and geotiff/report.json's dates."""
    with zipfile.ZipFile(archive) as bundle:
        frames = json.loads(bundle.read("report.json"))["frames"]
        geotiffs = json.loads(bundle.read("geotiff/report.json"))["dates"]
        return sorted(name for name in bundle.namelist() if name.endswith(".tif")), [entry["date"] for entry in frames], geotiffs


def test_band_files_run_with_the_order_list_their_upload_filled(runner: ModelRunner, tmp_path: Path) -> None:
    """The order list once held the band file names, which the run then refused."""
    files, order, _ = sort_uploads(as_uploaded(write_band_files(tmp_path / "bands", steps=3), tmp_path / "uploads"))
    assert order.splitlines() == ["20190616_S30_T35TLK", "20190621_S30_T35TLK", "20190626_S30_T35TLK"]
    summary, run_files, _ = process(runner, files, "", order, tmp_path / "results", no_progress)
    assert "3 frames of 100x100 px" in summary and "dates read from file names" in summary
    assert [caption for _, caption in run_files.clears] == ["1. 20190616_S30_T35TLK", "2. 20190621_S30_T35TLK", "3. 20190626_S30_T35TLK"]
    tifs, dates, geotiff_dates = geotiff_names(run_files.archive)
    assert dates == geotiff_dates == ["2019-06-16", "2019-06-21", "2019-06-26"] and len(tifs) == 6


def test_band_files_of_identical_bytes_in_one_upload_folder_run_as_their_dates(runner: ModelRunner, tmp_path: Path) -> None:
    """Two all-no-data dates (identical files, so one upload folder) once broke the grouping by date."""
    files = as_uploaded(write_band_files(tmp_path / "bands", empty_dates=(1, 3), steps=5), tmp_path / "uploads")
    assert len({Path(path).parent for path in files}) == 13  # 12 files of 3 dates, one folder for the 8 empty ones
    summary, run_files, _ = process(runner, files, "", "", tmp_path / "results", no_progress)
    assert "5 frames" in summary
    assert geotiff_names(run_files.archive)[2] == ["2019-06-16", "2019-06-21", "2019-06-26", "2019-07-01", "2019-07-06"]


def test_a_blank_order_list_reads_no_geotiff_more_often_than_a_filled_one(runner: ModelRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the API's blank order list, a request read each date's stated date twice: to put the frames in time order, then to date the run."""
    files, order, _ = sort_uploads(as_uploaded(write_geotiffs(tmp_path / "multi", hole=False)[:3], tmp_path / "uploads"))
    opened: Counter[str] = Counter()
    real_open = rasterio.open

    def counting_open(path: object, *args: object, **kwargs: object) -> object:
        opened[Path(str(path)).name] += 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting_open)
    per_file = []
    for listed in ("", order):
        opened.clear()
        process(runner, files, "", listed, tmp_path / "results", no_progress)
        per_file.append({Path(file).name: opened[Path(file).name] for file in files})
    assert per_file[0] == per_file[1], f"opens per file, blank order list: {per_file[0]}; filled: {per_file[1]}"


def test_geotiff_outputs_follow_the_chosen_frames_order_and_dates(runner: ModelRunner, tmp_path: Path) -> None:
    """A frame left out of the order list once stayed in geotiff/ (and filled the others); typed dates changed only the PNGs."""
    files, order, _ = sort_uploads(as_uploaded(write_geotiffs(tmp_path / "multi", hole=False)[:5], tmp_path / "uploads"))
    names = order.splitlines()
    chosen = [names[3], names[0], names[2]]
    typed = "2022-01-01, 2022-01-11, 2022-01-21"
    summary, run_files, notes = process(runner, files, typed, "\n".join(chosen), tmp_path / "results", no_progress)
    tifs, dates, geotiff_dates = geotiff_names(run_files.archive)
    assert dates == geotiff_dates == ["2022-01-01", "2022-01-11", "2022-01-21"]
    differ = "dates: 3 of the dates given differ from the files' own (2019-07-01 (S2_20190701.tif) given as 2022-01-01"  # said on the page, not only in the server log
    assert notes[0].startswith(differ) and f"- Warning: {differ}" in summary
    assert tifs == [f"geotiff/{kind}_{day}.tif" for kind in ("clear", "mask") for day in dates]
    assert [caption.split(" ", 1)[1] for _, caption in run_files.clears] == chosen
    left_out = [names[0], names[2], names[4]]
    assert geotiff_names(process(runner, files, "", "\n".join(left_out), tmp_path / "results", no_progress)[1].archive)[2] == [
        "2019-06-16", "2019-06-26", "2019-07-06"]
    with pytest.raises(ValueError, match=r"frame order: the dates read from file names are not in time order: S2_20190626.tif"):
        process(runner, files, "", "\n".join(chosen[1:][::-1]), tmp_path / "results", no_progress)
