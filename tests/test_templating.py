from __future__ import annotations

import logging
import traceback
import typing as t
from pathlib import Path

import jinja2
import pytest

import diota
from diota.templating import _default_template_ctx_processor
from diota.templating import DispatchingJinjaLoader
from diota.templating import Environment


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_render_template_with_context(app: diota.Flask, client: t.Any) -> None:
    @app.route("/")
    def index() -> str:
        return diota.render_template("greeting.html", name="World")

    assert client.get("/").text == "<p>Hello, World!</p>"


def test_render_template_list_uses_first_existing(app: diota.Flask) -> None:
    with app.app_context():
        rv = diota.render_template(["missing.html", "greeting.html"], name="x")
        assert rv == "<p>Hello, x!</p>"

        with pytest.raises(jinja2.TemplatesNotFound):
            diota.render_template(["missing.html", "also-missing.html"])

        with pytest.raises(jinja2.TemplateNotFound):
            diota.render_template("missing.html")


def test_render_template_object(app: diota.Flask) -> None:
    with app.app_context():
        template = app.jinja_env.from_string("{{ a }}-{{ b }}")
        assert diota.render_template(template, a=1, b=2) == "1-2"


def test_templates_in_subfolders(app: diota.Flask) -> None:
    with app.app_context():
        assert diota.render_template("nested/inner.html", value=3) == "inner 3"


def test_default_context_has_g_request_session_config(
    app: diota.Flask, client: t.Any
) -> None:
    @app.route("/ctx")
    def ctx() -> str:
        diota.g.answer = 42
        diota.session["user"] = "ada"
        return diota.render_template("context.html")

    assert client.get("/ctx").text == "42|/ctx|ada|True"


def test_session_access_in_template_marks_session_accessed(
    app: diota.Flask, client: t.Any
) -> None:
    @app.route("/")
    def index() -> str:
        return diota.render_template_string("{{ session.get('x') }}")

    rv = client.get("/")
    assert rv.text == "None"
    # Reading the session in a template varies the response on the cookie.
    assert "Cookie" in rv.headers.get("Vary", "")


def test_context_processor_values_and_explicit_values_win(
    app: diota.Flask, client: t.Any
) -> None:
    @app.context_processor
    def inject() -> dict[str, t.Any]:
        return {"name": "injected", "extra": "yes"}

    @app.route("/default")
    def default() -> str:
        return diota.render_template_string("{{ name }}/{{ extra }}")

    @app.route("/explicit")
    def explicit() -> str:
        return diota.render_template_string("{{ name }}/{{ extra }}", name="given")

    assert client.get("/default").text == "injected/yes"
    assert client.get("/explicit").text == "given/yes"


def test_autoescape_by_extension(app: diota.Flask) -> None:
    with app.test_request_context():
        text = "<b>&</b>"
        assert diota.render_template("escaped.html", text=text) == (
            "&lt;b&gt;&amp;&lt;/b&gt;|<b>&</b>"
        )
        assert diota.render_template("plain.txt", text=text) == text
        # Strings have no file name and are escaped like HTML.
        assert diota.render_template_string("{{ text }}", text=text) == (
            "&lt;b&gt;&amp;&lt;/b&gt;"
        )


def test_render_without_request_context(app: diota.Flask) -> None:
    with app.app_context():
        diota.g.answer = "app-only"
        rv = diota.render_template_string("{{ g.answer }} {{ config.TESTING }}")

    assert rv == "app-only True"


def test_default_ctx_processor_outside_contexts() -> None:
    assert _default_template_ctx_processor() == {}


def test_default_ctx_processor_gives_concrete_objects(app: diota.Flask) -> None:
    with app.test_request_context("/path"):
        rv = _default_template_ctx_processor()
        assert rv["g"] is diota.g._get_current_object()
        assert rv["request"] is diota.request._get_current_object()  # type: ignore[attr-defined]
        assert "session" not in rv


