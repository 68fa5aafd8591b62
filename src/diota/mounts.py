"""Other applications served by a diota app: mounted under a path prefix, or
as the fallback for every request diota does not route.

Both WSGI and ASGI applications can be mounted, and each is served in both
modes: directly when the server speaks its interface, through a bridge when
it does not. :class:`WSGIMiddleware` runs a WSGI application under ASGI (in
worker threads, the request body streamed in as it arrives, the response
streamed out with back-pressure); :class:`ASGIMiddleware` runs an ASGI
application under WSGI (on the process's event loop). Both are usable on
their own.
"""

from __future__ import annotations

import asyncio
import collections.abc as cabc
import io
import logging
import math
import sys
import threading
import typing as t
import weakref

import anyio
import anyio.from_thread
import anyio.lowlevel
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import ClientDisconnected
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_host

from .concurrency import is_async_callable
from .concurrency import process_loop
from .concurrency import run_in_worker_thread

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from anyio.streams.memory import MemoryObjectReceiveStream

    from .app import Flask
    from .ctx import RequestContext

Scope = t.MutableMapping[str, t.Any]
Message = t.MutableMapping[str, t.Any]
Receive = t.Callable[[], cabc.Awaitable[Message]]
Send = t.Callable[[Message], cabc.Awaitable[None]]
ASGIApplication = t.Callable[[Scope, Receive, Send], cabc.Awaitable[None]]

#: Where a bridged WSGI application's ``wsgi.errors`` output goes.
wsgi_errors_logger = logging.getLogger("diota.wsgi")

# Request body chunks a bridged WSGI application may have waiting before
# the client is slowed down (each is what the server read, ~64 KiB).
_BODY_QUEUE = 4
# Response messages a bridged WSGI application may have produced before
# the server took them.
_SEND_WINDOW = 4


def detect_interface(application: t.Any, interface: str | None = None) -> str:
    """``"wsgi"`` or ``"asgi"``: the interface ``application`` speaks.

    A diota (or Quart-like) application with both is served with the
    interface of the server; pass ``interface`` to force one.
    """
    if interface is not None:
        if interface not in ("wsgi", "asgi"):
            raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
        return interface
    if hasattr(application, "wsgi_app") and hasattr(application, "asgi_app"):
        return "both"
    return "asgi" if is_async_callable(application) else "wsgi"


