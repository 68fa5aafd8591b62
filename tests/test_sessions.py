from __future__ import annotations

import hashlib
import re
import typing as t
import uuid
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.http import parse_date
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

import diota
from diota.globals import request_ctx
from diota.json.tag import TaggedJSONSerializer
from diota.sessions import _lazy_sha1
from diota.sessions import NullSession
from diota.sessions import SecureCookieSession
from diota.sessions import SecureCookieSessionInterface
from diota.sessions import session_json_serializer
from diota.sessions import SessionInterface
from diota.sessions import SessionMixin

# -- session objects -----------------------------------------------------------


def test_mixin_defaults() -> None:
    class DictSession(dict, SessionMixin):  # type: ignore[type-arg, misc]
        pass

    s = DictSession()
    assert s.new is False
    assert s.modified is True
    assert s.accessed is False
    assert s.permanent is False
    s.permanent = 1  # type: ignore[assignment]
    assert s["_permanent"] is True
    assert s.permanent is True


def test_secure_cookie_session_tracks_modification() -> None:
    s = SecureCookieSession({"a": 1})
    assert s.modified is False
    assert s.accessed is False
    assert s.new is False
    # Reads do not count as modification.
    assert s["a"] == 1
    assert s.get("b") is None
    assert "a" in s
    assert s.modified is False

    s["b"] = 2
    assert s.modified is True


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.__setitem__("x", 1),
        lambda s: s.__delitem__("a"),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.clear(),
        lambda s: s.update(x=1),
        lambda s: s.setdefault("x", 1),
        lambda s: setattr(s, "permanent", True),
    ],
)
def test_every_mutation_sets_modified(change: t.Callable[[t.Any], t.Any]) -> None:
    s = SecureCookieSession({"a": 1})
    change(s)
    assert s.modified is True


def test_nested_mutation_is_not_tracked() -> None:
    s = SecureCookieSession({"items": []})
    s["items"].append(1)
    assert s.modified is False


def test_null_session_reads_but_refuses_writes() -> None:
    s = NullSession()
    assert s.get("x") is None
    assert "x" not in s
    assert len(s) == 0
    assert dict(s) == {}
    assert s.permanent is False

    for attempt in (
        lambda: s.__setitem__("x", 1),
        lambda: s.__delitem__("x"),
        lambda: s.clear(),
        lambda: s.pop("x"),
        lambda: s.popitem(),
        lambda: s.update(x=1),
        lambda: s.setdefault("x", 1),
    ):
        with pytest.raises(RuntimeError, match="no secret key was set"):
            attempt()


def test_interface_class_attributes() -> None:
    assert SessionInterface.null_session_class is NullSession
    assert SessionInterface.pickle_based is False
    si = SecureCookieSessionInterface()
    assert si.salt == "cookie-session"
    assert si.key_derivation == "hmac"
    assert si.serializer is session_json_serializer
    assert isinstance(si.serializer, TaggedJSONSerializer)
    assert si.session_class is SecureCookieSession
    assert si.digest_method().name == "sha1"
    assert si.digest_method(b"x").digest() == hashlib.sha1(b"x").digest()


def test_base_interface_abstract_methods(app: diota.Flask) -> None:
    si = SessionInterface()

    with app.test_request_context():
        with pytest.raises(NotImplementedError):
            si.open_session(app, diota.request)

        with pytest.raises(NotImplementedError):
            si.save_session(app, SecureCookieSession(), app.response_class())


def test_null_session_helpers(app: diota.Flask) -> None:
    class MyNull(NullSession):
        pass

    class MyInterface(SecureCookieSessionInterface):
        null_session_class = MyNull

    si = MyInterface()
    null = si.make_null_session(app)
    assert type(null) is MyNull
    assert si.is_null_session(null)
    assert not si.is_null_session(SecureCookieSession())
    assert not SessionInterface().is_null_session({})


# -- config driven helpers -----------------------------------------------------


