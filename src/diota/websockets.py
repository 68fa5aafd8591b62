"""WebSockets: the :data:`~diota.websocket` object handlers talk to, and the
ASGI driver for ``websocket`` scopes.

A WebSocket route is a rule of the app's URL map (``@app.websocket``); its
handler runs inside a :class:`WebSocketContext`, a request context built
from the handshake, so ``request`` (headers, args, cookies), ``session``,
``g``, ``current_app`` and ``url_for`` work as in a view. Only ASGI servers
carry WebSockets; under WSGI such a route answers 400.
"""

from __future__ import annotations

import collections.abc as cabc
import threading
import typing as t
from itertools import chain

import anyio
import anyio.from_thread
import anyio.lowlevel
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import InternalServerError
from werkzeug.routing import WebsocketMismatch

from .ctx import RequestContext
from .globals import _cv_websocket
from .mounts import routes_elsewhere
from .signals import got_request_exception

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask
    from .concurrency import Caller
    from .wrappers import Response

    Scope = t.MutableMapping[str, t.Any]
    Message = t.MutableMapping[str, t.Any]
    Receive = t.Callable[[], cabc.Awaitable[Message]]
    Send = t.Callable[[Message], cabc.Awaitable[None]]

#: Close code sent when a handler fails after the handshake (RFC 6455).
INTERNAL_ERROR = 1011
#: Close code meaning the connection dropped without a close frame.
ABNORMAL_CLOSURE = 1006


