"""The ``diota`` command line interface.

This module mirrors ``flask.cli``: it finds and loads an application,
runs the development server, opens a shell, lists routes, and lets an
application or extension add its own ``click`` commands. The command is
installed as ``diota``; because the ``flask`` module names alias to diota,
``flask`` and ``python -m flask`` drive the same code.

Environment variables keep Flask's names (``FLASK_APP``, ``FLASK_DEBUG``,
``FLASK_RUN_*``, ``FLASK_SKIP_DOTENV``, ``FLASK_ENV_FILE``) so existing
projects and deployment scripts keep working. ``DIOTA_APP`` is accepted
as a lower-priority synonym for ``FLASK_APP``.
"""

from __future__ import annotations

import ast
import collections.abc as cabc
import importlib.metadata
import inspect
import os
import platform
import re
import sys
import traceback
import typing as t
from functools import update_wrapper
from operator import itemgetter
from types import ModuleType

import click
from click.core import ParameterSource
from werkzeug import run_simple
from werkzeug.serving import is_running_from_reloader
from werkzeug.utils import import_string

from ._flask_api import FLASK_API_VERSION
from .globals import current_app
from .helpers import get_debug_flag
from .helpers import get_load_dotenv
from .provide_flask import provide_flask_command

if t.TYPE_CHECKING:
    import ssl

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

    from .app import Flask

#: Entry point groups scanned for plugin commands. ``flask.commands`` is
#: what existing extensions register; ``diota.commands`` is diota's own.
_PLUGIN_GROUPS = ("flask.commands", "diota.commands")


class NoAppException(click.UsageError):
    """Raised if an application cannot be found or loaded."""


def _flask_class() -> type[Flask]:
    # Imported lazily: the app module imports this one for ``AppGroup``.
    from .app import Flask

    return Flask


def _command_name() -> str:
    """The name the command was invoked as, for use in messages.

    This is ``diota`` for the installed script, but ``flask`` when the
    user runs the command through the Flask alias.
    """
    ctx = click.get_current_context(silent=True)

    if ctx is not None:
        name = ctx.find_root().info_name

        if name:
            return name

    return "diota"


def find_best_app(module: ModuleType) -> Flask:
    """Find the application in a module that was imported without naming one.

    The search order is: an attribute called ``app`` or ``application``
    holding an application; the only application among the module's
    attributes; then a factory called ``create_app`` or ``make_app``
    that can be called without arguments.

    :param module: The imported module to search.
    :raises NoAppException: If nothing suitable is found, or if the
        choice is ambiguous.
    """
    flask_cls = _flask_class()

    for name in ("app", "application"):
        candidate = getattr(module, name, None)

        if isinstance(candidate, flask_cls):
            return candidate

    found = [v for v in module.__dict__.values() if isinstance(v, flask_cls)]

    if len(found) > 1:
        raise NoAppException(
            f"Detected multiple Flask applications in module '{module.__name__}'."
            f" Use '{module.__name__}:name' to specify the correct one."
        )

    if found:
        return found[0]

    for name in ("create_app", "make_app"):
        factory = getattr(module, name, None)

        if not inspect.isfunction(factory):
            continue

        try:
            candidate = factory()
        except TypeError as e:
            # A TypeError raised inside the factory is the user's bug and
            # must propagate; one raised by the call itself means the
            # factory wants arguments.
            if not _called_with_wrong_args(factory):
                raise

            raise NoAppException(
                f"Detected factory '{name}' in module '{module.__name__}', but"
                " could not call it without arguments. Use"
                f" '{module.__name__}:{name}(args)' to specify arguments."
            ) from e

        if isinstance(candidate, flask_cls):
            return candidate

    raise NoAppException(
        "Failed to find Flask application or factory in module"
        f" '{module.__name__}'. Use '{module.__name__}:name' to specify one."
    )


