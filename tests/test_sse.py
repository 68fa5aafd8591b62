"""Server-sent events: the wire format, and event_stream in every mode.

The ``client`` fixture drives each streaming test through WSGI and through
ASGI on asyncio and on trio; sources are parametrized over sync and async
generators, with and without keep-alive (which moves the generator to a
producer thread or a pump task).
"""

from __future__ import annotations

import collections.abc as cabc
import json
import queue
import threading
import time
import typing as t

import anyio
import pytest

import diota
from diota import g
from diota import request
from diota.sse import event_stream
from diota.sse import EventItem
from diota.sse import KEEP_ALIVE
from diota.sse import ServerSentEvent
from diota.testing import FlaskClient

# How long a test waits for something that should happen at once.
PATIENCE = 5.0

# -- a client-side parser, after the specification's "interpreting an event
# stream", to check what a browser would see ----------------------------------


class Parsed(t.NamedTuple):
    event: str
    data: str
    last_id: str
    retry: int | None


def parse(stream: str) -> list[Parsed]:
    """Events a browser's EventSource would dispatch from ``stream``."""
    events: list[Parsed] = []
    data: list[str] = []
    event = ""
    last_id = ""
    retry: int | None = None
    for line in stream.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if data:
                events.append(
                    Parsed(event or "message", "\n".join(data), last_id, retry)
                )
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    return events


def blocks(chunks: cabc.Iterable[bytes], count: int) -> list[str]:
    """The first ``count`` blank-line-ended blocks (events, comments) read
    from a streamed body."""
    found: list[str] = []
    buffer = b""
    iterator = iter(chunks)
    while len(found) < count:
        buffer += next(iterator)
        while b"\n\n" in buffer and len(found) < count:
            block, buffer = buffer.split(b"\n\n", 1)
            found.append(block.decode() + "\n\n")
    return found


# -- the wire format ----------------------------------------------------------


def test_data_only() -> None:
    assert ServerSentEvent("hello").encode() == b"data: hello\n\n"


def test_all_fields() -> None:
    event = ServerSentEvent("x", event="tick", id="7", retry=2500, comment="note")
    assert event.encode() == (b": note\nevent: tick\nid: 7\nretry: 2500\ndata: x\n\n")
    assert parse(event.encode().decode()) == [Parsed("tick", "x", "7", 2500)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_multi_line_data(newline: str) -> None:
    text = f"one{newline}two{newline}{newline}four"
    encoded = ServerSentEvent(text).encode()
    assert encoded == b"data: one\ndata: two\ndata:\ndata: four\n\n"
    assert parse(encoded.decode())[0].data == "one\ntwo\n\nfour"


def test_trailing_newline_and_empty_data() -> None:
    assert ServerSentEvent("end\n").encode() == b"data: end\ndata:\n\n"
    assert parse(ServerSentEvent("end\n").encode().decode())[0].data == "end\n"
    # Empty data is an event with empty data; no data is no event.
    assert ServerSentEvent("").encode() == b"data:\n\n"
    assert parse(ServerSentEvent("").encode().decode()) == [
        Parsed("message", "", "", None)
    ]
    assert parse(ServerSentEvent(id="3").encode().decode()) == []


def test_only_cr_and_lf_split_lines() -> None:
    # Line breaks to Python's splitlines, not to the specification.
    text = "a\x0bb\x0cc\x1cd\u2028e\u0085f"
    encoded = ServerSentEvent(text).encode()
    assert encoded.count(b"data:") == 1
    assert parse(encoded.decode())[0].data == text


def test_leading_space_kept() -> None:
    encoded = ServerSentEvent("  indented").encode()
    assert encoded == b"data:   indented\n\n"
    assert parse(encoded.decode())[0].data == "  indented"


def test_unicode() -> None:
    encoded = ServerSentEvent("héllo ☃ 🎉", event="naïve").encode()
    assert encoded == "event: naïve\ndata: héllo ☃ 🎉\n\n".encode()


def test_multi_line_comment() -> None:
    assert ServerSentEvent(comment="a\nb").encode() == b": a\n: b\n\n"
    assert parse(ServerSentEvent(comment="a\nb").encode().decode()) == []


def test_int_id() -> None:
    assert ServerSentEvent("x", id=12).encode() == b"id: 12\ndata: x\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\nb", "nul\0"])
