"""Clear Vision web app: upload a time series of satellite frames, get them back without clouds.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--device cpu|cuda] [--cache-age SECONDS]

A thin Gradio shell: `main` and the page layout live here; checking uploads, running the model,
writing results and keeping the temp folder are in `clear_vision.webapp`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from clear_vision.webapp import QUIET_GRADIO

os.environ.update(QUIET_GRADIO)  # gradio reads these when it is imported
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "clear-vision-app"))

import gradio as gr  # noqa: E402

from clear_vision import ClearVision, WeightsError  # noqa: E402
from clear_vision.io.decode import IMAGE_SUFFIXES  # noqa: E402
from clear_vision.webapp import housekeeping, options, server  # noqa: E402
from clear_vision.webapp.results import RunFiles, markdown_text  # noqa: E402
from clear_vision.webapp.runs import ModelRunner, process  # noqa: E402
from clear_vision.webapp.uploads import (  # noqa: E402
    APP_MAX_FILE_MB,
    APP_MAX_FRAMES,
    APP_MAX_PIXELS,
    APP_MIN_FRAMES,
    TRAINED_FRAMES,
    check_still_there,
    example_sequences,
    frame_order_list,
    sort_uploads,
)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
TEMP_DIR = Path(os.environ["GRADIO_TEMP_DIR"])
RESULTS_DIR = TEMP_DIR / "results"  # one sub-folder per request, so requests never share files
# Gradio refuses a whole drop, before sending it, when one file is over its limit: that limit is
# kept well above the app's own (APP_MAX_FILE_MB, checked once uploaded: the page leaves out just
# that file and names it), and still bounds what one upload writes to disk.
GRADIO_MAX_FILE_MB = 10 * APP_MAX_FILE_MB
FILL_THRESHOLDS = (0.05, 0.95)  # the fill threshold slider's range, which the API takes too
QUEUE_SIZE = 32  # requests waiting beyond this are told "Queue is full"
MODEL_CONCURRENCY = 1  # runs at once: one run already uses every CPU core (or the GPU)
SESSION_CAPACITY = 1000  # sessions whose state (the frame slider's files) Gradio keeps, oldest dropped first
EXPIRY_CHECK_SECONDS = 10.0  # how often a page showing results asks whether they are due to expire
NO_RESULTS = "Results appear here."  # the results view before a run, and after a new upload
FAILED = "**The run stopped:** {message}\n\nNothing below is left from earlier runs."
UNEXPECTED = "an unexpected error (the server log has the details)"  # a failure the app did not word itself
CREDIT = "Example sequences: contains modified Copernicus Sentinel data, via the nrt package (EUPL-1.2)."
CSS = (
    "#masks .grid-wrap, #clear .grid-wrap { min-height: 0; }"  # galleries shrink to their thumbnails
    # on a phone the 5 columns of 100 px overflowed sideways and hid frames 4, 5, 9 and 10: there, as many as fit
    " @media (max-width: 640px) { #masks .grid-container, #clear .grid-container { grid-template-columns: repeat(auto-fill, minmax(72px, 1fr)); } }"
    # captions wrap instead of ending in "...": a file name or a frame's cover cut off says nothing
    " #masks .caption-label, #clear .caption-label { white-space: normal; overflow-wrap: anywhere; }"
)
INTRO = f"""
# Clear Vision: cloud removal for satellite image time series

