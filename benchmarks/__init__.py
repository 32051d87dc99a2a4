"""Benchmarks of Clear Vision: speed against a seed-sized reference (`run`), and a soak test of
the web app (`soak`). Shared here: seeded synthetic sequences, machine facts, and the app server.

Synthetic frames keep the benchmark independent of any data set: the networks cost the same on
any content, and the sequences carry white clouds and shadows so that stage 2 always has work.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Sequence

import numpy as np
import psutil
from PIL import Image

__all__ = [
    "PROJECT_ROOT",
    "APP_PATH",
    "synthetic_sequence",
    "write_frames",
    "machine_info",
    "tree_rss_mb",
    "count_files",
    "AppServer",
    "connect",
    "remove_clouds",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_PATH = PROJECT_ROOT / "app.py"
QUIET_GRADIO = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def synthetic_sequence(frames: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded (T,H,W,3) uint8 sequence of one place, clouds on half the frames, and its (T,H,W) masks.

    Ground: fields (blocks) and smooth relief in vegetation colours, a seasonal gain per frame.
    Clouds: white Gaussian blobs with a displaced shadow; the first frame is always clear, so
    every pixel has a clear observation.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    block = 24
    fields = rng.uniform(-25, 25, size=(height // block + 1, width // block + 1, 3)).astype(np.float32)
    ground = np.repeat(np.repeat(fields, block, axis=0), block, axis=1)[:height, :width]
    ground += np.array([70, 95, 60], dtype=np.float32)
    for _ in range(4):
        k_row, k_col = rng.uniform(0.005, 0.05, size=2)
        ground += rng.uniform(5, 15) * np.sin(k_row * rows + k_col * cols + rng.uniform(0, 2 * np.pi))[..., None]

    images = np.empty((frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((frames, height, width), dtype=bool)
    cloudy = set(rng.choice(np.arange(1, frames), size=max(1, frames // 2), replace=False).tolist()) if frames > 1 else set()
    for index in range(frames):
        image = ground * rng.uniform(0.85, 1.15) + rng.normal(0, 2, size=ground.shape).astype(np.float32)
        if index in cloudy:
            cloud = _blobs(rng, rows, cols)
            shift = int(0.08 * min(height, width))
            shadow = np.roll(cloud, (shift, shift), axis=(0, 1)) * (cloud < 0.2)
            image = image * (1 - 0.5 * shadow[..., None])
            image = image * (1 - cloud[..., None]) + 235.0 * cloud[..., None]
            masks[index] = (cloud > 0.2) | (shadow > 0.2)
        images[index] = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return images, masks


def _blobs(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cloud opacity in [0,1]: a few Gaussian blobs, saturated in their cores."""
    height, width = rows.shape
    opacity = np.zeros_like(rows)
    for _ in range(int(rng.integers(2, 6))):
        radius = rng.uniform(0.06, 0.2) * min(height, width)
        centre_row, centre_col = rng.uniform(0, height), rng.uniform(0, width)
        opacity += np.exp(-((rows - centre_row) ** 2 + (cols - centre_col) ** 2) / (2 * radius**2))
    return np.clip(1.5 * opacity, 0, 1)


def write_frames(images: np.ndarray, folder: Path, stem: str = "frame", suffix: str = ".png") -> list[Path]:
    """Write frames as numbered image files (as a user would upload them); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images, start=1):
        path = folder / f"{stem}_{index:02d}{suffix}"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge the numbers: CPU, cores, libraries, threads, and how busy it was."""
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, in MB."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def count_files(folder: Path) -> tuple[int, int]:
    """(number of files, total bytes) under folder; files may vanish while we walk."""
    count = size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                size += os.stat(os.path.join(root, name)).st_size
                count += 1
            except FileNotFoundError:
                pass
    return count, size


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    """`python app.py --host 127.0.0.1 --port <free>` in a child process, stopped on exit.

    The app gets a temporary folder of its own as GRADIO_TEMP_DIR (uploads and outputs) and as
    TMPDIR (anything else it writes through `tempfile`), so its files can be counted, and removed
    afterwards.
    """

    def __init__(self, app_path: Path = APP_PATH, startup_timeout: float = 300.0, app_args: Sequence[str] = ()) -> None:
        if not app_path.is_file():
            raise FileNotFoundError(f"{app_path} not found")
        self.app_path, self.startup_timeout, self.app_args = app_path, startup_timeout, list(app_args)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "AppServer":
        self.root = Path(tempfile.mkdtemp(prefix="clear-vision-app-"))
        self.gradio_temp, self.tmpdir = self.root / "gradio", self.root / "tmp"
        self.gradio_temp.mkdir()
        self.tmpdir.mkdir()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, **QUIET_GRADIO, "GRADIO_TEMP_DIR": str(self.gradio_temp), "TMPDIR": str(self.tmpdir)}
        self.log_path = self.root / "app.log"
        with open(self.log_path, "wb") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                [sys.executable, str(self.app_path), "--host", "127.0.0.1", "--port", str(self.port), *self.app_args],
                cwd=self.app_path.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with code {self.process.returncode} while starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"app.py did not answer on {self.url} within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def rss_mb(self) -> float:
        return tree_rss_mb(self.process.pid)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def connect(url: str, download_dir: Path) -> Any:
    """A gradio_client Client for the app; output files are downloaded into download_dir."""
    os.environ.update(QUIET_GRADIO)  # before gradio_client pulls in huggingface_hub
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(download_dir), analytics_enabled=False)


def remove_clouds(client: Any, paths: list[Path]) -> Any:
    """One call of the app's API: the frame files in, the app's outputs back."""
    from gradio_client import handle_file

    return client.predict([handle_file(str(path)) for path in paths], api_name="/remove_clouds")
