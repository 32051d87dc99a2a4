"""The model bundle's settings: one frozen `ClearVisionConfig`, saved as `clear_vision.json`.

Everything that decides what the pipeline computes lives here, next to the weights it belongs
to: the operating points of stage 1, the temporal window of stage 2, how frames are turned into
network inputs, and each network's architecture and checksum. `ClearVision.save` / `.load`
round-trip it; training and calibration write through it; the model card is rendered from it.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CONFIG_NAME", "DEFAULT_WEIGHTS_DIR", "Preprocessing", "NetworkSpec", "ClearVisionConfig"]

CONFIG_NAME = "clear_vision.json"
# The one place that says where the shipped bundle lives: the repository's model_dict/, which
# `pip install .` installs as clear_vision/model_dict (pyproject.toml).
_INSTALLED_WEIGHTS_DIR = Path(__file__).resolve().parent / "model_dict"
DEFAULT_WEIGHTS_DIR = _INSTALLED_WEIGHTS_DIR if _INSTALLED_WEIGHTS_DIR.is_dir() else Path(__file__).resolve().parent.parent / "model_dict"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _finite_real(value: Any) -> bool:
    """A real number, not a flag, that a float can hold (10**400 cannot)."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _in_range(name: str, value: Any, low: float, high: float) -> float:
    """`value` as a Python float (numpy's numbers too: a sweep over np.arange works)."""
    ok = _finite_real(value) and low <= value <= high
    _check(ok, f"{name}: {value!r} is not a number in [{low:g}, {high:g}]")
    return float(str(value)) if isinstance(value, np.floating) else float(value)  # np.float32(0.4) -> 0.4, not 0.4000000059604645


def _whole(name: str, value: Any, low: int, high: int, what: str = "whole number") -> int:
    """`value` as a Python int: ints of any kind, and floats without a fraction (8.0)."""
    ok = _finite_real(value) and low <= value <= high and float(value).is_integer()
    _check(ok, f"{name}: {value!r} is not a {what} in [{low}, {high}]")
    return int(value)


def _normalise(settings: Any, prefix: str, numbers_in_range: dict[str, tuple[float, float]], whole_in_range: dict[str, tuple[int, int, str]]) -> None:
    """Check a frozen dataclass's numbers and store them as Python numbers (JSON writes those)."""
    for name, (low, high) in numbers_in_range.items():
        object.__setattr__(settings, name, _in_range(f"{prefix}{name}", getattr(settings, name), low, high))
    for name, (low, high, what) in whole_in_range.items():
        object.__setattr__(settings, name, _whole(f"{prefix}{name}", getattr(settings, name), low, high, what))


