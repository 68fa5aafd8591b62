"""The ASGI adapter: scope, receive and send in; the core pipeline; messages out.

Protocol only. One class per scope type (``http``, ``lifespan``; websockets
are served by :mod:`diota.websockets`). The request is built from the scope and a
body read before the view runs, so Flask's sync accessors never block the
loop; the core pipeline then runs either entirely in one worker thread (a
route whose every callable is sync: one thread hop per request) or on the
server's loop with each sync callable hopping to a worker thread.
"""

from __future__ import annotations

import asyncio
import collections.abc as cabc
import contextvars
import functools
import io
import os
import tempfile
import typing as t

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request as RequestBase
from werkzeug.wsgi import FileWrapper

from ._scope import _EMPTY_INPUT
from ._scope import ScopeSource
from .concurrency import _in_asgi_worker
from .concurrency import async_caller
from .concurrency import Caller
from .concurrency import caller_thread
from .concurrency import drive
from .concurrency import ROUTE_NO_USER_CODE
from .concurrency import ROUTE_SYNC
from .concurrency import run_request_work
from .ctx import RequestContext
from .globals import _cv_app
from .mounts import find_mount
from .mounts import routes_elsewhere
from .mounts import WSGIMiddleware
from .wrappers import _plain_body
from .wrappers import Request

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask
    from .ctx import RequestContext
    from .wrappers import Response

Scope = t.MutableMapping[str, t.Any]
Message = t.MutableMapping[str, t.Any]
Receive = t.Callable[[], cabc.Awaitable[Message]]
Send = t.Callable[[Message], cabc.Awaitable[None]]

# Statuses and methods whose responses carry no body.
_NO_BODY_STATUSES = frozenset({204, 304})


def handle(
    app: Flask, scope: Scope, receive: Receive, send: Send
) -> cabc.Awaitable[None]:
    """Serve one ASGI connection with ``app``: the coroutine to await.

    PERF: not a coroutine itself, so an HTTP request costs no extra frame.
    """
    kind = scope["type"]
    if kind == "http":
        return serve_http(app, scope, receive, send)
    if kind == "lifespan":
        return Lifespan(app, scope, receive, send).run()
    if kind == "websocket":
        return _serve_websocket(app, scope, receive, send)
    raise RuntimeError(f"diota does not handle ASGI scope type {kind!r}.")


async def _serve_websocket(
    app: Flask, scope: Scope, receive: Receive, send: Send
) -> None:
    from .websockets import serve

    runtime = _runtime(app)
    if not app._serving_started:
        await _ensure_started(app, runtime)
    if app._mounts:
        mount = find_mount(app, _path_below_root(scope))
        if mount is not None:
            await mount.serve_asgi(app, scope, receive, send)
            return
    await serve(app, scope, receive, send, runtime.call)


class _Runtime:
    """Per event loop state of an app: the thread limiter and the caller."""

    __slots__ = ("limiter", "call", "startup_lock")

    def __init__(self, app: Flask) -> None:
        self.limiter = anyio.CapacityLimiter(app.config["WORKER_THREAD_LIMIT"])
        self.call: Caller = async_caller(self.limiter)
        self.startup_lock = anyio.Lock()


def _runtime(app: Flask) -> _Runtime:
    # anyio primitives belong to the loop they were made on, so each loop
    # gets its own. PERF: the last loop's is kept beside, for one identity
    # test per request (a server runs one loop).
    key = asyncio._get_running_loop() or _loop_key()
    attributes = app.__dict__
    last = attributes.get("_asgi_last_runtime")
    if last is not None and last[0] is key:
        return last[1]  # type: ignore[no-any-return]
    runtimes: dict[t.Any, _Runtime] = attributes.setdefault("_asgi_runtimes", {})
    runtime = runtimes.get(key)
    if runtime is None:
        runtime = runtimes[key] = _Runtime(app)
    attributes["_asgi_last_runtime"] = (key, runtime)
    return runtime


