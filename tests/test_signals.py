from __future__ import annotations

import typing as t

import blinker
import pytest

import diota
from diota import signals

SIGNAL_NAMES = {
    "template_rendered": "template-rendered",
    "before_render_template": "before-render-template",
    "request_started": "request-started",
    "request_finished": "request-finished",
    "request_tearing_down": "request-tearing-down",
    "got_request_exception": "got-request-exception",
    "appcontext_tearing_down": "appcontext-tearing-down",
    "appcontext_pushed": "appcontext-pushed",
    "appcontext_popped": "appcontext-popped",
    "message_flashed": "message-flashed",
}


@pytest.mark.parametrize(("attr", "name"), SIGNAL_NAMES.items())
def test_signal_names(attr: str, name: str) -> None:
    signal = getattr(signals, attr)
    assert isinstance(signal, blinker.NamedSignal)
    assert signal.name == name
    # The namespace hands back the same object for the same name.
    assert signals._signals.signal(name) is signal
    # Re-exported at the package level, like Flask.
    assert getattr(diota, attr) is signal


def test_own_namespace() -> None:
    assert isinstance(signals._signals, blinker.Namespace)
    assert signals.request_started is not blinker.signal("request-started")


def test_sent_with_app_as_sender(app: diota.Flask) -> None:
    other = diota.Flask("other")
    seen: list[t.Any] = []

    def record(sender: t.Any, **kwargs: t.Any) -> None:
        seen.append(sender)

    with signals.appcontext_pushed.connected_to(record, app):
        with other.app_context():
            pass

        with app.app_context():
            pass

    assert seen == [app]


def test_request_signal_order(app: diota.Flask, client: t.Any) -> None:
    calls: list[str] = []

    def started(sender: t.Any, **kwargs: t.Any) -> None:
        calls.append("started")

    def finished(sender: t.Any, response: t.Any, **kwargs: t.Any) -> None:
        assert response.data == b"changed"
        calls.append("finished")

    def tearing_down(sender: t.Any, exc: t.Any = None, **kwargs: t.Any) -> None:
        calls.append(f"request teardown {exc!r}")

    @app.before_request
    def before() -> None:
        calls.append("before")

    @app.after_request
    def after(response: t.Any) -> t.Any:
        calls.append("after")
        response.data = b"changed"
        return response

    @app.route("/")
    def index() -> str:
        calls.append("view")
        return "original"

    with (
        signals.request_started.connected_to(started, app),
        signals.request_finished.connected_to(finished, app),
        signals.request_tearing_down.connected_to(tearing_down, app),
    ):
        assert client.get("/").data == b"changed"

    assert calls == [
        "started",
        "before",
        "view",
        "after",
        "finished",
        "request teardown None",
    ]


def test_got_request_exception(app: diota.Flask, client: t.Any) -> None:
    app.testing = False
    recorded: list[BaseException] = []

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError

    def record(sender: t.Any, exception: BaseException, **kwargs: t.Any) -> None:
        recorded.append(exception)

    with signals.got_request_exception.connected_to(record, app):
        assert client.get("/").status_code == 500

    assert len(recorded) == 1
    assert isinstance(recorded[0], ZeroDivisionError)


def test_handled_error_does_not_send_exception_signal(
    app: diota.Flask, client: t.Any
) -> None:
    recorded: list[t.Any] = []

    @app.errorhandler(ZeroDivisionError)
    def handle(e: Exception) -> tuple[str, int]:
        return "handled", 418

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError

    def record(sender: t.Any, **kwargs: t.Any) -> None:
        recorded.append(kwargs)

    with signals.got_request_exception.connected_to(record, app):
        assert client.get("/").status_code == 418

    assert recorded == []


def test_appcontext_push_pop(app: diota.Flask, client: t.Any) -> None:
    recorded: list[str] = []

    def pushed(sender: t.Any, **kwargs: t.Any) -> None:
        recorded.append("push")

    def popped(sender: t.Any, **kwargs: t.Any) -> None:
        recorded.append("pop")

    @app.route("/")
    def index() -> str:
        return "hello"

    with (
        signals.appcontext_pushed.connected_to(pushed, app),
        signals.appcontext_popped.connected_to(popped, app),
    ):
        assert client.get("/").data == b"hello"
        assert recorded == ["push", "pop"]

        with app.app_context():
            assert recorded == ["push", "pop", "push"]

    assert recorded == ["push", "pop", "push", "pop"]


def test_appcontext_tearing_down_gets_exception(
    app: diota.Flask, client: t.Any
) -> None:
    app.testing = False
    recorded: list[t.Any] = []

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError

    def record(sender: t.Any, exc: t.Any = None, **kwargs: t.Any) -> None:
        recorded.append(exc)

    with signals.appcontext_tearing_down.connected_to(record, app):
        assert client.get("/").status_code == 500

    assert len(recorded) == 1
    assert isinstance(recorded[0], ZeroDivisionError)


def test_message_flashed(app: diota.Flask, client: t.Any) -> None:
    recorded: list[tuple[str, str]] = []

    @app.route("/")
    def index() -> str:
        diota.flash("Saved", category="notice")
        return ""

    def record(sender: t.Any, message: str, category: str, **kwargs: t.Any) -> None:
        recorded.append((message, category))

    with signals.message_flashed.connected_to(record, app):
        client.get("/")

    assert recorded == [("Saved", "notice")]


def test_template_signals(app: diota.Flask, client: t.Any) -> None:
    events: list[tuple[str, t.Any, dict[str, t.Any]]] = []

    def before(sender: t.Any, template: t.Any, context: t.Any, **kw: t.Any) -> None:
        # Receivers may change the context before rendering.
        context["drink"] = "tea"
        events.append(("before", template, dict(context)))

    def rendered(sender: t.Any, template: t.Any, context: t.Any, **kw: t.Any) -> None:
        events.append(("rendered", template, dict(context)))

    @app.route("/")
    def index() -> str:
        return diota.render_template_string("<p>{{ drink }}</p>", drink="coffee")

    with (
        signals.before_render_template.connected_to(before, app),
        signals.template_rendered.connected_to(rendered, app),
    ):
        assert client.get("/").data == b"<p>tea</p>"

    assert [kind for kind, _, _ in events] == ["before", "rendered"]
    assert events[0][1] is events[1][1]
    assert events[1][2]["drink"] == "tea"
