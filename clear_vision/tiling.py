"""Run a network on any frame size and any sequence length, and a whole pipeline on any scene size.

Small frames are reflect-padded to the network's size multiple; frames over a tile go through
overlapping tiles blended with linear ramps; long sequences go through overlapping temporal
windows, each frame taken from the window where it sits most centrally. Scenes over one chunk
go through spatial chunks with a halo of their neighbours' pixels (`chunk_windows`, `map_chunks`):
each chunk runs the whole pipeline, only its core is kept, so peak memory follows the chunk, not
the scene. `ClearVision.run` and the cube path (`clear_vision.geo.remove`, on Dask) cut the same
grid. In `run` the fills of the chunks either side of a border are blended along it
(`border_weights`, `blend_borders`); the cube path keeps each chunk's own (see the README).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

__all__ = [
    "run_padded", "run_tiled", "temporal_windows", "filling_windows", "chunk_grid", "chunk_windows", "map_chunks", "border_weights", "blend_borders",
    "Window", "BorderView", "CHUNK_PX", "HALO_PX", "BLEND_PX",
]

TensorFn = Callable[[torch.Tensor], torch.Tensor]

CHUNK_PX = 512
# Context each chunk sees of its neighbours: the tile overlap (32 px), the detector's reflected
# margin (16 px), the 2-pixel mask buffer and half the whole-frame rules' neighbourhood
# (detection.masks.NEIGHBOURHOOD_PX) fit inside it; a multiple of 16 keeps the networks'
# stride-2 grids aligned with the scene's.
HALO_PX = 64
# Each chunk fits its frames' colours to its own pixels, so two chunks' fills of one cloud differ
# a little and, cut at the border, meet in a step. Within BLEND_PX of a border the fills of the
# chunks either side are averaged, their weights falling linearly across the border; both computed
# those pixels with at least HALO_PX - BLEND_PX of context beyond them.
BLEND_PX = 32


def run_padded(fn: TensorFn, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad the last two dims of x up to a multiple, run fn, crop back."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        lead = x.shape[:-3]
        padded = F.pad(x.reshape(-1, *x.shape[-3:]), (0, pad_w, 0, pad_h), mode="reflect")
        x = padded.reshape(*lead, *padded.shape[-3:])
    return fn(x)[..., :height, :width]


def _tiles(length: int, tile: int, overlap: int, multiple: int) -> tuple[int, list[int]]:
    """(tile size, starts) along one axis: as few tiles as fit `length` with at least `overlap`
    between neighbours, made only as large as that needs (a multiple of `multiple`, at most
    `tile`) and spread evenly. Fixed-size tiles stepped from the start overlapped far more at
    the end: a 672-pixel chunk took 3x3 tiles of 256 px (1.31x its pixels); 2x2 of 352 px
    (1.10x) ran the detector about 15 % faster."""
    if length <= tile:
        return length, [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    needed = math.ceil((length + (count - 1) * overlap) / count)  # at most `tile`, by the count
    size = min(tile, math.ceil(needed / multiple) * multiple)
    return size, [round(index * (length - size) / (count - 1)) for index in range(count)]


def _ramp(length: int, overlap: int, device: torch.device) -> torch.Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32)
    distance_to_edge = torch.minimum(position, length - 1 - position)
    return ((distance_to_edge + 1) / (overlap + 1)).clamp(max=1.0)


def run_tiled(fn: TensorFn, x: torch.Tensor, multiple: int, tile: int = 256, overlap: int = 32) -> torch.Tensor:
    """Apply fn to overlapping tiles of x (..., C, H, W) and blend; fn keeps the spatial size."""
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return run_padded(fn, x, multiple)
    (tile_height, tops), (tile_width, lefts) = _tiles(height, tile, overlap, multiple), _tiles(width, tile, overlap, multiple)
    output = weight = None
    for top in tops:
        for left in lefts:
            patch = x[..., top : top + tile_height, left : left + tile_width]
            result = run_padded(fn, patch, multiple)
            window = _ramp(patch.shape[-2], overlap, x.device)[:, None] * _ramp(patch.shape[-1], overlap, x.device)[None, :]
            if output is None:
                output = torch.zeros(*result.shape[:-2], height, width, dtype=result.dtype, device=x.device)
                weight = torch.zeros(height, width, dtype=result.dtype, device=x.device)
            output[..., top : top + tile_height, left : left + tile_width] += result * window
            weight[top : top + tile_height, left : left + tile_width] += window
    return output / weight


def temporal_windows(steps: int, size: int) -> list[tuple[int, int, list[int]]]:
    """Split T frames into overlapping windows of `size`: (start, stop, frames owned by it)."""
    if steps <= size:
        return [(0, steps, list(range(steps)))]
    starts = list(range(0, steps - size, max(1, size // 2))) + [steps - size]
    owners: dict[int, list[int]] = {start: [] for start in starts}
    for frame in range(steps):
        containing = [start for start in starts if start <= frame < start + size]
        best = min(containing, key=lambda start: abs(frame - (start + (size - 1) / 2)))
        owners[best].append(frame)
    return [(start, start + size, owned) for start, owned in owners.items() if owned]


def filling_windows(days: np.ndarray, sources: np.ndarray, size: int) -> list[tuple[list[int], list[int]]]:
    """Stage 2's windows over T dates, of at most `size`: (frames in the window, frames it owns).

    Up to `size` dates are one window. A longer series is windowed over the dates that can be
    sources (`sources`: a clear pixel somewhere) as `temporal_windows` does; each run of
    consecutive dates without one (overcast, masked whole, or without data, such as a daily
    grid's days between acquisitions), in groups of at most half a window, gets a window of its
    own, the rest of it the sources nearest in time. Windowed by position instead, a daily grid's
    10-date windows held about two acquisitions each, and a run of overcast dates none: they
    found nothing to fill from and kept their clouds.
    """
    steps = len(sources)
    observed = np.flatnonzero(sources)
    if steps <= size or len(observed) in (0, steps):
        return [(list(range(start, stop)), owned) for start, stop, owned in temporal_windows(steps, size)]
    windows = [([int(observed[i]) for i in range(start, stop)], [int(observed[i]) for i in owned]) for start, stop, owned in temporal_windows(len(observed), size)]
    targets = np.flatnonzero(~sources)
    group_size = max(1, size // 2)
    for run in np.split(targets, np.flatnonzero(np.diff(targets) > 1) + 1):
        for start in range(0, len(run), group_size):
            group = run[start : start + group_size]
            middle = (days[group[0]] + days[group[-1]]) / 2
            nearest = observed[np.argsort(np.abs(days[observed] - middle), kind="stable")[: size - len(group)]]
            windows.append((sorted(int(frame) for frame in (*group, *nearest)), [int(frame) for frame in group]))
    return windows


class Window(NamedTuple):
    """One chunk: `read` (rows, cols) with the halo, in the scene; `core` the pixels it owns, in
    the scene; `trim` the core within the read window."""

    read: tuple[slice, slice]
    core: tuple[slice, slice]
    trim: tuple[slice, slice]


def chunk_grid(length: int, chunk: int = CHUNK_PX) -> tuple[int, ...]:
    """Chunk sizes along one axis: `chunk` each, a last remainder thinner than the halo merged in."""
    sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    if len(sizes) > 1 and sizes[-1] < HALO_PX:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


def _axis_windows(length: int, chunk: int) -> list[tuple[slice, slice, slice]]:
    windows, start = [], 0
    for size in chunk_grid(length, chunk):
        top, bottom = max(0, start - HALO_PX), min(length, start + size + HALO_PX)
        windows.append((slice(top, bottom), slice(start, start + size), slice(start - top, start - top + size)))
        start += size
    return windows


def chunk_windows(height: int, width: int, chunk: int = CHUNK_PX) -> list[Window]:
    """The chunks of a height x width scene, row by row: the grid of `chunk_grid`, each with up to
    `HALO_PX` of its neighbours on every side (none beyond the scene), as `dask.array.overlap` cuts them."""
    return [
        Window((rows, cols), (core_rows, core_cols), (trim_rows, trim_cols))
        for rows, core_rows, trim_rows in _axis_windows(height, chunk)
        for cols, core_cols, trim_cols in _axis_windows(width, chunk)
    ]


def _axis_weights(positions: np.ndarray, core: slice, length: int) -> np.ndarray:
    """A chunk's weight along one axis at scene `positions`: 1 on its core, falling linearly to 0
    across the 2 * BLEND_PX around a border with a neighbour (whose weight rises as this falls),
    none beyond; at the scene's edges it stays 1."""
    centres = positions.astype(np.float32) + 0.5
    weights = np.ones(len(positions), np.float32)
    if core.start > 0:
        weights = np.minimum(weights, np.clip((centres - core.start + BLEND_PX) / (2 * BLEND_PX), 0, 1))
    if core.stop < length:
        weights = np.minimum(weights, np.clip((core.stop + BLEND_PX - centres) / (2 * BLEND_PX), 0, 1))
    return weights


def border_weights(core: tuple[slice, slice], region: tuple[slice, slice], shape: tuple[int, int]) -> np.ndarray:
    """(h, w) weights of the chunk owning `core` over the scene `region` of a `shape` scene: the
    chunks' weights sum to 1 at every pixel, so averaging with them blends without a step."""
    rows, cols = (_axis_weights(np.arange(part.start, part.stop), own, length) for part, own, length in zip(region, core, shape))
    return rows[:, None] * cols[None, :]


class BorderView(NamedTuple):
    """What the chunk owning `core` computed over `region` (scene rows, cols) of a neighbour's core:
    `values` (lead, h, w, ...) and where they are a fill, `valid` (lead, h, w)."""

    core: tuple[slice, slice]
    region: tuple[slice, slice]
    values: np.ndarray
    valid: np.ndarray


def border_views(core: tuple[slice, slice], read: tuple[slice, slice], values: np.ndarray, valid: np.ndarray, others: list[tuple[slice, slice]]) -> dict[int, BorderView]:
    """The parts of one chunk's results (over its `read` window) that the blend of each core in
    `others` takes: where this chunk's weight is not 0 (its core and BLEND_PX around it), copied."""
    reach = tuple(slice(max(part.start, own.start - BLEND_PX), min(part.stop, own.stop + BLEND_PX)) for part, own in zip(read, core))
    views = {}
    for index, other in enumerate(others):
        region = _intersection(reach, other)
        if other != core and region is not None:
            local = _within(region, read)
            views[index] = BorderView(core, region, values[:, local[0], local[1]].copy(), valid[:, local[0], local[1]].copy())
    return views


def _intersection(first: tuple[slice, slice], second: tuple[slice, slice]) -> tuple[slice, slice] | None:
    region = tuple(slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(first, second))
    return None if any(part.start >= part.stop for part in region) else region


def _within(region: tuple[slice, slice], origin: tuple[slice, slice]) -> tuple[slice, slice]:
    """Scene `region` in the coordinates of an array that covers `origin`."""
    return tuple(slice(part.start - outer.start, part.stop - outer.start) for part, outer in zip(region, origin))


def _border_bands(core: tuple[slice, slice], shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Disjoint scene regions of a core covering where its weight is below 1: BLEND_PX along each
    border with a neighbour (none at the scene's edges)."""
    (rows, cols), (height, width) = core, shape
    top, bottom = rows.start + (BLEND_PX if rows.start > 0 else 0), rows.stop - (BLEND_PX if rows.stop < height else 0)
    bands = [(slice(rows.start, top), cols), (slice(bottom, rows.stop), cols)]
    if cols.start > 0:
        bands.append((slice(top, bottom), slice(cols.start, cols.start + BLEND_PX)))
    if cols.stop < width:
        bands.append((slice(top, bottom), slice(cols.stop - BLEND_PX, cols.stop)))
    return [band for band in bands if band[0].start < band[0].stop]


def blend_borders(values: np.ndarray, valid: np.ndarray, core: tuple[slice, slice], shape: tuple[int, int], views: list[BorderView]) -> np.ndarray:
    """A chunk's core `values` (lead, h, w, ...) where `valid` (its fills), averaged with its
    neighbours' fills of the same pixels (`views`) by `border_weights`; a neighbour that did not
    fill a pixel adds nothing there. Other pixels, and cores without views, come back as they are.
    Integer values are rounded back to their dtype."""
    if not views or not valid.any():
        return values
    values, extra = values.copy(), (...,) + (None,) * (values.ndim - 3)
    for band in _border_bands(core, shape):  # only there is the core's own weight below 1
        here = _within(band, core)
        mine, filled = values[:, here[0], here[1]], valid[:, here[0], here[1]]
        weight = np.where(filled, border_weights(core, band, shape)[None], np.float32(0))
        total = np.where(filled[extra], mine * weight[extra], np.float32(0))  # values not filled may be NaN (no data)
        for view in views:
            shared = _intersection(view.region, band)
            if shared is None:
                continue
            theirs, ours = _within(shared, view.region), _within(shared, band)
            both = view.valid[:, theirs[0], theirs[1]] & filled[:, ours[0], ours[1]]
            their_weight = np.where(both, border_weights(view.core, shared, shape)[None], np.float32(0))
            total[:, ours[0], ours[1]] += np.where(both[extra], view.values[:, theirs[0], theirs[1]] * their_weight[extra], np.float32(0))
            weight[:, ours[0], ours[1]] += their_weight
        blended = total / np.maximum(weight, np.float32(1e-6))[extra]
        if np.issubdtype(values.dtype, np.integer):
            limits = np.iinfo(values.dtype)
            blended = np.clip(np.rint(blended), limits.min, limits.max)
        values[:, here[0], here[1]] = np.where(filled[extra], blended, mine)
    return values


def map_chunks(
    fn: Callable[[Window], tuple[np.ndarray, ...]],
    windows: list[Window],
    lead: int,
    on_chunk: Callable[[int], None] | None = None,
    into: np.ndarray | None = None,
    blend_where: int | None = None,
) -> tuple[np.ndarray, ...]:
    """Run fn on every window and assemble the cores of what it returns into whole-scene arrays.

    fn returns arrays shaped (lead, h, w, ...) over its read window; the results are allocated at
    the first chunk (its dtypes) and filled core by core, so only one chunk's work is alive at a
    time. `into` takes the first result in place of a new array, and may be the very array fn
    reads (the decoded input becoming the output: one scene-sized array less). With
    `blend_where`, the first result is blended across chunk borders where the result at that
    position (a bool mask) is True (`blend_borders`). Either way the first result's cores are held
    back until the last chunk whose halo reads them has run; of the others' halos only the
    bands the blend takes are kept meanwhile.
    """
    height, width = windows[-1].core[0].stop, windows[-1].core[1].stop
    last_reader = [max(index for index, other in enumerate(windows) if _intersection(other.read, window.core) is not None) for window in windows]
    cores = [window.core for window in windows]
    outputs: tuple[np.ndarray, ...] = ()
    held: dict[int, np.ndarray] = {}
    views: dict[int, list[BorderView]] = {}
    for index, window in enumerate(windows):
        pieces = fn(window)
        if not outputs:
            outputs = tuple(
                into if position == 0 and into is not None else np.empty((lead, height, width, *piece.shape[3:]), piece.dtype)
                for position, piece in enumerate(pieces)
            )
        for position, (output, piece) in enumerate(zip(outputs, pieces)):
            core = piece[:, window.trim[0], window.trim[1]]
            if position == 0 and (into is not None or blend_where is not None):
                held[index] = core.copy()
            else:
                output[:, window.core[0], window.core[1]] = core
        if blend_where is not None:
            for other, view in border_views(window.core, window.read, pieces[0], pieces[blend_where], cores).items():
                views.setdefault(other, []).append(view)
        for done in [done for done in held if last_reader[done] <= index]:
            rows, cols = windows[done].core
            values = held.pop(done)
            if blend_where is not None:
                values = blend_borders(values, outputs[blend_where][:, rows, cols], windows[done].core, (height, width), views.pop(done, []))
            outputs[0][:, rows, cols] = values
        if on_chunk is not None:
            on_chunk(index)
    return outputs
