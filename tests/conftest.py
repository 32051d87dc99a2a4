"""Shared fixtures: the bundled example sequences and the real web app running in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clear_vision.decode import collect_image_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
APP_START_TIMEOUT = 180  # seconds; importing torch and gradio is slow while training runs beside the tests


@dataclass
class RunningApp:
    """An `app.py` server started for the tests; `temp_dir` is its private GRADIO_TEMP_DIR."""

    url: str
    process: subprocess.Popen
    temp_dir: Path
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(app: RunningApp) -> None:
    deadline = time.monotonic() + APP_START_TIMEOUT
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(f"app.py exited with code {app.process.returncode}:\n{app.log.read_text()}")
        try:
            with urllib.request.urlopen(app.url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"app.py did not answer at {app.url} within {APP_START_TIMEOUT} s:\n{app.log.read_text()}")


@pytest.fixture(scope="session")
def start_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningApp]]:
    """Factory: start `python app.py --port N [extra args]` on a free port and wait until it serves.

    Every server gets its own temp dir and log, and is stopped at the end of the session.
    """
    started: list[RunningApp] = []

    def start(*extra_args: str) -> RunningApp:
        folder = tmp_path_factory.mktemp("app")
        port = free_port()
        log = folder / "app.log"
        env = {**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio")}
        with open(log, "w") as output:
            process = subprocess.Popen(
                [sys.executable, "app.py", "--port", str(port), *extra_args],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        app = RunningApp(f"http://127.0.0.1:{port}/", process, folder / "gradio", log)
        started.append(app)
        _wait_until_serving(app)
        return app

    yield start
    for app in started:
        app.process.terminate()
    for app in started:
        try:
            app.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait()


@pytest.fixture(scope="session")
def app_url(start_app: Callable[..., RunningApp]) -> str:
    """URL of one app server with default settings, shared by the whole session."""
    return start_app().url


@pytest.fixture(scope="session")
def example_sequences() -> dict[str, list[Path]]:
    """Folder name -> frame paths in natural order, for every bundled example sequence."""
    folders = sorted(path for path in EXAMPLES.iterdir() if path.is_dir()) if EXAMPLES.is_dir() else []
    sequences = {folder.name: collect_image_paths([folder]) for folder in folders}
    if len(sequences) < 3:
        pytest.fail(f"expected at least 3 example sequences in {EXAMPLES}; run `python -m preprocess examples`")
    return sequences