class Mount:
    """An application served by a diota app, and how."""

    def __init__(
        self,
        prefix: str,
        application: t.Any,
        interface: str | None,
        apply_limits: bool,
    ) -> None:
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"A mount prefix starts with '/': {prefix!r}.")
        #: The path prefix, without a trailing slash ("" for the fallback).
        self.prefix = prefix.rstrip("/")
        self.application = application
        self.interface = detect_interface(application, interface)
        #: Whether MAX_CONTENT_LENGTH and TRUSTED_HOSTS apply to it.
        self.apply_limits = apply_limits
        self._as_asgi: ASGIApplication | None = None
        self._as_wsgi: WSGIApplication | None = None

    def matches(self, path: str) -> bool:
        """Whether ``path`` (text, as in an ASGI scope) is under the prefix."""
        prefix = self.prefix
        return path == prefix or path.startswith(prefix + "/")

    def matches_wsgi(self, path_info: str) -> bool:
        """Whether a WSGI ``PATH_INFO`` (UTF-8 bytes as latin-1) is under it."""
        prefix = self._wsgi_prefix
        return path_info == prefix or path_info.startswith(prefix + "/")

    @property
    def _wsgi_prefix(self) -> str:
        return self.prefix.encode().decode("latin-1")

    def as_asgi_for(self, app: Flask) -> ASGIApplication:
        """The application as an ASGI callable (bridged if it is WSGI, with
        ``app``'s WORKER_THREAD_LIMIT)."""
        if self._as_asgi is None:
            if self.interface == "wsgi":
                self._as_asgi = WSGIMiddleware(
                    self.application, app.config["WORKER_THREAD_LIMIT"]
                )
            elif self.interface == "both":
                self._as_asgi = self.application.asgi_app
            else:
                self._as_asgi = self.application
        return self._as_asgi

    @property
    def as_wsgi(self) -> WSGIApplication:
        """The application as a WSGI callable (bridged if it is ASGI)."""
        if self._as_wsgi is None:
            if self.interface == "asgi":
                self._as_wsgi = ASGIMiddleware(self.application)
            elif self.interface == "both":
                self._as_wsgi = self.application.wsgi_app
            else:
                self._as_wsgi = self.application
        return self._as_wsgi

    # -- serving -----------------------------------------------------------------

    def serve_wsgi(
        self, app: Flask, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        """Serve a WSGI request (its SCRIPT_NAME/PATH_INFO split at the prefix)."""
        if self.prefix:
            prefix = self._wsgi_prefix
            path = environ.get("PATH_INFO", "")
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
            environ["PATH_INFO"] = path[len(prefix) :]
        if self.apply_limits:
            try:
                _check_limits_wsgi(app, environ)
            except HTTPException as e:
                return e(environ, start_response)
            try:
                return self.as_wsgi(environ, start_response)
            except RequestEntityTooLarge as e:
                # Read past the limit (a chunked body) before responding.
                exc_info = sys.exc_info()
                return e(
                    environ,
                    lambda status, headers, _=None: start_response(
                        status, headers, exc_info
                    ),
                )
        return self.as_wsgi(environ, start_response)

    async def serve_asgi(
        self, app: Flask, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Serve an ASGI connection (``root_path`` extended by the prefix;
        ``path`` stays whole, as the ASGI spec has it)."""
        if self.prefix:
            scope = dict(scope)
            scope["root_path"] = scope.get("root_path", "") + self.prefix
        if self.apply_limits and scope["type"] == "http":
            limit = app.config["MAX_CONTENT_LENGTH"]
            try:
                _check_limits_asgi(app, scope, limit)
            except HTTPException as e:
                await _send_error(e, scope, send)
                return
            if limit is not None:
                receive, send = _LimitedBody(limit, scope, receive, send).channels()
        await self.as_asgi_for(app)(scope, receive, send)


def find_mount(app: Flask, path: str) -> Mount | None:
    """The mount serving ``path`` (an ASGI path, below the root path)."""
    for mount in app._mounts:  # longest prefix first
        if mount.matches(path):
            return mount
    return None


def routes_elsewhere(ctx: RequestContext) -> bool:
    """Whether the app's URL map does not route this request (404, or 405 for
    its method), so that the fallback application gets it. Matches it now if
    it was not yet."""
    if not ctx._matched and ctx.url_adapter is not None:
        ctx.match_request()
    error = ctx.request.routing_exception
    return isinstance(error, (NotFound, MethodNotAllowed))


def _check_limits_wsgi(app: Flask, environ: WSGIEnvironment) -> None:
    trusted = app.config["TRUSTED_HOSTS"]
    if trusted is not None:
        try:
            get_host(environ, trusted)
        except Exception as e:  # werkzeug's SecurityError
            raise BadRequest(str(e)) from e
    limit = app.config["MAX_CONTENT_LENGTH"]
    if limit is None:
        return
    declared = environ.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge()
    stream = environ.get("wsgi.input")
    if stream is not None:
        environ["wsgi.input"] = _LimitedInput(stream, limit)


def _check_limits_asgi(app: Flask, scope: Scope, limit: int | None) -> None:
    trusted = app.config["TRUSTED_HOSTS"]
    headers = dict(scope.get("headers") or ())
    if trusted is not None:
        from werkzeug.sansio.utils import get_host as sansio_get_host

        host = headers.get(b"host", b"").decode("latin-1")
        server = scope.get("server")
        try:
            sansio_get_host(scope.get("scheme", "http"), host or None, server, trusted)
        except Exception as e:
            raise BadRequest(str(e)) from e
    declared = headers.get(b"content-length", b"")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge()


async def _send_error(error: HTTPException, scope: Scope, send: Send) -> None:
    body = error.get_body().encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.code or 500,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _LimitedInput(io.RawIOBase):
    """A WSGI input that refuses to read past ``limit`` bytes (413)."""

    def __init__(self, stream: t.Any, limit: int) -> None:
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self._stream.read(len(buffer))
        self._left -= len(data)
        if self._left < 0:
            raise RequestEntityTooLarge()
        buffer[: len(data)] = data
        return len(data)


class _LimitedBody:
    """ASGI channels that answer 413 once the body passes ``limit`` bytes
    (if the application has not started its response), then tell the
    application the client has gone."""

    def __init__(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        self._limit = limit
        self._scope = scope
        self._receive = receive
        self._send = send
        self._size = 0
        self._started = False
        self._refused = False

    def channels(self) -> tuple[Receive, Send]:
        return self.receive, self.send

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._size += len(message.get("body", b""))
            if self._size > self._limit:
                self._refused = True
                if not self._started:
                    self._started = True
                    await _send_error(RequestEntityTooLarge(), self._scope, self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return  # the client has its 413
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


# -- a WSGI application under ASGI -------------------------------------------------


class WSGIMiddleware:
    """Serve a WSGI application as an ASGI application.

    Each request runs in a worker thread, at most ``thread_limit`` at once
    (per event loop). The body reaches ``wsgi.input`` as the client sends
    it, a few chunks ahead at most, chunked bodies included; the response
    goes out chunk by chunk, each send waiting for the server to take it.
    The response's ``close()`` is always called; a client that goes away
    stops the response at the next chunk. ``wsgi.errors`` writes to the
    ``diota.wsgi`` logger.
    """

    def __init__(self, app: WSGIApplication, thread_limit: int = 40) -> None:
        self.app = app
        self.thread_limit = thread_limit
        # Per event loop; weak, so loops that ended are forgotten.
        self._limiters: weakref.WeakKeyDictionary[t.Any, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await _WSGIRequest(self, scope, receive, send).run()
        elif kind == "lifespan":
            await _no_lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    def _limiter(self) -> anyio.CapacityLimiter:
        from .asgi import _loop_key

        key = _loop_key()
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = anyio.CapacityLimiter(self.thread_limit)
        return limiter


async def _no_lifespan(receive: Receive, send: Send) -> None:
    """The lifespan protocol for an application without startup work."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class _WSGIRequest:
    """One request through :class:`WSGIMiddleware`.

    PERF: a body that came whole in the first message is handed over in
    memory, and a response whose body is a list goes back to the loop with
    the thread's return: such a request costs the thread hop and nothing
    more. Streamed bodies (either way) go through the loop chunk by chunk.
    """

    def __init__(
        self, bridge: WSGIMiddleware, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.bridge = bridge
        self.scope = scope
        self.receive = receive
        self.send = send
        # Set on the loop, read in the worker thread (a plain bool: one
        # atomic store under the GIL).
        self.disconnected = False
        self.watching = False
        self.outbox: _Outbox | None = None

    async def run(self) -> None:
        from ._scope import build_environ

        first = await self.receive()
        if first["type"] == "http.disconnect":
            return  # gone before the request was complete enough to start
        environ = build_environ(self.scope)
        environ["wsgi.errors"] = _LogStream()
        environ["wsgi.input_terminated"] = True
        token = anyio.lowlevel.current_token()
        body_out: MemoryObjectReceiveStream[bytes] | None = None
        async with anyio.create_task_group() as tg:
            self.tg = tg
            if first.get("more_body", False):
                body_in, body_out = anyio.create_memory_object_stream[bytes](
                    _BODY_QUEUE
                )
                environ["wsgi.input"] = _StreamingInput(
                    body_out, self, first.get("body", b""), token
                )
                tg.start_soon(self._pump, body_in)
                self.watching = True
            else:
                environ["wsgi.input"] = io.BytesIO(first.get("body", b""))
            try:
                # As for diota's own sync views: async code the application
                # runs from its thread (a diota app inside) uses this loop.
                messages = await run_in_worker_thread(
                    self.bridge._limiter(), self._call_app, environ, token
                )
                if self.outbox is not None:
                    await self.outbox.drain()
            finally:
                if body_out is not None:
                    body_out.close()
                tg.cancel_scope.cancel()
        if messages:
            await _send_all(self.send, messages)

    async def _pump(self, body_in: anyio.abc.ObjectSendStream[bytes]) -> None:
        """Read the rest of the body into the queue (waiting when the
        application is slower than the client), then watch for the client
        going away."""
        async with body_in:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                    return
                chunk = message.get("body", b"")
                if chunk:
                    try:
                        await body_in.send(chunk)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass  # the application stopped reading: drop the rest
                if not message.get("more_body", False):
                    break
        await self._watch()

    async def _watch(self) -> None:
        """The body is complete: only a disconnect is left to see."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return
            # Not for us; yield, so a receive that answers at once cannot
            # starve the request.
            await anyio.lowlevel.checkpoint()

    def _start_streaming(self) -> None:
        """On the loop, at the first streamed chunk: the outbox's sender,
        and the disconnect watcher unless the body pump already is one."""
        self.outbox = _Outbox(self, anyio.lowlevel.current_token())
        self.tg.start_soon(self.outbox.send_all, self.send)
        if not self.watching:
            self.watching = True
            self.tg.start_soon(self._watch)

    def _call_app(self, environ: WSGIEnvironment, token: t.Any) -> list[Message] | None:
        """In the worker thread: run the application. A whole response is
        returned for the loop to send; a streamed one is sent from here,
        chunk by chunk."""
        started: list[t.Any] = []
        sent_start = False

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
        ) -> t.Callable[[bytes], object]:
            if exc_info is not None and sent_start:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return write

        def write(data: bytes) -> object:
            # The legacy write() callable: sent at once, in order.
            emit([_body(data, True)])
            return None

        def with_start(messages: list[Message]) -> list[Message]:
            nonlocal sent_start
            if not sent_start:
                if not started:
                    raise RuntimeError(
                        "The WSGI application did not call start_response."
                    )
                messages.insert(0, _start(started))
                sent_start = True
            return messages

        def emit(messages: list[Message]) -> None:
            if self.outbox is None:
                # Streaming out: start the task that sends, and (the body
                # being complete) one that sees a client leave.
                anyio.from_thread.run_sync(self._start_streaming, token=token)
            self.outbox.put(with_start(messages))  # type: ignore[union-attr]

        try:
            app_iter = self.bridge.app(environ, start_response)
        except Exception:
            if self.disconnected:  # a client gone is no app error
                return None
            return self._fail(sent_start)
        try:
            if isinstance(app_iter, (list, tuple)) and not sent_start:
                # The whole body at hand: the loop sends it.
                return with_start([_body(b"".join(app_iter), False)])
            iterator = iter(app_iter)
            pending: bytes | None = None
            for chunk in iterator:
                if self.disconnected:
                    return None
                if not chunk:
                    continue
                if pending is not None:
                    emit([_body(pending, True)])
                # Held back one step, so the last chunk ends the response.
                pending = chunk
            if self.disconnected:
                return None
            if not sent_start:
                return with_start([_body(pending or b"", False)])
            emit([_body(pending or b"", False)])
            return None
        except ClientDisconnected:
            return None
        except Exception:
            if self.disconnected:
                return None
            return self._fail(sent_start)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()

    def _fail(self, sent_start: bool) -> list[Message]:
        wsgi_errors_logger.exception("Error in the WSGI application")
        if sent_start:
            raise
        body = b"Internal Server Error"
        return [
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            },
            _body(body, False),
        ]


def _start(started: list[t.Any]) -> Message:
    status, headers = started
    return {
        "type": "http.response.start",
        "status": int(status[:3]),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers
        ],
    }


def _body(data: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


class _Outbox:
    """Response messages from the worker thread to the server.

    PERF: the thread hands each message to the loop without waiting for it
    to be sent, so producing the next chunk overlaps sending this one; at
    most ``_SEND_WINDOW`` messages wait at once (the thread blocks beyond
    that), which keeps back-pressure: a slow client slows the application.
    """

    def __init__(self, request: _WSGIRequest, token: t.Any) -> None:
        self._request = request
        self._call_soon = _call_soon_threadsafe(token)
        self._window = threading.Semaphore(_SEND_WINDOW)
        self._inbox, self._queue = anyio.create_memory_object_stream[Message](math.inf)
        self._done = anyio.Event()
        self._closed = False

    def put(self, messages: list[Message]) -> None:
        """In the worker thread: queue ``messages``, waiting while the window
        is full. Returns at once once the client is gone."""
        for message in messages:
            if self._closed:
                return
            self._window.acquire()
            if self._closed or self._request.disconnected:
                return
            self._call_soon(self._deliver, message)

    def _deliver(self, message: Message) -> None:
        try:
            self._inbox.send_nowait(message)
        except anyio.ClosedResourceError:
            self._window.release()  # the response already ended

    async def send_all(self, send: Send) -> None:
        """On the loop: send the queued messages in order."""
        try:
            async with self._queue:
                async for message in self._queue:
                    try:
                        if not self._request.disconnected:
                            await send(message)
                    except OSError:
                        # The connection broke under the send: a client gone.
                        self._request.disconnected = True
                    finally:
                        self._window.release()
        finally:
            # Nothing more will be sent: stop the application at its next
            # chunk, and never leave the thread waiting for room.
            self._closed = True
            self._request.disconnected = True
            self._window.release(_SEND_WINDOW + 1)
            self._done.set()

    async def drain(self) -> None:
        """On the loop, once the thread has returned (its messages are all
        delivered: handed over in order, before its result): wait until
        they are sent."""
        self._inbox.close()
        await self._done.wait()


def _call_soon_threadsafe(token: t.Any) -> t.Callable[..., t.Any]:
    """Schedule a callback on the loop of ``token`` (from
    :func:`anyio.lowlevel.current_token`) without waiting for it."""
    native = token.native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        return native.call_soon_threadsafe
    return native.run_sync_soon  # type: ignore[no-any-return]  # trio's TrioToken


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)


class _StreamingInput:
    """``wsgi.input`` fed by the ASGI body as it arrives, with file
    semantics: ``read(n)`` returns ``n`` bytes unless the body ends first;
    ``readline`` scans what is buffered. Reads in the worker thread wait on
    the loop only when the buffer is empty."""

    def __init__(
        self,
        chunks: anyio.abc.ObjectReceiveStream[bytes],
        request: _WSGIRequest,
        first: bytes,
        token: t.Any,
    ) -> None:
        self._chunks = chunks
        self._request = request
        self._token = token
        self._buffer = bytearray(first)
        self._eof = False

    def _fill(self) -> bool:
        """One more chunk into the buffer; False once the body has ended."""
        if self._eof:
            return False
        try:
            chunk = anyio.from_thread.run(self._chunks.receive, token=self._token)
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._eof = True
            if self._request.disconnected:
                # The client left mid-body: not a complete request.
                raise ClientDisconnected() from None
            return False
        self._buffer += chunk
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]  # cheap at the front of a bytearray
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        scanned = 0
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end >= 0:
                end += 1
                break
            if 0 <= limit <= len(self._buffer):
                end = limit
                break
            scanned = len(self._buffer)
            if not self._fill():
                end = len(self._buffer)
                break
        return self._take(end if limit < 0 else min(end, limit))

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> cabc.Iterator[bytes]:
        while line := self.readline():
            yield line

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        # Owned by the bridge, which closes the queue itself.
        pass


class _LogStream(io.TextIOBase):
    """``wsgi.errors``: each line written goes to the ``diota.wsgi`` logger."""

    def __init__(self) -> None:
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            wsgi_errors_logger.error(line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            wsgi_errors_logger.error(self._partial)
            self._partial = ""


# -- an ASGI application under WSGI ------------------------------------------------


class ASGIMiddleware:
    """Serve an ASGI application as a WSGI application, on the process's one
    event loop (the loop diota runs ``async def`` views on under WSGI).

    The request body is read from ``wsgi.input`` when the application asks
    for it; the response streams: the WSGI server gets each chunk as the
    application sends it, and the application waits until it is taken.
    Closing the response early tells the application the client left.
    """

    def __init__(self, app: ASGIApplication) -> None:
        self.app = app

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        exchange = _ASGIRequest(self.app, environ)
        process_loop.run(exchange.start())
        start = exchange.next_response_message()
        if start is None or start["type"] != "http.response.start":
            exchange.close()
            raise RuntimeError("The ASGI application sent no response.")
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in start.get("headers", ())
        ]
        from werkzeug.http import HTTP_STATUS_CODES

        status = start["status"]
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN')}", headers)
        return _ASGIBody(exchange)


class _ASGIRequest:
    """One request through :class:`ASGIMiddleware`: the application task on
    the process loop and the messages between it and the WSGI side."""

    def __init__(self, app: ASGIApplication, environ: WSGIEnvironment) -> None:
        from ._scope import scope_from_environ

        self.app = app
        self.environ = environ
        self.scope = scope_from_environ(environ)
        self.scope.pop("diota.environ", None)
        self.input = environ.get("wsgi.input")
        self.body_done = self.input is None
        self.closed = False
        self.error: BaseException | None = None

    async def start(self) -> None:
        self.outbox: asyncio.Queue[Message | None] = asyncio.Queue(1)
        self.body_wanted = asyncio.Event()
        self.body_ready: asyncio.Queue[Message] = asyncio.Queue(1)
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)
        except BaseException as e:  # re-raised on the WSGI side
            self.error = e
        finally:
            await self.outbox.put(None)

    async def _receive(self) -> Message:
        if self.closed or self.body_done:
            if not self.closed:
                # Body sent: nothing more until the client leaves.
                await self._closed_event().wait()
            return {"type": "http.disconnect"}
        self.body_wanted.set()
        return await self.body_ready.get()

    def _closed_event(self) -> asyncio.Event:
        event = getattr(self, "_closed", None)
        if event is None:
            event = self._closed = asyncio.Event()
        return event

    async def _send(self, message: Message) -> None:
        if self.closed:
            raise OSError("The WSGI client has gone.")
        await self.outbox.put(message)

    # -- the WSGI side (each call runs the loop until it has an answer) ----------

    async def _next_event(self) -> tuple[str, Message | None]:
        get = asyncio.ensure_future(self.outbox.get())
        wanted = asyncio.ensure_future(self.body_wanted.wait())
        done, _ = await asyncio.wait({get, wanted}, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            wanted.cancel()
            return "message", get.result()
        get.cancel()
        self.body_wanted.clear()
        return "body", None

    async def _feed(self, chunk: bytes, more: bool) -> None:
        await self.body_ready.put(
            {"type": "http.request", "body": chunk, "more_body": more}
        )

    def next_response_message(self) -> Message | None:
        """The application's next message, reading body for it meanwhile."""
        while True:
            kind, message = process_loop.run(self._next_event())
            if kind == "message":
                if message is None and self.error is not None:
                    error, self.error = self.error, None
                    raise error
                return message
            chunk = self.input.read(65536) if self.input is not None else b""
            self.body_done = not chunk
            process_loop.run(self._feed(chunk, bool(chunk)))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        process_loop.run(self._finish())

    async def _finish(self) -> None:
        """The client has gone: tell the application, and wait (a while) for
        it to end; then cancel it."""
        self._closed_event().set()
        try:
            self.body_ready.put_nowait({"type": "http.disconnect"})
        except asyncio.QueueFull:
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while not self.task.done() and loop.time() < deadline:
            try:  # a send waiting on the full outbox goes on (and fails)
                self.outbox.get_nowait()
            except asyncio.QueueEmpty:
                pass
            await asyncio.wait({self.task}, timeout=0.01)
        if not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task})


class _ASGIBody:
    """The WSGI response body of an ASGI application."""

    def __init__(self, exchange: _ASGIRequest) -> None:
        self._exchange = exchange
        self._done = False

    def __iter__(self) -> _ASGIBody:
        return self

    def __next__(self) -> bytes:
        while not self._done:
            message = self._exchange.next_response_message()
            if message is None:
                self._done = True
                break
            if message["type"] != "http.response.body":
                continue
            self._done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        raise StopIteration

    def close(self) -> None:
        self._exchange.close()