def _plain(value: Any) -> Any:
    """`value` with numpy numbers and arrays (in mappings, lists and tuples) as Python numbers and lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def _check_known(settings: type, names: Any) -> None:
    """Refuse settings the config does not have (a typo would otherwise be Python's TypeError, or lost)."""
    known = set(settings.__dataclass_fields__)
    unknown = sorted(set(names) - known)
    _check(not unknown, f"config: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class Preprocessing:
    """How 8-bit RGB frames become network inputs, and how reflectance becomes 8-bit RGB.

    Attributes:
        bands: the reflectance bands shown as red, green, blue.
        gain: reflectance x gain, clipped to [0,1], x255 renders the 8-bit frames (training
            used random gains in `gain_range`, so any reasonable stretch works).
        gain_range: the gains seen in training.
        scale: 8-bit value / scale -> [0,1].
        mean, std: the detector sees (value / scale - mean) / std.
    """

    bands: tuple[str, ...] = ("B04", "B03", "B02")
    gain: float = 3.0
    gain_range: tuple[float, float] = (2.0, 4.0)
    scale: float = 255.0
    mean: float = 0.5
    std: float = 0.25

    def __post_init__(self) -> None:
        _check(len(self.bands) == 3 and all(isinstance(band, str) and band for band in self.bands), f"preprocessing.bands: {self.bands!r} must name 3 bands (red, green, blue)")
        _check(len(self.gain_range) == 2, f"preprocessing.gain_range: {self.gain_range!r} must be (low, high)")
        low, high = (_in_range("preprocessing.gain_range", gain, 0.1, 100.0) for gain in self.gain_range)
        _check(low <= high, f"preprocessing.gain_range: {self.gain_range!r} must be (low, high)")
        object.__setattr__(self, "gain_range", (low, high))
        _normalise(self, "preprocessing.", {"gain": (0.1, 100.0), "scale": (1.0, 65535.0), "mean": (-10.0, 10.0), "std": (1e-6, 10.0)}, {})


@dataclass(frozen=True)
class NetworkSpec:
    """One network of the bundle: its class, constructor arguments, weights file and checksum."""

    architecture: str
    config: dict[str, Any]
    file: str
    sha256: str = ""

    def __post_init__(self) -> None:
        _check(bool(self.architecture), "network architecture: must be a class name")
        _check(isinstance(self.config, dict), f"network config: {self.config!r} must be a mapping of constructor arguments")
        object.__setattr__(self, "config", _plain(self.config))  # numpy numbers as Python's: the bundle is JSON
        try:
            json.dumps(self.config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"network config: {self.config!r} must hold only numbers, strings, lists and mappings ({error})") from None
        _check(bool(self.file) and "/" not in self.file and "\\" not in self.file, f"network file: {self.file!r} must be a file name in the bundle folder")
        _check(self.sha256 == "" or (len(self.sha256) == 64 and all(c in "0123456789abcdef" for c in self.sha256)), f"network sha256: {self.sha256!r} is not a hex sha256")


@dataclass(frozen=True)
class ClearVisionConfig:
    """All settings of a Clear Vision bundle; invalid values raise `ValueError` quoting the value.

    Attributes:
        threshold: stage 1 probability at which `detect` reports cloud (balanced precision/recall).
        fill_threshold: probability from which `run` replaces pixels (lower: a missed cloud edge
            costs more than a filled clear pixel; chosen by `python -m training.calibrate`).
        window: frames per temporal window of stage 2 (longer series go through overlapping windows).
        mask_buffer_px: pixels grown around every detected cloud in the masks `run` fills.
        min_cloud_px: detections smaller than this many pixels are dropped before any buffer.
        full_cover: a frame whose masked fraction reaches this is masked whole in `run`.
        shadow_logit_offset: added to the shadow logit so that `threshold` is the best operating
            point for shadow as for cloud (the network's shadow output is less confident; chosen
            on the training sets by `python -m training.calibrate`).
        preprocessing: how frames are fed to the networks.
        detector, filler: the networks (filler None: classical fillers only).
    """

    threshold: float = 0.5
    fill_threshold: float = 0.5
    window: int = 10
    mask_buffer_px: int = 2
    min_cloud_px: int = 0
    full_cover: float = 1.0
    shadow_logit_offset: float = 0.0
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    detector: NetworkSpec | None = None
    filler: NetworkSpec | None = None

    def __post_init__(self) -> None:
        _normalise(
            self,
            "",
            {"threshold": (1e-6, 1.0), "fill_threshold": (1e-6, 1.0), "full_cover": (0.5, 1.0), "shadow_logit_offset": (-10.0, 10.0)},
            {"window": (2, 100, "whole number of frames"), "mask_buffer_px": (0, 32, "whole number"), "min_cloud_px": (0, 10_000, "whole number")},
        )
        _check(isinstance(self.preprocessing, Preprocessing), f"preprocessing: {self.preprocessing!r} is not a Preprocessing")
        for role in ("detector", "filler"):
            spec = getattr(self, role)
            _check(spec is None or isinstance(spec, NetworkSpec), f"{role}: {spec!r} is not a NetworkSpec or None")

    def replace(self, **changes: Any) -> "ClearVisionConfig":
        """A copy with some fields changed (validated again)."""
        _check_known(type(self), changes)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ClearVisionConfig":
        _check_known(cls, values)
        values = dict(values)
        pre = dict(values.get("preprocessing") or {})
        for key in ("bands", "gain_range"):
            if key in pre:
                pre[key] = tuple(pre[key])
        values["preprocessing"] = Preprocessing(**pre)
        for role in ("detector", "filler"):
            if values.get(role) is not None:
                values[role] = NetworkSpec(**values[role])
        return cls(**values)

    def save(self, folder: str | Path) -> Path:
        """Write `clear_vision.json` into `folder` atomically (temporary file, then rename)."""
        path = Path(folder) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "ClearVisionConfig":
        """Read `clear_vision.json` from `folder`; a missing or invalid file raises ValueError naming it."""
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: a Clear Vision bundle folder holds {CONFIG_NAME} and the weights it names")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            _check(isinstance(values, dict), "the file must hold one JSON object")
            return cls.from_dict(values)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: {error}") from None