Upload {APP_MIN_FRAMES} to {APP_MAX_FRAMES} RGB frames of the **same place on different dates**
(PNG, JPEG or TIFF, all the same size, at most {APP_MAX_FILE_MB} MB each and {APP_MAX_PIXELS / 1e6:.1f} megapixels per run in all,
e.g. {APP_MAX_FRAMES} frames of 1024x1024), or click an example. GeoTIFFs of reflectance (one file per date, or one per
band and date as HLS names them) are read with the units and dates their files state, and come back as GeoTIFFs too.
Clear Vision finds clouds and their shadows in every frame and fills them in from the dates
where that ground was clear. It was trained on sequences of {TRAINED_FRAMES} frames: more clear
dates give better fills. Frames run in time order of the dates in their names (like
`..._2021-05-10.png` or `S2A_MSIL2A_20210510T...`), else in natural file-name order (`frame_2`
before `frame_10`); edit the order list to change it or leave frames out. Dates, if known, help
the model weigh nearby frames more: they are read from the file names, or type them in.
"""


class LastErrors:
    """Why each session's last run stopped, until its page puts it into the summary.

    Gradio's `.failure` event gets no error: the message is kept here by session, the oldest
    dropped first (API callers never ask for theirs), so it can outlive the toast, once closed.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity, self._messages, self._lock = capacity, OrderedDict[str, str](), threading.Lock()

    def error(self, message: str, request: gr.Request | None) -> gr.Error:
        """The red message to raise, kept for `request`'s session."""
        if request is not None and request.session_hash:
            with self._lock:
                self._messages[request.session_hash] = message
                while len(self._messages) > self.capacity:
                    self._messages.popitem(last=False)
        return gr.Error(message, duration=None, print_exception=False)  # stays until closed: the summary may be out of view from the button

    def pop(self, request: gr.Request | None) -> str | None:
        with self._lock:
            return self._messages.pop(request.session_hash, None) if request is not None and request.session_hash else None


def keep_example_copies(examples: gr.Examples, component: gr.components.Component) -> set[str]:
    """Exempt the temp-folder copies of the example files from Gradio's cache sweep, for the life of the server.

    Gradio copies example files once, at start-up, and hands out those same copies at every click.
    It exempts them from `delete_cache` only for components that show examples as files, not for
    gr.File (listed by name): after --cache-age every example click failed with "file not found".
    The copies keep the repository's mode (0644); kept, they are made the app's user's alone, as
    everything else it writes there. Returns the paths kept.
    """
    kept = {
        item["path"]
        for example in examples.non_none_processed_examples.values()
        for value in example
        for item in (value if isinstance(value, list) else [value])
        if isinstance(item, dict) and item.get("path")
    }
    component.keep_in_cache.update(kept)
    for path in kept:
        if Path(path).resolve().is_relative_to(TEMP_DIR.resolve()):  # never the repository's own files
            os.chmod(path, 0o600)
    return kept


