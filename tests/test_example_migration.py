"""examples/migration: a diota app that took over two routes of a legacy WSGI
app answers every request as the legacy app alone did, through the test
client in every mode and under gunicorn and uvicorn."""

from __future__ import annotations

import collections.abc as cabc
import concurrent.futures
import dataclasses
import importlib
import inspect
import sys
import types
import typing as t

import anyio
import httpx
import pytest
from servers import free_port
from servers import gunicorn_command
from servers import REPO_ROOT
from servers import serve
from servers import Server
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.test import Client
from werkzeug.test import TestResponse

import diota

APP_MODULE = "examples.migration.app"

# The headers a client of the legacy app relies on. Servers add others
# (Date, Server, Transfer-Encoding) of their own.
HEADERS = (
    "content-type",
    "content-length",
    "content-disposition",
    "location",
    "set-cookie",
    "allow",
)


@dataclasses.dataclass(frozen=True)
class Call:
    """One request: a method, a path with its query, maybe a form."""

    method: str
    path: str
    form: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def data(self) -> dict[str, str] | None:
        return dict(self.form) if self.form or self.method == "POST" else None


@dataclasses.dataclass(frozen=True)
class Answer:
    """What a client sees of a response."""

    status: int
    headers: tuple[tuple[str, tuple[str, ...]], ...]
    body: bytes

    @classmethod
    def of_test_response(cls, rv: TestResponse) -> Answer:
        headers = tuple((name, tuple(rv.headers.getlist(name))) for name in HEADERS)
        return cls(rv.status_code, headers, rv.get_data())

    @classmethod
    def of_httpx(cls, rv: httpx.Response) -> Answer:
        headers = tuple((name, tuple(rv.headers.get_list(name))) for name in HEADERS)
        return cls(rv.status_code, headers, rv.content)


# Still the legacy application's: diota routes none of these (404), or not
# for this method (405).
FALLBACK_CALLS = [
    Call("GET", "/"),
    Call("GET", "/home"),
    Call("GET", "/books/2"),
    Call("GET", "/books/99"),
    Call("GET", "/api/books/3"),
    Call("GET", "/api/books/7"),
    Call("POST", "/feedback", (("name", "Zoë Ada"), ("message", "Still works."))),
    Call("POST", "/feedback", (("name", "<script>"), ("message", " "))),
    Call("DELETE", "/feedback"),
    Call("GET", "/feedback/thanks?name=Zo%C3%AB"),
    Call("POST", "/api/books"),
    Call("GET", "/catalogue.csv"),
    Call("GET", "/no/such/page?x=1"),
    Call("GET", "/caf%C3%A9"),  # its 404 page shows the path
    Call("GET", "/older"),  # not under the /old mount
]

# Moved to diota: the same answers, from diota's views.
TAKEN_OVER_CALLS = [Call("GET", "/feedback"), Call("GET", "/api/books")]

# The whole legacy application, mounted under /old.
PREFIX = "/old"
MOUNTED_CALLS = [
    Call("GET", "/old"),
    Call("GET", "/old/"),
    Call("GET", "/old/home"),
    Call("GET", "/old/books/1"),
    Call("GET", "/old/feedback"),
    Call("POST", "/old/feedback", (("name", "Ada"), ("message", "Hello."))),
    Call("GET", "/old/api/books"),
    Call("GET", "/old/catalogue.csv"),
    Call("GET", "/old/missing"),
]

ALL_CALLS = FALLBACK_CALLS + TAKEN_OVER_CALLS + MOUNTED_CALLS


def legacy_answer(call: Call) -> Answer:
    """How the legacy application alone answers ``call`` (mounted under
    ``/old`` for paths there, as werkzeug's ``DispatcherMiddleware`` would)."""
    from examples.migration.legacy import application

    client = Client(application)
    path, base_url = call.path, "http://localhost/"
    if path == PREFIX or path.startswith(PREFIX + "/"):
        path, base_url = path[len(PREFIX) :], "http://localhost" + PREFIX
    rv = client.open(path, base_url=base_url, method=call.method, data=call.data)
    try:
        return Answer.of_test_response(rv)
    finally:
        rv.close()


