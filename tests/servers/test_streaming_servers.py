"""Streamed responses under real servers: back-pressure and disconnects.

The app below is served from this very module
(``servers.test_streaming_servers:app``) by uvicorn and hypercorn (ASGI, on
asyncio and on trio) and by gunicorn's sync worker (WSGI). Its views stream
a large body (hundreds of MiB) from a sync or an async generator wrapped in
``stream_with_context``. Each generator writes how many bytes it has
produced, and how it ended, to a small file the test reads: the worker may
be busy with the stream (gunicorn's sync worker serves one request at a
time), so the progress cannot come from another endpoint.

A raw socket with a small receive buffer plays a slow client: it reads a
little, pauses, and checks that the server only ever got a few MiB ahead of
it (what the socket buffers hold) and that the worker's memory did not grow
with the body. Then it hangs up and checks that the generator's ``finally``
ran.
"""

from __future__ import annotations

import collections.abc as cabc
import os
import socket
import sys
import threading
import time
import typing as t
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

import diota
from diota import g
from diota import request
from diota import stream_template_string
from diota import stream_with_context
from diota import template_rendered
from servers import free_port
from servers import gunicorn_command
from servers import HOST
from servers import REPO_ROOT
from servers import serve
from servers import Server

MiB = 1024 * 1024
CHUNK = 64 * 1024
#: The body each big stream would send if the client read it all.
BIG = 200 * MiB

# -- the app, imported by the servers -----------------------------------------

app = diota.Flask(__name__)


class _Progress:
    """One stream's progress, kept in a file named after its id.

    The record is rewritten in place (fixed width, one ``pwrite``) so a
    reader never sees a half-written line and producing a chunk costs one
    system call.
    """

    def __init__(self, stream_id: str) -> None:
        state_dir = Path(os.environ["DIOTA_STREAM_STATE"])
        self._fd = os.open(state_dir / stream_id, os.O_WRONLY | os.O_CREAT, 0o644)
        self.produced = 0
        self.record("running")

    def record(self, state: str) -> None:
        line = f"{os.getpid()} {self.produced} {state}"
        os.pwrite(self._fd, line.ljust(64).encode(), 0)

    def end(self, state: str) -> None:
        self.record(state)
        os.close(self._fd)


def _chunk(n: int, size: int) -> bytes:
    """A fresh chunk (a new object each time, so a server that buffered
    the body would really hold it in memory), numbered for order checks."""
    head = b"%016d" % n
    return head + b"x" * (size - len(head))


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.get("/big/sync")
def big_sync() -> diota.Response:
    @stream_with_context
    def generate() -> cabc.Iterator[bytes]:
        # Read from request inside the stream: the context is kept for it.
        progress = _Progress(request.args["id"])
        size = request.args.get("size", BIG, type=int)
        state = "closed"
        try:
            n = 0
            while progress.produced < size:
                chunk = _chunk(n, min(CHUNK, size - progress.produced))
                progress.produced += len(chunk)
                progress.record("running")
                yield chunk
                n += 1
            state = "completed"
        finally:
            progress.end(state)

    return diota.Response(generate(), mimetype="application/octet-stream")


@app.get("/big/async")
async def big_async() -> diota.Response:
    @stream_with_context
    async def generate() -> cabc.AsyncIterator[bytes]:
        progress = _Progress(request.args["id"])
        size = request.args.get("size", BIG, type=int)
        state = "closed"
        try:
            n = 0
            while progress.produced < size:
                chunk = _chunk(n, min(CHUNK, size - progress.produced))
                progress.produced += len(chunk)
                progress.record("running")
                yield chunk
                n += 1
                # A real async source awaits something between chunks.
                await anyio.lowlevel.checkpoint()
            state = "completed"
        finally:
            progress.end(state)

    # werkzeug's Response is typed for sync bodies; diota's accepts async ones.
    body: t.Any = generate()
    return diota.Response(body, mimetype="application/octet-stream")


@app.get("/template")
async def template() -> diota.Response:
    g.view_thread = threading.get_ident()
    return diota.Response(
        stream_template_string("{% for i in range(3) %}{{ i }}{% endfor %}")
    )


