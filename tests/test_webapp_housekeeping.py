"""The app's temp folder: private (0700, owned), and pruned of old results, abandoned uploads, empty folders and what killed apps left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clear_vision.webapp.housekeeping import (
    INSTANCES,
    UPLOAD_IDLE_SECONDS,
    live_instances,
    private_temp_dir,
    prune_temp_dir,
    register_instance,
    release_heap,
    start_pruning,
)

ROOT = Path(__file__).resolve().parent.parent
# Another app sharing the temp folder: registered with its cache age and the example copy it keeps, then waiting to be killed.
OTHER_APP = """
import sys, time
from pathlib import Path
from clear_vision.webapp.housekeeping import register_instance
register_instance(Path(sys.argv[1]), float(sys.argv[2]), keep=sys.argv[3:])
print("registered", flush=True)
time.sleep(600)
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_temp_folder_is_private(tmp_path: Path) -> None:
    folder = private_temp_dir(tmp_path / "a" / "clear-vision-app")
    assert folder.is_dir() and mode(folder) == 0o700


def test_existing_open_folder_of_ours_is_closed(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o777)
    folder.chmod(0o755)
    private_temp_dir(folder)
    assert mode(folder) == 0o700


def test_symlinked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(PermissionError, match="is not a plain folder; set GRADIO_TEMP_DIR"):
        private_temp_dir(tmp_path / "link")


def test_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        os.chown(foreign, 65534, 65534)  # nobody
    else:
        foreign = Path("/")
    before = mode(foreign)
    with pytest.raises(PermissionError, match=r"belongs to user id \d+, not to you \(\d+\); set GRADIO_TEMP_DIR to a folder of your own"):
        private_temp_dir(foreign)
    assert mode(foreign) == before  # refused, not touched


def age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


@pytest.fixture
def temp_dir(tmp_path: Path) -> Path:
    """A temp folder as a running app leaves it: results, finished uploads, an upload in progress and aborted ones."""
    root = tmp_path / "gradio"
    (root / "results" / "old").mkdir(parents=True)
    (root / "results" / "new").mkdir()
    age(root / "results" / "old", 100)
    (root / "abc123").mkdir()
    (root / "abc123" / "frame.png").write_bytes(b"png")
    age(root / "abc123", 100)
    (root / "emptied").mkdir()  # Gradio's sweep removed its file
    age(root / "emptied", 100)
    (root / "tmp_live").write_bytes(b"x" * 1000)  # an upload being received right now
    (root / "tmp_cut").write_bytes(b"x" * 1000)  # an upload cut off 100 s ago
    age(root / "tmp_cut", 100)
    (root / "tmp_empty").touch()  # what Gradio's File component leaves for each upload
    age(root / "tmp_empty", 100)
    return root


def test_prune_removes_what_is_old_or_abandoned(temp_dir: Path) -> None:
    prune_temp_dir(temp_dir, temp_dir / "results", age=50, upload_idle=UPLOAD_IDLE_SECONDS)
    left = sorted(str(p.relative_to(temp_dir)) for p in temp_dir.rglob("*"))
    assert left == ["abc123", "abc123/frame.png", "results", "results/new", "tmp_live"]


def test_abandoned_uploads_go_after_upload_idle_even_with_a_long_cache_age(temp_dir: Path) -> None:
    prune_temp_dir(temp_dir, temp_dir / "results", age=3600, upload_idle=60)
    assert not (temp_dir / "tmp_cut").exists() and not (temp_dir / "emptied").exists()
    assert (temp_dir / "tmp_live").exists() and (temp_dir / "results" / "old").exists()


def test_what_a_killed_app_left_goes_and_what_a_running_one_keeps_stays(tmp_path: Path) -> None:
    """Gradio removes only its own process's uploads, so those of an app that was killed (not shut down)
    stayed for good. They go once older than every running app's cache age; while their app runs, its
    uploads (kept for its cache age, here longer than this app's) and example copies (kept for its life) stay."""
    root = tmp_path / "gradio"
    upload, example, result = root / "a1" / "frame.png", root / "e5" / "frame_01.png", root / "results" / "old"
    for path in (upload, example):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"png")
    result.mkdir(parents=True)
    age(upload, 100)
    age(example, 30 * 86400)  # Gradio copies examples keeping the repository's file times
    age(result, 100)
    this_app = register_instance(root, 50, keep=[])
    other = subprocess.Popen([sys.executable, "-c", OTHER_APP, str(root), "3600", str(example)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert other.stdout is not None and other.stdout.readline() == "registered\n"
        prune_temp_dir(root, root / "results", age=50)
        assert upload.exists() and example.exists() and result.exists()  # the other app keeps them
        assert sorted(entry["cache_age"] for entry in live_instances(root)) == [50, 3600]
    finally:
        other.kill()  # as by `kill -9`: nothing of it runs at exit
        other.wait()

    prune_temp_dir(root, root / "results", age=50)

    assert not upload.exists() and not example.exists() and not result.exists()
    assert [entry["pid"] for entry in live_instances(root)] == [os.getpid()] and list((root / INSTANCES).iterdir()) == [this_app]
    age(upload.parent, 100)
    prune_temp_dir(root, root / "results", age=50)
    assert not upload.parent.exists() and example.parent.exists()  # the emptied folder goes once it is old too


def test_prune_of_a_missing_folder_is_quiet(tmp_path: Path) -> None:
    prune_temp_dir(tmp_path / "none", tmp_path / "none" / "results", age=1)


def test_release_heap_runs() -> None:
    release_heap()


def test_pruning_thread_survives_a_missing_folder_and_keeps_pruning(tmp_path: Path) -> None:
    """The sweep runs at once and then every min(age, 60) s; a folder that comes and goes does not stop it."""
    root = tmp_path / "gradio"
    thread = start_pruning(root, root / "results", age=1)
    root.mkdir()
    (root / "tmp_cut").write_bytes(b"x")
    age(root / "tmp_cut", 100)
    deadline = time.monotonic() + 10
    while (root / "tmp_cut").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert thread.is_alive() and not (root / "tmp_cut").exists()
