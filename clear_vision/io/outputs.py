"""Step 5: outputs - cloud-free PNGs, mask PNGs, overlays and report.json, written atomically.

Shared by the CLI and the web app so both write the same files the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import io
import json
import os
import shutil
import signal
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Sequence

import numpy as np
from PIL import Image

from ..detection.masks import NO_DATA
from ..pipeline import CloudRemovalOutput

__all__ = ["output_names", "percent", "cover_text", "planned_files", "previous_outputs", "check_writable", "StagedFolder", "build_report", "overlay_mask", "render_files", "write_outputs", "zip_outputs", "png_bytes"]

REPORT_NAME = "report.json"
ZARR_NAME = "clear_vision.zarr"
NETCDF_NAME = "clear_vision.nc"
# every name this tool writes (frames: <name>_clear.png, <name>_mask.png; cubes: clear_<date>.tif,
# mask_<date>.tif or one store): only these are ever dropped from an output folder
_OWN_NAMES = ("*_clear.png", "*_mask.png", "clear_*.tif", "mask_*.tif", ZARR_NAME, NETCDF_NAME, REPORT_NAME)

OVERLAY_COLOUR = np.array([255, 0, 64], dtype=np.float32)


def output_names(stems: Sequence[str]) -> list[tuple[str, str]]:
    """(cloud-free file, mask file) per frame; refuses two inputs with the same name."""
    seen: set[str] = set()
    for stem in stems:
        if stem in seen:
            raise ValueError(f"two input frames share the name {stem!r}; rename one so outputs do not collide")
        seen.add(stem)
    return [(f"{stem}_clear.png", f"{stem}_mask.png") for stem in stems]


def planned_files(stems: Sequence[str]) -> list[str]:
    """Every file a run over these inputs writes."""
    return [name for pair in output_names(stems) for name in pair] + [REPORT_NAME]


def previous_outputs(out_dir: Path) -> set[str]:
    """The outputs of the run whose report.json is in out_dir, as that report lists them.

    An overwrite drops them along with putting the new ones in place, so the folder never holds
    a mix of two runs (other dates, another format). Only plain names of the kinds this tool
    writes are taken: a report.json from elsewhere cannot drop notes.txt or reach outside out_dir.
    """
    try:
        report = json.loads((out_dir / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, unreadable, not JSON: no run of this tool to replace
        return set()
    if not isinstance(report, dict):
        return set()
    frames = report.get("frames") if isinstance(report.get("frames"), list) else []
    files = report.get("files") if isinstance(report.get("files"), list) else []  # cubes
    listed = files + [entry.get(key) for entry in frames if isinstance(entry, dict) for key in ("clear_image", "mask")]
    return {REPORT_NAME} | {
        name for name in listed
        if isinstance(name, str) and Path(name).name == name and any(fnmatch.fnmatchcase(name, pattern) for pattern in _OWN_NAMES)
    }


def check_writable(out_dir: Path, names: Sequence[str], overwrite: bool) -> Path:
    """Refuse before any work what cannot end well; return the real folder to write.

    Refused: a file or a dangling symlink at out_dir, a folder this user cannot write to (found
    only when its outputs were swapped in, after the work), a mount point (a folder is swapped in
    by renaming it, which a mount point cannot be), and existing outputs without overwrite.
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink() and not out_dir.exists():
        raise FileExistsError(f"{out_dir} is a symlink to {os.readlink(out_dir)}, which does not exist; give a folder")
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder")
    above = next(parent for parent in out_dir.parents if parent.exists())
    if not above.is_dir():
        raise FileExistsError(f"{out_dir}: {above} is a file, not a folder, so no folder can be made inside it; give another path")
    if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
        raise PermissionError(f"{out_dir}: this user cannot write there (permissions, or a read-only or immutable folder); give a folder it can write to")
    if os.path.ismount(out_dir):
        raise FileExistsError(f"{out_dir} is a mount point; outputs are swapped in by renaming their folder, so give a folder inside it")
    existing = [name for name in names if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out_dir} already has {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''}; --overwrite (in Python, overwrite=True) "
            "replaces the earlier run's outputs as a whole (all that its report.json lists), other files stay"
        )
    return out_dir


