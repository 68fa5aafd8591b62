from __future__ import annotations

import importlib.metadata
import typing as t

import click
import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder as WerkzeugEnvironBuilder
from werkzeug.wrappers import Request as BaseRequest

import diota
import diota.testing
from diota import Blueprint
from diota import Flask
from diota import g
from diota import redirect
from diota import request
from diota import session
from diota import url_for
from diota.cli import ScriptInfo
from diota.globals import _cv_request
from diota.testing import EnvironBuilder
from diota.testing import FlaskClient
from diota.testing import FlaskCliRunner

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


@pytest.fixture
def url_app(app: Flask) -> Flask:
    @app.route("/")
    def index() -> str:
        return request.url

    return app


# --- EnvironBuilder --------------------------------------------------------


def test_environ_defaults(url_app: Flask, client: FlaskClient) -> None:
    assert client.get("/").text == "http://localhost/"
    assert client.get("/", url_scheme="https").text == "https://localhost/"


def test_environ_defaults_from_config(url_app: Flask, client: FlaskClient) -> None:
    url_app.config["SERVER_NAME"] = "example.com:1234"
    url_app.config["APPLICATION_ROOT"] = "/foo"
    url_app.config["PREFERRED_URL_SCHEME"] = "https"
    assert client.get("/").text == "https://example.com:1234/foo/"
    assert client.get("/", url_scheme="http").text == "http://example.com:1234/foo/"


def test_builder_base_url(app: Flask) -> None:
    app.config["SERVER_NAME"] = "example.com"
    app.config["APPLICATION_ROOT"] = "/root"
    builder = EnvironBuilder(app, "/path?q=1", subdomain="api")
    assert builder.base_url == "http://api.example.com/root/"
    assert builder.path == "/path"
    assert builder.query_string == "q=1"

    explicit = EnvironBuilder(app, "/x", base_url="https://other.test/app/")
    assert explicit.base_url == "https://other.test/app/"


def test_builder_path_is_full_url(app: Flask) -> None:
    builder = EnvironBuilder(app, "https://example.com/page")
    assert builder.url_scheme == "https"
    assert builder.host == "example.com"
    assert builder.script_root == ""
    assert builder.path == "/page"


@pytest.mark.parametrize("extra", [{"subdomain": "a"}, {"url_scheme": "https"}])
def test_builder_base_url_conflicts(app: Flask, extra: dict[str, str]) -> None:
    with pytest.raises(AssertionError, match="base_url"):
        EnvironBuilder(app, base_url="http://localhost/", **extra)


def test_builder_json_uses_app_provider(app: Flask) -> None:
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    builder = EnvironBuilder(app, json="\u20ac")
    assert builder.content_type == "application/json"
    assert builder.input_stream is not None
    assert builder.input_stream.read().decode() == '"\u20ac"'
    builder.close()


