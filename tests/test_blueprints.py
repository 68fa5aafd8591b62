"""Blueprints: prefixes, subdomains, nesting, names, hooks, handlers, files, CLI."""

from __future__ import annotations

import os
import typing as t

import click
import pytest
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound

import diota
from diota import abort
from diota import Blueprint
from diota import g
from diota import render_template
from diota import render_template_string
from diota import request
from diota import url_for
from diota.blueprints import BlueprintSetupState
from diota.testing import FlaskClient

HERE = os.path.dirname(os.path.abspath(__file__))


def make_bp(name: str, **kwargs: t.Any) -> Blueprint:
    """A blueprint rooted in the tests folder."""
    kwargs.setdefault("root_path", HERE)
    return Blueprint(name, __name__, **kwargs)


# -- url_prefix ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "rule", "url"),
    [
        ("/shop", "/items", "/shop/items"),
        ("/shop/", "/items", "/shop/items"),
        ("/shop/", "items", "/shop/items"),
        ("/shop//", "/items", "/shop/items"),
        ("/shop", "/", "/shop/"),
        ("/shop", "", "/shop"),
        ("/shop/", "", "/shop/"),
        ("/", "/", "/"),
        ("/", "/items", "/items"),
        ("", "/items", "/items"),
        ("", "/", "/"),
    ],
)
def test_url_prefix_joins_rules(
    app: diota.Flask, client: FlaskClient, prefix: str, rule: str, url: str
) -> None:
    bp = make_bp("shop", url_prefix=prefix)

    @bp.route(rule)
    def index() -> str:
        return "shop"

    app.register_blueprint(bp)
    assert [r.rule for r in app.url_map.iter_rules("shop.index")] == [url]
    assert client.get(url).text == "shop"
    with app.test_request_context():
        assert url_for("shop.index") == url


