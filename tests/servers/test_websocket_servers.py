"""WebSockets through real servers, with a real client (the ``websockets``
package): uvicorn (its default WebSocket protocol and wsproto) and
hypercorn serve them; a WSGI server answers a handshake with a 400."""

from __future__ import annotations

import collections.abc as cabc
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .procs import running
from .procs import RunningServer
from .procs import ServerSpec

pytestmark = [pytest.mark.servers, pytest.mark.timeout(60)]

WEBSOCKET_SERVERS = [
    ServerSpec(
        "uvicorn", "asgi", ("uvicorn", "--host", "{host}", "--port", "{port}", "{app}")
    ),  # fmt: skip
    ServerSpec(
        "uvicorn-wsproto",
        "asgi",
        ("uvicorn", "--ws", "wsproto", "--host", "{host}", "--port", "{port}", "{app}"),
    ),  # fmt: skip
    ServerSpec(
        "hypercorn", "asgi", ("hypercorn", "--bind", "{host}:{port}", "asgi:{app}")
    ),  # fmt: skip
]


@pytest.fixture(scope="module", params=WEBSOCKET_SERVERS, ids=lambda s: s.name)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> cabc.Iterator[RunningServer]:
    spec: ServerSpec = request.param
    with running(spec, tmp_path_factory.mktemp(spec.name) / "lifecycle.txt") as srv:
        yield srv


def _recorded(server: RunningServer) -> str:
    try:
        return server.lifecycle_path.read_text()
    except FileNotFoundError:
        return ""


def _ws_url(server: RunningServer, path: str) -> str:
    return server.base_url.replace("http://", "ws://") + path


def test_echo_with_subprotocol(server: RunningServer) -> None:
    with connect(
        _ws_url(server, "/ws/echo/ada"), subprotocols=["chat"], open_timeout=10
    ) as ws:
        assert ws.subprotocol == "chat"
        assert ws.recv(timeout=10) == "hello ada anonymous"
        ws.send("text")
        assert ws.recv(timeout=10) == "text"
        ws.send(b"\x00bytes")
        assert ws.recv(timeout=10) == b"\x00bytes"


def test_session_cookie_reaches_the_handler(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        cookie = http.get("/login/grace").headers["set-cookie"].split(";")[0]
    with connect(
        _ws_url(server, "/ws/echo/x"),
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    ) as ws:
        assert ws.recv(timeout=10) == "hello x grace"


def test_sync_handler(server: RunningServer) -> None:
    with connect(_ws_url(server, "/ws/sync"), open_timeout=10) as ws:
        ws.send("shout")
        assert ws.recv(timeout=10) == "SHOUT"


def test_refused_handshake(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with connect(_ws_url(server, "/ws/private"), open_timeout=10):
            pass
    # 403 either way: the app's own response where the server supports the
    # websocket.http.response extension, the server's 403 where it does not.
    assert refused.value.response.status_code == 403


def test_client_disconnect_runs_cleanup(server: RunningServer) -> None:
    name = f"gone{time.monotonic_ns()}"
    with connect(_ws_url(server, f"/ws/echo/{name}"), open_timeout=10) as ws:
        ws.recv(timeout=10)
    deadline = time.monotonic() + 10
    while f"ws-closed {name}" not in _recorded(server):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)


def test_handler_end_closes_normally(server: RunningServer) -> None:
    with connect(_ws_url(server, "/ws/echo/y"), open_timeout=10) as ws:
        ws.recv(timeout=10)
        ws.close()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def test_wsgi_server_answers_400(tmp_path: Path) -> None:
    spec = ServerSpec(
        "gunicorn-sync",
        "wsgi",
        ("gunicorn", "--bind", "{host}:{port}", "--workers", "1", "{app}"),
    )
    with running(spec, tmp_path / "lifecycle.txt") as srv:
        with pytest.raises(InvalidStatus) as refused:
            with connect(_ws_url(srv, "/ws/echo/z"), open_timeout=10):
                pass
    assert refused.value.response.status_code == 400
    assert b"ASGI server" in refused.value.response.body