def _loop_key() -> t.Any:
    """The running event loop (asyncio) or trio run: what anyio primitives
    belong to. No asyncio loop runs in this thread under trio."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop
    import trio

    return trio.lowlevel.current_trio_token()


class _Connection:
    """One ASGI connection: the app and the scope's channels."""

    def __init__(self, app: Flask, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send


async def _ensure_started(app: Flask, runtime: _Runtime) -> None:
    """Run the serving startup hooks once, whoever gets here first."""
    async with runtime.startup_lock:
        if not app._serving_started:
            await app._startup(runtime.call)


async def serve_http(app: Flask, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one HTTP request/response cycle."""
    runtime = _runtime(app)
    if not app._serving_started:
        # No lifespan from this server (or the test client): start here.
        await _ensure_started(app, runtime)

    if "wsgi_app" in app.__dict__ or app._wsgi_app_replaced:
        # WSGI middleware around app.wsgi_app (ProxyFix), or a wsgi_app
        # patched on the class by instrumentation: the request goes through
        # it, with the app inside served as WSGI, through the WSGI bridge.
        await wsgi_bridge(app)(scope, receive, send)
        return
    if app._mounts:
        mount = find_mount(app, _path_below_root(scope))
        if mount is not None:
            await mount.serve_asgi(app, scope, receive, send)
            return

    source = ScopeSource(scope)
    ctx = _request_context(app, source)
    request = ctx.request
    if app._fallback is not None and routes_elsewhere(ctx):
        await app._fallback.serve_asgi(app, scope, receive, send)
        return
    if not ctx._matched and ctx.url_adapter is not None:
        ctx.match_request()
    rule = request.url_rule
    endpoint = rule.endpoint if rule is not None else None

    if not source.may_have_body and source.method in _BODILESS_METHODS:
        pass  # PERF: no body to read or stream
    elif getattr(
        app.view_functions.get(endpoint) if endpoint is not None else None,
        "stream_request_body",
        False,
    ):
        request._body_stream = RequestBodyStream(
            receive, app.config["MAX_CONTENT_LENGTH"]
        )
        source.input = t.cast(t.IO[bytes], _StreamedBodyInput())
        _attach_body(request, source)
    else:
        body = await read_body(
            receive,
            source,
            app.config["MAX_CONTENT_LENGTH"],
            app.config["BODY_SPOOL_MEMORY"],
        )
        if body is None:
            return  # The client went away before sending its body.
        if body is _TOO_LARGE:
            # Raised in the pipeline, so the app's 413 handler applies.
            request.routing_exception = RequestEntityTooLarge()
        _attach_body(request, source)

    on_finish = _preserve_hook(scope) if "diota.preserve_context" in scope else None
    try:
        kind = app._route_kind(endpoint)
        if kind == ROUTE_NO_USER_CODE:
            # Nothing can block: the sync driver finishes it on the loop.
            response, context = _run_sync(app, ctx, on_finish)
        elif kind == ROUTE_SYNC:
            response, context = await run_request_work(
                runtime.limiter, _run_sync, app, ctx, on_finish
            )
        else:
            response, context = await app._run_request(
                ctx, runtime.call, on_finish, _in_request_context
            )

        await send_response(response, request, scope, receive, send, runtime, context)
        ctx._responded = True
        if ctx._background_tasks:
            # Not in a test's thread (see CallerThread): the test does not
            # wait for them there.
            caller_thread.set(None)
            # In this task: the server keeps it alive after the response.
            await app._background.run_after_response(
                ctx._background_tasks, runtime.call
            )
    finally:
        # The body buffer is ours (under WSGI the server owns wsgi.input),
        # unless the test client keeps this request alive to inspect it.
        if on_finish is None and source.input is not _EMPTY_INPUT:
            source.input.close()


# Methods whose requests usually carry no body. PERF: such a request that
# cannot have one (see ScopeSource.may_have_body) is served without waiting
# for its empty body message.
_BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def _request_context(app: Flask, source: ScopeSource) -> RequestContext:
    """The request context for the request ``source`` describes.

    PERF: diota's request class is built straight from the scope; a class
    with a constructor of its own (or an app that makes its request
    contexts itself) gets the environ it expects.
    """
    request_class = app.request_class
    key = (type(app), request_class)
    from_source = _builds_from_source.get(key)
    if from_source is None:
        from .app import Flask

        from_source = _builds_from_source[key] = (
            issubclass(request_class, Request)
            and request_class.__init__ is RequestBase.__init__
            and type(app).request_context is Flask.request_context
        )
    if from_source:
        return RequestContext(app, None, request_class._from_source(source))  # type: ignore[arg-type]
    return app.request_context(source.make_environ())


# (app class, request class) -> whether requests can be built from a scope.
_builds_from_source: dict[tuple[type, type], bool] = {}


def _attach_body(request: t.Any, source: ScopeSource) -> None:
    """Give the request the body that was read (or its stream), where the
    request already has an environ: a request class with a constructor of
    its own, or a URL map bound from the environ. (Headers made from the
    scope are only made on first read, after the body.)"""
    attributes = request.__dict__
    environ = attributes.get("_environ", attributes.get("environ"))
    size = source.body_size
    if environ is not None:
        environ["wsgi.input"] = source.input
        if size and "CONTENT_LENGTH" not in environ:
            environ["CONTENT_LENGTH"] = str(size)


async def serve_through_wsgi(
    app: Flask, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve an HTTP request through the app's WSGI interface, bridged, as
    for a ``__call__`` patched on the class with a WSGI function."""
    if not app._serving_started:
        await _ensure_started(app, _runtime(app))
    await wsgi_bridge(app)(scope, receive, send)


def wsgi_bridge(app: Flask) -> WSGIMiddleware:
    """The WSGI bridge serving ``app`` as WSGI under ASGI, made once per app.

    It calls the app object with ``(environ, start_response)``, so whatever
    wraps the WSGI interface at that moment (middleware assigned to
    ``app.wsgi_app``, a ``wsgi_app`` or ``__call__`` patched on the class)
    runs around diota's WSGI handling.
    """
    bridge: WSGIMiddleware | None = app.__dict__.get("_wsgi_bridge")
    if bridge is None:
        bridge = WSGIMiddleware(
            functools.partial(_call_as_wsgi, app), app.config["WORKER_THREAD_LIMIT"]
        )
        app.__dict__["_wsgi_bridge"] = bridge
    return bridge


def _call_as_wsgi(
    app: Flask, environ: dict[str, t.Any], start_response: t.Any
) -> t.Iterable[bytes]:
    return type(app).__call__(app, environ, start_response)  # type: ignore[no-any-return]


def _path_below_root(scope: Scope) -> str:
    """The scope's path without its root path (which the spec has it include)."""
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        return path[len(root_path) :]
    return path


def _run_sync(
    app: Flask,
    ctx: RequestContext,
    on_finish: t.Callable[[RequestContext], None] | None,
) -> tuple[Response, contextvars.Context]:
    return drive(app._run_request(ctx, app._sync_call, on_finish, _in_request_context))


def _in_request_context(response: Response) -> tuple[Response, contextvars.Context]:
    """The response, with the context variables as they stand while the
    request context is pushed: the response start is sent in them, so code
    wrapping ``send`` sees ``request`` there as WSGI code does in
    ``start_response``."""
    return response, contextvars.copy_context()


class _Suspend:
    """Hands what an inner awaitable yielded to the task running us."""

    __slots__ = ("value",)

    def __init__(self, value: t.Any) -> None:
        self.value = value

    def __await__(self) -> cabc.Generator[t.Any, t.Any, t.Any]:
        return (yield self.value)


async def _send_in(context: contextvars.Context, send: Send, message: Message) -> None:
    """``await send(message)`` with send's own code running in ``context``.

    Each step of the awaitable runs inside ``context``; whatever it waits
    on (an asyncio future, a trio trap) is passed through to the task, so
    this works on any event loop.
    """
    steps = context.run(send, message).__await__()
    # Some servers' native awaitables (granian's) are plain iterators.
    step = getattr(steps, "send", None)
    value: t.Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is not None:
                throw = getattr(steps, "throw", None)
                if throw is None:
                    raise error
                yielded = context.run(throw, error)
            elif step is not None:
                yielded = context.run(step, value)
            else:
                yielded = context.run(next, steps)
        except StopIteration:
            return
        error = None
        try:
            value = await _Suspend(yielded)
        except BaseException as e:  # cancellation included: thrown in
            value, error = None, e


def _preserve_hook(scope: Scope) -> t.Callable[[RequestContext], None] | None:
    """The test client's request to keep the contexts alive after the request."""
    preserve = scope.get("diota.preserve_context")
    if preserve is None:
        return None

    def on_finish(ctx: RequestContext) -> None:
        preserve(_cv_app.get())
        preserve(ctx)

    return on_finish


_TOO_LARGE = object()


async def read_body(
    receive: Receive, source: ScopeSource, limit: int | None, memory: int
) -> t.Any:
    """Read the whole request body into ``source.input``.

    Returns ``None`` if the client disconnected, ``_TOO_LARGE`` once more
    than ``limit`` bytes arrived (or were announced), else ``True``. Bodies
    above ``memory`` bytes go to a temporary file.
    """
    declared = source.content_length
    if limit is not None and declared and declared.isdigit() and int(declared) > limit:
        return _TOO_LARGE

    chunks: list[bytes] = []
    size = 0
    spool: t.IO[bytes] | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if spool is not None:
                    spool.close()
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if limit is not None and size > limit:
                    if spool is not None:
                        spool.close()
                    source.body_size = size
                    return _TOO_LARGE
                if spool is None and size > memory:
                    spool = await anyio.to_thread.run_sync(_new_spool_file)
                    await anyio.to_thread.run_sync(spool.write, b"".join(chunks))
                    chunks = []
                if spool is not None:
                    await anyio.to_thread.run_sync(spool.write, chunk)
                else:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        if spool is not None:
            spool.close()
        raise

    if spool is not None:
        spool.seek(0)
        source.input = spool
    elif size:
        source.input = io.BytesIO(b"".join(chunks))
    if declared is None and size:
        # A chunked body: its length tells werkzeug how much to read.
        source.body_size = size
    return True


def _new_spool_file() -> t.IO[bytes]:
    return tempfile.TemporaryFile()


class RequestBodyStream:
    """The body of a request whose view streams it (``async for chunk in
    request.body``), read from the server as it arrives."""

    def __init__(self, receive: Receive, limit: int | None) -> None:
        self._receive = receive
        self._limit = limit
        self._size = 0
        self._done = False

    def __aiter__(self) -> RequestBodyStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._done = True
                from werkzeug.exceptions import ClientDisconnected

                raise ClientDisconnected()
            self._done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                self._size += len(chunk)
                if self._limit is not None and self._size > self._limit:
                    self._done = True
                    raise RequestEntityTooLarge()
                return chunk
        raise StopAsyncIteration


class _StreamedBodyInput(io.RawIOBase):
    """``wsgi.input`` of a streamed-body request: sync reads are refused."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        raise RuntimeError(
            "This view streams its request body (stream_request_body): read it"
            " with 'async for chunk in request.body', not request.data/form."
        )


async def send_response(
    response: Response,
    request: Request,
    scope: Scope,
    receive: Receive,
    send: Send,
    runtime: _Runtime,
    context: contextvars.Context | None = None,
) -> None:
    """Send a werkzeug response as ASGI messages; the response start in
    ``context`` when one is given (see :func:`_in_request_context`)."""
    body = response.response
    if type(body) is list:  # PERF: the common case, without ABC checks
        chunks = _plain_body(response, request.method)
        if chunks is not None:
            listed = response.headers
            pairs = listed._list if type(listed) is Headers else listed
            encoded = _encode_headers(pairs)
            if _sendable_as_is(encoded):
                await _start(
                    context,
                    send,
                    {
                        "type": "http.response.start",
                        "status": response._status_code,
                        "headers": encoded,
                        _HEADER_NAMES: pairs,
                    },
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": chunks[0] if len(chunks) == 1 else b"".join(chunks),
                    }
                )
                return
    elif isinstance(body, cabc.AsyncIterable) and not isinstance(
        body, (cabc.Iterable, str, bytes)
    ):
        await _send_async_body(response, body, request.environ, receive, send, context)
        return

    environ = request.environ
    app_iter, status, headers = response.get_wsgi_response(environ)
    status_code = int(status[:3])
    await _start(
        context,
        send,
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": _encode_headers(headers),
            _HEADER_NAMES: headers,
        },
    )
    if isinstance(app_iter, (list, tuple)):
        await send({"type": "http.response.body", "body": b"".join(app_iter)})
        return
    if isinstance(app_iter, FileWrapper) and await _send_file(app_iter, scope, send):
        return
    if not response.is_streamed:
        # A list body wrapped for encoding and closing: iterating costs nothing.
        data = b"".join(app_iter)
        getattr(app_iter, "close", _noop)()
        await send({"type": "http.response.body", "body": data})
        return
    await _send_sync_iterable(app_iter, receive, send, runtime)


#: A private key of diota's response start messages: the headers as the
#: app wrote them (ASGI lowercases names). Servers ignore it; diota's
#: in-process test client gives tests the names as Flask's client would.
_HEADER_NAMES = "diota.headers"


def _noop() -> None:
    pass


def _start(
    context: contextvars.Context | None, send: Send, message: Message
) -> cabc.Awaitable[None]:
    """Send the response start, in ``context`` when there is one."""
    if context is None:
        return send(message)
    return _send_in(context, send, message)


def _sendable_as_is(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether werkzeug would send these (encoded) headers as they stand: a
    ``Content-Length``, and no URL header to rewrite (the header half of
    :func:`diota.wrappers._sent_as_is`, on the names as ASGI sends them)."""
    has_length = False
    for name, _ in headers:
        if name == b"content-length":
            has_length = True
        elif name == b"location" or name == b"content-location":
            return False
    return has_length


def _encode_headers(headers: t.Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    encoded = _encoded_headers
    rv = []
    for header in headers:
        pair = encoded.get(header)
        if pair is None:
            name, value = header
            pair = (name.lower().encode("latin-1"), value.encode("latin-1"))
            if len(value) < 64 and len(encoded) < 1024:
                encoded[header] = pair
        rv.append(pair)
    return rv


# PERF: (name, value) -> the pair encoded for ASGI, for short values (most
# repeat from response to response: content types, lengths, hook headers).
_encoded_headers: dict[tuple[str, str], tuple[bytes, bytes]] = {}


async def _send_file(wrapper: FileWrapper, scope: Scope, send: Send) -> bool:
    """Hand a whole file to the server when it offers pathsend or zerocopysend."""
    extensions = scope.get("extensions") or {}
    file = wrapper.file
    name = getattr(file, "name", None)
    message: Message | None = None
    if "http.response.pathsend" in extensions and isinstance(name, str):
        path = os.path.abspath(name)
        if os.path.isfile(path):
            message = {"type": "http.response.pathsend", "path": path}
    elif "http.response.zerocopysend" in extensions and hasattr(file, "fileno"):
        message = {"type": "http.response.zerocopysend", "file": file.fileno()}
    if message is None:
        return False
    try:
        await send(message)
    finally:
        wrapper.close()
    return True


# What a body's next-chunk coroutine returns once the body is exhausted.
_END: t.Any = object()


async def _stream(
    next_chunk: t.Callable[[], cabc.Awaitable[t.Any]],
    close: t.Callable[[], cabc.Awaitable[None]],
    receive: Receive,
    send: Send,
) -> None:
    """Send a body chunk by chunk until it ends or the client disconnects;
    ``close`` runs either way, shielded from cancellation."""

    async def produce() -> None:
        while (chunk := await next_chunk()) is not _END:
            if chunk:
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
        await send({"type": "http.response.body", "body": b""})

    try:
        await _until_disconnect(produce, receive)
    finally:
        with anyio.CancelScope(shield=True):
            await close()


async def _send_sync_iterable(
    app_iter: t.Iterable[bytes], receive: Receive, send: Send, runtime: _Runtime
) -> None:
    """Stream a sync iterable, each step in a worker thread, always in the
    same context (so stream_with_context's push and pop pair up)."""
    iterator = iter(app_iter)
    context = contextvars.copy_context()
    # Code in the body that runs a coroutine from sync code (async teardown
    # functions or signal receivers through ensure_sync) must reach this
    # loop, as from any worker thread of this driver, not the process loop.
    context.run(_in_asgi_worker.set, anyio.lowlevel.current_token())

    def step() -> t.Any:
        return next(iterator, _END)

    caller = caller_thread.get()

    async def next_chunk() -> t.Any:
        if caller is not None:  # the in-process test client's thread
            return await caller.run(context.run, step)
        return await anyio.to_thread.run_sync(
            context.run, step, limiter=runtime.limiter
        )

    async def close() -> None:
        closer = getattr(app_iter, "close", None)
        if closer is not None:
            await anyio.to_thread.run_sync(context.run, closer)

    await _stream(next_chunk, close, receive, send)


async def _send_async_body(
    response: Response,
    body: cabc.AsyncIterable[t.Any],
    environ: dict[str, t.Any],
    receive: Receive,
    send: Send,
    context: contextvars.Context | None = None,
) -> None:
    status_code = response.status_code
    headers = response.get_wsgi_headers(environ).to_wsgi_list()
    await _start(
        context,
        send,
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": _encode_headers(headers),
            _HEADER_NAMES: headers,
        },
    )
    iterator = body.__aiter__()
    has_body = environ["REQUEST_METHOD"] != "HEAD" and not (
        status_code < 200 or status_code in _NO_BODY_STATUSES
    )

    async def next_chunk() -> t.Any:
        if not has_body:
            return _END
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            return _END
        return chunk.encode() if isinstance(chunk, str) else chunk

    async def close() -> None:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    await _stream(next_chunk, close, receive, send)


async def _until_disconnect(
    produce: t.Callable[[], cabc.Awaitable[None]], receive: Receive
) -> None:
    """Run ``produce`` until it finishes or the client disconnects."""
    error: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    tg.cancel_scope.cancel()
                    return
                # Anything else is not for us; yield so that a receive that
                # answers at once cannot starve the body being sent.
                await anyio.lowlevel.checkpoint()

        tg.start_soon(watch)
        try:
            await produce()
        except OSError:
            pass  # The server could not send: the client is gone.
        except Exception as e:
            # Raised again outside the task group, which would wrap it in
            # an ExceptionGroup: the server and tests see the body's error.
            error = e
        tg.cancel_scope.cancel()
    if error is not None:
        raise error


class Lifespan(_Connection):
    """The lifespan protocol: startup and shutdown of the serving hooks."""

    async def run(self) -> None:
        # Mounted ASGI applications get the lifespan too: each runs its own
        # lifespan coroutine, in this task group, for as long as this one.
        async with anyio.create_task_group() as tg:
            children = _ChildLifespans(self.app, self.scope, tg)
            try:
                await self._serve(children)
            finally:
                children.close()
                tg.cancel_scope.cancel()

    async def _serve(self, children: _ChildLifespans) -> None:
        app = self.app
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    await _ensure_started(app, _runtime(app))
                    state = self.scope.get("state")
                    if state is not None:
                        # The server copies this into every request's scope.
                        state.update(app.serving_state)
                    await children.send("startup")
                except Exception as e:
                    app.logger.exception("Startup failed")
                    await self.send(
                        {"type": "lifespan.startup.failed", "message": _describe(e)}
                    )
                    return
                await self.send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                try:
                    await children.send("shutdown")
                    await app._shutdown(_runtime(app).call)
                except Exception as e:
                    app.logger.exception("Shutdown failed")
                    await self.send(
                        {"type": "lifespan.shutdown.failed", "message": _describe(e)}
                    )
                    return
                await self.send({"type": "lifespan.shutdown.complete"})
                return


class _ChildLifespans:
    """The lifespan of each mounted ASGI application (the fallback
    included), driven from the app's own: started after it, shut down
    before it. An application that does not speak the lifespan protocol
    (it raises or returns) is left alone, as servers do."""

    def __init__(self, app: Flask, scope: Scope, tg: anyio.abc.TaskGroup) -> None:
        mounts = [*app._mounts, *([app._fallback] if app._fallback else [])]
        seen: set[int] = set()
        self._children: list[_ChildLifespan] = []
        for mount in mounts:
            if mount.interface == "wsgi" or id(mount.application) in seen:
                continue  # a WSGI application has no lifespan; once per app
            seen.add(id(mount.application))
            child = _ChildLifespan(mount.as_asgi_for(app), scope)
            self._children.append(child)
            tg.start_soon(child.run)

    async def send(self, event: str) -> None:
        children = self._children if event == "startup" else self._children[::-1]
        for child in children:
            await child.send(event)

    def close(self) -> None:
        for child in self._children:
            child.to_child.close()
            child.from_child.close()


class _ChildLifespan:
    def __init__(self, app: t.Any, scope: Scope) -> None:
        self.app = app
        # The same state: what a child's startup stores reaches its requests.
        self.scope = {
            "type": "lifespan",
            "asgi": scope.get("asgi", {"version": "3.0"}),
            "state": scope.get("state", {}),
        }
        self.to_child, self.inbox = anyio.create_memory_object_stream[Message](8)
        self.outbox, self.from_child = anyio.create_memory_object_stream[Message](8)
        self.speaks_lifespan = True

    async def run(self) -> None:
        with self.inbox, self.outbox:
            try:
                await self.app(self.scope, self.inbox.receive, self.outbox.send)
            except Exception:
                self.speaks_lifespan = False

    async def send(self, event: str) -> None:
        if not self.speaks_lifespan:
            return
        try:
            await self.to_child.send({"type": f"lifespan.{event}"})
            reply = await self.from_child.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self.speaks_lifespan = False  # it returned: no lifespan support
            return
        if reply["type"] == f"lifespan.{event}.failed":
            raise RuntimeError(
                f"The {event} of the mounted application {self.app!r} failed:"
                f" {reply.get('message', '')}"
            )


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"