def test_url_prefix_register_option_overrides(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("shop", url_prefix="/shop")

    @bp.route("/")
    def index() -> str:
        return request.blueprint or ""

    app.register_blueprint(bp, url_prefix="/store")
    assert client.get("/store/").text == "shop"
    assert client.get("/shop/").status_code == 404


def test_no_url_prefix(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("plain")

    @bp.route("/plain")
    def index() -> str:
        return "plain"

    app.register_blueprint(bp)
    assert client.get("/plain").text == "plain"


def test_url_defaults_argument(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("pages", url_defaults={"page": 1})

    @bp.route("/list")
    def listing(page: int) -> str:
        return f"page {page}"

    @bp.route("/other", defaults={"page": 9})
    def other(page: int) -> str:
        return f"page {page}"

    app.register_blueprint(bp)
    app.register_blueprint(
        bp, name="more", url_prefix="/more", url_defaults={"page": 2}
    )

    assert client.get("/list").text == "page 1"
    assert client.get("/more/list").text == "page 2"
    # A rule's own defaults win over the blueprint's.
    assert client.get("/other").text == "page 9"


# -- subdomains ---------------------------------------------------------------


def use_subdomains(app: diota.Flask) -> None:
    """What ``subdomain_matching=True`` and ``SERVER_NAME`` would set up."""
    app.subdomain_matching = True
    app.config["SERVER_NAME"] = "example.test"


def test_blueprint_subdomain(app: diota.Flask, client: FlaskClient) -> None:
    use_subdomains(app)
    api = make_bp("api", subdomain="api")

    @api.route("/")
    def index() -> str:
        return "api"

    users = make_bp("users")

    @users.route("/")
    def home(user: str) -> str:
        return f"user {user}"

    @app.route("/")
    def index_app() -> str:
        return "root"

    app.register_blueprint(api)
    app.register_blueprint(users, subdomain="<user>")

    assert client.get("/", base_url="http://example.test").text == "root"
    assert client.get("/", base_url="http://api.example.test").text == "api"
    assert client.get("/", base_url="http://ada.example.test").text == "user ada"

    with app.app_context():
        assert url_for("api.index") == "http://api.example.test/"
        assert url_for("users.home", user="bob") == "http://bob.example.test/"


def test_nested_subdomains_are_joined(app: diota.Flask, client: FlaskClient) -> None:
    use_subdomains(app)
    parent = make_bp("parent", subdomain="api")
    child = make_bp("child", subdomain="v1")
    inherits = make_bp("inherits", url_prefix="/in")

    @child.route("/")
    def child_index() -> str:
        return "v1.api"

    @inherits.route("/")
    def inherits_index() -> str:
        return "api"

    parent.register_blueprint(child)
    parent.register_blueprint(inherits)
    app.register_blueprint(parent)

    assert client.get("/", base_url="http://v1.api.example.test").text == "v1.api"
    assert client.get("/in/", base_url="http://api.example.test").text == "api"
    assert client.get("/in/", base_url="http://example.test").status_code == 404

    with app.app_context():
        assert url_for("parent.child.child_index") == "http://v1.api.example.test/"


# -- nesting and names --------------------------------------------------------


def test_nested_blueprints(app: diota.Flask, client: FlaskClient) -> None:
    parent = make_bp("parent", url_prefix="/parent/")
    child = make_bp("child", url_prefix="/child")
    grandchild = make_bp("grandchild", url_prefix="gc")
    no_prefix = make_bp("no_prefix")

    @parent.route("/")
    def parent_index() -> str:
        return "parent"

    @child.route("/")
    def child_index() -> str:
        return f"{request.blueprint} {request.blueprints}"

    @grandchild.route("/")
    def gc_index() -> str:
        return f"{request.endpoint} {url_for('.gc_index')}"

    @no_prefix.route("/np")
    def np_index() -> str:
        return "np"

    child.register_blueprint(grandchild)
    parent.register_blueprint(child)
    parent.register_blueprint(no_prefix)
    app.register_blueprint(parent)

    assert set(app.blueprints) == {
        "parent",
        "parent.child",
        "parent.child.grandchild",
        "parent.no_prefix",
    }
    assert "parent.child.grandchild.gc_index" in app.view_functions

    assert client.get("/parent/").text == "parent"
    assert client.get("/parent/child/").text == (
        "parent.child ['parent.child', 'parent']"
    )
    assert client.get("/parent/child/gc/").text == (
        "parent.child.grandchild.gc_index /parent/child/gc/"
    )
    # Without a prefix of its own, a child uses its parent's.
    assert client.get("/parent/np").text == "np"


def test_nested_register_options(app: diota.Flask, client: FlaskClient) -> None:
    parent = make_bp("parent", url_prefix="/p")
    child = make_bp("child", url_prefix="/c")

    @child.route("/")
    def index() -> str:
        return request.blueprint or ""

    parent.register_blueprint(child, name="kid", url_prefix="/k")
    app.register_blueprint(parent)

    assert client.get("/p/k/").text == "parent.kid"
    assert client.get("/p/c/").status_code == 404
    with app.test_request_context():
        assert url_for("parent.kid.index") == "/p/k/"


def test_same_child_in_two_parents(app: diota.Flask, client: FlaskClient) -> None:
    child = make_bp("child", url_prefix="/child")

    @child.route("/")
    def index() -> str:
        return request.blueprint or ""

    one = make_bp("one", url_prefix="/one")
    two = make_bp("two", url_prefix="/two")
    one.register_blueprint(child)
    two.register_blueprint(child)
    app.register_blueprint(one)
    app.register_blueprint(two)
    app.register_blueprint(child)

    assert client.get("/one/child/").text == "one.child"
    assert client.get("/two/child/").text == "two.child"
    assert client.get("/child/").text == "child"


def test_parent_hooks_apply_to_children(app: diota.Flask, client: FlaskClient) -> None:
    log: list[str] = []
    parent = make_bp("parent", url_prefix="/p")
    child = make_bp("child", url_prefix="/c")

    @parent.before_request
    def parent_before() -> None:
        log.append("parent before")

    @child.before_request
    def child_before() -> None:
        log.append("child before")

    @parent.after_request
    def parent_after(response: diota.Response) -> diota.Response:
        log.append("parent after")
        return response

    @child.after_request
    def child_after(response: diota.Response) -> diota.Response:
        log.append("child after")
        return response

    @parent.teardown_request
    def parent_teardown(exc: BaseException | None) -> None:
        log.append("parent teardown")

    @child.teardown_request
    def child_teardown(exc: BaseException | None) -> None:
        log.append("child teardown")

    @parent.url_value_preprocessor
    def parent_values(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        log.append(f"parent values {endpoint}")

    @parent.context_processor
    def parent_context() -> dict[str, t.Any]:
        return {"origin": "parent"}

    @child.route("/")
    def index() -> str:
        log.append("view")
        return render_template_string("{{ origin }}")

    @parent.route("/")
    def parent_index() -> str:
        log.append("parent view")
        return ""

    parent.register_blueprint(child)
    app.register_blueprint(parent)

    assert client.get("/p/c/").text == "parent"
    # Outer blueprints' before hooks run first; after and teardown hooks run
    # innermost first.
    assert log == [
        "parent values parent.child.index",
        "parent before",
        "child before",
        "view",
        "child after",
        "parent after",
        "child teardown",
        "parent teardown",
    ]

    log.clear()
    client.get("/p/")
    assert log == [
        "parent values parent.parent_index",
        "parent before",
        "parent view",
        "parent after",
        "parent teardown",
    ]


def test_register_twice_needs_unique_name(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp")

    @bp.route("/")
    def index() -> str:
        return f"{request.blueprint} {url_for('.index')}"

    app.register_blueprint(bp, url_prefix="/first")

    with pytest.raises(ValueError) as exc_info:
        app.register_blueprint(bp, url_prefix="/second")
    assert str(exc_info.value) == (
        "The name 'bp' is already registered for this blueprint."
        " Use 'name=' to provide a unique name."
    )

    other = make_bp("bp")
    with pytest.raises(ValueError, match="for a different blueprint"):
        app.register_blueprint(other)

    app.register_blueprint(bp, name="alt", url_prefix="/second")
    assert app.blueprints["bp"] is bp
    assert app.blueprints["alt"] is bp
    assert client.get("/first/").text == "bp /first/"
    assert client.get("/second/").text == "alt /second/"


def test_nested_name_clash_message(app: diota.Flask) -> None:
    parent = make_bp("parent")
    parent.register_blueprint(make_bp("child"))
    parent.register_blueprint(make_bp("child"))
    with pytest.raises(
        ValueError, match="already registered for a different blueprint"
    ):
        app.register_blueprint(parent)


def test_hooks_of_a_blueprint_registered_twice(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp")

    @bp.before_request
    def before() -> None:
        g.seen = request.blueprint

    @bp.route("/")
    def index() -> str:
        return str(g.seen)

    app.register_blueprint(bp, url_prefix="/a")
    app.register_blueprint(bp, name="b", url_prefix="/b")

    assert client.get("/a/").text == "bp"
    assert client.get("/b/").text == "b"


def test_invalid_names() -> None:
    with pytest.raises(ValueError, match="'name' may not be empty"):
        make_bp("")
    with pytest.raises(ValueError, match="'name' may not contain a dot"):
        make_bp("a.b")

    bp = make_bp("bp")
    with pytest.raises(ValueError, match="'endpoint' may not contain a dot"):
        bp.add_url_rule("/", endpoint="a.b")

    def view() -> str:
        return ""

    view.__name__ = "a.b"
    with pytest.raises(ValueError, match="'view_func' name may not contain a dot"):
        bp.add_url_rule("/", view_func=view)

    with pytest.raises(ValueError, match="Cannot register a blueprint on itself"):
        bp.register_blueprint(bp)


def test_setup_after_registration_is_an_error(app: diota.Flask) -> None:
    bp = make_bp("bp")
    app.register_blueprint(bp)

    with pytest.raises(AssertionError, match="on the blueprint 'bp'"):
        bp.route("/late")
    with pytest.raises(AssertionError, match="'before_request' can no longer"):
        bp.before_request(lambda: None)


# -- error handlers -----------------------------------------------------------


def test_blueprint_error_handler_is_local(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    @bp.errorhandler(403)
    def bp_forbidden(e: HTTPException) -> tuple[str, int]:
        return "bp forbidden", 403

    @bp.route("/")
    def index() -> str:
        abort(403)

    @app.route("/")
    def app_index() -> str:
        abort(403)

    app.register_blueprint(bp)

    assert client.get("/bp/").text == "bp forbidden"
    rv = client.get("/")
    assert rv.status_code == 403
    assert "bp forbidden" not in rv.text


def test_app_errorhandler_from_blueprint(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    @bp.app_errorhandler(404)
    def not_found(e: HTTPException) -> tuple[str, int]:
        return "app-wide not found", 404

    app.register_blueprint(bp)

    rv = client.get("/nowhere")
    assert rv.status_code == 404
    assert rv.text == "app-wide not found"


def test_blueprint_404_not_used_for_unrouted_urls(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    @bp.errorhandler(404)
    def bp_not_found(e: HTTPException) -> tuple[str, int]:
        return "bp not found", 404

    @bp.route("/")
    def index() -> str:
        abort(404)

    app.register_blueprint(bp)

    assert client.get("/bp/").text == "bp not found"
    # An URL no rule matched has no blueprint, even under the prefix.
    assert client.get("/bp/missing").text != "bp not found"


def test_error_handler_lookup_order(app: diota.Flask, client: FlaskClient) -> None:
    parent = make_bp("parent", url_prefix="/p")
    child = make_bp("child", url_prefix="/c")

    @app.errorhandler(HTTPException)
    def app_any(e: HTTPException) -> tuple[str, int]:
        return "app class", e.code or 500

    @parent.errorhandler(404)
    def parent_404(e: HTTPException) -> tuple[str, int]:
        return "parent 404", 404

    @child.errorhandler(HTTPException)
    def child_any(e: HTTPException) -> tuple[str, int]:
        return "child class", e.code or 500

    @child.route("/missing")
    def child_missing() -> str:
        abort(404)

    @child.route("/forbidden")
    def child_forbidden() -> str:
        abort(403)

    @parent.route("/teapot")
    def parent_teapot() -> str:
        abort(418)

    @app.route("/missing")
    def app_missing() -> str:
        abort(404)

    parent.register_blueprint(child)
    app.register_blueprint(parent)

    # A handler for the status code wins over any class handler, even the
    # child's own.
    assert client.get("/p/c/missing").text == "parent 404"
    # No code handler: the innermost blueprint's class handler.
    rv = client.get("/p/c/forbidden")
    assert (rv.status_code, rv.text) == (403, "child class")
    # The parent has no class handler: the app's.
    rv = client.get("/p/teapot")
    assert (rv.status_code, rv.text) == (418, "app class")
    assert client.get("/missing").text == "app class"
    assert client.get("/not/routed").text == "app class"


def test_innermost_code_handler_first(app: diota.Flask, client: FlaskClient) -> None:
    parent = make_bp("parent", url_prefix="/p")
    child = make_bp("child", url_prefix="/c")

    owners: list[tuple[str, diota.Flask | Blueprint]] = [
        ("app", app),
        ("parent", parent),
        ("child", child),
    ]
    for name, owner in owners:
        owner.register_error_handler(404, lambda e, name=name: (f"{name} 404", 404))

    @child.route("/")
    def child_index() -> str:
        abort(404)

    @parent.route("/")
    def parent_index() -> str:
        abort(404)

    @app.route("/")
    def app_index() -> str:
        abort(404)

    parent.register_blueprint(child)
    app.register_blueprint(parent)

    assert client.get("/p/c/").text == "child 404"
    assert client.get("/p/").text == "parent 404"
    assert client.get("/").text == "app 404"


def test_innermost_class_handler_before_closer_class(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    @app.errorhandler(KeyError)
    def app_key(e: Exception) -> str:
        return "app KeyError"

    @bp.errorhandler(LookupError)
    def bp_lookup(e: Exception) -> str:
        return "bp LookupError"

    @bp.route("/")
    def index() -> str:
        raise KeyError("x")

    @app.route("/")
    def app_index() -> str:
        raise KeyError("x")

    app.register_blueprint(bp)

    # The blueprint is searched (along the exception's MRO) before the app.
    assert client.get("/bp/").text == "bp LookupError"
    assert client.get("/").text == "app KeyError"


def test_blueprint_handler_for_http_exception_subclass(
    app: diota.Flask, client: FlaskClient
) -> None:
    class Gone(HTTPException):
        code = 410
        description = "gone for good"

    bp = make_bp("bp", url_prefix="/bp")

    @bp.errorhandler(Gone)
    def gone(e: Gone) -> tuple[str, int]:
        return f"handled {e.description}", 410

    @bp.route("/")
    def index() -> str:
        raise Gone()

    @bp.route("/forbidden")
    def forbidden() -> str:
        raise Forbidden()

    app.register_blueprint(bp)

    rv = client.get("/bp/")
    assert (rv.status_code, rv.text) == (410, "handled gone for good")
    assert client.get("/bp/forbidden").status_code == 403


# -- request hooks ------------------------------------------------------------


def test_request_hooks_and_app_variants(app: diota.Flask, client: FlaskClient) -> None:
    log: list[str] = []
    bp = make_bp("bp", url_prefix="/bp")

    @app.before_request
    def app_before() -> None:
        log.append("app before")

    @app.after_request
    def app_after(response: diota.Response) -> diota.Response:
        log.append("app after")
        return response

    @app.teardown_request
    def app_teardown(exc: BaseException | None) -> None:
        log.append("app teardown")

    @bp.before_request
    def bp_before() -> None:
        log.append("bp before")

    @bp.before_app_request
    def bp_before_app() -> None:
        log.append("bp before_app")

    @bp.after_request
    def bp_after(response: diota.Response) -> diota.Response:
        log.append("bp after")
        response.headers["X-Bp"] = "yes"
        return response

    @bp.after_app_request
    def bp_after_app(response: diota.Response) -> diota.Response:
        log.append("bp after_app")
        return response

    @bp.teardown_request
    def bp_teardown(exc: BaseException | None) -> None:
        log.append("bp teardown")

    @bp.teardown_app_request
    def bp_teardown_app(exc: BaseException | None) -> None:
        log.append("bp teardown_app")

    @bp.route("/")
    def bp_index() -> str:
        log.append("bp view")
        return "bp"

    @app.route("/")
    def app_index() -> str:
        log.append("app view")
        return "app"

    app.register_blueprint(bp)

    rv = client.get("/bp/")
    assert rv.headers["X-Bp"] == "yes"
    assert log == [
        "app before",
        "bp before_app",
        "bp before",
        "bp view",
        "bp after",
        "bp after_app",
        "app after",
        "bp teardown",
        "bp teardown_app",
        "app teardown",
    ]

    log.clear()
    rv = client.get("/")
    assert "X-Bp" not in rv.headers
    assert log == [
        "app before",
        "bp before_app",
        "app view",
        "bp after_app",
        "app after",
        "bp teardown_app",
        "app teardown",
    ]


def test_blueprint_before_request_short_circuits(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp", url_prefix="/bp")
    called: list[str] = []

    @bp.before_request
    def block() -> tuple[str, int]:
        return "blocked", 403

    @bp.after_request
    def after(response: diota.Response) -> diota.Response:
        called.append("after")
        return response

    @bp.route("/")
    def index() -> str:
        called.append("view")
        return "view"

    app.register_blueprint(bp)

    rv = client.get("/bp/")
    assert (rv.status_code, rv.text) == (403, "blocked")
    assert called == ["after"]


def test_teardown_sees_exception(app: diota.Flask, client: FlaskClient) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    seen: list[BaseException | None] = []
    bp = make_bp("bp")

    @bp.teardown_request
    def teardown(exc: BaseException | None) -> None:
        seen.append(exc)

    @bp.route("/boom")
    def boom() -> str:
        raise ZeroDivisionError

    app.register_blueprint(bp)

    assert client.get("/boom").status_code == 500
    assert len(seen) == 1
    assert isinstance(seen[0], ZeroDivisionError)


# -- URL defaults and value preprocessors -------------------------------------


def test_blueprint_url_defaults_and_preprocessor(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("frontend", url_prefix="/<lang_code>")

    @bp.url_defaults
    def add_language_code(endpoint: str, values: dict[str, t.Any]) -> None:
        values.setdefault("lang_code", g.lang_code)

    @bp.url_value_preprocessor
    def pull_language_code(
        endpoint: str | None, values: dict[str, t.Any] | None
    ) -> None:
        assert values is not None
        g.lang_code = values.pop("lang_code")

    @bp.route("/")
    def index() -> str:
        return url_for(".about")

    @bp.route("/about")
    def about() -> str:
        return f"{g.lang_code} {url_for('.index')} {url_for('.index', lang_code='en')}"

    @app.route("/")
    def app_index() -> str:
        # The blueprint's url_defaults do not apply to other endpoints.
        g.lang_code = "xx"
        return url_for("app_index")

    app.register_blueprint(bp)

    assert client.get("/de/").text == "/de/about"
    assert client.get("/fr/about").text == "fr /fr/ /en/"
    assert client.get("/").text == "/"


def test_app_url_defaults_and_preprocessor_from_blueprint(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp")

    @bp.app_url_value_preprocessor
    def pull(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        g.version = (values or {}).pop("version", None)

    @bp.app_url_defaults
    def add(endpoint: str, values: dict[str, t.Any]) -> None:
        if app.url_map.is_endpoint_expecting(endpoint, "version"):
            values.setdefault("version", g.version)

    @app.route("/<int:version>/docs")
    def docs() -> str:
        return f"{g.version} {url_for('docs')}"

    app.register_blueprint(bp)

    assert client.get("/3/docs").text == "3 /3/docs"


# -- record and record_once ---------------------------------------------------


def test_record_and_record_once(app: diota.Flask) -> None:
    bp = make_bp("bp", url_prefix="/bp")
    calls: list[tuple[t.Any, ...]] = []

    @bp.record
    def on_register(state: BlueprintSetupState) -> None:
        assert state.blueprint is bp
        calls.append(
            (
                "record",
                state.app.name,
                state.name,
                state.url_prefix,
                state.first_registration,
                state.options.get("extra"),
            )
        )

    @bp.record_once
    def on_first(state: BlueprintSetupState) -> None:
        calls.append(("once", state.app.name, state.name))

    app.register_blueprint(bp, extra=1)
    app.register_blueprint(bp, name="again", url_prefix="/again")

    other = diota.Flask("other_app", static_folder=None)
    other.register_blueprint(bp)

    assert calls == [
        ("record", app.name, "bp", "/bp", True, 1),
        ("once", app.name, "bp"),
        ("record", app.name, "again", "/again", False, None),
        # record_once runs once per application.
        ("record", "other_app", "bp", "/bp", True, None),
        ("once", "other_app", "bp"),
    ]


def test_setup_state_add_url_rule(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    def view() -> str:
        return request.endpoint or ""

    bp.record(lambda state: state.add_url_rule("/recorded", view_func=view))
    app.register_blueprint(bp)

    assert client.get("/bp/recorded").text == "bp.view"


# -- static files and templates -----------------------------------------------


def test_blueprint_static_folder(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("assets", url_prefix="/bp", static_folder="static")
    assert bp.has_static_folder
    assert bp.static_url_path == "/static"

    app.register_blueprint(bp)

    with open(os.path.join(HERE, "static", "hello.txt"), "rb") as f:
        expected = f.read()

    with app.test_request_context():
        assert url_for("assets.static", filename="hello.txt") == "/bp/static/hello.txt"

    rv = client.get("/bp/static/hello.txt")
    assert rv.status_code == 200
    assert rv.data == expected
    rv.close()
    assert client.get("/bp/static/missing.txt").status_code == 404


def test_blueprint_static_url_path_and_max_age(
    app: diota.Flask, client: FlaskClient
) -> None:
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 60
    bp = make_bp(
        "assets", url_prefix="/bp", static_folder="static", static_url_path="/files"
    )
    app.register_blueprint(bp)

    with app.test_request_context():
        assert url_for("assets.static", filename="hello.txt") == "/bp/files/hello.txt"

    rv = client.get("/bp/files/hello.txt")
    assert rv.status_code == 200
    assert rv.cache_control.max_age == 60
    rv.close()


def test_blueprint_without_static_folder(app: diota.Flask) -> None:
    bp = make_bp("plain")
    app.register_blueprint(bp)
    assert not bp.has_static_folder
    assert "plain.static" not in app.view_functions


def test_blueprint_template_folder(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("shop", url_prefix="/shop", template_folder="bp_templates/one")

    @bp.route("/<name>")
    def item(name: str) -> str:
        return render_template("shop/item.html", name=name)

    @bp.route("/greeting")
    def greeting() -> str:
        return render_template("greeting.html", name="bp")

    app.register_blueprint(bp)

    assert client.get("/shop/pen").text == "shop item pen at /shop/pen"
    # The app's own templates folder is searched before the blueprint's.
    assert "greeting from the blueprint" not in client.get("/shop/greeting").text


def test_blueprint_templates_in_registration_order(app: diota.Flask) -> None:
    one = make_bp("one", template_folder="bp_templates/one")
    two = make_bp("two", template_folder="bp_templates/two")
    app.register_blueprint(two)
    app.register_blueprint(one)

    with app.app_context():
        assert (
            render_template("shared.txt").strip() == "shared from the second blueprint"
        )


def test_app_template_filter_test_global(app: diota.Flask) -> None:
    bp = make_bp("bp")

    @bp.app_template_filter()
    def reverse(s: str) -> str:
        return s[::-1]

    @bp.app_template_filter("shout")
    def make_loud(s: str) -> str:
        return s.upper()

    @bp.app_template_test()
    def even(n: int) -> bool:
        return n % 2 == 0

    @bp.app_template_test("odd_number")
    def is_odd(n: int) -> bool:
        return n % 2 == 1

    @bp.app_template_global()
    def answer() -> int:
        return 42

    @bp.app_template_global("site")
    def site_name() -> str:
        return "diota"

    bp.add_app_template_filter(lambda s: f"[{s}]", name="bracket")
    bp.add_app_template_test(lambda n: n > 10, name="big")
    bp.add_app_template_global(lambda: "added", name="added")

    app.register_blueprint(bp)

    assert app.jinja_env.filters["reverse"] is reverse
    assert app.jinja_env.filters["shout"] is make_loud
    assert app.jinja_env.tests["even"] is even
    assert app.jinja_env.globals["site"] is site_name

    with app.app_context():
        rv = render_template_string(
            "{{ 'abc'|reverse }} {{ 'hi'|shout }} {{ 'x'|bracket }}"
            " {{ 4 is even }} {{ 3 is odd_number }} {{ 12 is big }}"
            " {{ answer() }} {{ site() }} {{ added() }}"
        )
    assert rv == "cba HI [x] True True True 42 diota added"


def test_blueprint_context_processors(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    @bp.context_processor
    def local() -> dict[str, t.Any]:
        return {"local": "bp-only"}

    @bp.app_context_processor
    def everywhere() -> dict[str, t.Any]:
        return {"everywhere": "all"}

    template = "{{ local|default('none') }} {{ everywhere }}"

    @bp.route("/")
    def bp_index() -> str:
        return render_template_string(template)

    @app.route("/")
    def app_index() -> str:
        return render_template_string(template)

    app.register_blueprint(bp)

    assert client.get("/bp/").text == "bp-only all"
    assert client.get("/").text == "none all"


# -- CLI ----------------------------------------------------------------------


def make_cli_bp(**kwargs: t.Any) -> Blueprint:
    bp = make_bp("tools", **kwargs)

    @bp.cli.command("hello")
    def hello() -> None:
        click.echo("hello from tools")

    return bp


def test_cli_group_defaults_to_blueprint_name(app: diota.Flask) -> None:
    app.register_blueprint(make_cli_bp())
    result = app.test_cli_runner().invoke(args=["tools", "hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from tools\n"


def test_cli_group_none_merges_into_app(app: diota.Flask) -> None:
    app.register_blueprint(make_cli_bp(cli_group=None))
    assert "tools" not in app.cli.commands
    result = app.test_cli_runner().invoke(args=["hello"])
    assert result.output == "hello from tools\n"


def test_cli_group_custom_name(app: diota.Flask) -> None:
    app.register_blueprint(make_cli_bp(cli_group="utils"))
    result = app.test_cli_runner().invoke(args=["utils", "hello"])
    assert result.output == "hello from tools\n"


def test_cli_group_register_option(app: diota.Flask) -> None:
    app.register_blueprint(make_cli_bp(cli_group="utils"), cli_group="other")
    assert "utils" not in app.cli.commands
    result = app.test_cli_runner().invoke(args=["other", "hello"])
    assert result.output == "hello from tools\n"


def test_blueprint_without_commands_adds_no_group(app: diota.Flask) -> None:
    app.register_blueprint(make_bp("quiet"))
    assert "quiet" not in app.cli.commands


# -- misc ---------------------------------------------------------------------


def test_blueprint_route_shortcuts_and_endpoint(
    app: diota.Flask, client: FlaskClient
) -> None:
    bp = make_bp("bp", url_prefix="/bp")

    @bp.get("/")
    def read() -> str:
        return "get"

    @bp.post("/")
    def write() -> str:
        return "post"

    # A blueprint's endpoint decorator names the endpoint exactly, without
    # the blueprint's prefix: it serves a rule the app added.
    app.add_url_rule("/named", endpoint="named")

    @bp.endpoint("named")
    def named() -> str:
        return request.endpoint or ""

    app.register_blueprint(bp)

    assert client.get("/bp/").text == "get"
    assert client.post("/bp/").text == "post"
    assert client.get("/named").text == "named"
    assert client.get("/bp/named").status_code == 404


def test_request_blueprint_attributes(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("bp")

    @bp.route("/in")
    def inside() -> str:
        return repr((request.blueprint, request.blueprints))

    @app.route("/out")
    def outside() -> str:
        return repr((request.blueprint, request.blueprints))

    app.register_blueprint(bp)

    assert client.get("/in").text == "('bp', ['bp'])"
    assert client.get("/out").text == "(None, [])"
    assert list(app.iter_blueprints()) == [bp]


def test_not_found_error_is_notfound(app: diota.Flask, client: FlaskClient) -> None:
    bp = make_bp("bp")
    caught: list[type[BaseException]] = []

    @bp.errorhandler(NotFound)
    def handler(e: NotFound) -> tuple[str, int]:
        caught.append(type(e))
        return "nf", 404

    @bp.route("/x")
    def x() -> str:
        abort(404)

    app.register_blueprint(bp)
    assert client.get("/x").text == "nf"
    assert caught == [NotFound]
