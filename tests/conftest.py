"""Shared fixtures: the bundled example sequences and the real web app running in a subprocess."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.server import AppServer
from clear_vision.io.decode import collect_image_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
APP_START_TIMEOUT = 180  # seconds; importing torch and gradio is slow on a busy machine


@pytest.fixture(scope="session")
def start_app() -> Iterator[Callable[..., AppServer]]:
    """Factory: start `python app.py --port N [extra args]` on a free port and wait until it serves.

    Every server gets its own temp dir (`gradio_temp`) and log, and is stopped at the end of the session.
    """
    started: list[AppServer] = []

    def start(*extra_args: str) -> AppServer:
        server = AppServer(startup_timeout=APP_START_TIMEOUT, app_args=extra_args).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def app_url(start_app: Callable[..., AppServer]) -> str:
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
