"""make_response: every shape a view may return, and errors turned into responses."""

from __future__ import annotations

import collections.abc as cabc
import json
import typing as t

import anyio
import pytest
from werkzeug.datastructures import Headers
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

import diota
from diota import abort
from diota import jsonify
from diota import make_response
from diota.testing import FlaskClient

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment


def serve(app: diota.Flask, rv: t.Any) -> None:
    """Route ``/`` to a view returning ``rv`` (called fresh for callables
    that make single-use values, such as generators)."""

    def index() -> t.Any:
        return rv() if isinstance(rv, Factory) else rv

    app.add_url_rule("/", view_func=index)


class Factory:
    """Wraps a function whose result the view returns."""

    def __init__(self, func: t.Callable[[], t.Any]) -> None:
        self.func = func

    def __call__(self) -> t.Any:
        return self.func()


# -- bodies -------------------------------------------------------------------


def test_str(app: diota.Flask, client: FlaskClient) -> None:
    serve(app, "héllo")
    rv = client.get("/")
    assert rv.status_code == 200
    assert rv.content_type == "text/html; charset=utf-8"
    assert rv.data == "héllo".encode()
    assert rv.headers["Content-Length"] == str(len("héllo".encode()))


def test_bytes(app: diota.Flask, client: FlaskClient) -> None:
    serve(app, b"\x00raw")
    rv = client.get("/")
    assert rv.status_code == 200
    assert rv.data == b"\x00raw"
    assert rv.mimetype == "text/html"


@pytest.mark.parametrize("value", [{"a": 1, "b": [1, 2]}, [1, "two", None], {}, []])
def test_dict_and_list_are_json(
    app: diota.Flask, client: FlaskClient, value: t.Any
) -> None:
    serve(app, value)
    rv = client.get("/")
    assert rv.status_code == 200
    assert rv.mimetype == "application/json"
    assert rv.get_json() == value
    assert json.loads(rv.data) == value


# -- tuples -------------------------------------------------------------------


def test_tuple_body_status(app: diota.Flask, client: FlaskClient) -> None:
    serve(app, ("created", 201))
    rv = client.get("/")
    assert rv.status_code == 201
    assert rv.status == "201 CREATED"
    assert rv.text == "created"


@pytest.mark.parametrize(
    ("status", "code", "line"),
    [
        ("202", 202, "202 ACCEPTED"),
        ("299 Custom Thing", 299, "299 Custom Thing"),
        ("404 Missing", 404, "404 Missing"),
    ],
)
def test_tuple_status_as_string(
    app: diota.Flask, client: FlaskClient, status: str, code: int, line: str
) -> None:
    serve(app, ("body", status))
    assert client.get("/").status_code == code
    # The reason phrase is set on the response; ASGI carries only the code.
    with app.test_request_context():
        assert app.make_response(("body", status)).status == line


@pytest.mark.parametrize(
    "headers",
    [
        {"X-One": "1", "X-Two": "2"},
        [("X-One", "1"), ("X-Two", "2")],
        Headers([("X-One", "1"), ("X-Two", "2")]),
    ],
    ids=["dict", "list", "Headers"],
)
def test_tuple_body_headers(
    app: diota.Flask, client: FlaskClient, headers: t.Any
) -> None:
    serve(app, ("body", headers))
    rv = client.get("/")
    assert rv.status_code == 200
    assert rv.text == "body"
    assert rv.headers["X-One"] == "1"
    assert rv.headers["X-Two"] == "2"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-One": "1", "Content-Type": "text/plain"},
        [("X-One", "1"), ("Content-Type", "text/plain")],
        Headers({"X-One": "1", "Content-Type": "text/plain"}),
    ],
    ids=["dict", "list", "Headers"],
)
def test_tuple_body_status_headers(
    app: diota.Flask, client: FlaskClient, headers: t.Any
) -> None:
    serve(app, ("teapot", 418, headers))
    rv = client.get("/")
    assert rv.status_code == 418
    assert rv.text == "teapot"
    assert rv.headers["X-One"] == "1"
    assert rv.content_type == "text/plain"


