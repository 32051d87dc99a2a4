"""The web app through its API (gradio_client), against a real `python app.py` server and real weights.

Checks what a caller gets back (the summary and a zip of every output, in order), that bad input
gives a clear AppError before any work, that concurrent callers each get their own result, that
repeated requests, aborted uploads and slow clients leave the server's temp dir, memory and
connections bounded, and that the app's files and options are checked at start.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from benchmarks.server import APP_PATH, AppServer
from clear_vision import ClearVision
from clear_vision.io.decode import load_frames
from clear_vision.webapp import QUIET_GRADIO

API = "/remove_clouds"


@pytest.fixture(scope="module")
def model() -> ClearVision:
    """The library on the CPU, as the reference for what the app must return."""
    return ClearVision.load(device="cpu")


@pytest.fixture
def client(app_url: str, tmp_path: Path) -> Client:
    return Client(app_url, verbose=False, download_files=str(tmp_path))


def remove_clouds(client: Client, paths: list[Path], **options: str) -> tuple[str, str]:
    """(summary, zip path) for these files."""
    return client.predict([handle_file(str(path)) for path in paths], api_name=API, **options)


def read_archive(archive: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """report.json, the cloud-free frames and the masks of a results zip, in the report's order."""
    with zipfile.ZipFile(archive) as bundle:
        report = json.loads(bundle.read("report.json"))
        frames = [np.asarray(Image.open(io.BytesIO(bundle.read(entry["clear_image"])))) for entry in report["frames"]]
        masks = [np.asarray(Image.open(io.BytesIO(bundle.read(entry["mask"])))) > 0 for entry in report["frames"]]
    return report, np.stack(frames), np.stack(masks)


def dates_in_names(paths: list[Path]) -> list[str]:
    """Example frames are named frame_NN_YYYY-MM-DD.png."""
    return [path.stem.rsplit("_", 1)[-1] for path in paths]


def assert_same_frames(returned: np.ndarray, expected: np.ndarray) -> None:
    """The app's frames are the library's, up to rare threshold flips from thread-count float noise."""
    assert [frame.shape for frame in returned] == [frame.shape for frame in expected]
    differs = np.abs(np.stack(returned).astype(int) - expected.astype(int)) > 2
    assert differs.mean() < 0.01, f"{differs.mean():.2%} of values differ from the library's output"


