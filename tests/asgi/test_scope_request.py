"""The request built straight from an ASGI scope: what it shows the app is
what a request built from the equivalent WSGI environ shows."""

from __future__ import annotations

import typing as t

import pytest
from werkzeug.datastructures import EnvironHeaders

import diota
from diota import request
from diota._scope import build_environ
from diota._scope import ScopeSource

pytestmark = pytest.mark.anyio

Request = t.Callable[..., t.Awaitable[t.Any]]

HEADERS = [
    ("Host", "example.com:8080"),
    ("X-Forwarded-For", "10.0.0.1"),
    ("x-forwarded-for", "10.0.0.2"),
    ("Cookie", "a=1"),
    ("cookie", "b=2"),
    ("X_Dropped", "underscores are dropped, as servers do"),
    ("Accept", "*/*"),
]


async def test_request_matches_the_environ_built_one(
    asgi_app: diota.Flask, asgi_request: Request, asgi_scope: t.Any
) -> None:
    seen: dict[str, t.Any] = {}

    @asgi_app.route("/show/<name>")
    async def show(name: str) -> str:
        seen["headers"] = list(request.headers.items())
        seen["values"] = (
            request.method,
            request.scheme,
            request.server,
            request.root_path,
            request.path,
            request.full_path,
            request.url,
            request.host,
            request.remote_addr,
            request.args.to_dict(),
            request.cookies.to_dict(),
            request.access_route,
        )
        seen["environ"] = dict(request.environ)
        return name

    rv = await asgi_request(
        asgi_app,
        "/show/ada",
        headers=HEADERS,
        query_string=b"x=1&y=%C3%A9",
        root_path="/mounted",
    )
    assert rv.status == 200

    scope = asgi_scope(
        "/show/ada", headers=HEADERS, query_string=b"x=1&y=%C3%A9", root_path="/mounted"
    )
    environ = build_environ(scope)
    expected = diota.wrappers.Request(dict(environ))
    assert seen["headers"] == list(EnvironHeaders(environ).items())
    assert seen["values"] == (
        expected.method,
        expected.scheme,
        expected.server,
        expected.root_path,
        expected.path,
        expected.full_path,
        expected.url,
        "example.com:8080",
        expected.remote_addr,
        {"x": "1", "y": "é"},
        {"a": "1", "b": "2"},
        expected.access_route,
    )
    assert seen["values"][-2:] == ({"a": "1", "b": "2"}, ["10.0.0.1", "10.0.0.2"])
    # The environ made on demand is the one the adapter used to build first.
    made = seen["environ"]
    assert made.pop("werkzeug.request") is not None
    assert made["asgi.scope"]["path"] == "/mounted/show/ada"
    assert {k: v for k, v in made.items() if k != "asgi.scope"} == {
        k: v for k, v in environ.items() if k != "asgi.scope"
    }


async def test_environ_is_only_made_when_read(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    made: list[bool] = []

    @asgi_app.route("/")
    async def index() -> str:
        made.append(request._environ is not None)
        made.append(request._headers is not None)
        return request.environ["PATH_INFO"]

    rv = await asgi_request(asgi_app, "/", headers=[("Host", "a.test")])
    assert rv.body == b"/"
    assert made == [False, False]


async def test_chunked_body_gets_a_length_for_parsing(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    @asgi_app.post("/form")
    async def form() -> dict[str, t.Any]:
        return {
            "form": request.form.to_dict(),
            "length": request.headers.get("Content-Length"),
            "environ_length": request.environ.get("CONTENT_LENGTH"),
        }

    rv = await asgi_request(
        asgi_app,
        "/form",
        method="POST",
        body_chunks=[b"a=1&", b"b=2"],
        headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
    assert rv.status == 200
    assert rv.body.strip() == (
        b'{"environ_length":"7","form":{"a":"1","b":"2"},"length":"7"}'
    )


async def test_a_get_body_is_read_when_framed(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    @asgi_app.route("/")
    async def index() -> bytes:
        return request.get_data()

    chunked = await asgi_request(
        asgi_app, "/", body_chunks=[b"abc"], headers=[("Transfer-Encoding", "chunked")]
    )
    assert chunked.body == b"abc"
    # HTTP/2 frames a body without either header.
    h2 = await asgi_request(asgi_app, "/", body_chunks=[b"xyz"], http_version="2")
    assert h2.body == b"xyz"


async def test_request_class_with_its_own_constructor_gets_an_environ(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    class TracingRequest(diota.wrappers.Request):
        def __init__(self, environ: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(environ, *args, **kwargs)
            self.trace = environ["HTTP_X_TRACE"]

    asgi_app.request_class = TracingRequest

    @asgi_app.post("/")
    async def index() -> str:
        return f"{request.trace} {request.get_data(as_text=True)}"

    rv = await asgi_request(
        asgi_app,
        "/",
        method="POST",
        body_chunks=[b"body"],
        headers=[("X-Trace", "t-1"), ("Transfer-Encoding", "chunked")],
    )
    assert rv.body == b"t-1 body"


async def test_app_making_its_own_request_contexts_is_used(
    asgi_request: Request,
) -> None:
    made: list[str] = []

    class App(diota.Flask):
        def request_context(self, environ: t.Any) -> t.Any:
            made.append(environ["PATH_INFO"])
            return super().request_context(environ)

    app = App(__name__)

    @app.route("/here")
    async def here() -> str:
        return "ok"

    assert (await asgi_request(app, "/here")).body == b"ok"
    assert made == ["/here"]


def test_scope_source_reads_routing_headers_once(asgi_scope: t.Any) -> None:
    scope = asgi_scope(
        "/p",
        headers=[("Host", "a.test"), ("Upgrade", "websocket"), ("Content-Length", "3")],
    )
    source = ScopeSource(scope)
    assert (source.host, source.upgrade, source.content_length) == (
        "a.test",
        True,
        "3",
    )
    assert source.may_have_body and source.cookie is None
    assert ScopeSource(asgi_scope("/p")).may_have_body is False


async def test_form_and_json_bodies_are_read_without_an_environ(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    made: list[tuple[bool, bool]] = []

    @asgi_app.post("/form")
    async def form() -> dict[str, t.Any]:
        rv = {
            "form": request.form.to_dict(),
            "length": request.content_length,
            "mimetype": request.mimetype,
            "charset": request.mimetype_params.get("charset"),
        }
        request.mimetype_params["charset"] = "changed by this request only"
        made.append((request._environ is not None, request._headers is not None))
        return rv

    for _ in range(2):
        rv = await asgi_request(
            asgi_app,
            "/form",
            method="POST",
            body_chunks=[b"a=1&b=%C3%A9"],
            headers=[
                ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                ("Content-Length", "12"),
            ],
        )
        assert rv.status == 200
        assert rv.body.strip() == (
            b'{"charset":"utf-8","form":{"a":"1","b":"\\u00e9"},"length":12,'
            b'"mimetype":"application/x-www-form-urlencoded"}'
        )
    assert made == [(False, False), (False, False)]


async def test_short_body_is_a_400_without_an_environ(
    asgi_app: diota.Flask, asgi_request: Request
) -> None:
    @asgi_app.post("/")
    async def index() -> bytes:
        return request.get_data()

    rv = await asgi_request(
        asgi_app,
        "/",
        method="POST",
        body_chunks=[b"short"],
        headers=[("Content-Length", "50")],
    )
    assert rv.status == 400
