"""One request from uploads to result files: check, decode, run the model on its own thread, write.

Everything a user can get wrong is refused with a one-line ValueError before the model runs;
the page and the API turn it into a red message.
"""

from __future__ import annotations

import contextvars
import copy
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..geo.uploads import add_geotiffs_to_zip, render_geotiff_frames
from ..io.decode import load_frames, parse_dates
from ..io.outputs import build_report, cover_text, output_names
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

    def run(self, images: np.ndarray, dates: list[str] | None, progress: Progress, model: ClearVision | None = None) -> CloudRemovalOutput:
        """`ClearVision.run` of `model` (default: the loaded one; `with_fill_threshold` gives a variant
        that shares its networks) on the model thread; the caller's context (Gradio's request,
        for progress) goes along."""
        context = contextvars.copy_context()
        return self._thread.submit(context.run, self._run_and_release, model or self.model, images, dates, progress).result()

    def with_fill_threshold(self, threshold: float | None) -> ClearVision:
        """The loaded model, or a copy sharing its networks that replaces pixels from `threshold` up.

        None keeps the bundle's calibrated threshold; anything else must be a probability in (0, 1].
        """
        default = self.model.config.fill_threshold
        if threshold is None or threshold == default:
            return self.model
        variant = copy.copy(self.model)
        try:  # the bundle's config checks the value; the app says it in its own words
            variant.config = self.model.config.replace(fill_threshold=threshold)
        except ValueError:
            raise ValueError(f"fill threshold: {threshold!r} is not a probability in (0, 1]; the default {default:g} was calibrated on places the detector never saw") from None
        return variant

    @staticmethod
    def _run_and_release(model: ClearVision, images: np.ndarray, dates: list[str] | None, progress: Progress) -> CloudRemovalOutput:
        try:
            return model.run(images, dates=dates, progress=progress)
        finally:
            release_heap()


_PACKAGE = Path(__file__).resolve().parents[1]  # clear_vision: warnings raised from its code are the user's to see


def process(
    runner: ModelRunner,
    files: list[str] | None,
    dates: str,
    order: str,
    results_dir: Path,
    progress: Progress,
    fill_threshold: float | None = None,
) -> tuple[str, RunFiles, list[str]]:
    """(summary in Markdown, the run's files, warnings) for one request; ValueError for bad input.

    GeoTIFF uploads run as the 8-bit RGB the networks see, and their cloud-free GeoTIFFs (every
    band, in the input's units; the same frames, order and dates) join the zip. `fill_threshold`: see `ModelRunner.with_fill_threshold`.
    """
    started = time.perf_counter()
    model = runner.with_fill_threshold(fill_threshold)
    frames = order_frames(files, order)
    stems = [frame.stem for frame in frames]
    output_names(stems)  # refuses two frames whose outputs would share a name
    date_list, date_note = dates_for(dates, frames)
    parse_dates(date_list, len(frames))  # the library's check, before any GeoTIFF is read whole
    cube_notes: list[str] = []
    if frames[0].kind == "picture":
        paths, cube = [frame.files[0] for frame in frames], None
    else:  # the cube of exactly these frames, in this order, with these dates
        with warnings.catch_warnings(record=True) as caught:  # the library's notes on the files (typed dates that differ from theirs, say): for the page, not the server log
            warnings.simplefilter("always")
            paths, cube = render_geotiff_frames(model, frames, date_list, results_dir)
        cube_notes = list(dict.fromkeys(str(note.message) for note in caught if Path(note.filename).resolve().is_relative_to(_PACKAGE)))
    check_size(paths)  # before decoding: what the app cannot do in reasonable time is refused from the headers
    images = load_frames(paths)
    result = runner.run(images, date_list, progress, model)
    device = model.device.type
    report = build_report(result, stems, date_list, device=device, fill_threshold=model.config.fill_threshold)
    report.update(dates_source=date_note)  # with the fill threshold, enough to rerun it from the zip alone
    files_out = write_run(result, images, [frame.name for frame in frames], report, results_dir / uuid.uuid4().hex)
    height, width = images.shape[1:3]
    summary = [
        f"**Done in {time.perf_counter() - started:.1f} s** on {device}: {len(paths)} frames of "
        f"{height}x{width} px (rows x columns), mean cloud cover {cover_text(result.masks, result.mask_class)} of the pixels with data; {date_note}"
        f"{'' if model is runner.model else f'; fill threshold {model.config.fill_threshold:g}'}.",
        *(f"- Warning: {warning}" for warning in (*cube_notes, *result.warnings)),
    ]
    if cube is not None:
        add_geotiffs_to_zip(model, cube, result, files_out.archive)
        summary.append("The zip also holds the cloud-free and mask GeoTIFFs of these frames and dates (`geotiff/`: all bands, in the input's units).")
    return "\n\n".join(summary), files_out, [*cube_notes, *result.warnings]
