"""Class-based views: :class:`View` for one handler, :class:`MethodView` for a
handler per HTTP method.
"""

from __future__ import annotations

import inspect
import typing as t

from . import typing as ft
from .globals import current_app
from .globals import request

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: The method names :class:`MethodView` dispatches to.
http_method_funcs = frozenset(
    ["get", "post", "head", "options", "delete", "put", "trace", "patch"]
)

#: An unbound coroutine function called as ``dispatcher(view_instance, **kwargs)``.
_AsyncDispatcher = t.Callable[..., t.Awaitable[ft.ResponseReturnValue]]


class View:
    """Base class for class-based views. Override :meth:`dispatch_request`,
    then register the function :meth:`as_view` returns::

        class Greet(View):
            init_every_request = False

            def dispatch_request(self, name):
                return f"Hello, {name}!"

        app.add_url_rule("/hello/<name>", view_func=Greet.as_view("greet"))

    :meth:`dispatch_request` may be ``async def``; the generated view is then
    a coroutine function too.

    Decorators applied to the class itself do not reach the generated view
    function; list them in :attr:`decorators` instead.
    """

    #: The methods the view is registered for. ``None`` uses the default of
    #: ``route`` and ``add_url_rule``: GET (with HEAD) and OPTIONS.
    methods: t.ClassVar[t.Collection[str] | None] = None

    #: Whether OPTIONS is answered automatically. ``None`` uses the default
    #: of ``route`` and ``add_url_rule``, which is ``True``.
    provide_automatic_options: t.ClassVar[bool | None] = None

    #: Decorators applied, in list order, to the generated view function. The
    #: first one is therefore the innermost, like the bottom one of a stack of
    #: ``@decorator`` lines.
    decorators: t.ClassVar[list[t.Callable[..., t.Any]]] = []

    #: Create an instance for each request (the default). Set to ``False`` to
    #: create one instance in :meth:`as_view` and reuse it, which is cheaper
    #: but makes per-request data on ``self`` unsafe; use :data:`~diota.g`.
    init_every_request: t.ClassVar[bool] = True

    def dispatch_request(self) -> ft.ResponseReturnValue:
        """Handle the request and return a response value. URL variables
        are passed as keyword arguments. Subclasses must override this.
        """
        raise NotImplementedError()

    @classmethod
    def _async_dispatcher(cls) -> _AsyncDispatcher | None:
        """Return the coroutine function the generated view should await, or
        ``None`` if this class dispatches synchronously.
        """
        if inspect.iscoroutinefunction(cls.dispatch_request):
            return cls.dispatch_request

        return None

    @classmethod
    def as_view(
        cls, name: str, *class_args: t.Any, **class_kwargs: t.Any
    ) -> ft.RouteCallable:
        """Return a view function that dispatches requests to an instance of
        this class.

        The instance is created per request, or once now if
        :attr:`init_every_request` is ``False``. If the class dispatches
        asynchronously, the view is an ``async def`` function that awaits the
        handler directly; otherwise it is a plain function that calls
        :meth:`dispatch_request` through ``current_app.ensure_sync``.

        The view function carries ``view_class`` (replaceable, e.g. in tests),
        ``methods`` and ``provide_automatic_options``, and takes the class's
        ``__doc__`` and ``__module__``.

        :param name: The view function's name, used as the default endpoint.
        :param class_args: Passed to the class's ``__init__``.
        :param class_kwargs: Passed to the class's ``__init__``.
        """
        # The inner functions read ``view`` when called, by which time it is
        # the outermost (decorated) function that carries ``view_class``.
        view: t.Any
        dispatcher = cls._async_dispatcher()
        shared = None if cls.init_every_request else cls(*class_args, **class_kwargs)

        if dispatcher is not None:

            async def async_view(**kwargs: t.Any) -> ft.ResponseReturnValue:
                if shared is not None:
                    return await dispatcher(shared, **kwargs)

                view_class: type[View] = view.view_class
                self = view_class(*class_args, **class_kwargs)

                if view_class is cls:
                    return await dispatcher(self, **kwargs)

                # ``view_class`` was replaced; it may dispatch differently.
                other = view_class._async_dispatcher()

                if other is not None:
                    return await other(self, **kwargs)

                return self.dispatch_request(**kwargs)

            view = async_view
        else:

            def sync_view(**kwargs: t.Any) -> ft.ResponseReturnValue:
                if shared is not None:
                    self = shared
                else:
                    self = view.view_class(*class_args, **class_kwargs)

                return current_app.ensure_sync(self.dispatch_request)(**kwargs)  # type: ignore[no-any-return]

            view = sync_view

        if cls.decorators:
            # Decorators such as functools.wraps users read these.
            view.__name__ = name
            view.__module__ = cls.__module__

            for decorator in cls.decorators:
                view = decorator(view)

        # Set on the outermost function, which is what gets registered.
        view.view_class = cls
        view.__name__ = name
        view.__doc__ = cls.__doc__
        view.__module__ = cls.__module__
        view.methods = cls.methods
        view.provide_automatic_options = cls.provide_automatic_options
        return view  # type: ignore[no-any-return]


class MethodView(View):
    """A view that dispatches each request to the method named after the
    HTTP method: ``get`` for GET, ``post`` for POST, and so on. HEAD falls
    back to ``get`` when there is no ``head``.

    Unless the class sets :attr:`methods` itself, it is filled in from the
    handlers the class defines or inherits, plus the ``methods`` of its
    bases::

        class Counter(MethodView):
            def get(self):
                return str(session.get("count", 0))

            def post(self):
                session["count"] = session.get("count", 0) + 1
                return redirect(url_for("counter"))

        app.add_url_rule("/counter", view_func=Counter.as_view("counter"))

    If every handler is ``async def`` (and :meth:`dispatch_request` is not
    overridden), the generated view is a coroutine function that awaits the
    handler directly. With a mix of sync and async handlers, the view is
    sync and async handlers go through ``current_app.ensure_sync``.
    """

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)

        if "methods" in cls.__dict__:
            return

        methods: set[str] = set()

        for base in cls.__bases__:
            base_methods = getattr(base, "methods", None)

            if base_methods:
                methods.update(base_methods)

        methods.update(name.upper() for name in http_method_funcs if hasattr(cls, name))

        if methods:
            cls.methods = methods

    def _get_handler(self) -> t.Callable[..., t.Any]:
        handler = getattr(self, request.method.lower(), None)

        if handler is None and request.method == "HEAD":
            handler = getattr(self, "get", None)

        assert handler is not None, f"Unimplemented method {request.method!r}"
        return handler  # type: ignore[no-any-return]

    def dispatch_request(self, **kwargs: t.Any) -> ft.ResponseReturnValue:
        """Call the handler for the request's method with the URL variables.

        :param kwargs: The URL variables.
        """
        return current_app.ensure_sync(self._get_handler())(**kwargs)  # type: ignore[no-any-return]

    async def _dispatch_request_async(self, **kwargs: t.Any) -> ft.ResponseReturnValue:
        return await self._get_handler()(**kwargs)  # type: ignore[no-any-return]

    @classmethod
    def _async_dispatcher(cls) -> _AsyncDispatcher | None:
        # A subclass that overrides dispatch_request decides for itself.
        if cls.dispatch_request is not MethodView.dispatch_request:
            return super()._async_dispatcher()

        handlers = [
            getattr(cls, name) for name in http_method_funcs if hasattr(cls, name)
        ]

        if handlers and all(inspect.iscoroutinefunction(h) for h in handlers):
            return MethodView._dispatch_request_async

        return None
