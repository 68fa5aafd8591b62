"""Shared fixtures.

``app`` and ``client`` are parametrized over the server interfaces diota
serves (``wsgi``, and ``asgi`` on asyncio and on trio), so a test that uses
them checks every mode. Async tests run on asyncio and trio through anyio's
pytest plugin.
"""

from __future__ import annotations

import collections.abc as cabc
import os
import sys

import pytest

import diota
import diota.ctx
import diota.testing
from diota.globals import _cv_app
from diota.globals import _cv_request

# The ASGI mode runs on both async libraries.
CLIENT_MODES = ["wsgi", "asgi-asyncio", "asgi-trio"]


@pytest.fixture(params=CLIENT_MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server interface (and async library) the test client drives.

    Set through the client's documented environment switches, so clients a
    test makes itself (``app.test_client()``) follow the mode too.
    """
    interface, _, backend = str(request.param).partition("-")
    monkeypatch.setenv("DIOTA_TEST_CLIENT", interface)
    monkeypatch.setenv("DIOTA_TEST_BACKEND", backend or "asyncio")
    return str(request.param)


@pytest.fixture
def app(mode: str) -> diota.Flask:
    app = diota.Flask("diota_test", root_path=os.path.dirname(__file__))
    app.config.update(TESTING=True, SECRET_KEY="test key")
    return app


@pytest.fixture
def client(app: diota.Flask) -> diota.testing.FlaskClient:
    return app.test_client()


@pytest.fixture
def app_ctx(app: diota.Flask) -> cabc.Iterator[diota.ctx.AppContext]:
    with app.app_context() as ctx:
        yield ctx


@pytest.fixture
def req_ctx(app: diota.Flask) -> cabc.Iterator[diota.ctx.RequestContext]:
    with app.test_request_context() as ctx:
        yield ctx


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _leak_detector() -> cabc.Iterator[None]:
    """Fail a test that leaves an application or request context pushed."""
    yield
    leaks = []
    while (ctx := _cv_request.get(None)) is not None:
        leaks.append(ctx)
        ctx.pop()
    while (app_ctx := _cv_app.get(None)) is not None:
        leaks.append(app_ctx)
        app_ctx.pop()
    assert leaks == [], f"contexts left pushed: {leaks}"


@pytest.fixture
def test_apps(monkeypatch: pytest.MonkeyPatch) -> cabc.Iterator[None]:
    """Put tests/test_apps on sys.path, forgetting modules imported from it."""
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "test_apps"))
    before = set(sys.modules)
    yield
    for key in set(sys.modules) - before:
        sys.modules.pop(key)