def _called_with_wrong_args(f: t.Callable[..., Flask]) -> bool:
    """Tell whether the ``TypeError`` being handled came from calling ``f``
    with the wrong arguments rather than from code inside ``f``.

    Must be called from an ``except`` block.

    :param f: The function that was called.
    :return: ``True`` if the error happened before ``f``'s body ran.
    """
    tb = sys.exc_info()[2]

    try:
        while tb is not None:
            # A frame running f's code means the call itself succeeded.
            if tb.tb_frame.f_code is f.__code__:
                return False

            tb = tb.tb_next

        return True
    finally:
        # Traceback objects reference frames; drop ours to avoid a cycle.
        del tb


def _parse_app_expression(
    app_name: str,
) -> tuple[str, list[t.Any], dict[str, t.Any]]:
    """Split ``name`` or ``name(args)`` into the name and literal arguments."""
    try:
        node = ast.parse(app_name.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppException(
            f"Failed to parse {app_name!r} as an attribute name or function call."
        ) from None

    if isinstance(node, ast.Name):
        return node.id, [], {}

    if not isinstance(node, ast.Call):
        raise NoAppException(
            f"Failed to parse {app_name!r} as an attribute name or function call."
        )

    if not isinstance(node.func, ast.Name):
        raise NoAppException(f"Function reference must be a simple name: {app_name!r}.")

    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {
            kw.arg: ast.literal_eval(kw.value)
            for kw in node.keywords
            if kw.arg is not None
        }
    except ValueError:
        # literal_eval's own message names an AST node type, which means
        # nothing to a user typing a command; show their expression.
        raise NoAppException(
            f"Failed to parse arguments as literal values: {app_name!r}."
        ) from None

    return node.func.id, args, kwargs


def find_app_by_string(module: ModuleType, app_name: str) -> Flask:
    """Resolve ``app_name`` in ``module`` to an application.

    ``app_name`` is either an attribute name or a call such as
    ``create_app('dev', debug=True)`` whose arguments are Python literals.
    A function attribute is called (with those arguments) to produce the
    application; any other attribute is used as is.

    :param module: The imported module.
    :param app_name: The part after the colon in ``module:name``.
    :raises NoAppException: If the expression is invalid, the attribute is
        missing, the factory can't be called with the given arguments, or
        the result is not an application.
    """
    name, args, kwargs = _parse_app_expression(app_name)

    try:
        attr = getattr(module, name)
    except AttributeError as e:
        raise NoAppException(
            f"Failed to find attribute {name!r} in {module.__name__!r}."
        ) from e

    if inspect.isfunction(attr):
        try:
            app = attr(*args, **kwargs)
        except TypeError as e:
            if not _called_with_wrong_args(attr):
                raise

            raise NoAppException(
                f"The factory {app_name!r} in module {module.__name__!r} could"
                " not be called with the specified arguments."
            ) from e
    else:
        app = attr

    if isinstance(app, _flask_class()):
        return app

    raise NoAppException(
        "A valid Flask application was not obtained from"
        f" '{module.__name__}:{app_name}'."
    )


def prepare_import(path: str) -> str:
    """Turn a file path or dotted name into an importable module name.

    The directory above the outermost package containing ``path`` is put
    first on :data:`sys.path` so the returned name can be imported.

    :param path: A file or package path, with or without ``.py``, or a
        dotted module name.
    :return: The dotted module name.
    """
    path = os.path.realpath(path)
    root, ext = os.path.splitext(path)

    if ext == ".py":
        path = root

    if os.path.basename(path) == "__init__":
        path = os.path.dirname(path)

    parts: list[str] = []

    # Walk up while the parent directory is a package.
    while True:
        path, part = os.path.split(path)
        parts.insert(0, part)

        if not os.path.exists(os.path.join(path, "__init__.py")):
            break

    if sys.path[0] != path:
        sys.path.insert(0, path)

    return ".".join(parts)


@t.overload
def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: t.Literal[True] = True
) -> Flask: ...


@t.overload
def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: t.Literal[False] = ...
) -> Flask | None: ...


