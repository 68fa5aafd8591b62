"""Every name of every Flask 3.1.3 module is in diota's module of that name.

The names come from Flask's own source, parsed out of the sdist that the
Flask-suite harness downloads (Flask is never installed here), so a name a
later Flask release adds fails this test until diota has it.
"""

from __future__ import annotations

import importlib
import textwrap

import pytest
from flask_suite import flask_names as namespace
from flask_suite import harness

import diota
import diota._flask_api


@pytest.fixture(scope="module")
def flask_sources() -> dict[str, namespace.Source]:
    return namespace.flask_sources(harness.fetch_sdist())


def test_every_flask_module_has_a_diota_module(
    flask_sources: dict[str, namespace.Source],
) -> None:
    # The modules the issue tracker names, at least; any other the sdist has
    # is checked as well.
    assert {"flask", "flask.app", "flask.json.tag", "flask.sansio.scaffold"} <= set(
        flask_sources
    )
    missing = []
    for module in flask_sources:
        try:
            importlib.import_module(namespace.diota_name(module))
        except ImportError as e:
            missing.append(f"{module}: {e}")
    assert not missing, "\n".join(missing)


def test_every_flask_name_is_in_diota(
    flask_sources: dict[str, namespace.Source],
) -> None:
    """Defined or imported at run time by Flask's module: present in diota's,
    and the same object where Flask re-exports one from elsewhere."""
    found: list[str] = []
    for module, source in sorted(flask_sources.items()):
        names = namespace.module_names(source.text, module, source.is_package)
        assert names, f"no names parsed from {module}"
        found.extend(namespace.problems(module, names))
    assert not found, "\n".join(found)


def test_a_removed_name_is_reported(
    flask_sources: dict[str, namespace.Source], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is not vacuous: take a re-exported name away and it fails."""
    import diota.app

    source = flask_sources["flask.app"]
    names = namespace.module_names(source.text, "flask.app", source.is_package)
    assert namespace.problems("flask.app", names) == []
    monkeypatch.delattr(diota.app, "Rule")
    monkeypatch.setattr(diota.app, "get_host", object())
    assert namespace.problems("flask.app", names) == [
        "diota.app.Rule: missing",
        "diota.app.get_host: not the same object as werkzeug.wsgi.get_host",
    ]


def test_parser_follows_flask_module_shapes() -> None:
    source = textwrap.dedent(
        """
        from __future__ import annotations
        import os
        import collections.abc as cabc
        import importlib.metadata
        import typing as t
        from . import cli
        from .globals import current_app as app_proxy
        from ..helpers import url_for
        if t.TYPE_CHECKING:
            from .testing import FlaskClient
        if not t.TYPE_CHECKING:
            def __getattr__(name): ...
        try:
            from dotenv import load_dotenv
        except ImportError:
            load_dotenv = None
        T = t.TypeVar("T")
        limit: int = 3
        class Flask: ...
        """
    )
    names = namespace.module_names(source, "flask.sub.mod", is_package=False)
    assert names == {
        "os": namespace.Origin("os"),
        "cabc": namespace.Origin("collections.abc"),
        "importlib": namespace.Origin("importlib"),
        "t": namespace.Origin("typing"),
        "cli": namespace.Origin("flask.sub", "cli"),
        "app_proxy": namespace.Origin("flask.sub.globals", "current_app"),
        "url_for": namespace.Origin("flask.helpers", "url_for"),
        "__getattr__": namespace.Origin(),
        "load_dotenv": namespace.Origin(),
        "T": namespace.Origin(),
        "limit": namespace.Origin(),
        "Flask": namespace.Origin(),
    }


def test_version_is_flasks_deprecated_attribute() -> None:
    """As in Flask 3.1: answered with the Flask API version, deprecated."""
    with pytest.warns(DeprecationWarning, match="'__version__' attribute"):
        version = diota.__version__
    assert version == diota._flask_api.FLASK_API_VERSION == "3.1.3"
    with pytest.raises(AttributeError):
        diota.no_such_name  # noqa: B018
