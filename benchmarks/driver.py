"""The in-process driver: one request path for every framework.

WSGI apps get a prebuilt environ (copied per request, with a fresh body
stream) and a ``start_response``; ASGI apps get a prebuilt scope (copied per
request, with a copy of the lifespan state, as uvicorn does) and a
receive/send pair that behaves like a server's: the body first, then
``http.disconnect`` only once the response is complete. Nothing here is
specific to a framework, so the numbers differ only by the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import sys
import time
import typing as t

from .apps import Framework
from .apps.common import Scenario
from .apps.common import SCENARIOS

HOST = "127.0.0.1"
PORT = 8000


@dataclasses.dataclass
class Response:
    """What a request got back (outside the timed loops only)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def check(scenario: Scenario, response: Response, framework: str = "") -> None:
    """Fail with a readable message unless ``response`` answers ``scenario``."""
    where = f"{framework} {scenario.name} ({scenario.method} {scenario.path})"
    if response.status != scenario.status:
        raise AssertionError(
            f"{where}: status {response.status}, expected {scenario.status}:"
            f" {response.body[:300]!r}"
        )
    if scenario.expect not in response.body:
        raise AssertionError(
            f"{where}: {scenario.expect!r} not in body {response.body[:300]!r}"
        )
    if scenario.header and response.header(scenario.header) is None:
        raise AssertionError(f"{where}: no {scenario.header!r} header")
    if scenario.session and response.header("set-cookie") is None:
        raise AssertionError(f"{where}: the session was not written")


def cookie_from(response: Response) -> str | None:
    """The ``name=value`` part of the response's first ``Set-Cookie``."""
    value = response.header("set-cookie")
    return None if value is None else value.split(";", 1)[0]


def _headers(scenario: Scenario, cookie: str | None) -> list[tuple[str, str]]:
    headers = [
        ("host", f"{HOST}:{PORT}"),
        ("user-agent", "diota-benchmarks"),
        ("accept", "*/*"),
    ]
    if scenario.content_type:
        headers.append(("content-type", scenario.content_type))
    if scenario.body or scenario.method == "POST":
        headers.append(("content-length", str(len(scenario.body))))
    if cookie:
        headers.append(("cookie", cookie))
    return headers


# -- WSGI ---------------------------------------------------------------------


