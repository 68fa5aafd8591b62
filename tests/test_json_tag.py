from __future__ import annotations

import json
import typing as t
from collections import OrderedDict
from datetime import datetime
from datetime import timezone
from uuid import UUID

import pytest
from markupsafe import Markup

import diota
from diota.json.provider import DefaultJSONProvider
from diota.json.tag import JSONTag
from diota.json.tag import PassDict
from diota.json.tag import PassList
from diota.json.tag import TagBytes
from diota.json.tag import TagDateTime
from diota.json.tag import TagDict
from diota.json.tag import TaggedJSONSerializer
from diota.json.tag import TagMarkup
from diota.json.tag import TagTuple
from diota.json.tag import TagUUID

FIXED_UUID = UUID("12345678-1234-5678-1234-567812345678")


@pytest.fixture
def s() -> TaggedJSONSerializer:
    return TaggedJSONSerializer()


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        1.5,
        "text",
        [1, "a", None],
        {"a": 1, "b": [2, 3]},
        (1, 2, 3),
        [(1, 2), (3,)],
        {"x": (1, 2, 3), "y": 4},
        b"\xff\x00bytes",
        Markup("<b>bold</b>"),
        FIXED_UUID,
        datetime(2024, 5, 17, 8, 30, 1, tzinfo=timezone.utc),
        # Dicts that look like tags survive thanks to TagDict.
        {" t": (1, 2, 3)},
        {" t__": b"a"},
        {" di": " di"},
        {" u": "not a uuid"},
        # A key that is not a tag is left alone.
        {" zz": 1},
        ((b"a", (FIXED_UUID,)),),
    ],
)
def test_round_trip(s: TaggedJSONSerializer, value: t.Any) -> None:
    loaded = s.loads(s.dumps(value))
    assert loaded == value
    assert type(loaded) is type(value)


def test_wire_format(s: TaggedJSONSerializer) -> None:
    # The encoded form is part of the session cookie format: sessions must
    # stay readable across implementations, so it is pinned here.
    assert s.dumps((1, 2)) == '{" t":[1,2]}'
    assert s.dumps(b"hi") == '{" b":"aGk="}'
    assert s.dumps(Markup("<p>")) == '{" m":"<p>"}'
    assert s.dumps(FIXED_UUID) == '{" u":"12345678123456781234567812345678"}'
    assert (
        s.dumps(datetime(2021, 2, 1, 7, 15, tzinfo=timezone.utc))
        == '{" d":"Mon, 01 Feb 2021 07:15:00 GMT"}'
    )
    assert s.dumps({" t": 1}) == '{" di":{" t__":1}}'
    assert s.dumps({"a": [(1,)]}) == '{"a":[{" t":[1]}]}'


