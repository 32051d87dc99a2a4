"""Gap simulation: real clouds pasted on 1..T//2 clear frames; generator clouds with exact labels."""

from __future__ import annotations

import numpy as np

from preprocess.gaps import cloudy_frames, make_gap_sequence, simulate_clouds
from preprocess.readers import CLEAR, CLOUD, Cube


def toy_cube(steps: int = 12, size: int = 32) -> Cube:
    rng = np.random.default_rng(0)
    reflectance = rng.random((steps, size, size, 3)).astype(np.float32) * 0.3
    labels = np.full((steps, size, size), CLEAR, np.uint8)
    labels[1::3, :16] = CLOUD  # every third frame half cloudy
    reflectance[1::3, :16] = 0.9
    dates = np.datetime64("2021-01-01") + np.arange(steps) * np.timedelta64(5, "D")
    return Cube("toy", reflectance, labels, dates)


def test_pasted_clouds_follow_the_protocol():
    cube = toy_cube()
    rng = np.random.default_rng(1)
    for _ in range(20):
        sequence = make_gap_sequence(cube, rng, 6)
        covered = sequence.mask.any(axis=(1, 2))
        assert 1 <= covered.sum() <= 3  # 1..T//2 frames
        assert np.allclose(sequence.cloudy[sequence.mask], 0.9)  # real cloudy pixel values were copied
        assert np.array_equal(sequence.cloudy[~sequence.mask], sequence.truth[~sequence.mask])
        assert (np.diff(sequence.days) > 0).all() and sequence.days[0] == 0
        assert np.array_equal(sequence.scored, sequence.mask)  # truth frames are fully clear here


def test_cloud_sources_and_seeding():
    cube = toy_cube()
    assert cloudy_frames(cube).tolist() == [1, 4, 7, 10]
    first = make_gap_sequence(cube, np.random.default_rng(7), 5)
    second = make_gap_sequence(cube, np.random.default_rng(7), 5)
    assert np.array_equal(first.mask, second.mask)


def test_generator_clouds_brighten_and_label():
    clear = np.full((64, 64, 3), 0.05, np.float32)
    cloudy, labels = simulate_clouds(clear, np.random.default_rng(3))
    assert cloudy.shape == clear.shape and labels.shape == (64, 64)
    assert (labels == CLOUD).any()
    assert cloudy[labels == CLOUD].mean() > 2 * cloudy[labels == CLEAR].mean()
