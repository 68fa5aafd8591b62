"""The same app object under real servers gives the same responses.

Every server in :data:`procs.SERVERS` serves ``app_under_test:app`` on
127.0.0.1 with the command documented in ``docs/deploying.md``; every test
here runs against each of them with the same expectations. A server is
started once for its tests (module-scoped fixture), and stopped at the end
by :func:`test_lifecycle`, which checks the serving hooks ran.
"""

from __future__ import annotations

import collections.abc as cabc
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from .app_under_test import MAX_CONTENT_LENGTH
from .app_under_test import STATIC_DIR
from .procs import running
from .procs import RunningServer
from .procs import SERVERS
from .procs import ServerSpec

pytestmark = [pytest.mark.servers, pytest.mark.timeout(60)]

HELLO = (STATIC_DIR / "hello.txt").read_bytes()


@pytest.fixture(scope="module", params=SERVERS, ids=lambda spec: spec.name)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> cabc.Iterator[RunningServer]:
    spec: ServerSpec = request.param
    lifecycle = tmp_path_factory.mktemp(spec.name) / "lifecycle.txt"
    with running(spec, lifecycle) as srv:
        yield srv


@pytest.fixture
def client(server: RunningServer) -> cabc.Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _json(response: httpx.Response) -> object:
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    return json.loads(response.content)


def test_startup_ran(server: RunningServer, client: httpx.Client) -> None:
    # ASGI: from the lifespan, before any request (see procs.running);
    # WSGI: on the first request.
    response = client.get("/")
    assert response.status_code == 200
    assert server.lifecycle() == ["startup"]


def test_sync_view(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.content == b"hello from diota"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-length"] == "16"

    response = client.get("/sync")
    assert response.status_code == 200
    assert _json(response) == {"kind": "sync", "on_loop": False}


def test_async_view(client: httpx.Client) -> None:
    response = client.get("/async")
    assert response.status_code == 200
    assert _json(response) == {"kind": "async"}


def test_json(client: httpx.Client) -> None:
    payload = {"a": [1, 2.5, None, True], "é": "ü"}
    response = client.post("/json", json=payload)
    assert response.status_code == 200
    assert _json(response) == {"received": payload, "type": "application/json"}


def test_path_params_and_query(client: httpx.Client) -> None:
    response = client.get(
        "/users/42/%C3%A9t%C3%A9%20x", params=[("q", "1"), ("q", "ü")]
    )
    assert response.status_code == 200
    assert _json(response) == {"id": 42, "name": "été x", "args": {"q": ["1", "ü"]}}

    # The int converter rejects it: a 404 from routing.
    assert client.get("/users/abc/x").status_code == 404


def test_form_post(client: httpx.Client) -> None:
    response = client.post("/form", data={"name": "Zoë", "tags": ["a", "b"]})
    assert response.status_code == 200
    body = "name=Zo%C3%AB&tags=a&tags=b"
    assert _json(response) == {
        "form": {"name": ["Zoë"], "tags": ["a", "b"]},
        "content_length": len(body),
    }


def test_multipart_post(client: httpx.Client) -> None:
    response = client.post(
        "/form", data={"field": "value"}, files={"ignored": ("a.txt", b"data")}
    )
    assert response.status_code == 200
    assert _json(response)["form"] == {"field": ["value"]}  # type: ignore[index]


def _chunks(data: bytes, size: int) -> cabc.Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_body_post(client: httpx.Client) -> None:
    data = bytes(range(256)) * 200  # 51200 bytes, below the limit
    # A generator body: httpx sends it with Transfer-Encoding: chunked.
    response = client.post("/upload", content=_chunks(data, 4096))
    assert response.status_code == 200
    assert _json(response) == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunked": True,
    }


def test_sized_body_post(client: httpx.Client) -> None:
    data = b"x" * (MAX_CONTENT_LENGTH - 1)
    response = client.post("/upload", content=data)
    assert response.status_code == 200
    assert _json(response) == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunked": False,
    }


def test_sync_generator_stream(client: httpx.Client) -> None:
    response = client.get("/stream/sync", params={"n": 3})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == b"/stream/sync:0\n/stream/sync:1\n/stream/sync:2\n"


