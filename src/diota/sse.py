"""Server-sent events: a ``text/event-stream`` response fed by a generator.

:func:`event_stream` turns a sync or async generator (or any iterable) into
a streamed response in the format of the WHATWG "server-sent events"
specification; :class:`ServerSentEvent` is one event of it. The generator
runs with the request context bound, as with
:func:`~diota.stream_with_context`, and is closed (its ``finally`` blocks
run) when the stream ends or the client goes away, under WSGI and ASGI
alike.

Keep-alive comments need the generator to be waited for with a time limit
without being interrupted, so while one is pending:

- a sync generator is advanced by a producer thread of its own and handed
  over through a one-slot channel that the server's thread (WSGI) or the
  ASGI driver's worker thread reads with a timeout;
- an async generator is advanced by a task of its own (a *pump*), started
  outside any task group: the body is stepped from a different task for
  each chunk under WSGI, and a task group held open across the body's
  steps would be exited out of order when the ASGI driver is cancelled by a
  disconnect. The pump is always cancelled and awaited when the body is
  closed, so its lifetime is still bounded by the response's.
"""

from __future__ import annotations

import collections.abc as cabc
import contextvars
import dataclasses
import json
import re
import sys
import threading
import time
import typing as t

import anyio
import anyio.from_thread

from .ctx import has_app_context
from .ctx import has_request_context
from .globals import _cv_app
from .globals import current_app
from .helpers import stream_with_context
from .wrappers import Response

__all__ = ["KEEP_ALIVE", "EventItem", "ServerSentEvent", "event_stream"]

#: The comment sent when no event came for ``keep_alive`` seconds. Clients
#: ignore comments; the bytes keep proxies and load balancers from closing an
#: idle connection, and let a WSGI server notice that the client is gone.
KEEP_ALIVE = b": keep-alive\n\n"

# The specification ends lines with CRLF, LF or CR, and nothing else: Python's
# str.splitlines would also split on \v, \f, \x1c and U+2028, which clients
# keep as part of the data.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_Dumps = t.Callable[[t.Any], str]