def diota_answer(app: diota.Flask, call: Call) -> Answer:
    client = app.test_client()
    rv = client.open(call.path, method=call.method, data=call.data)
    try:
        return Answer.of_test_response(rv)
    finally:
        rv.close()


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # As gunicorn and uvicorn do, import the example from the repository root.
    monkeypatch.syspath_prepend(str(REPO_ROOT))


@pytest.fixture
def example(mode: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The example's module, imported afresh (so a test may add hooks before
    its first request); ``mode`` makes its test clients use each interface."""
    monkeypatch.delitem(sys.modules, APP_MODULE, raising=False)
    module = importlib.import_module(APP_MODULE)
    monkeypatch.delitem(sys.modules, APP_MODULE)
    return module


@pytest.fixture
def served_by_diota(example: types.ModuleType) -> list[str]:
    """The paths of the requests diota's own pipeline served: its
    ``after_request`` hooks do not run for what the legacy app serves."""
    seen: list[str] = []
    app: diota.Flask = example.app

    @app.after_request
    def record(response: diota.Response) -> diota.Response:
        seen.append(diota.request.full_path.rstrip("?"))
        return response

    return seen


# -- in-process, in every mode ------------------------------------------------


@pytest.mark.parametrize("call", FALLBACK_CALLS, ids=str)
def test_legacy_routes_answer_through_the_fallback(
    example: types.ModuleType, served_by_diota: list[str], call: Call
) -> None:
    assert diota_answer(example.app, call) == legacy_answer(call)
    assert served_by_diota == []


@pytest.mark.parametrize("call", TAKEN_OVER_CALLS, ids=str)
def test_taken_over_routes_answer_as_before_from_diota(
    example: types.ModuleType, served_by_diota: list[str], call: Call
) -> None:
    assert diota_answer(example.app, call) == legacy_answer(call)
    assert served_by_diota == [call.path]


def test_taken_over_views(example: types.ModuleType) -> None:
    """One of the moved views is ``async def``, the other ``def``."""
    views = example.app.view_functions
    assert inspect.iscoroutinefunction(views["list_books"])
    assert not inspect.iscoroutinefunction(views["feedback_form"])


def test_post_to_a_get_only_route_falls_back(
    example: types.ModuleType, served_by_diota: list[str]
) -> None:
    # diota serves GET /feedback only: its URL map refuses POST there...
    adapter = example.app.url_map.bind("localhost")
    assert adapter.match("/feedback", "GET") == ("feedback_form", {})
    with pytest.raises(MethodNotAllowed):
        adapter.match("/feedback", "POST")

    # ... so the POST goes to the legacy code, which handles the form.
    client = example.app.test_client()
    rv = client.post("/feedback", data={"name": "Ada", "message": "Hi"})
    assert rv.status_code == 303
    assert rv.headers["Location"] == "/feedback/thanks?name=Ada"
    assert rv.headers["Set-Cookie"] == "feedback_name=Ada; Path=/; HttpOnly"
    assert client.get_cookie("feedback_name") is not None

    # A method neither serves gets the legacy app's 405, not diota's.
    rv = client.put("/feedback")
    assert rv.status_code == 405
    assert rv.headers["Allow"] == "GET, POST"
    assert b"- Catalogue</title>" in rv.data
    assert served_by_diota == []


@pytest.mark.parametrize("call", MOUNTED_CALLS, ids=str)
def test_legacy_app_under_a_prefix(
    example: types.ModuleType, served_by_diota: list[str], call: Call
) -> None:
    """Under /old the legacy app sees SCRIPT_NAME /old and builds its links,
    redirects and cookie paths under it; even GET /old/feedback is the legacy
    app's, since the mount comes before diota's routes."""
    answer = diota_answer(example.app, call)
    assert answer == legacy_answer(call)
    assert served_by_diota == []


def test_prefix_shows_in_links(example: types.ModuleType) -> None:
    client = example.app.test_client()
    index = client.get("/old/")
    assert b'<a href="/old/books/1">' in index.data
    rv = client.post("/old/feedback", data={"message": "Hi"})
    assert rv.headers["Location"] == "/old/feedback/thanks?name=anonymous"
    assert rv.headers["Set-Cookie"].endswith("; Path=/old; HttpOnly")


@pytest.mark.parametrize("path", ["/feedback", "/old/feedback"])
def test_limits_apply_to_the_legacy_app(
    example: types.ModuleType, served_by_diota: list[str], path: str
) -> None:
    """``apply_limits=True``: a body over MAX_CONTENT_LENGTH is refused with
    413 before the legacy code, which would read it whole, sees it."""
    limit = example.app.config["MAX_CONTENT_LENGTH"]
    client = example.app.test_client()
    rv = client.post(
        path,
        data=b"message=" + b"x" * limit,
        content_type="application/x-www-form-urlencoded",
    )
    assert rv.status_code == 413
    # Under the limit, the same request reaches it.
    rv = client.post(path, data={"message": "x" * 1000})
    assert rv.status_code == 303
    assert served_by_diota == []


def test_step_one_unchanged_behind_diota(mode: str) -> None:
    """The first step of docs/migrating-wsgi.md: a diota app with no routes
    of its own and the legacy app as its fallback answers every request as
    the legacy app did (even the routes the example later moves)."""
    from examples.migration.legacy import application as legacy_app

    app = diota.Flask("step_one", static_folder=None)
    app.mount_fallback(legacy_app)
    for call in FALLBACK_CALLS + TAKEN_OVER_CALLS:
        assert diota_answer(app, call) == legacy_answer(call), call


def test_legacy_app_under_asgi_alone(anyio_backend: str) -> None:
    """diota.mounts.WSGIMiddleware serves the legacy app to ASGI servers
    without a diota app in front: the same answers."""
    from examples.migration.legacy import application as legacy_app

    from diota.mounts import WSGIMiddleware

    bridge = WSGIMiddleware(legacy_app)
    transport = httpx.ASGITransport(app=bridge)

    async def fetch_all() -> list[Answer]:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            answers = []
            for call in FALLBACK_CALLS + TAKEN_OVER_CALLS:
                rv = await client.request(call.method, call.path, data=call.data)
                answers.append(Answer.of_httpx(rv))
            return answers

    answers = anyio.run(fetch_all, backend=anyio_backend)
    expected = [legacy_answer(call) for call in FALLBACK_CALLS + TAKEN_OVER_CALLS]
    assert answers == expected


# -- real servers -------------------------------------------------------------


def uvicorn_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", f"{APP_MODULE}:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


SERVERS: dict[str, t.Callable[[int], list[str]]] = {
    "gunicorn-sync": lambda port: gunicorn_command(f"{APP_MODULE}:app", port),
    "uvicorn": uvicorn_command,
}


def server_answers(server: Server, calls: cabc.Sequence[Call]) -> list[Answer]:
    with server.client() as client:
        return [
            Answer.of_httpx(client.request(c.method, c.path, data=c.data))
            for c in calls
        ]


@pytest.mark.servers
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", SERVERS)
def test_real_server(name: str) -> None:
    """Served by gunicorn (WSGI) and by uvicorn (ASGI, the legacy app in
    worker threads), the example gives the legacy app's answers."""
    expected = [legacy_answer(call) for call in ALL_CALLS]
    port = free_port()
    with serve(SERVERS[name](port), port, ready_path="/api/books") as server:
        answers = server_answers(server, ALL_CALLS)
        for call, answer, wanted in zip(ALL_CALLS, answers, expected, strict=True):
            assert answer == wanted, f"{call} on {name}:\n{server.output()}"

        # Many clients at once (served concurrently under uvicorn): each
        # still gets its own answer.
        calls = FALLBACK_CALLS * 3
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda c: server_answers(server, [c])[0], calls))
        assert results == [legacy_answer(call) for call in calls]