def write_frames(frames: np.ndarray, names: list[str], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    paths = [folder / name for name in names]
    for frame, path in zip(frames, paths):
        Image.fromarray(np.ascontiguousarray(frame)).save(path)
    return paths


def test_example_sequence_comes_back_complete_in_natural_order(
    client: Client, example_sequences: dict[str, list[Path]], model: ClearVision
) -> None:
    paths = example_sequences["romania_2018_summer"]
    shuffled = random.Random(0).sample(paths, len(paths))
    assert shuffled != paths

    summary, archive = remove_clouds(client, shuffled)

    stems, dates = [p.stem for p in paths], dates_in_names(paths)
    assert "Done in" in summary and f"{len(paths)} frames of 100x100 px" in summary and "dates read from file names" in summary
    expected = model.run(paths, dates=dates)
    report, frames, masks = read_archive(archive)
    with zipfile.ZipFile(archive) as bundle:
        assert set(bundle.namelist()) == {f"{s}_clear.png" for s in stems} | {f"{s}_mask.png" for s in stems} | {"report.json"}
    assert [entry["input"] for entry in report["frames"]] == stems
    assert [entry["date"] for entry in report["frames"]] == dates
    assert_same_frames(frames, expected.frames)
    assert (masks == expected.masks).mean() > 0.99


def test_order_list_chooses_and_orders_frames(client: Client, example_sequences: dict[str, list[Path]]) -> None:
    paths = example_sequences["romania_2019_summer"]
    chosen = [paths[i].name for i in (0, 2, 4, 6, 8)]
    shuffled = random.Random(1).sample(paths, len(paths))

    _, archive = remove_clouds(client, shuffled, order="\n".join(chosen))

    assert [entry["input"] for entry in read_archive(archive)[0]["frames"]] == [Path(name).stem for name in chosen]
    with pytest.raises(AppError, match="frame order: the dates read from file names are not in time order: frame_09_2019-08-05.png"):
        remove_clouds(client, paths, order="\n".join(reversed(chosen)))


def test_the_fill_threshold_keeps_more_clear_ground_and_is_checked(client: Client, example_sequences: dict[str, list[Path]], model: ClearVision) -> None:
    paths = example_sequences["romania_2019_summer"]
    summary, archive = remove_clouds(client, paths, fill_threshold=0.4)
    masks, default_masks = read_archive(archive)[2], read_archive(remove_clouds(client, paths)[1])[2]
    keeping = copy.copy(model)
    keeping.config = model.config.replace(fill_threshold=0.4)
    assert "fill threshold 0.4" in summary and masks.sum() < default_masks.sum()
    assert (masks == keeping.run(paths, dates=dates_in_names(paths)).masks).mean() > 0.99
    with pytest.raises(AppError):
        remove_clouds(client, paths, fill_threshold=1.5)


def test_out_of_range_fill_thresholds_are_named_without_a_traceback(client: Client, app_url: str, example_sequences: dict[str, list[Path]]) -> None:
    """Gradio's own check answered fill_threshold=2 with "Value 2 is greater than maximum value 0.95." and a
    traceback in the server log, and None with an unreadable error; None is the default, as in the handler."""
    paths = example_sequences["romania_2018_summer"][:3]
    with no_traceback_logged(app_url):
        for value, message in (
            (2, "Fill threshold: 2 is outside its range, 0.05 to 0.95 (default 0.2, calibrated on places the detector never saw)"),
            ("abc", "Fill threshold: 'abc' is not a number; its range is 0.05 to 0.95 (default 0.2, calibrated on places the detector never saw)"),
        ):
            with pytest.raises(AppError) as error:
                remove_clouds(client, paths, fill_threshold=value)
            assert str(error.value) == message
        summary, _ = remove_clouds(client, paths, fill_threshold=None)
    assert "Done in" in summary and "fill threshold" not in summary


def test_typed_dates_are_used_and_checked(client: Client, example_sequences: dict[str, list[Path]]) -> None:
    paths = example_sequences["romania_2020_spring"]
    days = ", ".join(str(day) for day in range(100, 100 + 5 * len(paths), 5))
    summary, archive = remove_clouds(client, paths, dates=days)
    assert "dates as typed" in summary and len(read_archive(archive)[0]["frames"]) == len(paths)
    spaced = " ".join(f"2020-04-{day:02d}" for day in range(1, 1 + 3 * len(paths), 3))  # spaces separate dates too
    assert [entry["date"] for entry in read_archive(remove_clouds(client, paths, dates=spaced)[1])[0]["frames"]] == spaced.split()
    with pytest.raises(AppError, match="dates: got 2 dates for 9 frames"):
        remove_clouds(client, paths, dates="2020-01-01, 2020-01-06")
    with pytest.raises(AppError, match="cannot read '2020-01-06junk'"):
        remove_clouds(client, paths[:2], dates="2020-01-01, 2020-01-06junk")


@pytest.fixture(scope="module")
def bad_inputs(example_sequences: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Named sets of uploads the app must refuse."""
    folder = tmp_path_factory.mktemp("bad")
    frames = example_sequences["romania_2018_summer"]
    text = folder / "notes.txt"
    text.write_text("not an image")
    fake = folder / "frame_99.png"
    fake.write_text("not an image either")
    small = write_frames(load_frames(frames[:2])[:1, :64, :64], ["frame_00_small.png"], folder / "small")
    eleven = write_frames(load_frames(frames + frames[:2]), [f"frame_{i:02d}.png" for i in range(1, 12)], folder / "eleven")
    return {
        "one frame": frames[:1],
        "eleven frames": eleven,
        "text file": [frames[0], text],
        "text named .png": [frames[0], fake],
        "mixed sizes": frames[:3] + small,
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("one frame", "got 1 frame(s); this app takes 2 to 10 frames"),
        ("eleven frames", "11 frames given; this app takes at most 10 (the model was trained on 5 to 10): delete 1 line(s) from the frame order list"),
        ("text file", "Invalid file type"),
        ("text named .png", "frame_99.png): not a readable PNG, JPEG or TIFF image"),
        ("mixed sizes", "all frames must share one size: most are 100x100 px (rows x columns), but not frame_00_small.png (64x64)"),
    ],
)
def test_bad_input_gives_a_clear_error(client: Client, bad_inputs: dict[str, list[Path]], case: str, message: str) -> None:
    with pytest.raises(AppError) as error:
        remove_clouds(client, bad_inputs[case])
    assert message in str(error.value)
    assert "Traceback" not in str(error.value)


def test_a_file_over_the_size_limit_is_named(client: Client, app_url: str, example_sequences: dict[str, list[Path]], tmp_path: Path) -> None:
    """The app's limit was Gradio's, which gradio_client applied itself: a ValueError naming no limit the app states."""
    big = tmp_path / "frame_04_2018-08-01.png"
    with open(big, "wb") as file:
        file.truncate(21 * 2**20)
    with no_traceback_logged(app_url), pytest.raises(AppError) as error:
        remove_clouds(client, [*example_sequences["romania_2018_summer"][:3], big])
    assert str(error.value) == "frame_04_2018-08-01.png is 21.0 MB; this app takes files of at most 20 MB each (crop or compress it, or use the command line)"


def test_huge_frames_are_refused_before_any_work(client: Client, app_url: str, tmp_path: Path) -> None:
    """Ten 4096x4096 PNGs (small files) once drove the server past 9 GB; they are refused from their headers."""
    Image.new("RGB", (4096, 4096)).save(tmp_path / "blank.png")
    paths = [tmp_path / f"frame_{index}.png" for index in range(10)]
    for path in paths:
        path.write_bytes((tmp_path / "blank.png").read_bytes())
    started = time.monotonic()
    with pytest.raises(AppError, match=r"10 frames of up to 4096x4096 px are 167,772,160 pixels; this app takes at most 10,485,760 pixels per run"):
        remove_clouds(client, paths)
    assert time.monotonic() - started < 60
    rss = psutil.Process(_pid_listening(app_url)).memory_info().rss
    assert rss < 3 * 2**30, f"server RSS {rss / 2**30:.1f} GB"


def test_order_naming_a_missing_file_is_refused(client: Client, example_sequences: dict[str, list[Path]]) -> None:
    paths = example_sequences["romania_2018_summer"][:3]
    with pytest.raises(AppError, match="'frame_77.png' is not one of the uploaded files"):
        remove_clouds(client, paths, order=f"{paths[0].name}\nframe_77.png")


def test_nothing_uploaded_is_refused(client: Client) -> None:
    with pytest.raises(AppError, match="no frames uploaded"):
        client.predict([], api_name=API)


def test_concurrent_clients_each_get_their_own_result(
    app_url: str, example_sequences: dict[str, list[Path]], model: ClearVision, tmp_path: Path
) -> None:
    """8 callers at once, each with a differently cropped and flipped sequence, get back their own frames."""
    callers = 8
    inputs, expected = [], []
    for caller in range(callers):
        source = list(example_sequences.values())[caller % len(example_sequences)]
        frames = load_frames(source)[:, : 100 - 4 * caller, : 100 - 3 * caller]
        frames = frames[:, :, ::-1] if caller % 2 else frames[:, ::-1]
        inputs.append(write_frames(frames, [p.name for p in source], tmp_path / f"caller_{caller}"))
        expected.append(model.run(frames, dates=dates_in_names(source)).frames)
    start_together = threading.Barrier(callers)

    def call(caller: int) -> np.ndarray:
        client = Client(app_url, verbose=False, download_files=str(tmp_path / f"downloads_{caller}"))
        start_together.wait(timeout=60)
        return read_archive(remove_clouds(client, inputs[caller])[1])[1]

    with ThreadPoolExecutor(callers) as pool:
        results = list(pool.map(call, range(callers)))

    for caller, returned in enumerate(results):
        assert_same_frames(returned, expected[caller])


def _bytes_under(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def abort_upload(url: str, sent: int = 1_000_000) -> None:
    """Start a multipart upload of a 5 MB file, send `sent` bytes of it, and hang up."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    boundary = "cloudsboundary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="frame.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
    head = (f"POST /gradio_api/upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(part) + 5_000_000}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=30) as client:
        client.sendall(head + part + b"\0" * sent)
        time.sleep(1)  # let the server write what it got


CACHE_AGE = 10


@pytest.fixture(scope="module")
def short_lived_app(start_app: Callable[..., AppServer]) -> AppServer:
    """A server that keeps uploads and results for CACHE_AGE seconds."""
    return start_app("--cache-age", str(CACHE_AGE))


def test_repeated_requests_and_aborted_uploads_keep_temp_dir_and_memory_bounded(
    short_lived_app: AppServer, example_sequences: dict[str, list[Path]]
) -> None:
    """30 callers, one after another, and an upload cut off part-way, on a server that keeps files 10 s:
    its temp dir empties again (no part-written upload, no empty folder) and its memory stays flat."""
    cache_age, app = CACHE_AGE, short_lived_app
    server = psutil.Process(app.process.pid)
    sequences = [paths[:5] for paths in example_sequences.values()]  # short sequences keep 33 requests quick

    def call(request: int) -> None:
        client = Client(app.url, verbose=False, download_files=False)  # a new session each time; results stay on the server
        remove_clouds(client, sequences[request % len(sequences)])

    before_any = _bytes_under(app.gradio_temp)
    for request in range(len(sequences)):  # warm up: first calls allocate buffers that are then reused
        call(request)
    one_round = _bytes_under(app.gradio_temp) - before_any
    abort_upload(app.url)
    assert any(path.is_file() and path.stat().st_size > 0 for path in app.gradio_temp.iterdir()), "no part-written upload to prune"
    rss = [server.memory_info().rss / 2**20]
    for request in range(30):
        call(request)
        rss.append(server.memory_info().rss / 2**20)

    assert rss[-1] - rss[0] < 40, f"server RSS grew from {rss[0]:.0f} to {rss[-1]:.0f} MB: {[round(r) for r in rss]}"

    def leftovers() -> tuple[int, int, int, int]:
        """Bytes added to the temp dir since start, result folders, files in its root (aborted uploads,
        Gradio's empty ones) and empty upload folders."""
        root = list(app.gradio_temp.iterdir())
        root_files = sum(path.is_file() for path in root)
        empty_folders = sum(path.is_dir() and path.name != "results" and not any(path.iterdir()) for path in root)
        return _bytes_under(app.gradio_temp) - before_any, len(list((app.gradio_temp / "results").iterdir())), root_files, empty_folders

    deadline = time.monotonic() + 4 * cache_age
    while leftovers() != (0, 0, 0, 0) and time.monotonic() < deadline:
        time.sleep(1)
    left, folders, root_files, empty_folders = leftovers()
    assert left <= 0, f"{left} bytes left in the temp dir after 30 requests (one round of 3 requests writes {one_round})"
    assert folders == 0, f"{folders} result folders left after 30 requests"
    assert root_files == 0, f"{root_files} stray or part-written files left in the temp dir's root"
    assert empty_folders == 0, f"{empty_folders} empty upload folders left in the temp dir"


def test_temp_folder_and_results_are_private(short_lived_app: AppServer, example_sequences: dict[str, list[Path]]) -> None:
    """Other local users can neither list the temp folder nor read a request's images (0700 folders, 0600 files)."""
    client = Client(short_lived_app.url, verbose=False, download_files=False)
    remove_clouds(client, example_sequences["romania_2018_summer"][:3])
    written = [short_lived_app.gradio_temp, *short_lived_app.gradio_temp.rglob("*")]
    assert any(path.suffix == ".zip" for path in written)
    shared = [f"{path} {oct(path.stat().st_mode & 0o777)}" for path in written if path.exists() and path.stat().st_mode & 0o077]
    assert not shared, f"readable by other users: {shared[:3]}"


def test_only_examples_and_results_are_served(app_url: str, example_sequences: dict[str, list[Path]]) -> None:
    """The app hands out its bundled examples, but no other file of the machine or the project."""
    import urllib.error
    import urllib.request

    def status(path: Path | str) -> int:
        try:
            with urllib.request.urlopen(f"{app_url}gradio_api/file={path}", timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status(next(iter(example_sequences.values()))[0]) == 200
    root = Path(__file__).resolve().parent.parent
    for private in ("/etc/passwd", root / "app.py", root / "model_dict" / "MODEL_CARD.md", root / "examples" / ".." / "app.py"):
        assert status(private) in (403, 404), private


@pytest.fixture
def slow_clients(app_url: str) -> Any:
    """More half-sent requests than the server keeps connections, as in a slowloris attack."""
    host, port = app_url.split("//")[1].rstrip("/").split(":")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = 600  # above the server's cap of 500 connections
    if soft < count + 200 and hard >= count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = []
    try:
        for _ in range(count):
            client = socket.create_connection((host, int(port)), timeout=30)
            client.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n")  # headers never finished
            sockets.append(client)
        yield sockets
    finally:
        for client in sockets:
            client.close()


def test_requests_are_served_while_slow_clients_hang(
    slow_clients: list[socket.socket], app_url: str, example_sequences: dict[str, list[Path]], tmp_path: Path
) -> None:
    """600 half-sent requests (once: 1100 of them made every request fail) do not stop a caller's run."""
    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    summary, archive = remove_clouds(client, example_sequences["romania_2018_summer"][:3])
    assert "Done in" in summary and zipfile.ZipFile(archive).testzip() is None
    server_connections = [c for c in psutil.Process(_pid_listening(app_url)).net_connections() if c.status == "ESTABLISHED"]
    assert len(server_connections) <= 520, f"{len(server_connections)} connections held open by the server"


@contextmanager
def no_traceback_logged(app_url: str) -> Iterator[None]:
    """Fail if the app server at `app_url` logs a traceback meanwhile (AppServer sends its stdout and stderr to a file)."""
    log = Path(os.readlink(f"/proc/{_pid_listening(app_url)}/fd/1"))
    start = log.stat().st_size
    yield
    added = log.read_bytes()[start:].decode(errors="replace")
    assert "Traceback" not in added, f"the server logged:\n{added[-3000:]}"


def _pid_listening(url: str) -> int:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == "LISTEN" and connection.laddr.port == port and connection.pid:
            return connection.pid
    raise LookupError(f"no process listens on port {port}")


def run_app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python app.py ARGS` that is expected to stop at start-up."""
    return subprocess.run([sys.executable, str(APP_PATH), *args], env={**os.environ, **QUIET_GRADIO, **(env or {})},
                          capture_output=True, text=True, timeout=300)


def test_nan_cache_age_stops_the_app_with_one_line() -> None:
    """`--cache-age nan` once passed the check and killed the pruning thread; every option's range is in test_webapp_options."""
    done = run_app("--cache-age", "nan")
    assert done.returncode == 2 and "argument --cache-age: 'nan' is not a number: give seconds from 1 to 604800" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_stops_the_app_with_one_line_before_the_model_loads(app_url: str) -> None:
    port = int(app_url.rstrip("/").rsplit(":", 1)[1])
    done = run_app("--port", str(port))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
        f"error: port {port} is in use on 127.0.0.1 (another server, or this app already running); pick another with --port"
    ), done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_temp_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)
    else:
        foreign = Path("/")
    done = run_app(env={"GRADIO_TEMP_DIR": str(foreign)})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: temp folder {foreign} belongs to user id" in done.stderr and "set GRADIO_TEMP_DIR to a folder of your own" in done.stderr