def build_demo(model: ClearVision, cache_age: float, results_dir: Path = RESULTS_DIR) -> gr.Blocks:
    """The whole page; handlers are closures over the one model runner and keep no state of their own.

    `results_dir`: where runs write their files (one sub-folder each), inside the temp folder.
    """
    sequences = example_sequences(EXAMPLES_DIR)
    kept = housekeeping.kept_for(cache_age)
    expired = (f"These results have expired: this app keeps results for {kept} after a run. Run again to get them back "
               "(upload the frames again if the run says they have expired too).")
    expiry_check = min(EXPIRY_CHECK_SECONDS, cache_age / 4)  # the view goes before its files can
    runner = ModelRunner(model, warm_up=next(iter(sequences.values()), ()))

    last_errors = LastErrors(SESSION_CAPACITY)

    def remove_clouds(frames: list[str] | None, dates: str = "", order: str = "", fill_threshold: float | None = None,
                      progress: gr.Progress = gr.Progress(), request: gr.Request | None = None) -> tuple:
        """Remove clouds from 2 to 10 frames of one place; returns a summary and a zip of cloud-free PNGs, masks and report.json.

        `fill_threshold`: within the slider's range; None (an API caller's) keeps the calibrated default.
        """
        if fill_threshold is not None and (problem := options.outside("Fill threshold", fill_threshold, *FILL_THRESHOLDS)):
            raise last_errors.error(f"{problem} (default {model.config.fill_threshold:g}, calibrated on places the detector never saw)", request)
        try:
            check_still_there(frames, kept)
            summary, files, warnings = process(runner, frames, dates, order, results_dir, lambda f, step: progress(f, desc=step), fill_threshold)
        except ValueError as error:
            raise last_errors.error(str(error), request) from None
        run = f"Run of {len(files.before)} frames from {Path(files.before[0]).name.removesuffix('_input.png')}"  # the first in time
        for warning in warnings:  # a toast outlives its run (and a toast's title is its kind): it names the run
            gr.Warning(f"{run}: {warning}")
        return summary, files.archive, files

    def show(files: RunFiles) -> tuple:
        """Galleries, the frame slider and the first before/after pair: the page's view of a finished run."""
        slider = gr.Slider(maximum=len(files.before), value=files.shown + 1, interactive=True)
        return list(files.overlays), list(files.clears), slider, files.pair(files.shown), gr.Timer(active=True)

    def cleared(message: str) -> tuple:
        """The results view emptied (summary, download, run files, galleries, slider, pair, expiry timer
        stopped): after a failed run, a new upload or expiry, nothing on it may pass for results."""
        return message, None, None, [], [], gr.Slider(value=1, interactive=False), None, gr.Timer(active=False)

    def expire(files: RunFiles | None) -> tuple:
        """The view emptied with a note once its files are due to be pruned (checked while results
        show): the zip link would answer 403 and the frame slider would show nothing."""
        if files is not None and files.seconds_left(cache_age) > expiry_check:
            return tuple(gr.skip() for _ in range(8))
        return cleared(expired)

    def failed(request: gr.Request | None = None) -> tuple:
        """The results view emptied after a failed run, its summary saying why: the toast is closed in time."""
        message = last_errors.pop(request)
        return cleared(FAILED.format(message=UNEXPECTED if message is None else markdown_text(message)))

    def compare(frame: float | None, files: RunFiles | None) -> tuple:
        """Before/after pair for the frame the slider points at (1-based), and the slider's value where
        it changes: a number typed past the first or last frame shows that frame, one between frames
        the nearest, and a note says so.
        An emptied box (a number being typed) changes nothing."""
        if files is None:  # the slider is live only while results show: Gradio dropped them at the cache age
            raise gr.Error(expired, print_exception=False)
        if not isinstance(frame, (int, float)) or not math.isfinite(frame):
            return gr.skip(), gr.skip()
        whole = math.floor(frame + 0.5)  # 2.5 is frame 3, as a person rounds
        index = files.nearest(whole - 1)
        pair = files.pair(index)
        if not Path(pair[1]).is_file():
            raise gr.Error(expired, print_exception=False)
        problems = [f"Frame to compare: {frame:g} is not a whole frame number"] if whole != frame else []
        if problem := options.outside("Frame to compare", frame, 1, len(files.before)):
            problems.append(problem.removeprefix("Frame to compare: ") if problems else problem)
        if not problems:
            return pair, gr.skip()
        gr.Warning(f"{'; '.join(problems)}; showing frame {index + 1}")
        return pair, index + 1

    def threshold_left(value: object) -> float | dict:
        """The fill threshold box as left (its `release` carries the value before the box clamps it): a value
        out of range is named with the range and what the box now holds, never clamped silently."""
        low, high = FILL_THRESHOLDS
        if not isinstance(value, (int, float)) or math.isnan(value):  # an emptied box, which would take the minimum
            gr.Warning(f"Fill threshold: the box was left empty; its range is {low:g} to {high:g}; set to the default, {model.config.fill_threshold:g}")
            return model.config.fill_threshold
        if (problem := options.outside("Fill threshold", value, low, high)) is None:
            return gr.skip()
        now = min(max(value, low), high)  # what the box itself clamps to
        gr.Warning(f"{problem}; set to {now:g}, the nearest in range")
        return now

    def uploaded(files: list[str] | None, before: list[str]) -> tuple:
        """`sort_uploads` of the frames box after a drop (Gradio adds it to `before`, the files there
        until now): the files, the order list, the notes, and the files for the next drop's `before`."""
        ordered, order_list, notes = sort_uploads(files, before)
        return ordered, order_list, notes, ordered or []

    def listing(files: list[str] | None) -> tuple:
        """The order list and the next drop's `before`, after files were removed or an example loaded."""
        return frame_order_list(files), files or []

    def notify(notes: list[str]) -> None:
        """Warn of what `sort_uploads` noted: in a queued event of its own, as only queued events
        show warnings and the upload's list must fill at once."""
        for note in notes:
            gr.Warning(note)

    with gr.Blocks(title="Clear Vision", delete_cache=(min(cache_age, 3600), cache_age)) as demo:
        run_files = gr.State(None, time_to_live=cache_age)
        not_added = gr.State([])  # notes on the last upload: files left out, too many frames
        listed = gr.State([])  # the files in the frames box, to tell a drop from what was there
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                frames = gr.File(label=f"Frames ({APP_MIN_FRAMES} to {APP_MAX_FRAMES} images, or GeoTIFFs of {APP_MIN_FRAMES} to {APP_MAX_FRAMES} dates)", file_count="multiple",
                                 file_types=list(IMAGE_SUFFIXES), elem_id="frames", height=220)
                order = gr.Textbox(label="Frame order (first at top)", value="", lines=5, max_lines=APP_MAX_FRAMES + 2, elem_id="order",
                                   info="One frame per line: its file name (GeoTIFFs with one file per band: the date's name, the part its band "
                                        "files share). Delete a line to leave that frame out. Dated frames stay in time order, unless you type dates.")
                dates = gr.Textbox(label="Dates (optional)", value="", placeholder="2021-05-10, 2021-05-15, ...", elem_id="dates",
                                   info="One per frame in the order above, separated by commas, semicolons or spaces, e.g. 2021-05-10, 2021-05-15. "
                                        "Empty: read from file names.")
                fill_threshold = gr.Slider(*FILL_THRESHOLDS, value=model.config.fill_threshold, step=0.05, label="Fill threshold", elem_id="fill_threshold",
                                           info=f"Stage 1 probability from which pixels are replaced, {FILL_THRESHOLDS[0]:g} to {FILL_THRESHOLDS[1]:g} (default {model.config.fill_threshold:g}, calibrated "
                                                "on places the detector never saw). Raise it, say to 0.4, to keep more of your clear ground as it "
                                                "is, at the cost of missing more thin cloud and shadow.")
                # Handed to remove_clouds as sent, which checks it (`outside`). On this instance, which no event
                # replaces: a gr.Slider subclass would make Gradio write a stub, app.pyi, beside this file.
                fill_threshold.preprocess = lambda value: value
                run = gr.Button("Remove clouds", variant="primary", elem_id="run")
                examples = gr.Examples(examples=[[paths, ""] for paths in sequences.values()], example_labels=list(sequences),
                                       inputs=[frames, dates], label="Examples: real Sentinel-2 sequences (one click loads and runs)",
                                       elem_id="examples", cache_examples=False)
                keep_example_copies(examples, frames)
                gr.Markdown(CREDIT, elem_id="credit")
            with gr.Column(scale=3, min_width=360):
                summary = gr.Markdown(NO_RESULTS, label="summary", elem_id="summary")
                overlay_gallery = gr.Gallery(label="Input frames, detected cloud and shadow in red", columns=5, format="png", elem_id="masks")
                clear_gallery = gr.Gallery(label="Cloud-free frames", columns=5, format="png", elem_id="clear")
                frame_choice = gr.Slider(1, APP_MAX_FRAMES, value=1, step=1, label="Frame to compare", interactive=False, elem_id="frame_choice")
                before_after = gr.ImageSlider(label="Before / after (drag the handle)", type="filepath", max_height=380, format="png",
                                              elem_id="compare")
                download = gr.File(label="All results: cloud-free PNGs, masks and report.json (GeoTIFF runs: also geotiff/, the cloud-free GeoTIFFs)", interactive=False, elem_id="download")
                expiry = gr.Timer(expiry_check, active=False)  # runs while results show

        # The API (/remove_clouds) returns the summary and the zip; the page then shows the galleries from the same files.
        ran, shown = [summary, download, run_files], [overlay_gallery, clear_gallery, frame_choice, before_after, expiry]
        frames.upload(uploaded, [frames, listed], [frames, order, not_added, listed], queue=False, api_visibility="private").then(
            notify, not_added, None, show_progress="hidden", api_visibility="private")
        # A new drop, emptying the box or an example: the results view no longer shows these frames' results.
        for changed in (frames.upload, frames.clear, examples.load_input_event.then):
            changed(lambda: cleared(NO_RESULTS), None, ran + shown, queue=False, api_visibility="private")
        for removal in (frames.delete, frames.clear):
            removal(listing, frames, [order, listed], queue=False, api_visibility="private")
        for started in (
            run.click(remove_clouds, [frames, dates, order, fill_threshold], ran, api_name="remove_clouds", concurrency_id="model"),
            examples.load_input_event.then(listing, frames, [order, listed], queue=False, api_visibility="private").then(
                remove_clouds, [frames, dates, order, fill_threshold], ran, concurrency_id="model", api_visibility="private"),
        ):
            started.success(show, run_files, shown, queue=False, api_visibility="private")
            started.failure(failed, None, ran + shown, queue=False, api_visibility="private")
        expiry.tick(expire, run_files, ran + shown, queue=False, show_progress="hidden", api_visibility="private")
        fill_threshold.release(threshold_left, fill_threshold, fill_threshold, preprocess=False, show_progress="hidden", api_visibility="private")
        for moved in (frame_choice.release, frame_choice.input):  # a drag, or a typed number / arrow keys
            moved(compare, [frame_choice, run_files], [before_after, frame_choice], preprocess=False, api_visibility="private")  # the number as sent
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Clear Vision web app")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    parser.add_argument("--port", type=options.port, default=7860, help="TCP port, 1 to 65535 (default 7860)")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a public share link (needs internet)")
    parser.add_argument("--device", type=options.device, metavar="{cpu,cuda}", help="cpu or cuda (default: cuda when available, else cpu)")
    parser.add_argument("--cache-age", type=options.cache_age, default=3600.0,
                        help=f"seconds uploads and results are kept, 1 to {options.MAX_CACHE_AGE} (default: one hour)")
    args = parser.parse_args(argv)
    try:
        server.check_can_listen(args.host, args.port)
        housekeeping.private_temp_dir(TEMP_DIR)
        model = ClearVision.load(device=args.device)
    except (PermissionError, ValueError, WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.umask(0o077)  # every file and folder the app writes is its user's alone
    demo = build_demo(model, args.cache_age)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=MODEL_CONCURRENCY)
    # What Gradio itself never deletes (the example copies): another app's sweep must spare it too.
    registered = housekeeping.register_instance(TEMP_DIR, args.cache_age, keep=[path for block in demo.blocks.values() for path in getattr(block, "keep_in_cache", ())])
    housekeeping.start_pruning(TEMP_DIR, RESULTS_DIR, args.cache_age)  # a first sweep now: what apps that were killed left
    server.install()
    try:
        _, local_url, share_url = demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=f"{GRADIO_MAX_FILE_MB}mb",
                                              allowed_paths=[str(EXAMPLES_DIR)], state_session_capacity=SESSION_CAPACITY, css=CSS,
                                              prevent_thread_lock=True, quiet=True)
    except OSError:  # the port was taken while the model loaded
        print(f"error: port {args.port} is in use on {args.host}; pick another with --port", file=sys.stderr)
        return 2
    print(f"Clear Vision is running at {local_url} (model on {model.device.type})", flush=True)
    if args.share:
        print(f"Public share link: {share_url}" if share_url else "--share: no public link could be created (no internet access, or "
              f"Gradio's share server is unreachable; the frpc advice above does not help offline). Served locally only, at {local_url}", flush=True)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        housekeeping.prune_temp_dir(TEMP_DIR, RESULTS_DIR, args.cache_age, upload_idle=0)  # no upload outlives the server
        registered.unlink(missing_ok=True)  # this app's entry in the register; a killed app's goes at the next sweep of another
    return 0


if __name__ == "__main__":
    sys.exit(main())