def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: bool = True
) -> Flask | None:
    """Import ``module_name`` and find the application in it.

    :param module_name: Dotted module name to import.
    :param app_name: Attribute or factory call to use, or ``None`` to
        search with :func:`find_best_app`.
    :param raise_if_not_found: If the module itself can't be imported,
        return ``None`` instead of raising. An import error raised from
        inside the module is always reported.
    """
    try:
        __import__(module_name)
    except ImportError:
        # A traceback deeper than this frame means the module was found
        # and something it imported failed, which the user must see.
        tb = sys.exc_info()[2]

        if tb is not None and tb.tb_next is not None:
            raise NoAppException(
                f"While importing {module_name!r}, an ImportError was raised:"
                f"\n\n{traceback.format_exc()}"
            ) from None

        if raise_if_not_found:
            raise NoAppException(f"Could not import {module_name!r}.") from None

        return None

    module = sys.modules[module_name]

    if app_name is None:
        return find_best_app(module)

    return find_app_by_string(module, app_name)


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def get_version(ctx: click.Context, param: click.Parameter, value: t.Any) -> None:
    """Callback for ``--version``: print the Python, diota, Flask API and
    Werkzeug versions, then exit.
    """
    if not value or ctx.resilient_parsing:
        return

    # None when running from a source checkout that isn't installed. (The
    # package's ``__version__`` is Flask's deprecated attribute: the Flask
    # API version, not diota's.)
    diota_version = _dist_version("diota") or "unknown"

    click.echo(
        f"Python {platform.python_version()}\n"
        f"Diota {diota_version} (Flask {FLASK_API_VERSION} API)\n"
        f"Werkzeug {_dist_version('werkzeug')}",
        color=ctx.color,
    )
    ctx.exit()


version_option = click.Option(
    ["--version"],
    help="Show the diota version.",
    expose_value=False,
    callback=get_version,
    is_flag=True,
    is_eager=True,
)


def _split_import_path(value: str) -> tuple[str, str | None]:
    """Split ``module:name`` at the first colon that doesn't start a path
    component, so Windows drive letters (``C:\\app.py``) stay intact.
    """
    match = re.search(r":(?![\\/])", value)

    if match is None:
        return value, None

    return value[: match.start()], value[match.end() :]


class ScriptInfo:
    """Knows how to load the application for a CLI invocation.

    :class:`FlaskGroup` creates one per invocation and passes it to
    commands as the click context object; create one yourself to invoke
    commands in tests or custom scripts.

    :param app_import_path: ``module:name`` or file path to the application.
    :param create_app: A callable returning the application. Takes
        precedence over ``app_import_path``.
    :param set_debug_flag: Set the loaded app's ``debug`` from
        ``FLASK_DEBUG``.
    :param load_dotenv_defaults: Whether default ``.flaskenv`` and ``.env``
        files should be loaded. This object doesn't load them itself; the
        ``--env-file`` option consults it. ``FLASK_SKIP_DOTENV`` overrides.
    """

    def __init__(
        self,
        app_import_path: str | None = None,
        create_app: t.Callable[..., Flask] | None = None,
        set_debug_flag: bool = True,
        load_dotenv_defaults: bool = True,
    ) -> None:
        #: Import path of the application, if given.
        self.app_import_path = app_import_path
        #: Callable that creates the application, if given.
        self.create_app = create_app
        #: Arbitrary data associated with this invocation.
        self.data: dict[t.Any, t.Any] = {}
        self.set_debug_flag = set_debug_flag
        #: Whether default dotenv files should be loaded.
        self.load_dotenv_defaults = get_load_dotenv(load_dotenv_defaults)
        self._loaded_app: Flask | None = None

    def _find_app(self) -> Flask | None:
        if self.create_app is not None:
            return self.create_app()

        if self.app_import_path:
            path, name = _split_import_path(self.app_import_path)
            return locate_app(prepare_import(path), name)

        # No app given: look for the conventional files in the cwd.
        for filename in ("wsgi.py", "app.py"):
            app = locate_app(prepare_import(filename), None, raise_if_not_found=False)

            if app is not None:
                return app

        return None

    def load_app(self) -> Flask:
        """Load the application once and return it on every call.

        :raises NoAppException: If no application can be located.
        """
        if self._loaded_app is not None:
            return self._loaded_app

        app = self._find_app()

        if app is None:
            raise NoAppException(
                "Could not locate a Flask application. Use the"
                f" '{_command_name()} --app' option, 'FLASK_APP' environment"
                " variable, or a 'wsgi.py' or 'app.py' file in the current"
                " directory."
            )

        if self.set_debug_flag:
            # Assign through the property so values derived from debug
            # (such as template auto-reload) follow.
            app.debug = get_debug_flag()

        self._loaded_app = app
        return app


