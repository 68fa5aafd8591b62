"""Type aliases for the callables and return values diota accepts.

The names match Flask's ``flask.typing`` so annotations written for Flask keep
type-checking against diota.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIApplication
    from werkzeug.datastructures import Headers
    from werkzeug.sansio.response import Response

#: What a view may return as the body part of its return value.
ResponseValue = t.Union[
    "Response",
    str,
    bytes,
    list[t.Any],
    cabc.Mapping[str, t.Any],
    cabc.Iterator[str],
    cabc.Iterator[bytes],
    cabc.AsyncIterable[str],
    cabc.AsyncIterable[bytes],
]

#: One header value: a string, or several values for the same name.
HeaderValue = t.Union[str, list[str], tuple[str, ...]]

#: The headers part of a tuple return value.
HeadersValue = t.Union[
    "Headers",
    cabc.Mapping[str, HeaderValue],
    cabc.Sequence[tuple[str, HeaderValue]],
]

#: Everything a view may return.
ResponseReturnValue = t.Union[
    ResponseValue,
    tuple[ResponseValue, HeadersValue],
    tuple[ResponseValue, int],
    tuple[ResponseValue, int, HeadersValue],
    "WSGIApplication",
]

ResponseClass = t.TypeVar("ResponseClass", bound="Response")

#: ``None`` is the application; a string names a blueprint.
AppOrBlueprintKey = t.Optional[str]

AfterRequestCallable = t.Union[
    t.Callable[[ResponseClass], ResponseClass],
    t.Callable[[ResponseClass], t.Awaitable[ResponseClass]],
]
BeforeFirstRequestCallable = t.Union[
    t.Callable[[], None], t.Callable[[], t.Awaitable[None]]
]
BeforeRequestCallable = t.Union[
    t.Callable[[], t.Optional[ResponseReturnValue]],
    t.Callable[[], t.Awaitable[t.Optional[ResponseReturnValue]]],
]
ShellContextProcessorCallable = t.Callable[[], dict[str, t.Any]]
TeardownCallable = t.Union[
    t.Callable[[t.Optional[BaseException]], None],
    t.Callable[[t.Optional[BaseException]], t.Awaitable[None]],
]
TemplateContextProcessorCallable = t.Union[
    t.Callable[[], dict[str, t.Any]],
    t.Callable[[], t.Awaitable[dict[str, t.Any]]],
]
TemplateFilterCallable = t.Callable[..., t.Any]
TemplateGlobalCallable = t.Callable[..., t.Any]
TemplateTestCallable = t.Callable[..., bool]
URLDefaultCallable = t.Callable[[str, dict[str, t.Any]], None]
URLValuePreprocessorCallable = t.Callable[
    [t.Optional[str], t.Optional[dict[str, t.Any]]], None
]

# The handler's parameter is typed loosely on purpose: a handler registered
# for ``KeyError`` takes a ``KeyError``, which a ``Callable[[Exception], ...]``
# would reject under strict checking.
ErrorHandlerCallable = t.Union[
    t.Callable[[t.Any], ResponseReturnValue],
    t.Callable[[t.Any], t.Awaitable[ResponseReturnValue]],
]

RouteCallable = t.Union[
    t.Callable[..., ResponseReturnValue],
    t.Callable[..., t.Awaitable[ResponseReturnValue]],
]
# A WebSocket handler usually returns nothing; a response refuses the handshake.
WebSocketCallable = t.Union[
    t.Callable[..., t.Optional[ResponseReturnValue]],
    t.Callable[..., t.Awaitable[t.Optional[ResponseReturnValue]]],
]