def wsgi_environ(scenario: Scenario, cookie: str | None = None) -> dict[str, t.Any]:
    """The environ a WSGI server would build for ``scenario`` (minus the body)."""
    environ: dict[str, t.Any] = {
        "REQUEST_METHOD": scenario.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scenario.path,
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": str(PORT),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST,
        "REMOTE_PORT": "50000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        # A single-threaded, single-process server, like gunicorn's sync worker.
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in _headers(scenario, cookie):
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


class WSGIDriver:
    """Calls a WSGI app the way a sync server does."""

    def __init__(self, app: t.Any, name: str = "") -> None:
        self.app = app
        self.name = name

    def request(self, scenario: Scenario, cookie: str | None = None) -> Response:
        environ = wsgi_environ(scenario, cookie)
        environ["wsgi.input"] = io.BytesIO(scenario.body)
        got: list[t.Any] = []

        def start_response(
            status: str, headers: t.Any, exc_info: t.Any = None
        ) -> t.Any:
            got[:] = [status, headers]
            return lambda data: None

        iterable = self.app(environ, start_response)
        try:
            body = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        return Response(int(got[0][:3]), list(got[1]), body)

    def prepare(self, scenario: Scenario) -> t.Callable[[int], int]:
        """Check ``scenario`` once and return ``run(n) -> failures``."""
        cookie = None
        if scenario.session:
            cookie = cookie_from(self.request(scenario))
        check(scenario, self.request(scenario, cookie), self.name)
        template = wsgi_environ(scenario, cookie)
        body = scenario.body
        expected = str(scenario.status)
        app = self.app
        bytes_io = io.BytesIO
        status = [""]

        def start_response(value: str, headers: t.Any, exc_info: t.Any = None) -> t.Any:
            status[0] = value
            return None

        def run(n: int) -> int:
            failures = 0
            for _ in range(n):
                environ = template.copy()
                environ["wsgi.input"] = bytes_io(body)
                iterable = app(environ, start_response)
                try:
                    for _chunk in iterable:
                        pass
                finally:
                    close = getattr(iterable, "close", None)
                    if close is not None:
                        close()
                if status[0][:3] != expected:
                    failures += 1
            return failures

        return run


# -- ASGI ---------------------------------------------------------------------


def asgi_scope(scenario: Scenario, cookie: str | None = None) -> dict[str, t.Any]:
    """The scope an ASGI server would build for ``scenario``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": (HOST, PORT),
        "client": (HOST, 50000),
        "scheme": "http",
        "method": scenario.method,
        "root_path": "",
        "path": scenario.path,
        "raw_path": scenario.path.encode(),
        "query_string": b"",
        "headers": [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in _headers(scenario, cookie)
        ],
    }


class _Exchange:
    """One request's receive/send pair, behaving like uvicorn's."""

    __slots__ = ("body", "sent", "complete", "waiter", "status", "headers", "chunks")

    def __init__(self, body: bytes, keep: bool = False) -> None:
        self.body = body
        self.sent = False
        self.complete = False
        self.waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: t.Any = None
        self.chunks: list[bytes] | None = [] if keep else None

    async def receive(self) -> dict[str, t.Any]:
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        # A server only reports a disconnect once the response is out (or the
        # client left); apps that listen for it must not be cut short.
        if not self.complete:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return {"type": "http.disconnect"}

    async def send(self, message: t.MutableMapping[str, t.Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = message.get("headers")
        elif kind == "http.response.body":
            if self.chunks is not None:
                self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
                waiter = self.waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)


class ASGIDriver:
    """Calls an ASGI app the way a server does, inside a running loop.

    Use as ``async with ASGIDriver(app) as driver``: it runs the app's
    lifespan startup first and its shutdown last, like a server.
    """

    def __init__(self, app: t.Any, name: str = "") -> None:
        self.app = app
        self.name = name
        self.state: dict[str, t.Any] = {}
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[dict[str, t.Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, t.Any]] = asyncio.Queue()

    async def __aenter__(self) -> ASGIDriver:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }

        async def run() -> None:
            try:
                await self.app(scope, self._to_app.get, self._from_app.put)
            except Exception:  # an app without lifespan support may raise
                pass
            finally:
                await self._from_app.put({"type": "lifespan.unsupported"})

        self._lifespan = asyncio.ensure_future(run())
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"{self.name} lifespan startup failed: {message}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        task = self._lifespan
        if task is None:
            return
        if not task.done():
            await self._to_app.put({"type": "lifespan.shutdown"})
            try:
                await asyncio.wait_for(self._from_app.get(), 5)
            finally:
                await asyncio.wait_for(task, 5)

    async def request(self, scenario: Scenario, cookie: str | None = None) -> Response:
        scope = asgi_scope(scenario, cookie)
        scope["state"] = self.state.copy()
        exchange = _Exchange(scenario.body, keep=True)
        await self.app(scope, exchange.receive, exchange.send)
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in exchange.headers or ()
        ]
        return Response(exchange.status, headers, b"".join(exchange.chunks or ()))

    async def prepare(
        self, scenario: Scenario
    ) -> t.Callable[[int], t.Coroutine[t.Any, t.Any, int]]:
        """Check ``scenario`` once and return ``async run(n) -> failures``."""
        cookie = None
        if scenario.session:
            cookie = cookie_from(await self.request(scenario))
        check(scenario, await self.request(scenario, cookie), self.name)
        template = asgi_scope(scenario, cookie)
        body = scenario.body
        expected = scenario.status
        app = self.app
        state = self.state
        exchange_class = _Exchange

        async def run(n: int) -> int:
            failures = 0
            for _ in range(n):
                scope = template.copy()
                scope["state"] = state.copy()
                exchange = exchange_class(body)
                await app(scope, exchange.receive, exchange.send)
                if exchange.status != expected:
                    failures += 1
            return failures

        return run


# -- timing -------------------------------------------------------------------


def _calibrate(elapsed_for: t.Callable[[int], float], round_time: float) -> int:
    """How many requests fill about ``round_time`` seconds."""
    n = 8
    while True:
        elapsed = elapsed_for(n)
        if elapsed >= 0.05 or n >= 1 << 22:
            return max(8, int(n * round_time / max(elapsed, 1e-9)))
        n *= 4


def time_wsgi(
    run: t.Callable[[int], int], rounds: int, round_time: float
) -> list[float]:
    """Requests/s of each round (after a warm-up) for a prepared WSGI run."""

    def elapsed_for(n: int) -> float:
        start = time.perf_counter()
        failures = run(n)
        elapsed = time.perf_counter() - start
        if failures:
            raise AssertionError(f"{failures} of {n} requests had the wrong status")
        return elapsed

    n = _calibrate(elapsed_for, round_time)
    return [n / elapsed_for(n) for _ in range(rounds)]


async def time_asgi(
    run: t.Callable[[int], t.Coroutine[t.Any, t.Any, int]],
    rounds: int,
    round_time: float,
) -> list[float]:
    """Requests/s of each round (after a warm-up) for a prepared ASGI run."""

    async def elapsed_for(n: int) -> float:
        start = time.perf_counter()
        failures = await run(n)
        elapsed = time.perf_counter() - start
        if failures:
            raise AssertionError(f"{failures} of {n} requests had the wrong status")
        return elapsed

    n = 8
    while True:  # the same calibration as _calibrate, awaited
        elapsed = await elapsed_for(n)
        if elapsed >= 0.05 or n >= 1 << 22:
            n = max(8, int(n * round_time / max(elapsed, 1e-9)))
            break
        n *= 4
    return [n / await elapsed_for(n) for _ in range(rounds)]


# -- smoke --------------------------------------------------------------------


def smoke(framework: Framework, app: t.Any, repeat: int = 3) -> dict[str, str]:
    """Send each scenario ``repeat`` times (checked) through the same code
    the timed runs use; return ``{scenario: "ok" | "n/a"}``."""
    outcome: dict[str, str] = {}
    if framework.interface == "wsgi":
        driver = WSGIDriver(app, framework.name)
        for scenario in SCENARIOS:
            if scenario.name in framework.unsupported:
                outcome[scenario.name] = "n/a"
                continue
            failures = driver.prepare(scenario)(repeat)
            if failures:
                raise AssertionError(
                    f"{framework.name} {scenario.name}: {failures} failed"
                )
            outcome[scenario.name] = "ok"
        return outcome

    async def main() -> None:
        async with ASGIDriver(app, framework.name) as driver:
            for scenario in SCENARIOS:
                if scenario.name in framework.unsupported:
                    outcome[scenario.name] = "n/a"
                    continue
                failures = await (await driver.prepare(scenario))(repeat)
                if failures:
                    raise AssertionError(
                        f"{framework.name} {scenario.name}: {failures} failed"
                    )
                outcome[scenario.name] = "ok"

    asyncio.run(main())
    return outcome
