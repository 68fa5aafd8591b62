from __future__ import annotations

import asyncio
import io
import os
import typing as t
from pathlib import Path

import pytest
import werkzeug.exceptions
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

import diota
from diota.debughelpers import attach_enctype_error_multidict
from diota.debughelpers import DebugFilesKeyError
from diota.debughelpers import FormDataRoutingRedirect
from diota.debughelpers import UnexpectedUnicodeError
from diota.globals import _cv_request
from diota.helpers import _split_blueprint_path
from diota.helpers import get_debug_flag
from diota.helpers import get_load_dotenv
from diota.helpers import get_root_path

STATIC = Path(__file__).parent / "static"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("No", False),
        ("1", True),
        ("True", True),
        ("yes", True),
    ],
)
def test_get_debug_flag(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("FLASK_DEBUG", raising=False)
    else:
        monkeypatch.setenv("FLASK_DEBUG", value)

    assert get_debug_flag() is expected


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        (None, True, True),
        (None, False, False),
        ("", True, True),
        ("0", False, True),
        ("False", False, True),
        ("1", True, False),
        ("yes", True, False),
    ],
)
def test_get_load_dotenv(
    monkeypatch: pytest.MonkeyPatch, value: str | None, default: bool, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("FLASK_SKIP_DOTENV", raising=False)
    else:
        monkeypatch.setenv("FLASK_SKIP_DOTENV", value)

    assert get_load_dotenv(default) is expected


def test_make_response(app: diota.Flask) -> None:
    with app.test_request_context():
        empty = diota.make_response()
        assert empty.status_code == 200
        assert empty.mimetype == "text/html"
        assert empty.data == b""

        single = diota.make_response("hi")
        assert single.data == b"hi"

        with_status = diota.make_response("gone", 404)
        assert with_status.status_code == 404
        assert with_status.data == b"gone"

        full = diota.make_response("x", 201, {"X-Thing": "1"})
        assert full.status_code == 201
        assert full.headers["X-Thing"] == "1"

        as_json = diota.make_response({"a": 1})
        assert as_json.is_json
        assert as_json.get_json() == {"a": 1}


def test_url_for_options(app: diota.Flask) -> None:
    @app.route("/item/<int:id>", methods=["GET"])
    def item_get(id: int) -> str:
        return ""

    @app.route("/item", methods=["POST"], endpoint="item_create")
    def item_post() -> str:
        return ""

    @app.route("/multi/<int:id>", methods=["GET"], endpoint="multi")
    @app.route("/multi", methods=["POST"], endpoint="multi")
    def multi(id: int | None = None) -> str:
        return ""

    with app.test_request_context("/"):
        assert diota.url_for("item_get", id=3) == "/item/3"
        assert diota.url_for("item_get", id=3, q="a b") == "/item/3?q=a+b"
        assert diota.url_for("item_get", id=3, _anchor="x y") == "/item/3#x%20y"
        assert diota.url_for("item_get", id=3, _external=True) == (
            "http://localhost/item/3"
        )
        assert diota.url_for("item_get", id=3, _scheme="https", _external=True) == (
            "https://localhost/item/3"
        )
        assert diota.url_for("multi", _method="POST") == "/multi"
        assert diota.url_for("multi", id=1, _method="GET") == "/multi/1"

        with pytest.raises(ValueError):
            diota.url_for("item_get", id=3, _scheme="https", _external=False)

    app.config["SERVER_NAME"] = "example.test"

    with app.app_context():
        # Without a request, URLs are external by default.
        assert diota.url_for("item_create") == "http://example.test/item"


def test_redirect_without_app() -> None:
    rv = diota.redirect("/elsewhere", 307)
    assert rv.status_code == 307
    assert rv.location == "/elsewhere"


def test_redirect_uses_app(app: diota.Flask) -> None:
    calls: list[tuple[str, int]] = []
    original = app.redirect

    def spy(location: str, code: int = 302) -> t.Any:
        calls.append((location, code))
        return original(location, code)

    app.redirect = spy  # type: ignore[method-assign]

    with app.app_context():
        rv = diota.redirect("/there")

    assert calls == [("/there", 302)]
    assert rv.status_code == 302
    assert isinstance(rv, app.response_class)


def test_abort_without_app() -> None:
    with pytest.raises(NotFound):
        diota.abort(404)

    with pytest.raises(HTTPException) as exc_info:
        diota.abort(diota.Response("custom", 418))

    assert exc_info.value.get_response().status_code == 418


def test_abort_uses_app_aborter(app: diota.Flask, client: t.Any) -> None:
    class Conflict409(werkzeug.exceptions.HTTPException):
        code = 409
        description = "custom conflict"

    class Teapot(werkzeug.exceptions.HTTPException):
        code = 418
        description = "short and stout"

    app.aborter.mapping[418] = Teapot
    app.aborter.mapping[409] = Conflict409

    with app.app_context():
        with pytest.raises(Teapot):
            diota.abort(418)

        with pytest.raises(Conflict409):
            diota.abort(409)

    @app.route("/")
    def index() -> str:
        diota.abort(418)

    rv = client.get("/")
    assert rv.status_code == 418
    assert b"short and stout" in rv.data


def test_flash_and_get_flashed_messages(app: diota.Flask, client: t.Any) -> None:
    @app.route("/add")
    def add() -> str:
        diota.flash("plain")
        diota.flash("bad thing", "error")
        diota.flash("note", "info")
        return ""

    @app.route("/all")
    def all_messages() -> t.Any:
        first = diota.get_flashed_messages()
        # The same messages for the rest of this request.
        second = diota.get_flashed_messages()
        assert first == second
        return {"messages": first}

    @app.route("/categories")
    def with_categories() -> t.Any:
        return {
            "both": diota.get_flashed_messages(with_categories=True),
            "errors": diota.get_flashed_messages(category_filter=["error"]),
            "filtered": diota.get_flashed_messages(
                with_categories=True, category_filter=("info", "message")
            ),
        }

    client.get("/add")
    assert client.get("/all").json == {"messages": ["plain", "bad thing", "note"]}
    # Reading removes them from the session.
    assert client.get("/all").json == {"messages": []}

    client.get("/add")
    assert client.get("/categories").json == {
        "both": [["message", "plain"], ["error", "bad thing"], ["info", "note"]],
        "errors": ["bad thing"],
        "filtered": [["message", "plain"], ["info", "note"]],
    }


def test_flash_assigns_session_and_sends_signal(app: diota.Flask) -> None:
    received: list[tuple[t.Any, str, str]] = []

    def record(sender: t.Any, message: str, category: str) -> None:
        received.append((sender, message, category))

    with diota.message_flashed.connected_to(record, app):
        with app.test_request_context():
            diota.flash("saved", "success")
            assert diota.session["_flashes"] == [("success", "saved")]
            assert diota.session.modified

    assert received == [(app, "saved", "success")]


def test_send_file_path(app: diota.Flask) -> None:
    with app.test_request_context():
        rv = diota.send_file(str(STATIC / "hello.txt"))
        rv.direct_passthrough = False

        assert rv.data == b"hello from diota\n"
        assert rv.mimetype == "text/plain"
        assert rv.headers["Content-Length"] == "17"
        assert rv.headers["ETag"]
        assert rv.last_modified is not None
        # No max age configured: prefer conditional requests.
        assert rv.cache_control.no_cache
        rv.close()


def test_send_file_object_and_attachment(app: diota.Flask) -> None:
    with app.test_request_context():
        rv = diota.send_file(
            io.BytesIO(b"a,b\n"), as_attachment=True, download_name="report.csv"
        )
        rv.direct_passthrough = False

        assert rv.data == b"a,b\n"
        assert rv.mimetype == "text/csv"
        assert rv.headers["Content-Disposition"] == "attachment; filename=report.csv"
        rv.close()


def test_send_file_relative_to_app_root(app: diota.Flask) -> None:
    # Relative paths are resolved against the app's root path.
    with app.test_request_context():
        rv = diota.send_file("static/hello.txt")
        rv.direct_passthrough = False
        assert rv.data == b"hello from diota\n"
        rv.close()


def test_send_file_max_age(app: diota.Flask) -> None:
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 60

    with app.test_request_context():
        rv = diota.send_file(str(STATIC / "hello.txt"))
        assert rv.cache_control.max_age == 60
        assert rv.cache_control.public
        rv.close()

        explicit = diota.send_file(str(STATIC / "hello.txt"), max_age=5)
        assert explicit.cache_control.max_age == 5
        explicit.close()


def test_send_file_max_age_from_app_method(tmp_path: Path) -> None:
    class PerFileApp(diota.Flask):
        def get_send_file_max_age(self, filename: str | None) -> int | None:
            if filename is not None and filename.endswith(".txt"):
                return 7

            return None

    app = PerFileApp("per_file", root_path=str(Path(__file__).parent))

    with app.test_request_context():
        rv = diota.send_file(str(STATIC / "hello.txt"))
        assert rv.cache_control.max_age == 7
        rv.close()


def test_send_file_x_sendfile(app: diota.Flask) -> None:
    app.config["USE_X_SENDFILE"] = True

    with app.test_request_context():
        rv = diota.send_file(str(STATIC / "hello.txt"))
        assert rv.headers["X-Sendfile"] == str(STATIC / "hello.txt")
        rv.direct_passthrough = False
        assert rv.data == b""
        rv.close()


def test_send_file_conditional_and_range(app: diota.Flask, client: t.Any) -> None:
    @app.route("/digits")
    def digits() -> diota.Response:
        return diota.send_file(str(STATIC / "digits.txt"))

    with client.get("/digits") as first:
        assert first.data == b"0123456789abcdef"
        assert first.headers["Accept-Ranges"] == "bytes"
        etag = first.headers["ETag"]

    with client.get("/digits", headers={"If-None-Match": etag}) as cached:
        assert cached.status_code == 304
        assert cached.data == b""

    with client.get("/digits", headers={"Range": "bytes=2-5"}) as ranged:
        assert ranged.status_code == 206
        assert ranged.data == b"2345"
        assert ranged.headers["Content-Range"] == "bytes 2-5/16"

    with client.get("/digits", headers={"Range": "bytes=100-"}) as beyond:
        assert beyond.status_code == 416


def test_send_from_directory(app: diota.Flask) -> None:
    with app.test_request_context():
        rv = diota.send_from_directory("static", "sub/deep.txt")
        rv.direct_passthrough = False
        assert rv.data == b"nested file\n"
        rv.close()

        absolute = diota.send_from_directory(STATIC, "hello.txt")
        absolute.direct_passthrough = False
        assert absolute.data == b"hello from diota\n"
        absolute.close()


@pytest.mark.parametrize(
    "path",
    [
        "missing.txt",
        "../test_helpers.py",
        "sub/../../conftest.py",
        "/etc/passwd",
        "sub",
    ],
)
def test_send_from_directory_bad_paths_404(app: diota.Flask, path: str) -> None:
    with app.test_request_context():
        with pytest.raises(NotFound):
            diota.send_from_directory("static", path)


def test_send_from_directory_in_view(app: diota.Flask, client: t.Any) -> None:
    @app.route("/files/<path:name>")
    def files(name: str) -> diota.Response:
        return diota.send_from_directory(STATIC, name, as_attachment=True)

    with client.get("/files/hello.txt") as rv:
        assert rv.status_code == 200
        assert rv.headers["Content-Disposition"] == "attachment; filename=hello.txt"

    assert client.get("/files/..%2Ftest_helpers.py").status_code == 404


class TestStreamWithContext:
    def test_wrapped_generator(self, app: diota.Flask, client: t.Any) -> None:
        @app.route("/")
        def index() -> diota.Response:
            def generate() -> t.Iterator[str]:
                yield "Hello "
                yield diota.request.args["name"]
                yield "!"

            return diota.Response(diota.stream_with_context(generate()))

        assert client.get("/?name=World").text == "Hello World!"

    def test_decorator(self, app: diota.Flask, client: t.Any) -> None:
        @app.route("/")
        def index() -> diota.Response:
            @diota.stream_with_context
            def generate(greeting: str) -> t.Iterator[str]:
                yield greeting
                yield diota.request.args["name"]

            return diota.Response(generate("Hi "))

        assert client.get("/?name=Ada").text == "Hi Ada"

    def test_session_and_g_available(self, app: diota.Flask, client: t.Any) -> None:
        @app.route("/")
        def index() -> diota.Response:
            diota.session["who"] = "session"
            diota.g.who = "g"

            def generate() -> t.Iterator[str]:
                yield diota.session["who"]
                yield diota.g.who

            return diota.Response(diota.stream_with_context(generate()))

        assert client.get("/").text == "sessiong"

    def test_custom_close_called_once(self, app: diota.Flask, client: t.Any) -> None:
        closed: list[bool] = []

        class Body:
            def __init__(self) -> None:
                self._items = iter(["a", "b"])

            def __iter__(self) -> Body:
                return self

            def __next__(self) -> str:
                return next(self._items)

            def close(self) -> None:
                # close runs with the request context still available.
                closed.append(diota.has_request_context())

        @app.route("/")
        def index() -> diota.Response:
            return diota.Response(diota.stream_with_context(Body()))

        assert client.get("/").text == "ab"
        assert closed == [True]

    def test_close_before_iteration_closes_wrapped(self, app: diota.Flask) -> None:
        closed: list[str] = []

        class Body:
            def __iter__(self) -> Body:
                return self

            def __next__(self) -> str:
                raise StopIteration

            def close(self) -> None:
                closed.append("closed")

        with app.test_request_context():
            stream = diota.stream_with_context(Body())

        stream.close()  # type: ignore[attr-defined]
        assert closed == ["closed"]

    def test_early_close_closes_generator(self, app: diota.Flask) -> None:
        events: list[str] = []

        def generate() -> t.Iterator[str]:
            try:
                yield "one"
                yield "two"
            finally:
                events.append(f"finally {diota.request.path}")

        with app.test_request_context("/p"):
            stream = diota.stream_with_context(generate())

        assert next(stream) == "one"
        stream.close()  # type: ignore[attr-defined]
        assert events == ["finally /p"]

    def test_requires_request_context(self, app: diota.Flask) -> None:
        with pytest.raises(RuntimeError, match="request context"):
            diota.stream_with_context(iter(["x"]))

        with app.app_context():
            with pytest.raises(RuntimeError, match="request context"):
                diota.stream_with_context(iter(["x"]))

    def test_async_generator(self, app: diota.Flask) -> None:
        outside: list[t.Any] = []

        async def generate() -> t.AsyncIterator[str]:
            yield diota.request.args["a"]
            await asyncio.sleep(0)
            yield diota.g.b

        with app.test_request_context("/?a=1"):
            diota.g.b = "2"
            stream = diota.stream_with_context(generate())

        assert _cv_request.get(None) is None

        async def consume() -> list[str]:
            items = []

            async for item in stream:
                # The context is only bound while the stream runs a step.
                outside.append(_cv_request.get(None))
                items.append(item)

            return items

        assert asyncio.run(consume()) == ["1", "2"]
        assert outside == [None, None]

    def test_async_decorator_and_aclose(self, app: diota.Flask) -> None:
        events: list[str] = []

        @diota.stream_with_context
        async def generate(prefix: str) -> t.AsyncIterator[str]:
            try:
                yield prefix + diota.request.path
                yield "never"
            finally:
                events.append(f"cleanup {diota.request.path}")

        with app.test_request_context("/q"):
            stream = generate(">")

        async def first_then_close() -> str:
            item = await stream.__anext__()
            await stream.aclose()  # type: ignore[attr-defined]
            return item

        assert asyncio.run(first_then_close()) == ">/q"
        assert events == ["cleanup /q"]

    def test_async_iterable_object(self, app: diota.Flask) -> None:
        class Numbers:
            def __aiter__(self) -> t.AsyncIterator[str]:
                return self._gen()

            async def _gen(self) -> t.AsyncIterator[str]:
                for n in range(int(diota.request.args["n"])):
                    yield str(n)

        with app.test_request_context("/?n=3"):
            stream = diota.stream_with_context(Numbers())

        async def consume() -> list[str]:
            return [item async for item in stream]

        assert asyncio.run(consume()) == ["0", "1", "2"]


def test_get_root_path() -> None:
    assert get_root_path(__name__) == str(Path(__file__).parent)
    assert get_root_path("diota") == str(Path(diota.__file__).parent)
    # An unknown module falls back to the working directory.
    assert get_root_path("no_such_module_for_diota_tests") == os.getcwd()


def test_split_blueprint_path() -> None:
    assert _split_blueprint_path("a") == ["a"]
    assert _split_blueprint_path("a.b.c") == ["a.b.c", "a.b", "a"]


class TestDebugHelpers:
    def test_files_key_error_explains_enctype(self, app: diota.Flask) -> None:
        app.debug = True

        with app.test_request_context("/", method="POST", data={"upload": "photo.png"}):
            with pytest.raises(DebugFilesKeyError) as exc_info:
                diota.request.files["upload"]

            message = str(exc_info.value)
            assert 'enctype="multipart/form-data"' in message
            assert "This was submitted: 'photo.png'" in message
            assert isinstance(exc_info.value, KeyError)

            # Keys that were not sent as form fields keep the usual error.
            with pytest.raises(KeyError) as other:
                diota.request.files["other"]

            assert not isinstance(other.value, DebugFilesKeyError)

    def test_patch_is_per_request(self, app: diota.Flask) -> None:
        with app.test_request_context("/", method="POST", data={"f": "x"}):
            original_cls = type(diota.request.files)
            attach_enctype_error_multidict(diota.request)
            patched_cls = type(diota.request.files)

            assert patched_cls is not original_cls
            assert patched_cls.__name__ == original_cls.__name__

            with pytest.raises(DebugFilesKeyError):
                diota.request.files["f"]

        with app.test_request_context("/", method="POST", data={"f": "x"}):
            assert type(diota.request.files) is original_cls

    def test_form_data_routing_redirect_message(self, app: diota.Flask) -> None:
        with app.test_request_context("/folder", method="POST"):
            req = diota.request._get_current_object()  # type: ignore[attr-defined]
            req.routing_exception = RequestRedirect("http://localhost/folder/")
            message = str(FormDataRoutingRedirect(req))

        assert "'http://localhost/folder'" in message
        assert "canonical URL 'http://localhost/folder/'" in message
        assert "defined with a trailing slash" in message
        assert "use 307 or 308" in message

    def test_unexpected_unicode_error_types(self) -> None:
        assert issubclass(UnexpectedUnicodeError, AssertionError)
        assert issubclass(UnexpectedUnicodeError, UnicodeError)