def test_subdomain_requests() -> None:
    app = Flask("subdomains", subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.com"

    @app.route("/", subdomain="<company>")
    def company_view(company: str) -> str:
        return company

    with app.test_request_context():
        url = url_for("company_view", company="acme")

    assert url == "http://acme.example.com/"
    assert app.test_client().get(url).text == "acme"
    assert app.test_client().get("/", subdomain="other").text == "other"


def test_blueprint_subdomain_full_url() -> None:
    app = Flask("bp_sub", subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.com:1234"
    app.config["APPLICATION_ROOT"] = "/foo"
    bp = Blueprint("company", __name__, subdomain="xxx")

    @bp.route("/")
    def index() -> str:
        return request.url

    app.register_blueprint(bp)
    response = app.test_client().get("/", subdomain="xxx")
    assert response.text == "http://xxx.example.com:1234/foo/"


# --- client environ and open() ---------------------------------------------


def test_environ_base_defaults(app: Flask, client: FlaskClient) -> None:
    @app.route("/")
    def index() -> str:
        return f"{request.remote_addr} {request.user_agent.string}"

    version = importlib.metadata.version("werkzeug")
    assert diota.testing._get_werkzeug_version() == version
    assert client.get("/").text == f"127.0.0.1 Werkzeug/{version}"

    client.environ_base["REMOTE_ADDR"] = "192.168.0.22"
    client.environ_base["HTTP_USER_AGENT"] = "Custom"
    assert client.get("/").text == "192.168.0.22 Custom"
    # Per-request values override the base.
    response = client.get("/", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert response.text == "10.0.0.1 Custom"


def test_open_builder_environ_and_request(app: Flask, client: FlaskClient) -> None:
    @app.route("/addr")
    def addr() -> str:
        return str(request.remote_addr)

    builder = EnvironBuilder(app, path="/addr")
    assert client.open(builder).text == "127.0.0.1"

    environ = builder.get_environ()
    builder.close()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert client.open(environ).text == "127.0.0.2"

    plain_builder = WerkzeugEnvironBuilder(path="/addr")
    plain_request = plain_builder.get_request()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.3"
    assert client.open(plain_request).text == "127.0.0.3"
    # The caller's request object is not modified.
    assert plain_request.environ.get("REMOTE_ADDR") != "127.0.0.3"
    plain_builder.close()


def test_full_url_request(app: Flask, client: FlaskClient) -> None:
    @app.route("/action", methods=["POST"])
    def action() -> str:
        return f"{request.host} {request.args['q']} {request.form['k']}"

    with client:
        response = client.post("http://domain.test/action?q=1", data={"k": "v"})
        assert response.text == "domain.test 1 v"
        assert request.args["q"] == "1"


def test_json_request_and_response(app: Flask, client: FlaskClient) -> None:
    @app.route("/echo", methods=["POST"])
    def echo() -> t.Any:
        return request.get_json()

    data = {"a": 1, "b": [1, 2], "c": "\u20ac"}
    response = client.post("/echo", json=data)
    assert response.get_json() == data
    assert response.json_module is app.json  # type: ignore[comparison-overlap]


# --- preserved contexts ----------------------------------------------------


def test_with_client_preserves_context(app: Flask, client: FlaskClient) -> None:
    app.testing = False

    @app.route("/")
    def index() -> str:
        g.value = 42
        return "ok"

    @app.route("/fail")
    def fail() -> str:
        raise ZeroDivisionError

    with client:
        response = client.get("/")
        assert response.text == "ok"
        assert g.value == 42
        assert request.path == "/"

    with client:
        response = client.get("/fail")
        assert response.status_code == 500
        assert not hasattr(g, "value")
        assert request.path == "/fail"

    with pytest.raises(RuntimeError):
        request.path  # noqa: B018


def test_next_request_pops_previous_context(app: Flask, client: FlaskClient) -> None:
    @app.route("/<name>")
    def view(name: str) -> str:
        return name

    with client:
        client.get("/first")
        first = _cv_request.get()
        client.get("/second")
        assert _cv_request.get() is not first
        assert request.path == "/second"

    assert _cv_request.get(None) is None


def test_without_with_no_context_is_kept(app: Flask, client: FlaskClient) -> None:
    client.get("/")
    assert _cv_request.get(None) is None


def test_client_reusable_and_not_nestable(client: FlaskClient) -> None:
    with client:
        assert client.get("/").status_code == 404

    with client:
        assert client.get("/").status_code == 404

        with pytest.raises(RuntimeError, match="Cannot nest"), client:
            pass


def test_follow_redirects_keeps_final_context(app: Flask, client: FlaskClient) -> None:
    @app.route("/start")
    def start() -> t.Any:
        session["start"] = True
        return redirect("/target")

    @app.route("/target")
    def target() -> str:
        session["target"] = True
        return "done"

    with client:
        response = client.get("/start", follow_redirects=True)
        assert response.text == "done"
        assert [r.status_code for r in response.history] == [302]
        assert request.path == "/target"
        assert session["start"] is True
        assert session["target"] is True


def test_outer_context_survives(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context("/outer"):
        outer = _cv_request.get()

        with client:
            client.get("/")
            assert _cv_request.get() is not outer

        assert _cv_request.get() is outer


# --- session_transaction ---------------------------------------------------


def test_session_transaction(app: Flask, client: FlaskClient) -> None:
    @app.route("/")
    def index() -> str:
        return str(session["items"])

    with client.session_transaction() as sess:
        assert len(sess) == 0
        sess["items"] = [42]

    assert client.get("/").text == "[42]"

    with client.session_transaction() as sess:
        assert sess["items"] == [42]
        del sess["items"]

    with client.session_transaction() as sess:
        assert "items" not in sess


def test_session_transaction_with_request_args(app: Flask) -> None:
    app.config["SERVER_NAME"] = "example.com"
    client = app.test_client()

    @app.route("/")
    def index() -> str:
        return str(session.get("k"))

    with client.session_transaction("http://example.com/") as sess:
        sess["k"] = "v"

    assert client.get("/").text == "v"


def test_session_transaction_keeps_outer_request(
    app: Flask, client: FlaskClient
) -> None:
    with app.test_request_context("/outer"):
        outer = request._get_current_object()  # type: ignore[attr-defined]

        with client.session_transaction():
            assert request._get_current_object() is outer  # type: ignore[attr-defined]

        assert request._get_current_object() is outer  # type: ignore[attr-defined]


def test_session_transaction_needs_cookies(app: Flask) -> None:
    client = app.test_client(use_cookies=False)

    with pytest.raises(TypeError, match="Cookies are disabled"):
        with client.session_transaction():
            pass


def test_session_transaction_needs_session() -> None:
    app = Flask("no_secret")  # no SECRET_KEY: no session can be opened

    with pytest.raises(RuntimeError, match="did not open a session"):
        with app.test_client().session_transaction():
            pass


# --- execution seam --------------------------------------------------------


def test_run_app_is_the_only_execution_point(app: Flask) -> None:
    seen: list[str] = []

    class RecordingClient(FlaskClient):
        def _run_app(
            self, environ: WSGIEnvironment, buffered: bool
        ) -> tuple[t.Iterable[bytes], str, Headers]:
            seen.append(environ["PATH_INFO"])
            return super()._run_app(environ, buffered)

    @app.route("/a")
    def a() -> t.Any:
        return redirect("/b")

    @app.route("/b")
    def b() -> str:
        session["x"] = 1
        return "b"

    app.test_client_class = RecordingClient
    client = app.test_client()
    assert isinstance(client, RecordingClient)
    assert client.get("/a", follow_redirects=True).text == "b"
    assert seen == ["/a", "/b"]
    # Cookies are still handled around the seam.
    assert client.get_cookie("session") is not None


def test_request_from_builder_args(app: Flask, client: FlaskClient) -> None:
    built = client._request_from_builder_args(("/p",), {"method": "PUT"})
    assert isinstance(built, BaseRequest)
    assert built.method == "PUT"
    assert built.environ["REMOTE_ADDR"] == "127.0.0.1"


def test_copy_environ(client: FlaskClient) -> None:
    merged = client._copy_environ({"REMOTE_ADDR": "1.2.3.4", "X": "y"})
    assert merged["REMOTE_ADDR"] == "1.2.3.4"
    assert merged["HTTP_USER_AGENT"].startswith("Werkzeug/")
    assert "werkzeug.debug.preserve_context" not in merged

    with client:
        assert "werkzeug.debug.preserve_context" in client._copy_environ({})


# --- CLI runner ------------------------------------------------------------


def test_cli_runner_class(app: Flask) -> None:
    assert isinstance(app.test_cli_runner(), FlaskCliRunner)

    class SubRunner(FlaskCliRunner):
        pass

    app.test_cli_runner_class = SubRunner
    assert isinstance(app.test_cli_runner(), SubRunner)


def test_cli_runner_invoke(app: Flask) -> None:
    @app.cli.command("hello")
    @click.option("--name", default="World")
    def hello(name: str) -> None:
        click.echo(f"Hello, {name}!")

    runner = app.test_cli_runner()
    assert runner.app is app
    assert runner.invoke(args=["hello"]).output == "Hello, World!\n"
    assert runner.invoke(args=["hello", "--name", "diota"]).output == "Hello, diota!\n"
    assert runner.invoke(hello).output == "Hello, World!\n"


def test_cli_runner_custom_obj(app: Flask) -> None:
    created: list[Flask] = []

    def create_app() -> Flask:
        created.append(app)
        return app

    @app.cli.command("hello")
    def hello() -> None:
        click.echo("hi")

    app.test_cli_runner().invoke(hello, obj=ScriptInfo(create_app=create_app))
    assert created == [app]


def test_response_header_names_as_the_app_wrote_them(
    app: diota.Flask, client: t.Any
) -> None:
    """As Flask's test client gives them, on every interface (ASGI itself
    lowercases header names)."""

    @app.get("/")
    def index() -> diota.Response:
        response = diota.make_response("ok")
        response.headers["X-RateLimit-Limit"] = "10"
        response.headers["WWW-Authenticate"] = 'Basic realm="x"'
        response.set_cookie("a", "1")
        return response

    @app.get("/stream")
    def stream() -> diota.Response:
        return diota.Response(iter(["a", "b"]), headers={"X-Streamed-By": "diota"})

    names = [name for name, _ in client.get("/").headers.items()]
    assert names == [
        "Content-Type",
        "Content-Length",
        "X-RateLimit-Limit",
        "WWW-Authenticate",
        "Set-Cookie",
    ]
    assert ("X-Streamed-By", "diota") in client.get("/stream").headers.items()


def test_sync_views_run_in_the_tests_thread(app: diota.Flask, client: t.Any) -> None:
    """As with Flask's client, in every mode: what a test made bound to its
    thread (an in-memory SQLite database, a thread-local) is there in the
    view, its hooks and its streamed body. Under an ASGI server they run in
    worker threads; the in-process client runs them in the waiting test's."""
    import sqlite3
    import threading

    local = threading.local()
    local.user = "ada"
    db = sqlite3.connect(":memory:")  # refuses use from another thread
    db.execute("create table t (name text)")
    db.execute("insert into t values ('row')")

    @app.before_request
    def before() -> None:
        diota.g.user = local.user

    @app.get("/")
    def index() -> str:
        (name,) = db.execute("select name from t").fetchone()
        return f"{diota.g.user} {name}"

    @app.get("/stream")
    def stream() -> diota.Response:
        def rows() -> t.Iterator[str]:
            yield from (name for (name,) in db.execute("select name from t"))

        return diota.Response(rows())

    @app.get("/async")
    async def async_index() -> str:
        return diota.g.user  # type: ignore[no-any-return]

    assert client.get("/").data == b"ada row"
    assert client.get("/stream").data == b"row"
    assert client.get("/async").data == b"ada"
