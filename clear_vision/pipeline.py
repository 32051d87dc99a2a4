"""The Clear Vision pipeline: decode -> detect (stage 1) -> fill (stage 2) -> compose.

    cv = ClearVision.load()              # weights from model_dict/, CUDA if available
    result = cv.run(frames, dates=None)  # CloudRemovalOutput
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Sequence, get_args

import numpy as np
import torch

from .config import CONFIG_NAME, DEFAULT_WEIGHTS_DIR, ClearVisionConfig
from .detection.detector import CloudDetector
from .detection.masks import NEIGHBOURHOOD_PX, NO_DATA, detected_masks, fill_masks, mask_classes
from .detection.reference import NEIGHBOURS, detector_inputs, shows_one_place, spread_into_no_data, temporal_reference, whiteness_test
from .filling.classical import CLASSICAL_FILLERS, interpolate_from_other_dates
from .filling.compose import compose
from .filling.filler import CORRECTED_FROM_HIDDEN, TemporalFiller
from .io.decode import MAX_TILES, DateLike, FrameInput, collected_notes, frame_dates, input_notes, is_single_image, load_frames, load_images, no_data_pixels, parse_dates, validate_masks
from .tiling import Window, chunk_windows, filling_windows, map_chunks, run_tiled
from .weights import load_network, read_header, save_weights

if TYPE_CHECKING:  # xarray loads only when a cube is used
    import xarray

__all__ = ["ClearVision", "CloudRemovalOutput", "Method", "Precision", "resolve_device"]

Method = Literal["learned", "linear", "nearest", "affine", "whittaker", "blend"]
# Stage 1's network arithmetic: "auto" is bfloat16 on a CPU that computes it natively (AVX512-BF16
# or AMX: the detector network 2.4x faster, `run` 1.3x on 10x128x128), else float32. The filler
# stays float32: under autocast it ran slower, not faster.
Precision = Literal["auto", "float32", "bfloat16"]
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, description: str) -> None:
    """Default progress callback: report nothing."""


_DETECT_PIXELS = 10 * 128 * 128 * 8  # frame pixels per detector call: bounds memory on large scenes
# Frames are detected with a reflected margin: at a bare border the network sees only its own
# zero padding, and clear corners reached cloud probabilities of 0.3..0.4 (0.1..0.2 with it).
_DETECT_MARGIN_PX = 16
# Detector tiles up to this size: a chunk with its halo and margin (672 px) in 2x2 tiles, not 3x3
# of 256 px (`run_tiled`); about 15 % faster on a CPU, and a chunk's peak memory was no higher.
_DETECT_TILE_PX = 352
_DETECT_BLOCK_FRAMES = 256  # `detect` on more frames (a scene's tiles) goes block by block


@dataclass(frozen=True, eq=False)  # compared by identity: == on arrays has no single truth value
class CloudRemovalOutput:
    """Result of `ClearVision.run` / `ClearVision.fill`.

    Attributes:
        frames: (T,H,W,3) uint8 cloud-free frames; pixels outside `masks` equal the input.
        masks: (T,H,W) bool, the pixels replaced: cloud and cloud shadow (stage 1 probability
            at or above the fill threshold, cleaned and grown by the buffer), or the masks given to
            `fill`; no data (pure black, or transparent) in both.
        probability: (T,H,W) float32 in [0,1], stage 1 cloud/shadow probability, 1 where the
            whiteness test or no data (pure black) says so (`fill`: the mask); float16 for
            scenes run chunk by chunk (over 575 px a side), where float32 would be the largest array.
        mask_class: (T,H,W) uint8, what each pixel is: 0 clear, 1 cloud (also a date masked whole), 2 cloud
            shadow (detected, and its buffer), 255 no data.
        unfilled: (T,H,W) bool, masked pixels left as they were: no date was clear there (a
            read-only view of the (H,W) pixels masked on every date).
        cloud_cover: (T,) float, fraction of each frame that is masked, no data included (the
            command line and the app say the cover among the pixels with data: `io.outputs.cover_text`).
        seconds: wall time of the call.
        method: the stage 2 filler used.
        warnings: human-readable notes (e.g. no clear observation to fill from); returned, not raised.
    """

    frames: np.ndarray
    masks: np.ndarray
    probability: np.ndarray
    mask_class: np.ndarray
    unfilled: np.ndarray
    cloud_cover: np.ndarray
    seconds: float
    method: str
    warnings: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        """Shapes and the per-frame cover, not the arrays (a notebook cell shows this)."""
        from .io.outputs import percent  # the writers import this module

        cover = ", ".join(percent(float(value)) for value in self.cloud_cover[:12]) + (", ..." if len(self.cloud_cover) > 12 else "")
        return (
            f"CloudRemovalOutput(frames={self.frames.shape} {self.frames.dtype}, method={self.method!r}, cloud_cover=[{cover}], "
            f"seconds={self.seconds:.2f}, warnings={len(self.warnings)})"
        )


def _decoded(frames: np.ndarray | Sequence[FrameInput], dates: Sequence[DateLike] | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Step 1, decode + validate: the (T,H,W,3) uint8 frames, their days, and the notes the
    decoders and the date parser make on them (a day-of-year series turning a year, one date
    for every frame), returned with the result's other warnings instead of raised."""
    with collected_notes() as notes:
        images = load_frames(frames)
        days = parse_dates(frame_dates(frames, dates), len(images))
    return images, days, tuple(dict.fromkeys(notes))


