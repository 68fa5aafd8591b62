"""Open a WebSocket to an app in-process, for the test client.

WebSockets exist only on the ASGI interface, so this drives the app's ASGI
side whatever the client's ``interface``: the handshake is built like any
test request (cookies, headers, query string), turned into a ``websocket``
scope, and the messages go through memory streams on the client's backend
(asyncio or trio).
"""

from __future__ import annotations

import math
import typing as t

from werkzeug.datastructures import Headers

from ._asgi_testing import _Runner
from ._asgi_testing import ASGIApp
from ._scope import scope_from_environ
from .websockets import WebSocketDisconnect

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment

#: Seconds a test waits for the app's next message before failing.
DEFAULT_TIMEOUT = 10.0


class WebSocketRejected(Exception):
    """The app refused the handshake.

    :attr:`status` is the HTTP status the client got (403 when the app just
    closed the connection), :attr:`headers` and :attr:`body` the response's.
    """

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        super().__init__(f"The WebSocket handshake was refused with {status}.")
        self.status = status
        self.headers = headers
        self.body = body


class _Connection:
    """The app task and the two message streams, on the backend's loop."""

    def __init__(self, asgi_app: ASGIApp, scope: dict[str, t.Any]) -> None:
        self.asgi_app = asgi_app
        self.scope = scope
        self.error: BaseException | None = None
        self.finished = False

    async def setup(self) -> None:
        import anyio

        self.to_app, self.app_inbox = anyio.create_memory_object_stream[
            dict[str, t.Any]
        ](math.inf)
        self.app_outbox, self.from_app = anyio.create_memory_object_stream[
            dict[str, t.Any]
        ](math.inf)
        self.done = anyio.Event()
        await self.to_app.send({"type": "websocket.connect"})

    async def run_app(self) -> None:
        try:
            async with self.app_outbox:
                await self.asgi_app(self.scope, self.app_inbox.receive, self.send)
        except BaseException as e:  # handed to the test, which re-raises it
            self.error = e
        finally:
            self.app_inbox.close()
            self.finished = True
            self.done.set()

    async def send(self, message: dict[str, t.Any]) -> None:
        await self.app_outbox.send(message)

    async def put(self, message: dict[str, t.Any]) -> None:
        import anyio

        try:
            await self.to_app.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the handler has ended: nobody is listening, as on a socket

    async def next_message(self, timeout: float) -> dict[str, t.Any] | None:
        import anyio

        with anyio.fail_after(timeout):
            try:
                return await self.from_app.receive()
            except anyio.EndOfStream:
                return None

    async def wait_done(self, timeout: float) -> None:
        import anyio

        try:
            with anyio.fail_after(timeout):
                await self.done.wait()
        finally:
            self.to_app.close()
            self.from_app.close()


class WebSocketTestSession:
    """A client WebSocket to the app, from :meth:`FlaskClient.websocket`::

        with client.websocket("/chat/lobby") as ws:
            ws.send("hello")
            assert ws.receive() == "hello"

    Entering performs the handshake (raising :exc:`WebSocketRejected` if the
    app refuses it); leaving closes the connection and waits for the
    handler to end, re-raising an error it did not handle.
    """

    def __init__(
        self,
        asgi_app: ASGIApp,
        environ: WSGIEnvironment,
        backend: str,
        subprotocols: t.Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        scope = scope_from_environ(environ)
        for key in ("method", "http_version"):
            scope.pop(key, None)
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        scope["subprotocols"] = list(subprotocols)
        scope["headers"] += [
            (b"connection", b"Upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"),
        ]
        scope["extensions"] = {"websocket.http.response": {}}
        self._runner = _Runner(backend)
        self._connection = _Connection(asgi_app, scope)
        self._timeout = timeout
        #: The subprotocol the app accepted, if any.
        self.subprotocol: str | None = None
        #: Extra headers the app sent when accepting.
        self.headers = Headers()
        #: The close code once the app closed the connection.
        self.close_code: int | None = None
        self._closed = False

    def __enter__(self) -> WebSocketTestSession:
        connection = self._connection
        self._runner.call(connection.setup)
        self._runner.start(connection.run_app)
        message = self._next()
        if message is None:
            self._raise_app_error()
            raise WebSocketRejected(403, Headers(), b"")
        kind = message["type"]
        if kind == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.headers = _decode_headers(message.get("headers", ()))
            return self
        self._closed = True
        if kind == "websocket.close":
            self._wait_done()
            raise WebSocketRejected(403, Headers(), b"")
        if kind == "websocket.http.response.start":
            body = b""
            while (part := self._next()) is not None:
                body += part.get("body", b"")
                if not part.get("more_body", False):
                    break
            self._wait_done()
            raise WebSocketRejected(
                message["status"], _decode_headers(message.get("headers", ())), body
            )
        raise RuntimeError(f"Unexpected ASGI message during the handshake: {kind!r}")

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message to the app."""
        key = "text" if isinstance(data, str) else "bytes"
        self._runner.call(
            self._connection.put, {"type": "websocket.receive", key: data}
        )

    def send_json(self, obj: t.Any) -> None:
        """Send ``obj`` as a JSON text message."""
        from .json import dumps

        self.send(dumps(obj))

    def receive(self) -> str | bytes:
        """The app's next message. Raises :exc:`~diota.WebSocketDisconnect`
        when the app closes the connection."""
        message = self._next()
        if message is None:
            self._closed = True
            self._raise_app_error()
            raise WebSocketDisconnect(1006)
        if message["type"] == "websocket.close":
            self._closed = True
            self.close_code = message.get("code", 1000)
            self._wait_done()
            raise WebSocketDisconnect(self.close_code, message.get("reason") or "")
        text: str | None = message.get("text")
        if text is not None:
            return text
        return t.cast(bytes, message.get("bytes") or b"")

    def receive_json(self) -> t.Any:
        """The app's next message, decoded as JSON."""
        from .json import loads

        return loads(self.receive())

    def close(self, code: int = 1000) -> None:
        """Close the connection as the client, and wait for the handler to end."""
        if not self._closed:
            self._closed = True
            self._runner.call(
                self._connection.put, {"type": "websocket.disconnect", "code": code}
            )
        self._wait_done()

    def _next(self) -> dict[str, t.Any] | None:
        return t.cast(
            "dict[str, t.Any] | None",
            self._runner.call(self._connection.next_message, self._timeout),
        )

    def _wait_done(self) -> None:
        self._runner.call(self._connection.wait_done, self._timeout)
        self._raise_app_error()

    def _raise_app_error(self) -> None:
        error = self._connection.error
        if error is not None:
            self._connection.error = None
            raise error


def _decode_headers(raw: t.Iterable[tuple[bytes, bytes]]) -> Headers:
    return Headers(
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]
    )
