"""Units of a cube: stored values <-> surface reflectance, and reflectance -> the networks' 8-bit RGB.

reflectance = value * scale_factor + add_offset (the CF convention, also what rasterio calls a
band's scale and offset). Sentinel-2 L2A digital numbers are reflectance x 10000
(scale_factor 0.0001); products of processing baseline 04.00 and later (from January 2022)
add -1000 (add_offset -0.1). Float data without metadata are taken as reflectance, checked
by magnitude; integer data without a stated scale are refused: their meaning cannot be known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import Preprocessing

__all__ = ["Units", "units_from_metadata", "suspect_missing_offset", "describe_unknown", "check_magnitude", "render_rgb", "DEFAULT_GAIN", "MAX_REFLECTANCE", "HOW_TO_FIX"]

# The networks were trained on uint8(clip(reflectance * gain, 0, 1) * 255 + 0.5) with gains
# around this one, the shipped preprocessing's; a model bundle states its own (`model_gain`).
DEFAULT_GAIN = Preprocessing().gain
# Reflectance is ~0..1.5 (bright cloud tops exceed 1); values far above say "digital numbers".
MAX_REFLECTANCE = 2.5
HOW_TO_FIX = (
    "give open_cube(..., scale=, offset=) (command line: --scale, --offset), or on a cube of your own set its attrs "
    "cube.attrs['scale_factor'] and cube.attrs['add_offset']; Sentinel-2 L2A digital numbers: scale=0.0001, and offset=-0.1 "
    "for processing baseline 04.00 or later; Landsat Collection 2 Level-2 surface reflectance: scale=0.0000275, offset=-0.2"
)


@dataclass(frozen=True)
class Units:
    """How stored values map to reflectance: reflectance = value * scale + offset.

    `scale` and `offset` are one number for all bands or one per band (packed netCDF cubes
    such as GreenEarthNet scale each band differently).
    """

    scale: float | tuple[float, ...] = 1.0
    offset: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        for value in np.ravel(self.scale):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"scale: {float(value)!r} must be a positive finite number (reflectance = value * scale + offset)")
        for value in np.ravel(self.offset):
            if not math.isfinite(value):
                raise ValueError(f"offset: {float(value)!r} must be a finite number (reflectance = value * scale + offset)")

    def of_bands(self, indexes: list[int]) -> "Units":
        """The units of some of the bands, in that order (one number for all bands stays one number)."""
        scale, offset = (value if np.ndim(value) == 0 else tuple(value[index] for index in indexes) for value in (self.scale, self.offset))
        return Units(scale, offset)

    def _per_band(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """scale and offset shaped to broadcast over (T,B,H,W) or (B,H,W) blocks."""
        shape = (-1, 1, 1)
        return np.reshape(self.scale, shape), np.reshape(self.offset, shape)

    def to_reflectance(self, values: np.ndarray) -> np.ndarray:
        """Stored values (...,B,H,W) -> float32 reflectance (NaN stays NaN).

        Computed in float64 (exact for any integer band) one (B,H,W) block at a time and in
        place: whole-array temporaries made a 10x4x640x640 chunk take 0.3..0.8 s, this 0.05 s.
        """
        scale, offset = self._per_band(values)
        reflectance = np.empty(values.shape, np.float32)
        blocks = values.reshape(-1, *values.shape[-3:])
        for block, out in zip(blocks, reflectance.reshape(blocks.shape)):
            exact = block.astype(np.float64)
            exact *= scale
            exact += offset
            out[...] = exact
        return reflectance

    def from_reflectance(self, reflectance: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """float reflectance (...,B,H,W) -> stored values of `dtype`, rounded and clipped for integer types."""
        scale, offset = self._per_band(reflectance)
        values = (reflectance.astype(np.float64) - offset) / scale
        dtype = np.dtype(dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return np.clip(np.rint(values), info.min, info.max).astype(dtype)
        return values.astype(dtype)


def _number(metadata: Mapping, *keys: str) -> float | tuple[float, ...] | None:
    """The first of `keys` in the metadata as a number, or one number per band."""
    for key in keys:
        if key in metadata:
            try:
                values = np.asarray(metadata[key], dtype=np.float64).ravel()
            except (TypeError, ValueError):
                raise ValueError(f"metadata {key}={metadata[key]!r} is not a number; {HOW_TO_FIX}") from None
            if values.size == 0:
                return None
            return float(values[0]) if np.all(values == values[0]) else tuple(float(value) for value in values)
    return None


def units_from_metadata(
    metadata: Mapping, dtype: np.dtype, scale: float | Sequence[float] | None = None, offset: float | Sequence[float] | None = None
) -> Units | None:
    """The units a cube's metadata states, or None where they cannot be known (integers, no scale).

    Explicit `scale`/`offset` win; then CF `scale_factor`/`add_offset` (as rasterio and netCDF
    give them; 1 and 0 on integer data are defaults, not a statement); then Sentinel-2 tags
    `BOA_QUANTIFICATION_VALUE` and `BOA_ADD_OFFSET`, or `PROCESSING_BASELINE` >= 4 (offset -1000).
    """
    if scale is not None or offset is not None:
        return Units(_given("scale", scale, 1.0), _given("offset", offset, 0.0))
    integer = np.issubdtype(np.dtype(dtype), np.integer)
    # per-band values: ours (band_*), or rioxarray's open_rasterio where the bands' differ (scales, offsets)
    cf_scale, cf_offset = _number(metadata, "scale_factor", "band_scale_factor", "scales"), _number(metadata, "add_offset", "band_add_offset", "offsets")
    if cf_scale is not None and not (cf_scale == 1.0 and cf_offset in (None, 0.0) and integer):
        return Units(cf_scale, 0.0 if cf_offset is None else cf_offset)
    quantification = _number(metadata, "BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE")
    if isinstance(quantification, float):
        add = _number(metadata, "BOA_ADD_OFFSET")
        if add is None:
            add = _one_band_offset(metadata)
        baseline = _number(metadata, "PROCESSING_BASELINE")
        if add is None:
            add = -1000.0 if isinstance(baseline, float) and baseline >= 4.0 else 0.0
        return Units(1.0 / quantification, tuple(np.divide(add, quantification)) if isinstance(add, tuple) else add / quantification)
    return None if integer else Units()


def _one_band_offset(metadata: Mapping) -> float | None:
    """The offset GDAL's Sentinel-2 reader states per band (BOA_ADD_OFFSET_B1.., all -1000 in
    practice): one value for every band, or refused (which band is which is not known here)."""
    stated = {key: _number(metadata, key) for key in metadata if str(key).upper().startswith("BOA_ADD_OFFSET_")}
    values = set(stated.values()) - {None}
    if len(values) > 1:
        raise ValueError(f"metadata: the bands state different offsets ({', '.join(f'{key}={value:g}' for key, value in sorted(stated.items()))}); {HOW_TO_FIX}")
    return values.pop() if values else None


def suspect_missing_offset(rgb: np.ndarray, units: Units) -> str | None:
    """A warning when Sentinel-2 digital numbers look offset by +1000 that the units do not remove.

    Products of processing baseline 04.00 on store reflectance x 10000 + 1000, so none of their
    red, green or blue values lies under 1000, while clear ground has dark pixels (water,
    shadow, forest in blue) far below 0.1 reflectance. Given scale 0.0001 and no offset, such a
    cube reads 0.1 too bright everywhere, and every date looks hazy. `rgb`: (T,3,H,W) stored values.
    """
    if not np.issubdtype(rgb.dtype, np.integer) or not np.allclose(units.scale, 1e-4) or np.any(np.asarray(units.offset) != 0):
        return None
    valid = rgb[rgb > 0]  # 0 is the products' no data
    if valid.size < 1000 or valid.min() < 1000:
        return None
    return (
        f"cube: no red, green or blue value lies under 1000 (the least is {int(valid.min())}), read with scale 0.0001 and no offset: "
        "Sentinel-2 L2A of processing baseline 04.00 or later (from January 2022) stores reflectance x 10000 + 1000; "
        "if these are such products, give offset=-0.1 (command line: --offset -0.1), or every date reads 0.1 too bright"
    )


def suspect_dark_units(rgb: np.ndarray, units: Units, nodata: float | None) -> str | None:
    """A warning when the units make the scene black. `rgb`: (T,3,H,W) stored values, `units` theirs.

    A wrong offset (-0.1 on digital numbers of products before processing baseline 04.00) reads
    dark ground as zero or negative reflectance, which then counts as no data; a scale given to
    values that are already reflectance reads everything as almost 0, where nothing is detected.
    """
    values = rgb.astype(np.float64)
    present = np.isfinite(values) & (values != 0) & (values != (np.nan if nodata is None else nodata))
    if np.count_nonzero(present) < 1000:
        return None
    reflectance = units.to_reflectance(np.where(present, values, 0.0))[present]
    stated = f"scale={_listed(units.scale)}, offset={_listed(units.offset)}"
    negative = float(np.mean(reflectance <= 0))
    if negative > 0.05:
        return (
            f"cube: {negative:.0%} of the red, green and blue values with data read as zero or negative reflectance with {stated}, "
            "and are taken for no data; is the offset right? Sentinel-2 L2A before processing baseline 04.00 (January 2022) needs no offset"
        )
    brightest = float(np.percentile(reflectance, 99))
    if brightest < 0.005:
        return (
            f"cube: red, green and blue read as reflectance under {brightest:.2g} almost everywhere with {stated}: the scene is black "
            "and no cloud can be found; values that are already reflectance (floats 0..1) need no scale"
        )
    return None


def _given(name: str, value: float | Sequence[float] | None, default: float) -> float | tuple[float, ...]:
    """A scale or offset given by the caller: one number for all bands, or one per band."""
    if value is None:
        return default
    try:
        return float(value) if np.ndim(value) == 0 else tuple(float(item) for item in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number or one number per band") from None


def describe_unknown(dtype: np.dtype) -> str:
    """The message for integer data with no stated scale."""
    picture = (
        "; an 8-bit RGB rendering (a map export, a quicklook) is a picture: save it as PNG or JPEG, or give the Python API's run() its array"
        if np.dtype(dtype) == np.uint8 else ""
    )
    return f"cube: {np.dtype(dtype)} values with no scale_factor in the metadata (or only the default 1), so their reflectance cannot be known; {HOW_TO_FIX}{picture}"


def check_magnitude(reflectance: np.ndarray, units: Units) -> None:
    """Refuse reflectance far above 1 on over 1 % of the pixels with data: the values are digital
    numbers with an unstated scale, or an undeclared fill value covers that much (a few bright
    outliers are neither: the cube path reads them as no data). Counted, not a percentile:
    sorting a chunk's values took 0.2 s of every chunk."""
    finite = np.isfinite(reflectance)  # NaN is no data
    above = np.count_nonzero((reflectance > MAX_REFLECTANCE) & finite)
    if above and above > 0.01 * np.count_nonzero(finite):
        reached = float(reflectance[finite].max())
        raise ValueError(
            f"cube: values reach {reached:.4g}, which is not reflectance (0..~1.5) with scale={_listed(units.scale)}, offset={_listed(units.offset)}; {HOW_TO_FIX}; "
            "where those values are a fill value the files do not declare (65535 outside a field, say), give it as open_cube(..., nodata=) (command line: --nodata)"
        )


def _listed(value: float | tuple[float, ...]) -> str:
    """One number, or one per band, as a message shows them (one where all bands share it)."""
    values = np.ravel(value)
    return ",".join(f"{float(item):g}" for item in (values[:1] if np.all(values == values[0]) else values))


def render_rgb(reflectance: np.ndarray, gain: float) -> np.ndarray:
    """(...,3) reflectance -> (...,3) uint8 exactly as in training; NaN renders black (no data)."""
    scaled = np.clip(np.nan_to_num(reflectance, nan=0.0) * gain, 0.0, 1.0)
    return (scaled * 255.0 + 0.5).astype(np.uint8)
