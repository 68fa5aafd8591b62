"""The request pipeline: hook order, error handling, teardown, overrides."""

from __future__ import annotations

import logging
import typing as t

import anyio
import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed

import diota


@pytest.fixture(params=["def", "async def"])
def kind(request: pytest.FixtureRequest) -> str:
    """Every hook in these tests is written both ways."""
    return str(request.param)


def _make(kind: str, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    if kind == "def":
        return func

    async def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        await anyio.sleep(0)
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    return wrapper


def test_hook_order_across_app_and_nested_blueprints(
    app: diota.Flask, client: t.Any, kind: str
) -> None:
    events: list[str] = []
    parent = diota.Blueprint("parent", __name__, url_prefix="/p")
    child = diota.Blueprint("child", __name__, url_prefix="/c")

    for name, scaffold in (("app", app), ("parent", parent), ("child", child)):

        def before(name: str = name) -> None:
            events.append(f"before:{name}")

        def after(response: diota.Response, name: str = name) -> diota.Response:
            events.append(f"after:{name}")
            return response

        def teardown(exc: BaseException | None, name: str = name) -> None:
            events.append(f"teardown:{name}")

        scaffold.before_request(_make(kind, before))
        scaffold.after_request(_make(kind, after))
        scaffold.teardown_request(_make(kind, teardown))

    @child.route("/")
    def index() -> str:
        def later(response: diota.Response) -> diota.Response:
            events.append("after_this_request")
            return response

        diota.after_this_request(_make(kind, later))
        events.append("view")
        return "ok"

    parent.register_blueprint(child)
    app.register_blueprint(parent)

    assert client.get("/p/c/").data == b"ok"
    assert events == [
        "before:app",
        "before:parent",
        "before:child",
        "view",
        "after_this_request",
        "after:child",
        "after:parent",
        "after:app",
        "teardown:child",
        "teardown:parent",
        "teardown:app",
    ]


def test_before_request_return_value_short_circuits(
    app: diota.Flask, client: t.Any, kind: str
) -> None:
    called: list[str] = []

    app.before_request(_make(kind, lambda: ("stopped", 403)))

    @app.route("/")
    def index() -> str:
        called.append("view")
        return "view"

    rv = client.get("/")
    assert (rv.status_code, rv.data) == (403, b"stopped")
    assert called == []


def test_teardown_runs_once_with_the_error(app: diota.Flask, kind: str) -> None:
    seen: list[BaseException | None] = []
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.teardown_request(_make(kind, seen.append))
    app.teardown_appcontext(_make(kind, seen.append))

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError("boom")

    rv = app.test_client().get("/")
    assert rv.status_code == 500
    assert len(seen) == 2
    assert all(isinstance(e, ZeroDivisionError) for e in seen)


def test_unhandled_error_is_logged_and_answered_500(
    app: diota.Flask, client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.testing = False

    @app.route("/")
    def index() -> str:
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.ERROR):
        rv = client.get("/")
    assert rv.status_code == 500
    assert b"secret detail" not in rv.data
    assert "Exception on / [GET]" in caplog.text


def test_500_handler_gets_the_original_exception(
    app: diota.Flask, client: t.Any, kind: str
) -> None:
    app.testing = False

    def on_500(e: HTTPException) -> tuple[str, int]:
        return f"handled {type(e.original_exception).__name__}", 500  # type: ignore[attr-defined]

    app.register_error_handler(500, _make(kind, on_500))

    @app.route("/")
    def index() -> str:
        raise KeyError("k")

    rv = client.get("/")
    assert (rv.status_code, rv.data) == (500, b"handled KeyError")


def test_error_in_after_request_while_handling_an_error_is_logged(
    app: diota.Flask, client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.testing = False

    @app.after_request
    def broken(response: diota.Response) -> diota.Response:
        raise ValueError("after_request is broken")

    @app.route("/")
    def index() -> str:
        raise RuntimeError("first")

    with caplog.at_level(logging.ERROR):
        rv = client.get("/")
    assert rv.status_code == 500
    assert "Request finalizing failed" in caplog.text


def test_exceptions_propagate_when_testing(app: diota.Flask, client: t.Any) -> None:
    @app.route("/")
    def index() -> str:
        raise LookupError("visible to the test")

    with pytest.raises(LookupError, match="visible to the test"):
        client.get("/")


def test_http_exception_handler_and_trapping(
    app: diota.Flask, client: t.Any, kind: str
) -> None:
    app.register_error_handler(404, _make(kind, lambda e: ("custom 404", 404)))

    @app.route("/only-get")
    def only_get() -> str:
        return "get"

    assert client.get("/missing").data == b"custom 404"

    # Trapped: with no handler for it, the 405 propagates like any error.
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    with pytest.raises(MethodNotAllowed):
        client.post("/only-get")
    # A trapped error with a handler still reaches its handler.
    assert client.get("/missing").data == b"custom 404"


def test_subclass_overrides_of_sync_steps_are_honoured(kind: str) -> None:
    calls: list[str] = []

    class App(diota.Flask):
        def preprocess_request(self) -> t.Any:
            calls.append("preprocess_request")
            return super().preprocess_request()

        def process_response(self, response: diota.Response) -> diota.Response:
            calls.append("process_response")
            response = super().process_response(response)
            response.headers["X-Subclass"] = "yes"
            return response

        def handle_user_exception(self, e: Exception) -> t.Any:
            calls.append("handle_user_exception")
            return super().handle_user_exception(e)

    app = App(__name__)
    app.register_error_handler(KeyError, _make(kind, lambda e: ("key error", 400)))

    @app.route("/")
    def index() -> str:
        raise KeyError("k")

    rv = app.test_client().get("/")
    assert (rv.status_code, rv.data) == (400, b"key error")
    assert rv.headers["X-Subclass"] == "yes"
    assert calls == ["preprocess_request", "handle_user_exception", "process_response"]


def test_instance_override_of_handle_user_exception(
    app: diota.Flask, client: t.Any
) -> None:
    """Extensions such as Flask-RESTful replace the bound method on the app."""
    original = app.handle_user_exception

    def router(e: Exception) -> t.Any:
        if isinstance(e, ValueError):
            return diota.jsonify(error=str(e)), 422
        return original(e)

    app.handle_user_exception = router  # type: ignore[method-assign]

    @app.route("/value")
    def value() -> str:
        raise ValueError("bad value")

    rv = client.get("/value")
    assert rv.status_code == 422
    assert rv.json == {"error": "bad value"}
    assert client.get("/missing").status_code == 404


def test_instance_overrides_take_effect_between_requests(
    app: diota.Flask, client: t.Any
) -> None:
    """Steps replaced on the app after it served requests apply to the next
    request, and deleting the replacement restores Flask's method."""

    @app.route("/")
    def index() -> str:
        return "index"

    assert client.get("/").text == "index"

    def dispatch_request() -> str:
        return "replaced"

    def process_response(response: diota.Response) -> diota.Response:
        response.headers["X-Processed"] = "yes"
        return response

    app.dispatch_request = dispatch_request  # type: ignore[method-assign]
    app.process_response = process_response  # type: ignore[method-assign]
    rv = client.get("/")
    assert (rv.text, rv.headers.get("X-Processed")) == ("replaced", "yes")

    del app.dispatch_request
    rv = client.get("/")
    assert (rv.text, rv.headers.get("X-Processed")) == ("index", "yes")
    del app.process_response
    rv = client.get("/")
    assert (rv.text, rv.headers.get("X-Processed")) == ("index", None)


def test_subclass_overrides_and_instance_replacements_combine(
    app: diota.Flask,
) -> None:
    class Tagging(diota.Flask):
        def process_response(self, response: diota.Response) -> diota.Response:
            response = super().process_response(response)
            response.headers["X-Class"] = "yes"
            return response

    tagging = Tagging(__name__)

    @tagging.route("/")
    def index() -> str:
        return "index"

    def dispatch_request() -> str:
        return "replaced"

    tagging.dispatch_request = dispatch_request  # type: ignore[method-assign]
    client = tagging.test_client()  # the interface the mode fixture chose
    rv = client.get("/")
    assert (rv.text, rv.headers.get("X-Class")) == ("replaced", "yes")
    del tagging.dispatch_request
    rv = client.get("/")
    assert (rv.text, rv.headers.get("X-Class")) == ("index", "yes")


def test_sync_pipeline_methods_work_in_a_request_context(app: diota.Flask) -> None:
    @app.before_request
    async def before() -> None:
        diota.g.before = True

    @app.route("/")
    async def index() -> str:
        return "from the view"

    with app.test_request_context("/"):
        assert app.preprocess_request() is None
        assert diota.g.before is True
        assert app.dispatch_request() == "from the view"
        response = app.full_dispatch_request()
        assert response.get_data() == b"from the view"


def test_signals_are_sent(app: diota.Flask, client: t.Any) -> None:
    seen: list[str] = []

    def record(name: str) -> t.Callable[..., None]:
        return lambda sender, **extra: seen.append(name)

    receivers = {
        diota.request_started: record("request_started"),
        diota.request_finished: record("request_finished"),
        diota.request_tearing_down: record("request_tearing_down"),
        diota.appcontext_tearing_down: record("appcontext_tearing_down"),
    }

    @app.route("/")
    def index() -> str:
        return "ok"

    for signal, receiver in receivers.items():
        signal.connect(receiver, app)
    try:
        client.get("/")
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver, app)

    assert seen == [
        "request_started",
        "request_finished",
        "request_tearing_down",
        "appcontext_tearing_down",
    ]


class _ViewError(Exception):
    """Raised by a view in the reference-cycle test, to be found afterwards."""


@pytest.mark.parametrize(
    "path", ["/missing", "/post-only", "/abort", "/handled-abort", "/boom"]
)
def test_error_answers_leave_no_reference_cycles(
    app: diota.Flask,
    client: t.Any,
    kind: str,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request answered with an error is freed when it ends, as a normal
    one is: no request or exception is left for the cyclic collector (a
    server that makes garbage per request pays for collections)."""
    import gc

    app.config["PROPAGATE_EXCEPTIONS"] = False
    # The 500's log record would keep the error alive (the logger is shared).
    monkeypatch.setattr(app.logger, "disabled", True)

    app.add_url_rule(
        "/post-only", "post_only", _make(kind, lambda: "ok"), methods=["POST"]
    )
    app.add_url_rule("/abort", "abort", _make(kind, lambda: diota.abort(404)))

    def boom() -> t.NoReturn:
        raise _ViewError

    app.add_url_rule("/boom", view_func=_make(kind, boom))
    bp = diota.Blueprint("bp", __name__)
    bp.register_error_handler(404, _make(kind, lambda e: ("handled", 404)))
    bp.add_url_rule("/handled-abort", view_func=_make(kind, lambda: diota.abort(404)))
    app.register_blueprint(bp)

    expected = 500 if path == "/boom" else 405 if path == "/post-only" else 404
    assert client.get(path).status_code == expected  # first-request work done
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what a collection finds, to look at
    try:
        for _ in range(3):
            assert client.get(path).status_code == expected
        gc.collect()
        left = [
            type(o).__name__
            for o in gc.garbage
            if isinstance(o, (diota.Request, diota.ctx.RequestContext, Exception))
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
