"""The command line: outputs and report, refusal to overwrite, clean errors, nothing half-written."""

from __future__ import annotations

import contextlib
import errno
import re
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from clear_vision import cli
from clear_vision.cli import main
from clear_vision.io.outputs import percent
from geo_data import safe_product, synthetic_cube, write_geotiffs

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
    printed = capsys.readouterr()  # the outcome on stdout, for a pipe or a log; progress and notes on stderr
    assert printed.out.startswith("cloud cover: frame_1 ") and "wrote 7 files to" in printed.out and "cloud cover" not in printed.err


def test_version_is_the_package_s(capsys):
    import clear_vision

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"clear-vision {clear_vision.__version__}"


def test_library_warnings_are_one_line(frame_dir, tmp_path, capsys):
    (frame_dir / "frame_1.png").rename(frame_dir / "frame_2019-06-11.png")  # one name with a date, two without
    assert main(["remove", str(frame_dir), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning: dates: no date (YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD) in the name of frame_2.png, frame_10.png;" in err
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_precision_float32_gives_the_same_masks_and_a_bad_precision_is_refused(frame_dir, tmp_path, capsys):
    example = ROOT / "examples" / "romania_2020_spring"  # real frames: noise would sit at the fill threshold
    assert main(["remove", str(example), "--out", str(tmp_path / "auto")]) == 0
    assert main(["remove", str(example), "--out", str(tmp_path / "exact"), "--precision", "float32"]) == 0
    for name in json.loads((tmp_path / "auto" / "report.json").read_text())["frames"]:
        auto, exact = (np.asarray(Image.open(tmp_path / folder / name["mask"])) for folder in ("auto", "exact"))
        assert np.mean(auto == exact) > 0.99  # cloud or shadow class included
    with pytest.raises(SystemExit) as refused:
        main(["remove", str(frame_dir), "--out", str(tmp_path / "bad"), "--precision", "half"])
    assert refused.value.code == 2 and "invalid choice: 'half'" in capsys.readouterr().err


def test_fill_threshold_sets_how_much_is_replaced_and_a_bad_one_is_refused(frame_dir, tmp_path, capsys):
    covers = {}
    for threshold in ("0.05", "0.99"):
        assert main(["remove", str(frame_dir), "--out", str(tmp_path / threshold), "--fill-threshold", threshold]) == 0
        report = json.loads((tmp_path / threshold / "report.json").read_text())
        covers[threshold] = [entry["cloud_cover"] for entry in report["frames"]]
        assert report["fill_threshold"] == float(threshold)  # the report says how to run it again
    assert all(low >= high for low, high in zip(covers["0.05"], covers["0.99"])) and covers["0.05"] != covers["0.99"]
    for bad in ("0", "1.5", "often"):
        with pytest.raises(SystemExit) as refused:
            main(["remove", str(frame_dir), "--out", str(tmp_path / "bad"), "--fill-threshold", bad])
        assert refused.value.code == 2 and "--fill-threshold" in capsys.readouterr().err


def test_existing_outputs_are_not_overwritten(frame_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out)]) == 0
    (out / "report.json").write_text("keep me")
    assert main(["remove", str(frame_dir), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "report.json").read_text() == "keep me"
    assert main(["remove", str(frame_dir), "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "report.json").read_text())["frames"]


def test_picture_cover_counts_no_data_apart_as_for_cubes(frame_dir, tmp_path, capsys):
    frame = np.asarray(Image.open(frame_dir / "frame_10.png")).copy()
    frame[:32] = 0  # pure black: no data, half the frame
    Image.fromarray(frame).save(frame_dir / "frame_10.png")
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out)]) == 0
    cover = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cloud cover:"))
    entry = json.loads((out / "report.json").read_text())["frames"][2]
    assert entry["no_data"] == 0.5 and entry["cloud_cover"] >= 0.5  # the report's masked share includes the no data
    assert f"frame_10 {percent((entry['cloud_cover'] - 0.5) / 0.5)} (50% no data)" in cover



