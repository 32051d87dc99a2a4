"""The files one run hands back: gallery images, before/after pairs and the zip of all outputs.

Each PNG is encoded once, at a fast compression level (the files are temporary), and the zip
stores those same bytes: encoding is most of what a run costs beyond the model.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.outputs import REPORT_NAME, cover_text, overlay_mask
from ..pipeline import CloudRemovalOutput

__all__ = ["ARCHIVE_NAME", "RunFiles", "write_run", "markdown_text"]

ARCHIVE_NAME = "clear_vision_results.zip"
PNG_LEVEL = 1  # zlib level: 7x faster than the default on satellite frames, files ~15 % larger


@dataclass(frozen=True)
class RunFiles:
    """Files of one run, kept per session so the page can show them and the frame slider can pick from them."""

    overlays: tuple[tuple[str, str], ...]  # (image, caption): input with detected cloud and shadow in red
    clears: tuple[tuple[str, str], ...]  # (image, caption): cloud-free frames
    before: tuple[str, ...]  # the inputs as PNG, for the before/after slider
    archive: str  # zip of the cloud-free PNGs, masks and report.json
    shown: int  # index of the frame compared first: the cloudiest

    def nearest(self, index: int) -> int:
        """The index of the frame nearest `index` that there is: the frame slider's box takes any number."""
        return min(max(index, 0), len(self.before) - 1)

    def seconds_left(self, cache_age: float) -> float:
        """Seconds until housekeeping may delete these files (0 once gone): it prunes a run's folder
        `cache_age` seconds after the folder was last written, as `prune_temp_dir` measures it."""
        try:
            written = Path(self.archive).parent.stat().st_mtime
        except OSError:
            return 0.0
        return max(0.0, written + cache_age - time.time())

    def pair(self, index: int) -> tuple[str, str]:
        """(input, cloud-free) images of frame `index`, clamped to the frames there are (`nearest`)."""
        index = self.nearest(index)
        return self.before[index], self.clears[index][0]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def write_run(result: CloudRemovalOutput, images: np.ndarray, names: list[str], report: dict, folder: Path) -> RunFiles:
    """Write a run's files into `folder` (new, private to this request) and say where they are.

    `names` are the uploaded file names (captions); `report` is `outputs.build_report`'s, whose
    entries name the cloud-free and mask files, so the zip holds what the CLI writes.
    """
    folder.mkdir(parents=True)
    overlays, clears, before = [], [], []
    with zipfile.ZipFile(folder / ARCHIVE_NAME, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs do not deflate further
        for index, (name, entry) in enumerate(zip(names, report["frames"])):
            stem = entry["input"]
            clear = _png(result.frames[index])
            (folder / entry["clear_image"]).write_bytes(clear)
            archive.writestr(entry["clear_image"], clear)
            archive.writestr(entry["mask"], _png(result.masks[index].astype(np.uint8) * 255))
            (folder / f"{stem}_clouds.png").write_bytes(_png(overlay_mask(images[index], result.masks[index])))
            (folder / f"{stem}_input.png").write_bytes(_png(images[index]))
            when = f"{index + 1}. {entry['date'] or name} · {cover_text(result.masks[index], result.mask_class[index])}"  # short: the gallery cuts captions
            overlays.append((str(folder / f"{stem}_clouds.png"), when))
            clears.append((str(folder / entry["clear_image"]), f"{index + 1}. {name}"))
            before.append(str(folder / f"{stem}_input.png"))
        archive.writestr(REPORT_NAME, json.dumps(report, indent=2), compress_type=zipfile.ZIP_DEFLATED)
    return RunFiles(tuple(overlays), tuple(clears), tuple(before), str(folder / ARCHIVE_NAME), int(result.cloud_cover.argmax()))


def markdown_text(text: str) -> str:
    """`text` shown as written in Markdown: file names like `a_*b*.png` must not turn into emphasis or links."""
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", text)
