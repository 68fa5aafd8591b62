"""Opt-in import alias that makes ``import flask`` resolve to diota.

Importing this module installs the alias (so does :func:`install`, which
may be called again after :func:`uninstall`). Once installed, ``flask``
and every ``flask.<submodule>`` are the *same module objects* as
``diota`` and ``diota.<submodule>``: ``flask.Flask is diota.Flask``,
``flask.globals is diota.globals``. Code written for Flask, its
extensions included, then runs on diota unchanged.

The alias can be switched on for a whole environment, without touching
any code, by setting ``DIOTA_FLASK_ALIAS=1``: diota's wheel ships a
``.pth`` file that installs the alias at interpreter start-up when the
variable is set. ``python -m flask ...`` then runs diota's command line.

How it works: a finder at the front of :data:`sys.meta_path` answers for
``flask`` and ``flask.*``. Its loader imports the matching ``diota``
module and hands that very object to the import system, which registers
it under the ``flask`` name as well. The module keeps its own identity:
``flask.__name__ == "diota"`` and ``flask.__spec__`` is diota's spec, so
``sys.modules[flask.__name__] is flask`` and
``importlib.import_module(flask.__name__ + ".json") is flask.json``.
Only ``flask.__main__`` is special: it is given a real file loader so
that ``runpy`` (``python -m flask``) can execute ``diota/__main__.py``.

The finder also answers :func:`importlib.metadata.version` for
``"flask"`` with :data:`FLASK_API_VERSION`, the Flask release whose API
diota implements, because extensions (and Flask's own ``--version``)
look the version up that way. It only answers look-ups by that exact
name on the default search path, so installers never see a fake
distribution.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import sys
import typing as t
from types import ModuleType

from ._flask_api import FLASK_API_VERSION as FLASK_API_VERSION
from ._flask_api import real_flask_location
from ._flask_api import RealFlaskWarning as RealFlaskWarning
from ._flask_api import warn_about_real_flask

#: The module name that the alias provides.
ALIAS = "flask"
#: The package the alias resolves to.
TARGET = "diota"
#: The environment variable read by the ``.pth`` start-up hook.
ENV_VAR = "DIOTA_FLASK_ALIAS"

_FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})


def env_enabled(environ: t.Mapping[str, str] | None = None) -> bool:
    """Tell whether :data:`ENV_VAR` asks for the alias.

    Any value other than empty, ``0``, ``false``, ``no`` or ``off``
    (case-insensitive) enables it.

    :param environ: The mapping to read, :data:`os.environ` by default.
    """
    if environ is None:
        environ = os.environ
    return environ.get(ENV_VAR, "").strip().lower() not in _FALSE_VALUES


def _canonical(name: str) -> str:
    # Distribution names compare after PEP 503 normalization ("Flask",
    # "flask", "FLASK" are one distribution).
    return re.sub(r"[-_.]+", "-", name).lower()


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias name by importing the target module and reusing it."""

    def __init__(self, target_name: str) -> None:
        self.target_name = target_name
        self._target_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # Returning the already-imported target makes the import system
        # register this very object under the alias name: one module, two
        # names, so classes, context variables and state are shared.
        module = importlib.import_module(self.target_name)
        self._target_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just pointed ``__spec__`` at the alias spec
        # (it does so unconditionally). Give the module its own spec back so
        # that reload(), pickling and ``__spec__.name`` keep naming diota.
        # Nothing is executed: the target module already ran.
        if self._target_spec is not None:
            module.__spec__ = self._target_spec


class _AliasDistribution(importlib.metadata.Distribution):
    """Minimal metadata for the alias name, pointing at the target package."""

    def __init__(self, name: str, version: str, target: str) -> None:
        self._name = name
        self._version = version
        self._target = target

    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            return (
                "Metadata-Version: 2.1\n"
                f"Name: {self._name}\n"
                f"Version: {self._version}\n"
                f"Summary: Provided by {self._target} through its import alias.\n"
            )
        return None

    def locate_file(self, path: str | os.PathLike[str]) -> pathlib.Path:
        spec = importlib.util.find_spec(self._target)
        locations = spec.submodule_search_locations if spec is not None else None
        base = (
            pathlib.Path(next(iter(locations))).parent if locations else pathlib.Path()
        )
        return base / path


_ANY_DISTRIBUTION = importlib.metadata.DistributionFinder.Context()