def test_tuple_headers_keep_repeated_names(
    app: diota.Flask, client: FlaskClient
) -> None:
    serve(app, ("body", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]))
    rv = client.get("/")
    assert rv.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_tuple_with_dict_body(app: diota.Flask, client: FlaskClient) -> None:
    serve(app, ({"error": "nope"}, 400, {"X-Reason": "test"}))
    rv = client.get("/")
    assert rv.status_code == 400
    assert rv.get_json() == {"error": "nope"}
    assert rv.headers["X-Reason"] == "test"


def test_tuple_with_response_object(app: diota.Flask, client: FlaskClient) -> None:
    def index() -> t.Any:
        response = diota.Response("made", headers={"X-Kept": "1", "X-Replaced": "old"})
        return response, 202, {"X-Replaced": "new", "X-Added": "2"}

    app.add_url_rule("/", view_func=index)

    @app.route("/json")
    def as_json() -> t.Any:
        return jsonify(ok=True), 201

    rv = client.get("/")
    assert rv.status_code == 202
    assert rv.text == "made"
    assert rv.headers["X-Kept"] == "1"
    assert rv.headers.getlist("X-Replaced") == ["new"]
    assert rv.headers["X-Added"] == "2"

    rv = client.get("/json")
    assert rv.status_code == 201
    assert rv.get_json() == {"ok": True}


@pytest.mark.parametrize(
    "value", [("only",), ("a", 200, {}, "extra"), ()], ids=["one", "four", "empty"]
)
def test_bad_tuple_length(app: diota.Flask, client: FlaskClient, value: t.Any) -> None:
    serve(app, value)
    with pytest.raises(TypeError, match="did not return a valid response tuple"):
        client.get("/")


# -- response objects and WSGI callables --------------------------------------


def test_response_instance_is_returned_as_is(app: diota.Flask) -> None:
    response = app.response_class("as is", status=207)
    with app.test_request_context():
        assert app.make_response(response) is response


def test_response_instance_from_view(app: diota.Flask, client: FlaskClient) -> None:
    serve(app, Factory(lambda: diota.Response("plain", 203, mimetype="text/plain")))
    rv = client.get("/")
    assert rv.status_code == 203
    assert rv.text == "plain"
    assert rv.mimetype == "text/plain"


def test_other_response_class_is_converted(
    app: diota.Flask, client: FlaskClient
) -> None:
    foreign = WerkzeugResponse(
        "foreign", status=202, headers={"X-From": "werkzeug"}, mimetype="text/csv"
    )
    with app.test_request_context():
        converted = app.make_response(foreign)
    assert isinstance(converted, app.response_class)
    assert converted.status_code == 202
    assert converted.headers["X-From"] == "werkzeug"
    assert converted.get_data() == b"foreign"

    serve(app, Factory(lambda: WerkzeugResponse("foreign", status=202)))
    rv = client.get("/")
    assert (rv.status_code, rv.text) == (202, "foreign")


