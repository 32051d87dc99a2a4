"""The composition rule: masked pixels take the prediction, all others keep their input bytes."""

from __future__ import annotations

import numpy as np

from clear_vision.filling.compose import compose


def test_only_masked_pixels_change():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (4, 20, 30, 3), dtype=np.uint8)
    prediction = rng.random((4, 20, 30, 3)) * 1.2 - 0.1  # out of range on purpose: gets clipped
    replace = rng.random((4, 20, 30)) > 0.5
    output = compose(frames, prediction, replace)
    assert output.dtype == np.uint8
    assert np.array_equal(output[~replace], frames[~replace])
    expected = np.round(np.clip(prediction, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(output[replace], expected[replace])
