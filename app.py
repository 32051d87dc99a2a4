"""Clear Vision web app: upload a time series of satellite frames, get them back without clouds.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--device cpu|cuda] [--cache-age SECONDS]

A thin Gradio shell over `clear_vision`: it orders and checks the uploads, calls
`ClearVision.run` and shows or packs what comes back. All model logic lives in the library.
"""

from __future__ import annotations

import argparse
import contextvars
import ctypes
import ctypes.util
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Offline and private by default; set before gradio is imported, which reads them at import.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "clear-vision-app"))

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from clear_vision import ClearVision, CloudRemovalOutput, WeightsError  # noqa: E402
from clear_vision.decode import IMAGE_SUFFIXES, dates_from_names, load_frames, natural_key  # noqa: E402
from clear_vision.outputs import build_report, output_names, overlay_mask, zip_outputs  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
TEMP_DIR = Path(os.environ["GRADIO_TEMP_DIR"])
RESULTS_DIR = TEMP_DIR / "results"  # one sub-folder per request, so requests never share files
APP_MIN_FRAMES, APP_MAX_FRAMES = 2, 10  # library minimum; the cap keeps a shared server responsive
TRAINED_FRAMES = "5 to 10"
MAX_FILE_MB = 20
QUEUE_SIZE = 32  # requests waiting beyond this are told "Queue is full"
MODEL_CONCURRENCY = 1  # runs at once: one run already uses every CPU core (or the GPU)
DEFAULT_CACHE_AGE = 3600  # seconds uploads and results are kept: long enough to download, short enough not to pile up
SESSION_CAPACITY = 1000  # sessions whose state (the frame slider's files) Gradio keeps, oldest dropped first
CREDIT = "Example sequences: contains modified Copernicus Sentinel data, via the nrt package (EUPL-1.2)."
# Galleries reserve 320-450 px by default; let them shrink to their two rows of thumbnails.
CSS = "#masks .grid-wrap, #clear .grid-wrap { min-height: 0; }"

INTRO = f"""
# Clear Vision: cloud removal for satellite image time series

Upload {APP_MIN_FRAMES} to {APP_MAX_FRAMES} RGB frames of the **same place on different dates**
(PNG, JPEG or TIFF, all the same size, at most {MAX_FILE_MB} MB each), or click an example.
Clear Vision finds clouds and their shadows in every frame and fills them in from the dates
where that ground was clear. It was trained on sequences of {TRAINED_FRAMES} frames: more clear
dates give better fills. Frames run in natural file-name order (`frame_2` before `frame_10`);
edit the order list to change it or leave frames out. Dates, if known, help the model weigh
nearby frames more: they are read from file names like `..._2021-05-10.png`, or type them in.
"""