def test_render_signals(app: diota.Flask) -> None:
    events: list[tuple[str, t.Any, str | None, dict[str, t.Any]]] = []

    def before(sender: t.Any, template: t.Any, context: dict[str, t.Any]) -> None:
        # Receivers may change the context before rendering.
        context["name"] = "from signal"
        events.append(("before", sender, template.name, dict(context)))

    def after(sender: t.Any, template: t.Any, context: dict[str, t.Any]) -> None:
        events.append(("after", sender, template.name, dict(context)))

    with (
        diota.before_render_template.connected_to(before, app),
        diota.template_rendered.connected_to(after, app),
        app.test_request_context(),
    ):
        rv = diota.render_template("greeting.html", name="World")

    assert rv == "<p>Hello, from signal!</p>"
    assert [(kind, sender, name) for kind, sender, name, _ in events] == [
        ("before", app, "greeting.html"),
        ("after", app, "greeting.html"),
    ]
    assert events[1][3]["name"] == "from signal"
    # The context passed to receivers includes injected values.
    assert "g" in events[0][3] and "request" in events[0][3]


def test_stream_template_uses_request_after_view_returns(
    app: diota.Flask, client: t.Any
) -> None:
    @app.route("/")
    def index() -> diota.Response:
        return app.response_class(
            diota.stream_template("stream.html", items=["a", "b"])
        )

    assert client.get("/?sep=+").text == "[a: ][b: ]"


def test_stream_template_string_yields_pieces(app: diota.Flask) -> None:
    with app.test_request_context("/?who=you"):
        stream = diota.stream_template_string(
            "{% for i in range(3) %}{{ i }}{% endfor %}{{ request.args.who }}"
        )

    # Consumed after the request context was popped.
    parts = list(stream)
    assert len(parts) > 1
    assert "".join(parts) == "012you"


def test_stream_template_rendered_signal_after_consumption(app: diota.Flask) -> None:
    rendered: list[str | None] = []
    before: list[str | None] = []

    def on_before(sender: t.Any, template: t.Any, context: t.Any) -> None:
        before.append(template.name)

    def on_rendered(sender: t.Any, template: t.Any, context: t.Any) -> None:
        rendered.append(template.name)

    with (
        diota.before_render_template.connected_to(on_before, app),
        diota.template_rendered.connected_to(on_rendered, app),
        app.app_context(),
    ):
        stream = diota.stream_template("nested/inner.html", value=1)
        assert before == ["nested/inner.html"]
        assert rendered == []
        assert "".join(stream) == "inner 1"
        assert rendered == ["nested/inner.html"]


def test_get_template_attribute(app: diota.Flask) -> None:
    with app.app_context():
        shout = diota.get_template_attribute("macros.html", "shout")
        assert shout("hey") == "HEY!"
        assert diota.get_template_attribute("macros.html", "motto") == "stay curious"


def test_jinja_env_is_diota_environment(app: diota.Flask) -> None:
    env = app.jinja_env
    assert isinstance(env, Environment)
    assert env.app is app
    assert isinstance(env.loader, DispatchingJinjaLoader)


def test_environment_keeps_explicit_loader(app: diota.Flask) -> None:
    loader = jinja2.DictLoader({"a.txt": "from dict"})
    env = Environment(app, loader=loader)
    assert env.loader is loader
    assert env.get_template("a.txt").render() == "from dict"


def test_environment_uses_app_global_loader(tmp_path: Path) -> None:
    class DictApp(diota.Flask):
        def create_global_jinja_loader(self) -> t.Any:
            return jinja2.DictLoader({"index.html": "dict {{ 1 + 1 }}"})

    app = DictApp("custom_loader", root_path=str(tmp_path))

    with app.app_context():
        assert diota.render_template("index.html") == "dict 2"


def _blueprint(name: str, root: Path, templates: dict[str, str]) -> diota.Blueprint:
    for rel, text in templates.items():
        _write(root / "templates" / rel, text)

    return diota.Blueprint(
        name, __name__, root_path=str(root), template_folder="templates"
    )


def test_loader_order_app_then_blueprints(tmp_path: Path) -> None:
    app_root = tmp_path / "app"
    _write(app_root / "templates" / "shared.html", "app")
    app = diota.Flask("loader_order", root_path=str(app_root))

    first = _blueprint(
        "first", tmp_path / "first", {"shared.html": "first", "bp.html": "first"}
    )
    second = _blueprint(
        "second", tmp_path / "second", {"bp.html": "second", "only2.html": "two"}
    )
    app.register_blueprint(first)
    app.register_blueprint(second)

    with app.app_context():
        assert diota.render_template("shared.html") == "app"
        assert diota.render_template("bp.html") == "first"
        assert diota.render_template("only2.html") == "two"

    loader = app.jinja_env.loader
    assert loader is not None
    assert sorted(loader.list_templates()) == ["bp.html", "only2.html", "shared.html"]


