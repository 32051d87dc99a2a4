"""Outputs: report content, overlays, zip, and all-or-nothing writing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from clear_vision.io.outputs import StagedFolder, build_report, cover_text, output_names, overlay_mask, percent, previous_outputs, write_outputs, zip_outputs
from clear_vision.pipeline import CloudRemovalOutput


@pytest.fixture()
def result() -> CloudRemovalOutput:
    frames = np.full((3, 32, 32, 3), 120, np.uint8)
    masks = np.zeros((3, 32, 32), bool)
    masks[1, :16] = True
    return CloudRemovalOutput(
        frames=frames, masks=masks, probability=masks.astype(np.float32), mask_class=masks.astype(np.uint8), unfilled=np.zeros_like(masks),
        cloud_cover=masks.mean(axis=(1, 2)), seconds=0.25, method="learned", warnings=("a note",),
    )


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


def test_overwrite_keeps_other_files_and_leaves_no_staging(result, tmp_path):
    report = build_report(result, ["a", "b", "c"])
    out = tmp_path / "out"
    write_outputs(result, report, out)
    (out / "notes.txt").write_text("mine")
    (out / "old").mkdir()
    (out / "old" / "run.json").write_text("{}")
    (out / "report.json").write_text("old report")
    write_outputs(result, report, out, overwrite=True)
    assert json.loads((out / "report.json").read_text())["frames"] and (out / "notes.txt").read_text() == "mine"
    assert (out / "old" / "run.json").read_text() == "{}" and sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_overwrite_drops_the_previous_runs_outputs_and_keeps_other_files(result, tmp_path):
    out = tmp_path / "out"
    write_outputs(result, build_report(result, ["a", "b", "c"]), out)
    (out / "holiday_mask.png").write_bytes(b"mine")  # named like an output, but no run wrote it
    write_outputs(result, build_report(result, ["b", "c", "d"]), out, overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == ["b_clear.png", "b_mask.png", "c_clear.png", "c_mask.png", "d_clear.png", "d_mask.png", "holiday_mask.png", "report.json"]
    assert (out / "holiday_mask.png").read_bytes() == b"mine"


def test_previous_outputs_are_what_the_report_lists_and_only_names_this_tool_writes(tmp_path):
    listed = {"files": ["notes.txt", "../clear_2019-06-11.tif", "clear_2019-06-16.tif", "mask_2019-06-16.tif", "clear_vision.nc", 3],
              "frames": [{"clear_image": "a_clear.png", "mask": "sub/a_mask.png"}, "b"]}
    (tmp_path / "report.json").write_text(json.dumps(listed))
    assert previous_outputs(tmp_path) == {"report.json", "clear_2019-06-16.tif", "mask_2019-06-16.tif", "clear_vision.nc", "a_clear.png"}
    for foreign in ("not json", "[1, 2]", json.dumps({"files": "clear_vision.nc"})):
        (tmp_path / "report.json").write_text(foreign)
        assert previous_outputs(tmp_path) <= {"report.json"}
    assert previous_outputs(tmp_path / "missing") == set()


@pytest.mark.parametrize(
    "make_out, message",
    [
        (lambda tmp: (tmp / "link").symlink_to(tmp / "gone") or tmp / "link", "is a symlink to .*gone, which does not exist"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "exists and is not a folder"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "out", r"file is a file, not a folder, so no folder can be made inside it"),
        (lambda tmp: Path("/proc/clear-vision-out"), "cannot write there"),
    ],
)
def test_output_locations_that_cannot_work_are_refused_before_any_work(tmp_path, make_out, message):
    with pytest.raises(FileExistsError, match=message):
        StagedFolder(make_out(tmp_path), ["report.json"])


@pytest.mark.skipif(not os.path.ismount("/dev/shm"), reason="/dev/shm is not a mount point here")
def test_a_mount_point_is_refused_and_a_folder_inside_another_filesystem_works(tmp_path):
    with pytest.raises(FileExistsError, match="is a mount point"):
        StagedFolder("/dev/shm", ["report.json"])
    out = Path("/dev/shm") / f"clear-vision-test-{os.getpid()}" / "out"  # tmpfs: another filesystem than tmp_path
    try:
        with StagedFolder(out, ["report.json"]) as staged:
            (staged.path / "report.json").write_text("{}")
            staged.commit()
        assert (out / "report.json").read_text() == "{}" and os.listdir(out.parent) == ["out"]
    finally:
        import shutil

        shutil.rmtree(out.parent, ignore_errors=True)


_REWRITE_FOREVER = """
import sys
from pathlib import Path
from clear_vision.io.outputs import StagedFolder
names = [f"part_{index}.txt" for index in range(30)] + ["report.json"]
generation = 0
while True:
    generation += 1
    with StagedFolder(Path(sys.argv[1]), names, overwrite=True) as staged:
        for name in names:
            (staged.path / name).write_text(str(generation))
        staged.commit()
    print(generation, flush=True)
"""


@pytest.mark.slow
def test_overwrite_killed_at_any_moment_leaves_old_or_new_never_a_mix(tmp_path):
    """SIGKILL a process that keeps replacing 31 outputs: the folder always holds one generation, whole."""
    out = tmp_path / "out"
    for delay in (0.0, 0.013, 0.029):
        process = subprocess.Popen([sys.executable, "-c", _REWRITE_FOREVER, str(out)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
        for _ in range(20):  # let it replace the folder a few times, then kill it mid-flight
            process.stdout.readline()
        time.sleep(delay)
        process.kill()
        process.wait()
        contents = {path.name: path.read_text() for path in out.iterdir()}
        assert len(contents) == 31 and len(set(contents.values())) == 1, set(contents.values())


def test_cover_says_0_and_100_percent_only_when_it_is_among_the_pixels_with_data():
    """A date 99.99 % masked read "100%" beside a warning that did not list it as masked whole;
    a date without data read 99 % cloudy in the app."""
    assert [percent(share) for share in (0, 0.001, 0.005, 0.006, 0.5, 0.994, 0.9999, 1)] == ["0%", "<1%", "<1%", "1%", "50%", "99%", ">99%", "100%"]
    classes = np.array([[0, 1, 255, 255]], np.uint8)
    assert cover_text(classes == 1, classes) == "50%" and cover_text(classes == 1, np.full_like(classes, 255)) == "no data"