class WebSocketDisconnect(Exception):
    """The other side closed the WebSocket (or the connection dropped).

    Raised by :meth:`WebSocket.receive` and :meth:`WebSocket.send`; a handler
    that lets it escape ends normally. ``async for`` / ``for`` over the
    socket simply stop instead.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        #: The close code the client sent (1005 if it sent none).
        self.code = code
        #: The close reason the client sent, if any.
        self.reason = reason


class WebSocketRequired(BadRequest):
    """An HTTP request reached a WebSocket route (400).

    Under WSGI even a WebSocket handshake ends here: WSGI cannot carry
    WebSockets, so the description says to serve the app with an ASGI server.
    """

    def __init__(self, upgrade_requested: bool) -> None:
        if upgrade_requested:
            description = (
                "This URL is a WebSocket endpoint, and this server speaks"
                " WSGI, which cannot carry WebSockets. Serve the application"
                " with an ASGI server (uvicorn, hypercorn, granian) to use it."
            )
        else:
            description = (
                "This URL is a WebSocket endpoint: connect to it with a"
                " WebSocket client."
            )
        super().__init__(description)


class WebSocket:
    """One WebSocket connection, reached as :data:`diota.websocket`.

    In an ``async def`` handler every method is awaited::

        @app.websocket("/echo")
        async def echo():
            await websocket.accept()
            async for message in websocket:
                await websocket.send(message)

    A plain ``def`` handler runs in a worker thread, where the same methods
    block and return their result (``websocket.receive()``, ``for message
    in websocket``). Receiving or sending before :meth:`accept` accepts the
    handshake with no subprotocol.

    Headers, query arguments and cookies of the handshake are on
    :data:`~diota.request`, as for a view.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        #: The ASGI scope of the connection.
        self.scope = scope
        self._receive = receive
        self._send = send
        # Where the connection's loop is: calls from other threads (a sync
        # handler's worker thread) block on it through anyio.
        self._token = anyio.lowlevel.current_token()
        self._loop_thread = threading.get_ident()
        #: Whether the handshake was accepted.
        self.accepted = False
        #: Whether the connection is closed (by either side).
        self.closed = False
        #: The subprotocol chosen when accepting, if any.
        self.subprotocol: str | None = None
        #: The close code, once the connection is closed.
        self.close_code: int | None = None

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or ())

    def _run(
        self, func: t.Callable[..., cabc.Coroutine[t.Any, t.Any, t.Any]], *args: t.Any
    ) -> t.Any:
        # On the loop: the coroutine, to be awaited. Elsewhere: run it there
        # and block until it is done.
        if threading.get_ident() == self._loop_thread:
            return func(*args)
        return anyio.from_thread.run(func, *args, token=self._token)

    def accept(
        self,
        subprotocol: str | None = None,
        headers: Headers | cabc.Mapping[str, str] | None = None,
    ) -> t.Any:
        """Accept the handshake.

        :param subprotocol: one of :attr:`subprotocols`, to tell the client
            which one the server speaks.
        :param headers: extra headers for the handshake response.
        """
        return self._run(self._accept, subprotocol, headers)

    def receive(self) -> t.Any:
        """The next message: ``str`` for a text frame, ``bytes`` for a
        binary one. Raises :exc:`WebSocketDisconnect` once the client is gone."""
        return self._run(self._receive_message)

    def receive_json(self) -> t.Any:
        """The next message, decoded as JSON with the app's JSON provider."""
        return self._run(self._receive_json)

    def send(self, data: str | bytes) -> t.Any:
        """Send a text (``str``) or binary (``bytes``) message."""
        return self._run(self._send_message, data)

    def send_json(self, obj: t.Any) -> t.Any:
        """Send ``obj`` as a JSON text message (the app's JSON provider)."""
        return self._run(self._send_json, obj)

    def close(self, code: int = 1000, reason: str = "") -> t.Any:
        """Close the connection. Before :meth:`accept`, this refuses the
        handshake (the server answers 403)."""
        return self._run(self._close, code, reason)

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self._receive_message()
        except WebSocketDisconnect:
            raise StopAsyncIteration from None

    def __iter__(self) -> cabc.Iterator[str | bytes]:
        while True:
            try:
                yield self.receive()
            except WebSocketDisconnect:
                return

    # -- the coroutines behind the methods ---------------------------------------

    async def _accept(
        self,
        subprotocol: str | None = None,
        headers: Headers | cabc.Mapping[str, str] | None = None,
    ) -> None:
        if self.accepted:
            return
        if self.closed:
            raise RuntimeError("The WebSocket handshake was already refused.")
        message: dict[str, t.Any] = {"type": "websocket.accept"}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        if headers:
            message["headers"] = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in Headers(headers).items()
            ]
        await self._send(message)
        self.accepted = True
        self.subprotocol = subprotocol

    async def _receive_message(self) -> str | bytes:
        if not self.accepted:
            await self._accept()
        if self.closed:
            raise WebSocketDisconnect(self.close_code or ABNORMAL_CLOSURE)
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            self.close_code = message.get("code", 1005)
            raise WebSocketDisconnect(self.close_code, message.get("reason") or "")
        text: str | None = message.get("text")
        if text is not None:
            return text
        return t.cast(bytes, message.get("bytes") or b"")

    async def _receive_json(self) -> t.Any:
        from .globals import current_app

        return current_app.json.loads(await self._receive_message())

    async def _send_message(self, data: str | bytes) -> None:
        if isinstance(data, str):
            message: dict[str, t.Any] = {"type": "websocket.send", "text": data}
        elif isinstance(data, (bytes, bytearray, memoryview)):
            message = {"type": "websocket.send", "bytes": bytes(data)}
        else:
            raise TypeError(
                f"A WebSocket message is str or bytes, not {type(data).__name__};"
                " use send_json for other values."
            )
        if not self.accepted:
            await self._accept()
        if self.closed:
            raise WebSocketDisconnect(self.close_code or ABNORMAL_CLOSURE)
        try:
            await self._send(message)
        except OSError as e:  # the server could not write: the client is gone
            self.closed = True
            self.close_code = ABNORMAL_CLOSURE
            raise WebSocketDisconnect(ABNORMAL_CLOSURE) from e

    async def _send_json(self, obj: t.Any) -> None:
        from .globals import current_app

        await self._send_message(current_app.json.dumps(obj))

    async def _close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        message: dict[str, t.Any] = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason
        try:
            await self._send(message)
        except OSError:
            pass  # already gone: closing is what we wanted

    async def _reject(self, response: Response) -> None:
        """Refuse the handshake with an HTTP response, where the server
        supports it (the ``websocket.http.response`` extension); otherwise
        close it, and the server answers 403."""
        if self.accepted or self.closed:
            return
        extensions = self.scope.get("extensions") or {}
        if "websocket.http.response" not in extensions:
            await self._close(1000)
            return
        self.closed = True
        self.close_code = 1000
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.items()
            if name.lower() != "content-length"
        ]
        body = response.get_data()
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
        await self._send(
            {
                "type": "websocket.http.response.start",
                "status": response.status_code,
                "headers": headers,
            }
        )
        await self._send({"type": "websocket.http.response.body", "body": body})


class WebSocketContext(RequestContext):
    """The context of one WebSocket connection: a request context for the
    handshake (so ``request``, ``session`` and ``g`` work) that also makes
    :data:`~diota.websocket` available. Its teardown runs the
    ``teardown_websocket`` functions instead of ``teardown_request``'s."""

    is_websocket = True

    def __init__(
        self, app: Flask, environ: dict[str, t.Any], websocket: WebSocket
    ) -> None:
        super().__init__(app, environ)
        self.websocket = websocket
        self._ws_tokens: list[t.Any] = []

    def push(self) -> None:
        self._ws_tokens.append(_cv_websocket.set(self.websocket))
        super().push()

    def match_request(self) -> None:
        super().match_request()
        if not self.app._has_websocket_rules:  # else already checked
            check_route_kind(self)

    def _has_teardown(self) -> bool:
        return True

    async def _teardown(self, exc: BaseException | None, call: Caller) -> None:
        app = self.app
        for name in chain(self.request.blueprints, (None,)):
            for func in reversed(app.teardown_websocket_funcs.get(name, ())):
                await call(func, exc)

    async def _pop(self, exc: BaseException | None, call: Caller) -> None:
        try:
            await super()._pop(exc, call)
        finally:
            _cv_websocket.reset(self._ws_tokens.pop())


