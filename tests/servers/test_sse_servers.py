"""Server-sent events under real servers, read by httpx as a browser would.

The app below is served from this very module (``servers.test_sse_servers:app``)
by gunicorn (sync and threaded workers: WSGI), uvicorn and hypercorn (on
asyncio and on trio: ASGI). Each test reads a few events, checks their
fields, then drops the connection, and proves that the server closed the
generator by polling counters the generators keep in the server process.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import os
import sys
import threading
import time
import typing as t

import anyio
import httpx
import pytest

import diota
from diota import request
from diota.sse import event_stream
from diota.sse import KEEP_ALIVE
from diota.sse import ServerSentEvent
from servers import free_port
from servers import gunicorn_command
from servers import HOST
from servers import REPO_ROOT
from servers import serve
from servers import Server

# -- the app, imported by the servers -----------------------------------------

app = diota.Flask(__name__)
_counters = {"started": 0, "cleanups": 0}
_counters_lock = threading.Lock()


def _count(key: str) -> None:
    with _counters_lock:
        _counters[key] += 1


@app.get("/stats")
def stats() -> dict[str, int]:
    """How many generators started and how many ran their cleanup."""
    with _counters_lock:
        return dict(_counters)


@app.get("/count/<kind>")
def count(kind: str) -> t.Any:
    """Numbered events, resuming after ``Last-Event-ID``."""
    start = int(request.headers.get("Last-Event-ID", "-1")) + 1
    pause = request.args.get("pause", 0.05, type=float)

    def event(n: int) -> ServerSentEvent:
        return ServerSentEvent({"n": n, "pid": os.getpid()}, event="count", id=n)

    def sync_gen() -> cabc.Iterator[ServerSentEvent]:
        _count("started")
        try:
            n = start
            while True:
                yield event(n)
                n += 1
                time.sleep(pause)
        finally:
            _count("cleanups")

    async def async_gen() -> cabc.AsyncIterator[ServerSentEvent]:
        _count("started")
        try:
            n = start
            while True:
                yield event(n)
                n += 1
                await anyio.sleep(pause)
        finally:
            _count("cleanups")

    source = sync_gen() if kind == "sync" else async_gen()
    return event_stream(source, retry=1500, keep_alive=1.0)


@app.get("/quiet/<kind>")
def quiet(kind: str) -> t.Any:
    """One event, then silence: only keep-alive comments follow."""

    def sync_gen() -> cabc.Iterator[str | None]:
        _count("started")
        try:
            yield "hello"
            for _ in range(600):
                time.sleep(0.05)
                yield None  # nothing to send; lets a closed stream stop us
        finally:
            _count("cleanups")

    async def async_gen() -> cabc.AsyncIterator[str]:
        _count("started")
        try:
            yield "hello"
            await anyio.sleep(30)
        finally:
            _count("cleanups")

    source = sync_gen() if kind == "sync" else async_gen()
    return event_stream(source, keep_alive=0.1)


@app.get("/idle/<kind>")
def idle(kind: str) -> t.Any:
    """One event, then nothing at all for longer than any test lasts."""

    def sync_gen() -> cabc.Iterator[str | None]:
        _count("started")
        try:
            yield "hello"
            while True:
                time.sleep(0.05)
                yield None
        finally:
            _count("cleanups")

    async def async_gen() -> cabc.AsyncIterator[str]:
        _count("started")
        try:
            yield "hello"
            await anyio.sleep(300)
        finally:
            _count("cleanups")

    source = sync_gen() if kind == "sync" else async_gen()
    return event_stream(source, keep_alive=300)


# -- the tests ----------------------------------------------------------------

pytestmark = [pytest.mark.servers, pytest.mark.timeout(60)]

APP = "servers.test_sse_servers:app"


ASGI_SERVERS = ["uvicorn", "hypercorn", "hypercorn-trio"]
SERVERS: dict[str, t.Callable[[int], list[str]]] = {
    "gunicorn-sync": lambda port: gunicorn_command(APP, port),
    "gunicorn-gthread": lambda port: [
        *gunicorn_command(APP, port, worker_class="gthread"),
        "--threads",
        "4",
    ],
    "uvicorn": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--host",
        HOST,
        "--port",
        str(port),
    ],  # fmt: skip
    "hypercorn": lambda port: [
        sys.executable,
        "-m",
        "hypercorn",
        "--bind",
        f"{HOST}:{port}",
        f"asgi:{APP}",
    ],  # fmt: skip
    "hypercorn-trio": lambda port: [
        sys.executable,
        "-m",
        "hypercorn",
        "--worker-class",
        "trio",
        "--bind",
        f"{HOST}:{port}",
        f"asgi:{APP}",
    ],  # fmt: skip
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> cabc.Iterator[Server]:
    port = free_port()
    argv = SERVERS[request.param](port)
    with serve(argv, port, cwd=REPO_ROOT / "tests", ready_path="/stats") as srv:
        yield srv
        # Clients going away is routine for an event stream: nothing to log.
        assert "Traceback" not in srv.output(), srv.output()


def _stats(server: Server) -> dict[str, int]:
    response = httpx.get(server.base_url + "/stats", timeout=5)
    assert response.status_code == 200
    return t.cast(dict[str, int], response.json())


def _read_blocks(response: httpx.Response, count: int) -> list[str]:
    """The first ``count`` blank-line-ended blocks of an event stream."""
    found: list[str] = []
    buffer = b""
    for chunk in response.iter_raw():
        buffer += chunk
        while b"\n\n" in buffer and len(found) < count:
            block, buffer = buffer.split(b"\n\n", 1)
            found.append(block.decode() + "\n\n")
        if len(found) >= count:
            return found
    raise AssertionError(f"the stream ended after {found!r}")


def _fields(block: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in block.splitlines() if line)


def _wait_for_cleanup(server: Server, before: dict[str, int]) -> None:
    """The generator the stream started has run its ``finally``."""
    deadline = time.monotonic() + 10
    while True:
        now = _stats(server)
        if now["cleanups"] == before["cleanups"] + 1:
            assert now["started"] == before["started"] + 1
            return
        assert time.monotonic() < deadline, (before, now, server.output())
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_events_then_disconnect(server: Server, kind: str) -> None:
    before = _stats(server)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        with client.stream("GET", f"/count/{kind}") as response:
            assert response.status_code == 200
            assert (
                response.headers["content-type"] == "text/event-stream; charset=utf-8"
            )
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            assert "content-length" not in response.headers
            retry, *events = _read_blocks(response, 4)
    # Leaving the blocks dropped the connection mid-stream.
    assert retry == "retry: 1500\n\n"
    for n, block in enumerate(events):
        fields = _fields(block)
        assert fields["event"] == "count"
        assert fields["id"] == str(n)
        assert json.loads(fields["data"])["n"] == n
    _wait_for_cleanup(server, before)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_resume_after_last_event_id(server: Server, kind: str) -> None:
    before = _stats(server)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        headers = {"Last-Event-ID": "41"}
        with client.stream("GET", f"/count/{kind}", headers=headers) as response:
            _, first = _read_blocks(response, 2)
    assert _fields(first)["id"] == "42"
    _wait_for_cleanup(server, before)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_keep_alive_then_disconnect(server: Server, kind: str) -> None:
    before = _stats(server)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        with client.stream("GET", f"/quiet/{kind}") as response:
            first, *rest = _read_blocks(response, 4)
    assert first == "data: hello\n\n"
    assert rest == [KEEP_ALIVE.decode()] * 3
    # The generator was idle (sleeping, or yielding None) when the client
    # left: the server noticed through a failed keep-alive write (WSGI) or
    # the disconnect message (ASGI).
    _wait_for_cleanup(server, before)


@pytest.mark.parametrize("name", ASGI_SERVERS)
def test_asgi_disconnect_noticed_while_idle(name: str) -> None:
    """An ASGI server reports the disconnect: the stream stops at once, with
    nothing written (a WSGI server notices only when a write fails, so at
    the next keep-alive at the latest)."""
    port = free_port()
    argv = SERVERS[name](port)
    with serve(argv, port, cwd=REPO_ROOT / "tests", ready_path="/stats") as server:
        for kind in ("sync", "async"):
            before = _stats(server)
            with httpx.Client(base_url=server.base_url, timeout=10) as client:
                with client.stream("GET", f"/idle/{kind}") as response:
                    assert _read_blocks(response, 1) == ["data: hello\n\n"]
            started = time.monotonic()
            _wait_for_cleanup(server, before)
            # Not after the 300 s keep-alive: within the driver's polling.
            assert time.monotonic() - started < 5
        assert "Traceback" not in server.output(), server.output()
