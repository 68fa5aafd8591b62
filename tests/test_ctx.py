"""Application and request contexts, and isolation between requests."""

from __future__ import annotations

import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from werkzeug.test import EnvironBuilder

import diota
from diota.globals import _cv_request


def test_globals_outside_contexts_explain_themselves() -> None:
    with pytest.raises(RuntimeError, match="outside of application context"):
        diota.current_app.name  # noqa: B018
    with pytest.raises(RuntimeError, match="outside of request context"):
        diota.request.path  # noqa: B018
    assert not diota.has_app_context()
    assert not diota.has_request_context()


def test_app_context_provides_current_app_and_g(app: diota.Flask) -> None:
    with app.app_context():
        assert diota.current_app._get_current_object() is app  # type: ignore[attr-defined]
        diota.g.value = 1
        assert diota.g.get("value") == 1
        assert diota.g.pop("value") == 1
        assert "value" not in diota.g
        assert diota.g.setdefault("other", 2) == 2
        assert list(diota.g) == ["other"]
    assert not diota.has_app_context()


def test_g_is_fresh_for_each_request(app: diota.Flask, client: t.Any) -> None:
    @app.route("/")
    def index() -> str:
        seen = diota.g.get("seen", "unset")
        diota.g.seen = "set"
        return str(seen)

    assert client.get("/").data == b"unset"
    assert client.get("/").data == b"unset"


def test_teardown_runs_in_the_request_context(app: diota.Flask, client: t.Any) -> None:
    seen: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        seen.append(diota.request.path)

    @app.route("/here")
    def here() -> str:
        return "ok"

    client.get("/here")
    assert seen == ["/here"]


def test_popping_the_wrong_context_is_an_error(app: diota.Flask) -> None:
    outer = app.app_context()
    inner = app.app_context()
    outer.push()
    inner.push()
    with pytest.raises(AssertionError, match="Popped the wrong app context"):
        outer.pop()
    # Clean up what the failed pop left.
    while diota.has_app_context():
        diota.globals._cv_app.get().pop()


def test_copy_current_request_context_in_a_thread(
    app: diota.Flask, client: t.Any
) -> None:
    results: list[str] = []

    @app.route("/")
    def index() -> str:
        diota.session["who"] = "thread"

        @diota.copy_current_request_context
        def work() -> None:
            results.append(f"{diota.request.path} {diota.session['who']}")

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        return "ok"

    client.get("/")
    assert results == ["/ thread"]


def test_with_client_keeps_the_last_request_context(app: diota.Flask) -> None:
    @app.route("/")
    def index() -> str:
        diota.g.value = "kept"
        return "ok"

    with app.test_client() as client:
        client.get("/?q=1")
        assert diota.request.args["q"] == "1"
        assert diota.g.value == "kept"
    assert not diota.has_request_context()


def _environ(path: str, cookie: str) -> dict[str, t.Any]:
    builder = EnvironBuilder(path=path, headers={"Cookie": cookie}, multithread=True)
    try:
        return builder.get_environ()
    finally:
        builder.close()


@pytest.mark.parametrize("view_kind", ["def", "async def"])
def test_no_leaks_between_concurrent_requests(view_kind: str) -> None:
    """Many threads at once through the WSGI app: each sees its own request,
    g and session, whether the view is sync or async."""
    app = diota.Flask(__name__)
    app.secret_key = "k"
    barrier = threading.Barrier(8)

    @app.before_request
    def before() -> None:
        diota.g.token = diota.request.args["n"]

    def body() -> str:
        diota.session["n"] = diota.request.args["n"]
        return f"{diota.request.args['n']}:{diota.g.token}:{diota.session['n']}"

    if view_kind == "def":

        @app.route("/")
        def index() -> str:
            barrier.wait(timeout=5)
            return body()

    else:

        @app.route("/")
        async def index() -> str:
            await anyio.sleep(0.01)
            return body()

    def one(n: int) -> bytes:
        out: list[bytes] = []
        environ = _environ(f"/?n={n}", cookie="")
        result = app(environ, lambda status, headers, exc_info=None: None)
        out.extend(result)
        return b"".join(out)

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(one, range(8)))

    assert bodies == [f"{n}:{n}:{n}".encode() for n in range(8)]
    assert _cv_request.get(None) is None
