"""The ASGI adapter, message by message, on asyncio and trio."""

from __future__ import annotations

import threading
import typing as t

import anyio
import pytest

import diota

pytestmark = pytest.mark.anyio

Request = t.Callable[..., t.Awaitable[t.Any]]


async def test_the_app_object_is_an_asgi_app(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    @asgi_app.route("/hello/<name>")
    def hello(name: str) -> str:
        return f"hello {name} {diota.request.args['x']}"

    rv = await asgi_request(asgi_app, "/hello/ada", query_string=b"x=1")
    assert rv.status == 200
    assert rv.body == b"hello ada 1"
    assert rv.header("content-type") == "text/html; charset=utf-8"


async def test_a_fully_sync_route_costs_one_thread_hop(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    threads: list[int] = []
    loop_thread = threading.get_ident()

    @asgi_app.before_request
    def before() -> None:
        threads.append(threading.get_ident())

    @asgi_app.after_request
    def after(response: diota.Response) -> diota.Response:
        threads.append(threading.get_ident())
        return response

    @asgi_app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        threads.append(threading.get_ident())

    @asgi_app.route("/")
    def index() -> str:
        threads.append(threading.get_ident())
        return "ok"

    assert (await asgi_request(asgi_app, "/")).body == b"ok"
    # Hooks, view and teardown all ran in one worker thread, not the loop's.
    assert len(set(threads)) == 1
    assert threads[0] != loop_thread
    assert len(threads) == 4


async def test_async_view_runs_on_the_loop_and_sync_hooks_in_threads(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    where: dict[str, int] = {}
    loop_thread = threading.get_ident()

    @asgi_app.before_request
    def before() -> None:
        where["before"] = threading.get_ident()

    @asgi_app.route("/")
    async def index() -> str:
        where["view"] = threading.get_ident()
        await anyio.sleep(0)
        return "async"

    assert (await asgi_request(asgi_app, "/")).body == b"async"
    assert where["view"] == loop_thread
    assert where["before"] != loop_thread


async def test_concurrent_requests_do_not_share_contexts(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    """Many requests at once, sync and async views mixed: each sees its own
    request, g and session."""

    @asgi_app.before_request
    def before() -> None:
        diota.g.n = diota.request.args["n"]

    def describe() -> str:
        diota.session["n"] = diota.request.args["n"]
        return f"{diota.request.args['n']}:{diota.g.n}:{diota.session['n']}"

    @asgi_app.route("/sync")
    def sync_view() -> str:
        return describe()

    @asgi_app.route("/async")
    async def async_view() -> str:
        await anyio.sleep(0.01)
        return describe()

    results: dict[int, bytes] = {}

    async def one(n: int) -> None:
        path = "/sync" if n % 2 else "/async"
        rv = await asgi_request(asgi_app, path, query_string=f"n={n}".encode())
        results[n] = rv.body

    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(one, n)

    assert results == {n: f"{n}:{n}:{n}".encode() for n in range(40)}


async def test_body_over_max_content_length_is_413_while_reading(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    asgi_app.config["MAX_CONTENT_LENGTH"] = 10
    seen: list[str] = []

    @asgi_app.errorhandler(413)
    def too_large(e: Exception) -> tuple[str, int]:
        return "too large", 413

    @asgi_app.post("/")
    def index() -> str:
        seen.append("view")
        return diota.request.get_data(as_text=True)

    # Chunked: no Content-Length, the limit is enforced as chunks arrive.
    rv = await asgi_request(asgi_app, "/", "POST", body_chunks=[b"12345", b"678901"])
    assert (rv.status, rv.body) == (413, b"too large")
    # Announced too large: refused without reading.
    rv = await asgi_request(asgi_app, "/", "POST", headers=[("content-length", "11")])
    assert rv.status == 413
    # Within the limit, chunked: the view sees the whole body.
    rv = await asgi_request(asgi_app, "/", "POST", body_chunks=[b"12345", b"67890"])
    assert (rv.status, rv.body) == (200, b"1234567890")
    assert seen == ["view"]


async def test_large_bodies_are_spooled_and_forms_parse(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    asgi_app.config["BODY_SPOOL_MEMORY"] = 1024

    @asgi_app.post("/")
    def index() -> str:
        return str(len(diota.request.form["data"]))

    data = b"data=" + b"x" * 50_000
    rv = await asgi_request(
        asgi_app,
        "/",
        "POST",
        body_chunks=[data[:20_000], data[20_000:]],
        headers=[("content-type", "application/x-www-form-urlencoded")],
    )
    assert rv.body == b"50000"


async def test_streamed_request_body(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    asgi_app.config["MAX_CONTENT_LENGTH"] = 100

    @asgi_app.post("/upload")
    @diota.stream_request_body
    async def upload() -> str:
        sizes = [len(chunk) async for chunk in diota.request.body]
        return ",".join(map(str, sizes))

    @asgi_app.errorhandler(413)
    def too_large(e: Exception) -> tuple[str, int]:
        return "too large", 413

    rv = await asgi_request(asgi_app, "/upload", "POST", body_chunks=[b"a" * 30] * 3)
    assert rv.body == b"30,30,30"
    rv = await asgi_request(asgi_app, "/upload", "POST", body_chunks=[b"a" * 60] * 2)
    assert (rv.status, rv.body) == (413, b"too large")


async def test_sync_access_to_a_streamed_body_is_refused_clearly(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    asgi_app.testing = True

    @asgi_app.post("/upload")
    @diota.stream_request_body
    async def upload() -> bytes:
        return diota.request.get_data()

    with pytest.raises(RuntimeError, match="async for chunk in request.body"):
        await asgi_request(asgi_app, "/upload", "POST", body_chunks=[b"x"])


async def test_async_body_stops_and_cleans_up_when_the_client_goes_away(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    events: list[str] = []
    torn_down: list[str] = []

    @asgi_app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(diota.request.path)

    @asgi_app.route("/events")
    def events_view() -> t.Any:
        async def stream() -> t.AsyncIterator[str]:
            try:
                while True:
                    events.append("tick")
                    yield "data\n"
                    await anyio.sleep(0.01)
            finally:
                events.append("closed")

        return stream()

    rv = await asgi_request(asgi_app, "/events", disconnect_after_start=True)
    assert rv.status == 200
    assert events[-1] == "closed"
    assert torn_down == ["/events"]


async def test_sync_generator_is_closed_when_the_client_goes_away(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    events: list[str] = []

    @asgi_app.route("/stream")
    def stream_view() -> t.Any:
        def stream() -> t.Iterator[str]:
            try:
                for i in range(1000):
                    events.append("chunk")
                    yield f"{i}\n"
            finally:
                events.append("closed")

        return diota.stream_with_context(stream())

    rv = await asgi_request(asgi_app, "/stream", disconnect_after_start=True)
    assert rv.status == 200
    assert events[-1] == "closed"
    assert events.count("chunk") < 1000


async def test_client_gone_before_the_body_ends_runs_no_view(
    asgi_app: diota.Flask, asgi_scope: t.Callable[..., dict[str, t.Any]]
) -> None:
    ran: list[str] = []

    @asgi_app.post("/")
    def index() -> str:
        ran.append("view")
        return "x"

    messages = [
        {"type": "http.request", "body": b"part", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        return messages.pop(0)

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    await asgi_app(asgi_scope("/", "POST"), receive, send)
    assert ran == []
    assert sent == []


async def test_head_and_root_path(asgi_app: diota.Flask, asgi_request: Request) -> None:
    @asgi_app.route("/page")
    def page() -> str:
        return (
            f"{diota.request.script_root}|{diota.request.path}|{diota.url_for('page')}"
        )

    rv = await asgi_request(asgi_app, "/page", root_path="/mounted")
    assert rv.body == b"/mounted|/page|/mounted/page"
    rv = await asgi_request(asgi_app, "/page", "HEAD", root_path="/mounted")
    assert rv.status == 200
    assert rv.body == b""


async def test_worker_threads_only_where_user_code_runs(
    asgi_app: diota.Flask, asgi_request: Request, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diota.asgi

    hops: list[str] = []
    original = diota.asgi.run_request_work

    async def counting(*args: t.Any, **kwargs: t.Any) -> t.Any:
        hops.append("hop")
        return await original(*args, **kwargs)

    monkeypatch.setattr(diota.asgi, "run_request_work", counting)

    @asgi_app.route("/sync")
    def sync_view() -> str:
        return "sync"

    assert (await asgi_request(asgi_app, "/missing")).status == 404
    assert hops == []  # nothing of the user's could run: no thread
    assert (await asgi_request(asgi_app, "/sync")).body == b"sync"
    assert hops == ["hop"]  # one hop for the whole sync route

    seen: list[str] = []

    def on_started(sender: t.Any, **extra: t.Any) -> None:
        seen.append(threading.current_thread().name)

    diota.request_started.connect(on_started, asgi_app)
    try:
        assert (await asgi_request(asgi_app, "/missing")).status == 404
    finally:
        diota.request_started.disconnect(on_started, asgi_app)
    # A connected receiver is user code: it ran off the loop.
    assert hops == ["hop", "hop"]
    assert seen and seen[0] != threading.main_thread().name


async def test_streaming_survives_a_receive_that_never_blocks(
    asgi_app: diota.Flask, asgi_scope: t.Callable[..., dict[str, t.Any]]
) -> None:
    """A server whose receive() answers at once with non-disconnect messages
    must not starve the body being streamed (the watcher yields)."""

    @asgi_app.route("/stream")
    def stream_view() -> t.Any:
        def body() -> t.Iterator[str]:
            yield from ("a", "b", "c")

        return body()

    sent: list[bytes] = []

    async def receive() -> dict[str, t.Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, t.Any]) -> None:
        if message["type"] == "http.response.body":
            sent.append(message.get("body", b""))

    with anyio.fail_after(10):
        await asgi_app(asgi_scope("/stream"), receive, send)
    assert b"".join(sent) == b"abc"


async def test_http_errors_are_sent_whole_not_streamed(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    rv = await asgi_request(asgi_app, "/missing")
    assert rv.status == 404
    assert len(rv.chunks) == 1
    assert b"Not Found" in rv.body
    assert rv.header("content-length") == str(len(rv.body))


async def test_asgi_middleware_on_asgi_app_and_overrides_are_called(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    @asgi_app.route("/")
    async def index() -> str:
        return "ok"

    def add_header(inner: t.Any) -> t.Any:
        async def middleware(scope: t.Any, receive: t.Any, send: t.Any) -> None:
            async def send_with_header(message: t.Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-mw", b"1")]
                await send(message)

            await inner(scope, receive, send_with_header)

        return middleware

    asgi_app.asgi_app = add_header(asgi_app.asgi_app)  # type: ignore[method-assign]
    rv = await asgi_request(asgi_app, "/")
    assert (rv.body, rv.header("x-mw")) == (b"ok", "1")

    seen: list[str] = []

    class App(diota.Flask):
        async def asgi_app(self, scope: t.Any, receive: t.Any, send: t.Any) -> None:
            seen.append(scope["path"])
            await super().asgi_app(scope, receive, send)

    app = App(__name__)
    app.add_url_rule("/sub", "sub", lambda: "sub")
    assert (await asgi_request(app, "/sub")).body == b"sub"
    assert seen == ["/sub"]
