"""A legacy WSGI application: plain WSGI, no framework, no diota.

The app that every WSGI-to-ASGI bridge wraps in ``benchmarks/bridge.py`` and
in ``tests/servers/test_bridge_upload.py``. It stands for the code a team
migrates away from, so it only uses what PEP 3333 gives it.

Routes:

``GET /hello``
    A short text body.
``GET /json``
    A small JSON document.
``POST /echo``
    The request body sent back (meant for a few KiB).
``POST /upload``
    Reads the whole body in 64 KiB chunks, never holding it, and answers
    ``{"size": <bytes>, "sha256": <hex>}``. Works with and without
    ``Content-Length`` (a chunked request ends when ``wsgi.input`` does).
``GET /slow``
    Sleeps 20 ms in a blocking call: a bridge that serves one request at a
    time takes N x 20 ms for N concurrent requests.
``GET /download?size=<bytes>``
    Streams ``size`` bytes (1 MiB by default) in 64 KiB chunks from a
    generator, with a ``Content-Length``.
``GET /stats``
    ``{"slow_peak": <most /slow calls in flight at once>, "slow_calls": <n>,
    "downloads_closed": <n>}`` since the last ``/stats?reset=1``.
"""

from __future__ import annotations

import collections.abc as cabc
import hashlib
import json
import threading
import time
import typing as t
from urllib.parse import parse_qs

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

HELLO = b"Hello, World!"
JSON_DOC = {"message": "Hello, World!", "legacy": True}
#: Bytes read from ``wsgi.input`` per call, and sent per ``/download`` chunk.
CHUNK = 64 * 1024
#: How long ``/slow`` blocks, in seconds.
SLOW_SECONDS = 0.02
DEFAULT_DOWNLOAD = 1024 * 1024

_TEXT = ("Content-Type", "text/plain; charset=utf-8")
_JSON = ("Content-Type", "application/json")


class _Stats:
    """Counters the benchmark reads to tell concurrent bridges from serial
    ones. Guarded by a lock: the bridges call the app from worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting afresh. Calls still in flight stay counted: a
        load generator may have left some running."""
        self.slow_in_flight = getattr(self, "slow_in_flight", 0)
        self.slow_peak = self.slow_in_flight
        self.slow_calls = 0
        self.downloads_closed = 0

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {
                "slow_peak": self.slow_peak,
                "slow_calls": self.slow_calls,
                "downloads_closed": self.downloads_closed,
            }


stats = _Stats()


def _respond(
    start_response: StartResponse,
    body: bytes,
    status: str = "200 OK",
    header: tuple[str, str] = _TEXT,
) -> list[bytes]:
    start_response(status, [header, ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response: StartResponse, value: object) -> list[bytes]:
    return _respond(start_response, json.dumps(value).encode(), header=_JSON)


def _read_chunks(environ: WSGIEnvironment) -> cabc.Iterator[bytes]:
    """The request body, ``CHUNK`` bytes at a time.

    With a ``Content-Length`` it reads exactly that much (PEP 3333 leaves
    reading past it undefined); without one (a chunked request) it reads
    until ``wsgi.input`` returns nothing, as servers that set
    ``wsgi.input_terminated`` allow.
    """
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    remaining = int(length) if length.isdigit() else None
    while remaining is None or remaining > 0:
        data = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not data:
            break
        if remaining is not None:
            remaining -= len(data)
        yield data


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    return _respond(start_response, HELLO)


def json_view(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    return _json(start_response, JSON_DOC)


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    body = b"".join(_read_chunks(environ))
    content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
    return _respond(start_response, body, header=("Content-Type", content_type))


def upload(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    digest = hashlib.sha256()
    size = 0
    for data in _read_chunks(environ):
        digest.update(data)
        size += len(data)
    return _json(start_response, {"size": size, "sha256": digest.hexdigest()})


def slow(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    with stats.lock:
        stats.slow_in_flight += 1
        stats.slow_calls += 1
        stats.slow_peak = max(stats.slow_peak, stats.slow_in_flight)
    try:
        time.sleep(SLOW_SECONDS)  # a blocking call: a database, a remote API
    finally:
        with stats.lock:
            stats.slow_in_flight -= 1
    return _respond(start_response, b"slept")


def _download_chunks(size: int) -> cabc.Iterator[bytes]:
    block = b"x" * CHUNK
    try:
        while size > 0:
            # PERF: slicing only the last chunk; the others are the same object.
            yield block if size >= CHUNK else block[:size]
            size -= CHUNK
    finally:
        # Runs when the bridge closes the iterable, finished or not.
        with stats.lock:
            stats.downloads_closed += 1


def download(
    environ: WSGIEnvironment, start_response: StartResponse
) -> cabc.Iterable[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        size = int(query.get("size", [str(DEFAULT_DOWNLOAD)])[0])
    except ValueError:
        size = -1
    if size < 0:
        return _respond(start_response, b"bad size", "400 Bad Request")
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
    )
    return _download_chunks(size)


def stats_view(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    snapshot = stats.snapshot()
    if "reset=1" in environ.get("QUERY_STRING", ""):
        with stats.lock:
            stats.reset()
    return _json(start_response, snapshot)


_View = t.Callable[["WSGIEnvironment", "StartResponse"], cabc.Iterable[bytes]]

ROUTES: dict[str, tuple[str, _View]] = {
    "/hello": ("GET", hello),
    "/json": ("GET", json_view),
    "/echo": ("POST", echo),
    "/upload": ("POST", upload),
    "/slow": ("GET", slow),
    "/download": ("GET", download),
    "/stats": ("GET", stats_view),
}


def app(
    environ: WSGIEnvironment, start_response: StartResponse
) -> cabc.Iterable[bytes]:
    """The WSGI callable."""
    route = ROUTES.get(environ.get("PATH_INFO", ""))
    if route is None:
        return _respond(start_response, b"not found", "404 Not Found")
    method, view = route
    if environ["REQUEST_METHOD"] != method:
        start_response(
            "405 Method Not Allowed",
            [_TEXT, ("Allow", method), ("Content-Length", "0")],
        )
        return [b""]
    return view(environ, start_response)
