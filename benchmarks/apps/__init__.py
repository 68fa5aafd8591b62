"""The benchmark apps and the registry the runners and the smoke test use.

Each entry names an app object by ``module:attribute`` (what gunicorn and
uvicorn are given), the interface it is served with, the packages it needs
(a peer that is not installed is skipped) and the scenarios it cannot
express (reported as n/a).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import typing as t


@dataclasses.dataclass(frozen=True)
class Framework:
    """One row of the benchmark tables."""

    name: str
    interface: str  # "wsgi" or "asgi"
    target: str  # "module:attribute"
    requires: tuple[str, ...] = ()
    unsupported: frozenset[str] = frozenset()
    #: Shown under the table: how the scenarios are written for this row.
    note: str = ""

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def installed(self) -> bool:
        """Whether every package the app needs can be imported."""
        return all(importlib.util.find_spec(name) is not None for name in self.requires)

    def load(self) -> t.Any:
        """Import the app object."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


_P = "benchmarks.apps."
_NO_SESSION = frozenset({"session"})

FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework("bare-wsgi", "wsgi", _P + "bare_wsgi:app", ("jinja2",)),
        Framework("diota-wsgi", "wsgi", _P + "diota_app:app", ("diota",)),
        Framework("flask", "wsgi", _P + "flask_app:app", ("flask", "asgiref")),
        Framework(
            "falcon-wsgi",
            "wsgi",
            _P + "falcon_wsgi_app:app",
            ("falcon",),
            frozenset({"async", "session"}),
            "no coroutine responders under WSGI; no sessions",
        ),
        Framework("bare-asgi", "asgi", _P + "bare_asgi:app", ("jinja2",)),
        Framework(
            "diota-asgi",
            "asgi",
            _P + "diota_async_app:app",
            ("diota",),
            note="async def views and hooks, as the Starlette and Quart apps",
        ),
        Framework(
            "diota-asgi-def",
            "asgi",
            _P + "diota_app:app",
            ("diota",),
            note="the Flask app verbatim: each def view runs in a worker thread",
        ),
        Framework(
            "starlette", "asgi", _P + "starlette_app:app", ("starlette", "multipart")
        ),
        Framework("quart", "asgi", _P + "quart_app:app", ("quart",)),
        Framework(
            "falcon-asgi",
            "asgi",
            _P + "falcon_asgi_app:app",
            ("falcon",),
            _NO_SESSION,
            "no sessions",
        ),
        Framework("fastapi", "asgi", _P + "fastapi_app:app", ("fastapi", "multipart")),
    )
}

#: The row each interface's ratios are taken against, and its floor.
BASELINE = {"wsgi": "flask", "asgi": "starlette"}
FLOOR = {"wsgi": "bare-wsgi", "asgi": "bare-asgi"}
