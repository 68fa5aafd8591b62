"""The WSGI adapter's own behaviour."""

from __future__ import annotations

import typing as t

import pytest
from werkzeug.test import EnvironBuilder

import diota


def _call(
    app: diota.Flask, path: str, method: str = "GET"
) -> tuple[str, list[t.Any], bytes]:
    builder = EnvironBuilder(path=path, method=method)
    environ = builder.get_environ()
    builder.close()
    started: list[t.Any] = []

    def start_response(
        status: str, headers: list[t.Any], exc_info: t.Any = None
    ) -> None:
        started[:] = [status, headers]

    body = app(environ, start_response)
    data = b"".join(body)
    getattr(body, "close", lambda: None)()
    return started[0], started[1], data


@pytest.mark.parametrize(
    "path", ["/plain", "/headers", "/cookie", "/redirect", "/str-list", "/json"]
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_responses_are_sent_as_werkzeug_would(path: str, method: str) -> None:
    """The driver's shortcut for plain responses gives exactly werkzeug's
    status, headers and body."""
    app = diota.Flask(__name__)
    app.secret_key = "k"

    @app.route("/plain", methods=["GET", "HEAD"])
    def plain() -> str:
        return "hello"

    @app.route("/headers", methods=["GET", "HEAD"])
    def headers() -> t.Any:
        return "with headers", {"X-One": "1", "Content-Location": "/ü"}

    @app.route("/cookie", methods=["GET", "HEAD"])
    def cookie() -> str:
        diota.session["n"] = 1
        return "cookie"

    @app.route("/redirect", methods=["GET", "HEAD"])
    def redirect() -> t.Any:
        return diota.redirect("/plain")

    @app.route("/str-list", methods=["GET", "HEAD"])
    def str_list() -> diota.Response:
        return diota.Response(["a", "b"])

    @app.route("/json", methods=["GET", "HEAD"])
    def json() -> dict[str, int]:
        return {"a": 1}

    status, headers_sent, body = _call(app, path, method)

    with app.test_request_context(path, method=method):
        rv = app.full_dispatch_request()
        environ = diota.request.environ
        app_iter, expected_status, expected_headers = rv.get_wsgi_response(environ)
        expected_body = b"".join(app_iter)

    assert status == expected_status

    # The session cookie's signature carries a timestamp: compare names only.
    def names(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, v.split("=")[0] if k == "Set-Cookie" else v) for k, v in items]

    assert names(headers_sent) == names(expected_headers)
    assert body == expected_body


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"REQUEST_METHOD": "post", "SCRIPT_NAME": "/root/", "QUERY_STRING": "a=1"},
        {"PATH_INFO": "//caf\xc3\xa9//x", "SERVER_PORT": "not a port"},
        {"PATH_INFO": "", "SCRIPT_NAME": ""},
        {"SERVER_NAME": None, "REMOTE_ADDR": None, "wsgi.url_scheme": "https"},
    ],
)
def test_requests_built_from_an_environ_match_werkzeugs(
    overrides: dict[str, t.Any],
) -> None:
    from werkzeug.wrappers import Request as WerkzeugRequest

    def environ() -> dict[str, t.Any]:
        env = EnvironBuilder("/p", headers={"X-Test": "1"}).get_environ()
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    ours = diota.Request._from_environ(environ())
    theirs = WerkzeugRequest(environ())
    for name in (
        "method",
        "scheme",
        "server",
        "root_path",
        "path",
        "query_string",
        "remote_addr",
        "shallow",
        "url",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert list(ours.headers) == list(theirs.headers)
    assert ours.environ["werkzeug.request"] is ours