def test_id_must_not_break_the_stream(bad: str) -> None:
    with pytest.raises(ValueError, match="id"):
        ServerSentEvent("x", id=bad)


def test_fields_checked_again_when_encoding() -> None:
    event = ServerSentEvent("x")
    event.id = "a\nb"
    with pytest.raises(ValueError, match="id"):
        event.encode()


@pytest.mark.parametrize("bad", ["a\nb", "a\rb"])
def test_event_type_must_not_break_the_stream(bad: str) -> None:
    with pytest.raises(ValueError, match="event type"):
        ServerSentEvent("x", event=bad)


@pytest.mark.parametrize("bad", ["1000", 1.5, True])
def test_retry_is_an_int(bad: t.Any) -> None:
    with pytest.raises(TypeError, match="milliseconds"):
        ServerSentEvent(retry=bad)


def test_retry_not_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        ServerSentEvent(retry=-1)
    assert ServerSentEvent(retry=0).encode() == b"retry: 0\n\n"


def test_json_data_without_app() -> None:
    encoded = ServerSentEvent({"b": 1, "a": [1, 2]}).encode()
    assert encoded == b'data: {"b": 1, "a": [1, 2]}\n\n'
    assert json.loads(parse(encoded.decode())[0].data) == {"b": 1, "a": [1, 2]}


def test_json_data_uses_the_app_provider(app: diota.Flask) -> None:
    app.json.sort_keys = True  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    with app.app_context():
        encoded = ServerSentEvent({"b": "é", "a": 1}).encode()
    assert encoded == 'data: {"a": 1, "b": "é"}\n\n'.encode()


def test_bytes_data_is_text() -> None:
    assert ServerSentEvent("é".encode()).encode() == "data: é\n\n".encode()


# -- event_stream, the response -----------------------------------------------

Kind = t.Literal["sync", "async"]
KINDS: list[Kind] = ["sync", "async"]
# None: stepped by whoever iterates the body; 0.05: producer thread / pump task.
KEEP_ALIVES = [None, 0.05]


def make_source(
    kind: Kind,
    items: cabc.Iterable[t.Any],
    *,
    pause: float = 0.0,
    forever: bool = False,
) -> tuple[t.Any, dict[str, int]]:
    """A sync or async generator yielding ``items`` (then counting up
    forever, if asked) with ``pause`` seconds between items, and counters of
    what it did."""
    stats = {"started": 0, "yielded": 0, "cleanups": 0}
    items = list(items)

    def values() -> cabc.Iterator[t.Any]:
        yield from items
        n = 0
        while forever:
            yield f"n{n}"
            n += 1

    def sync_gen() -> cabc.Iterator[t.Any]:
        stats["started"] += 1
        try:
            for i, item in enumerate(values()):
                if i and pause:
                    time.sleep(pause)
                yield item
                stats["yielded"] += 1
        finally:
            stats["cleanups"] += 1

    async def async_gen() -> cabc.AsyncIterator[t.Any]:
        stats["started"] += 1
        try:
            for i, item in enumerate(values()):
                if i:
                    await anyio.sleep(pause)
                yield item
                stats["yielded"] += 1
        finally:
            stats["cleanups"] += 1

    return (sync_gen() if kind == "sync" else async_gen()), stats


def wait_for(condition: t.Callable[[], bool], timeout: float = PATIENCE) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def producer_threads() -> list[threading.Thread]:
    return [th for th in threading.enumerate() if th.name == "diota-sse-producer"]


