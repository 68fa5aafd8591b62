"""
Tagged JSON
~~~~~~~~~~~

A compact, lossless JSON encoding for a few Python types that JSON cannot
represent directly. The default session interface serializes session data
with it; it can be reused elsewhere and extended with new types.

A value of a supported type is written as a one-item object whose key is a
*tag* (a short string starting with a space, which ordinary keys rarely do)
and whose value is a JSON representation. For example ``(1, 2)`` becomes
``{" t": [1, 2]}``.

To support a new type, subclass :class:`JSONTag`, give it a unique
:attr:`~JSONTag.key`, and register it. Tags are tried in order, so a tag
for a subclass of an already handled type must be inserted before the tag
for its base class::

    from collections import OrderedDict
    from diota.json.tag import JSONTag

    class TagOrderedDict(JSONTag):
        key = " od"

        def check(self, value):
            return isinstance(value, OrderedDict)

        def to_json(self, value):
            return [[k, self.serializer.tag(v)] for k, v in value.items()]

        def to_python(self, value):
            return OrderedDict(value)

    app.session_interface.serializer.register(TagOrderedDict, index=0)

.. autoclass:: TaggedJSONSerializer
    :members:

.. autoclass:: JSONTag
    :members:
"""

from __future__ import annotations

import json as _json
import typing as t
from base64 import b64decode
from base64 import b64encode
from datetime import datetime
from uuid import UUID

from markupsafe import Markup
from werkzeug.http import http_date
from werkzeug.http import parse_date

from ..globals import _cv_app
from ..json import dumps
from ..json import loads
from .provider import DefaultJSONProvider


class JSONTag:
    """Base class for a type tag used by :class:`TaggedJSONSerializer`."""

    __slots__ = ("serializer",)

    #: The marker written as the key of the wrapping object. A tag with an
    #: empty key is never written out; it only transforms values (for
    #: example to tag the items of a container).
    key: str = ""

    def __init__(self, serializer: TaggedJSONSerializer) -> None:
        """Bind the tag to the serializer that owns it.

        :param serializer: Used to tag nested values.
        """
        self.serializer = serializer

    def check(self, value: t.Any) -> bool:
        """Return whether this tag handles ``value``."""
        raise NotImplementedError

    def to_json(self, value: t.Any) -> t.Any:
        """Convert ``value`` to a JSON-compatible value. The tag wrapper is
        added by :meth:`tag`."""
        raise NotImplementedError

    def to_python(self, value: t.Any) -> t.Any:
        """Convert the JSON representation (without its tag) back to the
        Python value."""
        raise NotImplementedError

    def tag(self, value: t.Any) -> dict[str, t.Any]:
        """Convert ``value`` and wrap it as ``{key: converted}``."""
        return {self.key: self.to_json(value)}


class TagDict(JSONTag):
    """Tag for a one-item dict whose key is itself a registered tag key.

    Without it such a dict would be mistaken for a tagged value when
    loading. The key is written with ``__`` appended, removed again when
    loading.
    """

    __slots__ = ()
    key = " di"

    def check(self, value: t.Any) -> bool:
        return (
            isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in self.serializer.tags
        )

    def to_json(self, value: t.Any) -> t.Any:
        key = next(iter(value))
        return {f"{key}__": self.serializer.tag(value[key])}

    def to_python(self, value: t.Any) -> t.Any:
        key = next(iter(value))
        return {key[:-2]: value[key]}


class PassDict(JSONTag):
    """Untagged: tags the values of any other dict."""

    __slots__ = ()

    def check(self, value: t.Any) -> bool:
        return isinstance(value, dict)

    def to_json(self, value: t.Any) -> t.Any:
        # JSON object keys are always strings, so only values are tagged.
        return {k: self.serializer.tag(v) for k, v in value.items()}

    tag = to_json


class TagTuple(JSONTag):
    """Tag for :class:`tuple`, stored as a list."""

    __slots__ = ()
    key = " t"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, tuple)

    def to_json(self, value: t.Any) -> t.Any:
        return [self.serializer.tag(item) for item in value]

    def to_python(self, value: t.Any) -> t.Any:
        return tuple(value)


