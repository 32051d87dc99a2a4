"""The page's handlers in `app.build_demo`, called in-process with the real model (no server, no browser).

What the page does when time passes (the cache age), when a run fails, and with what a drop
of files holds: fast checks of the Python side of what a user sees.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clear_vision import ClearVision

CACHE_AGE = 30.0


@pytest.fixture(scope="module")
def temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app's temp folder (GRADIO_TEMP_DIR) for this module: Gradio reads it when a component is made."""
    folder = tmp_path_factory.mktemp("gradio")
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = before


@pytest.fixture(scope="module")
def demo(temp_dir: Path) -> Any:
    import app

    return app.build_demo(ClearVision.load(device="cpu"), CACHE_AGE, results_dir=temp_dir / "results")


def handler(demo: Any, name: str) -> Callable[..., Any]:
    """The page's function called `name` (each is bound to one or more events)."""
    for block_function in demo.fns.values():
        if getattr(block_function.fn, "__name__", None) == name:
            return block_function.fn
    raise LookupError(f"no handler named {name}")


def example_paths(demo: Any, index: int = 0) -> list[str]:
    """The files a click on example `index` puts into the frames box."""
    dataset = next(block for block in demo.blocks.values() if type(block).__name__ == "Dataset")
    update = handler(demo, "load_example")(dataset.preprocess(index))
    value = update[0] if isinstance(update, list) else update
    return [item["path"] for item in value["value"]]


def test_example_files_outlive_the_cache_age(demo: Any) -> None:
    """Gradio copies example files into the temp folder once, at start; its cache sweep must spare them."""
    from gradio.route_utils import delete_files_created_by_app

    paths = example_paths(demo)
    assert paths and all(Path(path).is_file() for path in paths)

    delete_files_created_by_app(demo, 0)  # Gradio's delete_cache sweep, every file past its age

    assert [path for path in paths if not Path(path).is_file()] == []
    assert example_paths(demo) == paths


def test_a_failed_run_keeps_its_message_in_the_summary(demo: Any, example_sequences: dict[str, list[Path]]) -> None:
    """The red toast fades after ~10 s: the summary must say what went wrong, not point at the toast."""
    import gradio as gr

    request = gr.Request(session_hash="one-frame")
    with pytest.raises(gr.Error) as raised:
        handler(demo, "remove_clouds")([str(example_sequences["romania_2018_summer"][0])], "", "", None, request=request)
    assert "got 1 frame(s)" in raised.value.message

    summary = handler(demo, "failed")(request)[0]

    assert "got 1 frame(s); this app takes 2 to 10 frames" in summary and "top of the page" not in summary
    assert "nothing" in handler(demo, "failed")(gr.Request(session_hash="another"))[0].lower()  # no message kept: still says it stopped


def uploaded(example_sequences: dict[str, list[Path]], folder: Path, count: int = 3) -> list[str]:
    """`count` example frames copied as uploads of the page (which the test may then delete)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for path in example_sequences["romania_2018_summer"][:count]:
        shutil.copy(path, folder / path.name)
        paths.append(str(folder / path.name))
    return paths


def test_expired_results_and_uploads_say_so_and_what_to_do(demo: Any, example_sequences: dict[str, list[Path]], tmp_path: Path) -> None:
    import gradio as gr

    paths = uploaded(example_sequences, tmp_path / "up")
    summary, archive, files = handler(demo, "remove_clouds")(paths, "", "", None)
    expire, compare = handler(demo, "expire"), handler(demo, "compare")
    assert "Done in" in summary and expire(files)[0] == gr.skip()  # fresh results stay on the page

    long_ago = time.time() - CACHE_AGE  # as old as housekeeping lets results get
    os.utime(Path(archive).parent, (long_ago, long_ago))
    view = expire(files)
    assert "These results have expired: this app keeps results for 30 s after a run. Run again" in view[0]
    assert view[1:3] == (None, None) and view[-1].active is False  # no zip link left to answer 403; the check stops
    assert "have expired" in expire(None)[0]  # Gradio dropped the session's results at the cache age
    with pytest.raises(gr.Error, match="These results have expired"):
        compare(2, None)  # the frame slider, moved after Gradio dropped them

    for path in paths:
        Path(path).unlink()  # Gradio's cache sweep, at the cache age
    with pytest.raises(gr.Error, match=r"the uploaded frames have expired \(frame_01_2018-07-01.png, .*\): this app keeps uploads for 30 s\. "
                                       r"Clear the frames \(the x of the frames box\) and upload them again"):
        handler(demo, "remove_clouds")(paths, "", "", None)


def test_a_frame_number_between_frames_is_rounded_with_a_note(demo: Any, example_sequences: dict[str, list[Path]], tmp_path: Path) -> None:
    """2.5 typed in "Frame to compare" once showed frame 2 silently (truncated); out of range already had a note."""
    import gradio as gr

    _, _, files = handler(demo, "remove_clouds")(uploaded(example_sequences, tmp_path), "", "", None)
    compare = handler(demo, "compare")
    with pytest.warns(UserWarning, match=r"^Frame to compare: 2\.5 is not a whole frame number; showing frame 3$"):
        assert compare(2.5, files) == (files.pair(2), 3)
    with pytest.warns(UserWarning, match=r"^Frame to compare: 7\.4 is not a whole frame number; 7\.4 is outside its range, 1 to 3; showing frame 3$"):
        assert compare(7.4, files) == (files.pair(2), 3)
    assert compare(2, files) == (files.pair(1), gr.skip())


def test_a_fill_threshold_left_out_of_range_is_named_with_its_range(demo: Any) -> None:
    """The box clamped a typed 2 to 0.95 when left, silently, and the range showed only as the slider's end labels."""
    import gradio as gr

    left = handler(demo, "threshold_left")
    with pytest.warns(UserWarning, match=r"^Fill threshold: 2 is outside its range, 0\.05 to 0\.95; set to 0\.95, the nearest in range$"):
        assert left(2) == 0.95
    with pytest.warns(UserWarning, match=r"^Fill threshold: 0\.01 is outside its range, 0\.05 to 0\.95; set to 0\.05, the nearest in range$"):
        assert left(0.01) == 0.05
    with pytest.warns(UserWarning, match=r"^Fill threshold: the box was left empty; its range is 0\.05 to 0\.95; set to the default, 0\.2$"):
        assert left(None) == 0.2  # the box itself would take the minimum
    assert left(0.4) == left(0.95) == gr.skip()
    slider = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "fill_threshold")
    assert "pixels are replaced, 0.05 to 0.95 (default 0.2" in slider.info