@contextlib.contextmanager
def _unwritable(folder: Path):
    """The folder made unwritable for this user: read-only, or immutable for root (who writes anyway)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("as root a folder is unwritable only when immutable, and chattr +i is not allowed here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_existing_folder_this_user_cannot_write_is_refused_before_the_work(frame_dir, tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir()
    with _unwritable(out):
        assert main(["remove", str(frame_dir), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert f"error: {out}: this user cannot write there" in printed.err
    assert "cloud cover" not in printed.out + printed.err and not list(out.iterdir())  # refused first: no work, nothing written


def test_a_writable_out_in_a_folder_this_user_cannot_write_names_the_staging_folder(frame_dir, tmp_path, capsys):
    parent = tmp_path / "locked"
    (parent / "out").mkdir(parents=True)
    with _unwritable(parent):
        assert main(["remove", str(frame_dir), "--out", str(parent / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"cannot write there \((Permission denied|Operation not permitted)\): outputs are written into a staging folder beside it, in {parent}, then swapped in", err)


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
    err = capsys.readouterr().err
    assert message in err and "loading model" not in err and not out.exists()  # refused before the model's seconds of loading


def test_pictures_it_cannot_take_are_refused_before_the_model_loads(frame_dir, tmp_path, capsys):
    """Frames of two sizes, or a damaged file: said at once from the headers, naming the frames."""
    Image.new("RGB", (40, 48)).save(frame_dir / "frame_9.png")
    assert main(["remove", str(frame_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "share one size, got 64x64 (frame_1.png, frame_2.png, frame_10.png), 48x40 (frame_9.png)" in err and "loading model" not in err, err
    (frame_dir / "frame_9.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert main(["remove", str(frame_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "(frame_9.png): not a readable" in err and "loading model" not in err, err
    Image.new("RGB", (31, 31)).save(frame_dir / "frame_9.png")
    assert main(["remove", str(frame_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "(frame_9.png): size 31x31 is too small; frames must be at least 32x32" in err and "loading model" not in err, err


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


def test_a_cube_it_cannot_take_is_refused_before_the_model_loads(tmp_path, capsys):
    """One date, or digital numbers without a scale: said at once, not after the model's seconds of loading."""
    write_geotiffs(tmp_path / "undated_scale", state_scale=False)
    one = tmp_path / "one"
    one.mkdir()
    first = sorted(write_geotiffs(tmp_path / "all"))[0]
    shutil.copy(first, one / first.name)
    for folder, message in ((tmp_path / "undated_scale", "no scale_factor"), (one, "cube: 1 date;")):
        assert main(["remove", str(folder), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and "loading model" not in err and "1 dates" not in err, err


# ---- output locations (checked before the work) and write failures: one line, exit 2 -------


@pytest.mark.parametrize(
    "make_out, message",
    [
        (lambda tmp: (tmp / "link").symlink_to(tmp / "gone") or tmp / "link", "which does not exist"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "out", "file is a file, not a folder, so no folder can be made inside it"),
        (lambda tmp: Path("/proc/clear-vision-out"), "cannot write there"),
    ],
)
def test_unusable_output_location_fails_before_the_work(frame_dir, tmp_path, capsys, make_out, message):
    assert main(["remove", str(frame_dir), "--out", str(make_out(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and "loading model" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not os.path.ismount("/dev/shm"), reason="/dev/shm is not a mount point here")
def test_mount_point_refused_and_another_filesystem_written(frame_dir, tmp_path, capsys):
    assert main(["remove", str(frame_dir), "--out", "/dev/shm"]) == 2
    assert "mount point" in capsys.readouterr().err
    out = Path("/dev/shm") / f"clear-vision-cli-{os.getpid()}" / "out"
    try:
        assert main(["remove", str(frame_dir), "--out", str(out), "--method", "linear"]) == 0
        assert (out / "report.json").is_file() and os.listdir(out.parent) == ["out"]
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def test_disk_full_while_writing_is_one_line_and_leaves_nothing(frame_dir, tmp_path, capsys, monkeypatch):
    def no_space(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", no_space)
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out), "--method", "linear"]) == 2
    err = capsys.readouterr().err
    assert "error: No space left on device" in err and "Traceback" not in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames"]


def test_a_write_error_from_gdal_is_said_in_gdal_s_own_words(tmp_path, capsys, monkeypatch):
    def disk_full(args, stack):
        raise rasterio.errors.RasterioIOError("Write failed. See previous exception for details.") from RuntimeError("_tiffWriteProc: No space left on device.")

    monkeypatch.setattr(cli, "remove_cube", disk_full)
    write_geotiffs(tmp_path / "dn")
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: _tiffWriteProc: No space left on device; nothing was written to {tmp_path / 'out'}"


def test_overwrite_replaces_all_outputs_at_once_and_keeps_other_files(frame_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["remove", str(frame_dir), "--out", str(out), "--method", "linear"]) == 0
    (out / "report.json").write_text("old")
    (out / "mine.txt").write_text("keep")
    assert main(["remove", str(frame_dir), "--out", str(out), "--method", "linear", "--overwrite"]) == 0
    assert json.loads((out / "report.json").read_text())["frames"] and (out / "mine.txt").read_text() == "keep"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames", "out"]
    assert main(["remove", str(frame_dir / "frame_1.png"), str(frame_dir / "frame_2.png"), "--out", str(out), "--method", "linear", "--overwrite"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["frame_1_clear.png", "frame_1_mask.png", "frame_2_clear.png", "frame_2_mask.png", "mine.txt", "report.json"]


def test_an_output_folder_that_is_an_input_folder_or_inside_a_cubes_is_refused(frame_dir, tmp_path, capsys):
    """Outputs there would be read as inputs by every later run on that folder (a cube's folders with their subfolders)."""
    inputs = sorted(path.name for path in write_geotiffs(tmp_path / "in" / "ymd"))
    (tmp_path / "link").symlink_to(tmp_path / "in")
    for out, where in (("in/ymd", "is the input folder"), ("in/ymd/sub", "is inside the input folder"), ("link/ymd/sub", "is inside the input folder")):
        assert main(["remove", str(tmp_path / "in" / "ymd"), "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert f"{where} {tmp_path / 'in' / 'ymd'}, read with its subfolders;" in err and "give a folder outside the inputs" in err and len(err.strip().splitlines()) == 1
    assert main(["remove", str(tmp_path / "link" / "ymd"), "--out", str(tmp_path / "in" / "ymd")]) == 2
    assert "is the input folder" in capsys.readouterr().err and sorted(path.name for path in (tmp_path / "in" / "ymd").iterdir()) == inputs
    assert main(["remove", str(frame_dir), "--out", str(frame_dir)]) == 2
    assert f"is the input folder {frame_dir};" in capsys.readouterr().err and not list(frame_dir.glob("*_clear.png"))
    for _ in range(2):  # frames folders are read without their subfolders: a later run does not see the outputs
        assert main(["remove", str(frame_dir), "--out", str(frame_dir / "sub"), "--method", "linear", "--overwrite"]) == 0
    assert [entry["input"] for entry in json.loads((frame_dir / "sub" / "report.json").read_text())["frames"]] == ["frame_1", "frame_2", "frame_10"]


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; timeout, SLURM, docker stop
def test_ctrl_c_or_sigterm_during_the_work_writes_nothing_and_says_so(tmp_path, stop):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(8):  # big enough that the work takes seconds
        Image.fromarray(np.random.default_rng(index).integers(0, 255, (768, 768, 3), np.uint8)).save(frames / f"f{index}.png")
    out = tmp_path / "out"
    process = subprocess.Popen(  # SIGINT handled as in a terminal even if the test runner ignores it (a background job)
        [sys.executable, "-m", "clear_vision", "remove", str(frames), "--out", str(out)], stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stderr:  # the model is loaded, the work begins
        if line.startswith("processing"):
            break
    process.send_signal(stop)
    code, err = process.wait(timeout=120), process.stderr.read()
    assert "interrupted: nothing was written" in err and "Traceback" not in err, err
    assert code in (128 + stop, -stop)  # 130 / 143 as a shell reports them; -2 when started from a runner that ignores SIGINT
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames"]


def test_ctrl_c_while_torch_is_still_loading_is_one_line_too(tmp_path):
    """The first seconds of a command are torch's import: a Ctrl-C there printed its traceback."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(2):
        Image.fromarray(np.full((64, 64, 3), 60 * index, np.uint8)).save(frames / f"f{index}.png")
    process = subprocess.Popen(
        [sys.executable, "-m", "clear_vision", "remove", str(frames), "--out", str(tmp_path / "out")], stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(0.5)  # Python is up, torch is not
    process.send_signal(signal.SIGINT)
    code, err = process.wait(timeout=60), process.stderr.read()
    # 130, or once under a loaded full suite ended by the signal itself, which a shell reports as 130 too
    assert code in (130, -signal.SIGINT) and err.strip() == "interrupted: nothing was written", (code, err)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames"]


@pytest.mark.slow
def test_ctrl_c_on_local_workers_is_one_line_and_a_finished_run_ends_quietly(tmp_path):
    """distributed logs every cancelled gather and task, and kills a worker slow to exit, loudly."""
    synthetic_cube(8, 512, 512).to_dataset().to_zarr(tmp_path / "cube.zarr")  # 16 chunks of seconds each, on 2 workers
    command = [sys.executable, "-m", "clear_vision", "remove", "--chunk", "128", "--workers", "2"]
    finished = subprocess.run([*command, str(tmp_path / "cube.zarr"), "--out", str(tmp_path / "done")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert finished.returncode == 0 and "wrote 17 outputs" in finished.stdout, finished.stderr
    assert "WARNING" not in finished.stderr and "Traceback" not in finished.stderr, finished.stderr
    # Interrupted on a cube 4x larger (64 chunks): on 16 an idle machine once finished within the 2 s wait below.
    synthetic_cube(8, 1024, 1024).to_dataset().to_zarr(tmp_path / "large.zarr")
    process = subprocess.Popen(
        [*command, str(tmp_path / "large.zarr"), "--out", str(tmp_path / "out")], stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stderr:  # the cluster runs and the graph goes out
        if line.startswith("processing"):
            break
    time.sleep(2)  # the first chunks are computing
    process.send_signal(signal.SIGINT)
    code, err = process.wait(timeout=120), process.stderr.read()
    assert code in (130, -2) and "interrupted: nothing was written" in err
    assert not any(noise in err for noise in ("Traceback", "WARNING", "never retrieved")), err
    assert not (tmp_path / "out").exists()


def test_ctrl_c_while_local_workers_start_is_one_line_too(tmp_path):
    """Interrupted while its workers started, the command printed distributed's exit hook failing
    on the half-started cluster (AssertionError: Status.init) and the workers' failed starts."""
    synthetic_cube(4, 128, 128).to_dataset().to_zarr(tmp_path / "cube.zarr")
    process = subprocess.Popen(
        [sys.executable, "-m", "clear_vision", "remove", "--workers", "2", str(tmp_path / "cube.zarr"), "--out", str(tmp_path / "out")],
        stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in process.stderr:  # the cube is read: the cluster starts next, for seconds (each worker imports torch)
        if line.startswith("cube:"):
            break
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    code, err = process.wait(timeout=120), process.stderr.read()
    assert code in (130, -2) and "interrupted: nothing was written" in err, err
    assert not any(noise in err for noise in ("Traceback", "Exception ignored", "never retrieved")), err


# ---- georeferenced cubes -------------------------------------------------------------------


def test_geotiffs_give_georeferenced_outputs_in_their_own_units(tmp_path, capsys):
    write_geotiffs(tmp_path / "dn")
    out = tmp_path / "out"
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--chunk", "64"]) == 0
    printed = capsys.readouterr()
    err = printed.err
    assert "cube: 8 dates x 4 bands (B04, B03, B02, B08) x 100x100 px, uint16" in err and "cloud cover: 2019-06-16" in printed.out
    assert "processing in one chunk (the last 100 px: a remainder under 64 px joins the chunk before it)" in err  # 64 + 36 px
    with rasterio.open(out / "clear_2019-06-21.tif") as clear, rasterio.open(tmp_path / "dn" / "S2_20190621.tif") as source:
        assert clear.crs == source.crs and clear.transform == source.transform and clear.dtypes == source.dtypes
        assert clear.nodata == 0 and clear.descriptions == source.descriptions
        with rasterio.open(out / "mask_2019-06-21.tif") as mask:
            outside = mask.read(1) == 0
            assert np.array_equal(clear.read()[:, outside], source.read()[:, outside])
    assert json.loads((out / "report.json").read_text())["dtype"] == "uint16"


def test_overwrite_replaces_the_previous_cube_outputs_as_a_whole(tmp_path):
    """Fewer dates, then another format: nothing of the earlier runs stays beside the new outputs."""
    write_geotiffs(tmp_path / "dn")  # 2019-06-16 .. 2019-07-31
    out = tmp_path / "out"
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--method", "linear"]) == 0
    (out / "mine.txt").write_text("keep")
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--method", "linear", "--start", "2019-06-21", "--overwrite"]) == 0
    dates = json.loads((out / "report.json").read_text())["dates"]
    assert len(dates) == 7 and sorted(path.name for path in out.glob("*.tif")) == sorted(f"{kind}_{date}.tif" for date in dates for kind in ("clear", "mask"))
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--method", "linear", "--format", "netcdf", "--overwrite"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["clear_vision.nc", "mine.txt", "report.json"]


def test_zipped_sentinel2_products_as_downloaded(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for day in ("20220615", "20220620", "20220625"):
        safe_product(tmp_path / "safe", day, rng)
        product = next((tmp_path / "safe").glob(f"*_{day}T*.SAFE"))
        shutil.make_archive(str(tmp_path / "downloads" / product.name), "zip", tmp_path / "safe", product.name)
    out = tmp_path / "out"
    assert main(["remove", *sorted(map(str, (tmp_path / "downloads").glob("*.zip"))), "--out", str(out)]) == 0
    assert "cube: 3 dates x 7 bands (B01, B02, B03, B04, B05, B08, B11) x 36x36 px, uint16" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["dates"] == ["2022-06-15", "2022-06-20", "2022-06-25"] and (report["scale_factor"], report["add_offset"]) == (1e-4, -0.1)


def test_start_and_end_select_the_dates_of_a_cube(frame_dir, tmp_path, capsys):
    write_geotiffs(tmp_path / "dn")  # 2019-06-16 .. 2019-07-31
    out = tmp_path / "out"
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--start", "2019-06-20", "--end", "2019-07-11"]) == 0
    assert json.loads((out / "report.json").read_text())["dates"] == ["2019-06-21", "2019-06-26", "2019-07-01", "2019-07-06", "2019-07-11"]
    capsys.readouterr()
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "none"), "--start", "2020-01-01"]) == 2
    assert capsys.readouterr().err.strip().endswith("the cube has no date from 2020-01-01; its dates run from 2019-06-16 to 2019-07-31")
    assert main(["remove", str(frame_dir), "--out", str(tmp_path / "none"), "--end", "2019-07-01"]) == 2
    err = capsys.readouterr().err
    assert "--end: options of georeferenced cubes" in err and err.strip().endswith("(to use only some frames, pass those files)")
    with pytest.raises(SystemExit):
        main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "none"), "--start", "June"])
    assert "'June' is not a date; give YYYY-MM-DD" in capsys.readouterr().err
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "none"), "--start", "2019-07-11", "--end", "2019-06-20"]) == 2
    assert "--start 2019-07-11 is after --end 2019-06-20" in capsys.readouterr().err
    for option, message in ((["--chunk", "abc"], "argument --chunk: 'abc' is not a whole number"), (["--device", "gpu"], "'gpu' is not a device; give cpu or cuda, or leave --device out")):
        with pytest.raises(SystemExit):
            main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "none"), *option])
        assert message in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dn", "frames", "out"]


