"""Connection limits for the app's HTTP server, so slow or idle clients cannot starve the others.

uvicorn (under Gradio) never times out a request that arrives slowly and accepts connections
until the process runs out of file descriptors; 1100 half-sent requests made every other request
fail with "Too many open files". `GuardedH11Protocol` is uvicorn's h11 protocol plus:

- a deadline for each request's headers: `header_timeout` seconds from connecting, or from the
  end of the previous response;
- an idle limit while a request body (an upload) arrives: `body_idle_timeout` seconds without a byte;
- a cap on open connections: one beyond `max_connections` closes the oldest connection that is
  still idle or sending its request (never one being answered), so clients that send whole
  requests are served while slow ones wait.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
import time
from typing import Any

import h11
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol", "install", "check_can_listen"]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request deadlines and a connection cap (class attributes, seconds)."""

    header_timeout = 10.0
    body_idle_timeout = 30.0
    keep_alive_timeout = 5  # uvicorn's default, stated here with the others
    max_connections = 500  # under the common limit of 1024 open files, with room for the app's own

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.keep_alive_timeout
        self._waiting_since = self._last_data = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._make_room()
        self._check_later(self.header_timeout)

    def data_received(self, data: bytes) -> None:
        self._last_data = time.monotonic()
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._waiting_since = time.monotonic()
        self._check_later(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def _receiving(self) -> bool:
        """Idle, or still sending its request: no response of ours is under way."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _check_later(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(max(delay, 0.0), self._check)

    def _check(self) -> None:
        """Close a connection past its deadline; otherwise look again when the deadline comes."""
        self._timer = None
        if self.transport.is_closing():
            return
        now = time.monotonic()
        if self.conn.their_state is h11.IDLE:
            remaining = self._waiting_since + self.header_timeout - now
        elif self.conn.their_state is h11.SEND_BODY:
            remaining = self._last_data + self.body_idle_timeout - now
        else:
            return  # request complete, being answered: on_response_complete looks again
        if remaining <= 0:
            self.transport.close()
        else:
            self._check_later(remaining)

    def _make_room(self) -> None:
        """Over the cap, close the longest-waiting idle or half-sent connection (this one if there is none)."""
        if sum(not c.transport.is_closing() for c in self.connections) <= self.max_connections:
            return
        waiting = [
            c for c in self.connections
            if isinstance(c, GuardedH11Protocol) and c is not self and c._receiving() and not c.transport.is_closing()
        ]  # a burst of connections is accepted at once: each must close another, not the one already closing
        # Idle connections (no request yet) go before those sending a body, oldest first.
        victim = min(waiting, key=lambda c: (c.conn.their_state is h11.SEND_BODY, c._waiting_since), default=self)
        victim.transport.close()


def install() -> None:
    """Make uvicorn servers of this process use GuardedH11Protocol, with a cap that fits the open-file limit.

    Gradio's `launch()` builds uvicorn's Config itself and passes no connection settings;
    uvicorn resolves its default protocol by the name "auto", so that name is pointed here.
    The soft open-file limit is raised to the hard one, as servers do.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        soft = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    GuardedH11Protocol.max_connections = min(GuardedH11Protocol.max_connections, max(64, soft // 2))
    HTTP_PROTOCOLS["auto"] = f"{__name__}:GuardedH11Protocol"


def check_can_listen(host: str, port: int) -> None:
    """Raise ValueError (one line, in command-line words) unless a server can listen on host:port.

    Checked before the model loads: Gradio finds out only at launch, after that load, and
    answers with a traceback and advice for Python callers.
    """
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ValueError(f"--host {host}: not an address of this machine ({error.strerror}); give an IP address such as 127.0.0.1 or 0.0.0.0") from None
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a port left in TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(f"port {port} is in use on {host} (another server, or this app already running); pick another with --port") from None
            raise ValueError(f"cannot listen on {host} port {port} ({error.strerror}); check --host and --port") from None
