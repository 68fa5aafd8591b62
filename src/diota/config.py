"""Application configuration: a ``dict`` that knows how to fill itself."""

from __future__ import annotations

import errno
import json
import os
import types
import typing as t

from werkzeug.utils import import_string

if t.TYPE_CHECKING:
    import typing_extensions as te

    from .sansio.app import App


T = t.TypeVar("T")

# ``open()`` errors that mean "there is no such file here". ``silent=True``
# turns these into a ``False`` return; anything else (permissions, ...) is
# still raised because it points at a real problem.
_PYFILE_MISSING = (errno.ENOENT, errno.EISDIR, errno.ENOTDIR)
_FILE_MISSING = (errno.ENOENT, errno.EISDIR)


class ConfigAttribute(t.Generic[T]):
    """A descriptor that reads and writes one key of the owner's ``config``.

    Used on the application class so that, for example, ``app.testing`` is a
    view onto ``app.config["TESTING"]``.

    :param name: The config key to forward to.
    :param get_converter: Optional callable applied to the config value each
        time the attribute is read. Writing stores the value unchanged.
    """

    def __init__(
        self, name: str, get_converter: t.Callable[[t.Any], T] | None = None
    ) -> None:
        self.__name__ = name
        self.get_converter = get_converter

    @t.overload
    def __get__(self, obj: None, owner: None) -> te.Self: ...

    @t.overload
    def __get__(self, obj: App, owner: type[App]) -> T: ...

    def __get__(self, obj: App | None, owner: type[App] | None = None) -> T | te.Self:
        # Accessed on the class itself: hand back the descriptor so that
        # introspection and documentation tools can see it.
        if obj is None:
            return self

        value = obj.config[self.__name__]

        if self.get_converter is not None:
            value = self.get_converter(value)

        return value  # type: ignore[no-any-return]

    def __set__(self, obj: App, value: t.Any) -> None:
        obj.config[self.__name__] = value