def test_cookie_helpers_read_config(app: diota.Flask) -> None:
    si = app.session_interface
    app.config.update(
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH=None,
        APPLICATION_ROOT="/app",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PARTITIONED=True,
    )
    assert si.get_cookie_name(app) == "sid"
    assert si.get_cookie_domain(app) == "example.com"
    assert si.get_cookie_path(app) == "/app"
    app.config["SESSION_COOKIE_PATH"] = "/p"
    assert si.get_cookie_path(app) == "/p"
    assert si.get_cookie_httponly(app) is False
    assert si.get_cookie_secure(app) is True
    assert si.get_cookie_samesite(app) == "Strict"
    assert si.get_cookie_partitioned(app) is True


def test_cookie_helper_defaults(app: diota.Flask) -> None:
    si = app.session_interface
    assert isinstance(si, SecureCookieSessionInterface)
    assert si.get_cookie_name(app) == "session"
    assert si.get_cookie_domain(app) is None
    assert si.get_cookie_path(app) == "/"
    assert si.get_cookie_httponly(app) is True
    assert si.get_cookie_secure(app) is False
    assert si.get_cookie_samesite(app) is None
    assert si.get_cookie_partitioned(app) is False


def test_expiration_time(app: diota.Flask) -> None:
    si = app.session_interface
    s = SecureCookieSession()
    assert si.get_expiration_time(app, s) is None
    s.permanent = True
    app.permanent_session_lifetime = timedelta(hours=1)
    before = datetime.now(timezone.utc)
    expires = si.get_expiration_time(app, s)
    assert expires is not None
    assert expires.tzinfo is not None
    assert before + timedelta(hours=1) <= expires
    assert expires <= datetime.now(timezone.utc) + timedelta(hours=1)


def test_should_set_cookie(app: diota.Flask) -> None:
    si = app.session_interface
    s = SecureCookieSession({"a": 1})
    assert not si.should_set_cookie(app, s)
    s.modified = True
    assert si.should_set_cookie(app, s)

    permanent = SecureCookieSession({"_permanent": True})
    assert si.should_set_cookie(app, permanent)
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert not si.should_set_cookie(app, permanent)


def test_signing_serializer(app: diota.Flask) -> None:
    si = SecureCookieSessionInterface()
    s = si.get_signing_serializer(app)
    assert isinstance(s, URLSafeTimedSerializer)
    assert s.salt == b"cookie-session"
    assert s.secret_keys == [b"test key"]
    assert s.loads(s.dumps({"a": (1,)})) == {"a": (1,)}

    app.config["SECRET_KEY_FALLBACKS"] = ["old 2", "old 1"]
    s = si.get_signing_serializer(app)
    assert s is not None
    # The current key is last: itsdangerous signs with the last key.
    assert s.secret_keys == [b"old 2", b"old 1", b"test key"]

    app.secret_key = None
    assert si.get_signing_serializer(app) is None


def test_open_session_without_secret_key(app: diota.Flask) -> None:
    app.secret_key = None

    with app.test_request_context():
        assert app.session_interface.open_session(app, diota.request) is None
        # The request context falls back to a null session.
        assert isinstance(diota.session, NullSession)
        assert diota.session.get("missing") is None

        with pytest.raises(RuntimeError, match="session is unavailable"):
            diota.session["x"] = 1


# -- through requests ----------------------------------------------------------


def _cookie(rv: t.Any) -> str:
    return ", ".join(rv.headers.getlist("Set-Cookie"))


def test_session_round_trip(app: diota.Flask, client: t.Any) -> None:
    @app.post("/")
    def store() -> str:
        diota.session["value"] = diota.request.form["value"]
        return "stored"

    @app.get("/")
    def show() -> str:
        return str(diota.session.get("value"))

    assert client.get("/").text == "None"
    rv = client.post("/", data={"value": "42"})
    assert "session=" in _cookie(rv)
    assert "HttpOnly" in _cookie(rv)
    assert "Path=/" in _cookie(rv)
    assert client.get("/").text == "42"