def test_async_generator_stream(client: httpx.Client) -> None:
    with client.stream("GET", "/stream/async", params={"n": 50}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        body = b"".join(response.iter_bytes())
    assert body == b"".join(f"async:{i}\n".encode() for i in range(50))


def test_send_file(client: httpx.Client) -> None:
    response = client.get("/file")
    assert response.status_code == 200
    assert response.content == HELLO
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(HELLO))
    etag = response.headers["etag"]
    assert response.headers["last-modified"]

    # Conditional and range requests go through werkzeug's make_conditional.
    response = client.get("/file", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""

    response = client.get("/file", headers={"Range": "bytes=0-4"})
    assert response.status_code == 206
    assert response.content == HELLO[:5]
    assert response.headers["content-range"] == f"bytes 0-4/{len(HELLO)}"
    assert response.headers["content-length"] == "5"

    response = client.head("/file")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(HELLO))


def test_static_route(client: httpx.Client) -> None:
    response = client.get("/static/hello.txt")
    assert response.status_code == 200
    assert response.content == HELLO
    assert response.headers["content-length"] == str(len(HELLO))
    assert client.get("/static/missing.txt").status_code == 404


def test_session(server: RunningServer) -> None:
    with server.client() as client:
        assert _json(client.get("/session/get")) == {"value": None}
        response = client.get("/session/set/abc")
        assert response.status_code == 200
        assert response.content == b"set"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("session=")
        assert "HttpOnly" in cookie and "Path=/" in cookie
        assert _json(client.get("/session/get")) == {"value": "abc"}
    # Another client has its own (empty) session.
    with server.client() as other:
        assert _json(other.get("/session/get")) == {"value": None}


def test_not_found(client: httpx.Client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<title>404 Not Found</title>" in response.content
    assert response.headers["content-length"] == str(len(response.content))

    response = client.get("/teapot")
    assert response.status_code == 418
    assert b"I&#39;m a teapot" in response.content

    response = client.post("/")
    assert response.status_code == 405
    # werkzeug builds Allow from a set: its order varies between processes.
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_too_large_sized(client: httpx.Client) -> None:
    response = client.post("/upload", content=b"x" * (MAX_CONTENT_LENGTH + 1))
    assert response.status_code == 413
    assert _json(response) == {"error": "too large", "limit": MAX_CONTENT_LENGTH}


def test_too_large_chunked(client: httpx.Client) -> None:
    data = b"y" * (MAX_CONTENT_LENGTH + 4096)
    response = client.post("/upload", content=_chunks(data, 4096))
    assert response.status_code == 413
    assert _json(response) == {"error": "too large", "limit": MAX_CONTENT_LENGTH}


def test_request_and_response_headers(
    server: RunningServer, client: httpx.Client
) -> None:
    response = client.get(
        "/headers?a=1", headers=[("X-Custom", "one"), ("X-Custom", "two")]
    )
    assert response.status_code == 200
    assert _json(response) == {
        "method": "GET",
        "path": "/headers",
        "full_path": "/headers?a=1",
        "host": f"127.0.0.1:{server.port}",
        "scheme": "http",
        "remote_addr": "127.0.0.1",
        "x_custom": ["one,two"],
    }
    assert response.headers.get_list("x-multi") == ["one", "two"]
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]


def test_lifecycle(server: RunningServer) -> None:
    """Last for each server: stop it, and check the serving hooks ran.

    ASGI servers run ``after_serving`` on the lifespan shutdown; WSGI
    servers at exit of the worker process.
    """
    assert server.lifecycle()[:1] == ["startup"]
    status = server.stop()
    assert status is not None, f"{server.spec.name} ignored SIGTERM"
    events = server.lifecycle()
    assert events == ["startup", "shutdown"], server.output()


def test_commands_are_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "deploying.md").read_text()
    # The recipes serve a ``hello`` module; otherwise the commands are these.
    for spec in SERVERS:
        command = spec.shell_command(app="hello:app")
        assert f"\n{command}\n" in docs, command
