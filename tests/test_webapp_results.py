"""A run's files: gallery images and the zip, each PNG encoded once and the same in both places."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clear_vision import ClearVision, CloudRemovalOutput
from clear_vision.io.outputs import build_report, overlay_mask, planned_files
from clear_vision.webapp.results import ARCHIVE_NAME, markdown_text, write_run


@pytest.fixture(scope="module")
def run() -> tuple[CloudRemovalOutput, np.ndarray]:
    """A 3-frame result of the library (stage 2 on given masks), the second frame the cloudiest."""
    images = np.random.default_rng(0).integers(1, 256, (3, 40, 48, 3), dtype=np.uint8)
    masks = np.zeros((3, 40, 48), bool)
    masks[1, :20] = masks[2, :5] = True
    return ClearVision.load(device="cpu", method="linear").fill(images, masks), images


def test_files_hold_the_run(run: tuple[CloudRemovalOutput, np.ndarray], tmp_path: Path) -> None:
    result, images = run
    stems = ["frame_1_2021-05-10", "frame_2_2021-05-15", "frame_10_2021-05-20"]
    report = build_report(result, stems, ["2021-05-10", "2021-05-15", "2021-05-20"])

    files = write_run(result, images, [f"{stem}.jpg" for stem in stems], report, tmp_path / "request")

    assert files.shown == 1
    assert [caption for _, caption in files.clears] == [f"{i + 1}. {stem}.jpg" for i, stem in enumerate(stems)]
    assert files.overlays[1][1] == "2. 2021-05-15 · 50%"  # short enough not to be cut
    undated = write_run(result, images, [f"{stem}.jpg" for stem in stems], build_report(result, stems), tmp_path / "undated")
    assert undated.overlays[1][1] == f"2. {stems[1]}.jpg · 50%"
    for index in range(3):
        assert np.array_equal(np.asarray(Image.open(files.clears[index][0])), result.frames[index])
        assert np.array_equal(np.asarray(Image.open(files.before[index])), images[index])
        assert np.array_equal(np.asarray(Image.open(files.overlays[index][0])), overlay_mask(images[index], result.masks[index]))
    assert Path(files.archive) == tmp_path / "request" / ARCHIVE_NAME
    with zipfile.ZipFile(files.archive) as archive:
        assert sorted(archive.namelist()) == sorted(planned_files(stems))  # what the command line writes
        assert json.loads(archive.read("report.json")) == report
        assert archive.read(f"{stems[0]}_clear.png") == Path(files.clears[0][0]).read_bytes()  # encoded once
        mask = np.asarray(Image.open(io.BytesIO(archive.read(f"{stems[1]}_mask.png"))))
    assert np.array_equal(mask > 0, result.masks[1]) and mask.dtype == np.uint8


def test_captions_give_the_cover_among_the_pixels_with_data(tmp_path: Path) -> None:
    """A date without data read "99%" (its no data counted as cloud), beside HLS dates whose clouds are already cut out."""
    images = np.random.default_rng(1).integers(1, 256, (3, 40, 48, 3), dtype=np.uint8)
    images[2] = 0  # no data all over
    images[1, :20] = 0  # half no data, the rest clear
    result = ClearVision.load(device="cpu", method="linear").fill(images, np.zeros((3, 40, 48), bool))
    files = write_run(result, images, ["a.png", "b.png", "c.png"], build_report(result, ["a", "b", "c"]), tmp_path / "request")
    assert [caption for _, caption in files.overlays] == ["1. a.png · 0%", "2. b.png · 0%", "3. c.png · no data"]


def test_each_request_gets_a_new_folder(run: tuple[CloudRemovalOutput, np.ndarray], tmp_path: Path) -> None:
    result, images = run
    report = build_report(result, ["a", "b", "c"])
    write_run(result, images, ["a.png", "b.png", "c.png"], report, tmp_path / "one")
    with pytest.raises(FileExistsError):
        write_run(result, images, ["a.png", "b.png", "c.png"], report, tmp_path / "one")


def test_pairs_for_the_frame_slider_are_clamped(run: tuple[CloudRemovalOutput, np.ndarray], tmp_path: Path) -> None:
    result, images = run
    files = write_run(result, images, ["a.png", "b.png", "c.png"], build_report(result, ["a", "b", "c"]), tmp_path / "r")
    assert files.pair(1) == (files.before[1], files.clears[1][0])
    assert files.pair(-3) == files.pair(0) and files.pair(99) == files.pair(2)
    assert [files.nearest(index) for index in (-3, 1, 99)] == [0, 1, 2]


def test_file_names_in_messages_stay_as_written_in_markdown() -> None:
    """`a_*b*.png` would show as "a_b.png" with b in italics, and [x](y) as a link."""
    assert markdown_text("a_*b*.png and [x](y) <b> #1 | `c` ~d~ \\") == r"a\_\*b\*.png and \[x\](y) \<b\> \#1 \| \`c\` \~d\~ \\"