async def _on_rendered(sender: t.Any, template: t.Any, context: t.Any) -> None:
    """An async signal receiver, sent ``template_rendered`` from the stream:
    it must run on the app's event loop, the one the async view ran on."""
    where = "same" if g.view_thread == threading.get_ident() else "other"
    state_dir = Path(os.environ["DIOTA_STREAM_STATE"])
    (state_dir / request.args["id"]).write_text(where)


template_rendered.connect(_on_rendered, app)


# -- the tests ----------------------------------------------------------------

pytestmark = [pytest.mark.servers, pytest.mark.timeout(120)]

APP = "servers.test_streaming_servers:app"

SERVERS: dict[str, t.Callable[[int], list[str]]] = {
    "gunicorn-sync": lambda port: gunicorn_command(APP, port),
    "uvicorn": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--host",
        HOST,
        "--port",
        str(port),
    ],
    "hypercorn": lambda port: [
        sys.executable,
        "-m",
        "hypercorn",
        "--bind",
        f"{HOST}:{port}",
        f"asgi:{APP}",
    ],
    "hypercorn-trio": lambda port: [
        sys.executable,
        "-m",
        "hypercorn",
        "--worker-class",
        "trio",
        "--bind",
        f"{HOST}:{port}",
        f"asgi:{APP}",
    ],
}


def _send_buffer_max() -> int:
    """The most a TCP send buffer grows to (``tcp_wmem``'s maximum)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * MiB  # Linux's default


#: How far the server may get ahead of what the client has read: the
#: kernel's socket buffers (the sender's grows up to ``tcp_wmem``'s maximum,
#: 4 MiB by default) plus a few chunks in the server's and the client's
#: buffers. A server that ignored back-pressure would be ahead by the whole
#: body: 3 to 4 MiB ahead is what uvicorn, hypercorn and gunicorn show with
#: Linux's defaults, 64 KiB under trio (which limits unsent data).
AHEAD_BOUND = _send_buffer_max() + 4 * MiB
#: How much the worker's resident memory may grow while a stream is open.
RSS_BOUND = 48 * MiB


class StreamingServer(t.NamedTuple):
    server: Server
    state_dir: Path


@pytest.fixture(scope="module", params=list(SERVERS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> cabc.Iterator[StreamingServer]:
    state_dir = tmp_path_factory.mktemp("streams")
    port = free_port()
    argv = SERVERS[request.param](port)
    with serve(
        argv,
        port,
        cwd=REPO_ROOT / "tests",
        env={"DIOTA_STREAM_STATE": str(state_dir)},
        ready_path="/ping",
    ) as srv:
        yield StreamingServer(srv, state_dir)
        # Clients hanging up mid-stream is routine: nothing to log.
        assert "Traceback" not in srv.output(), srv.output()


class Progress(t.NamedTuple):
    pid: int
    produced: int
    state: str


def _progress(server: StreamingServer, stream_id: str) -> Progress | None:
    try:
        pid, produced, state = (server.state_dir / stream_id).read_text().split()
    except (FileNotFoundError, ValueError):
        return None  # not started yet
    return Progress(int(pid), int(produced), state)


def _wait_progress(
    server: StreamingServer,
    stream_id: str,
    done: t.Callable[[Progress], bool],
    timeout: float = 10.0,
) -> Progress:
    deadline = time.monotonic() + timeout
    while True:
        progress = _progress(server, stream_id)
        if progress is not None and done(progress):
            return progress
        assert time.monotonic() < deadline, (progress, server.server.output())
        time.sleep(0.02)


def _settled(server: StreamingServer, stream_id: str) -> Progress:
    """The progress once the producer has stopped moving: blocked on the
    full socket buffers."""
    previous = _wait_progress(server, stream_id, lambda p: True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.15)
        current = _progress(server, stream_id)
        assert current is not None
        if current.produced == previous.produced:
            return current
        previous = current
    return previous  # still moving: the bound check below decides


def _rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class SlowClient:
    """A raw HTTP/1.1 client whose socket takes little at a time."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect, so the window is small from the start (setting it
        # also turns off the kernel's receive buffer autotuning).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        self.sock.settimeout(10)
        self.sock.connect((HOST, port))
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode("ascii")
        )
        self.received = 0
        self._buffer = bytearray(CHUNK)
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            assert data, f"connection closed before the headers: {head!r}"
            head += data
        self.head, _, rest = head.partition(b"\r\n\r\n")
        self.received = len(rest)

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])

    def read(self, amount: int) -> None:
        """Read (and drop) ``amount`` more bytes of the body, as they come."""
        target = self.received + amount
        view = memoryview(self._buffer)
        while self.received < target:
            n = self.sock.recv_into(view, min(CHUNK, target - self.received))
            assert n, "the server ended the body early"
            self.received += n

    def hang_up(self) -> None:
        # Unread data is waiting, so the kernel answers with a reset: the
        # server's next write fails at once.
        self.sock.close()