@pytest.fixture(autouse=True)
def _no_producer_left() -> cabc.Iterator[None]:
    """Every test ends with its producer threads gone."""
    yield
    assert wait_for(lambda: not producer_threads()), producer_threads()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_items_of_every_shape(
    app: diota.Flask, client: FlaskClient, kind: Kind, keep_alive: float | None
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        source, _ = make_source(
            kind,
            [
                "plain",
                {"data": {"n": 1}, "event": "json", "id": 1},
                ServerSentEvent("two\nlines", event="multi", id="2"),
                b"event: raw\ndata: bytes\n\n",
            ],
        )
        return event_stream(source, keep_alive=keep_alive)

    rv = client.get("/events")
    assert rv.status_code == 200
    assert rv.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert rv.headers["Cache-Control"] == "no-cache"
    assert rv.headers["X-Accel-Buffering"] == "no"
    assert "Content-Length" not in rv.headers
    assert parse(rv.text) == [
        Parsed("message", "plain", "", None),
        Parsed("json", '{"n": 1}', "1", None),
        Parsed("multi", "two\nlines", "2", None),
        Parsed("raw", "bytes", "2", None),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_retry_headers_and_status(
    app: diota.Flask, client: FlaskClient, kind: Kind
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        source, _ = make_source(kind, ["a"])
        return event_stream(
            source,
            retry=3000,
            status=201,
            headers={"X-Accel-Buffering": "yes", "X-A": "1"},
        )

    rv = client.get("/events")
    assert rv.status_code == 201
    assert rv.headers["X-Accel-Buffering"] == "yes"
    assert rv.headers["X-A"] == "1"
    assert rv.text == "retry: 3000\n\ndata: a\n\n"
    assert parse(rv.text) == [Parsed("message", "a", "", 3000)]


@pytest.mark.parametrize("kind", KINDS)
def test_async_view(app: diota.Flask, client: FlaskClient, kind: Kind) -> None:
    @app.get("/events")
    async def events() -> t.Any:
        source, _ = make_source(kind, ["from an async view"])
        return event_stream(source)

    assert client.get("/events").text == "data: from an async view\n\n"


@pytest.mark.parametrize("kind", KINDS)
def test_keep_alive_while_the_source_is_slow(
    app: diota.Flask, client: FlaskClient, kind: Kind
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        source, _ = make_source(kind, ["first", "second"], pause=0.3)
        return event_stream(source, keep_alive=0.05)

    rv = client.get("/events")
    body = rv.text
    assert body.startswith("data: first\n\n")
    assert body.endswith("data: second\n\n")
    between = body[len("data: first\n\n") : -len("data: second\n\n")]
    assert between.count(KEEP_ALIVE.decode()) >= 2
    assert between == KEEP_ALIVE.decode() * between.count(KEEP_ALIVE.decode())
    assert [e.data for e in parse(body)] == ["first", "second"]


@pytest.mark.parametrize("kind", KINDS)
def test_no_keep_alive_when_disabled(
    app: diota.Flask, client: FlaskClient, kind: Kind
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        source, _ = make_source(kind, ["first", "second"], pause=0.2)
        return event_stream(source, keep_alive=None)

    assert client.get("/events").text == "data: first\n\ndata: second\n\n"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
@pytest.mark.parametrize("pause", [0.0, 0.01])
def test_client_going_away_closes_the_source(
    app: diota.Flask,
    client: FlaskClient,
    kind: Kind,
    keep_alive: float | None,
    pause: float,
) -> None:
    stats: dict[str, int] = {}

    @app.get("/events")
    def events() -> t.Any:
        source, counters = make_source(kind, [], pause=pause, forever=True)
        stats.update(counters)
        stats_ref.append(counters)
        return event_stream(source, keep_alive=keep_alive)

    stats_ref: list[dict[str, int]] = []
    rv = client.get("/events", buffered=False)
    received = blocks(t.cast(cabc.Iterable[bytes], rv.response), 3)
    assert [e.data for e in parse("".join(received))] == ["n0", "n1", "n2"]
    rv.close()

    counters = stats_ref[0]
    assert wait_for(lambda: counters["cleanups"] == 1), counters
    assert counters["started"] == 1
    # It ran a little ahead of the client at most, and then stopped.
    seen = counters["yielded"]
    time.sleep(0.05)
    assert counters["yielded"] == seen < 10


@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_async_cleanup_done_when_close_returns(
    app: diota.Flask, client: FlaskClient, keep_alive: float | None
) -> None:
    counters: list[dict[str, int]] = []

    @app.get("/events")
    def events() -> t.Any:
        source, stats = make_source("async", [], pause=10, forever=True)
        counters.append(stats)
        return event_stream(source, keep_alive=keep_alive)

    rv = client.get("/events", buffered=False)
    assert blocks(t.cast(cabc.Iterable[bytes], rv.response), 1) == ["data: n0\n\n"]
    # The generator now awaits a 10 s sleep: closing cancels it there.
    rv.close()
    assert counters[0]["cleanups"] == 1


def test_blocked_sync_source_closed_when_it_next_yields(
    app: diota.Flask, client: FlaskClient
) -> None:
    feed: queue.Queue[str] = queue.Queue()
    cleaned = threading.Event()

    @app.get("/events")
    def events() -> t.Any:
        def generate() -> cabc.Iterator[str]:
            try:
                while True:
                    yield feed.get()
            finally:
                cleaned.set()

        return event_stream(generate(), keep_alive=0.05)

    feed.put("hello")
    rv = client.get("/events", buffered=False)
    chunks = t.cast(cabc.Iterable[bytes], rv.response)
    assert blocks(chunks, 2) == ["data: hello\n\n", KEEP_ALIVE.decode()]
    # The generator is blocked in feed.get(): closing does not wait for it.
    started = time.monotonic()
    rv.close()
    assert time.monotonic() - started < 2
    assert not cleaned.is_set()
    feed.put("unblock")
    assert cleaned.wait(PATIENCE)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_none_sends_nothing(
    app: diota.Flask, client: FlaskClient, kind: Kind, keep_alive: float | None
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        source, _ = make_source(kind, [None, "a", None, None, "b", None])
        return event_stream(source, keep_alive=keep_alive)

    assert client.get("/events").text == "data: a\n\ndata: b\n\n"


def test_idle_sync_source_yielding_none_is_closed_promptly(
    app: diota.Flask, client: FlaskClient
) -> None:
    feed: queue.Queue[str] = queue.Queue()
    cleaned = threading.Event()

    @app.get("/events")
    def events() -> t.Any:
        def generate() -> cabc.Iterator[str | None]:
            try:
                while True:
                    try:
                        yield feed.get(timeout=0.02)
                    except queue.Empty:
                        yield None  # nothing to send: lets a closed stream stop
            finally:
                cleaned.set()

        return event_stream(generate(), keep_alive=0.05)

    feed.put("hello")
    rv = client.get("/events", buffered=False)
    chunks = t.cast(cabc.Iterable[bytes], rv.response)
    assert blocks(chunks, 2) == ["data: hello\n\n", KEEP_ALIVE.decode()]
    rv.close()
    assert cleaned.wait(PATIENCE)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_source_uses_the_request_context(
    app: diota.Flask, client: FlaskClient, kind: Kind, keep_alive: float | None
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        g.greeting = "hello"

        def sync_gen() -> cabc.Iterator[str | ServerSentEvent]:
            yield f"{g.greeting} {request.args['name']}"
            yield request.headers.get("Last-Event-ID", "none")
            yield ServerSentEvent({"path": request.path, "app": diota.current_app.name})

        async def async_gen() -> cabc.AsyncIterator[str | ServerSentEvent]:
            for item in sync_gen():
                await anyio.sleep(0)
                yield item

        source = sync_gen() if kind == "sync" else async_gen()
        return event_stream(source, keep_alive=keep_alive)

    rv = client.get("/events?name=ada", headers={"Last-Event-ID": "41"})
    assert [e.data for e in parse(rv.text)] == [
        "hello ada",
        "41",
        '{"app": "diota_test", "path": "/events"}',
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_error_in_source_ends_the_stream(
    app: diota.Flask, client: FlaskClient, kind: Kind, keep_alive: float | None
) -> None:
    cleanups: list[str] = []

    @app.get("/events")
    def events() -> t.Any:
        def sync_gen() -> cabc.Iterator[str]:
            try:
                yield "before"
                raise LookupError("boom")
            finally:
                cleanups.append("sync")

        async def async_gen() -> cabc.AsyncIterator[str]:
            try:
                yield "before"
                await anyio.sleep(0)
                raise LookupError("boom")
            finally:
                cleanups.append("async")

        source = sync_gen() if kind == "sync" else async_gen()
        return event_stream(source, keep_alive=keep_alive)

    rv = client.get("/events", buffered=False)
    chunks = iter(t.cast(cabc.Iterable[bytes], rv.response))
    assert blocks(chunks, 1) == ["data: before\n\n"]
    with pytest.raises(LookupError, match="^boom$"):
        list(chunks)
    rv.close()
    assert cleanups == [kind]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep_alive", KEEP_ALIVES)
def test_bad_item_is_an_error(
    app: diota.Flask, client: FlaskClient, kind: Kind, keep_alive: float | None
) -> None:
    @app.get("/events")
    def events() -> t.Any:
        source, _ = make_source(kind, ["ok", 42])
        return event_stream(source, keep_alive=keep_alive)

    rv = client.get("/events", buffered=False)
    with pytest.raises(TypeError, match="not int"):
        rv.get_data()
    rv.close()


@pytest.mark.parametrize("kind", KINDS)
def test_head_request_never_starts_the_source(
    app: diota.Flask, client: FlaskClient, kind: Kind
) -> None:
    counters: list[dict[str, int]] = []

    @app.get("/events")
    def events() -> t.Any:
        source, stats = make_source(kind, ["a"], forever=True)
        counters.append(stats)
        return event_stream(source)

    rv = client.head("/events")
    assert rv.status_code == 200
    assert rv.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert rv.data == b""
    assert counters[0]["started"] == 0


def test_uses_the_app_response_class(app: diota.Flask, client: FlaskClient) -> None:
    class MyResponse(diota.Response):
        pass

    app.response_class = MyResponse

    @app.get("/events")
    def events() -> t.Any:
        rv = event_stream(iter(["x"]))
        assert isinstance(rv, MyResponse)
        return rv

    assert client.get("/events").text == "data: x\n\n"


def test_outside_a_request() -> None:
    items: list[EventItem] = ["a", {"data": [1]}]
    response = event_stream(iter(items), keep_alive=None, retry=10)
    assert type(response) is diota.Response
    assert response.mimetype == "text/event-stream"
    body = t.cast(cabc.Iterable[bytes], response.response)
    assert b"".join(body) == b"retry: 10\n\ndata: a\n\ndata: [1]\n\n"
    response.close()


def test_closing_an_unread_sync_stream_closes_the_source() -> None:
    source, stats = make_source("sync", ["a"], forever=True)
    response = event_stream(source)
    assert next(iter(t.cast(cabc.Iterable[bytes], response.response))) == b"data: a\n\n"
    response.close()
    assert stats["cleanups"] == 1


def test_generator_function_is_refused() -> None:
    def generate() -> cabc.Iterator[str]:
        yield "x"

    with pytest.raises(TypeError, match="call the generator function"):
        event_stream(generate)  # type: ignore[arg-type]


def test_keep_alive_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep_alive"):
        event_stream(iter(()), keep_alive=0)


@pytest.mark.anyio
async def test_reader_in_a_cancelled_worker_thread_stops_waiting() -> None:
    """The ASGI driver steps a sync body in a worker thread and, when the
    client disconnects, waits for that step before closing the body: a step
    waiting for the next event gives way at once, not after ``keep_alive``."""
    cleaned = threading.Event()

    def generate() -> cabc.Iterator[str | None]:
        try:
            yield "first"
            while True:
                time.sleep(0.01)
                yield None
        finally:
            cleaned.set()

    response = event_stream(generate(), keep_alive=60)
    body = iter(t.cast(cabc.Iterable[bytes], response.response))
    assert await anyio.to_thread.run_sync(next, body) == b"data: first\n\n"
    started = time.monotonic()
    with anyio.move_on_after(0.2) as scope:
        await anyio.to_thread.run_sync(next, body)
    assert scope.cancelled_caught
    assert time.monotonic() - started < 2
    await anyio.to_thread.run_sync(response.close)
    assert cleaned.wait(PATIENCE)
