"""Download EarthNet2021 with the earthnet toolkit, for users who have internet."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DownloadError", "download_earthnet", "SPLITS"]

SPLITS = ("train", "iid", "ood", "extreme", "seasonal")


class DownloadError(RuntimeError):
    """The download could not run (bad split, or no network)."""


def download_earthnet(out: Path, splits: list[str]) -> None:
    """Fetch the given EarthNet2021 splits (hundreds of GB) into `out`."""
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise DownloadError(f"unknown split(s) {', '.join(unknown)}; choose from {', '.join(SPLITS)}")
    import earthnet

    Path(out).mkdir(parents=True, exist_ok=True)
    try:
        earthnet.Downloader.get(str(out), splits)
    except Exception as error:  # the toolkit raises whatever its HTTP stack raises
        raise DownloadError(
            f"EarthNet2021 download failed ({type(error).__name__}: {error}). It needs internet access to "
            "the EarthNet servers; on an offline machine use the cubes in ../shared/data instead."
        ) from None
