"""Outputs: report content, overlays, zip, and all-or-nothing writing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from clear_vision.outputs import build_report, output_names, overlay_mask, write_outputs, zip_outputs
from clear_vision.pipeline import CloudRemovalOutput


@pytest.fixture()
def result() -> CloudRemovalOutput:
    frames = np.full((3, 32, 32, 3), 120, np.uint8)
    masks = np.zeros((3, 32, 32), bool)
    masks[1, :16] = True
    return CloudRemovalOutput(frames, masks, masks.astype(np.float32), np.zeros_like(masks), masks.mean(axis=(1, 2)), 0.25, "learned", ("a note",))


def test_report_lists_every_frame(result):
    report = build_report(result, ["a", "b", "c"], ["2021-01-01", "2021-01-06", "2021-01-11"])
    assert [entry["cloud_cover"] for entry in report["frames"]] == [0.0, 0.5, 0.0]
    assert report["frames"][1] | {"input": "b", "clear_image": "b_clear.png", "mask": "b_mask.png"} == report["frames"][1]
    assert report["warnings"] == ["a note"] and report["method"] == "learned"
    with pytest.raises(ValueError, match="share the name 'a'"):
        output_names(["a", "b", "a"])


def test_overlay_tints_only_masked_pixels(result):
    tinted = overlay_mask(result.frames[1], result.masks[1])
    assert np.array_equal(tinted[16:], result.frames[1][16:])
    assert (tinted[:16, :, 0] > 120).all() and (tinted[:16, :, 1] < 120).all()


def test_zip_holds_pngs_and_report(result, tmp_path):
    report = build_report(result, ["a", "b", "c"])
    with zipfile.ZipFile(zip_outputs(result, report, tmp_path / "out.zip")) as archive:
        assert sorted(archive.namelist()) == sorted(["a_clear.png", "a_mask.png", "b_clear.png", "b_mask.png", "c_clear.png", "c_mask.png", "report.json"])
        assert json.loads(archive.read("report.json"))["frames"][0]["input"] == "a"


def test_failure_while_writing_leaves_nothing(result, tmp_path, monkeypatch):
    report = build_report(result, ["a", "b", "c"])
    written = []
    original = Path.write_bytes

    def fail_on_third(self: Path, data: bytes) -> int:
        if len(written) == 2:
            raise OSError("disk full")
        written.append(self)
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(result, report, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither the output folder nor the staging folder remain


def test_existing_files_are_kept_unless_overwrite(result, tmp_path):
    report = build_report(result, ["a", "b", "c"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_clear.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_outputs(result, report, out)
    assert (out / "a_clear.png").read_bytes() == b"mine" and len(list(out.iterdir())) == 1
    write_outputs(result, report, out, overwrite=True)
    assert len(list(out.iterdir())) == 7 and (out / "a_clear.png").read_bytes() != b"mine"