def test_a_date_without_any_observation_is_reported_as_no_data(tmp_path, capsys):
    paths = write_geotiffs(tmp_path / "dn")
    with rasterio.open(paths[4], "r+") as target:  # 2019-07-06: nodata (0) everywhere
        target.write(np.zeros((4, 100, 100), np.uint16))
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "2019-07-06 no data," in printed.out and report["no_data"][4] == 1.0
    # the date with a hole (1.6 % no data): its cover among the pixels with data, then its no data
    hole = (report["cloud_cover"][3] - report["no_data"][3]) / (1 - report["no_data"][3])
    assert f"2019-07-01 {percent(hole)} (2% no data)," in printed.out and report["no_data"][3] == 0.016
    assert "2019-07-06" not in report["warnings"][0] and f"warning: {report['warnings'][0]}" in printed.err  # dates masked whole, not the empty one


def test_two_acquisitions_on_one_day_are_told_apart_as_their_files_are(tmp_path, capsys):
    """HLS gives Landsat and Sentinel-2 on the same day: the cover line names them as the files do, not as one date twice."""
    paths = write_geotiffs(tmp_path / "dn")
    shutil.copy(paths[0], paths[0].with_name("S2B_20190616.tif"))
    paths[0].rename(paths[0].with_name("S2A_20190616.tif"))
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out")]) == 0
    cover = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cloud cover:"))
    assert cover.startswith("cloud cover: 2019-06-16 ") and ", 2019-06-16_2 " in cover, cover
    assert (tmp_path / "out" / "clear_2019-06-16_2.tif").is_file()


