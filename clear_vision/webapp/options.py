"""Checked options of `app.py`, and its sliders' values: each is finite and in range (or usable here), or it says which and why.

A `> 0` check alone lets `--cache-age nan` through, which kills the pruning thread at start-up.
"""

from __future__ import annotations

import argparse
import math

import torch

__all__ = ["MAX_CACHE_AGE", "cache_age", "port", "device", "outside"]

MAX_CACHE_AGE = 7 * 24 * 3600  # a week: results are for downloading now, not for storage


def cache_age(text: str) -> float:
    """Seconds uploads and results are kept: a finite number in [1, MAX_CACHE_AGE]."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if math.isnan(seconds):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give seconds from 1 to {MAX_CACHE_AGE} (a week)")
    if not 1 <= seconds <= MAX_CACHE_AGE:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: give seconds from 1 to {MAX_CACHE_AGE} (a week)")
    return seconds


def port(text: str) -> int:
    """A TCP port number in [1, 65535]."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole port number") from None
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is out of range: ports are 1 to 65535")
    return number


def device(text: str) -> str:
    """cpu, or cuda where a CUDA GPU is available; the library's message would offer Python's None."""
    if text not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; give cpu or cuda, or leave --device out (a GPU when there is one, else the CPU)")
    if text == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("cuda: no CUDA GPU is available on this machine; give cpu, or leave --device out (a GPU when there is one, else the CPU)")
    return text


def outside(label: str, value: object, low: float, high: float) -> str | None:
    """Why `value` is not a setting of the slider `label` (a number from low to high), or None if it is.

    The handlers check their sliders' values with this, as sent: Gradio's own check answers a value
    typed in the box (sent at each keystroke; the box clamps only when left) or sent through the
    API with "Value 99 is greater than maximum value 9." and a traceback in the server log.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return f"{label}: {value!r} is not a number; its range is {low:g} to {high:g}"
    if not low <= value <= high:
        return f"{label}: {value:g} is outside its range, {low:g} to {high:g}"
    return None