def test_wsgi_callable(app: diota.Flask, client: FlaskClient) -> None:
    def wsgi_app(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> list[bytes]:
        start_response(
            "201 CREATED",
            [("Content-Type", "text/plain"), ("X-Path", environ["PATH_INFO"])],
        )
        return [b"from ", b"wsgi"]

    serve(app, wsgi_app)
    rv = client.get("/")
    assert rv.status_code == 201
    assert rv.text == "from wsgi"
    assert rv.headers["X-Path"] == "/"
    assert rv.mimetype == "text/plain"


def test_http_exception_returned_not_raised(
    app: diota.Flask, client: FlaskClient
) -> None:
    # An HTTPException is a WSGI application, so returning one works too.
    serve(app, Factory(lambda: NotFound("returned")))
    rv = client.get("/")
    assert rv.status_code == 404
    assert "returned" in rv.text


# -- streamed bodies ----------------------------------------------------------


def test_sync_generator_is_streamed(app: diota.Flask, client: FlaskClient) -> None:
    events: list[str] = []

    def generate() -> cabc.Iterator[str]:
        try:
            for part in ("a", "b", "c"):
                events.append(f"yield {part}")
                yield part
        finally:
            events.append("closed")

    serve(app, Factory(lambda: (generate(), {"X-Stream": "1"})))

    with app.test_request_context():
        response = app.make_response(generate())
        assert response.is_streamed
        response.close()

    rv = client.get("/", buffered=False)
    assert rv.status_code == 200
    assert rv.headers["X-Stream"] == "1"
    assert "Content-Length" not in rv.headers
    # The body is produced as it is read (the test client reads the first
    # chunk up front to get the status).
    assert events in ([], ["yield a"])
    assert rv.get_data() == b"abc"
    rv.close()
    assert events == ["yield a", "yield b", "yield c", "closed"]


def test_sync_generator_with_status(app: diota.Flask, client: FlaskClient) -> None:
    def generate() -> cabc.Iterator[bytes]:
        yield b"x"
        yield b"y"

    serve(app, Factory(lambda: (generate(), 206, {"Content-Type": "text/plain"})))
    rv = client.get("/")
    assert rv.status_code == 206
    assert rv.content_type == "text/plain"
    assert rv.data == b"xy"


def test_async_generator_under_wsgi(app: diota.Flask, client: FlaskClient) -> None:
    events: list[str] = []

    async def generate() -> cabc.AsyncIterator[str]:
        try:
            for part in ("one ", "two ", "three"):
                await anyio.sleep(0)
                events.append(f"yield {part.strip()}")
                yield part
        finally:
            events.append("cleanup")

    serve(app, Factory(lambda: (generate(), 200, {"X-Async": "1"})))

    rv = client.get("/", buffered=False)
    assert rv.status_code == 200
    assert rv.headers["X-Async"] == "1"
    assert events in ([], ["yield one"])
    chunks = [t.cast(bytes, chunk) for chunk in rv.response]
    assert b"".join(chunks) == b"one two three"
    assert len(chunks) == 3
    rv.close()
    assert events == ["yield one", "yield two", "yield three", "cleanup"]


def test_async_generator_closed_early_runs_cleanup(
    app: diota.Flask, client: FlaskClient
) -> None:
    events: list[str] = []

    async def generate() -> cabc.AsyncIterator[bytes]:
        try:
            yield b"first"
            events.append("resumed")
            yield b"second"
        finally:
            events.append("cleanup")

    serve(app, Factory(generate))

    rv = client.get("/", buffered=False)
    iterator = iter(rv.response)
    assert next(iterator) == b"first"
    rv.close()
    assert events == ["cleanup"]


def test_async_generator_buffered(app: diota.Flask, client: FlaskClient) -> None:
    async def generate() -> cabc.AsyncIterator[str]:
        yield "all "
        yield "at once"

    serve(app, Factory(generate))
    assert client.get("/").text == "all at once"


# -- invalid return values ----------------------------------------------------


def test_none_names_the_endpoint(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/")
    def forgot_to_return() -> t.Any:
        pass

    with pytest.raises(TypeError) as exc_info:
        client.get("/")
    message = str(exc_info.value)
    assert "The view function for 'forgot_to_return' did not return a valid" in message
    assert "returned None" in message


def test_none_body_in_tuple(app: diota.Flask, client: FlaskClient) -> None:
    serve(app, (None, 200))
    with pytest.raises(TypeError, match="did not return a valid response"):
        client.get("/")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(42, "int"), (3.5, "float"), (object(), "object"), ({1, 2}, "set")],
)
def test_unsupported_type(
    app: diota.Flask, client: FlaskClient, value: t.Any, type_name: str
) -> None:
    serve(app, value)
    with pytest.raises(TypeError) as exc_info:
        client.get("/")
    message = str(exc_info.value)
    assert "did not return a valid response" in message
    assert message.endswith(f"but it was a {type_name}.")


def test_callable_that_is_not_wsgi(app: diota.Flask, client: FlaskClient) -> None:
    def not_wsgi() -> str:
        return "no"

    serve(app, not_wsgi)
    with pytest.raises(TypeError, match="but it was a function"):
        client.get("/")