def test_a_folder_with_any_geotiff_of_reflectance_is_a_cube_and_its_pictures_are_named_as_not_read(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    picture = np.full((40, 40, 3), 90, np.uint8)
    Image.fromarray(picture).save(folder / "a_2019-06-01.png")
    Image.fromarray(picture).save(folder / "b_2019-06-06.jpg")
    Image.fromarray(picture).save(folder / "a_2019-06-06.tif")  # an 8-bit picture TIFF, sorted before the GeoTIFFs
    write_geotiffs(folder)
    assert cli._is_cube([str(folder)])
    err = capsys.readouterr().err
    assert "read as a cube of its GeoTIFFs; its 2 PNG/JPEG picture(s) (a_2019-06-01.png, b_2019-06-06.jpg) are not read" in err
    assert not cli._is_cube([str(folder / "a_2019-06-01.png"), str(folder / "a_2019-06-06.tif")])


def test_bands_without_colour_names_are_taken_in_order_and_the_command_says_so(tmp_path, capsys):
    for path in write_geotiffs(tmp_path / "dn"):
        with rasterio.open(path, "r+") as target:
            target.descriptions = ("",) * 4
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "4 bands (band_1, band_2, band_3, band_4)" in err
    assert "rgb: the bands are not named all three as red/green/blue or as B04/B03/B02; taking the first three (band_1, band_2, band_3) as red, green, blue (--rgb to choose)" in err


def test_too_few_bands_and_bad_chunks_get_the_library_s_one_line(tmp_path, capsys):
    write_geotiffs(tmp_path / "dn")
    two_bands = tmp_path / "two"
    two_bands.mkdir()
    for path in sorted((tmp_path / "dn").glob("*.tif"))[:3]:
        with rasterio.open(path) as source:
            profile = {**source.profile, "count": 2}
            with rasterio.open(two_bands / path.name, "w", **profile) as target:
                target.write(source.read([1, 2]))
                target.descriptions, target.scales = ("B04", "B03"), (1e-4, 1e-4)
    assert main(["remove", str(two_bands), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "taking the first three" not in err and "error: cube: 2 band(s) (B04, B03); the networks need red, green and blue" in err
    for chunk in ("0", "33", "5000"):
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--chunk", chunk]) == 2
        err = capsys.readouterr().err
        assert f"error: --chunk: {chunk} is not a chunk size; give a whole number of pixels in [64, " in err and "or leave it out (512)" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dn", "two"]


def test_digital_numbers_without_a_scale_are_refused_in_one_line(tmp_path, capsys):
    write_geotiffs(tmp_path / "dn", state_scale=False)
    out = tmp_path / "out"
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cube: uint16 values with no scale_factor") and "--scale" in err[-1]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dn"]
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--scale", "0.0001", "--format", "zarr"]) == 0
    assert (out / "clear_vision.zarr").is_dir()
    assert main(["remove", str(tmp_path / "dn"), "--out", str(out), "--scale", "0.0001", "--format", "netcdf", "--overwrite"]) == 0
    assert (out / "clear_vision.nc").is_file() and json.loads((out / "report.json").read_text())["format"] == "netcdf"


def test_a_nodata_value_given_is_what_the_outputs_declare(tmp_path):
    write_geotiffs(tmp_path / "dn")
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--nodata", "65535"]) == 0
    with rasterio.open(sorted((tmp_path / "out").glob("clear_*.tif"))[0]) as written:
        assert written.nodata == 65535


def test_digital_numbers_read_as_reflectance_are_refused_before_the_model_loads(tmp_path, capsys):
    write_geotiffs(tmp_path / "dn", state_scale=False)
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--offset", "-0.1", "--chunk", "64"]) == 2  # no scale stated or given: DN read as reflectance
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: cube: values reach") and "--nodata" in err and "loading model" not in err


def test_an_error_while_the_chunks_run_is_a_line_of_its_own(tmp_path, capsys, monkeypatch):
    """It followed the progress bar on its line, and the bar was drawn again after it."""
    from clear_vision import ClearVision

    def failing_chunk(self, *args, **kwargs):
        raise ValueError("a chunk could not be processed")

    write_geotiffs(tmp_path / "dn")
    monkeypatch.setattr(ClearVision, "process_chunk", failing_chunk)
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--chunk", "64"]) == 2
    lines = capsys.readouterr().err.splitlines()  # splits at the bar's carriage returns too
    assert lines[-1] == "error: a chunk could not be processed" and any("chunks:" in line for line in lines), lines[-3:]
    assert not (tmp_path / "out").exists()


def test_cube_options_on_pictures_are_refused_not_ignored(frame_dir, tmp_path, capsys):
    command = ["remove", str(frame_dir), "--out", str(tmp_path / "out")]
    assert main([*command, "--format", "zarr", "--scale", "0.0001", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --scale, --format, --workers: options of georeferenced cubes") and err.endswith("written as PNG: leave them out")
    assert not (tmp_path / "out").exists()


def test_a_netcdf_or_zarr_cube_is_given_alone(frame_dir, tmp_path, capsys):
    write_geotiffs(tmp_path / "dn")
    assert main(["remove", str(tmp_path / "dn"), str(tmp_path / "cube.nc"), "--out", str(tmp_path / "out")]) == 2
    assert "cube.nc: a netCDF file or zarr store is a whole cube: give it alone (got 2 inputs)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_running_scheduler_gives_the_outputs_of_this_process(tmp_path, capsys):
    import distributed

    from clear_vision.geo.cluster import local_cluster

    write_geotiffs(tmp_path / "dn")
    assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "here"), "--chunk", "64"]) == 0
    with local_cluster(2) as cluster, distributed.Client(cluster):
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "there"), "--chunk", "64", "--scheduler", cluster.scheduler_address]) == 0
    assert "dask: 2 workers at tcp://" in capsys.readouterr().err
    for name in ("clear_2019-06-21.tif", "mask_2019-07-01.tif"):
        with rasterio.open(tmp_path / "here" / name) as here, rasterio.open(tmp_path / "there" / name) as there:
            assert np.array_equal(here.read(), there.read())