#: Decorator passing the current :class:`ScriptInfo` as the first argument.
pass_script_info = click.make_pass_decorator(ScriptInfo, ensure=True)

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def with_appcontext(f: F) -> F:
    """Run a command callback inside the application's app context.

    If no app context is active, the application is loaded from the
    :class:`ScriptInfo` and its context is pushed for the rest of the
    click context's lifetime, so subcommands see it too. Commands on
    ``app.cli`` (and :class:`AppGroup` commands) get this automatically.
    """

    @click.pass_context
    def wrapper(ctx: click.Context, /, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if not current_app:
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())

        return ctx.invoke(f, *args, **kwargs)

    return update_wrapper(wrapper, f)  # type: ignore[return-value]


class AppGroup(click.Group):
    """A :class:`click.Group` whose commands run in the app context.

    :meth:`command` wraps callbacks with :func:`with_appcontext` unless
    ``with_appcontext=False`` is passed, and :meth:`group` creates nested
    :class:`AppGroup` instances. Not to be confused with :class:`FlaskGroup`.
    """

    def command(  # type: ignore[override]
        self, *args: t.Any, **kwargs: t.Any
    ) -> t.Callable[[t.Callable[..., t.Any]], click.Command]:
        """Like :meth:`click.Group.command`, but the callback is wrapped
        with :func:`with_appcontext` unless ``with_appcontext=False``.
        """
        wrap = kwargs.pop("with_appcontext", True)
        make_command = super().command(*args, **kwargs)

        def decorator(f: t.Callable[..., t.Any]) -> click.Command:
            if wrap:
                f = with_appcontext(f)

            return make_command(f)  # type: ignore[no-any-return]

        return decorator

    def group(  # type: ignore[override]
        self, *args: t.Any, **kwargs: t.Any
    ) -> t.Callable[[t.Callable[..., t.Any]], click.Group]:
        """Like :meth:`click.Group.group`, but the group class defaults to
        :class:`AppGroup`.
        """
        kwargs.setdefault("cls", AppGroup)
        return super().group(*args, **kwargs)  # type: ignore[no-any-return]


def _set_app(ctx: click.Context, param: click.Option, value: str | None) -> str | None:
    info = ctx.ensure_object(ScriptInfo)

    if value is None:
        # DIOTA_APP is a synonym for FLASK_APP with lower priority; an
        # import path already on the ScriptInfo wins over both.
        value = os.environ.get("DIOTA_APP") or None

        if value is None or info.app_import_path is not None:
            return None

    info.app_import_path = value
    return value


# Eager so that the app is known when --help lists its commands. --help is
# eager too, so this option must come before it in the parameter list.
_app_option = click.Option(
    ["-A", "--app"],
    metavar="IMPORT",
    help=(
        "The application or factory function to load, in the form 'module:name'."
        " Module can be a dotted import or file path. Name is not required if it is"
        " 'app', 'application', 'create_app', or 'make_app', and can be 'name(args)'"
        " to pass arguments."
    ),
    is_eager=True,
    expose_value=False,
    callback=_set_app,
)


def _set_debug(ctx: click.Context, param: click.Option, value: bool) -> bool | None:
    # Without the flag click reports False; that must not override a
    # FLASK_DEBUG set in the environment.
    source = ctx.get_parameter_source(param.name)  # type: ignore[arg-type,unused-ignore]

    if source in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        return None

    # Exported rather than stored on ScriptInfo so that an app factory
    # can read it while the app is being created.
    os.environ["FLASK_DEBUG"] = "1" if value else "0"
    return value


_debug_option = click.Option(
    ["--debug/--no-debug"],
    help="Set debug mode.",
    expose_value=False,
    callback=_set_debug,
)


