"""The example app, served by real servers on 127.0.0.1 and by the test client."""

from __future__ import annotations

import typing as t

import httpx
import pytest
from servers import diota_run_command
from servers import free_port
from servers import gunicorn_command
from servers import REPO_ROOT
from servers import serve
from servers import Server
from servers import werkzeug_command


def check_hello_app(get: t.Callable[[str], httpx.Response]) -> None:
    """What a visitor of examples/hello sees, whichever server runs it."""
    index = get("/?name=<ada>")
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Hello, &lt;ada&gt;!</h1>" in index.text  # autoescaped
    assert 'href="/api/greeting/%3Cada%3E"' in index.text

    slow = get("/async")
    assert slow.status_code == 200
    assert slow.text == "hello from an async view"

    api = get("/api/greeting/ada")
    assert api.status_code == 200
    assert api.headers["content-type"] == "application/json"
    assert api.json() == {"greeting": "hello ada", "length": 3}

    old = get("/old")
    assert old.status_code == 302
    assert old.headers["location"] == "/?name=again"

    assert get("/missing").status_code == 404


def test_hello_with_test_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # As gunicorn does, import the example from the repository root.
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from examples.hello.app import app

    client = app.test_client()

    def get(path: str) -> httpx.Response:
        r = client.get(path)
        return httpx.Response(
            r.status_code, headers=list(r.headers.items()), content=r.data
        )

    check_hello_app(get)


def _check_server(server: Server) -> None:
    with server.client() as client:
        check_hello_app(client.get)
        # Several requests on one server, so per-process state (the event
        # loop behind async views) is reused rather than rebuilt.
        for _ in range(5):
            assert client.get("/async").status_code == 200


@pytest.mark.servers
def test_hello_on_gunicorn_sync_worker() -> None:
    port = free_port()
    with serve(gunicorn_command("examples.hello.app:app", port), port) as server:
        _check_server(server)


@pytest.mark.servers
def test_hello_on_diota_run() -> None:
    port = free_port()
    with serve(diota_run_command("examples/hello/app.py", port), port) as server:
        _check_server(server)


@pytest.mark.servers
def test_hello_on_flask_run_through_alias() -> None:
    """``python -m flask run`` serves a diota app under DIOTA_FLASK_ALIAS=1."""
    port = free_port()
    argv = diota_run_command("examples/hello/app.py", port, via_flask_alias=True)
    with serve(argv, port, env={"DIOTA_FLASK_ALIAS": "1"}) as server:
        _check_server(server)


@pytest.mark.servers
def test_hello_on_werkzeug_run_simple() -> None:
    port = free_port()
    with serve(werkzeug_command("examples.hello.app:app", port), port) as server:
        _check_server(server)