def _scheduler_by_hand(folder: Path, environment: dict[str, str], workers: int = 1) -> tuple[list[subprocess.Popen], str]:
    """`dask scheduler` and `dask worker` processes started as a user starts them: (processes, address)."""
    dask = Path(sys.executable).with_name("dask")
    started = [subprocess.Popen([str(dask), "scheduler", "--port", "0", "--scheduler-file", str(folder / "scheduler.json"), "--no-dashboard"],
                                cwd=folder, env=environment, stderr=subprocess.DEVNULL)]
    for _ in range(300):
        if (folder / "scheduler.json").exists():
            break
        time.sleep(0.1)
    address = json.loads((folder / "scheduler.json").read_text())["address"]
    started += [subprocess.Popen([str(dask), "worker", address, "--nthreads", "1", "--no-nanny"], cwd=folder, env=environment, stderr=subprocess.DEVNULL)
                for _ in range(workers)]
    return started, address


@pytest.mark.slow
def test_a_scheduler_lost_mid_run_is_one_line_and_nothing_is_written(tmp_path):
    """As a user meets it: the command in its own process, a scheduler started by hand and killed."""
    synthetic_cube(8, 1024, 1024).to_dataset().to_zarr(tmp_path / "cube.zarr")  # 64 chunks of a second or more each, on 1 worker
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    started, address = _scheduler_by_hand(tmp_path, environment)
    command = [sys.executable, "-m", "clear_vision", "remove", str(tmp_path / "cube.zarr"), "--out", str(tmp_path / "out"), "--chunk", "128", "--scheduler", address]
    try:
        run = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err = []
        while not any(line.startswith("processing in chunks") for line in err) and run.poll() is None:
            err.append(run.stderr.readline().rstrip("\n"))
        time.sleep(5)  # the worker has the model and chunks are running
        started[0].kill()
        err += run.communicate(timeout=300)[1].splitlines()
    finally:
        for process in started:
            process.kill()
            process.wait(timeout=30)
    assert run.returncode == 2 and err[-1].startswith("error: dask: the cluster stopped or failed during the run ("), err[-3:]
    assert err[-1].endswith(f"nothing was written to {tmp_path / 'out'}") and not (tmp_path / "out").exists()
    assert not any("Traceback" in line for line in err), err  # distributed logged its traceback chain first (about 40 lines)


