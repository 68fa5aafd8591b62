"""Helpers to talk to the ASGI interface directly, message by message."""

from __future__ import annotations

import collections.abc as cabc
import typing as t

import anyio
import pytest

import diota


class ASGIResponse:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.decode().lower() == name.lower():
                return value.decode()
        return None


def make_scope(
    path: str = "/",
    method: str = "GET",
    headers: cabc.Sequence[tuple[str, str]] = (),
    query_string: bytes = b"",
    root_path: str = "",
    http_version: str = "1.1",
) -> dict[str, t.Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": http_version,
        "method": method,
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": query_string,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 5555),
        "server": ("testserver", 80),
    }


async def request(
    app: diota.Flask,
    path: str = "/",
    method: str = "GET",
    body_chunks: cabc.Sequence[bytes] = (),
    headers: cabc.Sequence[tuple[str, str]] = (),
    disconnect_after_start: bool = False,
    **scope_kwargs: t.Any,
) -> ASGIResponse:
    """Send one request through ``app``'s ASGI interface and collect the reply."""
    response = ASGIResponse()
    pending = [
        {"type": "http.request", "body": chunk, "more_body": True}
        for chunk in body_chunks
    ]
    pending.append({"type": "http.request", "body": b"", "more_body": False})
    finished = anyio.Event()

    async def receive() -> dict[str, t.Any]:
        if pending:
            return pending.pop(0)
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, t.Any]) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = list(message["headers"])
            if disconnect_after_start:
                finished.set()
        elif message["type"] == "http.response.body":
            response.chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                finished.set()

    with anyio.fail_after(10):
        await app(make_scope(path, method, headers, **scope_kwargs), receive, send)
    return response


@pytest.fixture
def asgi_app() -> diota.Flask:
    app = diota.Flask("diota_asgi_test")
    app.config.update(SECRET_KEY="test key")
    return app


@pytest.fixture
def asgi_request() -> t.Callable[..., cabc.Awaitable[ASGIResponse]]:
    """``await asgi_request(app, path, ...)``: one request over ASGI messages."""
    return request


@pytest.fixture
def asgi_scope() -> t.Callable[..., dict[str, t.Any]]:
    """``asgi_scope(path, method, ...)``: an HTTP scope as servers send it."""
    return make_scope
