"""Streamed responses: ``stream_with_context`` and ``stream_template`` with
sync and async generators, in every mode the ``client`` fixture drives (WSGI,
and ASGI on asyncio and trio).

Bodies are read with ``buffered=False`` by iterating ``response.response``,
so each test sees chunks arrive one at a time. Under ASGI the in-process
driver applies back-pressure as a socket would: the app's send of a chunk
waits until the test has read it, and closing the response early is a
client going away. Under WSGI the server (the test client) pulls each chunk
from the iterator when it wants it, which gives the same bound.
"""

from __future__ import annotations

import collections.abc as cabc
import threading
import typing as t

import anyio
import pytest

import diota
from diota import g
from diota import request
from diota import session
from diota import stream_template
from diota import stream_template_string
from diota import stream_with_context
from diota.testing import FlaskClient

#: How many chunks a generator may have produced beyond what the client
#: read: the one being handed over (the ASGI driver looks no further ahead;
#: werkzeug's WSGI client reads the first chunk up front).
LOOKAHEAD = 1

VIEWS = ["def", "async def"]
GENERATORS = ["sync", "async"]


def _route(
    app: diota.Flask,
    view: str,
    make_body: t.Callable[[], t.Any],
    rule: str = "/",
    **options: t.Any,
) -> None:
    """Serve ``make_body()`` as a streamed body from a ``def`` or an
    ``async def`` view; ``make_body`` runs inside the view."""
    if view == "def":

        def index() -> diota.Response:
            return diota.Response(make_body(), **options)

    else:

        async def index() -> diota.Response:  # type: ignore[misc]
            return diota.Response(make_body(), **options)

    app.add_url_rule(rule, "index", index)


def _counted(
    kind: str, count: int, events: list[str], produced: list[int]
) -> t.Callable[[], t.Any]:
    """A generator function (sync or async) numbering ``count`` chunks and
    recording how many it produced and how it ended."""

    def sync_gen() -> cabc.Iterator[str]:
        try:
            for n in range(count):
                produced.append(n)
                yield f"{n};"
            events.append("exhausted")
        finally:
            events.append(f"finally {request.path}")

    async def async_gen() -> cabc.AsyncIterator[str]:
        try:
            for n in range(count):
                produced.append(n)
                yield f"{n};"
                await anyio.sleep(0)
            events.append("exhausted")
        finally:
            events.append(f"finally {request.path}")

    return sync_gen if kind == "sync" else async_gen


# -- the request context inside the stream --------------------------------------


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("kind", GENERATORS)
def test_request_session_and_g_across_chunks(
    app: diota.Flask, client: FlaskClient, view: str, kind: str
) -> None:
    def sync_gen() -> cabc.Iterator[str]:
        for n in range(3):
            yield f"{n}:{request.args['who']}:{session['seen']}:{g.tag}|"

    async def async_gen() -> cabc.AsyncIterator[str]:
        for n in range(3):
            # Suspends between chunks: the contexts are found again after.
            await anyio.sleep(0)
            yield f"{n}:{request.args['who']}:{session['seen']}:{g.tag}|"

    def make_body() -> t.Any:
        session["seen"] = "yes"
        g.tag = "tagged"
        generate = sync_gen if kind == "sync" else async_gen
        return stream_with_context(generate())

    _route(app, view, make_body)
    rv = client.get("/?who=ada", buffered=False)
    chunks = list(t.cast("cabc.Iterable[bytes]", rv.response))
    rv.close()
    assert chunks == [b"0:ada:yes:tagged|", b"1:ada:yes:tagged|", b"2:ada:yes:tagged|"]
    # The session the view modified was saved before the body started.
    assert "session" in rv.headers["Set-Cookie"]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("kind", GENERATORS)
