"""The app's temp folder: private to its user, and pruned of what requests and aborted uploads leave.

Gradio's `delete_cache` removes the uploads and files it served, but not this app's result
folders (the frame slider's files live only in session state), not the part-written file an
aborted upload leaves in the folder's root, and not the emptied per-upload folders. It also
removes only its own process's files: an app that was killed (not shut down) left its uploads
for good. Apps sharing the folder enter themselves in a register (`register_instance`), so a
sweep knows how long the running ones keep files and what they keep for their whole life.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

__all__ = ["UPLOAD_IDLE_SECONDS", "INSTANCES", "kept_for", "private_temp_dir", "register_instance", "live_instances", "prune_temp_dir",
           "start_pruning", "release_heap"]

# An upload whose file has not grown for this long is abandoned: the server closes a request
# body that stalls for 30 s (see `server`), so a live upload always writes more often.
UPLOAD_IDLE_SECONDS = 120.0
INSTANCES = "instances"  # the temp folder's register of running apps: one locked entry each
_REGISTERED: list[IO[str]] = []  # this process's entries, open (so locked) for its whole life


def kept_for(seconds: float) -> str:
    """How long the app keeps uploads and results (--cache-age), in the words its messages use: "1 hour", "90 s"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds:g} s"


def private_temp_dir(folder: Path) -> Path:
    """Create `folder` readable by this user only (0700), or make an existing one so.

    Uploads and results are other people's images: refuse a folder that is a symlink or belongs
    to another user (who could read or swap its files) instead of using it.
    """
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as error:
        raise PermissionError(f"temp folder {folder}: cannot create it ({error.strerror}); set GRADIO_TEMP_DIR to a folder of your own") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"temp folder {folder} is not a plain folder; set GRADIO_TEMP_DIR to a folder of your own")
    if info.st_uid != os.geteuid():
        raise PermissionError(
            f"temp folder {folder} belongs to user id {info.st_uid}, not to you ({os.geteuid()}); "
            "set GRADIO_TEMP_DIR to a folder of your own"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        folder.chmod(0o700)
    return folder


def register_instance(temp_dir: Path, age: float, keep: Iterable[str]) -> Path:
    """Enter this process in `temp_dir`'s register of running apps; returns its entry.

    The entry states the process's cache age and the files it keeps for its whole life (Gradio's
    copies of the examples), and is locked (flock) while the process lives: the lock goes with the
    process however it ends, killed too, and unlike a process id it is never taken over by
    another process. It is locked before it appears under its name, so no sweep takes it for a dead one.
    """
    folder = temp_dir / INSTANCES
    folder.mkdir(mode=0o700, exist_ok=True)
    handle, staging = tempfile.mkstemp(suffix=".tmp", dir=folder)
    entry = os.fdopen(handle, "w")
    fcntl.flock(entry, fcntl.LOCK_EX)
    json.dump({"pid": os.getpid(), "cache_age": age, "keep": sorted(map(os.path.abspath, keep))}, entry)
    entry.flush()
    _REGISTERED.append(entry)
    named = Path(staging).with_suffix(".json")
    os.replace(staging, named)
    return named


def live_instances(temp_dir: Path) -> list[dict]:
    """The register's entries of the apps still running (this one's too); those of apps that
    ended, however they ended, are removed."""
    live = []
    for path in (temp_dir / INSTANCES).glob("*.json"):
        try:
            with open(path) as entry:
                try:
                    fcntl.flock(entry, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:  # its app holds the lock: running
                    live.append(json.load(entry))
                    continue
                path.unlink()
        except (OSError, ValueError):  # removed meanwhile by another app's sweep, or unreadable
            continue
    return live


def prune_temp_dir(temp_dir: Path, results_dir: Path, age: float, upload_idle: float = UPLOAD_IDLE_SECONDS) -> None:
    """Delete result folders and uploads that no running app keeps any more, abandoned uploads and
    empty upload folders.

    Results and uploads go once older than `age` seconds and the cache age of every running app
    sharing the folder (`live_instances`); files an app keeps for its life never do while it runs.
    Files in the temp folder's root are uploads being received (Gradio moves finished ones into a
    sub-folder): one not written to for `upload_idle` seconds (or `age`, if shorter) was cut off.
    """
    now, live = time.time(), live_instances(temp_dir)
    cutoff = now - max([age, *(entry["cache_age"] for entry in live)])
    keep = {path for entry in live for path in entry["keep"]}
    for folder in _entries_older_than(results_dir, cutoff):
        shutil.rmtree(folder, ignore_errors=True)
    uploads = [entry for entry in (temp_dir.iterdir() if temp_dir.is_dir() else ())
               if entry.is_dir() and not entry.is_symlink() and entry not in (results_dir, temp_dir / INSTANCES)]
    for folder in uploads:  # Gradio removes only its own process's files: this reaches those of apps that ended too
        for file in _entries_older_than(folder, cutoff):
            if not file.is_dir() and os.path.abspath(file) not in keep:
                file.unlink(missing_ok=True)
    for entry in _entries_older_than(temp_dir, now - min(age, upload_idle)):
        try:
            if entry.is_file() and not entry.is_symlink():
                entry.unlink()
            elif entry in uploads:
                entry.rmdir()  # only when empty
        except OSError:  # not empty, or removed meanwhile by Gradio's sweep
            continue


def _entries_older_than(folder: Path, cutoff: float) -> list[Path]:
    if not folder.is_dir():
        return []
    old = []
    for entry in folder.iterdir():
        try:
            if entry.lstat().st_mtime < cutoff:
                old.append(entry)
        except FileNotFoundError:  # removed meanwhile by Gradio's own sweep
            continue
    return old


def start_pruning(temp_dir: Path, results_dir: Path, age: float) -> threading.Thread:
    """Prune now and then every min(age, 60) seconds, on a daemon thread, for the life of the process.

    A failed sweep (the folder removed or made unreadable meanwhile) is reported and the next one
    still runs: a thread that dies at its first error would leave the disk to fill.
    """

    def prune_forever() -> None:
        while True:
            try:
                prune_temp_dir(temp_dir, results_dir, age)
            except OSError as error:
                print(f"warning: pruning {temp_dir} failed, retrying in {min(age, 60.0):.0f} s: {error}", file=sys.stderr, flush=True)
            time.sleep(min(age, 60.0))

    thread = threading.Thread(target=prune_forever, name="clear-vision-prune", daemon=True)
    thread.start()
    return thread


_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None


def release_heap() -> None:
    """Hand freed heap back to the system after a run.

    Every request brings another frame size; glibc keeps the freed buffers of each, and a
    long-running server grew by ~500 MB per 40 requests of mixed sizes. malloc_trim keeps it flat.
    """
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)
