"""The web app through its API (gradio_client), against a real `python app.py` server and real weights.

Checks what a caller gets back (counts, sizes, order, the zip), that bad input gives a clear
AppError, that concurrent callers each get their own result, and that repeated requests do not
grow the server's temp dir or memory without bound.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from clear_vision import ClearVision
from clear_vision.decode import load_frames

API = "/remove_clouds"


@pytest.fixture(scope="module")
def model() -> ClearVision:
    """The library on the CPU, as the reference for what the app must return."""
    return ClearVision.load(device="cpu")


@pytest.fixture
def client(app_url: str, tmp_path: Path) -> Client:
    return Client(app_url, verbose=False, download_files=str(tmp_path))


def remove_clouds(client: Client, paths: list[Path], **options: str) -> tuple:
    """(summary, overlay gallery, cloud-free gallery, before/after pair, zip path) for these files."""
    return client.predict([handle_file(str(path)) for path in paths], api_name=API, **options)


def dates_in_names(paths: list[Path]) -> list[str]:
    """Example frames are named frame_NN_YYYY-MM-DD.png."""
    return [path.stem.rsplit("_", 1)[-1] for path in paths]


def read_images(gallery: list[dict]) -> list[np.ndarray]:
    return [np.asarray(Image.open(item["image"]).convert("RGB")) for item in gallery]


def assert_same_frames(returned: list[np.ndarray], expected: np.ndarray) -> None:
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

    summary, overlays, clears, before_after, archive = remove_clouds(client, shuffled)

    names, stems, dates = [p.name for p in paths], [p.stem for p in paths], dates_in_names(paths)
    assert "Done in" in summary and f"{len(paths)} frames" in summary and "dates read from file names" in summary
    assert len(overlays) == len(clears) == len(paths)
    for index, (overlay, clear) in enumerate(zip(overlays, clears)):
        assert overlay["caption"].startswith(f"{index + 1}. ") and "% cloud · " in overlay["caption"]
        assert overlay["caption"].endswith(names[index]) and clear["caption"] == f"{index + 1}. {names[index]}"
    expected = model.run(paths, dates=dates)
    assert_same_frames(read_images(clears), expected.frames)
    assert all(image.shape == (100, 100, 3) for image in read_images(overlays))
    before, after = (np.asarray(Image.open(path)) for path in before_after)
    assert before.shape == after.shape == (100, 100, 3)

    with zipfile.ZipFile(archive) as bundle:
        assert set(bundle.namelist()) == {f"{s}_clear.png" for s in stems} | {f"{s}_mask.png" for s in stems} | {"report.json"}
        report = json.loads(bundle.read("report.json"))
        masks = np.stack([np.asarray(Image.open(io.BytesIO(bundle.read(f"{s}_mask.png")))) > 0 for s in stems])
    assert [entry["input"] for entry in report["frames"]] == stems
    assert [entry["date"] for entry in report["frames"]] == dates
    assert (masks == expected.masks).mean() > 0.99


def test_order_list_chooses_and_orders_frames(client: Client, example_sequences: dict[str, list[Path]]) -> None:
    paths = example_sequences["romania_2019_summer"]
    chosen = [paths[i].name for i in (0, 2, 4, 6, 8)]
    shuffled = random.Random(1).sample(paths, len(paths))

    _, overlays, clears, _, _ = remove_clouds(client, shuffled, order="\n".join(chosen))

    assert [item["caption"] for item in clears] == [f"{i + 1}. {name}" for i, name in enumerate(chosen)]
    assert len(overlays) == len(chosen)
    with pytest.raises(AppError, match="dates: must be in time order"):
        remove_clouds(client, paths, order="\n".join(reversed(chosen)))


def test_typed_dates_are_used_and_checked(client: Client, example_sequences: dict[str, list[Path]]) -> None:
    paths = example_sequences["romania_2020_spring"]
    days = ", ".join(str(day) for day in range(100, 100 + 5 * len(paths), 5))
    summary, _, clears, _, _ = remove_clouds(client, paths, dates=days)
    assert "dates as typed" in summary and len(clears) == len(paths)
    with pytest.raises(AppError, match="dates: got 2 dates for 9 frames"):
        remove_clouds(client, paths, dates="2020-01-01, 2020-01-06")


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
        ("eleven frames", "got 11 frame(s); this app takes 2 to 10 frames"),
        ("text file", "Invalid file type"),
        ("text named .png", "frame_99.png): not a readable PNG, JPEG or TIFF image"),
        ("mixed sizes", "all frames must share one size, got 64x64, 100x100"),
    ],
)
def test_bad_input_gives_a_clear_error(client: Client, bad_inputs: dict[str, list[Path]], case: str, message: str) -> None:
    with pytest.raises(AppError) as error:
        remove_clouds(client, bad_inputs[case])
    assert message in str(error.value)
    assert "Traceback" not in str(error.value)


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

    def call(caller: int) -> list[np.ndarray]:
        client = Client(app_url, verbose=False, download_files=str(tmp_path / f"downloads_{caller}"))
        start_together.wait(timeout=60)
        return read_images(remove_clouds(client, inputs[caller])[2])

    with ThreadPoolExecutor(callers) as pool:
        results = list(pool.map(call, range(callers)))

    for caller, returned in enumerate(results):
        assert_same_frames(returned, expected[caller])


def _bytes_under(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_repeated_requests_keep_temp_dir_and_memory_bounded(
    start_app: Callable[..., Any], example_sequences: dict[str, list[Path]]
) -> None:
    """30 callers, one after another, on a server that keeps files 10 s: its temp dir empties again
    and its memory stays flat."""
    cache_age = 10
    app = start_app("--cache-age", str(cache_age))
    server = psutil.Process(app.process.pid)
    sequences = [paths[:5] for paths in example_sequences.values()]  # short sequences keep 33 requests quick

    def call(request: int) -> None:
        client = Client(app.url, verbose=False, download_files=False)  # a new session each time; results stay on the server
        remove_clouds(client, sequences[request % len(sequences)])

    before_any = _bytes_under(app.gradio_temp)
    for request in range(len(sequences)):  # warm up: first calls allocate buffers that are then reused
        call(request)
    one_round = _bytes_under(app.gradio_temp) - before_any
    rss = [server.memory_info().rss / 2**20]
    for request in range(30):
        call(request)
        rss.append(server.memory_info().rss / 2**20)

    assert rss[-1] - rss[0] < 40, f"server RSS grew from {rss[0]:.0f} to {rss[-1]:.0f} MB: {[round(r) for r in rss]}"

    def leftovers() -> tuple[int, int, int]:
        """Bytes added to the temp dir since start, result folders, and files in its root (Gradio leaves empty ones)."""
        root_files = sum(path.is_file() for path in app.gradio_temp.iterdir())
        return _bytes_under(app.gradio_temp) - before_any, len(list((app.gradio_temp / "results").iterdir())), root_files

    deadline = time.monotonic() + 4 * cache_age
    while leftovers() != (0, 0, 0) and time.monotonic() < deadline:
        time.sleep(1)
    left, folders, root_files = leftovers()
    assert left <= 0, f"{left} bytes left in the temp dir after 30 requests (one round of 3 requests writes {one_round})"
    assert folders == 0, f"{folders} result folders left after 30 requests"
    assert root_files == 0, f"{root_files} stray files left in the temp dir's root"


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
