"""The app's numeric options: finite and in range, or a message naming the value and the range."""

from __future__ import annotations

import argparse

import pytest

from clear_vision.webapp.options import MAX_CACHE_AGE, cache_age, port


def test_good_values_pass() -> None:
    assert cache_age("30") == 30.0 and cache_age("1.5") == 1.5 and cache_age(str(MAX_CACHE_AGE)) == MAX_CACHE_AGE
    assert port("7860") == 7860 and port("1") == 1 and port("65535") == 65535


@pytest.mark.parametrize(
    ("text", "message"),
    [("nan", "'nan' is out of range"), ("inf", "'inf' is out of range"), ("-5", "out of range: give seconds from 1"),
     ("0", "out of range"), ("1e300", "out of range"), ("soon", "'soon' is not a number of seconds")],
)
def test_bad_cache_ages_are_refused(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cache_age(text)


@pytest.mark.parametrize(("text", "message"), [("0", "ports are 1 to 65535"), ("70000", "70000 is out of range"), ("80.5", "not a whole port")])
def test_bad_ports_are_refused(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        port(text)