@dataclasses.dataclass
class ServerSentEvent:
    """One event of a ``text/event-stream`` response.

    Yield these (or plain strings, or dicts of these arguments) from the
    generator given to :func:`event_stream`::

        yield ServerSentEvent({"price": 12.5}, event="tick", id=42)

    :param data: The event's data. A ``str`` is sent as is, each of its
        lines as a ``data:`` field (``\\r\\n``, ``\\r`` and ``\\n`` all
        separate lines; the client joins them back with ``\\n``). ``bytes``
        are decoded as UTF-8. Anything else is encoded as JSON, with the
        current app's JSON provider when an app context is active. ``None``
        sends no data: browsers then dispatch no event, but still take note
        of ``id`` and ``retry``.
    :param event: The event type; a browser's ``EventSource`` delivers it to
        ``addEventListener(event, ...)`` instead of ``onmessage``. It may not
        contain line breaks.
    :param id: The event id, which the browser sends back in the
        ``Last-Event-ID`` header when it reconnects. An ``int`` is turned into
        a ``str``. It may contain neither line breaks nor NUL.
    :param retry: How many milliseconds the browser waits before
        reconnecting after the connection is lost: an ``int``, 0 or more.
    :param comment: A comment, which clients ignore; each of its lines is
        sent as a ``:`` line.
    :raises ValueError: If a field would break the stream's framing.
    :raises TypeError: If ``retry`` is not an ``int``.

    .. versionadded:: 0.3
    """

    data: t.Any = None
    _: dataclasses.KW_ONLY
    event: str | None = None
    id: str | int | None = None
    retry: int | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        # Checked as soon as the event is made, so the error points at the
        # code that made it rather than at the server streaming it.
        self._check()

    def _check(self) -> None:
        if self.event is not None and _has_line_break(self.event):
            raise ValueError(
                f"An event type cannot contain line breaks: {self.event!r}"
            )
        if self.id is not None:
            ident = str(self.id)
            if _has_line_break(ident) or "\0" in ident:
                raise ValueError(
                    f"An event id cannot contain line breaks or NUL: {ident!r}"
                )
        if self.retry is not None:
            if isinstance(self.retry, bool) or not isinstance(self.retry, int):
                raise TypeError(
                    "retry is a number of milliseconds (an int), not"
                    f" {type(self.retry).__name__}."
                )
            if self.retry < 0:
                raise ValueError(f"retry cannot be negative: {self.retry}")

    def encode(self) -> bytes:
        """The event in the ``text/event-stream`` format, UTF-8 encoded and
        ended by the blank line that makes a client dispatch it.

        Non-string data is encoded with :attr:`current_app.json
        <diota.Flask.json>` when an app context is active, else with
        :func:`json.dumps`.
        """
        if has_app_context():
            return self._encode(current_app.json.dumps)
        return self._encode(json.dumps)

    def _encode(self, dumps: _Dumps) -> bytes:
        self._check()
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(_field("", line) for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append(_field("event", self.event))
        if self.id is not None:
            lines.append(_field("id", str(self.id)))
        if self.retry is not None:
            lines.append(_field("retry", str(self.retry)))
        if self.data is not None:
            data = self.data
            if isinstance(data, (bytes, bytearray, memoryview)):
                data = bytes(data).decode()
            elif not isinstance(data, str):
                data = dumps(data)
            lines.extend(_field("data", line) for line in _LINE_BREAK.split(data))
        lines.append("\n")
        return "\n".join(lines).encode()


#: What an event source may yield: a :class:`ServerSentEvent`, a ``str``
#: (the data of an unnamed event), a mapping of :class:`ServerSentEvent`'s
#: arguments, ``bytes`` already in the event-stream format, or ``None``
#: (nothing is sent).
EventItem = ServerSentEvent | str | bytes | cabc.Mapping[str, t.Any] | None


def _has_line_break(value: str) -> bool:
    return "\n" in value or "\r" in value


def _field(name: str, value: str) -> str:
    # Clients drop one space after the colon: write it only before a value,
    # so that a value starting with a space keeps it.
    return f"{name}: {value}" if value else f"{name}:"


def _encode_item(item: t.Any, dumps: _Dumps) -> bytes:
    """An item an event source yielded, in the event-stream format."""
    if isinstance(item, ServerSentEvent):
        return item._encode(dumps)
    if isinstance(item, str):
        return ServerSentEvent(item)._encode(dumps)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, cabc.Mapping):
        return ServerSentEvent(**item)._encode(dumps)
    raise TypeError(
        "An event source yields ServerSentEvent, str, dict or bytes items, not"
        f" {type(item).__name__}; wrap other data in ServerSentEvent(data=...)."
    )