def test_as_a_decorator(
    app: diota.Flask, client: FlaskClient, view: str, kind: str
) -> None:
    @stream_with_context
    def sync_gen(greeting: str, *, end: str) -> cabc.Iterator[str]:
        yield greeting
        yield request.args["name"]
        yield end

    @stream_with_context
    async def async_gen(greeting: str, *, end: str) -> cabc.AsyncIterator[str]:
        yield greeting
        await anyio.sleep(0)
        yield request.args["name"]
        yield end

    generate = sync_gen if kind == "sync" else async_gen
    # The decorator keeps the function's name and docstring.
    assert generate.__name__ == f"{kind}_gen"
    _route(app, view, lambda: generate("Hi ", end="!"))
    assert client.get("/?name=Ada").text == "Hi Ada!"


@pytest.mark.parametrize("kind", GENERATORS)
def test_without_it_the_generator_has_no_request(
    app: diota.Flask, client: FlaskClient, kind: str
) -> None:
    """The view has returned when the body is produced: only a stream
    wrapped with ``stream_with_context`` still sees the request."""

    def sync_gen() -> cabc.Iterator[str]:
        yield "request" if diota.has_request_context() else "none"

    async def async_gen() -> cabc.AsyncIterator[str]:
        yield "request" if diota.has_request_context() else "none"

    _route(app, "def", sync_gen if kind == "sync" else async_gen)
    assert client.get("/").text == "none"


# -- chunk by chunk, and no further ahead ---------------------------------------


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("kind", GENERATORS)
def test_chunks_arrive_one_by_one_as_they_are_read(
    app: diota.Flask, client: FlaskClient, view: str, kind: str
) -> None:
    events: list[str] = []
    produced: list[int] = []
    generate = _counted(kind, 5, events, produced)
    _route(app, view, lambda: stream_with_context(generate()))

    rv = client.get("/", buffered=False)
    assert rv.status_code == 200
    assert "Content-Length" not in rv.headers
    assert len(produced) <= LOOKAHEAD
    body = iter(t.cast("cabc.Iterable[bytes]", rv.response))
    for n in range(5):
        assert next(body) == f"{n};".encode()
        # The generator runs only as the client reads.
        assert len(produced) <= n + 1 + LOOKAHEAD
    assert list(body) == []
    rv.close()
    assert events == ["exhausted", "finally /"]


@pytest.mark.parametrize("kind", GENERATORS)
def test_generator_never_runs_ahead_of_the_reader(
    app: diota.Flask, client: FlaskClient, kind: str
) -> None:
    """Back-pressure: a generator that could produce 10,000 chunks has
    produced only what the client read, whenever the client looks."""
    events: list[str] = []
    produced: list[int] = []
    generate = _counted(kind, 10_000, events, produced)
    _route(app, "def", lambda: stream_with_context(generate()))

    rv = client.get("/", buffered=False)
    body = iter(t.cast("cabc.Iterable[bytes]", rv.response))
    for read in range(1, 51):
        next(body)
        assert read <= len(produced) <= read + LOOKAHEAD
    rv.close()
    assert events == ["finally /"]
    # Nothing more is produced once the client has gone.
    assert len(produced) <= 50 + LOOKAHEAD


def test_paused_streams_hold_no_worker_thread(
    app: diota.Flask, client: FlaskClient
) -> None:
    """Under ASGI a sync generator takes a worker thread for each step only:
    streams waiting on slow clients leave the threads to other requests."""
    app.config["WORKER_THREAD_LIMIT"] = 1

    @app.get("/stream")
    def stream() -> diota.Response:
        # Not wrapped with stream_with_context: a sync stream pushes the
        # request context for as long as it runs, so under WSGI streams
        # wrapped with it must be consumed one at a time per thread (as
        # servers do), not interleaved as this test does.
        def generate() -> cabc.Iterator[str]:
            yield from ("a", "b", "c")

        return diota.Response(generate())

    @app.get("/plain")
    def plain() -> str:
        return "served"

    open_streams = [client.get("/stream", buffered=False) for _ in range(3)]
    bodies = [iter(t.cast("cabc.Iterable[bytes]", rv.response)) for rv in open_streams]
    for body in bodies:
        assert next(body) == b"a"
    # Three streams paused mid-body, one thread allowed: a sync view runs.
    assert client.get("/plain").text == "served"
    for body, rv in zip(bodies, open_streams, strict=True):
        assert b"".join(body) == b"bc"
        rv.close()