class AliasFinder(importlib.metadata.DistributionFinder):
    """A :data:`sys.meta_path` finder mapping ``alias[.x]`` to ``target[.x]``.

    :param alias: The top-level name to provide, e.g. ``"flask"``.
    :param target: The top-level package it resolves to, e.g. ``"diota"``.
    :param version: The version that :mod:`importlib.metadata` reports for
        a distribution named ``alias``; ``None`` reports nothing.
    """

    def __init__(self, alias: str, target: str, version: str | None = None) -> None:
        self.alias = alias
        self.target = target
        self.version = version

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r} -> {self.target!r}>"

    def target_name(self, fullname: str) -> str | None:
        """Return the target module name for ``fullname``, or ``None``.

        :param fullname: A fully qualified module name.
        """
        if fullname == self.alias:
            return self.target
        if fullname.startswith(self.alias + "."):
            return self.target + fullname[len(self.alias) :]
        return None

    def find_spec(
        self,
        fullname: str,
        path: t.Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        target_name = self.target_name(fullname)
        if target_name is None:
            return None

        try:
            target_spec = importlib.util.find_spec(target_name)
        except ModuleNotFoundError as e:
            # A missing parent of the target means the alias name is missing
            # too; any other failure is a real error in the target.
            if e.name is not None and (target_name + ".").startswith(e.name + "."):
                return None
            raise

        if target_spec is None:
            return None

        if target_name.rpartition(".")[2] == "__main__":
            # runpy (``python -m flask``) asks the loader for the code and runs
            # it as ``__main__``; only a real file loader can give it that.
            if target_spec.origin is None:
                return None
            return importlib.util.spec_from_file_location(fullname, target_spec.origin)

        spec = importlib.machinery.ModuleSpec(
            fullname,
            _AliasLoader(target_name),
            origin=target_spec.origin,
            is_package=target_spec.submodule_search_locations is not None,
        )
        if target_spec.submodule_search_locations is not None:
            spec.submodule_search_locations = list(
                target_spec.submodule_search_locations
            )
        return spec

    def find_distributions(
        self,
        context: importlib.metadata.DistributionFinder.Context = _ANY_DISTRIBUTION,
    ) -> t.Iterable[importlib.metadata.Distribution]:
        # Answer only ``version("flask")``-style look-ups on the default path:
        # listing every distribution, or searching explicit paths as
        # installers do, must not reveal a distribution that is not there.
        if (
            self.version is None
            or context.name is None
            or context.path is not sys.path
            or _canonical(context.name) != _canonical(self.alias)
        ):
            return ()
        return (_AliasDistribution(self.alias, self.version, self.target),)


def _installed() -> AliasFinder | None:
    for finder in sys.meta_path:
        if (
            isinstance(finder, AliasFinder)
            and finder.alias == ALIAS
            and finder.target == TARGET
        ):
            return finder
    return None


def is_installed() -> bool:
    """Tell whether the ``flask`` alias is installed in this process."""
    return _installed() is not None


def install() -> AliasFinder:
    """Make ``flask`` and ``flask.*`` resolve to ``diota`` and ``diota.*``.

    Safe to call more than once. Modules already imported under the
    ``flask`` name from elsewhere (a real Flask) are not replaced; install
    the alias before anything imports Flask. Warns
    (:class:`RealFlaskWarning`) when real Flask is installed too.

    :return: The finder placed first on :data:`sys.meta_path`.
    """
    finder = _installed()
    if finder is None:
        finder = AliasFinder(ALIAS, TARGET, FLASK_API_VERSION)
        # First place: the alias must win over any ``flask`` on sys.path, and
        # over the path finder resolving ``flask.x`` inside diota's own
        # directory, which would load a second copy of ``diota.x``.
        sys.meta_path.insert(0, finder)
        importlib.invalidate_caches()
        imported = sys.modules.get(ALIAS)
        if imported is not None and getattr(imported, "__name__", None) != TARGET:
            warn_about_real_flask(str(getattr(imported, "__file__", ALIAS)), True)
        else:
            location = real_flask_location()
            if location is not None:
                warn_about_real_flask(location)
    return finder


def uninstall() -> None:
    """Remove the alias and forget the ``flask`` names it registered.

    The diota modules stay imported under their own names.
    """
    sys.meta_path[:] = [
        f
        for f in sys.meta_path
        if not (isinstance(f, AliasFinder) and f.alias == ALIAS and f.target == TARGET)
    ]
    for name, module in list(sys.modules.items()):
        if name == ALIAS or name.startswith(ALIAS + "."):
            module_name = getattr(module, "__name__", "")
            if module_name == TARGET or module_name.startswith(TARGET + "."):
                del sys.modules[name]
    importlib.invalidate_caches()


install()


def flask_command() -> None:
    """Entry point of the ``flask`` script that diota installs.

    Typing ``flask`` is the opt-in: the alias is installed for this process,
    so an application (and its extensions) importing ``flask`` get diota,
    then diota's command line runs (``flask run``, ``flask routes``, ...).
    """
    install()
    from .cli import cli

    cli.main(prog_name="flask")
