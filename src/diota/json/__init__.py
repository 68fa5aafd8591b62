"""JSON helpers that follow the current application's :attr:`~diota.Flask.json`
provider when an application context is active."""

from __future__ import annotations

import json as _json
import typing as t

from ..globals import _cv_app
from ..globals import current_app
from .provider import _default

if t.TYPE_CHECKING:  # pragma: no cover
    from ..wrappers import Response


def dumps(obj: t.Any, **kwargs: t.Any) -> str:
    """Serialize ``obj`` to a JSON string.

    Inside an application context this is ``current_app.json.dumps()``, so
    the app's provider decides the output. Otherwise :func:`json.dumps` is
    used with the default provider's extra types (dates, decimals, UUIDs,
    dataclasses, ``__html__``) but none of its other defaults.

    :param obj: The data to serialize.
    :param kwargs: Passed to the ``dumps`` implementation.
    """
    app_ctx = _cv_app.get(None)  # PERF: the context variable, not the proxy
    if app_ctx is not None:
        return app_ctx.app.json.dumps(obj, **kwargs)

    kwargs.setdefault("default", _default)
    return _json.dumps(obj, **kwargs)


def dump(obj: t.Any, fp: t.IO[str], **kwargs: t.Any) -> None:
    """Serialize ``obj`` as JSON into a text file, through
    ``current_app.json.dump()`` when an application context is active, else
    :func:`json.dump` (see :func:`dumps`).

    :param obj: The data to serialize.
    :param fp: A file opened for writing text, ideally UTF-8 encoded.
    :param kwargs: Passed to the ``dump`` implementation.
    """
    if current_app:
        current_app.json.dump(obj, fp, **kwargs)
    else:
        kwargs.setdefault("default", _default)
        _json.dump(obj, fp, **kwargs)


def loads(s: str | bytes, **kwargs: t.Any) -> t.Any:
    """Parse a JSON document, through ``current_app.json.loads()`` when an
    application context is active, else :func:`json.loads`.

    :param s: Text, or UTF-8 encoded bytes.
    :param kwargs: Passed to the ``loads`` implementation.
    """
    app_ctx = _cv_app.get(None)  # PERF: the context variable, not the proxy
    if app_ctx is not None:
        return app_ctx.app.json.loads(s, **kwargs)

    return _json.loads(s, **kwargs)


def load(fp: t.IO[t.AnyStr], **kwargs: t.Any) -> t.Any:
    """Parse a JSON document from a file, through ``current_app.json.load()``
    when an application context is active, else :func:`json.load`.

    :param fp: A file opened for reading text or UTF-8 bytes.
    :param kwargs: Passed to the ``load`` implementation.
    """
    if current_app:
        return current_app.json.load(fp, **kwargs)

    return _json.load(fp, **kwargs)


def jsonify(*args: t.Any, **kwargs: t.Any) -> Response:
    """Return an ``application/json`` response holding the arguments
    serialized as JSON. Needs an active application context; it calls
    :meth:`current_app.json.response() <diota.json.provider.JSONProvider.response>`.

    Returning a dict or list from a view does the same thing implicitly.

    Pass either positional or keyword arguments, not both. No arguments
    serializes ``null``; one positional argument is serialized as is;
    several become a list; keyword arguments become an object.

    :param args: One value, or several values to serialize as a list.
    :param kwargs: Serialized as an object.
    """
    # Providers are typed to return werkzeug's sans-IO response; the app's
    # ``response_class`` is what they actually build.
    return t.cast("Response", current_app.json.response(*args, **kwargs))