def test_datetime_loses_microseconds_and_becomes_utc(s: TaggedJSONSerializer) -> None:
    value = datetime(2020, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    loaded = s.loads(s.dumps(value))
    assert loaded == value.replace(microsecond=0)
    assert loaded.tzinfo is not None


def test_html_objects_load_as_markup(s: TaggedJSONSerializer) -> None:
    class HTML:
        def __html__(self) -> str:
            return "<i>x</i>"

    loaded = s.loads(s.dumps(HTML()))
    assert loaded == Markup("<i>x</i>")
    assert isinstance(loaded, Markup)


def test_default_tags_and_order(s: TaggedJSONSerializer) -> None:
    assert TaggedJSONSerializer.default_tags == [
        TagDict,
        PassDict,
        TagTuple,
        PassList,
        TagBytes,
        TagMarkup,
        TagUUID,
        TagDateTime,
    ]
    assert [type(tag) for tag in s.order] == TaggedJSONSerializer.default_tags
    # Untagged helpers are in the order but not in the key lookup.
    assert list(s.tags) == [" di", " t", " b", " m", " u", " d"]
    assert all(tag.serializer is s for tag in s.order)


def test_untag(s: TaggedJSONSerializer) -> None:
    assert s.untag({" t": [1, 2]}) == (1, 2)
    assert s.untag({"plain": 1}) == {"plain": 1}
    assert s.untag({" t": [1], "other": 2}) == {" t": [1], "other": 2}
    assert s.tag([1, (2,)]) == [1, {" t": [2]}]
    assert s.tag(object) is object


def test_duplicate_key_needs_force(s: TaggedJSONSerializer) -> None:
    class OtherDateTime(JSONTag):
        key = " d"

    with pytest.raises(KeyError, match="Tag ' d' is already registered."):
        s.register(OtherDateTime)

    s.register(OtherDateTime, force=True, index=0)
    assert isinstance(s.tags[" d"], OtherDateTime)
    assert isinstance(s.order[0], OtherDateTime)
    # The replaced tag stays in the order; only the lookup changes.
    assert any(isinstance(tag, TagDateTime) for tag in s.order)


def test_register_index(s: TaggedJSONSerializer) -> None:
    class First(JSONTag):
        key = " 1"

    class Second(JSONTag):
        key = " 2"

    s.register(First, index=-1)
    assert isinstance(s.order[-2], First)
    s.register(Second)
    assert isinstance(s.order[-1], Second)


def test_custom_tag_before_dict(s: TaggedJSONSerializer) -> None:
    class TagOrderedDict(JSONTag):
        __slots__ = ()
        key = " od"

        def check(self, value: t.Any) -> bool:
            return isinstance(value, OrderedDict)

        def to_json(self, value: t.Any) -> t.Any:
            return [[k, self.serializer.tag(v)] for k, v in value.items()]

        def to_python(self, value: t.Any) -> t.Any:
            return OrderedDict(value)

    s.register(TagOrderedDict, index=0)
    value = OrderedDict([("b", (1,)), ("a", 2)])
    loaded = s.loads(s.dumps(value))
    assert isinstance(loaded, OrderedDict)
    assert list(loaded.items()) == [("b", (1,)), ("a", 2)]


def test_custom_tag_nested_value(s: TaggedJSONSerializer) -> None:
    class Box:
        def __init__(self, data: t.Any) -> None:
            self.data = data

    class TagBox(JSONTag):
        key = " box"

        def check(self, value: t.Any) -> bool:
            return isinstance(value, Box)

        def to_json(self, value: t.Any) -> t.Any:
            return self.serializer.tag(value.data)

        def to_python(self, value: t.Any) -> t.Any:
            return Box(value)

    s.register(TagBox)
    loaded = s.loads(s.dumps(Box((b"x",))))
    assert isinstance(loaded, Box)
    assert loaded.data == (b"x",)


def test_base_tag_is_abstract() -> None:
    tag = JSONTag(None)  # type: ignore[arg-type]

    for method in (tag.check, tag.to_json, tag.to_python):
        with pytest.raises(NotImplementedError):
            method(None)

    assert JSONTag.key == ""


def test_output_is_compact_json(s: TaggedJSONSerializer) -> None:
    out = s.dumps({"a": [1, 2], "b": {"c": None}})
    assert " " not in out
    assert json.loads(out) == {"a": [1, 2], "b": {"c": None}}


def test_uses_app_json_provider_in_app_context(app: t.Any) -> None:
    s = TaggedJSONSerializer()

    with app.app_context():
        # The default provider sorts keys.
        assert s.dumps({"b": 1, "a": 2}) == '{"a":2,"b":1}'
        app.json.sort_keys = False
        assert s.dumps({"b": 1, "a": 2}) == '{"b":1,"a":2}'


def test_follows_the_providers_ascii_setting(app: t.Any) -> None:
    s = TaggedJSONSerializer()
    with app.app_context():
        assert s.dumps({"k": "café"}) == '{"k":"caf\\u00e9"}'
        app.json.ensure_ascii = False
        assert s.dumps({"k": "café"}) == '{"k":"café"}'
        assert s.loads('{"k":"café"}') == {"k": "café"}


def test_a_custom_provider_serializes_the_session(app: t.Any, client: t.Any) -> None:

    calls: list[str] = []

    class LoggingProvider(DefaultJSONProvider):
        def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
            calls.append("dumps")
            return super().dumps(obj, **kwargs)

        def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
            calls.append("loads")
            return super().loads(s, **kwargs)

    app.json = LoggingProvider(app)

    @app.route("/")
    def index() -> str:
        diota.session["n"] = diota.session.get("n", 0) + 1
        return str(diota.session["n"])

    assert client.get("/").text == "1"
    assert "dumps" in calls
    calls.clear()
    assert client.get("/").text == "2"
    assert calls == ["loads", "dumps"]
