"""The command line: outputs and report, refusal to overwrite, clean errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clear_vision.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def frame_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(40, 120, (64, 64, 3))
    for index in (1, 2, 10):  # natural order: 1, 2, 10
        frame = np.clip(base + index, 0, 255).astype(np.uint8)
        if index == 2:
            frame[10:40, 10:50] = 255  # a white cloud-like block
        Image.fromarray(frame).save(folder / f"frame_{index}.png")
    (folder / "notes.txt").write_text("a stray file in the folder is skipped")
    return folder


def test_remove_writes_frames_masks_and_report(frame_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out), "--dates", "2021-05-01,2021-05-06,2021-05-16", "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [entry["input"] for entry in report["frames"]] == ["frame_1", "frame_2", "frame_10"]
    assert report["frames"][1]["date"] == "2021-05-06" and report["seconds"] > 0
    for entry in report["frames"]:
        assert Image.open(out / entry["clear_image"]).size == (64, 64)
        assert Image.open(out / entry["mask"]).mode == "L"
    assert not list(tmp_path.glob(".out.partial-*"))
    assert "cloud cover" in capsys.readouterr().err


def test_existing_outputs_are_not_overwritten(frame_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out)]) == 0
    (out / "report.json").write_text("keep me")
    assert main(["remove", str(frame_dir), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "report.json").read_text() == "keep me"
    assert main(["remove", str(frame_dir), "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "report.json").read_text())["frames"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dates", "2021-05-01,2021-05-02"], "got 2 dates for 3 frames"),
        (["--dates", "2021-05-09,2021-05-02,2021-05-03"], "time order"),
    ],
)
def test_bad_dates_write_nothing(frame_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_bad_input_exits_cleanly_without_traceback(frame_dir, tmp_path):
    bad = frame_dir / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "clear_vision", "remove", str(frame_dir), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert completed.returncode == 2
    assert "broken.png" in completed.stderr and "not a readable" in completed.stderr
    assert "Traceback" not in completed.stderr and not out.exists()


def test_single_frame_is_refused(frame_dir, tmp_path, capsys):
    assert main(["remove", str(frame_dir / "frame_1.png"), "--out", str(tmp_path / "out")]) == 2
    assert "needs 2 to" in capsys.readouterr().err