def event_stream(
    source: cabc.Iterable[EventItem] | cabc.AsyncIterable[EventItem],
    *,
    keep_alive: float | None = 15.0,
    retry: int | None = None,
    headers: t.Mapping[str, str] | t.Iterable[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    """Make a ``text/event-stream`` response that sends what ``source`` yields
    as server-sent events.

    ::

        @app.get("/clock")
        def clock():
            def ticks():
                while True:
                    yield ServerSentEvent(time.strftime("%X"), event="tick")
                    time.sleep(1)

            return event_stream(ticks())

    ``source`` is a sync or async iterable, usually a generator, yielding
    :class:`ServerSentEvent` objects, ``str`` (the data of an unnamed
    event), dicts of :class:`ServerSentEvent`'s arguments, ``bytes``
    already in the event-stream format, or ``None``, which sends nothing.
    Called during a request, the
    generator runs with the request context bound, so it can use
    :data:`~diota.request`, :data:`~diota.session` and :data:`~diota.g`.

    When the stream ends, fails, or the client goes away, the generator is
    closed: its ``finally`` blocks and context managers run. A client that
    goes away is noticed when sending to it fails (WSGI servers) or when
    the server reports the disconnect (ASGI servers). An async generator is
    then cancelled where it awaits; a sync generator cannot be interrupted,
    so it is closed as soon as it next yields. A sync generator that waits
    for events can wait with a timeout and yield ``None`` when it expires,
    giving the stream a chance to close it.

    An error raised by the generator ends the response; the server logs it
    and closes the connection, and a browser's ``EventSource`` reconnects.

    :param source: The events, as a sync or async iterable.
    :param keep_alive: Send a comment line when no event came for this many
        seconds, so that idle connections are neither closed by proxies nor
        kept for a client that left. ``None`` sends none. With keep-alive, a
        sync generator is advanced in a thread of its own, and an async
        generator in a task of its own.
    :param retry: If given, first tell the client to wait this many
        milliseconds before reconnecting.
    :param headers: Headers to add to (or replace in) the response.
    :param status: The response status.
    :raises TypeError: If ``source`` is not an iterable (a generator
        function must be called).
    :raises ValueError: If ``keep_alive`` is not positive.

    .. versionadded:: 0.3
    """
    if keep_alive is not None and keep_alive <= 0:
        raise ValueError(f"keep_alive must be positive or None, not {keep_alive!r}")
    prelude = (
        ServerSentEvent(retry=retry)._encode(json.dumps) if retry is not None else b""
    )

    app_ctx = _cv_app.get(None)
    if app_ctx is not None:
        app = app_ctx.app
        dumps: _Dumps = app.json.dumps
        response_class: type[Response] = app.response_class
    else:
        dumps = json.dumps
        response_class = Response

    body: _SyncEvents | _AsyncEvents
    if hasattr(source, "__aiter__"):
        async_source = t.cast(cabc.AsyncIterable[t.Any], source)
        if has_request_context():
            async_source = stream_with_context(async_source)
        body = _AsyncEvents(async_source.__aiter__(), prelude, dumps, keep_alive)
    else:
        if not isinstance(source, cabc.Iterable):
            hint = " (call the generator function)" if callable(source) else ""
            raise TypeError(
                f"event_stream() takes an iterable or async iterable{hint},"
                f" not {type(source).__name__}."
            )
        iterator: cabc.Iterator[t.Any] = iter(source)
        if has_request_context():
            iterator = stream_with_context(iterator)
        body = _SyncEvents(iterator, prelude, dumps, keep_alive)

    # werkzeug's stubs know only sync bodies; diota's adapters take both.
    response = response_class(
        t.cast(t.Any, body), status=status, mimetype="text/event-stream"
    )
    # The browser must not cache the stream, and nginx must not buffer it
    # (it would hold events back until its buffer fills).
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    if headers:
        response.headers.update(headers)
    return response


class _SyncEvents:
    """The body of an event stream fed by a sync iterator.

    Without keep-alive it steps the iterator in the thread iterating the
    body. With keep-alive, a producer thread steps it (started on the first
    step, so a body that is never iterated costs no thread).
    """

    def __init__(
        self,
        iterator: cabc.Iterator[t.Any],
        prelude: bytes,
        dumps: _Dumps,
        keep_alive: float | None,
    ) -> None:
        self._iterator = iterator
        self._prelude = prelude
        self._dumps = dumps
        self._keep_alive = keep_alive
        # A producer thread runs in the view's context, as the generator
        # would have if stepped by the view's thread.
        self._context = contextvars.copy_context() if keep_alive is not None else None
        self._producer: _Producer | None = None
        self._closed = False

    def __iter__(self) -> _SyncEvents:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        if self._prelude:
            prelude, self._prelude = self._prelude, b""
            return prelude
        if self._keep_alive is None:
            while (item := next(self._iterator)) is None:
                pass
            return _encode_item(item, self._dumps)
        if self._producer is None:
            assert self._context is not None
            self._producer = _Producer(self._iterator, self._dumps, self._context)
        return self._producer.get(self._keep_alive)

    def close(self) -> None:
        """Close the source: its ``finally`` blocks run now if it is waiting
        at a ``yield``, else as soon as it next yields."""
        if self._closed:
            return
        self._closed = True
        if self._producer is not None:
            self._producer.close()
        else:
            _close(self._iterator)


def _close(iterator: t.Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class _Producer:
    """Steps a sync iterator in a thread of its own and hands each encoded
    item over through a one-slot channel.

    The thread runs at most one item ahead of the reader, and is the only
    thread that ever touches the iterator once started: a generator cannot
    be closed from another thread while it runs, and contexts pushed inside
    it must be popped in the thread that pushed them.
    """

    def __init__(
        self,
        iterator: cabc.Iterator[t.Any],
        dumps: _Dumps,
        context: contextvars.Context,
    ) -> None:
        self._iterator = iterator
        self._dumps = dumps
        self._cond = threading.Condition()
        self._slot: bytes | None = None
        self._error: BaseException | None = None
        self._done = False  # the thread has closed the iterator
        self._closing = False  # the reader is gone
        self._stepping = False  # the thread is inside the iterator's code
        self._thread = threading.Thread(
            target=context.run,
            args=(self._run,),
            name="diota-sse-producer",
            daemon=True,
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    if self._closing:
                        return
                    self._stepping = True
                try:
                    item = next(self._iterator)
                    # None sends nothing, but gives a closed stream its
                    # chance to stop the source (checked above).
                    data = None if item is None else _encode_item(item, self._dumps)
                except StopIteration:
                    return
                except BaseException as e:  # handed to the reader, who re-raises it
                    self._error = e
                    return
                finally:
                    with self._cond:
                        self._stepping = False
                if data is None:
                    continue
                with self._cond:
                    while self._slot is not None and not self._closing:
                        self._cond.wait()
                    if self._closing:
                        return
                    self._slot = data
                    self._cond.notify_all()
        finally:
            try:
                _close(self._iterator)
            except BaseException as e:
                if self._error is None:
                    self._error = e
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def get(self, timeout: float) -> bytes:
        """The next item, or :data:`KEEP_ALIVE` if none came in time.

        In a worker thread of the ASGI driver, the wait also ends as soon as
        the driver is cancelled (the client disconnected), raising the
        cancellation: the driver waits for this thread to return before it
        closes the body, which would otherwise take up to ``timeout``.
        """
        deadline = time.monotonic() + timeout
        check_cancelled = _cancellation_check()
        with self._cond:
            while self._slot is None and not self._done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return KEEP_ALIVE
                if check_cancelled is None:
                    self._cond.wait(remaining)
                else:
                    self._cond.wait(min(remaining, _CANCEL_POLL))
                    check_cancelled()
            if self._slot is not None:
                data, self._slot = self._slot, None
                self._cond.notify_all()
                return data
            error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopIteration

    def close(self) -> None:
        """Stop the thread and close the iterator in it.

        Waits for that unless the iterator's own code is running (blocked in
        a sleep or a queue read, say): then the thread closes it as soon as
        it yields, and the caller, often the server's thread, is not held.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            wait = not self._stepping
        if wait:
            self._thread.join()


# How often a reader in an ASGI worker thread checks for cancellation while
# it waits for the producer.
_CANCEL_POLL = 0.1


def _cancellation_check() -> t.Callable[[], None] | None:
    """anyio's cancellation check, if this thread is an anyio worker thread
    (the ASGI driver's); ``None`` elsewhere (a WSGI server's thread)."""
    try:
        anyio.from_thread.check_cancelled()
    except RuntimeError:  # not a worker thread
        return None
    return anyio.from_thread.check_cancelled


class _AsyncEvents:
    """The body of an event stream fed by an async iterator.

    Without keep-alive it awaits the iterator in the task stepping the body;
    with keep-alive a :class:`_Pump` task does, started on the first step.
    """

    def __init__(
        self,
        iterator: cabc.AsyncIterator[t.Any],
        prelude: bytes,
        dumps: _Dumps,
        keep_alive: float | None,
    ) -> None:
        self._iterator = iterator
        self._prelude = prelude
        self._dumps = dumps
        self._keep_alive = keep_alive
        self._pump: _Pump | None = None
        self._closed = False

    def __aiter__(self) -> _AsyncEvents:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        if self._prelude:
            prelude, self._prelude = self._prelude, b""
            return prelude
        if self._keep_alive is None:
            while (item := await self._iterator.__anext__()) is None:
                pass
            return _encode_item(item, self._dumps)
        if self._pump is None:
            self._pump = _Pump(self._iterator, self._dumps)
        return await self._pump.get(self._keep_alive)

    async def aclose(self) -> None:
        """Close the source, cancelling it where it awaits; its ``finally``
        blocks have run when this returns."""
        if self._closed:
            return
        self._closed = True
        if self._pump is not None:
            await self._pump.close()
        else:
            await _aclose(self._iterator)


async def _aclose(iterator: t.Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class _Pump:
    """Steps an async iterator in a task of its own, handing each encoded
    item over through a one-slot hand-off.

    Items live in an attribute until taken, and events only wake the other
    side, so a reader whose wait times out (to send a keep-alive) never
    loses an item.
    """

    def __init__(self, iterator: cabc.AsyncIterator[t.Any], dumps: _Dumps) -> None:
        self._iterator = iterator
        self._dumps = dumps
        self._scope = anyio.CancelScope()
        self._ready = anyio.Event()  # an item is in the slot, or the pump ended
        self._taken = anyio.Event()
        self._finished = anyio.Event()
        self._slot: bytes | None = None
        self._error: BaseException | None = None
        self._done = False
        _start_task(self._run)

    async def _run(self) -> None:
        try:
            with self._scope:
                while True:
                    try:
                        item = await self._iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    if item is None:
                        continue
                    data = _encode_item(item, self._dumps)
                    self._taken = anyio.Event()
                    self._slot = data
                    self._ready.set()
                    await self._taken.wait()
        except Exception as e:  # handed to the reader, who re-raises it
            self._error = e
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await _aclose(self._iterator)
                except Exception as e:
                    if self._error is None:
                        self._error = e
            self._done = True
            self._ready.set()
            self._finished.set()

    async def get(self, timeout: float) -> bytes:
        """The next item, or :data:`KEEP_ALIVE` if none came in time."""
        while True:
            if self._slot is not None:
                data, self._slot = self._slot, None
                self._ready = anyio.Event()
                self._taken.set()
                return data
            if self._done:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                raise StopAsyncIteration
            with anyio.move_on_after(timeout):
                await self._ready.wait()
            if self._slot is None and not self._done:
                return KEEP_ALIVE

    async def close(self) -> None:
        """Cancel the pump and wait until it closed the iterator."""
        self._scope.cancel()
        await self._finished.wait()


# Strong references to asyncio pump tasks: the loop keeps only weak ones.
_tasks: set[t.Any] = set()


def _start_task(func: t.Callable[[], cabc.Awaitable[None]]) -> None:
    """Start ``func()`` as a task owned by no task group.

    anyio starts tasks only in task groups, and no task group can span the
    steps of a response body (see the module docstring), hence the two
    backends' own calls. The caller cancels and awaits the task itself.
    """
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        # A system task: cancelled when the run ends, and, unlike a task in
        # an ordinary nursery, it may outlive the task that started it.
        trio.lowlevel.spawn_system_task(
            func, name="diota-sse-pump", context=contextvars.copy_context()
        )
        return

    import asyncio  # only reached on asyncio; the rest of diota stays portable

    task = asyncio.get_running_loop().create_task(_as_coroutine(func))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _as_coroutine(func: t.Callable[[], cabc.Awaitable[None]]) -> None:
    await func()