def _env_file_callback(
    ctx: click.Context, param: click.Option, value: str | None
) -> str | None:
    try:
        import dotenv  # noqa: F401
    except ImportError:
        # Only an explicit file is an error; otherwise load_dotenv below
        # prints a tip if default files exist.
        if value is not None:
            raise click.BadParameter(
                "python-dotenv must be installed to load an env file.",
                ctx=ctx,
                param=param,
            ) from None

    info = ctx.ensure_object(ScriptInfo)

    if value is not None or info.load_dotenv_defaults:
        load_dotenv(value, load_defaults=info.load_dotenv_defaults)

    return value


# Eager, and placed before --app, so variables from the file are visible
# to every other option, including FLASK_APP.
_env_file_option = click.Option(
    ["-e", "--env-file"],
    type=click.Path(exists=True, dir_okay=False),
    help=(
        "Load environment variables from this file, taking precedence over"
        " '.env' and '.flaskenv'. Variables already set in the environment"
        " take highest precedence. Requires python-dotenv."
    ),
    is_eager=True,
    expose_value=False,
    callback=_env_file_callback,
)


class FlaskGroup(AppGroup):
    """The top-level command group: an :class:`AppGroup` that also lists
    the commands of the loaded application and of installed plugins.

    It adds the ``-e/--env-file``, ``-A/--app`` and ``--debug/--no-debug``
    options, and reads option values from ``FLASK_*`` environment
    variables. Use it to build a custom management script for an app.

    :param add_default_commands: Add the ``run``, ``shell`` and ``routes``
        commands.
    :param create_app: Callable returning the application; passed on to
        :class:`ScriptInfo`.
    :param add_version_option: Add the ``--version`` option.
    :param load_dotenv: Load ``.env`` and ``.flaskenv`` from the current
        directory or its parents.
    :param set_debug_flag: Set the loaded app's debug flag from
        ``FLASK_DEBUG``.
    """

    def __init__(
        self,
        add_default_commands: bool = True,
        create_app: t.Callable[..., Flask] | None = None,
        add_version_option: bool = True,
        load_dotenv: bool = True,
        set_debug_flag: bool = True,
        **extra: t.Any,
    ) -> None:
        params: list[click.Parameter] = list(extra.pop("params", None) or ())
        # The behaviour lives in option callbacks rather than a group
        # callback so a custom group callback doesn't lose it. The order
        # matters: env file first, then app, as both are eager.
        params.extend((_env_file_option, _app_option, _debug_option))

        if add_version_option:
            params.append(version_option)

        context_settings = extra.setdefault("context_settings", {})
        context_settings.setdefault("auto_envvar_prefix", "FLASK")
        super().__init__(params=params, **extra)

        self.create_app = create_app
        self.load_dotenv = load_dotenv
        self.set_debug_flag = set_debug_flag

        if add_default_commands:
            self.add_command(run_command)
            self.add_command(shell_command)
            self.add_command(routes_command)

        self._loaded_plugin_commands = False

    def _load_plugin_commands(self) -> None:
        if self._loaded_plugin_commands:
            return

        for group in _PLUGIN_GROUPS:
            for ep in importlib.metadata.entry_points(group=group):
                self.add_command(ep.load(), ep.name)

        self._loaded_plugin_commands = True

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_plugin_commands()
        # Built-in and plugin commands work even when the app can't load.
        rv = super().get_command(ctx, name)

        if rv is not None:
            return rv

        info = ctx.ensure_object(ScriptInfo)

        try:
            app = info.load_app()
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
            return None

        # Push the app context now, so parameter callbacks of app commands
        # see it too, unless this app's context is already active.
        if not current_app or current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            ctx.with_resource(app.app_context())

        return app.cli.get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        names = set(super().list_commands(ctx))
        info = ctx.ensure_object(ScriptInfo)

        # Help must still be shown if the app fails to load; report why.
        try:
            names.update(info.load_app().cli.list_commands(ctx))
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
        except Exception:
            click.secho(f"{traceback.format_exc()}\n", err=True, fg="red")

        return sorted(names)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: t.Any,
    ) -> click.Context:
        # Tells app.run() to do nothing: a module that calls app.run()
        # outside a __main__ guard would otherwise block every command.
        os.environ["FLASK_RUN_FROM_CLI"] = "true"

        if "obj" not in extra and "obj" not in self.context_settings:
            extra["obj"] = ScriptInfo(
                create_app=self.create_app,
                set_debug_flag=self.set_debug_flag,
                load_dotenv_defaults=self.load_dotenv,
            )

        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        only_help = len(args) == 1 and args[0] in self.get_help_option_names(ctx)

        if (not args and self.no_args_is_help) or only_help:
            # Help exits before eager options from the environment are
            # processed; handle them here so app commands are listed.
            _env_file_option.handle_parse_result(ctx, {}, [])
            _app_option.handle_parse_result(ctx, {}, [])

        return super().parse_args(ctx, args)


