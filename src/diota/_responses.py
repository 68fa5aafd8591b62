"""Building plain responses (a body in memory) without werkzeug's per-call checks."""

from __future__ import annotations

import typing as t

from werkzeug.datastructures import Headers
from werkzeug.utils import get_content_type
from werkzeug.wrappers import Response as ResponseBase

# Response classes that construct as werkzeug's does (checked once per class).
_werkzeug_built: dict[type, bool] = {}
# Status code -> werkzeug's status line; mimetype -> Content-Type value.
_status_lines: dict[int, str] = {}
_content_types: dict[str, str] = {}
_R = t.TypeVar("_R", bound=ResponseBase)
_new_object = object.__new__


def _constructs_like_werkzeug(cls: type[ResponseBase]) -> bool:
    known = _werkzeug_built.get(cls)
    if known is None:
        known = _werkzeug_built[cls] = bool(
            cls.__init__ is ResponseBase.__init__
            and cls.set_data is ResponseBase.set_data
            and cls.status is ResponseBase.status
            and cls._clean_status is ResponseBase._clean_status
            and cls.automatically_set_content_length
        )
    return known


def plain_response(
    cls: type[_R],
    body: str | bytes | bytearray,
    status: int | None = None,
    mimetype: str | None = None,
) -> _R:
    """``cls(body, status=status, mimetype=mimetype)``.

    PERF: for a class that constructs as werkzeug's Response does, the same
    object is built directly: werkzeug's constructor validates each header
    it sets and looks up the status line, for values that are known here.
    """
    like_werkzeug = _werkzeug_built.get(cls)
    if like_werkzeug is None:
        like_werkzeug = _constructs_like_werkzeug(cls)
    if not like_werkzeug or (status is not None and type(status) is not int):
        return cls(body, status=status, mimetype=mimetype)  # type: ignore[arg-type]
    data = body.encode() if isinstance(body, str) else bytes(body)
    if status is None:
        status = cls.default_status
    line = _status_lines.get(status)
    if line is None:
        line, _ = ResponseBase._clean_status(t.cast(t.Any, None), status)
        if len(_status_lines) < 1024:
            _status_lines[status] = line
    if mimetype is None:
        mimetype = cls.default_mimetype
    # PERF: Headers() without its constructor's argument handling.
    headers = _new_object(Headers)
    length = ("Content-Length", str(len(data)))
    if mimetype is not None:
        content_type = _content_types.get(mimetype)
        if content_type is None:
            content_type = get_content_type(mimetype, "utf-8")
            _check_header_value(content_type)
            if len(_content_types) < 256:
                _content_types[mimetype] = content_type
        headers._list = [("Content-Type", content_type), length]
    else:
        headers._list = [length]
    response = cls.__new__(cls)
    response.headers = headers
    response._status = line
    response._status_code = status
    response.direct_passthrough = False
    response._on_close = []
    response.response = [data]
    return response


def _check_header_value(value: str) -> None:
    # What werkzeug's Headers.__setitem__ would refuse.
    Headers().set("Content-Type", value)