class PassList(JSONTag):
    """Untagged: tags the items of a list."""

    __slots__ = ()

    def check(self, value: t.Any) -> bool:
        return isinstance(value, list)

    def to_json(self, value: t.Any) -> t.Any:
        return [self.serializer.tag(item) for item in value]

    tag = to_json


class TagBytes(JSONTag):
    """Tag for :class:`bytes`, stored as base64 text."""

    __slots__ = ()
    key = " b"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, bytes)

    def to_json(self, value: t.Any) -> t.Any:
        return b64encode(value).decode("ascii")

    def to_python(self, value: t.Any) -> t.Any:
        return b64decode(value)


class TagMarkup(JSONTag):
    """Tag for anything with an ``__html__`` method, stored as the result
    of that method. Always loads as :class:`~markupsafe.Markup`."""

    __slots__ = ()
    key = " m"

    def check(self, value: t.Any) -> bool:
        return callable(getattr(value, "__html__", None))

    def to_json(self, value: t.Any) -> t.Any:
        return str(value.__html__())

    def to_python(self, value: t.Any) -> t.Any:
        return Markup(value)


class TagUUID(JSONTag):
    """Tag for :class:`~uuid.UUID`, stored as its hex string."""

    __slots__ = ()
    key = " u"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, UUID)

    def to_json(self, value: t.Any) -> t.Any:
        return value.hex

    def to_python(self, value: t.Any) -> t.Any:
        return UUID(value)


class TagDateTime(JSONTag):
    """Tag for :class:`~datetime.datetime`, stored as an HTTP date (whole
    seconds, UTC)."""

    __slots__ = ()
    key = " d"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, datetime)

    def to_json(self, value: t.Any) -> t.Any:
        return http_date(value)

    def to_python(self, value: t.Any) -> t.Any:
        return parse_date(value)