class StagedFolder:
    """Outputs written into a new folder beside out_dir, then swapped in all at once.

    Created before the work, so a folder that cannot be written fails first. The staging folder
    sits in out_dir's parent, on the same filesystem, so the final step is one rename: a new
    out_dir is renamed into place; an existing one is exchanged with the staging folder in one
    atomic step (Linux renameat2), after the entries it keeps were hard-linked into the staging
    folder: all but the previous run's outputs (`previous_outputs`), which go with the swap.
    Until `commit` nothing at out_dir changes; after it, all new outputs are in place, no old ones.
    Use as a context manager: leaving it without `commit` removes the staging folder.
    """

    def __init__(self, out_dir: str | Path, names: Sequence[str], overwrite: bool = False) -> None:
        self.names = list(names)
        self.out_dir = check_writable(Path(out_dir), self.names, overwrite)
        self.committed = False
        try:
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.partial-", dir=self.out_dir.parent)).absolute()  # as Dask workers elsewhere must find it
            umask = os.umask(0o022)
            os.umask(umask)
            os.chmod(self.path, 0o777 & ~umask)  # an ordinary folder once in place, not mkdtemp's 0700
        except OSError as error:
            raise FileExistsError(
                f"{self.out_dir}: cannot write there ({error.strerror or error}): outputs are written into a staging folder beside it, "
                f"in {self.out_dir.parent}, then swapped in, so that folder must be writable too"
            ) from None

    def __enter__(self) -> "StagedFolder":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> list[Path]:
        """Put every staged output in place in one step; return their final paths."""
        with _signals_deferred():
            if self.out_dir.exists():
                shutil.copymode(self.out_dir, self.path)
                replaced = set(self.names) | previous_outputs(self.out_dir)
                for entry in self.out_dir.iterdir():
                    if entry.name not in replaced and not (self.path / entry.name).exists():
                        _link_tree(entry, self.path / entry.name)
                _exchange(self.path, self.out_dir)
                self.committed = True
                shutil.rmtree(self.path, ignore_errors=True)  # the previous out_dir
            else:
                os.rename(self.path, self.out_dir)
                self.committed = True
        return [self.out_dir / name for name in self.names]


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link a kept file (or folder of files) into the staging folder: no copy, same filesystem."""
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, copy_function=os.link)
    else:
        os.link(source, target, follow_symlinks=False)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(first: Path, second: Path) -> None:
    """Swap two folders atomically; where the filesystem cannot, rename twice and undo on failure."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None and renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return
    code = ctypes.get_errno() if renameat2 is not None else errno.ENOSYS
    if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        raise OSError(code, os.strerror(code), str(second))
    aside = Path(tempfile.mkdtemp(prefix=f".{second.name}.old-", dir=second.parent))
    os.rename(second, aside / "old")
    try:
        os.rename(first, second)
    except OSError:
        os.rename(aside / "old", second)
        raise
    os.rename(aside / "old", first)
    aside.rmdir()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the swap and its clean-up are done (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def build_report(
    result: CloudRemovalOutput, stems: Sequence[str], dates: Sequence[str] | None = None, device: str = "cpu", fill_threshold: float | None = None
) -> dict:
    """What report.json holds: per-frame cloud cover (the share masked, no data included, as
    `cloud_cover` counts it) and no-data share, files, timing, method, the fill threshold `run`
    used (None for `fill`, given masks), warnings."""
    names = output_names(stems)
    return {
        "frames": [
            {
                "input": stem,
                "date": None if dates is None else str(dates[index]),
                "cloud_cover": round(float(result.cloud_cover[index]), 4),
                "no_data": round(float((result.mask_class[index] == NO_DATA).mean()), 4),
                "unfilled_pixels": int(result.unfilled[index].sum()),
                "clear_image": names[index][0],
                "mask": names[index][1],
            }
            for index, stem in enumerate(stems)
        ],
        "seconds": round(result.seconds, 3),
        "method": result.method,
        "fill_threshold": fill_threshold,
        "device": device,
        "warnings": list(result.warnings),
    }


def percent(share: float) -> str:
    """A share in whole percent that says 0 % and 100 % only when it is: a date 99.99 % masked read
    "100%" beside a warning that listed the dates masked whole without it."""
    said = f"{share:.0%}"
    if said == "0%" and share > 0:
        return "<1%"
    return ">99%" if said == "100%" and share < 1 else said


def cover_text(masks: np.ndarray, classes: np.ndarray) -> str:
    """The cloud cover of masks (any shape) among their pixels with data (`classes`, a result's
    `mask_class`, not NO_DATA), in `percent`; "no data" where there are none."""
    with_data = classes != NO_DATA
    return percent(float(masks[with_data].mean())) if with_data.any() else "no data"


def overlay_mask(frame: np.ndarray, mask: np.ndarray, opacity: float = 0.45, colour: Sequence[int] = OVERLAY_COLOUR) -> np.ndarray:
    """Tint the masked pixels of an (H,W,3) uint8 frame so detected clouds stand out."""
    tinted = frame.astype(np.float32)
    tinted[mask] = (1 - opacity) * tinted[mask] + opacity * np.asarray(colour, np.float32)
    return np.round(tinted).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def render_files(result: CloudRemovalOutput, report: dict) -> dict[str, bytes]:
    """Every output file's name and content: PNGs per frame and report.json."""
    files = {}
    for index, entry in enumerate(report["frames"]):
        files[entry["clear_image"]] = png_bytes(result.frames[index])
        files[entry["mask"]] = png_bytes(result.masks[index].astype(np.uint8) * 255)
    files[REPORT_NAME] = json.dumps(report, indent=2).encode()
    return files


def write_outputs(result: CloudRemovalOutput, report: dict, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write all outputs into out_dir, or nothing at all (see `StagedFolder`).

    Existing files are never replaced unless overwrite=True.
    """
    files = render_files(result, report)
    with StagedFolder(out_dir, list(files), overwrite) as staged:
        for name, content in files.items():
            (staged.path / name).write_bytes(content)
        return staged.commit()


def zip_outputs(result: CloudRemovalOutput, report: dict, path: str | Path) -> Path:
    """All outputs (PNGs and report.json) in one zip, for downloads."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in render_files(result, report).items():
            archive.writestr(name, content)
    return path
