"""The web app in a child process for benchmarks and tests, and the API call they make.

`AppServer` starts `python app.py` on a free port with temp folders of its own; `connect` and
`remove_clouds` are the gradio_client side, as an API user would write it.
"""

from __future__ import annotations

import os
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

from clear_vision.webapp import QUIET_GRADIO

from .machine import tree_rss_mb

__all__ = ["PROJECT_ROOT", "APP_PATH", "AppServer", "connect", "remove_clouds"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_PATH = PROJECT_ROOT / "app.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    """`python app.py --host 127.0.0.1 --port <free>` in a child process, stopped on exit.

    `app_path` may name another version of the app (e.g. `git show REV:app.py > /tmp/app_rev.py`);
    it runs from the project root against the current library.

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
        env = {**os.environ, **QUIET_GRADIO, "GRADIO_TEMP_DIR": str(self.gradio_temp), "TMPDIR": str(self.tmpdir),
               "PYTHONPATH": str(PROJECT_ROOT)}  # an app file kept elsewhere (an older version, for comparison) finds clear_vision
        self.log_path = self.root / "app.log"
        with open(self.log_path, "wb") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                [sys.executable, str(self.app_path), "--host", "127.0.0.1", "--port", str(self.port), *self.app_args],
                cwd=PROJECT_ROOT,
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
