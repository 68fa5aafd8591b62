"""Drive an app's ASGI interface in-process from a WSGI environ.

The test client builds requests as WSGI environs (werkzeug's
``EnvironBuilder``); this module turns one into an ASGI scope and body, runs
the app's ASGI interface, and returns what werkzeug's ``run_wsgi_app``
would: a body iterable, a status line and headers. The body streams: each
chunk is produced when the test reads it, and closing the response early
sends ``http.disconnect`` to the app, as a client going away would.
"""

from __future__ import annotations

import collections.abc as cabc
import contextvars
import threading
import typing as t

from werkzeug.datastructures import Headers
from werkzeug.http import HTTP_STATUS_CODES

from ._scope import scope_from_environ
from .concurrency import caller_thread
from .concurrency import CallerThread
from .concurrency import process_loop

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment

#: Backends the in-process ASGI client can run on.
BACKENDS = ("asyncio", "trio")

ASGIApp = t.Callable[..., cabc.Awaitable[None]]


def _read_input(environ: WSGIEnvironment) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    # Leave the stream where it was: werkzeug replays it when it follows a
    # 307/308 redirect, as the WSGI path (which reads it lazily) allows.
    position = stream.tell() if stream.seekable() else None
    length = environ.get("CONTENT_LENGTH")
    data: bytes = stream.read(int(length)) if length else stream.read()
    if position is not None:
        stream.seek(position)
    return data


class _Exchange:
    """One request in flight: the app task and the messages it sends.

    Its coroutines run on the backend's loop; the sync side calls them
    through the runner, one at a time.
    """

    def __init__(self, asgi_app: ASGIApp, scope: dict[str, t.Any], body: bytes) -> None:
        self.asgi_app = asgi_app
        self.scope = scope
        self.body = body
        self.sent_request = False
        self.finished = False
        # The app waits for the test to read a chunk it sent (back-pressure).
        self.blocked = False
        self.error: BaseException | None = None

    async def setup(self) -> None:
        import anyio

        self.disconnect = anyio.Event()
        self.app_done = anyio.Event()
        self.messages: list[dict[str, t.Any]] = []
        self.waiter: t.Any = None
        self.taken: t.Any = None

    def _wake(self) -> None:
        if self.waiter is not None:
            self.waiter.set()

    async def run_app(self) -> None:
        try:
            await self.asgi_app(self.scope, self.receive, self.send)
        except BaseException as e:  # handed to the caller, who re-raises it
            self.error = e
        finally:
            self.finished = True
            self.app_done.set()
            self._wake()

    async def receive(self) -> dict[str, t.Any]:
        if not self.sent_request:
            self.sent_request = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, t.Any]) -> None:
        import anyio

        streamed = bool(message.get("more_body"))
        if self.disconnect.is_set():
            if streamed:
                raise OSError("The test client closed the response.")
            return  # as uvicorn does: what comes after a disconnect is dropped
        if message["type"] == "http.response.pathsend":
            with open(message["path"], "rb") as f:
                message = {"type": "http.response.body", "body": f.read()}
        self.messages.append(message)
        if not streamed and not _starts_a_stream(message):
            self._wake()
            return
        # Back-pressure, as from a real socket, and as a WSGI body is only
        # iterated when the server asks: after each streamed chunk, and
        # after the start of a response of unknown length (a stream), the
        # app waits until the test reads on (or closes the response). So
        # when the test client hands a response back, nothing of the
        # request runs any more: a stream is produced as the test reads it,
        # and a response of known length was sent whole.
        self.taken = anyio.Event()
        self.blocked = True
        self._wake()
        try:
            await self.taken.wait()
        finally:
            self.blocked = False
        if streamed and self.disconnect.is_set():
            raise OSError("The test client closed the response.")

    async def settle(self) -> None:
        """Wait until the app is done, or waits for the test to read on."""
        import anyio

        while not (self.finished or self.blocked):
            self.waiter = anyio.Event()
            await self.waiter.wait()

    async def next_message(self) -> dict[str, t.Any] | None:
        import anyio

        if not self.messages and self.taken is not None:
            # The test asks for the next chunk: only now may the app go on,
            # as a WSGI iterator resumes only when it is asked for more.
            self.taken.set()
        while not self.messages:
            if self.finished:
                return None
            self.waiter = anyio.Event()
            await self.waiter.wait()
        return self.messages.pop(0)

    async def close(self) -> None:
        self.disconnect.set()
        if self.taken is not None:
            self.taken.set()
        await self.app_done.wait()


def _starts_a_stream(message: dict[str, t.Any]) -> bool:
    """Whether ``message`` starts a response whose length is not known."""
    if message["type"] != "http.response.start":
        return False
    return not any(name.lower() == b"content-length" for name, _ in message["headers"])