@dataclass(frozen=True)
class _Detection:
    """Stage 1's per-pixel probabilities of cloud and of shadow, and where there is no data."""

    cloud: np.ndarray
    shadow: np.ndarray
    no_data: np.ndarray
    one_place: bool = True  # whether the frames look like one place's series (`shows_one_place`)

    @cached_property
    def probability(self) -> np.ndarray:
        """Cloud or shadow, whichever is likelier: what the masks are cut from (computed once)."""
        return np.maximum(self.cloud, self.shadow)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None picks CUDA when available, else CPU; asking for an absent CUDA is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: {device!r} is not a device; use 'cpu', 'cuda' or None (automatic)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was requested but no CUDA GPU is available; use 'cpu' or None (automatic)")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device: {device!r} is not supported; use 'cpu', 'cuda' or None (automatic)")
    return resolved


def _load_cuda_linear_algebra(device: torch.device) -> None:
    """Load torch's lazily linked CUDA solvers from this thread: the first `torch.linalg` call made
    from several threads at once fails ("lazy wrapper should be called at most once",
    pytorch/pytorch#90613), and Dask runs chunks, and so the colour matches' solves, in threads."""
    identity = torch.eye(3, device=device)
    torch.linalg.solve(identity, identity)


@cache
def _native_cpu_bfloat16() -> bool:
    """Whether oneDNN computes bfloat16 natively on this CPU (emulated, it would be slower than float32)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class ClearVision:
    """Cloud removal for a time series of RGB frames of one place.

    Stage 1 has two operating points (`config.threshold`, `config.fill_threshold`): `detect`
    reports cloud at the balanced threshold; `run` replaces every pixel from the (lower) fill
    threshold up, because filling a clear pixel costs little and leaving a cloud edge in costs
    much. All settings live in the bundle's `ClearVisionConfig`; `save` / `load` round-trip it.
    """

    def __init__(
        self,
        detector: CloudDetector | None = None,
        filler: TemporalFiller | None = None,
        *,
        config: ClearVisionConfig | None = None,
        method: Method = "learned",
        device: torch.device | str = "cpu",
        precision: Precision = "auto",
    ) -> None:
        if method not in get_args(Method):
            raise ValueError(f"method: {method!r} is not one of {', '.join(get_args(Method))}")
        if precision not in get_args(Precision):
            raise ValueError(f"precision: {precision!r} is not one of {', '.join(get_args(Precision))}")
        if method == "learned" and filler is None:
            raise ValueError("method 'learned' needs a TemporalFiller")
        self.config = config if config is not None else ClearVisionConfig()
        self.device = torch.device(device)
        if self.device.type == "cuda":
            _load_cuda_linear_algebra(self.device)
        self.method = method
        self.precision = precision
        self.detector = detector.to(self.device).eval() if detector is not None else None
        self.filler = filler.to(self.device).eval() if filler is not None else None
        self._fast_detector = self.detector.fused() if self.detector is not None else None
        self._fast_filler = self.filler.inference_copy() if self.filler is not None else None
        self.training_records: dict[str, dict] = {}  # per role, what the weights file said about its training

    def __repr__(self) -> str:
        arithmetic = "bfloat16" if self.bfloat16 else "float32"
        return (
            f"ClearVision(method={self.method!r}, device={str(self.device)!r}, precision={self.precision!r} ({arithmetic} here), "
            f"threshold={self.config.threshold:g}, fill_threshold={self.config.fill_threshold:g})"
        )

    def __setstate__(self, state: dict) -> None:
        """Unpickled (once per Dask worker), a CUDA pipeline loads the solvers as `__init__` does."""
        self.__dict__.update(state)
        if self.device.type == "cuda":
            _load_cuda_linear_algebra(self.device)

    @property
    def bfloat16(self) -> bool:
        """Whether stage 1's network runs in bfloat16 here: resolved in each process (a pickled
        pipeline on a Dask worker looks at the worker's CPU), never for "auto" on CUDA."""
        if self.precision == "auto":
            return self.device.type == "cpu" and _native_cpu_bfloat16()
        return self.precision == "bfloat16"

    @property
    def config(self) -> ClearVisionConfig:
        """The bundle's settings; change them with `cv.config = cv.config.replace(fill_threshold=0.4)`."""
        return self._config

    @config.setter
    def config(self, config: ClearVisionConfig) -> None:
        if not isinstance(config, ClearVisionConfig):
            raise ValueError(f"config: a {type(config).__name__} is not a ClearVisionConfig; change settings with cv.config = cv.config.replace(fill_threshold=0.4)")
        self._config = config

    @property
    def threshold(self) -> float:
        return self.config.threshold

    @property
    def fill_threshold(self) -> float:
        return self.config.fill_threshold

    @classmethod
    def load(
        cls,
        weights_dir: str | Path | None = None,
        device: str | torch.device | None = None,
        method: Method = "learned",
        precision: Precision = "auto",
    ) -> "ClearVision":
        """Load a bundle: `clear_vision.json` and the weights it names (default: the project's model_dict/).

        Args:
            weights_dir: the bundle folder.
            device: "cpu", "cuda" or None (CUDA if available).
            method: stage 2 filler: "learned" (the temporal-attention network) or a classical
                comparison filler "linear", "nearest", "affine", "whittaker", "blend".
            precision: stage 1's network arithmetic: "auto" (bfloat16 on CPUs with native
                bfloat16, else float32), "float32" or "bfloat16".
        """
        if method not in get_args(Method):
            raise ValueError(f"method: {method!r} is not one of {', '.join(get_args(Method))}")
        resolved = resolve_device(device)
        folder = Path(weights_dir) if weights_dir is not None else DEFAULT_WEIGHTS_DIR
        if folder.name == CONFIG_NAME and folder.is_file():  # the bundle's own file given for its folder
            folder = folder.parent
        config = ClearVisionConfig.load(folder)
        detector = load_network("detector", config.detector, folder, resolved)
        filler = load_network("filler", config.filler, folder, resolved) if method == "learned" else None
        pipeline = cls(detector, filler, config=config, method=method, device=resolved, precision=precision)
        for role, network in (("detector", detector), ("filler", filler)):
            if network is not None:
                header = read_header(folder / getattr(config, role).file)
                pipeline.training_records[role] = {key: value for key, value in header.items() if key not in ("architecture", "config")}
        return pipeline

    def save(self, folder: str | Path) -> Path:
        """Write the bundle (networks as safetensors with their training records, `clear_vision.json`) to
        `folder`; `load` reads it back. A pipeline without a filler saves a bundle without one."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"save: {folder} is a file; give a folder (created if missing)")
        specs = {}
        for role, network in (("detector", self.detector), ("filler", self.filler)):
            if network is not None:
                specs[role] = save_weights(network, folder / f"{role}.safetensors", self.training_records.get(role))
        return self.config.replace(detector=specs.get("detector"), filler=specs.get("filler")).save(folder)

    # ---- public steps -------------------------------------------------------------------

    def detect(
        self,
        frames: FrameInput | Sequence[FrameInput],
        dates: DateLike | Sequence[DateLike] | None = None,
        *,
        series: bool | None = None,
        shadow: bool = False,
    ) -> np.ndarray | list[np.ndarray]:
        """Stage 1 only: (T,H,W) bool, what was detected as cloud, thick or thin (no fill buffer).

        `shadow=True` adds what was detected as cloud shadow: the masks to hand to `fill`. Cloud
        alone is the default because cloud masks are what cloud labels and benchmarks score;
        shadow detections lie on ground that such labels call clear. No data (pure black) is
        neither, so it is not reported; `run` masks and fills it.

        Frames of one place's time series are each judged against the others; unrelated images,
        such as the tiles of one scene, each on its own, as the detector was also trained to do
        (a single frame always is). `series=None` tells them apart (`reference.shows_one_place`:
        8 or more frames whose fine structure no other date repeats are unrelated); True or
        False says which they are. Up to
        MAX_TILES frames are accepted. One image given alone ((H,W,3) or (3,H,W), a PIL image,
        a path) gets its (H,W) mask; a list of images of different sizes (a scene's tiles with
        its edge tiles) cannot be a series: each is judged alone and the masks come as a list.
        `dates`: one per frame, as for `run`; they pick the dates nearest in time that make each
        frame's reference (without them, the frames' order). Notes on the frames (dark, without
        colour) are raised as warnings: the masks are all `detect` returns.
        """
        if not (series is None or isinstance(series, (bool, np.bool_))):
            raise ValueError(f"series: {series!r} is not True (a time series), False (unrelated images) or None (told apart from the frames)")
        if not isinstance(shadow, (bool, np.bool_)):
            raise ValueError(f"shadow: {shadow!r} is not True (cloud or cloud shadow) or False (cloud alone)")
        series, shadow = (None if series is None else bool(series)), bool(shadow)  # np.False_ is not False
        if is_single_image(frames):
            one_date = dates if dates is None or np.ndim(dates) else [dates]
            return self.detect([frames], one_date, shadow=shadow)[0]
        if isinstance(frames, Sequence):
            dates = frame_dates(frames, dates, in_order=False)  # a scene's tiles, say, need not run forward
            decoded = load_images(frames, MAX_TILES)
            if len({image.shape[:2] for image in decoded}) > 1:
                parse_dates(dates, len(decoded))  # checked, though images judged alone do not use them
                return [self.detect(image, shadow=shadow) for image in decoded]
            images = np.stack(decoded)
        else:
            images = load_frames(frames, min_frames=1, max_frames=MAX_TILES)
        days = parse_dates(dates, len(images))
        for note in input_notes(images):  # `run` returns them with its result; the masks are all `detect` returns
            warnings.warn(note, stacklevel=2)
        config = self.config

        def detect_frames(chunk: np.ndarray, chunk_days: np.ndarray) -> np.ndarray:
            detection = self._detect(chunk, chunk_days, alone_if_unrelated=series is None)
            probability = detection.probability if shadow else detection.cloud
            return detected_masks(np.where(detection.no_data, 0.0, probability), config.threshold, config.min_cloud_px)

        def detect_block(block: np.ndarray, block_days: np.ndarray) -> np.ndarray:
            if series is not False:
                return detect_frames(block, block_days)
            return np.concatenate([detect_frames(block[index : index + 1], block_days[index : index + 1]) for index in range(len(block))])

        def detect_chunk(chunk: np.ndarray) -> np.ndarray:
            # Many frames (a scene's tiles) go in blocks, so memory follows the block. In a series
            # each block also reads the NEIGHBOURS dates on either side: every frame's reference
            # comes from the same dates as in one pass (the nearest in time are the nearest in order).
            context = NEIGHBOURS if series is not False else 0
            detected = np.empty(chunk.shape[:3], dtype=bool)
            for start in range(0, len(chunk), _DETECT_BLOCK_FRAMES):
                stop = min(start + _DETECT_BLOCK_FRAMES, len(chunk))
                first, last = max(0, start - context), min(len(chunk), stop + context)
                detected[start:stop] = detect_block(chunk[first:last], days[first:last])[start - first : stop - first]
            return detected

        windows = chunk_windows(*images.shape[1:3])
        if len(windows) == 1:
            return detect_chunk(images)
        return map_chunks(lambda window: (detect_chunk(images[:, window.read[0], window.read[1]]),), windows, len(images))[0]

    def fill(
        self,
        frames: np.ndarray | Sequence[FrameInput],
        masks: np.ndarray,
        dates: Sequence[DateLike] | None = None,
        progress: Progress | None = None,
    ) -> CloudRemovalOutput:
        """Stage 2 only: replace the pixels where `masks` is True from the other dates.

        Args:
            frames: as for `run`.
            masks: (T,H,W) (or (T,1,H,W), (T,H,W,1)) bool, 0/1 or 0/255, numpy, torch or nested
                lists: True where a pixel is to be replaced. No data (pure black, or transparent)
                is replaced too and never used as a source, as in `run`.
            dates: as for `run`.
            progress: optional callback(fraction, description).
        """
        started = time.perf_counter()
        report = progress or _no_progress
        report(0.0, "decoding")
        images, days, notes = _decoded(frames, dates)
        masks = validate_masks(masks, images.shape[:3])
        return self._by_chunks(images, days, masks, started, report, notes)

    def run(
        self,
        frames: np.ndarray | Sequence[FrameInput],
        dates: Sequence[DateLike] | None = None,
        progress: Progress | None = None,
    ) -> CloudRemovalOutput:
        """The whole pipeline: detect clouds in every frame, then fill them from the other dates.

        Args:
            frames: (T,H,W,3) or (T,3,H,W) uint8 or float in [0,1] (numpy or a CPU torch tensor),
                or a list of arrays / PIL images / paths.
            dates: one date per frame (datetime.date, ISO string, day-of-year or days since a start;
                see `parse_dates`); None = the dates in the file names where every path has one
                (2021-05-10, 20210510), else equally spaced.
            progress: optional callback(fraction, description).
        """
        started = time.perf_counter()
        report = progress or _no_progress
        report(0.0, "decoding")
        images, days, notes = _decoded(frames, dates)  # 1. decode + validate
        return self._by_chunks(images, days, None, started, report, notes)

    # ---- steps ----------------------------------------------------------------------------

    def _by_chunks(
        self, images: np.ndarray, days: np.ndarray, masks: np.ndarray | None, started: float, report: Progress, notes: tuple[str, ...] = ()
    ) -> CloudRemovalOutput:
        """`run` (masks None) or `fill` on a scene of any size, in bounded memory.

        A scene of one chunk (up to 575 px a side) runs whole. A larger one runs chunk by chunk
        with a halo (`tiling.chunk_windows`), as the cube path does, so the colour match and the
        whole-frame rule see each chunk's frames; here (not on the cube path, see the README)
        the fills of neighbouring chunks are blended along their borders (`tiling.blend_borders`).
        Only the results are whole-scene arrays: the cloud-free frames are written over the
        decoded input (`images`, ours), and the probability comes back as float16: float32
        would make it the largest array of the result (670 MB for 10 frames of 4096x4096), and
        float16 resolves it to 0.0005.
        """
        inputs = (*notes, *input_notes(images))  # before the chunks' results overwrite `images`
        windows = chunk_windows(*images.shape[1:3])
        if len(windows) == 1:
            result = self.process_chunk(images, days, masks, started, report)
        else:

            def one(window: Window) -> tuple[np.ndarray, ...]:
                rows, cols = window.read
                piece = self.process_chunk(images[:, rows, cols], days, None if masks is None else masks[:, rows, cols], started)
                return piece.frames, piece.masks, piece.probability.astype(np.float16), piece.mask_class

            def done(index: int) -> None:
                report(0.05 + 0.95 * (index + 1) / len(windows), f"chunk {index + 1} of {len(windows)}")

            report(0.05, f"{len(windows)} chunks")
            output, replaced, probability, classes = map_chunks(one, windows, len(images), done, into=images, blend_where=1)  # images: load_frames' own copy
            result = self._result(output, replaced, probability, classes, started)
        # notes on the whole scene, made once here (not per chunk, whose notes the cube path drops)
        whole = self._partly_detected_whole_frames_note(result.masks, result.probability, result.mask_class)
        every = (*inputs, *result.warnings, whole)
        return replace(result, warnings=tuple(note for note in every if note)) if inputs or whole else result

    def process_chunk(
        self, images: np.ndarray, days: np.ndarray, masks: np.ndarray | None = None, started: float | None = None, report: Progress = _no_progress
    ) -> CloudRemovalOutput:
        """The whole pipeline on frames processed in one piece: `run` (masks None) or `fill`.

        `run` and `fill` call it on each chunk of a large scene, the cube path on each chunk of
        a cube; images (T,H,W,3) uint8 and days as `parse_dates` gives them.
        """
        started = time.perf_counter() if started is None else started
        if masks is None:
            report(0.1, "detecting clouds")
            detection = self._detect(images, days)  # 2. detect
            config = self.config
            masks = fill_masks(detection.probability, config.threshold, config.fill_threshold, config.min_cloud_px, config.full_cover, config.mask_buffer_px,
                               detection.no_data, images, days)
        else:
            given = masks.astype(np.float32)
            detection = _Detection(given, np.zeros_like(given), no_data_pixels(images))
            masks = masks | detection.no_data  # no data is never a source: filled, as run fills it
        report(0.5, "filling cloudy pixels")
        clear_somewhere = (~masks).any(axis=0)
        if not clear_somewhere.any() or not masks.any():
            output = images.copy()
        else:
            prediction = self._predict(images, masks, days)  # 3. fill
            output = compose(images, prediction, masks & clear_somewhere[None])  # 4. compose
        report(1.0, "done")
        detected = (detection.probability >= self.config.fill_threshold) & ~detection.no_data
        classes = mask_classes(masks, detection.cloud, detection.shadow, detection.no_data, detected, self.config.mask_buffer_px)
        result = self._result(output, masks, detection.probability, classes, started)
        if detection.one_place:
            return result
        unrelated = (
            f"the {len(images)} frames do not look like one place's time series (no frame's fine structure repeats on the other dates), "
            "so their fills come from other places; for separate images use detect(frames), which then judges each alone"
        )
        return replace(result, warnings=(*result.warnings, unrelated))

    def _result(self, output: np.ndarray, masks: np.ndarray, probability: np.ndarray, classes: np.ndarray, started: float) -> CloudRemovalOutput:
        """The result, with `unfilled` (a view: the pixels masked on every date) and its warnings."""
        cloudy_everywhere = masks.all(axis=0)
        notes = []
        if (classes == NO_DATA).all():
            notes.append("no pixel of any frame has data (pure black, or transparent): nothing to detect or fill, input returned unchanged")
        elif cloudy_everywhere.all():
            notes.append("every pixel is cloudy in every frame: no clear observation to fill from, input returned unchanged")
        elif cloudy_everywhere.any():  # counted apart, as the cube path's report counts only the first (an HLS upload: 27 against 1,100)
            empty = cloudy_everywhere & (classes == NO_DATA).all(axis=0)
            cloudy, without = int((cloudy_everywhere & ~empty).sum()), int(empty.sum())
            parts = [f"{cloudy} pixel(s) have no clear date (cloud or shadow on every date with data)"] if cloudy else []
            parts += [f"{without} pixel(s) have no data on any date"] if without else []
            notes.append(f"{' and '.join(parts)}: left as they are")
        return CloudRemovalOutput(
            frames=output,
            masks=masks,
            probability=probability,
            mask_class=classes,
            unfilled=np.broadcast_to(cloudy_everywhere, masks.shape),
            cloud_cover=masks.mean(axis=(1, 2)),
            seconds=time.perf_counter() - started,
            method=self.method,
            warnings=tuple(notes),
        )

    def _partly_detected_whole_frames_note(self, masks: np.ndarray, probability: np.ndarray, classes: np.ndarray) -> str | None:
        """A note naming the frames `run` replaced whole of which stage 1 detected under 90 %: the
        whole-frame rules' doing, which a user reading "100 %" for a half-clear date cannot guess
        (on the bundled romania_2019_summer, frames 6 and 7: 37 and 62 % detected)."""
        with_data = classes != NO_DATA
        data_pixels = with_data.sum(axis=(1, 2))
        whole = (masks | ~with_data).all(axis=(1, 2)) & (data_pixels > 0)
        detected = ((probability >= self.config.fill_threshold) & with_data).sum(axis=(1, 2)) / np.maximum(data_pixels, 1)
        partly = np.flatnonzero(whole & (detected < 0.9))
        if not len(partly):
            return None
        listed = ", ".join(f"{index + 1} ({detected[index]:.0%} detected)" for index in partly)
        near_top = self.config.fill_threshold >= 0.9  # no advice a user cannot follow (the web app's top is 0.95)
        advice = "" if near_top else f"; a higher fill threshold (now {self.config.fill_threshold:g}) keeps more of such frames"
        return (
            f"frame(s) {listed} (counting from 1) replaced whole: a frame {self.config.full_cover:.0%} or more detected, or partly detected "
            f"with a hazy rest, is taken as cloudy all over (on frames over {NEIGHBOURHOOD_PX} px, each {NEIGHBOURHOOD_PX} px square around a pixel is judged)"
            + advice
        )

    @torch.inference_mode()
    def _detect(self, images: np.ndarray, days: np.ndarray, alone_if_unrelated: bool = False) -> _Detection:
        """(T,H,W,3) uint8 -> cloud and shadow probabilities, (T,H,W) float32 each.

        The temporal detector sees each frame with its reference from the other dates; with
        `alone_if_unrelated`, frames that do not show one place (`shows_one_place`, reported as
        `one_place`: `run` warns) see none, as a single frame does. Thick
        cloud cores (the whiteness test) are set to cloud unless the reference is just as white
        there (snow or bright ground that stays); pure black (no data) is never a clear observation,
        and the network sees it continued from the nearest pixels with data, not as a black edge.
        Dates without any data (a daily grid's days between acquisitions) are left out: each
        frame's reference comes from the nearest dates that show something.
        """
        if self.detector is None:
            raise ValueError("this ClearVision has no cloud detector; use fill() with masks, or ClearVision.load()")
        no_data = no_data_pixels(images)
        has_data = ~no_data.all(axis=(1, 2))
        if has_data.any() and not has_data.all():
            observed = self._detect(images[has_data], days[has_data], alone_if_unrelated)
            cloud, shadow = np.ones(images.shape[:3], np.float32), np.zeros(images.shape[:3], np.float32)
            cloud[has_data], shadow[has_data] = observed.cloud, observed.shadow
            return _Detection(cloud, shadow, no_data, observed.one_place)
        temporal = self.detector.in_channels == 7
        cloud, shadow = np.empty(images.shape[:3], np.float32), np.empty(images.shape[:3], np.float32)
        white = whiteness_test(images)
        forced = white.copy()
        per_call = max(1, _DETECT_PIXELS // (images.shape[1] * images.shape[2]))
        margin = slice(_DETECT_MARGIN_PX, -_DETECT_MARGIN_PX)
        one_place = True
        if temporal:  # all at once: each call reads every date, so per batch it would be repeated
            references, valid = temporal_reference(images, days, white=white)
            reference_white = whiteness_test(references)
            one_place = shows_one_place(images, references, valid, white, reference_white)
            if alone_if_unrelated and not one_place:
                references, valid = np.zeros_like(references), np.zeros_like(valid)
            forced &= ~(valid & reference_white)
        for start in range(0, len(images), per_call):
            batch = slice(start, min(start + per_call, len(images)))
            parts = [images[batch], references[batch], valid[batch]] if temporal else [images[batch], None, None]
            # no data continued from the nearest pixels with data, then the reflected margin, in 8 bits
            parts = [None if part is None else np.pad(part, ((0, 0), *[(_DETECT_MARGIN_PX,) * 2] * 2, *[(0, 0)] * (part.ndim - 3)), mode="reflect")
                     for part in spread_into_no_data(parts, no_data[batch])]
            inputs = detector_inputs(*parts, self.config.preprocessing).to(self.device)
            logits = run_tiled(self._detector_logits, inputs, self.detector.size_multiple, tile=_DETECT_TILE_PX)[..., margin, margin]
            logits[:, 1] += self.config.shadow_logit_offset  # shadow probabilities on the cloud's scale
            probability = torch.sigmoid(logits).cpu().numpy()
            cloud[batch], shadow[batch] = probability[:, 0], probability[:, 1]
        cloud[forced | no_data] = 1.0  # thick cloud cores the network may miss; no data
        return _Detection(cloud, shadow, no_data, one_place)

    def _detector_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """The detector's logits, float32; its convs in bfloat16 when `self.bfloat16`."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bfloat16 else contextlib.nullcontext():
            return self._fast_detector(inputs).float()

    @torch.inference_mode()
    def _predict(self, images: np.ndarray, masks: np.ndarray, days: np.ndarray) -> np.ndarray:
        """(T,H,W,3) uint8 + masks -> (T,H,W,3) float prediction for every pixel."""
        prediction = np.empty(images.shape, dtype=np.float32)
        clear = ~masks
        unseen = np.zeros(masks.shape, dtype=bool)  # masked pixels no other date of their window shows
        for window, owned in filling_windows(days, clear.any(axis=(1, 2)), self.config.window):
            seen = clear[window].sum(axis=0)
            for frame in owned:
                unseen[frame] = masks[frame] & (seen == 0)  # the frame itself is masked there: not counted in `seen`
            frames = self._to_tensor(images[window])  # (T,3,H,W)
            mask = torch.from_numpy(masks[window][:, None]).to(self.device)  # masks[window, None] has other strides: the filler then ran other kernels (fills 1e-4 apart)
            window_days = torch.from_numpy(days[window] - days[window[0]]).to(self.device)[None]
            stacked = torch.cat([frames, mask.to(frames.dtype)], dim=1)  # (T,4,H,W) so tiles cut both alike

            def fill_tile(tile: torch.Tensor) -> torch.Tensor:
                tile_frames, tile_masks = tile[None, :, :3], tile[None, :, 3:] > 0.5
                if self.method == "learned":
                    return self._fast_filler(tile_frames, tile_masks, window_days, corrected_from=CORRECTED_FROM_HIDDEN)[0]
                return CLASSICAL_FILLERS[self.method](tile_frames, tile_masks, window_days)[0]

            multiple = self.filler.size_multiple if self.filler is not None else 1
            result = run_tiled(fill_tile, stacked, multiple).permute(0, 2, 3, 1).cpu().numpy()
            prediction[owned] = result[[window.index(frame) for frame in owned]]
        return self._fill_beyond_windows(images, masks, days, prediction, unseen)

    @staticmethod
    def _fill_beyond_windows(images: np.ndarray, masks: np.ndarray, days: np.ndarray, prediction: np.ndarray, unseen: np.ndarray) -> np.ndarray:
        """`prediction` where a pixel's window shows it on no other date but the series does: linear
        in time between its previous and next clear date of the whole series.

        A window cannot fill such pixels (the filler leaves them as they are); without this, a
        long run of overcast dates kept its clouds wherever one window's dates were all cloudy
        there, though the dates beyond it were clear (a WorldCereal series: 75 % of a date white).
        """
        needed = unseen & (~masks).any(axis=0)[None]
        if not needed.any():
            return prediction
        rows, cols = np.nonzero(needed.any(axis=0))  # every date of these pixels, as a one-pixel-wide image
        frames = torch.from_numpy(np.ascontiguousarray(images[:, rows, cols])).permute(0, 2, 1)[None, ..., None].float() / 255
        hidden = torch.from_numpy(np.ascontiguousarray(masks[:, rows, cols]))[None, :, None, :, None]
        estimate, _ = interpolate_from_other_dates(frames, hidden, torch.from_numpy(days - days[0])[None])
        estimate = estimate[0, ..., 0].permute(0, 2, 1).numpy()  # (T,N,3)
        fill = needed[:, rows, cols]
        frame_index, pixel = np.nonzero(fill)
        prediction[frame_index, rows[pixel], cols[pixel]] = estimate[frame_index, pixel]
        return prediction

    def _to_tensor(self, images: np.ndarray) -> torch.Tensor:
        """(N,H,W,3) uint8 -> (N,3,H,W) float in [0,1] (the bundle's scale)."""
        return torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float() / self.config.preprocessing.scale

    def remove_cube(self, cube: "xarray.DataArray", *, rgb: Sequence[str] | None = None, chunks: int | None = None) -> "xarray.Dataset":
        """Remove clouds from a georeferenced (time, band, y, x) cube; all bands, same masks.

        Returns a Dataset with `clear` (the input's dims, dtype, units and CRS), `mask` (time, y, x
        uint8: 0 clear, 1 cloud, 2 shadow, 255 no data) and `probability`. A Dask-backed cube
        gives a lazy result, computed chunk by chunk on any scheduler with the same numbers as the
        eager path. `rgb`: the red, green and blue band names (a sequence, or one string "B04,B03,B02"); None finds them by name (red/green/blue,
        or B04/B03/B02 also written B4, SR_B4, S2-L2A-B04). See `clear_vision.geo.remove` and the
        README's cube section.
        """
        from .geo.remove import remove_cube

        return remove_cube(self, cube, rgb=rgb, chunks=chunks)