def test_workers_that_trim_memory_after_every_array_get_a_note(capsys):
    """distributed's own nanny sets MALLOC_TRIM_THRESHOLD_; the project's local cluster does not."""
    import distributed

    from clear_vision.geo.cluster import local_cluster

    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        cli._note_trimming_workers(client)
    assert "MALLOC_TRIM_THRESHOLD_" not in capsys.readouterr().err
    previous = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    try:
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
            cli._note_trimming_workers(client)
        assert "note: 1 worker(s) have MALLOC_TRIM_THRESHOLD_=65536 (set by dask's nanny)" in capsys.readouterr().err
        assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"  # distributed's nanny left it in this process
        with local_cluster(1) as cluster, distributed.Client(cluster) as client:
            cli._note_trimming_workers(client)  # whose workers must not inherit it
        assert "MALLOC_TRIM_THRESHOLD_" not in capsys.readouterr().err and os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"
    finally:
        if previous is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = previous


def test_workers_that_cannot_write_the_output_folder_are_named(tmp_path):
    """A worker on another machine, without --out's filesystem, wrote its chunks into its own (a zarr came out empty)."""
    import distributed

    from clear_vision.geo.cluster import local_cluster

    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        cli._check_workers_see(client, tmp_path, "tcp://here")  # seen and writable: nothing to say
        with pytest.raises(ValueError, match=r"--scheduler: 1 worker\(s\) at tcp://here cannot write to .*; --out must be on a filesystem every worker sees"):
            cli._check_workers_see(client, tmp_path / "not-on-this-machine", "tcp://here")