def test_cookie_is_signed_tagged_json(app: diota.Flask, client: t.Any) -> None:
    @app.route("/")
    def store() -> str:
        diota.session["t"] = (1, 2)
        return ""

    @app.route("/read")
    def read() -> t.Any:
        return dict(diota.session)

    client.get("/")
    cookie = client.get_cookie("session")
    si = SecureCookieSessionInterface()
    signer = si.get_signing_serializer(app)
    assert signer is not None
    assert signer.loads(cookie.value) == {"t": (1, 2)}

    # A cookie made by another secret key is ignored: the session is empty.
    other = URLSafeTimedSerializer(
        "other",
        salt="cookie-session",
        serializer=session_json_serializer,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    client.set_cookie("session", other.dumps({"t": 1}))

    assert client.get("/read").json == {}


def test_untouched_session_sets_no_cookie_or_vary(
    app: diota.Flask, client: t.Any
) -> None:
    @app.route("/")
    def index() -> str:
        return ""

    rv = client.get("/")
    assert "Set-Cookie" not in rv.headers
    assert "Vary" not in rv.headers


def test_session_accessed_flag(app: diota.Flask, client: t.Any) -> None:
    @app.post("/")
    def do_set() -> str:
        diota.session["value"] = "x"
        return ""

    @app.get("/")
    def do_get() -> str:
        return str(diota.session.get("value"))

    @app.get("/len")
    def do_len() -> str:
        # Only looking at the keys still counts as access.
        return str(len(diota.session))

    @app.get("/nothing")
    def do_nothing() -> str:
        return ""

    with client:
        rv = client.get("/nothing")
        assert "cookie" not in rv.vary
        # Never used: not even opened (a request without cookies) until here.
        assert request_ctx._opened_session is None
        assert not request_ctx._session.accessed
        assert not request_ctx._session.modified

    with client:
        rv = client.post("/")
        assert "cookie" in rv.vary
        assert request_ctx._session.accessed
        assert request_ctx._session.modified

    with client:
        rv = client.get("/")
        assert rv.text == "x"
        assert "cookie" in rv.vary
        assert request_ctx._session.accessed
        assert not request_ctx._session.modified

    rv = client.get("/len")
    assert rv.text == "1"
    assert "cookie" in rv.vary


def test_vary_header_merging(app: diota.Flask, client: t.Any) -> None:
    @app.route("/own-vary")
    def own_vary() -> t.Any:
        rv = app.response_class()
        rv.vary.update(("Accept-Encoding", "Accept-Language"))
        diota.session["x"] = 1
        return rv

    @app.route("/cookie-vary")
    def cookie_vary() -> t.Any:
        rv = app.response_class()
        rv.vary.add("Cookie")
        diota.session["x"] = 1
        return rv

    rv = client.get("/own-vary")
    assert rv.headers.getlist("Vary") == ["Accept-Encoding, Accept-Language, Cookie"]
    rv = client.get("/cookie-vary")
    assert rv.headers.getlist("Vary") == ["Cookie"]


def test_clearing_session_deletes_cookie(app: diota.Flask, client: t.Any) -> None:
    app.config.update(
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PARTITIONED=True,
        SESSION_COOKIE_PATH="/",
    )

    @app.route("/set")
    def set_() -> str:
        diota.session["a"] = 1
        return ""

    @app.route("/clear")
    def clear() -> str:
        diota.session.clear()
        return ""

    client.get("/set", "https://www.example.com/")
    rv = client.get("/clear", "https://www.example.com/")
    cookie = _cookie(rv).lower()
    assert "session=;" in cookie
    assert "expires=thu, 01 jan 1970" in cookie
    assert "domain=example.com" in cookie
    assert "secure" in cookie
    assert "samesite=lax" in cookie
    assert "partitioned" in cookie
    assert rv.headers["Vary"] == "Cookie"
    assert client.get_cookie("session", domain="example.com") is None


def test_cookie_attributes_from_config(app: diota.Flask, client: t.Any) -> None:
    app.config.update(
        SERVER_NAME="www.example.com:8080",
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN=".example.com",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/sub",
    )

    @app.route("/")
    def index() -> str:
        diota.session["a"] = 1
        return ""

    cookie = _cookie(client.get("/", "http://www.example.com:8080/")).lower()
    assert cookie.startswith("sid=")
    assert "domain=example.com" in cookie or "domain=.example.com" in cookie
    assert "path=/sub" in cookie
    assert "secure" in cookie
    assert "httponly" not in cookie
    assert "samesite=strict" in cookie
    assert "partitioned" not in cookie


def test_invalid_samesite_raises(app: diota.Flask, client: t.Any) -> None:
    app.config["SESSION_COOKIE_SAMESITE"] = "bogus"

    @app.route("/")
    def index() -> str:
        diota.session["a"] = 1
        return ""

    with pytest.raises(ValueError):
        client.get("/")


def test_cookie_path_uses_application_root(app: diota.Flask, client: t.Any) -> None:
    app.config["APPLICATION_ROOT"] = "/foo"

    @app.route("/")
    def index() -> str:
        diota.session["a"] = 1
        return ""

    rv = client.get("/", "http://example.com:8080/foo")
    assert "path=/foo" in _cookie(rv).lower()


def test_permanent_session_expiry(app: diota.Flask, client: t.Any) -> None:
    permanent = True

    @app.route("/")
    def index() -> str:
        diota.session["a"] = 1
        diota.session.permanent = permanent
        return ""

    @app.route("/check")
    def check() -> str:
        return str(diota.session.permanent)

    rv = client.get("/")
    match = re.search(r"(?i)\bexpires=([^;]+)", _cookie(rv))
    assert match is not None
    expires = parse_date(match.group(1))
    assert expires is not None
    expected = datetime.now(timezone.utc) + app.permanent_session_lifetime
    assert abs(expires - expected) < timedelta(minutes=1)
    assert client.get("/check").text == "True"

    permanent = False
    rv = client.get("/")
    assert "set-cookie" in rv.headers
    assert re.search(r"(?i)\bexpires=", _cookie(rv)) is None


@pytest.mark.parametrize(
    ("permanent", "refresh", "expect_cookie"),
    [
        (True, True, True),
        (True, False, False),
        (False, True, False),
        (False, False, False),
    ],
)
def test_refresh_each_request(
    app: diota.Flask, permanent: bool, refresh: bool, expect_cookie: bool
) -> None:
    app.config["SESSION_REFRESH_EACH_REQUEST"] = refresh

    @app.route("/bump")
    def bump() -> str:
        value = diota.session["n"] = diota.session.get("n", 0) + 1
        diota.session.permanent = permanent
        return str(value)

    @app.route("/read")
    def read() -> str:
        return str(diota.session.get("n", 0))

    with app.test_client() as c:
        assert c.get("/bump").text == "1"
        assert c.get("/bump").text == "2"
        rv = c.get("/read")
        assert rv.text == "2"
        assert ("Set-Cookie" in rv.headers) == expect_cookie


def test_refreshed_permanent_session_varies(app: diota.Flask, client: t.Any) -> None:
    @app.route("/login")
    def login() -> str:
        diota.session["user"] = 1
        diota.session.permanent = True
        return ""

    @app.route("/other")
    def other() -> str:
        return ""

    assert client.get("/login").headers["Vary"] == "Cookie"
    # The session is not touched, but it is refreshed and so still varies.
    assert client.get("/other").headers["Vary"] == "Cookie"


def test_expired_session_is_empty(app: diota.Flask, client: t.Any) -> None:
    @app.route("/set")
    def set_() -> str:
        diota.session["a"] = 1
        return ""

    @app.route("/get")
    def get() -> t.Any:
        return dict(diota.session)

    client.get("/set")
    assert client.get("/get").json == {"a": 1}
    app.permanent_session_lifetime = timedelta(seconds=-1)
    assert client.get("/get").json == {}


def test_secret_key_fallbacks(app: diota.Flask, client: t.Any) -> None:
    @app.post("/")
    def store() -> str:
        diota.session["a"] = 1
        return ""

    @app.get("/")
    def show() -> t.Any:
        return dict(diota.session)

    app.secret_key = "current"
    app.config["SECRET_KEY_FALLBACKS"] = ["older", "oldest"]
    client.post("/")
    assert client.get("/").json == {"a": 1}

    app.secret_key = "unrelated"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/").json == {}

    app.secret_key = "newer"
    app.config["SECRET_KEY_FALLBACKS"] = ["current"]
    assert client.get("/").json == {"a": 1}


def test_special_types_survive(app: diota.Flask, client: t.Any) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    uid = uuid.uuid4()

    @app.route("/")
    def store() -> t.Any:
        diota.session.update(
            t=(1, 2, 3),
            b=b"\xff",
            m=Markup("<html>"),
            u=uid,
            d=now,
            tag_like={" t": "not-a-tuple"},
            di_like={" di": "not-a-dict"},
        )
        return "", 204

    with client:
        client.get("/")
        s = diota.session
        assert s["t"] == (1, 2, 3)
        assert type(s["b"]) is bytes
        assert type(s["m"]) is Markup
        assert s["u"] == uid
        assert s["d"] == now
        assert s["tag_like"] == {" t": "not-a-tuple"}
        assert s["di_like"] == {" di": "not-a-dict"}


def test_session_modified_in_after_request(app: diota.Flask, client: t.Any) -> None:
    @app.after_request
    def touch(response: t.Any) -> t.Any:
        diota.session["later"] = True
        return response

    @app.route("/")
    def index() -> str:
        return repr(diota.session.get("later"))

    assert client.get("/").text == "None"
    assert client.get("/").text == "True"


def test_custom_session_interface(app: diota.Flask, client: t.Any) -> None:
    store: dict[str, t.Any] = {}

    class DictSession(dict, SessionMixin):  # type: ignore[type-arg, misc]
        pass

    class ServerSide(SessionInterface):
        def open_session(self, app: t.Any, request: t.Any) -> DictSession:
            return DictSession(store)

        def save_session(self, app: t.Any, session: t.Any, response: t.Any) -> None:
            store.clear()
            store.update(session)
            response.headers["X-Saved"] = str(len(session))

    app.session_interface = ServerSide()

    @app.route("/")
    def index() -> str:
        diota.session["n"] = diota.session.get("n", 0) + 1
        return str(diota.session["n"])

    assert client.get("/").text == "1"
    rv = client.get("/")
    assert rv.text == "2"
    assert rv.headers["X-Saved"] == "1"
    assert store == {"n": 2}


def test_custom_serializer_and_salt(app: diota.Flask, client: t.Any) -> None:
    class Interface(SecureCookieSessionInterface):
        salt = "other-salt"
        digest_method = staticmethod(hashlib.sha256)

    app.session_interface = Interface()

    @app.route("/")
    def index() -> str:
        diota.session["n"] = diota.session.get("n", 0) + 1
        return str(diota.session["n"])

    assert client.get("/").text == "1"
    assert client.get("/").text == "2"
    cookie = client.get_cookie("session").value
    sha1_signer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert sha1_signer is not None

    with pytest.raises(Exception, match="Signature"):
        sha1_signer.loads(cookie)


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures made in the same second: equal output can be compared."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)


def _itsdangerous_serializer(
    keys: list[str], **signer_kwargs: t.Any
) -> URLSafeTimedSerializer:
    """Plain itsdangerous, configured as Flask's session interface is."""
    kwargs: dict[str, t.Any] = {"key_derivation": "hmac", "digest_method": _lazy_sha1}
    kwargs.update(signer_kwargs)
    return URLSafeTimedSerializer(
        keys,  # type: ignore[arg-type]
        salt="cookie-session",
        serializer=session_json_serializer,
        signer_kwargs=kwargs,
    )


@pytest.mark.parametrize(
    "data", [{"count": 5}, {"user": "ada", "items": list(range(50)), "x": "y" * 300}]
)
def test_signed_cookie_is_what_itsdangerous_makes(
    app: diota.Flask, data: dict[str, t.Any], fixed_clock: None
) -> None:
    # Existing Flask cookies must stay valid, and diota's valid in Flask.
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    reference = _itsdangerous_serializer([app.secret_key])
    assert serializer.dumps(data) == reference.dumps(data)
    assert serializer.loads(reference.dumps(data)) == data
    assert reference.loads(serializer.dumps(data)) == data
    # Signed twice with the same signer: the kept key gives the same result.
    assert serializer.loads(serializer.dumps(data)) == data


@pytest.mark.parametrize(
    "signer_kwargs",
    [
        {"digest_method": hashlib.sha256},
        {"digest_method": lambda data=b"": hashlib.sha512(data)},
        {"key_derivation": "concat"},
        {"key_derivation": "django-concat"},
        {"key_derivation": "none"},
    ],
    ids=["sha256", "custom-digest", "concat", "django-concat", "none"],
)
def test_signing_settings_match_itsdangerous(
    app: diota.Flask, signer_kwargs: dict[str, t.Any], fixed_clock: None
) -> None:
    interface = SecureCookieSessionInterface()
    if "digest_method" in signer_kwargs:
        interface.digest_method = signer_kwargs["digest_method"]  # type: ignore[method-assign]
    if "key_derivation" in signer_kwargs:
        interface.key_derivation = signer_kwargs["key_derivation"]
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    reference = _itsdangerous_serializer([app.secret_key], **signer_kwargs)
    assert serializer.dumps({"a": 1}) == reference.dumps({"a": 1})
    assert serializer.loads(reference.dumps({"a": 1})) == {"a": 1}


def test_tampered_or_foreign_cookie_is_refused(app: diota.Flask) -> None:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    good = serializer.dumps({"admin": False})
    payload, _, rest = good.partition(".")
    forged = serializer.dump_payload({"admin": True}).decode() + "." + rest
    with pytest.raises(BadSignature):
        serializer.loads(forged)
    other = _itsdangerous_serializer(["another key"]).dumps({"admin": True})
    with pytest.raises(BadSignature):
        serializer.loads(other)
    # A fallback key is accepted, whichever order the cache saw them in.
    app.config["SECRET_KEY_FALLBACKS"] = ["another key"]
    rotated = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert rotated.loads(other) == {"admin": True}
    assert rotated.loads(good) == {"admin": False}


# -- the one-pass cookie codec ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"count": 5},
        {" t": ["looks", "like", "a", "tag"]},
        {"m": Markup("<b>safe</b>"), "tuple": (1, 2), "bytes": b"\x00\x01"},
        {
            "nested": {" di": {"x": 1}},
            "when": datetime(2026, 1, 2, tzinfo=timezone.utc),
        },
        {"big": "z" * 400},
    ],
    ids=["plain", "tag-key", "tagged-values", "nested", "compressed"],
)
def test_cookies_round_trip_with_itsdangerous_both_ways(
    app: diota.Flask, data: dict[str, t.Any]
) -> None:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    reference = _itsdangerous_serializer([app.secret_key])
    with app.app_context():
        ours = serializer.dumps(data)
        assert reference.loads(ours) == data
        assert serializer.loads(reference.dumps(data), max_age=60) == data
        assert serializer.loads(ours, max_age=60) == data
    # A long payload is compressed, as itsdangerous does.
    assert ours.startswith(".") == (len(str(data)) > 256)