# -- the client going away ----------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("kind", GENERATORS)
def test_closing_early_runs_the_generators_finally(
    app: diota.Flask, client: FlaskClient, view: str, kind: str
) -> None:
    events: list[str] = []
    produced: list[int] = []
    generate = _counted(kind, 1_000, events, produced)
    _route(app, view, lambda: stream_with_context(generate()))

    rv = client.get("/", buffered=False)
    body = iter(t.cast("cabc.Iterable[bytes]", rv.response))
    assert [next(body) for _ in range(3)] == [b"0;", b"1;", b"2;"]
    rv.close()
    # Once, with the request still reachable from the finally block.
    assert events == ["finally /"]
    assert len(produced) <= 3 + LOOKAHEAD


@pytest.mark.parametrize("kind", GENERATORS)
def test_closing_before_reading_closes_a_plain_generator(
    app: diota.Flask, client: FlaskClient, kind: str
) -> None:
    """Without ``stream_with_context`` too: the server closes the body."""
    events: list[str] = []

    def sync_gen() -> cabc.Iterator[str]:
        try:
            yield "first"
            yield "second"
        finally:
            events.append("finally")

    async def async_gen() -> cabc.AsyncIterator[str]:
        try:
            yield "first"
            yield "second"
        finally:
            events.append("finally")

    _route(app, "def", sync_gen if kind == "sync" else async_gen)
    rv = client.get("/", buffered=False)
    rv.close()
    # Started by the server (to send the first chunk) at most, then closed.
    assert events in ([], ["finally"])
    assert "second" not in events


