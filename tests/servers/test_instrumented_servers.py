"""Instrumentation sees every request under real WSGI and ASGI servers.

``instrumented_app`` patches the app class (``wsgi_app`` and a two-argument
``__call__``) and wraps ``app.wsgi_app``, as APM agents, error trackers and
tracers do; each instrument reads ``flask.request`` in ``start_response``.
Each server below serves it with its documented command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .procs import running
from .procs import RunningServer
from .procs import ServerSpec

pytestmark = [pytest.mark.servers, pytest.mark.timeout(60)]

APP = "instrumented_app:app"
ASGI_SERVERS = [
    ServerSpec(
        "uvicorn", "asgi", ("uvicorn", "--host", "{host}", "--port", "{port}", APP)
    ),
    ServerSpec(
        "hypercorn", "asgi", ("hypercorn", "--bind", "{host}:{port}", f"asgi:{APP}")
    ),
]
SERVERS = [
    ServerSpec("gunicorn-sync", "wsgi", ("gunicorn", "--bind", "{host}:{port}", APP)),
    *ASGI_SERVERS,
]
EXPECTED = [
    ("/", "200 OK"),
    ("/async", "201 CREATED"),
    ("/boom", "500 INTERNAL SERVER ERROR"),
]


@pytest.fixture
def trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trace.jsonl"
    monkeypatch.setenv("DIOTA_TRACE_FILE", str(path))
    return path


@pytest.mark.parametrize("spec", SERVERS, ids=lambda spec: spec.name)
def test_every_instrument_sees_every_request(
    spec: ServerSpec, trace: Path, tmp_path: Path
) -> None:
    with running(spec, tmp_path / "lifecycle.txt") as srv:
        _requests(srv)
        seen = [tuple(json.loads(line)) for line in trace.read_text().splitlines()]
    # start_response is called from the inside out: the class-level wsgi_app
    # patch first, then the middleware (which wrapped it), then __call__'s.
    assert seen == [
        (instrument, status, path)
        for path, status in EXPECTED
        for instrument in ("agent", "middleware", "tracker")
    ], srv.output()


def _requests(srv: RunningServer) -> None:
    with srv.client() as client:
        for path, status in EXPECTED:
            assert client.get(path).status_code == int(status[:3]), srv.output()


@pytest.mark.parametrize("spec", ASGI_SERVERS, ids=lambda spec: spec.name)
def test_asgi_servers_still_serve_websockets_and_lifespan(
    spec: ServerSpec, trace: Path, tmp_path: Path
) -> None:
    from websockets.sync.client import connect

    # running() waits for the lifespan startup before it yields.
    with running(spec, tmp_path / "lifecycle.txt") as srv:
        with connect(f"ws://127.0.0.1:{srv.port}/ws", open_timeout=10) as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "hi"