def _path_is_ancestor(path: str, other: str) -> bool:
    """Tell whether ``path`` is ``other`` or one of its parent directories,
    by re-joining ``other``'s tail onto ``path``.
    """
    tail = other[len(path) :].lstrip(os.sep)
    return os.path.join(path, tail) == other


def load_dotenv(
    path: str | os.PathLike[str] | None = None, load_defaults: bool = True
) -> bool:
    """Set environment variables from dotenv files.

    Values from ``path`` override ``.env``, which overrides ``.flaskenv``
    (both found by searching up from the current directory). A variable
    already present in :data:`os.environ` is never changed. The working
    directory is not changed.

    Without `python-dotenv <https://pypi.org/project/python-dotenv/>`_
    installed this does nothing, printing a tip if env files are present.

    :param path: An extra file to load, if it exists.
    :param load_defaults: Search for and load ``.flaskenv`` and ``.env``.
    :return: ``True`` if any variable was read from a file.
    """
    try:
        import dotenv
    except ImportError:
        if path or os.path.isfile(".env") or os.path.isfile(".flaskenv"):
            click.secho(
                " * Tip: There are .env files present. Install python-dotenv"
                " to use them.",
                fg="yellow",
                err=True,
            )

        return False

    values: dict[str, str | None] = {}
    files: list[str | os.PathLike[str]] = []

    if load_defaults:
        for name in (".flaskenv", ".env"):
            found = dotenv.find_dotenv(name, usecwd=True)

            if found:
                files.append(found)

    if path is not None and os.path.isfile(path):
        files.append(path)

    # Later files win, so merge in increasing priority.
    for file in files:
        values.update(dotenv.dotenv_values(file, encoding="utf-8"))

    for key, value in values.items():
        if value is not None and key not in os.environ:
            os.environ[key] = value

    return bool(values)


def show_server_banner(debug: bool, app_import_path: str | None) -> None:
    """Print which app is served and whether debug mode is on. Skipped in
    the reloader's child process so the lines appear only once.
    """
    if is_running_from_reloader():
        return

    if app_import_path is not None:
        click.echo(f" * Serving Flask app '{app_import_path}'")

    if debug is not None:
        click.echo(f" * Debug mode: {'on' if debug else 'off'}")


