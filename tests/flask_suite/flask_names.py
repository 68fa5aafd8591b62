"""Flask's module namespaces, read from its sdist, held against diota's.

Extensions import names from Flask's modules that Flask itself only
imported (``from flask.app import Rule``), so parity is every module-level
name, public or private, that each ``flask.<module>`` defines or imports at
run time. The names are derived by parsing Flask's source in the sdist the
Flask-suite harness downloads (never by importing Flask, which is not
installed), so names a later Flask release adds show up as missing.

Where Flask's module takes a name from outside Flask (werkzeug, click,
jinja2, the standard library), diota's module must hold that very object;
where it takes one from another Flask module, diota's module must hold the
object diota's module of that name holds.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import tarfile
import typing as t
from pathlib import Path
from types import ModuleType

#: Names every module has; not part of a module's API.
_MODULE_DUNDERS = frozenset({"__annotations__", "__builtins__", "__doc__"})


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a module-level name of a Flask module comes from.

    ``module`` is ``None`` for a name the module defines itself; otherwise
    the absolute module it is imported from and, with ``attribute``, the
    attribute taken (``None`` for ``import x`` / ``import x.y as z``).
    """

    module: str | None = None
    attribute: str | None = None


def _is_type_checking(test: ast.expr) -> bool | None:
    """``True`` for ``if TYPE_CHECKING``, ``False`` for ``if not
    TYPE_CHECKING``, ``None`` for any other test."""
    text = ast.unparse(test).replace(" ", "")
    if text in ("TYPE_CHECKING", "t.TYPE_CHECKING", "typing.TYPE_CHECKING"):
        return True
    if text in ("notTYPE_CHECKING", "nott.TYPE_CHECKING", "nottyping.TYPE_CHECKING"):
        return False
    return None


def module_names(source: str, module: str, is_package: bool) -> dict[str, Origin]:
    """Every module-level name ``source`` binds at run time, with its origin.

    Imports under ``if TYPE_CHECKING`` are left out (they do not exist at run
    time); both branches of other ``if`` and ``try`` statements count.

    :param source: The module's source code.
    :param module: The module's dotted name (resolves relative imports).
    :param is_package: Whether the module is a package's ``__init__``.
    """
    names: dict[str, Origin] = {}
    package = module if is_package else module.rpartition(".")[0]

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        if node.level > 1:
            base = base[: -(node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = Origin(alias.name)
                    else:
                        top = alias.name.partition(".")[0]
                        names[top] = Origin(top)
            elif isinstance(node, ast.ImportFrom):
                if node.module == "__future__":
                    continue
                source_module = absolute(node)
                for alias in node.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = Origin(
                            source_module, alias.name
                        )
            elif isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                names[node.name] = Origin()
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                if isinstance(node, ast.Assign):
                    targets = node.targets
                else:
                    targets = [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            names[name.id] = Origin()
            elif isinstance(node, ast.If):
                kind = _is_type_checking(node.test)
                if kind is not True:
                    visit(node.body)
                if kind is not False:
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(ast.parse(source).body)
    for dunder in _MODULE_DUNDERS:
        names.pop(dunder, None)
    return names


@dataclasses.dataclass(frozen=True)
class Source:
    """One Flask module's source code."""

    text: str
    is_package: bool


def flask_sources(sdist: Path) -> dict[str, Source]:
    """Flask's modules (dotted name -> source) from its sdist.

    :param sdist: Flask's sdist, an archive or an unpacked directory.
    """
    files: dict[str, str] = {}
    if sdist.is_dir():
        root = sdist / "src"
        for path in sorted((root / "flask").rglob("*.py")):
            files[path.relative_to(root).as_posix()] = path.read_text("utf-8")
    else:
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                _, _, inner = member.name.partition("/src/")
                is_module = inner.startswith("flask/") and inner.endswith(".py")
                if member.isfile() and is_module:
                    data = tar.extractfile(member)
                    assert data is not None
                    files[inner] = data.read().decode("utf-8")
    sources: dict[str, Source] = {}
    for path, text in files.items():
        parts = path[: -len(".py")].split("/")
        if parts[-1] == "__main__":
            continue  # runs the command line; not a namespace
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        sources[".".join(parts)] = Source(text, is_package)
    if "flask" not in sources:
        raise FileNotFoundError(f"no src/flask/__init__.py in {sdist}")
    return sources


def diota_name(flask_module: str) -> str:
    """The diota module that stands for ``flask_module``."""
    return "diota" + flask_module[len("flask") :]


def _resolve(origin: Origin) -> t.Any:
    assert origin.module is not None
    module: ModuleType = importlib.import_module(origin.module)
    if origin.attribute is None:
        return module
    try:
        return getattr(module, origin.attribute)
    except AttributeError:
        # ``from package import submodule``
        return importlib.import_module(f"{origin.module}.{origin.attribute}")


def problems(flask_module: str, names: dict[str, Origin]) -> list[str]:
    """What diota's counterpart of ``flask_module`` lacks or holds differently.

    :param flask_module: A Flask module's dotted name.
    :param names: Its names, from :func:`module_names`.
    """
    target = diota_name(flask_module)
    try:
        module = importlib.import_module(target)
    except ImportError as e:
        return [f"{target}: cannot be imported ({e})"]
    found: list[str] = []
    for name, origin in sorted(names.items()):
        if not hasattr(module, name):
            found.append(f"{target}.{name}: missing")
            continue
        if origin.module is None:
            continue  # defined by the module itself: diota's own object
        if origin.module == "flask" or origin.module.startswith("flask."):
            # Taken from another Flask module: the object diota's module of
            # that name holds (``flask.app.current_app is flask.globals.current_app``).
            origin = Origin(diota_name(origin.module), origin.attribute)
        try:
            expected = _resolve(origin)
        except (ImportError, AttributeError) as e:
            found.append(f"{target}.{name}: its source cannot be resolved ({e})")
            continue
        if getattr(module, name) is not expected:
            where = origin.module + (f".{origin.attribute}" if origin.attribute else "")
            found.append(f"{target}.{name}: not the same object as {where}")
    return found
