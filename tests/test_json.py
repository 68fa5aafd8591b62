from __future__ import annotations

import dataclasses
import datetime
import decimal
import io
import json as stdlib_json
import typing as t
import uuid

import pytest
from markupsafe import Markup
from werkzeug.http import http_date

import diota
from diota import json
from diota.json.provider import DefaultJSONProvider
from diota.json.provider import JSONProvider


@dataclasses.dataclass
class Point:
    x: int
    y: int


class HTMLThing:
    def __html__(self) -> str:
        return "<em>hi</em>"


class UTCPlus(datetime.tzinfo):
    def __init__(self, hours: int) -> None:
        self.offset = datetime.timedelta(hours=hours)

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return self.offset

    def tzname(self, dt: datetime.datetime | None) -> str:
        return f"UTC{self.offset}"

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta()


# -- without an application context ----------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (decimal.Decimal("0.003"), '"0.003"'),
        (uuid.UUID(int=1), '"00000000-0000-0000-0000-000000000001"'),
        (datetime.date(1975, 1, 5), f'"{http_date(datetime.date(1975, 1, 5))}"'),
        (
            datetime.datetime(1973, 3, 11, 6, 30, 45),
            '"Sun, 11 Mar 1973 06:30:45 GMT"',
        ),
        (Point(1, 2), '{"x": 1, "y": 2}'),
        (HTMLThing(), '"<em>hi</em>"'),
        (Markup("<b>"), '"<b>"'),
    ],
)
def test_dumps_extra_types_without_app(value: t.Any, expected: str) -> None:
    assert json.dumps(value) == expected


@pytest.mark.parametrize("hours", [0, -8, 9])
def test_aware_datetime_is_converted_to_gmt(hours: int) -> None:
    dt = datetime.datetime(2017, 1, 1, 12, 34, 56, tzinfo=UTCPlus(hours))
    expected = dt.astimezone(datetime.timezone.utc).strftime(
        '"%a, %d %b %Y %H:%M:%S GMT"'
    )
    assert json.dumps(dt) == expected


def test_dumps_without_app_uses_stdlib_defaults() -> None:
    # Outside an app, only the extra types are added: no key sorting.
    assert json.dumps({"b": 1, "a": 2}) == '{"b": 1, "a": 2}'
    assert json.dumps("\N{SNOWMAN}", ensure_ascii=False) == '"\N{SNOWMAN}"'


def test_unserializable_type_error() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON"):
        json.dumps(object())

    # A dataclass class (not an instance) is not converted.
    with pytest.raises(TypeError, match="Object of type type"):
        json.dumps(Point)


def test_custom_default_overrides_without_app() -> None:
    assert json.dumps(object(), default=lambda o: "custom") == '"custom"'


def test_dump_load_files_without_app() -> None:
    out = io.StringIO()
    json.dump({"when": datetime.date(2000, 1, 1)}, out)
    out.seek(0)
    assert json.load(out) == {"when": http_date(datetime.date(2000, 1, 1))}
    assert json.loads(b'{"a": [1]}') == {"a": [1]}
    assert json.load(io.BytesIO(b"[true]")) == [True]


# -- the provider ------------------------------------------------------------


def test_base_provider(app: diota.Flask) -> None:
    class Minimal(JSONProvider):
        def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
            return f"<{obj!r}>"

        def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
            return f"loaded {s!r}"

    provider = Minimal(app)
    out = io.StringIO()
    provider.dump(1, out)
    assert out.getvalue() == "<1>"
    assert provider.load(io.StringIO("x")) == "loaded 'x'"

    with app.app_context():
        rv = provider.response(1, 2)

    assert rv.mimetype == "application/json"
    assert rv.get_data(as_text=True) == "<(1, 2)>"

    base = JSONProvider(app)

    with pytest.raises(NotImplementedError):
        base.dumps(1)

    with pytest.raises(NotImplementedError):
        base.loads("1")


