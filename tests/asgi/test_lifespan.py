"""ASGI lifespan: the serving hooks on startup and shutdown."""

from __future__ import annotations

import typing as t

import anyio
import pytest

import diota

pytestmark = pytest.mark.anyio


async def run_lifespan(app: diota.Flask) -> list[dict[str, t.Any]]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        return incoming.pop(0)

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


async def test_serving_hooks_run_on_lifespan() -> None:
    app = diota.Flask(__name__)
    events: list[str] = []

    @app.before_serving
    def sync_start() -> None:
        events.append("before sync")

    @app.before_serving
    async def async_start() -> None:
        await anyio.sleep(0)
        events.append("before async")

    @app.while_serving
    async def around() -> t.AsyncIterator[None]:
        events.append("while: up")
        yield
        events.append("while: down")

    @app.after_serving
    async def stop() -> None:
        events.append("after")

    sent = await run_lifespan(app)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert events == [
        "before sync",
        "before async",
        "while: up",
        "after",
        "while: down",
    ]


async def test_startup_failure_is_reported_with_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = diota.Flask(__name__)

    @app.before_serving
    def broken() -> None:
        raise ConnectionError("database unreachable")

    sent = await run_lifespan(app)
    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "ConnectionError: database unreachable",
        }
    ]
    assert "Startup failed" in caplog.text


async def test_shutdown_failure_is_reported() -> None:
    app = diota.Flask(__name__)

    @app.after_serving
    def broken() -> None:
        raise RuntimeError("could not flush")

    sent = await run_lifespan(app)
    assert sent[-1] == {
        "type": "lifespan.shutdown.failed",
        "message": "RuntimeError: could not flush",
    }


def test_serving_hooks_run_once_under_wsgi() -> None:
    app = diota.Flask(__name__)
    events: list[str] = []

    @app.before_serving
    async def start() -> None:
        events.append("start")

    @app.route("/")
    def index() -> str:
        return "ok"

    client = app.test_client(interface="wsgi")
    client.get("/")
    client.get("/")
    assert events == ["start"]
    app._shutdown_sync()


async def test_serving_state_reaches_requests_through_the_lifespan_state() -> None:
    app = diota.Flask(__name__)

    @app.before_serving
    def start() -> None:
        app.serving_state["pool"] = "the pool"

    @app.route("/")
    def index() -> str:
        return str(diota.request.state["pool"])

    lifespan_state: dict[str, t.Any] = {}
    incoming = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, t.Any]:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()
        raise AssertionError

    sent: list[dict[str, t.Any]] = []

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": lifespan_state}
    async with anyio.create_task_group() as tg:
        tg.start_soon(app, scope, receive, send)
        with anyio.fail_after(5):
            while not sent:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert lifespan_state == {"pool": "the pool"}

    # A server copies the lifespan state into each request's scope.
    body: list[bytes] = []

    async def request_receive() -> dict[str, t.Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def request_send(message: dict[str, t.Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    http_scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [],
        "state": dict(lifespan_state),
    }
    await app(http_scope, request_receive, request_send)
    assert b"".join(body) == b"the pool"


def test_serving_state_under_wsgi() -> None:
    app = diota.Flask(__name__)

    @app.before_serving
    def start() -> None:
        app.serving_state["pool"] = "wsgi pool"

    @app.route("/")
    def index() -> str:
        return str(diota.request.state["pool"])

    assert app.test_client(interface="wsgi").get("/").data == b"wsgi pool"