class _Runner:
    """Runs coroutines of one exchange on the chosen backend's loop."""

    def __init__(self, backend: str, in_caller_thread: bool = False) -> None:
        if backend not in BACKENDS:
            raise ValueError(
                f"Unknown ASGI test backend {backend!r}; use one of {BACKENDS}."
            )
        self.backend = backend
        # The caller's context variables (an app context a test pushed) are
        # visible to the request, as they are under WSGI.
        self.context = contextvars.copy_context()
        self.caller: CallerThread | None = None
        if in_caller_thread:
            # The request's sync work runs in this (the test's) thread, as
            # with Flask's client; the loop runs in a thread of its own.
            self.caller = CallerThread()
            self.context.run(caller_thread.set, self.caller)
            if backend == "asyncio":
                process_loop.use_thread()

    def call(self, func: t.Callable[..., cabc.Awaitable[t.Any]], *args: t.Any) -> t.Any:
        if self.caller is not None:
            if self.backend == "asyncio":
                import asyncio

                future = self.context.run(
                    asyncio.run_coroutine_threadsafe,
                    _as_coroutine(func, *args),
                    process_loop.loop,
                )
            else:
                future = _trio_portal().start_task_soon(
                    _in_context, self.context, func, *args
                )
            return self.caller.wait(future)
        if self.backend == "asyncio":
            return self.context.run(process_loop.run, _as_coroutine(func, *args))
        return _trio_portal().call(_in_context, self.context, func, *args)

    def start(self, func: t.Callable[..., cabc.Awaitable[t.Any]]) -> None:
        if self.backend == "asyncio":
            import asyncio

            loop = process_loop.loop
            coro = _as_coroutine(func)
            if process_loop.threaded:
                self.context.run(asyncio.run_coroutine_threadsafe, coro, loop)
            else:
                # Python 3.11's create_task(context=...) is not in older stubs.
                self.context.copy().run(loop.create_task, coro)
        else:
            _trio_portal().start_task_soon(_in_context, self.context, func)


async def _as_coroutine(
    func: t.Callable[..., cabc.Awaitable[t.Any]], *args: t.Any
) -> t.Any:
    return await func(*args)


async def _in_context(
    context: contextvars.Context,
    func: t.Callable[..., cabc.Awaitable[t.Any]],
    *args: t.Any,
) -> t.Any:
    # A portal task has a context of its own: give it the caller's values.
    for var, value in context.items():
        var.set(value)
    return await func(*args)


_portal_lock = threading.Lock()
_portal: t.Any = None


def _trio_portal() -> t.Any:
    """One trio loop for the process's in-process ASGI requests.

    It runs in a daemon thread of its own: anyio's start_blocking_portal uses
    an executor thread, which the interpreter joins at exit before atexit
    handlers could stop the loop, so the process would never exit.
    """
    global _portal
    with _portal_lock:
        if _portal is None:
            import anyio
            import anyio.from_thread

            ready = threading.Event()
            box: list[t.Any] = []

            async def serve() -> None:
                async with anyio.from_thread.BlockingPortal() as portal:
                    box.append(portal)
                    ready.set()
                    await portal.sleep_until_stopped()

            thread = threading.Thread(
                target=anyio.run,
                args=(serve,),
                kwargs={"backend": "trio"},
                name="diota-test-trio-loop",
                daemon=True,
            )
            thread.start()
            ready.wait()
            _portal = box[0]
        return _portal


class _Body:
    """The response body, read from the app as the test iterates it."""

    def __init__(
        self, runner: _Runner, exchange: _Exchange, first: list[bytes], more: bool
    ) -> None:
        self._runner = runner
        self._exchange = exchange
        self._pending = first
        self._more = more
        self._closed = False

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        while not self._pending:
            if not self._more:
                self.close()
                raise StopIteration
            message = self._runner.call(self._exchange.next_message)
            if message is None:
                self._more = False
                self._raise_app_error()
                continue
            chunk = message.get("body", b"")
            if chunk:
                self._pending.append(chunk)
            self._more = message.get("more_body", False)
        return self._pending.pop(0)

    def _raise_app_error(self) -> None:
        error = self._exchange.error
        if error is not None:
            self._exchange.error = None
            raise error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._runner.call(self._exchange.close)
        self._raise_app_error()


def run_asgi_app(
    asgi_app: ASGIApp,
    environ: WSGIEnvironment,
    backend: str = "asyncio",
    buffered: bool = False,
) -> tuple[t.Iterable[bytes], str, Headers]:
    """Run one request through ``asgi_app`` and return it WSGI-style.

    On asyncio it runs on the process's one event loop, in the calling
    thread; on trio on one loop kept in a thread of its own. Loop-bound
    resources persist between requests either way.
    """
    runner = _Runner(backend, in_caller_thread=True)
    exchange = _Exchange(asgi_app, scope_from_environ(environ), _read_input(environ))
    runner.call(exchange.setup)
    runner.start(exchange.run_app)

    start = runner.call(exchange.next_message)
    if start is None or start["type"] != "http.response.start":
        runner.call(exchange.close)
        if exchange.error is not None:
            raise exchange.error
        raise RuntimeError("The ASGI app ended without sending a response.")

    runner.call(exchange.settle)
    status = start["status"]
    headers = Headers(_as_written(start))
    body = _Body(runner, exchange, [], more=True)
    if buffered:
        chunks = list(body)
        return chunks, _status_line(status), headers
    return body, _status_line(status), headers


def _as_written(start: dict[str, t.Any]) -> list[tuple[str, str]]:
    """The response start's headers, names as the app wrote them (as
    Flask's test client gives them; ASGI lowercases them): from diota's own
    record of them where the start carries it, else capitalized."""
    written = {name.lower(): name for name, _ in start.get("diota.headers", ())}
    headers = []
    for raw_name, raw_value in start.get("headers", ()):
        name = raw_name.decode("latin-1")
        headers.append(
            (written.get(name) or _capitalized(name), raw_value.decode("latin-1"))
        )
    return headers


def _capitalized(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"
