"""What applications and blueprints share: registering routes, hooks and handlers.

Nothing here does I/O or knows how requests arrive; the app and blueprint
classes build on it.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import typing as t
from collections import defaultdict
from functools import update_wrapper

from jinja2 import BaseLoader
from jinja2 import FileSystemLoader
from werkzeug.exceptions import default_exceptions
from werkzeug.exceptions import HTTPException
from werkzeug.utils import cached_property

from .. import typing as ft
from ..helpers import get_root_path
from ..templating import _default_template_ctx_processor

if t.TYPE_CHECKING:  # pragma: no cover
    from click import Group

# Marks "argument not given" where None is a meaningful value.
_sentinel = object()

F = t.TypeVar("F", bound=t.Callable[..., t.Any])
T_after_request = t.TypeVar("T_after_request", bound=ft.AfterRequestCallable[t.Any])
T_before_request = t.TypeVar("T_before_request", bound=ft.BeforeRequestCallable)
T_error_handler = t.TypeVar("T_error_handler", bound=ft.ErrorHandlerCallable)
T_teardown = t.TypeVar("T_teardown", bound=ft.TeardownCallable)
T_after_websocket = t.TypeVar("T_after_websocket", bound=t.Callable[..., t.Any])
T_template_context_processor = t.TypeVar(
    "T_template_context_processor", bound=ft.TemplateContextProcessorCallable
)
T_url_defaults = t.TypeVar("T_url_defaults", bound=ft.URLDefaultCallable)
T_url_value_preprocessor = t.TypeVar(
    "T_url_value_preprocessor", bound=ft.URLValuePreprocessorCallable
)
T_route = t.TypeVar("T_route", bound=ft.RouteCallable)
T_websocket = t.TypeVar("T_websocket", bound=ft.WebSocketCallable)


def setupmethod(f: F) -> F:
    """Mark a registration method: calling it after setup finished is an error."""
    f_name = f.__name__

    def wrapper_func(self: Scaffold, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._check_setup_finished(f_name)
        return f(self, *args, **kwargs)

    return t.cast(F, update_wrapper(wrapper_func, f))


class Scaffold:
    """The registration API common to :class:`~diota.Flask` and
    :class:`~diota.Blueprint`.

    :param import_name: the module (usually ``__name__``) whose folder is the
        root for static files, templates and resources.
    :param static_folder: folder of static files, relative to ``root_path``.
    :param static_url_path: URL prefix of static files; defaults to the
        folder's name.
    :param template_folder: folder of templates, relative to ``root_path``.
    :param root_path: the root folder, when it cannot be found from
        ``import_name`` (namespace packages, interactive use).
    """

    cli: Group
    name: str
    _static_folder: str | None = None
    _static_url_path: str | None = None

    def __init__(
        self,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        root_path: str | None = None,
    ) -> None:
        from ..cli import AppGroup

        #: The name of the package or module this object belongs to.
        self.import_name = import_name
        self.static_folder = static_folder
        self.static_url_path = static_url_path
        #: Folder of templates relative to :attr:`root_path`, if any.
        self.template_folder = template_folder

        if root_path is None:
            root_path = get_root_path(self.import_name)
        #: Absolute path of the folder static and template paths are relative to.
        self.root_path = root_path

        #: Click group for commands registered on this object; ``flask`` /
        #: ``diota`` exposes them.
        self.cli = AppGroup()

        #: Endpoint name -> view function.
        self.view_functions: dict[str, ft.RouteCallable] = {}

        #: Blueprint name (``None`` for the app) -> status code (``None``
        #: for exception classes) -> exception class -> handler.
        self.error_handler_spec: dict[
            ft.AppOrBlueprintKey,
            dict[int | None, dict[type[Exception], ft.ErrorHandlerCallable]],
        ] = defaultdict(lambda: defaultdict(dict))

        #: Blueprint name -> functions run before each request.
        self.before_request_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.BeforeRequestCallable]
        ] = defaultdict(list)

        #: Blueprint name -> functions run on each response.
        self.after_request_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.AfterRequestCallable[t.Any]]
        ] = defaultdict(list)

        #: Blueprint name -> functions run when each request context is torn down.
        self.teardown_request_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.TeardownCallable]
        ] = defaultdict(list)

        #: Blueprint name -> functions run before each WebSocket handler.
        self.before_websocket_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.BeforeRequestCallable]
        ] = defaultdict(list)

        #: Blueprint name -> functions run after each WebSocket handler.
        self.after_websocket_funcs: dict[
            ft.AppOrBlueprintKey, list[t.Callable[..., t.Any]]
        ] = defaultdict(list)

        #: Blueprint name -> functions run when each WebSocket context is torn down.
        self.teardown_websocket_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.TeardownCallable]
        ] = defaultdict(list)

        #: Blueprint name -> functions adding values to template contexts.
        self.template_context_processors: dict[
            ft.AppOrBlueprintKey, list[ft.TemplateContextProcessorCallable]
        ] = defaultdict(list, {None: [_default_template_ctx_processor]})

        #: Blueprint name -> functions that see URL values before the view.
        self.url_value_preprocessors: dict[
            ft.AppOrBlueprintKey, list[ft.URLValuePreprocessorCallable]
        ] = defaultdict(list)

        #: Blueprint name -> functions filling in default URL values in url_for.
        self.url_default_functions: dict[
            ft.AppOrBlueprintKey, list[ft.URLDefaultCallable]
        ] = defaultdict(list)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def _check_setup_finished(self, f_name: str) -> None:
        raise NotImplementedError

    @property
    def static_folder(self) -> str | None:
        """Absolute path of the static folder, or ``None``."""
        if self._static_folder is not None:
            return os.path.join(self.root_path, self._static_folder)
        return None

    @static_folder.setter
    def static_folder(self, value: str | os.PathLike[str] | None) -> None:
        if value is not None:
            value = os.fspath(value).rstrip(r"\/")
        self._static_folder = value

    @property
    def has_static_folder(self) -> bool:
        """Whether a static folder is set."""
        return self.static_folder is not None

    @property
    def static_url_path(self) -> str | None:
        """The URL prefix static files are served under."""
        if self._static_url_path is not None:
            return self._static_url_path
        if self.static_folder is not None:
            basename = os.path.basename(self.static_folder)
            return f"/{basename}".rstrip("/")
        return None

    @static_url_path.setter
    def static_url_path(self, value: str | None) -> None:
        if value is not None:
            value = value.rstrip("/")
        self._static_url_path = value

    @cached_property
    def jinja_loader(self) -> BaseLoader | None:
        """Loader for this object's template folder, or ``None`` without one."""
        if self.template_folder is not None:
            return FileSystemLoader(os.path.join(self.root_path, self.template_folder))
        return None

    def _method_route(
        self, method: str, rule: str, options: dict[str, t.Any]
    ) -> t.Callable[[T_route], T_route]:
        if "methods" in options:
            raise TypeError("Use the 'route' decorator to use the 'methods' argument.")
        return self.route(rule, methods=[method], **options)

    @setupmethod
    def get(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["GET"])``."""
        return self._method_route("GET", rule, options)

    @setupmethod
    def post(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["POST"])``."""
        return self._method_route("POST", rule, options)

    @setupmethod
    def put(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["PUT"])``."""
        return self._method_route("PUT", rule, options)

    @setupmethod
    def delete(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["DELETE"])``."""
        return self._method_route("DELETE", rule, options)

    @setupmethod
    def patch(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["PATCH"])``."""
        return self._method_route("PATCH", rule, options)

    @setupmethod
    def route(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """Decorate a view function to register it for ``rule``.

        :param rule: the URL rule, with ``<converter:name>`` parts.
        :param options: passed to :class:`werkzeug.routing.Rule` and
            :meth:`add_url_rule` (``endpoint``, ``methods``, ``defaults``,
            ``strict_slashes``, ``subdomain``, ``host``, ...).
        """

        def decorator(f: T_route) -> T_route:
            endpoint = options.pop("endpoint", None)
            self.add_url_rule(rule, endpoint, f, **options)
            return f

        return decorator

    @setupmethod
    def websocket(
        self, rule: str, **options: t.Any
    ) -> t.Callable[[T_websocket], T_websocket]:
        """Decorate a WebSocket handler for ``rule`` (served under ASGI).

        The rule is part of the URL map like any route (converters,
        blueprints, :func:`~diota.url_for`), matched only by WebSocket
        handshakes. The handler talks to the client through
        :data:`~diota.websocket`; if it returns a response before accepting,
        the handshake is refused with it.

        .. versionadded:: 0.3
        """
        if "methods" in options:
            raise TypeError("A WebSocket route takes no 'methods'.")
        options.setdefault("provide_automatic_options", False)
        return self.route(rule, websocket=True, **options)  # type: ignore[return-value]

    @setupmethod
    def before_websocket(self, f: T_before_request) -> T_before_request:
        """Run ``f`` before each WebSocket handler; if it returns a value,
        the handshake is refused with that response and the handler does not
        run (an authentication check, say).

        .. versionadded:: 0.3
        """
        self.before_websocket_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def after_websocket(self, f: T_after_websocket) -> T_after_websocket:
        """Run ``f`` after each WebSocket handler, with the response that
        refuses the handshake, or ``None`` once the connection was accepted;
        it returns the same kind of value.

        .. versionadded:: 0.3
        """
        self.after_websocket_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def teardown_websocket(self, f: T_teardown) -> T_teardown:
        """Run ``f`` once when each WebSocket context is torn down, with the
        unhandled exception or ``None`` (a client disconnect is no error).

        .. versionadded:: 0.3
        """
        self.teardown_websocket_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: ft.RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: t.Any,
    ) -> None:
        """Register a URL rule; see :meth:`route`."""
        raise NotImplementedError

    @setupmethod
    def endpoint(self, endpoint: str) -> t.Callable[[F], F]:
        """Decorate a function to be the view of ``endpoint`` (added with
        :meth:`add_url_rule` without a view)."""

        def decorator(f: F) -> F:
            self.view_functions[endpoint] = f
            return f

        return decorator

    @setupmethod
    def before_request(self, f: T_before_request) -> T_before_request:
        """Run ``f`` before each request; if it returns a value, that value is
        the response and the view does not run."""
        self.before_request_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def after_request(self, f: T_after_request) -> T_after_request:
        """Run ``f`` with each response; it must return a response.

        Not called when an unhandled exception ends the request.
        """
        self.after_request_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def teardown_request(self, f: T_teardown) -> T_teardown:
        """Run ``f`` when each request context is popped, with the unhandled
        exception or ``None``. Its return value is ignored."""
        self.teardown_request_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def context_processor(
        self, f: T_template_context_processor
    ) -> T_template_context_processor:
        """Register ``f`` to add the dict it returns to every template context."""
        self.template_context_processors[None].append(f)
        return f

    @setupmethod
    def url_value_preprocessor(
        self, f: T_url_value_preprocessor
    ) -> T_url_value_preprocessor:
        """Register ``f(endpoint, values)`` to see (and change) URL values
        before the view runs."""
        self.url_value_preprocessors[None].append(f)
        return f

    @setupmethod
    def url_defaults(self, f: T_url_defaults) -> T_url_defaults:
        """Register ``f(endpoint, values)`` to fill in URL values for url_for."""
        self.url_default_functions[None].append(f)
        return f

    @setupmethod
    def errorhandler(
        self, code_or_exception: type[Exception] | int
    ) -> t.Callable[[T_error_handler], T_error_handler]:
        """Decorate a function to handle an HTTP status code or an exception class."""

        def decorator(f: T_error_handler) -> T_error_handler:
            self.register_error_handler(code_or_exception, f)
            return f

        return decorator

    @setupmethod
    def register_error_handler(
        self,
        code_or_exception: type[Exception] | int,
        f: ft.ErrorHandlerCallable,
    ) -> None:
        """Register ``f`` for a status code or exception class (the
        non-decorator form of :meth:`errorhandler`)."""
        exc_class, code = self._get_exc_class_and_code(code_or_exception)
        self.error_handler_spec[None][code][exc_class] = f

    @staticmethod
    def _get_exc_class_and_code(
        exc_class_or_code: type[Exception] | int,
    ) -> tuple[type[Exception], int | None]:
        """The exception class and status code an error handler key stands for."""
        exc_class: type[Exception]

        if isinstance(exc_class_or_code, int):
            try:
                exc_class = default_exceptions[exc_class_or_code]
            except KeyError:
                raise ValueError(
                    f"'{exc_class_or_code}' is not a recognized HTTP"
                    " error code. Use a subclass of HTTPException with"
                    " that code instead."
                ) from None
        else:
            exc_class = exc_class_or_code

        if isinstance(exc_class, Exception):
            raise TypeError(
                f"{exc_class!r} is an instance, not a class. Handlers"
                " can only be registered for Exception classes or HTTP"
                " error codes."
            )

        if not issubclass(exc_class, Exception):
            raise ValueError(
                f"'{exc_class.__name__}' is not a subclass of Exception."
                " Handlers can only be registered for Exception classes"
                " or HTTP error codes."
            )

        if issubclass(exc_class, HTTPException):
            return exc_class, exc_class.code
        return exc_class, None


def _endpoint_from_view_func(view_func: ft.RouteCallable) -> str:
    """The default endpoint of a view: its function name."""
    assert view_func is not None, "expected view func if endpoint is not provided."
    return view_func.__name__


def _find_package_path(import_name: str) -> str:
    """The folder that contains the package or module ``import_name``."""
    root_mod_name, _, _ = import_name.partition(".")

    try:
        root_spec = importlib.util.find_spec(root_mod_name)
        if root_spec is None:
            raise ValueError("not found")
    except (ImportError, ValueError):
        # Not importable (e.g. __main__ run as a script): the working folder.
        return os.getcwd()

    if root_spec.submodule_search_locations:
        if root_spec.origin is None or root_spec.origin == "namespace":
            # A namespace package: the folder of the submodule that is asked for.
            package_spec = importlib.util.find_spec(import_name)
            if package_spec is not None and package_spec.submodule_search_locations:
                package_path = pathlib.Path(
                    os.path.commonpath(package_spec.submodule_search_locations)
                )
                search_location = next(
                    location
                    for location in root_spec.submodule_search_locations
                    if package_path.is_relative_to(location)
                )
            else:
                search_location = root_spec.submodule_search_locations[0]
            return os.path.dirname(search_location)
        # A regular package: the folder above the package folder.
        return os.path.dirname(os.path.dirname(root_spec.origin))
    # A plain module.
    return os.path.dirname(root_spec.origin)  # type: ignore[type-var, return-value]


def find_package(import_name: str) -> tuple[str | None, str]:
    """Where a package is installed: ``(prefix, package_path)``.

    ``prefix`` is the installation prefix when the package lives in
    ``site-packages`` under one (used to place the instance folder in
    ``<prefix>/var``), else ``None``.
    """
    package_path = _find_package_path(import_name)
    py_prefix = os.path.abspath(sys.prefix)

    # Installed to the system prefix: use it.
    if pathlib.PurePath(package_path).is_relative_to(py_prefix):
        return py_prefix, package_path

    site_parent, site_folder = os.path.split(package_path)

    # Installed to another prefix, under lib/site-packages.
    if site_folder.lower() == "site-packages":
        parent, folder = os.path.split(site_parent)
        if folder.lower() == "lib":
            return parent, package_path
        if os.path.basename(parent).lower() == "lib":
            return os.path.dirname(parent), package_path
        return site_parent, package_path

    # Not installed.
    return None, package_path
