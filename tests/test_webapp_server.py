"""Connection limits on a real uvicorn server: slow clients are cut off, normal requests are served meanwhile."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.config import HTTP_PROTOCOLS

from clear_vision.webapp import server as guard


class QuickLimits(guard.GuardedH11Protocol):
    """The app's protocol with limits small enough for a test."""

    header_timeout = 1.0
    body_idle_timeout = 1.0
    max_connections = 20


async def echo_length(scope: dict, receive, send) -> None:
    """Reads the whole body, answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"%d" % size
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(echo_length, host="127.0.0.1", port=port, http=QuickLimits, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)


def half_sent(address: tuple[str, int], data: bytes) -> socket.socket:
    client = socket.create_connection(address, timeout=5)
    client.sendall(data)
    return client


def closed_by_server(client: socket.socket, wait: float = 0.2) -> bool:
    client.settimeout(wait)
    try:
        return client.recv(1024) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def get(address: tuple[str, int], timeout: float = 5) -> str:
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/", timeout=timeout) as response:
        return response.read().decode()


HEADERS_CUT = b"GET / HTTP/1.1\r\nHost: x\r\n"  # the blank line that ends the headers never comes


def test_normal_requests_are_served_while_slow_clients_hang(address: tuple[str, int]) -> None:
    slow = [half_sent(address, HEADERS_CUT) for _ in range(2 * QuickLimits.max_connections)]
    try:
        started = time.monotonic()
        assert [get(address) for _ in range(5)] == ["0"] * 5
        assert time.monotonic() - started < QuickLimits.header_timeout  # served at once, not after the slow ones time out
        still_open = sum(not closed_by_server(client, wait=0.05) for client in slow)
        assert still_open <= QuickLimits.max_connections
    finally:
        for client in slow:
            client.close()


def test_half_sent_headers_are_cut_off(address: tuple[str, int]) -> None:
    with half_sent(address, HEADERS_CUT) as client:
        assert not closed_by_server(client)
        time.sleep(QuickLimits.header_timeout + 0.3)
        assert closed_by_server(client)


def test_stalled_body_is_cut_off_but_a_slow_steady_one_completes(address: tuple[str, int]) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n"
    with half_sent(address, head + b"a") as stalled, half_sent(address, head + b"a") as steady:
        for byte in b"bcdef":  # a byte every 0.4 s: slower in total than the header deadline, never idle for long
            time.sleep(0.4)
            steady.sendall(bytes([byte]))
        assert closed_by_server(stalled)
        steady.settimeout(5)
        answer = b""
        while not answer.endswith(b"\r\n\r\n6") and len(answer) < 1024:
            answer += steady.recv(1024) or b"closed"
        assert answer.startswith(b"HTTP/1.1 200 OK")


def test_install_makes_the_guarded_protocol_uvicorns_default() -> None:
    before = HTTP_PROTOCOLS["auto"]
    try:
        guard.install()
        config = uvicorn.Config(echo_length)
        config.load()
        assert config.http_protocol_class is guard.GuardedH11Protocol
        assert 64 <= guard.GuardedH11Protocol.max_connections <= 500
    finally:
        HTTP_PROTOCOLS["auto"] = before


def test_a_port_in_use_or_a_foreign_host_is_named_in_one_line() -> None:
    """`app.py --port N` on a busy port once loaded the model, then died with Gradio's traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=rf"^port {port} is in use on 127.0.0.1 \(another server, or this app already running\); pick another with --port$"):
            guard.check_can_listen("127.0.0.1", port)
    guard.check_can_listen("127.0.0.1", port)  # free again
    with pytest.raises(ValueError, match=r"^--host no-such-host.invalid: not an address of this machine"):
        guard.check_can_listen("no-such-host.invalid", port)
