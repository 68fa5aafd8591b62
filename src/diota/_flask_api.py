"""The Flask that diota stands for: the API version, and real Flask beside it.

diota's flask alias makes ``import flask`` diota; real Flask installed or
imported beside it (an extension installed with its dependencies brings it)
means an extension may talk to another framework than the app's. Both are
told with :class:`RealFlaskWarning`, which says how to fix the environment.
"""

from __future__ import annotations

import importlib.machinery
import pathlib
import sys
import typing as t
import warnings

#: The Flask release whose public API diota implements: the version reported
#: for the ``flask`` distribution (the alias, ``diota provide-flask``) and by
#: the deprecated ``flask.__version__``.
FLASK_API_VERSION = "3.1.3"


class RealFlaskWarning(UserWarning):
    """Real Flask is installed or imported next to diota: an extension may
    talk to another framework than the app's. See ``diota provide-flask``."""


def real_flask_location(path: t.Sequence[str] | None = None) -> str | None:
    """Where a real ``flask`` package lies on ``path`` (:data:`sys.path` by
    default), found without importing it and without the alias."""
    spec = importlib.machinery.PathFinder.find_spec("flask", path)
    if spec is None or spec.origin is None:
        return None
    return str(pathlib.Path(spec.origin).parent)


def warn_about_real_flask(location: str, imported: bool = False) -> None:
    """Warn that real Flask sits next to diota, and say how to fix it."""
    if imported:
        what = (
            f"Real Flask was imported from {location} next to diota: extensions"
            " that import flask talk to Flask, not to this app's framework."
            " Turn diota's flask alias on before they are imported (import"
            " diota.alias, DIOTA_FLASK_ALIAS=1, or `diota provide-flask`)"
        )
    else:
        what = (
            f"Real Flask is installed at {location}. diota's flask alias takes"
            " priority, so `import flask` is diota, but Flask's `flask` command"
            " replaced diota's and processes without the alias get real Flask"
        )
    warnings.warn(
        f"{what}. Fix: pip uninstall -y flask && diota provide-flask",
        RealFlaskWarning,
        stacklevel=3,
    )


def check_imported(stacklevel: int = 3) -> None:
    """Warn if a real Flask module is imported in this process (not the
    alias, under which ``flask`` is diota)."""
    module = sys.modules.get("flask")
    if module is not None and getattr(module, "__name__", None) != "diota":
        warn_about_real_flask(str(getattr(module, "__file__", "flask")), imported=True)
