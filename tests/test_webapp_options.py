"""The app's options: finite and in range (a device that is there), or a message naming the value and what is accepted."""

from __future__ import annotations

import argparse

import pytest
import torch

from clear_vision.webapp.options import MAX_CACHE_AGE, cache_age, device, outside, port


def test_good_values_pass() -> None:
    assert cache_age("30") == 30.0 and cache_age("1.5") == 1.5 and cache_age(str(MAX_CACHE_AGE)) == MAX_CACHE_AGE
    assert port("7860") == 7860 and port("1") == 1 and port("65535") == 65535


@pytest.mark.parametrize(
    ("text", "message"),
    [("nan", "'nan' is not a number: give seconds from 1 to 604800"), ("inf", "'inf' is out of range"), ("-5", "out of range: give seconds from 1"),
     ("0", "out of range"), ("1e300", "out of range"), ("soon", "'soon' is not a number of seconds")],
)
def test_bad_cache_ages_are_refused(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cache_age(text)


@pytest.mark.parametrize(("text", "message"), [("0", "ports are 1 to 65535"), ("70000", "70000 is out of range"), ("80.5", "not a whole port")])
def test_bad_ports_are_refused(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        port(text)


def test_devices_are_checked_in_command_line_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--device cuda` without a GPU once said "use 'cpu' or None (automatic)": None is Python's."""
    assert device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(argparse.ArgumentTypeError) as error:
        device("cuda")
    assert str(error.value) == "cuda: no CUDA GPU is available on this machine; give cpu, or leave --device out (a GPU when there is one, else the CPU)"
    with pytest.raises(argparse.ArgumentTypeError, match="'gpu' is not a device; give cpu or cuda, or leave --device out"):
        device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device("cuda") == "cuda"


@pytest.mark.parametrize(
    ("value", "message"),
    [(0.5, None), (0.05, None), (0.95, None), (2, "Fill threshold: 2 is outside its range, 0.05 to 0.95"),
     (float("nan"), "Fill threshold: nan is not a number; its range is 0.05 to 0.95"), (True, "Fill threshold: True is not a number; its range is 0.05 to 0.95"),
     ("0.5", "Fill threshold: '0.5' is not a number; its range is 0.05 to 0.95"), (None, "Fill threshold: None is not a number; its range is 0.05 to 0.95")],
)
def test_slider_values_outside_their_range_or_not_numbers_are_named(value: object, message: str | None) -> None:
    """As sent by the page or the API, before Gradio's own check (a traceback in the server log)."""
    assert outside("Fill threshold", value, 0.05, 0.95) == message