def test_provider_holds_weak_proxy(app: diota.Flask) -> None:
    provider = DefaultJSONProvider(app)
    assert provider._app.name == app.name
    assert provider._app is not app


def test_app_provider_defaults(app: diota.Flask) -> None:
    assert isinstance(app.json, DefaultJSONProvider)
    assert app.json.ensure_ascii is True
    assert app.json.sort_keys is True
    assert app.json.compact is None
    assert app.json.mimetype == "application/json"


@pytest.mark.parametrize(
    ("ensure_ascii", "expected"), [(True, '"\\u2603"'), (False, '"\u2603"')]
)
def test_ensure_ascii(app: diota.Flask, ensure_ascii: bool, expected: str) -> None:
    app.json.ensure_ascii = ensure_ascii  # type: ignore[attr-defined]
    assert app.json.dumps("\N{SNOWMAN}") == expected


def test_sort_keys(app: diota.Flask) -> None:
    assert app.json.dumps({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    app.json.sort_keys = False  # type: ignore[attr-defined]
    assert app.json.dumps({"b": 1, "a": 2}) == '{"b": 1, "a": 2}'
    # Explicit arguments win over the attributes.
    assert app.json.dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a": 2, "b": 1}'


def test_json_module_follows_app_provider(app: diota.Flask) -> None:
    with app.app_context():
        assert json.dumps({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
        out = io.StringIO()
        json.dump({"name": "diota"}, out)
        out.seek(0)
        assert json.load(out) == {"name": "diota"}

    class Upper(DefaultJSONProvider):
        def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
            return super().dumps(obj, **kwargs).upper()

        def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
            return ("custom", super().loads(s, **kwargs))

    app.json = Upper(app)

    with app.app_context():
        assert json.dumps("abc") == '"ABC"'
        assert json.loads("1") == ("custom", 1)
        assert json.load(io.StringIO("2")) == ("custom", 2)


def test_custom_default_function(app: diota.Flask, client: t.Any) -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    def default(o: t.Any) -> t.Any:
        if isinstance(o, Money):
            return f"${o.cents / 100:.2f}"

        return DefaultJSONProvider.default(o)

    app.json.default = default  # type: ignore[attr-defined]

    @app.route("/")
    def index() -> t.Any:
        return diota.jsonify(price=Money(150), day=datetime.date(2020, 2, 2))

    data = client.get("/").get_json()
    assert data == {"price": "$1.50", "day": http_date(datetime.date(2020, 2, 2))}


def test_custom_loads_used_by_request_json(app: diota.Flask, client: t.Any) -> None:
    class Hooked(DefaultJSONProvider):
        def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
            kwargs.setdefault("parse_int", lambda v: int(v) * 2)
            return super().loads(s, **kwargs)

    app.json = Hooked(app)

    @app.post("/")
    def index() -> t.Any:
        return str(diota.request.get_json()["n"])

    rv = client.post("/", data='{"n": 21}', content_type="application/json")
    assert rv.data == b"42"


# -- jsonify -----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 23, 3.14, "s", True, False, None])
def test_jsonify_scalars(app: diota.Flask, client: t.Any, value: t.Any) -> None:
    app.add_url_rule("/", "index", lambda: diota.jsonify(value))
    rv = client.get("/")
    assert rv.mimetype == "application/json"
    assert json.loads(rv.data) == value


def test_jsonify_args_kwargs(app: diota.Flask) -> None:
    with app.app_context():
        assert json.loads(diota.jsonify().data) is None
        assert json.loads(diota.jsonify([1, 2]).data) == [1, 2]
        assert json.loads(diota.jsonify(1, "a", None).data) == [1, "a", None]
        assert json.loads(diota.jsonify(a=1, b=[2]).data) == {"a": 1, "b": [2]}
        assert json.loads(diota.jsonify({"a": 1}).data) == {"a": 1}

        with pytest.raises(TypeError, match="either args or kwargs, not both"):
            diota.jsonify(1, a=2)


def test_jsonify_response_shape(app: diota.Flask) -> None:
    with app.app_context():
        rv = diota.jsonify(b=1, a=[1, 2])

    assert isinstance(rv, app.response_class)
    assert rv.status_code == 200
    assert rv.mimetype == "application/json"
    assert rv.data == b'{"a":[1,2],"b":1}\n'


def test_jsonify_needs_app_context() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        diota.jsonify(1)


@pytest.mark.parametrize(
    ("debug", "compact", "indented"),
    [
        (False, None, False),
        (True, None, True),
        (True, True, False),
        (False, False, True),
    ],
)
def test_jsonify_compact(
    app: diota.Flask, debug: bool, compact: bool | None, indented: bool
) -> None:
    app.debug = debug
    app.json.compact = compact  # type: ignore[attr-defined]

    with app.app_context():
        body = diota.jsonify(a=1, b=2).get_data(as_text=True)

    if indented:
        assert body == '{\n  "a": 1,\n  "b": 2\n}\n'
    else:
        assert body == '{"a":1,"b":2}\n'


def test_jsonify_custom_mimetype(app: diota.Flask) -> None:
    app.json.mimetype = "application/vnd.api+json"  # type: ignore[attr-defined]

    with app.app_context():
        rv = diota.jsonify([])

    assert rv.mimetype == "application/vnd.api+json"


def test_jsonify_extra_types(app: diota.Flask, client: t.Any) -> None:
    uid = uuid.UUID(bytes=b"\xde\xad\xbe\xef" * 4)
    when = datetime.datetime(1973, 3, 11, 6, 30, 45)

    @app.route("/")
    def index() -> t.Any:
        return diota.jsonify(
            uid=uid,
            when=when,
            amount=decimal.Decimal("9.99"),
            point=Point(3, 4),
            html=Markup("<p>"),
        )

    assert client.get("/").get_json() == {
        "uid": str(uid),
        "when": http_date(when),
        "amount": "9.99",
        "point": {"x": 3, "y": 4},
        "html": "<p>",
    }


def test_dict_and_list_returns_use_provider(app: diota.Flask, client: t.Any) -> None:
    @app.route("/dict")
    def as_dict() -> t.Any:
        return {"b": 1, "a": uuid.UUID(int=0)}

    @app.route("/list")
    def as_list() -> t.Any:
        return [decimal.Decimal("1.5")]

    rv = client.get("/dict")
    assert rv.mimetype == "application/json"
    assert rv.data == b'{"a":"00000000-0000-0000-0000-000000000000","b":1}\n'
    assert client.get("/list").get_json() == ["1.5"]


def test_debug_output_keeps_keys_sorted(app: diota.Flask) -> None:
    app.debug = True

    with app.app_context():
        body = diota.jsonify(values={"b": 1, "a": 2}).get_data(as_text=True)

    assert body.index('"a"') < body.index('"b"')


def test_options_changed_between_calls_take_effect(app: diota.Flask) -> None:
    # Encoders are reused per set of options: a change must not reuse the
    # encoder made for the old settings.
    data = {"b": 1, "a": "é"}
    assert app.json.dumps(data) == '{"a": "\\u00e9", "b": 1}'
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    assert app.json.dumps(data) == '{"b": 1, "a": "é"}'
    assert app.json.dumps(data, indent=1) == '{\n "b": 1,\n "a": "é"\n}'
    # Unhashable option values and a custom encoder class still work.
    assert app.json.dumps(data, separators=[",", ":"]) == '{"b":1,"a":"é"}'

    class Shouting(stdlib_json.JSONEncoder):
        def encode(self, o: t.Any) -> str:
            return super().encode(o).upper()

    assert app.json.dumps({"a": "x"}, cls=Shouting) == '{"A": "X"}'
    assert app.json.dumps({"a": "x"}) == '{"a": "x"}'
