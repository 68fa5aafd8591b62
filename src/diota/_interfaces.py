"""The app object stays both interfaces when instrumentation patches it.

Error trackers and tracers patch the application class the way they patch
Flask: ``Flask.__call__ = patched`` with a WSGI function ``(self, environ,
start_response)``, or ``Flask.wsgi_app = patched``. ASGI servers call the
app object with three arguments, so a two-argument ``__call__`` would end
the ASGI interface with a ``TypeError``, and uvicorn, which tells the
interface from ``__call__``'s coroutine marker, would serve the app as WSGI.

:class:`AppType`, the metaclass of :class:`~diota.Flask`, wraps whatever is
assigned to ``__call__`` on the class (or defined in a subclass) so that
both interfaces keep working and the patch sees every request:

- a WSGI ``__call__`` serves WSGI calls itself, and ASGI HTTP requests
  through the WSGI bridge, where the patch runs around diota's own WSGI
  handling; lifespan and WebSocket scopes, which WSGI cannot express, go
  to diota's ASGI interface;
- an ASGI ``__call__`` serves ASGI calls, and WSGI calls go to diota's own;
- a ``__call__`` taking ``*args`` is called for both, with the marker added.

A patched ``wsgi_app`` (or ``asgi_app``) needs no wrapping, only noting:
the metaclass keeps ``_wsgi_app_replaced`` (``_asgi_app_replaced``) true on
a class whose method is not diota's own, set when the class is made or the
method assigned, so that a request costs one attribute test. The ASGI
adapter sends HTTP requests through the WSGI bridge while it is set.
"""

from __future__ import annotations

import asyncio.coroutines
import functools
import inspect
import sys
import typing as t

#: Set on ``__call__`` functions that serve both interfaces.
_SERVES_BOTH = "_diota_serves_both"
_COROUTINE_MARKER = getattr(asyncio.coroutines, "_is_coroutine", None)

_Call = t.Callable[..., t.Any]


def mark_serves_both(call: _Call) -> _Call:
    """Mark ``call`` as a ``__call__`` that tells the interfaces apart, with
    the coroutine marker ASGI servers look for."""
    setattr(call, _SERVES_BOTH, True)
    # uvicorn on Python 3.11 honours asyncio's marker on a sync callable;
    # 3.12's inspect.markcoroutinefunction satisfies hypercorn too.
    call._is_coroutine = _COROUTINE_MARKER  # type: ignore[attr-defined]
    if sys.version_info >= (3, 12):  # pragma: no cover - newer Pythons
        inspect.markcoroutinefunction(call)
    return call


def _arguments_after_self(call: _Call) -> int | None:
    """How many positional arguments ``call`` takes after ``self``; ``None``
    when it takes any number (``*args``) or cannot be told."""
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (
            parameter.POSITIONAL_ONLY,
            parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count - 1


def serving_both(call: _Call) -> _Call:
    """``call``, assigned as an app class's ``__call__``, made to serve both
    interfaces; diota's own ``Flask.__call__`` serves the one ``call``
    cannot.

    :param call: The function assigned.
    """
    if getattr(call, _SERVES_BOTH, False):
        return call
    arguments = _arguments_after_self(call)
    if arguments == 2:

        def __call__(self: t.Any, *args: t.Any) -> t.Any:
            if len(args) != 3:
                return call(self, *args)
            if args[0]["type"] == "http":
                # The WSGI patch runs around diota's WSGI handling, in the
                # bridge's worker thread, as it would under a WSGI server.
                from .asgi import serve_through_wsgi

                return serve_through_wsgi(self, *args)
            return _flask_call()(self, *args)

    elif arguments == 3:

        def __call__(self: t.Any, *args: t.Any) -> t.Any:
            if len(args) == 3:
                return call(self, *args)
            return _flask_call()(self, *args)

    else:

        def __call__(self: t.Any, *args: t.Any) -> t.Any:
            return call(self, *args)

    functools.update_wrapper(__call__, call)
    return mark_serves_both(__call__)


#: Methods whose replacement (on the class, or in a subclass) the ASGI
#: adapter must know of, and the class attribute that says so.
_REPLACED_FLAGS = {"wsgi_app": "_wsgi_app_replaced", "asgi_app": "_asgi_app_replaced"}
#: diota's own functions for those methods, taken from the first class made
#: (:class:`~diota.Flask`).
_OWN: dict[str, t.Any] = {}


class AppType(type):
    """Metaclass of :class:`~diota.Flask`: a ``__call__`` given to the class
    or a subclass serves both interfaces (see :func:`serving_both`), and a
    replaced ``wsgi_app`` or ``asgi_app`` is noted."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, t.Any],
        **kwargs: t.Any,
    ) -> AppType:
        call = namespace.get("__call__")
        if call is not None:
            namespace["__call__"] = serving_both(call)
        for method, flag in _REPLACED_FLAGS.items():
            if method in namespace:
                own = _OWN.setdefault(method, namespace[method])
                namespace[flag] = namespace[method] is not own
        return super().__new__(mcls, name, bases, namespace, **kwargs)

    def __setattr__(cls, name: str, value: t.Any) -> None:
        if name == "__call__":
            value = serving_both(value)
        flag = _REPLACED_FLAGS.get(name)
        if flag is not None:
            super().__setattr__(flag, value is not _OWN.get(name))
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        super().__delattr__(name)
        flag = _REPLACED_FLAGS.get(name)
        if flag is not None and flag in cls.__dict__:
            super().__delattr__(flag)  # inherited again, with the method


def _flask_call() -> _Call:
    from .app import Flask

    return Flask._serve_either