def test_explain_template_loading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app_root = tmp_path / "app"
    _write(app_root / "templates" / "dup.html", "app")
    app = diota.Flask("explained", root_path=str(app_root))
    app.config["EXPLAIN_TEMPLATE_LOADING"] = True
    bp = _blueprint("frontend", tmp_path / "bp", {"dup.html": "bp"})

    @bp.route("/")
    def page() -> str:
        return ""

    app.register_blueprint(bp, url_prefix="/fe")

    caplog.set_level(logging.INFO, logger=app.logger.name)

    with app.app_context():
        assert diota.render_template("dup.html") == "app"

    found = caplog.records[-1].getMessage()
    assert "Locating template 'dup.html':" in found
    assert "1: trying loader of application 'explained'" in found
    assert "2: trying loader of blueprint 'frontend'" in found
    assert "jinja2.loaders.FileSystemLoader" in found
    assert "Warning: multiple loaders returned a match" in found

    caplog.clear()

    with app.test_request_context("/fe/"):
        with pytest.raises(jinja2.TemplateNotFound):
            diota.render_template("nowhere.html")

    not_found = caplog.records[-1].getMessage()
    assert "-> no match" in not_found
    assert "Error: the template could not be found." in not_found
    assert "belongs to the blueprint 'frontend'" in not_found


def test_variables_win_over_template_globals_over_environment_globals(
    app: diota.Flask, client: t.Any
) -> None:
    app.jinja_env.globals.update(shade="env", only_env="env")
    template = app.jinja_env.from_string(
        "{{ shade }} {{ only_env }} {{ only_template }} {{ late }}",
        globals={"shade": "template", "only_template": "template"},
    )
    # Globals added after the template was made are still seen.
    app.jinja_env.globals["late"] = "late"

    @app.route("/")
    def index() -> str:
        return diota.render_template(template)

    @app.route("/passed")
    def passed() -> str:
        return diota.render_template(template, shade="passed", late="passed")

    assert client.get("/").text == "template env template late"
    assert client.get("/passed").text == "passed env template passed"


def test_error_in_a_template_points_at_the_template_line(
    app: diota.Flask, tmp_path: Path
) -> None:
    _write(tmp_path / "broken.html", "line one\n{{ 1 // zero }}\n")
    app.jinja_loader = jinja2.FileSystemLoader(str(tmp_path))  # type: ignore[assignment]

    with app.app_context(), pytest.raises(ZeroDivisionError) as info:
        diota.render_template("broken.html", zero=0)

    frames = traceback.extract_tb(info.value.__traceback__)
    assert (str(tmp_path / "broken.html"), 2) in [
        (f.filename, f.lineno) for f in frames
    ]


def test_template_subclass_and_async_environment_render(app: diota.Flask) -> None:
    rendered: list[str] = []

    class RecordingTemplate(jinja2.Template):
        def render(self, *args: t.Any, **kwargs: t.Any) -> str:
            rendered.append(str(self.name))
            return super().render(*args, **kwargs)

    app.jinja_env.template_class = RecordingTemplate
    with app.app_context():
        assert diota.render_template("greeting.html", name="sub") == (
            "<p>Hello, sub!</p>"
        )
    assert rendered == ["greeting.html"]

    app.jinja_options = {"enable_async": True}
    del app.__dict__["jinja_env"]  # made again with the new options
    with app.app_context():
        assert diota.render_template_string("{{ a }}+{{ b }}", a=1, b=2) == "1+2"


def test_render_patched_on_jinja_template_is_still_called(
    app: diota.Flask, client: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tracing instrumentation wraps ``jinja2.Template.render`` itself."""
    traced: list[str] = []
    original = jinja2.Template.render

    def traced_render(self: jinja2.Template, *args: t.Any, **kwargs: t.Any) -> str:
        traced.append(str(self.name))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", traced_render)

    @app.route("/")
    def index() -> str:
        return diota.render_template("greeting.html", name="traced")

    assert client.get("/").text == "<p>Hello, traced!</p>"
    assert traced == ["greeting.html"]
