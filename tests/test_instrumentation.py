"""Instrumentation sees every request as it does on Flask, on both interfaces.

The wrappers here are written the way tracers and error trackers write
theirs: middleware assigned to ``app.wsgi_app`` whose ``start_response``
reads ``flask.request`` (to put the status on the request's span), a
``wsgi_app`` patched on the class, a two-argument ``__call__`` patched on
the class. Each is checked with the test client driving the WSGI interface
and the ASGI one; the ASGI server's view of the app (uvicorn's interface
detection, lifespan, WebSockets) must survive the patches.
"""

from __future__ import annotations

import asyncio
import typing as t

import anyio
import pytest

import diota
from diota import request

Seen = list[tuple[str, str, str | None]]


def _recording_start_response(
    seen: Seen, name: str, start_response: t.Any
) -> t.Callable[..., t.Any]:
    def traced_start_response(status: str, headers: list[t.Any], *args: t.Any) -> t.Any:
        # What tracers do here: the request is still there to read.
        path = request.path if diota.has_request_context() else None
        seen.append((name, status, path))
        headers.append(("X-Traced", name))
        return start_response(status, headers, *args)

    return traced_start_response


class TracingMiddleware:
    """Middleware wrapping ``app.wsgi_app``, as OpenTelemetry's Flask
    instrumentation does."""

    def __init__(self, wsgi_app: t.Any, seen: Seen) -> None:
        self.wsgi_app = wsgi_app
        self.seen = seen

    def __call__(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        return self.wsgi_app(
            environ, _recording_start_response(self.seen, "middleware", start_response)
        )


@pytest.fixture
def traced_app(app: diota.Flask) -> diota.Flask:
    @app.get("/hello")
    def hello() -> str:
        return "hello"

    @app.get("/async")
    async def async_hello() -> tuple[str, int]:
        await anyio.sleep(0)
        return "created", 201

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    return app


def test_start_response_sees_the_request(traced_app: diota.Flask, mode: str) -> None:
    seen: Seen = []
    traced_app.wsgi_app = TracingMiddleware(traced_app.wsgi_app, seen)  # type: ignore[method-assign]
    client = traced_app.test_client()
    for path, status in [("/hello", 200), ("/async", 201), ("/missing", 404)]:
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["X-Traced"] == "middleware"
    traced_app.testing = False
    assert client.get("/boom").status_code == 500
    assert seen == [
        ("middleware", "200 OK", "/hello"),
        ("middleware", "201 CREATED", "/async"),
        ("middleware", "404 NOT FOUND", "/missing"),
        ("middleware", "500 INTERNAL SERVER ERROR", "/boom"),
    ]


def test_wsgi_app_patched_on_the_class(
    traced_app: diota.Flask, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As APM agents patch ``Flask.wsgi_app``: seen under both interfaces."""
    seen: Seen = []
    original = diota.Flask.wsgi_app

    def patched_wsgi_app(
        self: diota.Flask, environ: dict[str, t.Any], start_response: t.Any
    ) -> t.Any:
        return original(
            self, environ, _recording_start_response(seen, "class", start_response)
        )

    monkeypatch.setattr(diota.Flask, "wsgi_app", patched_wsgi_app)
    client = traced_app.test_client()
    assert client.get("/hello").headers["X-Traced"] == "class"
    assert client.get("/async").status_code == 201
    assert seen == [("class", "200 OK", "/hello"), ("class", "201 CREATED", "/async")]


def test_call_patched_on_the_class_with_a_wsgi_function(
    traced_app: diota.Flask, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As error trackers patch ``Flask.__call__`` (two arguments): both
    interfaces keep working, and the patch sees every request."""
    seen: Seen = []
    old_call = diota.Flask.__call__

    def patched_call(
        self: diota.Flask, environ: dict[str, t.Any], start_response: t.Any
    ) -> t.Any:
        return old_call(
            self, environ, _recording_start_response(seen, "call", start_response)
        )

    monkeypatch.setattr(diota.Flask, "__call__", patched_call)
    # ASGI servers still see an ASGI app (uvicorn's interface detection).
    assert asyncio.iscoroutinefunction(traced_app.__call__)
    client = traced_app.test_client()
    assert client.get("/hello").headers["X-Traced"] == "call"
    assert client.get("/async").status_code == 201
    assert seen == [("call", "200 OK", "/hello"), ("call", "201 CREATED", "/async")]
    monkeypatch.undo()
    assert diota.Flask.__call__ is old_call


def test_call_patched_with_an_asgi_function(
    traced_app: diota.Flask, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A three-argument ``__call__`` serves ASGI; WSGI calls stay diota's."""
    scopes: list[str] = []
    old_call = diota.Flask.__call__

    async def patched_call(
        self: diota.Flask, scope: t.Any, receive: t.Any, send: t.Any
    ) -> None:
        scopes.append(scope["path"])
        await old_call(self, scope, receive, send)

    monkeypatch.setattr(diota.Flask, "__call__", patched_call)
    client = traced_app.test_client()
    assert client.get("/hello").data == b"hello"
    assert scopes == (["/hello"] if mode.startswith("asgi") else [])


def test_subclass_defining_a_wsgi_call(traced_app: diota.Flask, mode: str) -> None:
    seen: Seen = []

    class TracedFlask(diota.Flask):
        def __call__(self, environ: t.Any, start_response: t.Any) -> t.Any:  # type: ignore[override]
            return super().__call__(
                environ, _recording_start_response(seen, "subclass", start_response)
            )

    app = TracedFlask("traced")
    app.add_url_rule("/", "index", lambda: "ok")
    assert app.test_client().get("/").headers["X-Traced"] == "subclass"
    assert seen == [("subclass", "200 OK", "/")]


def test_varargs_call_patch_is_called_for_both(
    traced_app: diota.Flask, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    old_call = diota.Flask.__call__

    def patched_call(self: diota.Flask, *args: t.Any) -> t.Any:
        calls.append(len(args))
        return old_call(self, *args)

    monkeypatch.setattr(diota.Flask, "__call__", patched_call)
    assert asyncio.iscoroutinefunction(traced_app.__call__)
    assert traced_app.test_client().get("/hello").data == b"hello"
    assert calls == [3 if mode.startswith("asgi") else 2]


# -- the ASGI interface itself, as a server drives it ----------------------------


async def _serve_asgi(
    app: t.Any, scope: dict[str, t.Any], incoming: list[dict[str, t.Any]]
) -> list[dict[str, t.Any]]:
    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent


def _http_scope(path: str) -> dict[str, t.Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("view_kind", ["def", "async def"])
async def test_asgi_response_start_sees_the_request(view_kind: str) -> None:
    """ASGI middleware wrapping ``send`` reads ``request`` when the response
    starts, as WSGI middleware does in ``start_response``."""
    app = diota.Flask(__name__)
    if view_kind == "def":
        app.add_url_rule("/", "index", lambda: "ok")
    else:

        async def index() -> str:
            return "ok"

        app.add_url_rule("/", "index", index)
    starts: list[str | None] = []

    def middleware(asgi_app: t.Any) -> t.Any:
        async def traced(scope: t.Any, receive: t.Any, send: t.Any) -> None:
            async def traced_send(message: dict[str, t.Any]) -> None:
                if message["type"] == "http.response.start":
                    starts.append(request.path if diota.has_request_context() else None)
                await send(message)

            await asgi_app(scope, receive, traced_send)

        return traced

    app.asgi_app = middleware(app.asgi_app)  # type: ignore[method-assign]
    sent = await _serve_asgi(app, _http_scope("/"), [{"type": "http.request"}])
    assert sent[0]["status"] == 200
    assert starts == ["/"]
    # The context is popped once the request is over.
    assert not diota.has_request_context()


@pytest.mark.anyio
async def test_lifespan_and_websockets_survive_a_wsgi_call_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: Seen = []
    old_call = diota.Flask.__call__

    def patched_call(
        self: diota.Flask, environ: dict[str, t.Any], start_response: t.Any
    ) -> t.Any:
        return old_call(
            self, environ, _recording_start_response(seen, "call", start_response)
        )

    monkeypatch.setattr(diota.Flask, "__call__", patched_call)
    app = diota.Flask(__name__)
    started: list[str] = []

    @app.before_serving
    async def startup() -> None:
        started.append("startup")

    @app.websocket("/ws")
    async def echo() -> None:
        await diota.websocket.send(await diota.websocket.receive())

    sent = await _serve_asgi(
        app,
        {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert started == ["startup"]
    scope = {
        **_http_scope("/ws"),
        "type": "websocket",
        "scheme": "ws",
        "subprotocols": [],
    }
    sent = await _serve_asgi(
        app,
        scope,
        [
            {"type": "websocket.connect"},
            {"type": "websocket.receive", "text": "hi"},
            {"type": "websocket.disconnect", "code": 1000},
        ],
    )
    assert [m["type"] for m in sent][:2] == ["websocket.accept", "websocket.send"]
    assert sent[1]["text"] == "hi"
    assert seen == []  # WSGI instrumentation has no WebSocket to see


def test_nothing_runs_after_the_response_is_returned(
    app: diota.Flask, mode: str
) -> None:
    """When the test client hands a response back, the request is over:
    its teardown ran, on every interface, even if the body is never read."""
    events: list[str] = []

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/async")
    async def async_index() -> str:
        await anyio.sleep(0.01)
        return "ok"

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append(diota.request.path)

    client = app.test_client()
    for path in ("/", "/async"):
        client.get(path)  # the body is not read
        assert events[-1] == path
    assert events == ["/", "/async"]


class _PlainAwaitable:
    """What some servers' native ``send`` returns: ``__await__`` gives a
    plain iterator (no ``send``/``throw``), as granian's does."""

    def __init__(self, sent: list[dict[str, t.Any]], message: dict[str, t.Any]) -> None:
        sent.append(message)

    def __await__(self) -> t.Any:
        return iter(())


@pytest.mark.anyio
@pytest.mark.parametrize("send_kind", ["suspends", "plain iterator"])
async def test_response_start_with_any_server_send(send_kind: str) -> None:
    app = diota.Flask(__name__)
    app.add_url_rule("/", "index", lambda: "ok")
    sent: list[dict[str, t.Any]] = []
    paths: list[str | None] = []

    def send(message: dict[str, t.Any]) -> t.Any:
        paths.append(request.path if diota.has_request_context() else None)
        if send_kind == "plain iterator":
            return _PlainAwaitable(sent, message)

        async def suspending() -> None:
            await anyio.sleep(0)  # a real suspension, passed to the task
            sent.append(message)

        return suspending()

    async def receive() -> dict[str, t.Any]:
        return {"type": "http.request"}

    with anyio.fail_after(5):
        await app(_http_scope("/"), receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"ok"
    # The start is sent in the request's context; the body after it ended.
    assert paths == ["/", None]


class _EarlySubclass(diota.Flask):
    """Made before any patch, as an app's own subclass is at import time."""


@pytest.mark.parametrize("method", ["wsgi_app", "asgi_app"])
def test_patch_on_flask_reaches_subclasses_made_before(
    mode: str, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A patch of ``Flask.wsgi_app`` or ``Flask.asgi_app`` after a subclass
    was made is run for that subclass's apps too (method lookup finds it;
    what the ASGI adapter notes of it must agree)."""
    calls: list[str] = []
    original = getattr(diota.Flask, method)

    def patched(self: diota.Flask, *args: t.Any) -> t.Any:
        calls.append(method)
        return original(self, *args)

    monkeypatch.setattr(diota.Flask, method, patched)
    app = _EarlySubclass("early")
    app.add_url_rule("/", "index", lambda: "ok")
    assert app.test_client().get("/").data == b"ok"
    # wsgi_app runs under both interfaces; asgi_app only under ASGI.
    expected = method == "wsgi_app" or mode.startswith("asgi")
    assert calls == ([method] if expected else [])
    monkeypatch.undo()
    assert not _EarlySubclass._wsgi_app_replaced
    assert not _EarlySubclass._asgi_app_replaced


def test_subclass_overriding_wsgi_app_is_noted() -> None:
    class Overriding(diota.Flask):
        def wsgi_app(self, environ: t.Any, start_response: t.Any) -> t.Any:
            return super().wsgi_app(environ, start_response)

    assert Overriding._wsgi_app_replaced and not diota.Flask._wsgi_app_replaced
    del Overriding.wsgi_app
    assert not Overriding._wsgi_app_replaced
