"""Mounted and fallback applications (WSGI and ASGI), in every mode, and
the two bridges on their own."""

from __future__ import annotations

import collections.abc as cabc
import io
import logging
import threading
import time
import typing as t

import anyio
import pytest

import diota
from diota import websocket
from diota.mounts import _SEND_WINDOW
from diota.mounts import ASGIMiddleware
from diota.mounts import WSGIMiddleware


def legacy_wsgi(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
    """A WSGI application that says what it saw."""
    body = environ["wsgi.input"].read()
    out = (
        f"wsgi script={environ['SCRIPT_NAME']} path={environ['PATH_INFO']}"
        f" method={environ['REQUEST_METHOD']} body={body.decode()}"
        f" query={environ['QUERY_STRING']}"
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))]
    )
    return [out]


async def legacy_asgi(scope: dict[str, t.Any], receive: t.Any, send: t.Any) -> None:
    """An ASGI application that says what it saw, in two chunks."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": f"asgi ws {message['text']}"})
        await send({"type": "websocket.close", "code": 1000})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = (
        f"asgi root={scope['root_path']} path={scope['path']} body={body.decode()}"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": out[:4], "more_body": True})
    await send({"type": "http.response.body", "body": out[4:]})


@pytest.fixture
def mounted(app: diota.Flask) -> diota.Flask:
    hooks: list[str] = []
    app.config["hooks"] = hooks

    @app.before_request
    def before() -> None:
        hooks.append(diota.request.path)

    @app.route("/own")
    def own() -> str:
        return "diota"

    @app.get("/shared")
    def shared() -> str:
        return "diota get"

    app.mount("/wsgi", legacy_wsgi)
    app.mount("/asgi", legacy_asgi)
    app.mount("/wsgi/deeper", legacy_asgi)
    app.mount_fallback(legacy_wsgi)
    return app


def test_prefix_mounts_split_the_path(mounted: diota.Flask) -> None:
    client = mounted.test_client()
    assert client.get("/wsgi/a/b?x=1").data == (
        b"wsgi script=/wsgi path=/a/b method=GET body= query=x=1"
    )
    assert client.get("/wsgi").data.startswith(b"wsgi script=/wsgi path= ")
    assert client.post("/wsgi/form", data=b"hello").data.startswith(
        b"wsgi script=/wsgi path=/form method=POST body=hello"
    )
    # ASGI: root_path gains the prefix, path stays whole (the ASGI spec).
    assert client.post("/asgi/x", data=b"hi").data == (
        b"asgi root=/asgi path=/asgi/x body=hi"
    )
    # The longest prefix wins.
    assert client.get("/wsgi/deeper/z").data.startswith(b"asgi root=/wsgi/deeper")
    # Only whole path segments match.
    assert client.get("/wsgiX").data.startswith(b"wsgi script= path=/wsgiX")


def test_fallback_gets_what_diota_does_not_route(mounted: diota.Flask) -> None:
    client = mounted.test_client()
    assert client.get("/own").data == b"diota"
    assert client.get("/elsewhere").data.startswith(b"wsgi script= path=/elsewhere")
    # 405 for the method: the legacy application may serve it.
    assert client.post("/shared", data=b"x").data.startswith(
        b"wsgi script= path=/shared method=POST body=x"
    )
    assert client.get("/shared").data == b"diota get"


def test_diota_hooks_do_not_run_for_mounted_paths(mounted: diota.Flask) -> None:
    client = mounted.test_client()
    client.get("/wsgi/a")
    client.get("/asgi/a")
    client.get("/elsewhere")
    client.get("/own")
    assert mounted.config["hooks"] == ["/own"]


def test_streamed_responses_and_close(app: diota.Flask) -> None:
    closed: list[str] = []

    def streaming(environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body() -> cabc.Iterator[bytes]:
            try:
                for i in range(3):
                    yield f"chunk{i};".encode()
            finally:
                closed.append("closed")

        return body()

    app.mount("/s", streaming)
    client = app.test_client()
    response = client.get("/s/", buffered=False)
    chunks = list(t.cast(cabc.Iterable[bytes], response.response))
    response.close()
    assert b"".join(chunks) == b"chunk0;chunk1;chunk2;"
    assert closed == ["closed"]


def test_wsgi_errors_go_to_logging(
    app: diota.Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def noisy(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        environ["wsgi.errors"].write("something odd\n")
        environ["wsgi.errors"].flush()
        start_response("204 No Content", [])
        return []

    app.mount("/noisy", noisy)
    with caplog.at_level(logging.ERROR):
        assert app.test_client().get("/noisy").status_code == 204
    if diota.testing.FlaskClient(app).interface == "asgi":
        # Under ASGI, through the bridge's logger; under WSGI the server's
        # own wsgi.errors stream (the test client's) receives it.
        assert "something odd" in caplog.text


def test_a_failing_wsgi_app_answers_500(app: diota.Flask) -> None:
    def broken(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        raise RuntimeError("legacy bug")

    app.mount("/broken", broken)
    client = app.test_client()
    if client.interface == "wsgi":
        with pytest.raises(RuntimeError, match="legacy bug"):
            client.get("/broken")  # the WSGI server's business
    else:
        assert client.get("/broken").status_code == 500


def test_websocket_reaches_a_mounted_asgi_app(mounted: diota.Flask) -> None:
    with mounted.test_client().websocket("/asgi/chat") as ws:
        ws.send("hi")
        assert ws.receive() == "asgi ws hi"


def test_websocket_falls_back_to_an_asgi_fallback(app: diota.Flask) -> None:
    @app.websocket("/mine")
    async def mine() -> None:
        await websocket.send("diota ws")

    app.mount_fallback(legacy_asgi)
    client = app.test_client()
    with client.websocket("/mine") as ws:
        assert ws.receive() == "diota ws"
    with client.websocket("/theirs") as ws:
        ws.send("x")
        assert ws.receive() == "asgi ws x"


def test_a_diota_app_mounted_in_a_diota_app(app: diota.Flask) -> None:
    inner = diota.Flask("inner")

    @inner.route("/hello")
    def hello() -> str:
        return f"inner {diota.request.script_root} {diota.url_for('hello')}"

    app.mount("/inner", inner)
    assert app.test_client().get("/inner/hello").data == (b"inner /inner /inner/hello")


def test_limits_apply_only_when_asked(app: diota.Flask) -> None:
    app.config.update(MAX_CONTENT_LENGTH=10, TRUSTED_HOSTS=["good.example"])
    app.mount("/open", legacy_wsgi)
    app.mount("/guarded", legacy_wsgi, apply_limits=True)
    app.mount("/guarded-asgi", legacy_asgi, apply_limits=True)
    client = app.test_client()
    big = b"x" * 100
    host = {"base_url": "http://good.example"}

    assert client.post("/open", data=big).status_code == 200
    assert client.get("/open", base_url="http://evil.example").status_code == 200

    assert client.post("/guarded", data=big, **host).status_code == 413
    assert client.post("/guarded-asgi", data=big, **host).status_code == 413
    assert client.get("/guarded", base_url="http://evil.example").status_code == 400
    assert (
        client.get("/guarded-asgi", base_url="http://evil.example").status_code == 400
    )
    assert client.post("/guarded", data=b"small", **host).status_code == 200


def test_chunked_body_over_the_limit(app: diota.Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 10
    app.mount("/guarded", legacy_wsgi, apply_limits=True)
    app.mount("/guarded-asgi", legacy_asgi, apply_limits=True)
    client = app.test_client()
    for path in ("/guarded", "/guarded-asgi"):
        response = client.post(
            path,
            input_stream=io.BytesIO(b"y" * 100),
            headers={"Transfer-Encoding": "chunked"},
        )
        assert response.status_code == 413, path


def test_mount_arguments_are_checked(app: diota.Flask) -> None:
    with pytest.raises(ValueError, match="mount_fallback"):
        app.mount("/", legacy_wsgi)
    with pytest.raises(ValueError, match="starts with '/'"):
        app.mount("nope", legacy_wsgi)
    with pytest.raises(ValueError, match="interface"):
        app.mount("/x", legacy_wsgi, interface="cgi")


# -- the bridges, driven directly -------------------------------------------------


def _http_scope(path: str = "/", method: str = "GET") -> dict[str, t.Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example.org")],
        "server": ("example.org", 80),
    }


@pytest.mark.anyio
async def test_wsgi_bridge_serves_requests_concurrently() -> None:
    def slow(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        time.sleep(0.3)
        start_response("200 OK", [])
        return [b"done"]

    bridge = WSGIMiddleware(slow)
    statuses: list[int] = []

    async def one() -> None:
        async def receive() -> dict[str, t.Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, t.Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await bridge(_http_scope(), receive, send)

    started = time.monotonic()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one)
    # One at a time would take 8 x 0.3 s.
    assert time.monotonic() - started < 1.5
    assert statuses == [200] * 8


@pytest.mark.anyio
async def test_wsgi_bridge_streams_the_request_body() -> None:
    first_read = threading.Event()
    seen: list[bytes] = []

    def reader(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen.append(stream.read(5))
        first_read.set()
        seen.append(stream.read())
        start_response("200 OK", [])
        return [b"ok"]

    async def receive_parts() -> t.AsyncIterator[dict[str, t.Any]]:
        yield {"type": "http.request", "body": b"part1", "more_body": True}
        # The application has read the first part before the second exists.
        while not first_read.is_set():
            await anyio.sleep(0.01)
        yield {"type": "http.request", "body": b"part2", "more_body": False}
        await anyio.sleep_forever()

    parts = receive_parts()

    async def receive() -> dict[str, t.Any]:
        return await parts.__anext__()

    sent: list[dict[str, t.Any]] = []

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await WSGIMiddleware(reader)(_http_scope(method="POST"), receive, send)
    assert seen == [b"part1", b"part2"]
    assert sent[-1]["body"] == b"ok"


@pytest.mark.anyio
async def test_wsgi_bridge_response_has_back_pressure_and_stops_on_disconnect() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def endless(environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        start_response("200 OK", [])

        def body() -> cabc.Iterator[bytes]:
            try:
                i = 0
                while True:
                    produced.append(i)
                    yield b"x" * 1024
                    i += 1
            finally:
                closed.set()

        return body()

    gone = anyio.Event()
    taken: list[int] = []
    requests = [{"type": "http.request", "body": b""}]

    async def receive() -> dict[str, t.Any]:
        if requests:
            return requests.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, t.Any]) -> None:
        if message["type"] == "http.response.body":
            taken.append(1)
            if len(taken) == 5:
                gone.set()
            await anyio.sleep(0.01)  # a slow client

    with anyio.fail_after(10):
        await WSGIMiddleware(endless)(_http_scope(), receive, send)
    assert closed.is_set()
    # It produced about what was taken: no runaway buffering (the send
    # window, the chunk held back to end the response, the one in hand).
    assert len(produced) <= len(taken) + _SEND_WINDOW + 2


def test_asgi_bridge_under_wsgi_streams_and_sees_disconnect() -> None:
    events: list[str] = []

    async def ticking(scope: dict[str, t.Any], receive: t.Any, send: t.Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for i in range(1000):
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"t%d;" % i,
                        "more_body": True,
                    }
                )
            await send({"type": "http.response.body", "body": b""})
        except OSError:
            events.append("send failed: client gone")

    bridge = ASGIMiddleware(ticking)
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder("/").get_environ()
    statuses: list[str] = []
    body = bridge(environ, lambda status, headers: statuses.append(status))
    iterator = iter(body)
    assert [next(iterator) for _ in range(3)] == [b"t0;", b"t1;", b"t2;"]
    t.cast(t.Any, body).close()
    assert statuses == ["200 OK"]
    assert events == ["send failed: client gone"]


def test_asgi_bridge_reads_the_body_when_asked() -> None:
    bridge = ASGIMiddleware(legacy_asgi)
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder("/p", method="POST", data=b"abc" * 30000).get_environ()
    body = bridge(environ, lambda status, headers: None)
    data = b"".join(body)
    t.cast(t.Any, body).close()
    assert data == b"asgi root= path=/p body=" + b"abc" * 30000


@pytest.mark.anyio
async def test_lifespan_is_forwarded_to_mounted_asgi_apps() -> None:
    events: list[str] = []

    async def child(scope: dict[str, t.Any], receive: t.Any, send: t.Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                scope["state"]["child"] = "ready"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def no_lifespan(scope: dict[str, t.Any], receive: t.Any, send: t.Any) -> None:
        raise RuntimeError("only http")

    app = diota.Flask(__name__)

    @app.before_serving
    def parent_up() -> None:
        events.append("parent startup")

    @app.after_serving
    def parent_down() -> None:
        events.append("parent shutdown")

    app.mount("/child", child)
    app.mount("/other", no_lifespan)
    app.mount("/legacy", legacy_wsgi)

    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []
    state: dict[str, t.Any] = {}

    async def receive() -> dict[str, t.Any]:
        return inbox.pop(0)

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message["type"])

    with anyio.fail_after(10):
        await app({"type": "lifespan", "state": state}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == [
        "parent startup",
        "lifespan.startup",
        "lifespan.shutdown",
        "parent shutdown",
    ]
    assert state["child"] == "ready"


def test_routes_command_lists_websockets_and_mounts() -> None:
    app = diota.Flask(__name__)

    @app.websocket("/live")
    async def live() -> None:
        pass

    app.mount("/old", legacy_wsgi)
    app.mount_fallback(legacy_asgi)
    from diota.cli import routes_command

    output = app.test_cli_runner().invoke(routes_command).output
    assert "WEBSOCKET" in output and "/live" in output
    assert "/old/*  wsgi" in output
    assert "(fallback)  asgi" in output
