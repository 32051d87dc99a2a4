"""The project's local Dask cluster: workers get time to exit, ignore Ctrl-C, and can be told to be quiet."""

from __future__ import annotations

import logging
import multiprocessing.util
import signal
import socket
import time
import warnings

import pytest

from clear_vision.geo.cluster import local_cluster, silence_worker_logs

distributed = pytest.importorskip("distributed")


def _exit_slowly(seconds: float) -> None:
    """Make this worker process take `seconds` to exit, as one that loaded torch and GDAL may."""
    multiprocessing.util.Finalize(None, time.sleep, args=(seconds,), exitpriority=0)


def _logger_level() -> int:
    return logging.getLogger("distributed").level


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.slow
def test_a_worker_that_takes_seconds_to_exit_is_not_killed_with_a_warning():
    records = _Records()
    logging.getLogger("distributed.nanny").addHandler(records)
    try:
        with local_cluster(1) as cluster, distributed.Client(cluster) as client:
            client.run(_exit_slowly, 6)  # distributed's nanny kills a worker that takes over 4 s
            closing = time.monotonic()
        assert time.monotonic() - closing >= 6
    finally:
        logging.getLogger("distributed.nanny").removeHandler(records)
    assert not [message for message in records.messages if "still alive" in message], records.messages


def _interrupt_handler() -> str:
    return repr(signal.getsignal(signal.SIGINT))


def test_silenced_workers_log_nothing_of_distributed_and_ignore_ctrl_c():
    """A terminal's Ctrl-C reaches the workers too: they ignore it (the command stops the run) instead of printing tracebacks."""
    here = signal.getsignal(signal.SIGINT)
    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        assert list(client.run(_logger_level).values()) != [logging.CRITICAL + 1]
        client.run(silence_worker_logs)
        assert list(client.run(_logger_level).values()) == [logging.CRITICAL + 1]
        assert list(client.run(_interrupt_handler).values()) == [repr(signal.SIG_IGN)]
    assert signal.getsignal(signal.SIGINT) is here  # this process handles it as before


def test_a_cluster_does_not_need_port_8787():
    """Another cluster (or any server) on distributed's default dashboard port made it warn in three lines."""
    holder = socket.socket()
    try:
        try:
            holder.bind(("", 8787))
            holder.listen()
        except OSError:
            pass  # already taken by something else: as good
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with local_cluster(1):
                pass
    finally:
        holder.close()
    assert not [str(warning.message) for warning in caught if "already in use" in str(warning.message)]