@dataclass(frozen=True)
class Comparison:
    """Before/after image files of one run, kept per session for the frame slider."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    shown: int  # index of the frame compared first: the cloudiest


def sort_uploads(files: list[str] | None) -> tuple[list[str] | None, str]:
    """The uploads and the order list, both in natural order; browsers send files in no particular order.

    One event sets both, so no second event can overwrite an order the user has started to edit.
    """
    ordered = None if files is None else sorted(files, key=natural_key)
    return ordered, natural_order(ordered)


def natural_order(files: list[str] | None) -> str:
    """The order list shown after an upload: uploaded file names, natural sort, one per line."""
    return "\n".join(sorted((Path(f).name for f in files or []), key=natural_key))


def order_frames(files: list[str] | None, order: str) -> list[Path]:
    """Uploaded files in the order the user asked for (blank order = natural sort of names).

    Raises ValueError naming the problem: no files, a name uploaded twice, an unknown or
    repeated name in the order list, or a frame count outside the app's range. File types are
    checked by the upload component, file contents by the library.
    """
    paths = [Path(f) for f in files or []]
    if not paths:
        raise ValueError(f"no frames uploaded: add {APP_MIN_FRAMES} to {APP_MAX_FRAMES} images of one place, or click an example")
    by_name: dict[str, Path] = {}
    for path in paths:
        if path.name in by_name:
            raise ValueError(f"two uploaded files are named {path.name!r}; rename one so the order is clear")
        by_name[path.name] = path
    names = [line.strip() for line in order.splitlines() if line.strip()]
    if not names:
        chosen = sorted(paths, key=natural_key)
    else:
        for index, name in enumerate(names):
            if name not in by_name:
                raise ValueError(f"frame order: {name!r} is not one of the uploaded files; list uploaded file names, one per line")
            if name in names[:index]:
                raise ValueError(f"frame order: {name!r} is listed twice; list each frame once")
        chosen = [by_name[name] for name in names]
    if not APP_MIN_FRAMES <= len(chosen) <= APP_MAX_FRAMES:
        raise ValueError(
            f"got {len(chosen)} frame(s); this app takes {APP_MIN_FRAMES} to {APP_MAX_FRAMES} frames of one place "
            f"(the model was trained on {TRAINED_FRAMES})"
        )
    return chosen


def parse_dates_text(text: str, paths: list[Path]) -> tuple[list[str] | None, str]:
    """Dates to pass to the library and a note saying where they came from.

    Typed dates win; else dates found in every file name; else None (equally spaced frames).
    The library validates the values themselves.
    """
    typed = [part for part in re.split(r"[,\s]+", text or "") if part]
    if typed:
        return typed, "dates as typed"
    found = dates_from_names(paths)
    if found:
        return [str(date) for date in found], "dates read from file names"
    return None, "no dates: frames taken as 5 days apart"


def prune_temp_dir(age: float) -> None:
    """Delete what requests leave behind in the temp dir once it is older than `age` seconds.

    Gradio's delete_cache removes uploads and the files it served, but not this app's result
    folders (the frame slider's files live only in session state), nor the empty file that
    Gradio's File component leaves in the temp dir's root for every uploaded file (6.31).
    """
    cutoff = time.time() - age
    for folder in _entries_older_than(RESULTS_DIR, cutoff):
        shutil.rmtree(folder, ignore_errors=True)
    for stray in _entries_older_than(TEMP_DIR, cutoff):
        if stray.is_file() and stray.stat().st_size == 0:
            stray.unlink(missing_ok=True)


def _entries_older_than(folder: Path, cutoff: float) -> list[Path]:
    if not folder.is_dir():
        return []
    old = []
    for entry in folder.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                old.append(entry)
        except FileNotFoundError:  # removed meanwhile by Gradio's own sweep
            continue
    return old


def _prune_forever(age: float, every: float) -> None:
    while True:
        time.sleep(every)
        prune_temp_dir(age)


def _save_png(array: np.ndarray, path: Path) -> str:
    Image.fromarray(array).save(path, compress_level=1)  # fast: files are temporary
    return str(path)


def build_demo(model: ClearVision, cache_age: float) -> gr.Blocks:
    """The whole UI; every handler is a closure over the one loaded model and keeps no state of its own."""
    device = model.device.type
    # Every run goes through one long-lived thread: torch keeps ~100 MB of caches per thread that
    # runs it, so letting Gradio's pool of up to 40 worker threads run the model grows memory.
    model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clear-vision-model")
    model_thread.submit(_warm_up, model)  # the first run pays ~2 s of kernel set-up: pay it before any user

    def run_model(images: np.ndarray, dates: list[str] | None, progress: gr.Progress) -> CloudRemovalOutput:
        def report(fraction: float, step: str) -> None:
            progress(fraction, desc=step)

        context = contextvars.copy_context()  # carries Gradio's request context, so progress reaches the page
        return model_thread.submit(context.run, _run_and_release, model, images, dates, report).result()

    def remove_clouds(frames: list[str] | None, dates: str = "", order: str = "", progress: gr.Progress = gr.Progress()) -> tuple:
        """Remove clouds from 2 to 10 frames of one place; returns galleries, comparison, zip and a summary."""
        started = time.perf_counter()
        try:
            paths = order_frames(frames, order)
            stems = [path.stem for path in paths]
            output_names(stems)  # refuses two frames whose outputs would share a name
            date_list, date_note = parse_dates_text(dates, paths)
            images = load_frames(paths)
            result = run_model(images, date_list, progress)
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from None

        folder = RESULTS_DIR / uuid.uuid4().hex
        folder.mkdir(parents=True)
        overlays, clears, before, after = [], [], [], []
        for index, stem in enumerate(stems):
            cover = f"{index + 1}. {result.cloud_cover[index]:.0%} cloud · {paths[index].name}"  # may be cut short
            overlays.append((_save_png(overlay_mask(images[index], result.masks[index]), folder / f"{stem}_clouds.png"), cover))
            clear = _save_png(result.frames[index], folder / f"{stem}_clear.png")
            clears.append((clear, f"{index + 1}. {paths[index].name}"))
            before.append(_save_png(images[index], folder / f"{stem}_input.png"))
            after.append(clear)
        report = build_report(result, stems, date_list, device=device)
        archive = zip_outputs(result, report, folder / "clear_vision_results.zip")

        for warning in result.warnings:
            gr.Warning(warning)
        cloudiest = int(result.cloud_cover.argmax())
        height, width = images.shape[1:3]
        summary = [
            f"**Done in {time.perf_counter() - started:.1f} s** on {device}: {len(paths)} frames of "
            f"{width}x{height} px, mean cloud cover {result.cloud_cover.mean():.0%}; {date_note}.",
            *(f"- Warning: {warning}" for warning in result.warnings),
        ]
        return (
            "\n\n".join(summary),
            overlays,
            clears,
            (before[cloudiest], after[cloudiest]),
            str(archive),
            Comparison(tuple(before), tuple(after), cloudiest),
        )

    def frame_slider(comparison: Comparison) -> gr.Slider:
        """After a run the slider spans its frames and points at the one compared first."""
        return gr.Slider(maximum=len(comparison.before), value=comparison.shown + 1, interactive=True)

    def compare(frame: float, comparison: Comparison | None) -> tuple[str, str] | None:
        """Before/after pair for the frame the slider points at."""
        if comparison is None:
            return None
        index = min(max(int(frame), 1), len(comparison.before)) - 1
        if not Path(comparison.after[index]).is_file():
            raise gr.Error("these results have expired; run again", print_exception=False)
        return comparison.before[index], comparison.after[index]

    with gr.Blocks(title="Clear Vision", delete_cache=(min(cache_age, 3600), cache_age)) as demo:
        comparison = gr.State(None, time_to_live=cache_age)
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                frames = gr.File(
                    label=f"Frames ({APP_MIN_FRAMES} to {APP_MAX_FRAMES} images)",
                    file_count="multiple",
                    file_types=list(IMAGE_SUFFIXES),
                    elem_id="frames",
                    height=220,
                )
                order = gr.Textbox(
                    label="Frame order (first at top)",
                    info="One file name per line. Move lines to reorder; delete a line to leave that frame out.",
                    value="",
                    lines=5,
                    max_lines=APP_MAX_FRAMES + 2,
                    elem_id="order",
                )
                dates = gr.Textbox(
                    label="Dates (optional)",
                    info="Comma-separated, one per frame in the order above, e.g. 2021-05-10, 2021-05-15. Empty: read from file names.",
                    value="",
                    placeholder="2021-05-10, 2021-05-15, ...",
                    elem_id="dates",
                )
                run = gr.Button("Remove clouds", variant="primary", elem_id="run")
                sequences = _example_sequences()
                examples = gr.Examples(
                    examples=[[paths, ""] for paths in sequences.values()],
                    example_labels=list(sequences),
                    inputs=[frames, dates],
                    label="Examples: real Sentinel-2 sequences (one click loads and runs)",
                    elem_id="examples",
                    cache_examples=False,
                )
                gr.Markdown(CREDIT, elem_id="credit")
            with gr.Column(scale=3, min_width=360):
                summary = gr.Markdown("Results appear here.", label="summary", elem_id="summary")
                overlay_gallery = gr.Gallery(
                    label="Input frames, detected cloud and shadow in red",
                    columns=5,
                    format="png",
                    elem_id="masks",
                )
                clear_gallery = gr.Gallery(label="Cloud-free frames", columns=5, format="png", elem_id="clear")
                frame_choice = gr.Slider(
                    1, APP_MAX_FRAMES, value=1, step=1, label="Frame to compare", interactive=False, elem_id="frame_choice"
                )
                before_after = gr.ImageSlider(
                    label="Before / after (drag the handle)", type="filepath", max_height=380, format="png", elem_id="compare"
                )
                download = gr.File(
                    label="All results: cloud-free PNGs, masks and report.json", interactive=False, elem_id="download"
                )

        outputs = [summary, overlay_gallery, clear_gallery, before_after, download, comparison]
        frames.upload(sort_uploads, frames, [frames, order], queue=False, api_visibility="private")
        for removal in (frames.delete, frames.clear):
            removal(natural_order, frames, order, queue=False, api_visibility="private")
        run.click(remove_clouds, [frames, dates, order], outputs, api_name="remove_clouds", concurrency_id="model").success(
            frame_slider, comparison, frame_choice, queue=False, api_visibility="private"
        )
        examples.load_input_event.then(natural_order, frames, order, queue=False, api_visibility="private").then(
            remove_clouds, [frames, dates, order], outputs, concurrency_id="model", api_visibility="private"
        ).success(frame_slider, comparison, frame_choice, queue=False, api_visibility="private")
        frame_choice.release(compare, [frame_choice, comparison], before_after, api_visibility="private")
    return demo


_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None


def _run_and_release(
    model: ClearVision, images: np.ndarray, dates: list[str] | None, report: Callable[[float, str], None]
) -> CloudRemovalOutput:
    """One model run, then hand freed heap back to the system.

    Every request brings another frame size; glibc keeps the freed buffers of each, and a
    long-running server grew by ~500 MB per 40 requests of mixed sizes. malloc_trim keeps it flat.
    """
    try:
        return model.run(images, dates=dates, progress=report)
    finally:
        if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
            _LIBC.malloc_trim(0)


def _warm_up(model: ClearVision) -> None:
    """Run the first bundled example once, unseen, so no visitor waits for the first-run set-up."""
    sequences = list(_example_sequences().values())
    if sequences:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.run(sequences[0])


def _example_sequences() -> dict[str, list[str]]:
    """Label -> frame paths (natural order) for every folder in examples/."""
    if not EXAMPLES_DIR.is_dir():
        return {}
    sequences = {}
    for folder in sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_dir()):
        paths = sorted((str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if paths:
            label = folder.name.replace("_", " ").capitalize()
            sequences[f"{label} ({len(paths)} frames)"] = paths
    return sequences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Clear Vision web app")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public share link (needs internet)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument(
        "--cache-age", type=float, default=DEFAULT_CACHE_AGE, help="seconds uploads and results are kept (default: one hour)"
    )
    args = parser.parse_args(argv)
    if args.cache_age <= 0:
        parser.error("--cache-age must be positive")

    try:
        model = ClearVision.load(device=args.device)
    except (ValueError, WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    demo = build_demo(model, args.cache_age)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=MODEL_CONCURRENCY)
    threading.Thread(target=_prune_forever, args=(args.cache_age, min(args.cache_age, 3600)), daemon=True).start()
    _, local_url, share_url = demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=f"{MAX_FILE_MB}mb",
        allowed_paths=[str(EXAMPLES_DIR)],
        state_session_capacity=SESSION_CAPACITY,
        css=CSS,
        prevent_thread_lock=True,
        quiet=True,
    )
    print(f"Clear Vision is running at {local_url} (model on {model.device.type})", flush=True)
    if args.share:
        if share_url is None:
            print(
                f"--share: no public link could be created (no internet access, or Gradio's share server is unreachable; "
                f"the frpc advice above does not help offline). The app is served locally only, at {local_url}",
                flush=True,
            )
        else:
            print(f"Public share link: {share_url}", flush=True)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