@pytest.mark.parametrize("kind", GENERATORS)
def test_head_request_runs_no_generator(
    app: diota.Flask, client: FlaskClient, kind: str
) -> None:
    events: list[str] = []
    produced: list[int] = []
    generate = _counted(kind, 3, events, produced)
    _route(app, "def", lambda: stream_with_context(generate()))

    rv = client.head("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert produced == []


@pytest.mark.parametrize("kind", GENERATORS)
def test_error_mid_stream_reaches_the_server(
    app: diota.Flask, client: FlaskClient, kind: str
) -> None:
    """The status line is gone: an error after the first chunk cannot
    become an error page. It reaches the server (here the test client),
    which drops the connection; the generator's ``finally`` runs."""
    events: list[str] = []
    handled: list[Exception] = []

    @app.errorhandler(ValueError)
    def on_error(e: ValueError) -> tuple[str, int]:
        handled.append(e)
        return "error page", 500

    def sync_gen() -> cabc.Iterator[str]:
        try:
            yield "partial"
            raise ValueError("broken source")
        finally:
            events.append("finally")

    async def async_gen() -> cabc.AsyncIterator[str]:
        try:
            yield "partial"
            raise ValueError("broken source")
        finally:
            events.append("finally")

    generate = sync_gen if kind == "sync" else async_gen
    _route(app, "def", lambda: stream_with_context(generate()))

    rv = client.get("/", buffered=False)
    assert rv.status_code == 200
    body = iter(t.cast("cabc.Iterable[bytes]", rv.response))
    assert next(body) == b"partial"
    with pytest.raises(ValueError, match="broken source"):
        next(body)
    rv.close()
    assert events == ["finally"]
    assert handled == []


# -- teardown -------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("kind", GENERATORS)
def test_teardown_runs_once_after_the_stream(
    app: diota.Flask, client: FlaskClient, view: str, kind: str
) -> None:
    """A stream wrapped with ``stream_with_context`` uses the request after
    the view returned, so the request's teardown (closing a database
    session, say) must wait for the stream's end, and run once."""
    events: list[str] = []
    produced: list[int] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        events.append("teardown_request")

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        events.append("teardown_appcontext")

    generate = _counted(kind, 3, events, produced)
    _route(app, view, lambda: stream_with_context(generate()))

    rv = client.get("/", buffered=False)
    body = b"".join(t.cast("cabc.Iterable[bytes]", rv.response))
    rv.close()
    assert body == b"0;1;2;"
    assert events == [
        "exhausted",
        "finally /",
        "teardown_request",
        "teardown_appcontext",
    ], (
        "teardown must run once, after the stream ends; it ran at"
        f" {events} (see the streaming report: stream_with_context does not"
        " hold the request's teardown)"
    )


@pytest.mark.parametrize("kind", GENERATORS)
def test_teardown_runs_once_after_an_early_close(
    app: diota.Flask, client: FlaskClient, kind: str
) -> None:
    events: list[str] = []
    produced: list[int] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        events.append("teardown_request")

    generate = _counted(kind, 1_000, events, produced)
    _route(app, "def", lambda: stream_with_context(generate()))

    rv = client.get("/", buffered=False)
    next(iter(t.cast("cabc.Iterable[bytes]", rv.response)))
    rv.close()
    assert events == ["finally /", "teardown_request"], (
        "teardown must run once, after the stream is closed; it ran at"
        f" {events} (see the streaming report)"
    )


def test_plain_generator_teardown_runs_once_when_the_view_returns(
    app: diota.Flask, client: FlaskClient
) -> None:
    """A stream not wrapped with ``stream_with_context`` keeps no context,
    so the request ends, teardown included, before its body is sent."""
    events: list[str] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        events.append("teardown_request")

    def generate() -> cabc.Iterator[str]:
        events.append("body")
        yield "x"

    _route(app, "def", generate)
    assert client.get("/").text == "x"
    assert events == ["teardown_request", "body"]


# -- templates ------------------------------------------------------------------

ROWS_TEMPLATE = (
    "{% for row in rows %}"
    "<li>{{ row }}{{ request.args.sep }}{{ g.tag }}{{ session.user }}</li>"
    "{% endfor %}"
)


def _rows(pulled: list[int], count: int) -> cabc.Iterator[int]:
    for n in range(count):
        pulled.append(n)
        yield n


@pytest.mark.parametrize("view", VIEWS)
def test_stream_template_string_renders_piece_by_piece(
    app: diota.Flask, client: FlaskClient, view: str
) -> None:
    pulled: list[int] = []

    def make_body() -> t.Any:
        g.tag = "!"
        session["user"] = "ada"
        return stream_template_string(ROWS_TEMPLATE, rows=_rows(pulled, 1_000))

    _route(app, view, make_body)
    rv = client.get("/?sep=:", buffered=False)
    body = iter(t.cast("cabc.Iterable[bytes]", rv.response))
    read = b""
    chunks = 0
    while read.count(b"</li>") < 3:
        read += next(body)
        chunks += 1
        # The template is rendered as it is read: it has pulled no more
        # rows than the chunks it has produced.
        assert len(pulled) <= chunks + LOOKAHEAD
    assert chunks > 3
    assert read.startswith(b"<li>0:!ada</li><li>1:!ada</li><li>2:!ada</li>")
    rv.close()
    assert len(pulled) < 10


@pytest.mark.parametrize("view", VIEWS)
def test_stream_template_from_a_file(
    app: diota.Flask, client: FlaskClient, view: str
) -> None:
    _route(app, view, lambda: stream_template("stream.html", items=["a", "b"]))
    rv = client.get("/?sep=-", buffered=False)
    chunks = list(t.cast("cabc.Iterable[bytes]", rv.response))
    rv.close()
    assert len(chunks) > 1
    assert b"".join(chunks) == b"[a:-][b:-]"


@pytest.mark.parametrize("view", VIEWS)
def test_stream_template_signals_rendered_at_the_end(
    app: diota.Flask, client: FlaskClient, view: str
) -> None:
    events: list[str] = []

    def before(sender: t.Any, template: t.Any, context: t.Any) -> None:
        events.append(f"before {context['request'].path}")

    def rendered(sender: t.Any, template: t.Any, context: t.Any) -> None:
        events.append("rendered")

    _route(
        app,
        view,
        lambda: stream_template_string("{% for i in 'abc' %}{{ i }}{% endfor %}"),
    )
    with (
        diota.before_render_template.connected_to(before, app),
        diota.template_rendered.connected_to(rendered, app),
    ):
        rv = client.get("/", buffered=False)
        body = iter(t.cast("cabc.Iterable[bytes]", rv.response))
        assert next(body) == b"a"
        assert events == ["before /"]
        assert b"".join(body) == b"bc"
        rv.close()
    assert events == ["before /", "rendered"]


def test_stream_template_closed_early_sends_no_rendered_signal(
    app: diota.Flask, client: FlaskClient
) -> None:
    rendered: list[str] = []

    def on_rendered(sender: t.Any, template: t.Any, context: t.Any) -> None:
        rendered.append("rendered")

    _route(
        app,
        "def",
        lambda: stream_template_string("{% for i in range(100) %}{{ i }}{% endfor %}"),
    )
    with diota.template_rendered.connected_to(on_rendered, app):
        rv = client.get("/", buffered=False)
        next(iter(t.cast("cabc.Iterable[bytes]", rv.response)))
        rv.close()
    assert rendered == []


# -- what runs where under ASGI ---------------------------------------------------


@pytest.mark.parametrize("mode", ["asgi-asyncio", "asgi-trio"], indirect=True)
def test_asgi_sync_generators_step_in_worker_threads(
    app: diota.Flask, client: FlaskClient
) -> None:
    """Under ASGI a sync generator's steps run in worker threads (a blocking
    step does not stall the loop); an async generator runs on the loop,
    where async views run."""
    threads: dict[str, set[int]] = {"view": set(), "sync": set(), "async": set()}

    def sync_gen() -> cabc.Iterator[str]:
        for _ in range(3):
            threads["sync"].add(threading.get_ident())
            yield "s"

    async def async_gen() -> cabc.AsyncIterator[str]:
        for _ in range(3):
            threads["async"].add(threading.get_ident())
            yield "a"

    @app.get("/<kind>")
    async def index(kind: str) -> diota.Response:
        threads["view"].add(threading.get_ident())
        generate: t.Callable[[], t.Any] = sync_gen if kind == "sync" else async_gen
        return diota.Response(stream_with_context(generate()))

    assert client.get("/sync").text == "sss"
    assert client.get("/async").text == "aaa"
    assert len(threads["view"]) == 1
    assert threads["async"] == threads["view"]
    assert not threads["sync"] & threads["view"]


# Async code called from a sync stream runs on the app's loop in every mode
# (tests/servers/test_streaming_servers.py checks it under real servers).


def test_async_signal_receiver_of_a_streamed_template_runs_on_the_loop(
    app: diota.Flask, client: FlaskClient
) -> None:
    """``template_rendered`` is sent from the stream, in a worker thread
    under ASGI; an async receiver must still run on the app's event loop
    (where the async view ran), not on another loop."""
    threads: dict[str, int] = {}

    async def on_rendered(sender: t.Any, template: t.Any, context: t.Any) -> None:
        threads["receiver"] = threading.get_ident()

    @app.get("/")
    async def index() -> diota.Response:
        threads["view"] = threading.get_ident()
        return diota.Response(stream_template_string("{{ 1 }}{{ 2 }}"))

    with diota.template_rendered.connected_to(on_rendered, app):
        assert client.get("/").text == "12"
    assert threads["receiver"] == threads["view"], (
        "an async template_rendered receiver ran off the app's event loop"
        " (see the streaming report: the ASGI sync-stream thread is not marked"
        " as an ASGI worker)"
    )


def test_async_teardown_after_a_sync_stream_runs_on_the_loop(
    app: diota.Flask, client: FlaskClient
) -> None:
    loops: dict[str, set[int]] = {"view": set(), "teardown": set()}

    @app.teardown_request
    async def teardown_request(exc: BaseException | None) -> None:
        loops["teardown"].add(threading.get_ident())

    @app.get("/")
    async def index() -> diota.Response:
        loops["view"].add(threading.get_ident())

        def generate() -> cabc.Iterator[str]:
            yield from ("a", "b")

        return diota.Response(stream_with_context(generate()))

    assert client.get("/").text == "ab"
    assert loops["teardown"] == loops["view"], (
        "an async teardown_request ran off the app's event loop at the end of"
        " a stream_with_context stream (see the streaming report)"
    )
