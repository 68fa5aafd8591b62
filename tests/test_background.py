"""app.add_background_task: after the response, in an app context, logged
on error, waited for at shutdown; in every mode."""

from __future__ import annotations

import threading
import time
import typing as t

import anyio
import pytest

import diota
from diota import g
from diota import has_request_context


def _wait_for(predicate: t.Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_sync_and_async_tasks_run_after_the_response(
    app: diota.Flask, client: t.Any
) -> None:
    events: list[str] = []

    def sync_task(name: str) -> None:
        events.append(f"sync {name} {g.user} {has_request_context()}")

    async def async_task(name: str, *, punct: str) -> None:
        await anyio.sleep(0)  # asyncio or trio, whichever runs it
        events.append(f"async {name}{punct} {diota.current_app.name}")

    @app.route("/")
    def index() -> str:
        g.user = "ada"
        app.add_background_task(sync_task, "one")
        app.add_background_task(async_task, "two", punct="!")
        events.append("view")
        return "ok"

    assert client.get("/").data == b"ok"
    _wait_for(lambda: len(events) == 3)
    assert events[0] == "view"
    assert sorted(events[1:]) == ["async two! diota_test", "sync one ada False"]


def test_tasks_wait_for_a_streamed_body(app: diota.Flask, client: t.Any) -> None:
    events: list[str] = []

    @app.route("/stream")
    def stream() -> t.Any:
        def body() -> t.Iterator[str]:
            try:
                yield "a"
                yield "b"
            finally:
                events.append("body closed")

        app.add_background_task(events.append, "task")
        return body()

    assert client.get("/stream").data == b"ab"
    _wait_for(lambda: len(events) == 2)
    assert events == ["body closed", "task"]


def test_a_failing_task_is_logged_and_others_still_run(
    app: diota.Flask, client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def broken() -> None:
        raise ValueError("task exploded")

    @app.route("/")
    def index() -> str:
        app.add_background_task(broken)
        app.add_background_task(done.set)
        return "ok"

    assert client.get("/").status_code == 200
    assert done.wait(5)
    _wait_for(lambda: "task exploded" in caplog.text)
    assert "Error in background task" in caplog.text


def test_task_outside_a_request_starts_at_once(app: diota.Flask) -> None:
    seen: list[str] = []
    done = threading.Event()

    async def task() -> None:
        seen.append(g.marker)
        done.set()

    with app.app_context():
        g.marker = "from the app context"
        app.add_background_task(task)
    assert done.wait(5)
    assert seen == ["from the app context"]


def test_websocket_handler_tasks_start_at_once(app: diota.Flask, client: t.Any) -> None:
    started = threading.Event()

    @app.websocket("/ws")
    async def ws() -> None:
        app.add_background_task(started.set)
        await diota.websocket.send("queued")
        await diota.websocket.receive()

    with client.websocket("/ws") as conn:
        assert conn.receive() == "queued"
        # The handler is still running: the task did not wait for it.
        assert started.wait(5)


def test_wsgi_shutdown_waits_for_running_tasks(app: diota.Flask) -> None:
    events: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        events.append("task")

    @app.after_serving
    def after() -> None:
        events.append("after_serving")

    @app.route("/")
    def index() -> str:
        app.add_background_task(slow)
        return "ok"

    client = app.test_client(interface="wsgi")
    assert client.get("/").data == b"ok"
    app._shutdown_sync()
    assert events == ["task", "after_serving"]


@pytest.mark.anyio
async def test_asgi_lifespan_shutdown_waits_for_running_tasks() -> None:
    app = diota.Flask(__name__)
    events: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        events.append("task")

    @app.after_serving
    async def after() -> None:
        events.append("after_serving")

    @app.route("/")
    def index() -> str:
        app.add_background_task(slow)
        return "ok"

    lifespan_inbox = [{"type": "lifespan.startup"}]
    shutdown = anyio.Event()
    lifespan_sent: list[dict[str, t.Any]] = []

    async def lifespan_receive() -> dict[str, t.Any]:
        if lifespan_inbox:
            return lifespan_inbox.pop(0)
        await shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def lifespan_send(message: dict[str, t.Any]) -> None:
        lifespan_sent.append(message)

    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "query_string": b"",
        "headers": [(b"host", b"example.org")],
    }
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                app, {"type": "lifespan", "state": {}}, lifespan_receive, lifespan_send
            )
            tg.start_soon(app, scope, receive, send)
            # The response goes out before the task has finished.
            while len(sent) < 2:
                await anyio.sleep(0.01)
            assert sent[0]["status"] == 200 and events == []
            shutdown.set()
    assert events == ["task", "after_serving"]
    assert [m["type"] for m in lifespan_sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_task_queued_by_a_teardown_function_runs(
    app: diota.Flask, client: t.Any
) -> None:
    """Teardown runs after the response was started (as on Flask): a task
    it queues still runs once the response is sent, on the fast path for
    plain responses too."""
    ran = threading.Event()

    @app.teardown_request
    def queue_task(exc: BaseException | None) -> None:
        app.add_background_task(ran.set)

    @app.route("/")
    def index() -> str:
        return "ok"

    assert client.get("/").data == b"ok"
    assert ran.wait(5)
