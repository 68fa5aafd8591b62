"""``async def`` views, hooks and handlers, and how the seam runs them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from werkzeug.test import EnvironBuilder

import diota
from diota.concurrency import drive
from diota.concurrency import is_async_callable
from diota.concurrency import PipelineSuspended


def test_async_view_hooks_and_handlers(app: diota.Flask, client: t.Any) -> None:
    events: list[str] = []

    @app.before_request
    async def before() -> None:
        await anyio.sleep(0)
        diota.g.seen = "before"
        events.append("before")

    @app.after_request
    async def after(response: diota.Response) -> diota.Response:
        await anyio.sleep(0)
        response.headers["X-After"] = "async"
        events.append("after")
        return response

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        await anyio.sleep(0)
        events.append(f"teardown:{exc!r}")

    @app.route("/")
    async def index() -> str:
        await anyio.sleep(0)
        return f"{diota.g.seen} {diota.request.path}"

    @app.errorhandler(LookupError)
    async def lookup(e: LookupError) -> tuple[str, int]:
        await anyio.sleep(0)
        return "handled", 418

    @app.route("/raise")
    async def raises() -> str:
        raise KeyError("x")

    rv = client.get("/")
    assert rv.data == b"before /"
    assert rv.headers["X-After"] == "async"
    assert events == ["before", "after", "teardown:None"]

    rv = client.get("/raise")
    assert rv.status_code == 418
    assert rv.data == b"handled"


def test_resources_opened_before_serving_work_in_async_views(
    app: diota.Flask, client: t.Any
) -> None:
    """A loop-bound resource made in an async before_serving hook is usable
    from async views, request after request, in every mode."""
    streams: dict[str, t.Any] = {}

    @app.before_serving
    async def open_channel() -> None:
        send, receive = anyio.create_memory_object_stream[str](10)
        streams.update(send=send, receive=receive)

    @app.route("/put/<word>")
    async def put(word: str) -> str:
        await streams["send"].send(word)
        return "queued"

    @app.route("/get")
    async def get() -> str:
        return str(await streams["receive"].receive())

    assert client.get("/put/hello").data == b"queued"
    assert client.get("/put/world").data == b"queued"
    assert client.get("/get").data == b"hello"
    assert client.get("/get").data == b"world"
    streams["send"].close()
    streams["receive"].close()


def test_sync_app_never_creates_an_event_loop() -> None:
    # A fresh interpreter, so no other test has created the loop already.
    code = """
import diota
from diota.concurrency import process_loop
app = diota.Flask(__name__)
@app.before_request
def before(): pass
@app.route("/")
def index(): return "hi"
client = app.test_client()
assert client.get("/").data == b"hi"
assert client.get("/missing").status_code == 404
print("loop created:", process_loop._loop is not None)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "loop created: False" in out.stdout


def _environ(path: str, *, multithread: bool) -> dict[str, t.Any]:
    builder = EnvironBuilder(path=path, multithread=multithread)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _call_wsgi(app: diota.Flask, path: str, multithread: bool) -> bytes:
    status: list[str] = []

    def start_response(s: str, headers: t.Any, exc_info: t.Any = None) -> t.Any:
        status.append(s)

    body = app(_environ(path, multithread=multithread), start_response)
    try:
        return b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()


def test_threaded_server_runs_async_views_concurrently_on_the_loop_thread() -> None:
    app = diota.Flask(__name__)
    threads: set[str] = set()

    @app.route("/slow")
    async def slow() -> str:
        threads.add(threading.current_thread().name)
        await anyio.sleep(0.3)
        return diota.request.path

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        bodies = list(
            pool.map(lambda _: _call_wsgi(app, "/slow", multithread=True), range(4))
        )
    elapsed = time.perf_counter() - start

    assert bodies == [b"/slow"] * 4
    assert threads == {"diota-event-loop"}
    # Four 0.3 s views together, not one after another.
    assert elapsed < 1.0


def test_async_code_calling_sync_code_calling_async_code(
    app: diota.Flask, client: t.Any
) -> None:
    """An async view rendering a template whose context processor is async."""

    @app.context_processor
    async def inject() -> dict[str, str]:
        await anyio.sleep(0)
        return {"who": "nested"}

    @app.route("/")
    async def index() -> str:
        return diota.render_template_string("{{ who }} {{ request.path }}")

    assert client.get("/").data == b"nested /"


def test_sync_wrapper_returning_a_coroutine_is_awaited(
    app: diota.Flask, client: t.Any
) -> None:
    async def real_view() -> str:
        await anyio.sleep(0)
        return "finished"

    def undecorated_wrapper() -> t.Any:
        # A decorator that lost the coroutine marker.
        return real_view()

    app.add_url_rule("/", "index", undecorated_wrapper)
    assert client.get("/").data == b"finished"


def test_async_generator_body_under_wsgi(app: diota.Flask, client: t.Any) -> None:
    cleanup: list[str] = []

    @app.route("/stream")
    def stream() -> t.Any:
        async def body() -> t.AsyncIterator[str]:
            try:
                for part in ("a", "b", "c"):
                    await anyio.sleep(0)
                    yield part
            finally:
                cleanup.append("done")

        return body()

    rv = client.get("/stream")
    assert rv.data == b"abc"
    assert cleanup == ["done"]


def test_is_async_callable_sees_through_wrappers() -> None:
    import functools

    async def coro_func() -> None:
        pass

    class AsyncCallable:
        async def __call__(self) -> None:
            pass

    assert is_async_callable(coro_func)
    assert is_async_callable(functools.partial(coro_func))
    assert is_async_callable(AsyncCallable())
    assert not is_async_callable(lambda: None)
    assert not is_async_callable(len)


def test_drive_reports_a_suspended_pipeline_instead_of_hanging() -> None:
    async def suspends() -> None:
        await asyncio.sleep(0)

    with pytest.raises(PipelineSuspended, match="suspended"):
        drive(suspends())


def test_ensure_sync_runs_coroutines_outside_requests(app: diota.Flask) -> None:
    async def add(a: int, b: int) -> int:
        await anyio.sleep(0)
        return a + b

    assert app.ensure_sync(add)(1, 2) == 3
    assert app.ensure_sync(len) is len


def test_async_method_view(app: diota.Flask, client: t.Any) -> None:
    from diota.views import MethodView

    class Items(MethodView):
        async def get(self) -> str:
            await anyio.sleep(0)
            return "get"

        async def post(self) -> str:
            return "post"

    app.add_url_rule("/items", view_func=Items.as_view("items"))
    assert client.get("/items").data == b"get"
    assert client.post("/items").data == b"post"


def test_process_loop_close_cancels_pending_tasks() -> None:
    """As asyncio.run does: a task still waiting when the process loop closes
    (a streamed response the test client never read) is cancelled and its
    cleanup runs, instead of being destroyed while pending."""
    import asyncio

    from diota.concurrency import ProcessLoop

    process = ProcessLoop()
    cleaned: list[str] = []

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("cleanup")

    process.loop.create_task(waits_forever())
    process.run(asyncio.sleep(0))  # the task starts and waits
    process.close()
    assert cleaned == ["cleanup"]
    assert process.loop.is_closed()
