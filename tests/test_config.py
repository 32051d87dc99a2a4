"""The bundle config: validation quotes the bad value, JSON round trip, unknown settings refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clear_vision.config import CONFIG_NAME, ClearVisionConfig, NetworkSpec, Preprocessing


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"window": 0}, "window: 0 is not a whole number of frames in"),
        ({"window": 2.5}, "window: 2.5"),
        ({"threshold": 7}, "threshold: 7 is not a number in"),
        ({"fill_threshold": float("nan")}, "fill_threshold: nan"),
        ({"full_cover": 0.2}, "full_cover: 0.2"),
        ({"mask_buffer_px": -1}, "mask_buffer_px: -1"),
        ({"min_cloud_px": "5"}, "min_cloud_px: '5'"),
        ({"threshold": True}, "threshold: True"),
        ({"window": 10**400}, "window: 1000"),  # an OverflowError from math.isfinite before
        ({"preprocessing": None}, "preprocessing: None is not a Preprocessing"),
        ({"detector": {"architecture": "CloudDetector"}}, "detector: .* is not a NetworkSpec or None"),
    ],
)
def test_bad_values_are_refused_with_the_value_quoted(changes, message):
    with pytest.raises(ValueError, match=message):
        ClearVisionConfig(**changes)


def test_a_misspelt_setting_names_the_known_ones():
    with pytest.raises(ValueError, match=r"config: unknown setting\(s\) fill_treshold; known: .*fill_threshold"):
        ClearVisionConfig().replace(fill_treshold=0.4)


def test_numpy_numbers_are_taken_as_python_numbers():
    """A sweep over np.arange or an int64 index works, and the JSON holds plain numbers."""
    config = ClearVisionConfig().replace(fill_threshold=np.float32(0.4), window=np.int64(8), min_cloud_px=16.0, full_cover=np.float64(0.6))
    assert (config.fill_threshold, config.window, config.min_cloud_px, config.full_cover) == (0.4, 8, 16, 0.6)
    assert all(type(value) is float for value in (config.fill_threshold, config.full_cover))
    assert type(config.window) is int and type(config.min_cloud_px) is int
    assert json.loads(json.dumps(config.to_dict()))["fill_threshold"] == 0.4


def test_bad_preprocessing_and_network_specs_are_refused():
    with pytest.raises(ValueError, match="preprocessing.gain: 0"):
        Preprocessing(gain=0)
    with pytest.raises(ValueError, match="must name 3 bands"):
        Preprocessing(bands=("B04", "B03"))
    with pytest.raises(ValueError, match="not a hex sha256"):
        NetworkSpec("CloudDetector", {}, "detector.safetensors", "abc")
    with pytest.raises(ValueError, match="must be a file name"):
        NetworkSpec("CloudDetector", {}, "../detector.safetensors")


def test_save_and_load_round_trip(tmp_path):
    config = ClearVisionConfig(
        threshold=0.4, fill_threshold=0.2, window=8, min_cloud_px=4, full_cover=0.9, detector=NetworkSpec("CloudDetector", {"widths": [4, 8]}, "d.safetensors", "0" * 64)
    )
    path = config.save(tmp_path)
    assert path.name == CONFIG_NAME and not list(tmp_path.glob("*.tmp"))
    assert ClearVisionConfig.load(tmp_path) == config
    assert config.replace(window=5).window == 5 and config.window == 8  # frozen: replace makes a copy


def test_numpy_numbers_in_preprocessing_and_network_specs_save_as_json(tmp_path):
    preprocessing = Preprocessing(gain=np.float32(2.5), gain_range=(np.float32(2), np.int64(4)))
    detector = NetworkSpec("CloudDetector", {"widths": np.array([4, 8]), "in_channels": np.int64(7)}, "d.safetensors")
    config = ClearVisionConfig(preprocessing=preprocessing, detector=detector)
    config.save(tmp_path)
    loaded = ClearVisionConfig.load(tmp_path)
    assert loaded == config and loaded.preprocessing.gain_range == (2.0, 4.0) and loaded.detector.config == {"widths": [4, 8], "in_channels": 7}
    with pytest.raises(ValueError, match="gain_range"):
        Preprocessing(gain_range=(4.0, 2.0))
    with pytest.raises(ValueError, match="must hold only numbers, strings, lists and mappings"):
        NetworkSpec("CloudDetector", {"widths": {4, 8}}, "d.safetensors")


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=CONFIG_NAME):
        ClearVisionConfig.load(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"threshold": 0.5, "colour": "red"}))
    with pytest.raises(ValueError, match="unknown setting.*colour"):
        ClearVisionConfig.load(tmp_path)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match=CONFIG_NAME):
        ClearVisionConfig.load(tmp_path)
