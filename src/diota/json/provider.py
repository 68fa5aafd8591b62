"""Pluggable JSON behaviour for an application (``app.json``)."""

from __future__ import annotations

import dataclasses
import decimal
import json
import typing as t
import uuid
import weakref
from datetime import date

from werkzeug.http import http_date

from .._responses import plain_response

if t.TYPE_CHECKING:  # pragma: no cover
    from werkzeug.sansio.response import Response

    from ..sansio.app import App


class JSONProvider:
    """The JSON operations an application uses. Subclass it to change how
    JSON is produced and parsed, or to use another JSON library.

    A subclass must implement at least :meth:`dumps` and :meth:`loads`; the
    other methods are built on those two. Install a provider by setting
    :attr:`~diota.Flask.json_provider_class` on an app subclass, or by
    assigning an instance to :attr:`app.json <diota.Flask.json>`.

    :param app: The application. Kept as a :func:`weakref.proxy` in
        :attr:`_app` so the provider does not keep the app alive.
    """

    def __init__(self, app: App) -> None:
        self._app: App = weakref.proxy(app)

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        """Serialize ``obj`` to a JSON string.

        :param obj: The data to serialize.
        :param kwargs: Options for the underlying JSON library.
        """
        raise NotImplementedError

    def dump(self, obj: t.Any, fp: t.IO[str], **kwargs: t.Any) -> None:
        """Serialize ``obj`` as JSON into a text file.

        :param obj: The data to serialize.
        :param fp: A file opened for writing text, ideally UTF-8 encoded.
        :param kwargs: Passed on to :meth:`dumps`.
        """
        fp.write(self.dumps(obj, **kwargs))

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        """Parse a JSON document.

        :param s: Text, or UTF-8 encoded bytes.
        :param kwargs: Options for the underlying JSON library.
        """
        raise NotImplementedError

    def load(self, fp: t.IO[t.AnyStr], **kwargs: t.Any) -> t.Any:
        """Parse a JSON document read from a file.

        :param fp: A file opened for reading text or UTF-8 bytes.
        :param kwargs: Passed on to :meth:`loads`.
        """
        return self.loads(fp.read(), **kwargs)

    def _prepare_response_obj(
        self, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
    ) -> t.Any:
        # One positional value is sent as is, several become a list, keyword
        # arguments become an object, and nothing at all becomes ``null``.
        if args and kwargs:
            raise TypeError("app.json.response() takes either args or kwargs, not both")

        if not args and not kwargs:
            return None

        if len(args) == 1:
            return args[0]

        return args or kwargs

    def response(self, *args: t.Any, **kwargs: t.Any) -> Response:
        """Serialize the arguments as JSON and return an
        ``application/json`` response of the app's ``response_class``.
        :func:`diota.json.jsonify` calls this on the current app.

        Pass either positional or keyword arguments, not both.

        :param args: One value to serialize, or several to serialize as a
            list.
        :param kwargs: Serialized as an object.
        """
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps(obj), mimetype="application/json")


# Options -> encoder. PERF: json.dumps builds a JSONEncoder for every call
# with options; an encoder keeps no state between calls, so one per distinct
# set of options serves them all.
_encoders: dict[tuple[tuple[str, t.Any], ...], json.JSONEncoder] = {}


def _encoder(options: dict[str, t.Any]) -> json.JSONEncoder:
    """The encoder :func:`json.dumps` would make for ``options``."""
    try:
        # PERF: in call order, not sorted: one call site passes its options
        # in one order, so it finds its encoder without a sort per call.
        key = tuple(options.items())
        encoder = _encoders.get(key)
    except TypeError:  # an unhashable option value: no caching
        key, encoder = None, None
    if encoder is None:
        options = dict(options)
        cls = options.pop("cls", None) or json.JSONEncoder
        encoder = cls(**options)
        if key is not None:
            if len(_encoders) >= 64:
                _encoders.clear()
            _encoders[key] = encoder
    return encoder


# What response() passes to dumps().
_RESPONSE_INDENT: dict[str, t.Any] = {"indent": 2}
_RESPONSE_COMPACT: dict[str, t.Any] = {"separators": (",", ":")}


def _default(o: t.Any) -> t.Any:
    """Convert the extra types :class:`DefaultJSONProvider` supports to
    plain JSON types. Called by :mod:`json` for any unknown object."""
    # ``datetime`` is a subclass of ``date``, so both are HTTP dates.
    if isinstance(o, date):
        return http_date(o)

    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)

    # ``is_dataclass`` is also true for dataclass *classes*, which
    # ``asdict`` rejects; only instances are converted.
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)

    if hasattr(o, "__html__"):
        return str(o.__html__())

    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class DefaultJSONProvider(JSONProvider):
    """JSON provider built on the standard library :mod:`json` module.

    Besides the usual JSON types it serializes:

    -   :class:`datetime.datetime` and :class:`datetime.date` as
        :rfc:`822` (HTTP date) strings;
    -   :class:`decimal.Decimal` and :class:`uuid.UUID` as strings;
    -   dataclass instances via :func:`dataclasses.asdict`;
    -   objects with an ``__html__`` method (such as
        :class:`~markupsafe.Markup`) as the result of that method.
    """

    default: t.Callable[[t.Any], t.Any] = staticmethod(_default)
    """Called by :func:`json.dumps` for objects it cannot serialize. Must
    return a JSON-serializable value or raise :exc:`TypeError`."""

    ensure_ascii = True
    """Escape non-ASCII characters in the output. Turn off for smaller
    output when clients handle UTF-8."""

    sort_keys = True
    """Sort object keys in the output, which keeps it stable (useful for
    caching). All keys must then be strings."""

    compact: bool | None = None
    """Controls :meth:`response` formatting. ``True`` means no indentation
    or extra spaces; ``False`` means indented with two spaces; ``None``
    means indented only when the app is in debug mode."""

    mimetype = "application/json"
    """The mimetype :meth:`response` uses."""

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        """Serialize ``obj`` with :func:`json.dumps`.

        :attr:`default`, :attr:`ensure_ascii` and :attr:`sort_keys` are
        used unless overridden in ``kwargs``.

        :param obj: The data to serialize.
        :param kwargs: Passed to :func:`json.dumps`.
        """
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return _encoder(kwargs).encode(obj)

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        """Parse JSON with :func:`json.loads`.

        :param s: Text, or UTF-8 encoded bytes.
        :param kwargs: Passed to :func:`json.loads`.
        """
        return json.loads(s, **kwargs)

    def response(self, *args: t.Any, **kwargs: t.Any) -> Response:
        """Serialize the arguments as JSON and return a response with
        :attr:`mimetype`. The body ends with a newline and is indented or
        compact according to :attr:`compact`.

        Pass either positional or keyword arguments, not both.

        :param args: One value to serialize, or several to serialize as a
            list.
        :param kwargs: Serialized as an object.
        """
        obj = self._prepare_response_obj(args, kwargs)
        indent = self.compact is False or (self.compact is None and self._app.debug)
        body = self.dumps(obj, **(_RESPONSE_INDENT if indent else _RESPONSE_COMPACT))
        response: Response = plain_response(
            t.cast(t.Any, self._app.response_class),
            f"{body}\n",
            mimetype=self.mimetype,
        )
        return response