def test_expired_tampered_and_malformed_cookies_raise_as_itsdangerous(
    app: diota.Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)
    with app.app_context():
        cookie = serializer.dumps({"a": 1})
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_100)
    with pytest.raises(SignatureExpired):
        serializer.loads(cookie, max_age=50)
    payload, timestamp, signature = cookie.split(".")
    for bad in (
        f"{payload}x.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[:-2]}",
        f"{payload}.{signature}",
        "no-dots-at-all",
        "",
    ):
        with pytest.raises(BadSignature):
            serializer.loads(bad, max_age=500)
    assert serializer.loads(cookie, max_age=500, return_timestamp=True)[0] == {"a": 1}


def test_request_cookies_are_read_as_werkzeug_reads_them(app: diota.Flask) -> None:
    @app.route("/cookies")
    def cookies() -> dict[str, t.Any]:
        return {
            "cookies": diota.request.cookies.to_dict(),
            "count": diota.session.get("n"),
        }

    header = 'a=1; b="two words"; c=%ff; d=\xff\xfe'  # not UTF-8 once encoded
    environ = EnvironBuilder(headers={"Cookie": header}).get_environ()
    expected = WerkzeugRequest(environ).cookies.to_dict()
    # Without the cookie jar, which would replace the Cookie header.
    client = app.test_client(use_cookies=False)
    rv = client.get("/cookies", headers={"Cookie": header})
    assert rv.status_code == 200
    assert rv.json == {"cookies": expected, "count": None}
    assert expected["b"] == "two words"
