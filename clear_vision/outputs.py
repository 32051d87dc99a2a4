"""Step 5: outputs - cloud-free PNGs, mask PNGs, overlays and report.json, written atomically.

Shared by the CLI and the web app so both write the same files the same way.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .pipeline import CloudRemovalOutput

__all__ = ["output_names", "planned_files", "check_writable", "build_report", "overlay_mask", "write_outputs", "zip_outputs", "png_bytes"]

REPORT_NAME = "report.json"

OVERLAY_COLOUR = np.array([255, 0, 64], dtype=np.float32)


def output_names(stems: Sequence[str]) -> list[tuple[str, str]]:
    """(cloud-free file, mask file) per frame; refuses two inputs with the same name."""
    seen: set[str] = set()
    for stem in stems:
        if stem in seen:
            raise ValueError(f"two input frames share the name {stem!r}; rename one so outputs do not collide")
        seen.add(stem)
    return [(f"{stem}_clear.png", f"{stem}_mask.png") for stem in stems]


def planned_files(stems: Sequence[str]) -> list[str]:
    """Every file a run over these inputs writes."""
    return [name for pair in output_names(stems) for name in pair] + [REPORT_NAME]


def check_writable(out_dir: Path, names: Sequence[str], overwrite: bool) -> None:
    """Refuse before any work is done if outputs exist (without overwrite) or out_dir is a file."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder")
    existing = [name for name in names if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} already has {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''}; use --overwrite to replace")


def build_report(result: CloudRemovalOutput, stems: Sequence[str], dates: Sequence[str] | None = None, device: str = "cpu") -> dict:
    """What report.json holds: per-frame cloud cover and files, timing, method, warnings."""
    names = output_names(stems)
    return {
        "frames": [
            {
                "input": stem,
                "date": None if dates is None else str(dates[index]),
                "cloud_cover": round(float(result.cloud_cover[index]), 4),
                "unfilled_pixels": int(result.unfilled[index].sum()),
                "clear_image": names[index][0],
                "mask": names[index][1],
            }
            for index, stem in enumerate(stems)
        ],
        "seconds": round(result.seconds, 3),
        "method": result.method,
        "device": device,
        "warnings": list(result.warnings),
    }


def overlay_mask(frame: np.ndarray, mask: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """Tint the masked pixels of an (H,W,3) uint8 frame so detected clouds stand out."""
    tinted = frame.astype(np.float32)
    tinted[mask] = (1 - opacity) * tinted[mask] + opacity * OVERLAY_COLOUR
    return np.round(tinted).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _render_files(result: CloudRemovalOutput, report: dict) -> dict[str, bytes]:
    files = {}
    for index, entry in enumerate(report["frames"]):
        files[entry["clear_image"]] = png_bytes(result.frames[index])
        files[entry["mask"]] = png_bytes(result.masks[index].astype(np.uint8) * 255)
    files[REPORT_NAME] = json.dumps(report, indent=2).encode()
    return files


def write_outputs(result: CloudRemovalOutput, report: dict, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write all outputs into out_dir, or nothing at all.

    Files are rendered into a temporary folder beside out_dir first; a new out_dir is then
    renamed into place in one step, an existing one receives each file by atomic rename.
    Existing files are never replaced unless overwrite=True.
    """
    out_dir = Path(out_dir)
    files = _render_files(result, report)
    check_writable(out_dir, list(files), overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        if not out_dir.exists():
            os.replace(staging, out_dir)
        else:
            for name in files:
                os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out_dir / name for name in files]


def zip_outputs(result: CloudRemovalOutput, report: dict, path: str | Path) -> Path:
    """All outputs (PNGs and report.json) in one zip, for downloads."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in _render_files(result, report).items():
            archive.writestr(name, content)
    return path