class TaggedJSONSerializer:
    """Serialize to and from tagged JSON. Used as the payload serializer of
    :class:`itsdangerous.Serializer` by the cookie session interface.

    Besides plain JSON types it round-trips :class:`dict` (including
    one-item dicts whose key looks like a tag), :class:`tuple`,
    :class:`bytes`, :class:`~markupsafe.Markup`, :class:`~uuid.UUID` and
    :class:`~datetime.datetime`.
    """

    __slots__ = ("tags", "order", "_only_standard_tags")

    #: Tag classes registered, in this order, on every new serializer.
    #: More can be added per instance with :meth:`register`.
    default_tags = [
        TagDict,
        PassDict,
        TagTuple,
        PassList,
        TagBytes,
        TagMarkup,
        TagUUID,
        TagDateTime,
    ]

    def __init__(self) -> None:
        # Whether the tags are exactly the standard ones, in their order.
        self._only_standard_tags = False
        #: Registered tags by key, used when loading.
        self.tags: dict[str, JSONTag] = {}
        #: All tags in the order :meth:`tag` tries them.
        self.order: list[JSONTag] = []

        for cls in self.default_tags:
            self.register(cls)

    def register(
        self,
        tag_class: type[JSONTag],
        force: bool = False,
        index: int | None = None,
    ) -> None:
        """Instantiate ``tag_class`` for this serializer and add it.

        :param tag_class: The :class:`JSONTag` subclass to add.
        :param force: Replace a tag already registered with the same key
            instead of raising.
        :param index: Position in :attr:`order` to insert at; appended at
            the end if ``None``. Use it when the new type is a special case
            of a type another tag already handles.
        :raise KeyError: The key is already registered and ``force`` is
            false.
        """
        tag = tag_class(self)
        key = tag.key

        if key:
            if key in self.tags and not force:
                raise KeyError(f"Tag '{key}' is already registered.")

            self.tags[key] = tag

        if index is None:
            self.order.append(tag)
        else:
            self.order.insert(index, tag)
        cls = type(self)
        self._only_standard_tags = (
            [type(tag) for tag in self.order] == _STANDARD_TAGS
            and cls.tag is TaggedJSONSerializer.tag
            and cls._untag_scan is TaggedJSONSerializer._untag_scan
        )

    def tag(self, value: t.Any) -> t.Any:
        """Return the tagged representation of ``value``, or ``value``
        itself if no tag applies."""
        for tag in self.order:
            if tag.check(value):
                return tag.tag(value)

        return value

    def untag(self, value: dict[str, t.Any]) -> t.Any:
        """Turn a one-item ``{tag_key: data}`` dict back into the Python
        value. Any other dict is returned unchanged."""
        if len(value) != 1:
            return value

        key = next(iter(value))
        tag = self.tags.get(key)

        if tag is None:
            return value

        return tag.to_python(value[key])

    def _untag_scan(self, value: t.Any) -> t.Any:
        # Depth first: the contents are untagged before the container, so a
        # tag's ``to_python`` receives already converted values.
        if isinstance(value, dict):
            value = {k: self._untag_scan(v) for k, v in value.items()}
            value = self.untag(value)
        elif isinstance(value, list):
            value = [self._untag_scan(item) for item in value]

        return value

    def dumps(self, value: t.Any) -> str:
        """Tag ``value`` and serialize it to compact JSON."""
        if not self._plain_mapping(value):
            value = self.tag(value)
        else:
            provider = _stock_provider()
            if provider is not None:
                # PERF: what the provider's dumps makes of a plain mapping
                # (its ``default`` is never called), without its layers.
                return _compact_encoder(
                    provider.ensure_ascii, provider.sort_keys
                ).encode(value)
        return dumps(value, separators=(",", ":"))

    def loads(self, value: str) -> t.Any:
        """Parse JSON and convert every tagged value back."""
        if type(value) is str and _stock_provider() is not None:
            data = _decode(value)  # PERF: the provider's loads, directly
        else:
            data = loads(value)
        if self._plain_mapping(data):
            return data
        return self._untag_scan(data)

    def _plain_mapping(self, value: t.Any) -> bool:
        """Whether ``value`` is a dict that tagging leaves as it is: only
        string, number, boolean and null values, and not a one-key dict that
        reads as a tag. PERF: a typical session; its values need no walk
        through every tag. Only with the standard tags, in their order."""
        if (
            type(value) is not dict
            or not self._only_standard_tags
            or len(self.order) != len(_STANDARD_TAGS)
        ):
            return False
        if len(value) == 1 and next(iter(value)) in self.tags:
            return False
        for item in value.values():
            if type(item) not in _PLAIN_TYPES:
                return False
        return True


def _stock_provider() -> DefaultJSONProvider | None:
    """The current app's JSON provider if it serializes as
    :class:`DefaultJSONProvider` does (its ``dumps`` and ``loads`` not
    replaced); ``None`` outside an app context or for another provider."""
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        return None
    provider = app_ctx.app.json
    cls = type(provider)
    if (
        not isinstance(provider, DefaultJSONProvider)
        or cls.dumps is not DefaultJSONProvider.dumps
        or cls.loads is not DefaultJSONProvider.loads
    ):
        return None
    return provider


_decode = _json.JSONDecoder().decode
# (ensure_ascii, sort_keys) -> a compact encoder.
_compact_encoders: dict[tuple[bool, bool], _json.JSONEncoder] = {}


def _compact_encoder(ensure_ascii: bool, sort_keys: bool) -> _json.JSONEncoder:
    key = (ensure_ascii, sort_keys)
    encoder = _compact_encoders.get(key)
    if encoder is None:
        encoder = _compact_encoders[key] = _json.JSONEncoder(
            separators=(",", ":"),
            ensure_ascii=bool(ensure_ascii),
            sort_keys=bool(sort_keys),
        )
    return encoder


# The tags of a TaggedJSONSerializer as it comes, and the value types none
# of them changes (bool is an int; no subclass, such as Markup, is listed).
_STANDARD_TAGS: list[type[JSONTag]] = list(TaggedJSONSerializer.default_tags)
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