def test_unreachable_scheduler_is_one_line_saying_why(tmp_path, capsys):
    write_geotiffs(tmp_path / "dn")
    started = time.monotonic()
    for address, why in (
        ("tcp://127.0.0.1:9", "Connection refused on port 9"),  # at once, not after the timeout
        ("127.0.0.1:9", "Connection refused on port 9"),  # no scheme: tcp, as distributed takes it
        ("tcp://127.0.0.1:99999", "Port out of range"),
        ("tls://127.0.0.1:9", "the command line connects over tcp:// only, not tls://; for TLS, connect from Python"),
    ):
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--scheduler", address]) == 2
        err = capsys.readouterr().err
        assert f"--scheduler: cannot reach {address} ({why}" in err and "Traceback" not in err, err
    assert time.monotonic() - started < cli.SCHEDULER_TIMEOUT_S
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dn"]


def test_a_server_of_another_protocol_is_not_taken_for_a_scheduler(tmp_path, capsys):
    """A web server's HTTP 400 made distributed's reader ask for 3 EiB: a MemoryError traceback."""
    write_geotiffs(tmp_path / "dn")
    with socket.create_server(("127.0.0.1", 0)) as server:

        def answer() -> None:
            with contextlib.suppress(OSError):  # the server closed at the end of the test
                while True:
                    connection, _ = server.accept()
                    with connection:
                        connection.recv(100)
                        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--scheduler", address]) == 2
    assert f"--scheduler: cannot reach {address} (something answers on port {address.rsplit(':', 1)[1]}, but not as a Dask scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_a_file_that_fails_to_read_on_a_worker_is_one_line(tmp_path):
    """distributed hands a worker's RasterioIOError on as a bare Exception: it was a traceback, after the worker's own report."""
    cube = synthetic_cube(4, 512, 512)
    (tmp_path / "dates").mkdir()
    for index, date in enumerate(cube["time"].dt.strftime("%Y-%m-%d").values):
        cube[index].assign_attrs(long_name=("B04", "B03", "B02", "B08")).rio.to_raster(tmp_path / "dates" / f"S2_{date}.tif", tiled=True, blockxsize=128, blockysize=128)
    damaged = tmp_path / "dates" / "S2_2021-06-06.tif"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size * 6 // 10])  # its first tiles read, the last not
    run = subprocess.run(
        [sys.executable, "-m", "clear_vision", "remove", str(tmp_path / "dates"), "--out", str(tmp_path / "out"), "--workers", "2", "--chunk", "128"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert run.returncode == 2 and run.stderr.splitlines()[-1].startswith("error: dask: a chunk failed on a worker (RasterioIOError("), run.stderr
    assert not any(noise in run.stderr for noise in ("Traceback", "Compute Failed", "WARNING")), run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_scheduler_without_workers_is_refused_not_waited_for(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT_S", 2)
    started, address = _scheduler_by_hand(tmp_path, {**os.environ, "PYTHONPATH": str(ROOT)}, workers=0)
    try:
        write_geotiffs(tmp_path / "dn")
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--scheduler", address]) == 2
        assert f"--scheduler: the scheduler at {address} has no workers (none joined within 2 s); start some (dask worker {address})" in capsys.readouterr().err
        assert not (tmp_path / "out").exists()
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=30)


def test_a_port_that_is_not_a_scheduler_is_one_line_not_a_hang(tmp_path, capsys, monkeypatch):
    """Something listens there (a dashboard, a web server) but never speaks Dask."""
    write_geotiffs(tmp_path / "dn")
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT_S", 1)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--scheduler", address]) == 2
    assert time.monotonic() - started < 30
    assert f"--scheduler: cannot reach {address} (TimeoutError: no scheduler answered within 1 s)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_cluster_that_cannot_import_clear_vision_is_one_line_not_a_hang(tmp_path, capsys):
    """A scheduler and worker started by hand outside the repository, without PYTHONPATH."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if subprocess.run([sys.executable, "-c", "import clear_vision"], cwd=tmp_path, env=environment).returncode == 0:
        pytest.skip("clear_vision is installed in this environment: every cluster can import it")
    started, address = _scheduler_by_hand(tmp_path, environment)
    try:
        write_geotiffs(tmp_path / "dn")
        assert main(["remove", str(tmp_path / "dn"), "--out", str(tmp_path / "out"), "--scheduler", address]) == 2
        assert f"--scheduler: the scheduler at {address} cannot import clear_vision" in capsys.readouterr().err
        assert not (tmp_path / "out").exists()
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.slow
def test_workers_give_the_same_files_as_one_process(tmp_path):
    write_geotiffs(tmp_path / "dn")
    runs = {}
    for name, extra in (("one", []), ("two", ["--workers", "2"])):
        command = [sys.executable, "-m", "clear_vision", "remove", str(tmp_path / "dn"), "--out", str(tmp_path / name), "--chunk", "64", *extra]
        completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert completed.returncode == 0, completed.stderr[-2000:]
        runs[name] = {path.name: rasterio.open(path).read() for path in sorted((tmp_path / name).glob("*.tif"))}
    assert runs["one"].keys() == runs["two"].keys() and len(runs["one"]) == 16
    assert all(np.array_equal(runs["one"][name], runs["two"][name]) for name in runs["one"])


def test_a_16bit_rgb_tiff_of_digital_numbers_needs_its_scale_and_is_then_read_as_reflectance(tmp_path, capsys):
    """Not georeferenced, no band names, DN 200..3000: refused without --scale, then red, green, blue are its three bands."""
    folder = tmp_path / "tiffs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for day in ("2021-05-01", "2021-05-06", "2021-05-11"):
        with rasterio.open(folder / f"frame_{day}.tif", "w", driver="GTiff", width=64, height=64, count=3, dtype="uint16") as target:
            target.write(rng.integers(200, 3000, (3, 64, 64)).astype(np.uint16))
    out = tmp_path / "out"
    assert main(["remove", str(folder), "--out", str(out), "--method", "linear"]) == 2
    assert "uint16 values with no scale_factor" in capsys.readouterr().err
    assert main(["remove", str(folder), "--out", str(out), "--method", "linear", "--scale", "0.0001"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["bands"] == ["band_1", "band_2", "band_3"] and report["dtype"] == "uint16" and report["dates"][1] == "2021-05-06"


def test_the_chunk_help_states_the_range_check_chunk_takes(capsys):
    from clear_vision.geo.remove import check_chunk

    with pytest.raises(SystemExit):
        main(["remove", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    low, high = re.search(r"--chunk CHUNK spatial chunk size in pixels, (\d+) to (\d+)", help_text).groups()
    assert check_chunk(int(low)) == int(low) and check_chunk(int(high)) == int(high)
    for outside in (int(low) - 1, int(high) + 1):
        with pytest.raises(ValueError, match="is not a chunk size"):
            check_chunk(outside)