class Config(dict):  # type: ignore[type-arg]
    """A ``dict`` with helpers to load values from modules, classes, Python
    files, data files, mappings and environment variables.

    Only keys written in upper case are taken from objects, Python files and
    mappings, so those sources can hold lower case helper names that are not
    configuration::

        app.config.from_object("myapp.default_settings")
        app.config.from_envvar("MYAPP_SETTINGS", silent=True)
        app.config.from_prefixed_env()

    :param root_path: Relative file names given to :meth:`from_pyfile` and
        :meth:`from_file` are resolved against this directory. The
        application passes its :attr:`~diota.Flask.root_path`.
    :param defaults: Initial values.
    """

    def __init__(
        self,
        root_path: str | os.PathLike[str],
        defaults: dict[str, t.Any] | None = None,
    ) -> None:
        super().__init__(defaults or {})
        self.root_path = root_path

    def from_envvar(self, variable_name: str, silent: bool = False) -> bool:
        """Load a Python config file whose path is held in an environment
        variable. Equivalent to ``from_pyfile(os.environ[variable_name])``
        with a clearer error when the variable is missing.

        :param variable_name: Name of the environment variable.
        :param silent: Return ``False`` instead of raising when the variable
            is unset or empty, or when the file does not exist.
        :return: ``True`` if a file was loaded.
        """
        path = os.environ.get(variable_name)

        if not path:
            if silent:
                return False

            raise RuntimeError(
                f"The environment variable {variable_name!r} is not set"
                " and as such configuration could not be loaded. Set"
                " this variable and make it point to a configuration"
                " file"
            )

        return self.from_pyfile(path, silent=silent)

    def from_prefixed_env(
        self, prefix: str = "FLASK", *, loads: t.Callable[[str], t.Any] = json.loads
    ) -> bool:
        """Load every environment variable named ``{prefix}_*``, with the
        prefix removed from the config key.

        Variables are processed in sorted order. Each value is passed to
        ``loads``; if that raises, the raw string is kept. With the default
        :func:`json.loads`, ``"1"`` becomes ``1``, ``"true"`` becomes
        ``True`` and so on.

        A double underscore in the key sets an item inside a nested dict:
        ``FLASK_DB__HOST`` sets ``config["DB"]["HOST"]``, creating missing
        intermediate dicts.

        :param prefix: Variable name prefix, without the trailing ``_``.
        :param loads: Converts each string value.
        :return: Always ``True``.
        """
        prefix = f"{prefix}_"

        for env_key in sorted(os.environ):
            if not env_key.startswith(prefix):
                continue

            raw = os.environ[env_key]
            key = env_key[len(prefix) :]

            try:
                value = loads(raw)
            except Exception:
                # Not parseable by ``loads``: the string itself is the value.
                value = raw

            *parents, leaf = key.split("__")
            target: t.MutableMapping[str, t.Any] = self

            for part in parents:
                if part not in target:
                    target[part] = {}

                target = target[part]

            target[leaf] = value

        return True

    def from_pyfile(
        self, filename: str | os.PathLike[str], silent: bool = False
    ) -> bool:
        """Execute a Python file as if it were a module and load its upper
        case names with :meth:`from_object`.

        :param filename: Absolute path, or path relative to :attr:`root_path`.
        :param silent: Return ``False`` instead of raising when the file does
            not exist.
        :return: ``True`` if the file was loaded.
        """
        filename = os.path.join(self.root_path, filename)
        module = types.ModuleType("config")
        module.__file__ = filename

        # Running the code is inside the ``try`` too: an ``OSError`` raised
        # by the config file itself gets the same treatment as a missing file.
        try:
            with open(filename, mode="rb") as f:
                exec(compile(f.read(), filename, "exec"), module.__dict__)
        except OSError as e:
            if silent and e.errno in _PYFILE_MISSING:
                return False

            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise

        self.from_object(module)
        return True

    def from_object(self, obj: object | str) -> None:
        """Copy the upper case attributes of an object into the config.

        The object is usually a module or a class. A string is imported
        first (``"package.module"`` or ``"package.module:Class"``). A
        ``dict`` does not work here because its keys are not attributes;
        use :meth:`from_mapping` for that. Properties on a class are only
        evaluated if an instance is passed.

        :param obj: The object, or its import name.
        """
        if isinstance(obj, str):
            obj = import_string(obj)

        for key in dir(obj):
            if key.isupper():
                self[key] = getattr(obj, key)

    def from_file(
        self,
        filename: str | os.PathLike[str],
        load: t.Callable[[t.IO[t.Any]], t.Mapping[str, t.Any]],
        silent: bool = False,
        text: bool = True,
    ) -> bool:
        """Load a data file with ``load`` and pass the result to
        :meth:`from_mapping`::

            app.config.from_file("config.json", load=json.load)
            app.config.from_file("config.toml", load=tomllib.load, text=False)

        :param filename: Absolute path, or path relative to :attr:`root_path`.
        :param load: Called with the open file; returns a mapping.
        :param silent: Return ``False`` instead of raising when the file does
            not exist.
        :param text: Open the file in text mode, else binary mode.
        :return: ``True`` if the file was loaded.
        """
        filename = os.path.join(self.root_path, filename)

        try:
            with open(filename, "r" if text else "rb") as f:
                data = load(f)
        except OSError as e:
            if silent and e.errno in _FILE_MISSING:
                return False

            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise

        return self.from_mapping(data)

    def from_mapping(
        self, mapping: t.Mapping[str, t.Any] | None = None, **kwargs: t.Any
    ) -> bool:
        """Update from a mapping and/or keyword arguments, skipping keys that
        are not upper case.

        :param mapping: Values to load.
        :param kwargs: More values to load; these win over ``mapping``.
        :return: Always ``True``.
        """
        merged: dict[str, t.Any] = {}

        if mapping is not None:
            merged.update(mapping)

        merged.update(kwargs)

        for key, value in merged.items():
            if key.isupper():
                self[key] = value

        return True

    def get_namespace(
        self, namespace: str, lowercase: bool = True, trim_namespace: bool = True
    ) -> dict[str, t.Any]:
        """Return the items whose key starts with ``namespace``, for example
        to pass them as keyword arguments::

            app.config["CACHE_TYPE"] = "redis"
            app.config["CACHE_TIMEOUT"] = 60
            app.config.get_namespace("CACHE_")
            # {"type": "redis", "timeout": 60}

        :param namespace: Key prefix to select.
        :param lowercase: Lower case the returned keys.
        :param trim_namespace: Remove the prefix from the returned keys.
        """
        result: dict[str, t.Any] = {}

        for key, value in self.items():
            if not key.startswith(namespace):
                continue

            if trim_namespace:
                key = key[len(namespace) :]

            if lowercase:
                key = key.lower()

            result[key] = value

        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict.__repr__(self)}>"
