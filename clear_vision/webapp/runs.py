"""One request from uploads to result files: check, decode, run the model on its own thread, write.

Everything a user can get wrong is refused with a one-line ValueError before the model runs;
the page and the API turn it into a red message.
"""

from __future__ import annotations

import contextvars
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..geo.uploads import add_geotiffs_to_zip, render_geotiff_uploads
from ..io.decode import load_frames
from ..io.outputs import build_report, output_names
from ..pipeline import ClearVision, CloudRemovalOutput
from .housekeeping import release_heap
from .results import RunFiles, write_run
from .uploads import check_size, dates_for, order_frames

__all__ = ["ModelRunner", "process"]

Progress = Callable[[float, str], None]


class ModelRunner:
    """The one loaded model, run on one long-lived thread.

    torch keeps ~100 MB of caches per thread that runs it, so letting Gradio's pool of up to 40
    worker threads run the model grows memory. The first run pays ~2 s of kernel set-up: a
    warm-up sequence pays it before any visitor does.
    """

    def __init__(self, model: ClearVision, warm_up: Sequence[str] = ()) -> None:
        self.model = model
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clear-vision-model")
        if warm_up:
            self._thread.submit(self._quietly, list(warm_up))

    def _quietly(self, frames: list[str]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.run(frames)

    def run(self, images: np.ndarray, dates: list[str] | None, progress: Progress) -> CloudRemovalOutput:
        """`ClearVision.run` on the model thread; the caller's context (Gradio's request, for progress) goes along."""
        context = contextvars.copy_context()
        return self._thread.submit(context.run, self._run_and_release, images, dates, progress).result()

    def _run_and_release(self, images: np.ndarray, dates: list[str] | None, progress: Progress) -> CloudRemovalOutput:
        try:
            return self.model.run(images, dates=dates, progress=progress)
        finally:
            release_heap()


def process(
    runner: ModelRunner, files: list[str] | None, dates: str, order: str, results_dir: Path, progress: Progress
) -> tuple[str, RunFiles, list[str]]:
    """(summary in Markdown, the run's files, warnings) for one request; ValueError for bad input.

    GeoTIFF uploads run as the 8-bit RGB the networks see, and their cloud-free GeoTIFFs (every
    band, in the input's units) join the zip.
    """
    started = time.perf_counter()
    files, cube = render_geotiff_uploads(runner.model, files, results_dir)
    paths = order_frames(files, order)
    stems = [path.stem for path in paths]
    output_names(stems)  # refuses two frames whose outputs would share a name
    check_size(paths)  # before decoding: what the app cannot do in reasonable time is refused from the headers
    date_list, date_note = dates_for(dates, paths)
    images = load_frames(paths)
    result = runner.run(images, date_list, progress)
    device = runner.model.device.type
    report = build_report(result, stems, date_list, device=device)
    files_out = write_run(result, images, [path.name for path in paths], report, results_dir / uuid.uuid4().hex)
    height, width = images.shape[1:3]
    summary = [
        f"**Done in {time.perf_counter() - started:.1f} s** on {device}: {len(paths)} frames of "
        f"{width}x{height} px, mean cloud cover {result.cloud_cover.mean():.0%}; {date_note}.",
        *(f"- Warning: {warning}" for warning in result.warnings),
    ]
    if cube is not None:
        add_geotiffs_to_zip(runner.model, cube, files_out.archive)
        summary.append("The zip also holds the cloud-free and mask GeoTIFFs of every date (`geotiff/`: all bands, in the input's units).")
    return "\n\n".join(summary), files_out, list(result.warnings)