# -- the make_response helper and options responses ---------------------------


def test_make_response_helper(app: diota.Flask) -> None:
    with app.test_request_context():
        empty = make_response()
        assert isinstance(empty, app.response_class)
        assert (empty.status_code, empty.get_data()) == (200, b"")

        rv = make_response("missing", 404)
        assert (rv.status_code, rv.get_data()) == (404, b"missing")

        rv = make_response("body", {"X-H": "1"})
        assert rv.headers["X-H"] == "1"

        rv = make_response("body", 201, [("X-H", "2")])
        assert (rv.status_code, rv.headers["X-H"]) == (201, "2")

        rv = make_response(("tuple", 202))
        assert rv.status_code == 202

        rv = make_response({"k": "v"})
        assert rv.get_json() == {"k": "v"}


def test_make_response_helper_in_view(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/")
    def index() -> diota.Response:
        response = make_response("with cookie")
        response.set_cookie("flavour", "oat")
        response.headers["X-Extra"] = "yes"
        return response

    rv = client.get("/")
    assert rv.text == "with cookie"
    assert rv.headers["X-Extra"] == "yes"
    assert "flavour=oat" in rv.headers["Set-Cookie"]


def test_make_default_options_response(app: diota.Flask) -> None:
    @app.route("/thing", methods=["GET", "POST"])
    def thing() -> str:
        return ""

    @app.route("/thing", methods=["DELETE"], endpoint="thing_delete")
    def thing_delete() -> str:
        return ""

    with app.test_request_context("/thing", method="OPTIONS"):
        rv = app.make_default_options_response()
    assert isinstance(rv, app.response_class)
    assert rv.status_code == 200
    assert rv.get_data() == b""
    # Every method any rule for the URL allows.
    assert set(rv.allow) == {"GET", "HEAD", "POST", "DELETE", "OPTIONS"}


def test_custom_response_class(app: diota.Flask, client: FlaskClient) -> None:
    class PlainResponse(diota.Response):
        default_mimetype = "text/plain"

    app.response_class = PlainResponse

    @app.route("/")
    def index() -> str:
        return "plain text"

    @app.route("/werkzeug")
    def from_werkzeug() -> WerkzeugResponse:
        return WerkzeugResponse("converted", mimetype="text/csv")

    rv = client.get("/")
    assert rv.mimetype == "text/plain"
    assert rv.text == "plain text"
    assert client.get("/werkzeug").mimetype == "text/csv"

    with app.test_request_context():
        assert type(app.make_response("x")) is PlainResponse
        assert isinstance(app.make_response({"a": 1}), PlainResponse)
        assert isinstance(app.make_response(diota.Response("base")), PlainResponse)
        assert isinstance(app.make_response(WerkzeugResponse("w")), PlainResponse)
        assert type(make_response()) is PlainResponse
        assert type(app.make_default_options_response()) is PlainResponse


# -- errors -------------------------------------------------------------------


def test_abort_code(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/missing")
    def missing() -> str:
        abort(404)

    @app.route("/described")
    def described() -> str:
        abort(403, description="members only")

    rv = client.get("/missing")
    assert rv.status_code == 404
    assert rv.mimetype == "text/html"
    assert "Not Found" in rv.text

    rv = client.get("/described")
    assert rv.status_code == 403
    assert "members only" in rv.text


def test_abort_with_response(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/")
    def index() -> str:
        abort(diota.Response("custom teapot", 418, {"X-Tea": "earl grey"}))

    rv = client.get("/")
    assert rv.status_code == 418
    assert rv.text == "custom teapot"
    assert rv.headers["X-Tea"] == "earl grey"


def test_abort_unknown_code(app: diota.Flask) -> None:
    with app.app_context():
        with pytest.raises(LookupError, match="no exception for 299"):
            abort(299)


def test_abort_uses_app_aborter(app: diota.Flask, client: FlaskClient) -> None:
    class Custom(HTTPException):
        code = 499
        description = "client closed"

    app.aborter.mapping[499] = Custom

    @app.route("/")
    def index() -> str:
        abort(499)

    rv = client.get("/")
    assert rv.status_code == 499
    assert "client closed" in rv.text


def test_raise_http_exception_subclass(app: diota.Flask, client: FlaskClient) -> None:
    class PaymentRequired(HTTPException):
        code = 402
        description = "Pay up first."

    @app.route("/pay")
    def pay() -> str:
        raise PaymentRequired()

    @app.route("/forbidden")
    def forbidden() -> str:
        raise Forbidden()

    rv = client.get("/pay")
    assert rv.status_code == 402
    assert "Pay up first." in rv.text
    assert client.get("/forbidden").status_code == 403


def test_http_exception_with_own_response(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/")
    def index() -> str:
        raise NotFound(response=diota.Response("exact body", 404))

    rv = client.get("/")
    assert (rv.status_code, rv.text) == (404, "exact body")


def test_error_handler_returns_tuple(app: diota.Flask, client: FlaskClient) -> None:
    @app.errorhandler(404)
    def not_found(e: HTTPException) -> tuple[dict[str, t.Any], int, dict[str, str]]:
        return {"error": e.description}, 404, {"X-Handled": "1"}

    @app.route("/gone")
    def gone() -> str:
        abort(404, description="no such thing")

    rv = client.get("/gone")
    assert rv.status_code == 404
    assert rv.get_json() == {"error": "no such thing"}
    assert rv.headers["X-Handled"] == "1"

    # Unrouted URLs go to the same handler.
    rv = client.get("/nowhere")
    assert rv.status_code == 404
    assert rv.headers["X-Handled"] == "1"


def test_error_handler_status_defaults_to_200(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.errorhandler(Forbidden)
    def forbidden(e: HTTPException) -> str:
        return "handled without a status"

    @app.route("/")
    def index() -> str:
        abort(403)

    rv = client.get("/")
    assert rv.status_code == 200
    assert rv.text == "handled without a status"


def test_error_handler_for_plain_exception(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.errorhandler(ValueError)
    def bad_value(e: ValueError) -> tuple[str, int]:
        return f"bad value: {e}", 422

    @app.route("/")
    def index() -> str:
        raise ValueError("not a number")

    rv = client.get("/")
    assert (rv.status_code, rv.text) == (422, "bad value: not a number")


def test_unhandled_error_becomes_500(app: diota.Flask, client: FlaskClient) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    seen: list[BaseException | None] = []

    @app.errorhandler(500)
    def server_error(e: InternalServerError) -> tuple[str, int]:
        seen.append(e.original_exception)
        return "something broke", 500

    @app.route("/")
    def index() -> str:
        raise RuntimeError("boom")

    rv = client.get("/")
    assert (rv.status_code, rv.text) == (500, "something broke")
    assert isinstance(seen[0], RuntimeError)


def test_unhandled_error_propagates_when_testing(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/")
    def index() -> str:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        client.get("/")


def test_redirect_response(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/")
    def index() -> WerkzeugResponse:
        return diota.redirect("/elsewhere")

    @app.route("/moved")
    def moved() -> WerkzeugResponse:
        return diota.redirect("https://example.test/new", 301)

    rv = client.get("/")
    assert rv.status_code == 302
    # The Location header is sent as given, not made absolute.
    assert rv.headers["Location"] == "/elsewhere"

    rv = client.get("/moved")
    assert rv.status_code == 301
    assert rv.headers["Location"] == "https://example.test/new"


def _werkzeug_page(error: HTTPException) -> tuple[int, list[tuple[str, str]], bytes]:
    """What werkzeug itself answers for ``error`` as a WSGI application."""
    response = error.get_response()
    return response.status_code, _headers(response), response.get_data()


def _headers(response: t.Any) -> list[tuple[str, str]]:
    # ASGI servers send header names in lower case.
    return [(name.lower(), value) for name, value in response.headers.items()]


class _Teapot(HTTPException):
    code = 418
    description = "Short & <stout>."


class _OwnBody(HTTPException):
    code = 409

    def get_body(self, environ: t.Any = None, scope: t.Any = None) -> str:
        return "own body"


@pytest.mark.parametrize(
    "error",
    [
        NotFound(),
        NotFound("No <such> thing,\nreally."),
        Forbidden(),
        _Teapot(),
        _OwnBody(),
    ],
    ids=["404", "404-description", "403", "subclass", "own-body"],
)
def test_error_pages_are_werkzeugs(
    app: diota.Flask, client: FlaskClient, error: HTTPException
) -> None:
    # Raised twice: the second answer (built from the cached page) must be
    # the same as the first and as werkzeug's own.
    @app.route("/fail")
    def fail() -> t.Any:
        raise error

    expected = _werkzeug_page(error)
    for _ in range(2):
        rv = client.get("/fail")
        assert (rv.status_code, _headers(rv), rv.data) == expected


def test_error_pages_differ_by_description(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/fail/<word>")
    def fail(word: str) -> t.Any:
        abort(404, description=f"no {word}")

    assert b"<p>no apple</p>" in client.get("/fail/apple").data
    assert b"<p>no pear</p>" in client.get("/fail/pear").data
    assert b"no &lt;b&gt;" in client.get("/fail/<b>").data


def test_unrouted_404_and_405_pages(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/only-get")
    def only_get() -> str:
        return "ok"

    rv = client.get("/missing")
    assert (rv.status_code, _headers(rv), rv.data) == _werkzeug_page(NotFound())
    rv = client.post("/only-get")
    assert rv.status_code == 405
    assert sorted(rv.allow) == ["GET", "HEAD", "OPTIONS"]
    assert b"Method Not Allowed" in rv.data


@pytest.mark.parametrize(
    ("status", "body"),
    [(201, b"made"), (404, b"gone"), (500, b"broken"), (204, b""), (304, b"")],
)
def test_non_200_statuses_as_werkzeug_sends_them(
    app: diota.Flask, client: FlaskClient, status: int, body: bytes
) -> None:
    @app.route("/")
    def index() -> t.Any:
        return "made" if status == 201 else body.decode() or "dropped", status

    rv = client.get("/")
    assert rv.status_code == status
    assert rv.data == body
    if status in (204, 304):
        # No body, so no length (werkzeug's rule, kept in both modes).
        assert "Content-Length" not in rv.headers
    else:
        assert rv.headers["Content-Length"] == str(len(body))
    assert client.head("/").data == b""


# -- plain responses built directly ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "mimetype"),
    [
        ("héllo", None, "text/html"),
        (b"\x00bytes", 201, "application/octet-stream"),
        (bytearray(b"array"), 599, "text/plain"),
        ("", 404, None),
        ("teapot", 418, "text/x-custom"),
    ],
)
def test_plain_response_is_what_the_constructor_makes(
    body: t.Any, status: int | None, mimetype: str | None
) -> None:
    from diota._responses import plain_response

    fast = plain_response(diota.Response, body, status, mimetype)
    slow = diota.Response(body, status=status, mimetype=mimetype)
    assert type(fast) is diota.Response
    assert fast.status == slow.status
    assert fast.status_code == slow.status_code
    assert fast.headers.to_wsgi_list() == slow.headers.to_wsgi_list()
    assert fast.get_data() == slow.get_data()
    assert fast.response == slow.response
    assert fast.direct_passthrough is slow.direct_passthrough is False
    fast.headers["X-Added"] = "later"  # headers stay a working Headers object
    fast.set_cookie("k", "v")
    assert fast.headers.getlist("Set-Cookie") == ["k=v; Path=/"]


def test_response_class_with_its_own_constructor_is_used(
    app: diota.Flask, client: FlaskClient
) -> None:
    class StampedResponse(diota.Response):
        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            self.headers["X-Stamp"] = "1"

    app.response_class = StampedResponse

    @app.route("/text")
    def text() -> str:
        return "text"

    @app.route("/json")
    def json_view() -> dict[str, int]:
        return {"a": 1}

    assert client.get("/text").headers["X-Stamp"] == "1"
    assert client.get("/json").headers["X-Stamp"] == "1"
