"""Start-up hook of ``DIOTA_FLASK_ALIAS=1``: the ``flask`` alias, installed lazily.

``diota_flask_alias.pth`` calls :func:`install` at interpreter start-up when
the variable asks for the alias. Importing diota there would import the
whole framework (anyio, jinja2, click, ...) before the program starts: pytest
then finds its plugins imported too early and warns, which a suite run with
``filterwarnings = error`` turns into a failure. So this module, outside the
``diota`` package, only places a finder on :data:`sys.meta_path`; the first
look-up of ``flask`` (an import, or ``importlib.metadata.version("flask")``)
imports :mod:`diota.alias`, which installs the real alias in its place.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import re
import sys
import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    import importlib.machinery
    from types import ModuleType

_ALIAS = "flask"


def _is_alias_distribution(name: str | None) -> bool:
    return name is not None and re.sub(r"[-_.]+", "-", name).lower() == _ALIAS


_ANY = importlib.metadata.DistributionFinder.Context()


class LazyAliasFinder(importlib.abc.MetaPathFinder):
    """Installs diota's ``flask`` alias the first time ``flask`` is looked up."""

    def _real_finder(self) -> t.Any:
        # Gone from sys.meta_path before diota is imported: diota's own
        # imports must not come back here.
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        import diota.alias

        return diota.alias.install()

    def find_spec(
        self,
        fullname: str,
        path: t.Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        spec: importlib.machinery.ModuleSpec | None = self._real_finder().find_spec(
            fullname, path, target
        )
        return spec

    def find_distributions(
        self,
        context: importlib.metadata.DistributionFinder.Context = _ANY,
    ) -> t.Iterable[importlib.metadata.Distribution]:
        if not _is_alias_distribution(context.name):
            return ()
        distributions: t.Iterable[importlib.metadata.Distribution] = (
            self._real_finder().find_distributions(context)
        )
        return distributions


def install() -> None:
    """Place the lazy finder first on :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, LazyAliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LazyAliasFinder())