async def serve(
    app: Flask, scope: Scope, receive: Receive, send: Send, call: Caller
) -> None:
    """Serve one ASGI ``websocket`` connection with ``app``."""
    from ._scope import build_environ

    first = await receive()
    if first["type"] != "websocket.connect":
        return  # gone before the handshake
    websocket = WebSocket(scope, receive, send)
    ctx = WebSocketContext(app, build_environ(scope), websocket)
    fallback = app._fallback
    if fallback is not None and fallback.interface != "wsgi" and routes_elsewhere(ctx):
        # Not a route of this app: the fallback application's, handshake
        # included.
        await fallback.serve_asgi(app, scope, _replaying(first, receive), send)
        return
    error: BaseException | None = None
    try:
        ctx.push()
        try:
            rv = await _dispatch(app, ctx, call)
            await _finish(app, ctx, call, rv)
        except Exception as e:
            error = e
            await _fail(app, websocket, e)
    finally:
        if error is not None and app.should_ignore_error(error):
            error = None
        await ctx._pop(error, call)


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` that answers ``first`` again before the rest."""
    pending = [first]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


async def _dispatch(app: Flask, ctx: WebSocketContext, call: Caller) -> t.Any:
    """The before hooks, then the handler; an error goes to the app's error
    handlers (an unhandled one propagates)."""
    request = ctx.request
    try:
        names = (None, *reversed(request.blueprints))
        for name in names:
            for url_func in app.url_value_preprocessors.get(name, ()):
                url_func(request.endpoint, request.view_args)
        for name in names:
            for before in app.before_websocket_funcs.get(name, ()):
                rv = await call(before)
                if rv is not None:
                    return rv
        if request.routing_exception is not None:
            raise request.routing_exception
        view = app.view_functions[request.url_rule.endpoint]  # type: ignore[union-attr]
        return await call(view, **(request.view_args or {}))
    except WebSocketDisconnect:
        return None  # the client left: the handler's normal end
    except Exception as e:
        return await app._handle_user_exception(call, e)


async def _finish(app: Flask, ctx: WebSocketContext, call: Caller, rv: t.Any) -> None:
    """Run the after hooks, then refuse the handshake with the handler's
    response, or close the connection if the handler left it open."""
    websocket = ctx.websocket
    response = app.make_response(rv) if rv is not None else None
    for name in chain(ctx.request.blueprints, (None,)):
        for after in reversed(app.after_websocket_funcs.get(name, ())):
            response = await call(after, response)
    if not websocket.accepted:
        if response is not None:
            await websocket._reject(response)
        else:
            await websocket._close(1000)
    elif not websocket.closed:
        await websocket._close(1000)


async def _fail(app: Flask, websocket: WebSocket, e: Exception) -> None:
    """An error no handler took: report it, end the connection (500 or close
    1011), and re-raise it where Flask would (testing, debug)."""
    if got_request_exception.receivers:
        got_request_exception.send(app, _async_wrapper=app.ensure_sync, exception=e)
    with anyio.CancelScope(shield=True):
        if not websocket.accepted:
            await websocket._reject(
                app.make_response(InternalServerError(original_exception=e))
            )
        else:
            await websocket._close(INTERNAL_ERROR)
    propagate = app.config["PROPAGATE_EXCEPTIONS"]
    if propagate is None:
        propagate = app.testing or app.debug
    if propagate:
        raise e
    app.log_exception((type(e), e, e.__traceback__))  # type: ignore[arg-type]


def check_route_kind(ctx: RequestContext) -> None:
    """Refuse an HTTP request for a WebSocket rule, and a WebSocket for an
    HTTP rule, with a 400 that says what went wrong (werkzeug's own error
    for this says only "bad request")."""
    request = ctx.request
    rule = request.url_rule
    is_websocket = isinstance(ctx, WebSocketContext)
    mismatch = isinstance(request.routing_exception, WebsocketMismatch)
    if is_websocket:
        if mismatch or (rule is not None and not rule.websocket):
            request.routing_exception = BadRequest(
                "This URL is not a WebSocket endpoint."
            )
    elif mismatch or (rule is not None and rule.websocket):
        # Under WSGI, werkzeug matches a handshake to the WebSocket rule.
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        request.routing_exception = WebSocketRequired(upgrade)


__all__ = [
    "WebSocket",
    "WebSocketContext",
    "WebSocketDisconnect",
    "WebSocketRequired",
]