class CertParamType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """Type of the ``--cert`` option: an existing file, ``adhoc`` for a
    generated certificate, or the import name of an
    :class:`ssl.SSLContext` object.
    """

    name = "path"

    def __init__(self) -> None:
        self.path_type = click.Path(exists=True, dir_okay=False, resolve_path=True)

    def convert(
        self, value: t.Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> t.Any:
        try:
            import ssl
        except ImportError:
            raise click.BadParameter(
                'Using "--cert" requires Python to be compiled with SSL support.',
                ctx,
                param,
            ) from None

        try:
            return self.path_type(value, param, ctx)
        except click.BadParameter:
            value = click.STRING(value, param, ctx).lower()

            if value == "adhoc":
                try:
                    import cryptography  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
                except ImportError:
                    raise click.BadParameter(
                        "Using ad-hoc certificates requires the cryptography library.",
                        ctx,
                        param,
                    ) from None

                return value

            obj = import_string(value, silent=True)

            if isinstance(obj, ssl.SSLContext):
                return obj

            # Not a file, adhoc, or context: report the path error.
            raise


def _validate_key(ctx: click.Context, param: click.Parameter, value: t.Any) -> t.Any:
    """Callback of ``--key``: a key is required with a certificate file and
    refused otherwise. Combines the two into ``cert=(cert, key)``.
    """
    cert = ctx.params.get("cert")
    is_adhoc = cert == "adhoc"

    try:
        import ssl
    except ImportError:
        is_context = False
    else:
        is_context = isinstance(cert, ssl.SSLContext)

    if value is None:
        if cert and not (is_adhoc or is_context):
            raise click.BadParameter('Required when using "--cert".', ctx, param)

        return value

    if is_adhoc:
        raise click.BadParameter(
            'When "--cert" is "adhoc", "--key" is not used.', ctx, param
        )

    if is_context:
        raise click.BadParameter(
            'When "--cert" is an SSLContext object, "--key" is not used.', ctx, param
        )

    if not cert:
        raise click.BadParameter('"--cert" must also be specified.', ctx, param)

    ctx.params["cert"] = cert, value
    return value


class SeparatedPathType(click.Path):
    """A :class:`click.Path` accepting several paths joined by
    :data:`os.pathsep`; converts to a list, validating each item.
    """

    def convert(
        self, value: t.Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> t.Any:
        convert_one = super().convert
        return [
            convert_one(item, param, ctx) for item in self.split_envvar_value(value)
        ]


def _failed_app(error: Exception) -> WSGIApplication:
    """A WSGI app that raises ``error`` for every request."""

    def app(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        raise error from None

    return app


@click.command("run", short_help="Run a development server.")
@click.option("--host", "-h", default="127.0.0.1", help="The interface to bind to.")
@click.option("--port", "-p", default=5000, help="The port to bind to.")
@click.option(
    "--cert",
    type=CertParamType(),
    help="Specify a certificate file to use HTTPS.",
    is_eager=True,
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    callback=_validate_key,
    expose_value=False,
    help="The key file to use when specifying a certificate.",
)
@click.option(
    "--reload/--no-reload",
    default=None,
    help="Enable or disable the reloader. By default the reloader is active"
    " if debug is enabled.",
)
@click.option(
    "--debugger/--no-debugger",
    default=None,
    help="Enable or disable the debugger. By default the debugger is active"
    " if debug is enabled.",
)
@click.option(
    "--with-threads/--without-threads",
    default=True,
    help="Enable or disable multithreading.",
)
@click.option(
    "--extra-files",
    default=None,
    type=SeparatedPathType(),
    help=(
        "Extra files that trigger a reload on change. Multiple paths are"
        f" separated by {os.path.pathsep!r}."
    ),
)
@click.option(
    "--exclude-patterns",
    default=None,
    type=SeparatedPathType(),
    help=(
        "Files matching these fnmatch patterns will not trigger a reload on"
        f" change. Multiple patterns are separated by {os.path.pathsep!r}."
    ),
)
@pass_script_info
def run_command(
    info: ScriptInfo,
    host: str,
    port: int,
    reload: bool | None,
    debugger: bool | None,
    with_threads: bool,
    cert: ssl.SSLContext | tuple[str, str | None] | t.Literal["adhoc"] | None,
    extra_files: list[str] | None,
    exclude_patterns: list[str] | None,
) -> None:
    """Run a local development server.

    This server is for development only. It is not meant to provide the
    stability, security or performance of a production server.

    The '--debug' option enables the reloader and debugger by default.
    """
    app: WSGIApplication

    try:
        app = info.load_app()
    except Exception as e:
        if not is_running_from_reloader():
            raise e from None

        # In the reloader's child, keep serving so that fixing the file
        # reloads; show the error now and raise it for each request so
        # the debugger can display it.
        traceback.print_exc()
        app = _failed_app(e)

    debug = get_debug_flag()
    use_reloader = debug if reload is None else reload
    use_debugger = debug if debugger is None else debugger
    show_server_banner(debug, info.app_import_path)
    run_simple(
        host,
        port,
        app,
        use_reloader=use_reloader,
        use_debugger=use_debugger,
        threaded=with_threads,
        ssl_context=cert,
        extra_files=extra_files,
        exclude_patterns=exclude_patterns,
    )


# --debug on "run" too, so "diota run --debug" works as users expect.
run_command.params.insert(0, _debug_option)


@click.command("shell", short_help="Run a shell in the app context.")
@with_appcontext
def shell_command() -> None:
    """Run an interactive Python shell in the context of the application.

    The namespace is populated from the app's shell context processors,
    which is handy for running management snippets.
    """
    import code

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    banner = (
        f"Python {sys.version} on {sys.platform}\n"
        f"App: {app.import_name}\n"
        f"Instance: {app.instance_path}"
    )
    namespace: dict[str, t.Any] = {}

    # Honour the standard interpreter startup script.
    startup = os.environ.get("PYTHONSTARTUP")

    if startup and os.path.isfile(startup):
        with open(startup) as f:
            eval(compile(f.read(), startup, "exec"), namespace)

    namespace.update(app.make_shell_context())

    # Run the interactive hook (readline, history) that a plain ``python``
    # session would run, completing names from our namespace rather than
    # the __main__ module's.
    hook = getattr(sys, "__interactivehook__", None)

    if hook is not None:
        try:
            import readline
            from rlcompleter import Completer
        except ImportError:
            pass
        else:
            readline.set_completer(Completer(namespace).complete)

        hook()

    code.interact(banner=banner, local=namespace)


@click.command("routes", short_help="Show the routes for the app.")
@click.option(
    "--sort",
    "-s",
    type=click.Choice(("endpoint", "methods", "domain", "rule", "match")),
    default="endpoint",
    help=(
        "Method to sort routes by. 'match' is the order in which routes are"
        " matched when dispatching a request."
    ),
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS methods.")
@with_appcontext
def routes_command(sort: str, all_methods: bool) -> None:
    """Show all registered routes with endpoints and methods."""
    url_map = current_app.url_map
    rules = list(url_map.iter_rules())

    if not rules:
        click.echo("No routes were registered.")
        return

    hidden_methods = set() if all_methods else {"HEAD", "OPTIONS"}
    by_host = url_map.host_matching

    def domain(rule: t.Any) -> str:
        return str((rule.host if by_host else rule.subdomain) or "")

    show_domain = any(domain(rule) for rule in rules)
    headers = ["Endpoint", "Methods"]
    sort_keys = ["endpoint", "methods"]

    if show_domain:
        headers.append("Host" if by_host else "Subdomain")
        sort_keys.append("domain")

    headers.append("Rule")
    sort_keys.append("rule")
    rows: list[list[str]] = []

    for rule in rules:
        if rule.websocket:
            methods = "WEBSOCKET"
        else:
            methods = ", ".join(sorted((rule.methods or set()) - hidden_methods))
        row = [rule.endpoint, methods]

        if show_domain:
            row.append(domain(rule))

        row.append(rule.rule)
        rows.append(row)

    # "match" isn't a column: rules are already listed in match order.
    if sort in sort_keys:
        rows.sort(key=itemgetter(sort_keys.index(sort)))

    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    rows[:0] = [headers, ["-" * w for w in widths]]

    for row in rows:
        click.echo(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mounts = [*app._mounts, *([app._fallback] if app._fallback else [])]
    if mounts:
        click.echo("\nMounted applications:")
        for mount in mounts:
            where = f"{mount.prefix}/*" if mount.prefix else "(fallback)"
            click.echo(f"  {where}  {mount.interface}  {mount.application!r}")


cli = FlaskGroup(
    name="diota",
    help="""\
A general utility script for diota applications.

An application to load must be given with the '--app' option,
'FLASK_APP' environment variable, or with a 'wsgi.py' or 'app.py' file
in the current directory.
""",
)

# diota's own: registering diota as the environment's flask distribution.
cli.add_command(provide_flask_command)


def main() -> None:
    """Entry point of the ``diota`` script."""
    cli.main()


if __name__ == "__main__":
    main()
