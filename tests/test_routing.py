"""Routing and URL building: converters, methods, slashes, hosts, url_for."""

from __future__ import annotations

import os
import typing as t
import uuid

import pytest
from werkzeug.routing import BaseConverter
from werkzeug.routing import BuildError

import diota
from diota import g
from diota import request
from diota import url_for
from diota.testing import FlaskClient

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def static_bytes(name: str) -> bytes:
    """The content of a file in the tests' static folder."""
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        return f.read()


# -- converters ---------------------------------------------------------------


def test_int_converter(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/item/<int:item_id>")
    def item(item_id: int) -> str:
        return f"{type(item_id).__name__} {item_id + 1}"

    assert client.get("/item/41").text == "int 42"
    assert client.get("/item/abc").status_code == 404
    # Unsigned by default: a minus sign does not match.
    assert client.get("/item/-1").status_code == 404


def test_int_converter_options(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/page/<int(min=1, max=5):page>")
    def page(page: int) -> str:
        return str(page)

    @app.route("/delta/<int(signed=True):delta>")
    def delta(delta: int) -> str:
        return str(delta * 2)

    assert client.get("/page/5").text == "5"
    assert client.get("/page/6").status_code == 404
    assert client.get("/page/0").status_code == 404
    assert client.get("/delta/-4").text == "-8"


def test_float_converter(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/price/<float:value>")
    def price(value: float) -> str:
        return f"{type(value).__name__} {value * 2}"

    assert client.get("/price/1.25").text == "float 2.5"
    # A float needs its decimal point.
    assert client.get("/price/3").status_code == 404


def test_string_and_path_converters(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/name/<name>")
    def name(name: str) -> str:
        return name

    @app.route("/files/<path:subpath>")
    def files(subpath: str) -> str:
        return subpath

    assert client.get("/name/ada").text == "ada"
    # The default string converter stops at a slash.
    assert client.get("/name/a/b").status_code == 404
    assert client.get("/files/a/b/c.txt").text == "a/b/c.txt"

    with app.test_request_context():
        assert url_for("files", subpath="x/y z") == "/files/x/y%20z"


def test_uuid_converter(app: diota.Flask, client: FlaskClient) -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")

    @app.route("/obj/<uuid:obj_id>")
    def obj(obj_id: uuid.UUID) -> str:
        assert obj_id == value
        return type(obj_id).__name__

    assert client.get(f"/obj/{value}").text == "UUID"
    assert client.get("/obj/not-a-uuid").status_code == 404

    with app.test_request_context():
        assert url_for("obj", obj_id=value) == f"/obj/{value}"


def test_any_converter(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/<any(about, help):page>")
    def page(page: str) -> str:
        return f"page {page}"

    assert client.get("/about").text == "page about"
    assert client.get("/help").text == "page help"
    assert client.get("/other").status_code == 404

    with app.test_request_context():
        assert url_for("page", page="help") == "/help"


class ListConverter(BaseConverter):
    """Matches ``a,b,c`` as a list; builds it back from a list."""

    def to_python(self, value: str) -> list[str]:
        return value.split(",")

    def to_url(self, value: list[str]) -> str:
        quote = super().to_url
        return ",".join(quote(item) for item in value)


def test_custom_converter(app: diota.Flask, client: FlaskClient) -> None:
    app.url_map.converters["list"] = ListConverter

    @app.route("/tags/<list:tags>")
    def tags(tags: list[str]) -> str:
        return "|".join(reversed(tags))

    assert client.get("/tags/a,b,c").text == "c|b|a"

    with app.test_request_context():
        assert url_for("tags", tags=["x", "y z"]) == "/tags/x,y%20z"


def test_route_defaults(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/users/", defaults={"page": 1})
    @app.route("/users/page/<int:page>")
    def users(page: int) -> str:
        return f"page {page}"

    assert client.get("/users/").text == "page 1"
    assert client.get("/users/page/3").text == "page 3"

    with app.test_request_context():
        assert url_for("users") == "/users/"
        assert url_for("users", page=2) == "/users/page/2"


# -- methods ------------------------------------------------------------------


def test_method_not_allowed_lists_allow(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/submit", methods=["POST", "PUT"])
    def submit() -> str:
        return request.method

    assert client.post("/submit").text == "POST"
    assert client.put("/submit").text == "PUT"

    rv = client.get("/submit")
    assert rv.status_code == 405
    assert set(rv.allow) == {"POST", "PUT", "OPTIONS"}
    assert client.delete("/submit").status_code == 405


def test_methods_are_case_insensitive(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/", methods=["get", "post"])
    def index() -> str:
        return request.method

    assert client.get("/").text == "GET"
    assert client.post("/").text == "POST"


def test_methods_as_a_string_is_an_error(app: diota.Flask) -> None:
    with pytest.raises(TypeError, match="must be a list of strings"):

        @app.route("/", methods="POST")
        def index() -> str:
            return ""


def test_automatic_options(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/", methods=["GET", "POST"])
    def index() -> str:
        return "index"

    rv = client.options("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert set(rv.allow) == {"GET", "HEAD", "POST", "OPTIONS"}


def test_view_handles_options_itself(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/", methods=["GET", "OPTIONS"])
    def index() -> str:
        return f"own {request.method}"

    assert client.options("/").text == "own OPTIONS"


def test_provide_automatic_options_false(app: diota.Flask, client: FlaskClient) -> None:
    def index() -> str:
        return "index"

    app.add_url_rule("/", view_func=index, provide_automatic_options=False)

    def other() -> str:
        return "other"

    # The view function's own attribute is honoured too.
    other.provide_automatic_options = False  # type: ignore[attr-defined]
    app.add_url_rule("/other", view_func=other)

    assert client.get("/").text == "index"
    assert client.options("/").status_code == 405
    assert client.options("/other").status_code == 405


def test_provide_automatic_options_config(
    app: diota.Flask, client: FlaskClient
) -> None:
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False

    @app.route("/")
    def index() -> str:
        return "index"

    @app.route("/opt", methods=["GET", "OPTIONS"], provide_automatic_options=True)
    def opt() -> str:
        return "opt"

    rv = client.options("/")
    assert rv.status_code == 405
    assert "OPTIONS" not in rv.allow
    # An explicit argument still wins over the config: the automatic answer
    # is given instead of calling the view.
    rv = client.options("/opt")
    assert rv.data == b""
    assert set(rv.allow) == {"GET", "HEAD", "OPTIONS"}


def test_required_methods_attribute(app: diota.Flask, client: FlaskClient) -> None:
    def index() -> str:
        return request.method

    index.required_methods = ["POST"]  # type: ignore[attr-defined]
    app.add_url_rule("/", view_func=index)

    assert client.get("/").text == "GET"
    assert client.post("/").text == "POST"


def test_head_follows_get(app: diota.Flask, client: FlaskClient) -> None:
    calls: list[str] = []

    @app.route("/")
    def index() -> str:
        calls.append(request.method)
        return "hello"

    rv = client.head("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert rv.headers["Content-Length"] == "5"
    assert calls == ["HEAD"]


def test_route_shortcuts(app: diota.Flask, client: FlaskClient) -> None:
    @app.get("/r")
    def read() -> str:
        return "get"

    @app.post("/r")
    def create() -> str:
        return "post"

    @app.put("/r")
    def replace() -> str:
        return "put"

    @app.delete("/r")
    def remove() -> str:
        return "delete"

    @app.patch("/r")
    def update() -> str:
        return "patch"

    @app.post("/only-post")
    def only_post() -> str:
        return "ok"

    assert client.get("/r").text == "get"
    assert client.post("/r").text == "post"
    assert client.put("/r").text == "put"
    assert client.delete("/r").text == "delete"
    assert client.patch("/r").text == "patch"
    assert client.get("/only-post").status_code == 405


@pytest.mark.parametrize("method", ["get", "post", "put", "delete", "patch"])
def test_route_shortcuts_reject_methods(app: diota.Flask, method: str) -> None:
    with pytest.raises(TypeError, match="Use the 'route' decorator"):
        getattr(app, method)("/", methods=["GET"])


# -- strict slashes -----------------------------------------------------------


def test_trailing_slash_redirects(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/folder/", methods=["GET", "POST"])
    def folder() -> str:
        return request.method

    @app.route("/file")
    def file() -> str:
        return "file"

    rv = client.get("/folder?x=1")
    assert rv.status_code == 308
    assert rv.location == "http://localhost/folder/?x=1"

    # 308 keeps the method and body: a POST is not turned into a GET.
    assert client.post("/folder").status_code == 308
    rv = client.post("/folder", data={"a": "b"}, follow_redirects=True)
    assert rv.text == "POST"

    assert client.get("/folder/").text == "GET"
    assert client.get("/file").text == "file"
    assert client.get("/file/").status_code == 404


def test_strict_slashes_false(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/folder/", strict_slashes=False)
    def folder() -> str:
        return "folder"

    # The map's default applies to rules that do not set it.
    app.url_map.strict_slashes = False

    @app.route("/other/")
    def other() -> str:
        return "other"

    assert client.get("/folder").text == "folder"
    assert client.get("/folder/").text == "folder"
    assert client.get("/other").text == "other"


# -- subdomains and hosts -----------------------------------------------------


def test_subdomain_matching(app: diota.Flask, client: FlaskClient) -> None:
    # The constructor argument sets this attribute.
    app.subdomain_matching = True
    app.config["SERVER_NAME"] = "example.test"

    @app.route("/")
    def index() -> str:
        return "root"

    @app.route("/", subdomain="api")
    def api() -> str:
        return "api"

    @app.route("/", subdomain="<user>")
    def user_home(user: str) -> str:
        return f"user {user}"

    assert client.get("/", base_url="http://example.test").text == "root"
    assert client.get("/", base_url="http://api.example.test").text == "api"
    assert client.get("/", base_url="http://ada.example.test").text == "user ada"

    with app.test_request_context(base_url="http://example.test"):
        # A rule on another subdomain is built as an external URL.
        assert url_for("user_home", user="bob") == "http://bob.example.test/"
        assert url_for("index") == "/"

    with app.app_context():
        assert url_for("api") == "http://api.example.test/"


def test_subdomain_default_from_url_map(app: diota.Flask, client: FlaskClient) -> None:
    app.subdomain_matching = True
    app.config["SERVER_NAME"] = "example.test"
    app.url_map.default_subdomain = "www"

    @app.route("/")
    def index() -> str:
        return "www"

    assert client.get("/", base_url="http://www.example.test").text == "www"
    assert client.get("/", base_url="http://example.test").status_code == 404


def test_server_name_without_subdomain_matching(
    app: diota.Flask, client: FlaskClient
) -> None:
    app.config["SERVER_NAME"] = "example.test"

    @app.route("/")
    def index() -> str:
        return request.host

    # SERVER_NAME does not restrict which hosts are served (Flask 3.1).
    assert client.get("/", base_url="http://example.test").text == "example.test"
    assert client.get("/", base_url="http://other.test").text == "other.test"
    assert client.get("/", base_url="http://sub.example.test").text == (
        "sub.example.test"
    )


def test_host_matching(app: diota.Flask) -> None:
    app = diota.Flask(
        __name__,
        host_matching=True,
        static_host="static.test",
        root_path=app.root_path,
    )
    app.config["TESTING"] = True

    @app.route("/", host="a.test")
    def a_index() -> str:
        return "a"

    @app.route("/", host="<tenant>.b.test")
    def b_index(tenant: str) -> str:
        return f"b {tenant}"

    client = app.test_client()
    assert client.get("/", base_url="http://a.test").text == "a"
    assert client.get("/", base_url="http://acme.b.test").text == "b acme"
    assert client.get("/", base_url="http://c.test").status_code == 404

    rv = client.get("/static/hello.txt", base_url="http://static.test")
    assert rv.status_code == 200
    assert rv.data == static_bytes("hello.txt")
    rv.close()
    assert client.get("/static/hello.txt", base_url="http://a.test").status_code == 404

    with app.test_request_context(base_url="http://a.test"):
        assert url_for("a_index") == "/"
        assert url_for("b_index", tenant="x") == "http://x.b.test/"
        assert url_for("static", filename="hello.txt") == (
            "http://static.test/static/hello.txt"
        )


def test_static_host_needs_host_matching(app: diota.Flask) -> None:
    with pytest.raises(AssertionError, match="static_host"):
        diota.Flask(__name__, static_host="static.test", root_path=app.root_path)
    with pytest.raises(AssertionError, match="static_host"):
        diota.Flask(__name__, host_matching=True, root_path=app.root_path)
    # Without a static folder there is no static route to place on a host.
    diota.Flask(__name__, host_matching=True, static_folder=None)


# -- hosts: trust and validity ------------------------------------------------


def test_trusted_hosts(app: diota.Flask, client: FlaskClient) -> None:
    app.config["TRUSTED_HOSTS"] = ["example.test", ".trusted.test"]

    @app.route("/")
    def index() -> str:
        return request.host

    assert client.get("/", base_url="http://example.test").text == "example.test"
    assert client.get("/", base_url="http://api.trusted.test").text == (
        "api.trusted.test"
    )
    assert client.get("/", base_url="http://evil.test").status_code == 400
    assert client.get("/", headers={"Host": "evil.test"}).status_code == 400


def test_untrusted_host_error_handler(app: diota.Flask, client: FlaskClient) -> None:
    app.config["TRUSTED_HOSTS"] = ["example.test"]

    @app.errorhandler(400)
    def bad_request(e: Exception) -> tuple[str, int]:
        return "untrusted", 400

    @app.route("/")
    def index() -> str:
        return "index"

    rv = client.get("/", base_url="http://evil.test")
    assert rv.status_code == 400
    assert rv.text == "untrusted"


@pytest.mark.parametrize("host", ["exa mple.test", "a<b>.test", "bad/host"])
def test_invalid_host_header_is_bad_request(
    app: diota.Flask, client: FlaskClient, host: str
) -> None:
    @app.route("/")
    def index() -> str:
        return "index"

    rv = client.get("/", headers={"Host": host})
    assert rv.status_code == 400


def test_internationalized_host_is_accepted(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/")
    def index() -> str:
        return "index"

    assert client.get("/", headers={"Host": "bücher.example"}).text == "index"
    rv = client.get("/", headers={"Host": "xn--bcher-kva.example"})
    assert rv.text == "index"


# -- url_for ------------------------------------------------------------------


def test_url_for_in_request(app: diota.Flask) -> None:
    @app.route("/user/<name>")
    def user(name: str) -> str:
        return name

    with app.test_request_context():
        assert url_for("user", name="ada") == "/user/ada"
        # Unknown values become the query string.
        assert url_for("user", name="ada", tab="x y") == "/user/ada?tab=x+y"
        assert url_for("user", name="ada", _external=True) == (
            "http://localhost/user/ada"
        )
        assert url_for("user", name="ada", _anchor="top") == "/user/ada#top"
        assert url_for("user", name="ada", _anchor="a b/c") == "/user/ada#a%20b/c"
        assert url_for("user", name="ada", _scheme="https") == (
            "https://localhost/user/ada"
        )
        assert url_for("user", name="ada", _scheme="https", _external=True) == (
            "https://localhost/user/ada"
        )
        # The method on app.url_for is the same.
        assert app.url_for("user", name="bob") == "/user/bob"


def test_url_for_scheme_needs_external(app: diota.Flask) -> None:
    @app.route("/")
    def index() -> str:
        return ""

    with app.test_request_context():
        with pytest.raises(ValueError, match="'_external' must be True"):
            url_for("index", _scheme="https", _external=False)


def test_url_for_method(app: diota.Flask) -> None:
    def item() -> str:
        return ""

    app.add_url_rule("/item", "item", item, methods=["GET"])
    app.add_url_rule("/item/new", "item", item, methods=["POST"])

    with app.test_request_context():
        assert url_for("item") == "/item"
        assert url_for("item", _method="GET") == "/item"
        assert url_for("item", _method="POST") == "/item/new"


def test_url_for_build_error(app: diota.Flask) -> None:
    @app.route("/user/<name>")
    def user(name: str) -> str:
        return name

    with app.test_request_context():
        with pytest.raises(BuildError):
            url_for("missing")
        with pytest.raises(BuildError):
            url_for("user")


def test_url_for_outside_request_with_server_name(app: diota.Flask) -> None:
    app.config.update(
        SERVER_NAME="example.test:8080",
        APPLICATION_ROOT="/prefix",
        PREFERRED_URL_SCHEME="https",
    )

    @app.route("/user/<name>")
    def user(name: str) -> str:
        return name

    with app.app_context():
        # Outside a request URLs are external by default.
        assert url_for("user", name="ada") == (
            "https://example.test:8080/prefix/user/ada"
        )
        assert url_for("user", name="ada", _external=False) == "/prefix/user/ada"
        assert url_for("user", name="ada", _scheme="http") == (
            "http://example.test:8080/prefix/user/ada"
        )

    # app.url_for works without any context when SERVER_NAME is set.
    assert app.url_for("user", name="bob") == (
        "https://example.test:8080/prefix/user/bob"
    )


def test_url_for_outside_request_without_server_name(app: diota.Flask) -> None:
    @app.route("/")
    def index() -> str:
        return ""

    with app.app_context():
        with pytest.raises(RuntimeError, match="'SERVER_NAME'"):
            url_for("index")

    with pytest.raises(RuntimeError, match="'SERVER_NAME'"):
        app.url_for("index")

    # The function needs an app context at all.
    with pytest.raises(RuntimeError, match="application context"):
        url_for("index")


def test_url_for_relative_endpoint(app: diota.Flask, client: FlaskClient) -> None:
    bp = diota.Blueprint("shop", __name__, url_prefix="/shop")

    @bp.route("/")
    def index() -> str:
        return url_for(".item", item_id=3)

    @bp.route("/item/<int:item_id>")
    def item(item_id: int) -> str:
        return str(item_id)

    @app.route("/")
    def index_app() -> str:
        return url_for(".index_app")

    app.register_blueprint(bp)

    assert client.get("/shop/").text == "/shop/item/3"
    assert client.get("/").text == "/"


def test_url_defaults_and_value_preprocessor(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.url_defaults
    def add_lang(endpoint: str, values: dict[str, t.Any]) -> None:
        if "lang" in values or not g.get("lang"):
            return
        if app.url_map.is_endpoint_expecting(endpoint, "lang"):
            values["lang"] = g.lang

    @app.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        assert values is not None
        g.lang = values.pop("lang", None)

    @app.route("/<lang>/about")
    def about() -> str:
        # The view does not receive ``lang``; url_for gets it back.
        return f"{g.lang} {url_for('about')} {url_for('about', lang='fr')}"

    assert client.get("/de/about").text == "de /de/about /fr/about"


def test_url_build_error_handlers(app: diota.Flask) -> None:
    seen: list[tuple[str, dict[str, t.Any]]] = []

    def declines(error: Exception, endpoint: str, values: dict[str, t.Any]) -> t.Any:
        seen.append((endpoint, dict(values)))
        return None

    def rethrows(error: Exception, endpoint: str, values: dict[str, t.Any]) -> str:
        assert isinstance(error, BuildError)
        raise error

    def builds(error: Exception, endpoint: str, values: dict[str, t.Any]) -> str:
        return f"https://elsewhere.test/{endpoint}"

    app.url_build_error_handlers.extend([declines, rethrows])

    with app.test_request_context():
        with pytest.raises(BuildError):
            url_for("external_page", page=2)

        app.url_build_error_handlers.append(builds)
        assert url_for("external_page") == "https://elsewhere.test/external_page"

    endpoint, values = seen[0]
    assert endpoint == "external_page"
    assert values["page"] == 2
    assert values["_external"] is False


# -- registration -------------------------------------------------------------


def test_endpoint_decorator(app: diota.Flask, client: FlaskClient) -> None:
    app.add_url_rule("/greet/<name>", endpoint="greet")

    @app.endpoint("greet")
    def greet(name: str) -> str:
        return f"hi {name}"

    assert client.get("/greet/ada").text == "hi ada"


def test_explicit_endpoint_name(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/", endpoint="home")
    def index() -> str:
        return url_for("home")

    assert "home" in app.view_functions
    assert "index" not in app.view_functions
    assert client.get("/").text == "/"


def test_overwriting_endpoint_is_an_error(app: diota.Flask) -> None:
    @app.route("/a")
    def index() -> str:
        return "a"

    # The same function on a second rule is fine.
    app.add_url_rule("/b", view_func=index)

    def other() -> str:
        return "other"

    with pytest.raises(AssertionError, match="overwriting an existing endpoint"):
        app.add_url_rule("/c", endpoint="index", view_func=other)


def test_setup_after_first_request_is_an_error(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/")
    def index() -> str:
        return "index"

    assert client.get("/").text == "index"

    with pytest.raises(AssertionError, match="'add_url_rule' can no longer be called"):
        app.add_url_rule("/late", "late", index)
    with pytest.raises(AssertionError, match="'route' can no longer be called"):
        app.route("/late")
    with pytest.raises(AssertionError, match="'before_request'"):
        app.before_request(lambda: None)
    with pytest.raises(AssertionError, match="'register_blueprint'"):
        app.register_blueprint(diota.Blueprint("late", __name__))


# -- static files -------------------------------------------------------------


def test_static_route(app: diota.Flask, client: FlaskClient) -> None:
    assert app.static_url_path == "/static"

    with app.test_request_context():
        assert url_for("static", filename="hello.txt") == "/static/hello.txt"
        assert url_for("static", filename="sub/deep.txt") == "/static/sub/deep.txt"

    rv = client.get("/static/hello.txt")
    assert rv.status_code == 200
    assert rv.data == static_bytes("hello.txt")
    assert rv.mimetype == "text/plain"
    rv.close()

    assert client.get("/static/missing.txt").status_code == 404
    assert client.get("/static/../conftest.py").status_code == 404


def test_static_url_path(app: diota.Flask) -> None:
    app = diota.Flask(__name__, static_url_path="/assets", root_path=app.root_path)
    app.config["TESTING"] = True
    client = app.test_client()

    with app.test_request_context():
        assert url_for("static", filename="hello.txt") == "/assets/hello.txt"

    rv = client.get("/assets/hello.txt")
    assert rv.status_code == 200
    rv.close()
    assert client.get("/static/hello.txt").status_code == 404


def test_static_url_path_empty(app: diota.Flask) -> None:
    app = diota.Flask(__name__, static_url_path="", root_path=app.root_path)
    app.config["TESTING"] = True

    with app.test_request_context():
        assert url_for("static", filename="hello.txt") == "/hello.txt"

    rv = app.test_client().get("/hello.txt")
    assert rv.status_code == 200
    rv.close()


def test_no_static_folder(app: diota.Flask) -> None:
    app = diota.Flask(__name__, static_folder=None, root_path=app.root_path)
    app.config["TESTING"] = True

    assert "static" not in app.view_functions
    assert app.static_url_path is None
    assert app.test_client().get("/static/hello.txt").status_code == 404

    with app.test_request_context():
        with pytest.raises(BuildError):
            url_for("static", filename="hello.txt")


# -- remembered matches ---------------------------------------------------------


def test_view_args_changed_by_a_request_do_not_reach_the_next(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        if values is not None:
            g.lang = values.pop("lang", None)

    @app.route("/<lang>/page/<int:n>")
    def page(n: int) -> str:
        return f"{g.lang} {n}"

    for _ in range(3):
        assert client.get("/en/page/1").text == "en 1"
        assert client.get("/fr/page/2").text == "fr 2"


def test_custom_converter_runs_for_every_request(
    app: diota.Flask, client: FlaskClient
) -> None:
    calls: list[str] = []

    class LoadingConverter(BaseConverter):
        def to_python(self, value: str) -> dict[str, str]:
            calls.append(value)
            return {"loaded": value}

    app.url_map.converters["load"] = LoadingConverter

    @app.route("/item/<load:item>")
    def item(item: dict[str, str]) -> dict[str, str]:
        item["seen"] = "yes"  # the view may change what the converter made
        return item

    assert client.get("/item/a").json == {"loaded": "a", "seen": "yes"}
    assert client.get("/item/a").json == {"loaded": "a", "seen": "yes"}
    assert calls == ["a", "a"]


def test_rules_added_after_requests_are_matched(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/a")
    def a() -> str:
        return "a"

    assert client.get("/b").status_code == 404
    assert client.post("/a").status_code == 405
    app.url_map.add(diota.Flask.url_rule_class("/b", endpoint="b"))
    app.url_map.add(
        diota.Flask.url_rule_class("/a", endpoint="a_post", methods=["POST"])
    )
    app.view_functions["b"] = lambda: "b"
    app.view_functions["a_post"] = lambda: "posted"
    assert client.get("/b").text == "b"
    assert client.post("/a").text == "posted"


def test_remembered_errors_stay_correct(app: diota.Flask, client: FlaskClient) -> None:
    @app.route("/only-get")
    def only_get() -> str:
        return "ok"

    for _ in range(2):
        rv = client.delete("/only-get")
        assert rv.status_code == 405
        assert set(rv.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
        assert client.get("/nowhere").status_code == 404


@pytest.mark.parametrize(
    "host", ["exa mple.test", "a<b>.test", "bad/host", "a" * 64 + ".test"]
)
def test_malformed_host_is_refused_on_a_remembered_path(
    app: diota.Flask, client: FlaskClient, host: str
) -> None:
    @app.route("/")
    def index() -> str:
        return "index"

    assert client.get("/").text == "index"  # the match is remembered now
    for _ in range(2):
        assert client.get("/", headers={"Host": host}).status_code == 400
    assert client.get("/").text == "index"


def test_urls_built_in_remembered_requests_follow_each_request(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/page/<int:n>")
    def page(n: int) -> str:
        return f"{request.host} {url_for('page', n=n + 1, _external=True)}"

    for _ in range(2):
        rv = client.get("/page/1", base_url="http://one.test/root")
        assert rv.text == "one.test http://one.test/root/page/2"
        rv = client.get("/page/5", base_url="https://two.test:8443")
        assert rv.text == "two.test:8443 https://two.test:8443/page/6"


def test_slash_redirects_follow_each_request_host_and_query(
    app: diota.Flask, client: FlaskClient
) -> None:
    @app.route("/folder/")
    def folder() -> str:
        return "folder"

    first = client.get("/folder?x=1", base_url="http://one.test")
    second = client.get("/folder?y=2", base_url="http://two.test")
    assert first.status_code == second.status_code == 308
    assert first.headers["Location"] == "http://one.test/folder/?x=1"
    assert second.headers["Location"] == "http://two.test/folder/?y=2"


def test_rule_added_after_a_remembered_404_is_matched(
    app: diota.Flask, client: t.Any
) -> None:
    """A path answered 404 (and remembered) is matched once a rule for it
    is added, even when building a URL updated the map in between."""
    with app.test_request_context("/late"):  # matched, and remembered: 404
        app.add_url_rule("/late", "late", lambda: "here")
        assert diota.url_for("late") == "/late"  # updates the map
    assert client.get("/late").data == b"here"