def _assert_not_ahead(progress: Progress, client: SlowClient) -> None:
    assert progress.state == "running", progress
    assert progress.produced - client.received <= AHEAD_BOUND, (
        f"the server produced {progress.produced} bytes for a client that"
        f" read {client.received}: it buffers the body instead of waiting"
    )


def _stream_id() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_slow_client_bounds_what_the_server_produces(
    server: StreamingServer, kind: str
) -> None:
    stream_id = _stream_id()
    client = SlowClient(server.server.port, f"/big/{kind}?id={stream_id}")
    try:
        assert client.status == 200
        progress = _settled(server, stream_id)
        _assert_not_ahead(progress, client)
        baseline_rss = peak_rss = _rss(progress.pid)
        for _ in range(6):
            client.read(1 * MiB)
            progress = _settled(server, stream_id)
            _assert_not_ahead(progress, client)
            peak_rss = max(peak_rss, _rss(progress.pid))
        assert peak_rss - baseline_rss <= RSS_BOUND, (
            f"the worker grew from {baseline_rss} to {peak_rss} bytes"
            f" while a client read {client.received} bytes of a stream"
        )
    finally:
        client.hang_up()
    # The generator stops there and runs its finally.
    ended = _wait_progress(server, stream_id, lambda p: p.state != "running")
    assert ended.state == "closed"
    assert ended.produced < BIG


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_hang_up_mid_stream_runs_finally(server: StreamingServer, kind: str) -> None:
    stream_id = _stream_id()
    client = SlowClient(server.server.port, f"/big/{kind}?id={stream_id}")
    client.read(256 * 1024)
    client.hang_up()
    started = time.monotonic()
    ended = _wait_progress(server, stream_id, lambda p: p.state != "running")
    assert ended.state == "closed"
    assert time.monotonic() - started < 5
    # The worker is free again and serves the next request.
    assert httpx.get(server.server.base_url + "/ping", timeout=5).text == "pong"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_fast_client_gets_the_whole_body_in_order(
    server: StreamingServer, kind: str
) -> None:
    stream_id = _stream_id()
    size = 16 * MiB + 12345  # ends with a short chunk
    received = 0
    pending = b""
    n = 0
    with httpx.Client(base_url=server.server.base_url, timeout=10) as client:
        with client.stream("GET", f"/big/{kind}?id={stream_id}&size={size}") as rv:
            assert rv.status_code == 200
            assert rv.headers["content-type"] == "application/octet-stream"
            for data in rv.iter_bytes():
                received += len(data)
                pending += data
                # Each chunk starts with its number: they arrive in order.
                while len(pending) >= CHUNK or (received == size and pending):
                    chunk, pending = pending[:CHUNK], pending[CHUNK:]
                    assert chunk[:16] == b"%016d" % n
                    n += 1
    assert received == size
    ended = _wait_progress(server, stream_id, lambda p: p.state != "running")
    assert ended == Progress(ended.pid, size, "completed")


def test_async_code_from_a_sync_stream_runs_on_the_apps_loop(
    server: StreamingServer,
) -> None:
    """A streamed template is rendered in a worker thread under ASGI; the
    async receiver of the signal it sends at the end must run on the
    server's loop, where loop-bound resources (a connection pool opened in
    ``before_serving``) live, and not on another loop."""
    stream_id = _stream_id()
    rv = httpx.get(f"{server.server.base_url}/template?id={stream_id}", timeout=10)
    assert rv.text == "012"
    where = server.state_dir / stream_id
    deadline = time.monotonic() + 5
    while not where.exists():
        assert time.monotonic() < deadline, server.server.output()
        time.sleep(0.02)
    assert where.read_text() == "same", (
        "the async template_rendered receiver ran off the server's event loop"
        " (see the streaming report: the ASGI sync-stream thread is not marked"
        " as an ASGI worker)"
    )
