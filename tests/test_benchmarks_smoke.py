"""Smoke mode of the benchmark harness: a few checked requests per scenario.

The timed runs stay out of the test suite; this only keeps the benchmark
apps and the in-process driver from rotting. diota's app is always checked,
as WSGI and as ASGI. The peers (Flask, Quart, Starlette, Falcon, FastAPI)
come from the ``benchmarks`` extra, which the test command does not
install: each peer is skipped through ``pytest.importorskip`` when absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.apps import FRAMEWORKS  # noqa: E402
from benchmarks.apps.common import SCENARIO_NAMES  # noqa: E402
from benchmarks.driver import smoke  # noqa: E402

#: Peer packages whose modules this test leaves behind in ``sys.modules``
#: would shadow the flask alias for later tests in the same process.
_PEER_PREFIXES = ("flask", "quart")
_PEER_APPS = ("benchmarks.apps.flask_app", "benchmarks.apps.quart_app")


@pytest.fixture
def forget_peers() -> object:
    """Drop real Flask and Quart from ``sys.modules`` after the test."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        root = name.partition(".")[0]
        if root in _PEER_PREFIXES or name in _PEER_APPS:
            del sys.modules[name]


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_benchmark_app_answers_every_scenario(name: str, forget_peers: object) -> None:
    framework = FRAMEWORKS[name]
    for module in framework.requires:
        pytest.importorskip(module)
    if "flask" in framework.requires:
        import flask  # already imported by importorskip above

        if flask.__name__ != "flask":  # the diota alias is active here
            pytest.skip("`flask` resolves to diota in this environment")

    outcome = smoke(framework, framework.load(), repeat=3)

    assert list(outcome) == list(SCENARIO_NAMES)
    expected = {
        s: "n/a" if s in framework.unsupported else "ok" for s in SCENARIO_NAMES
    }
    assert outcome == expected


def test_diota_serves_both_interfaces_from_one_object() -> None:
    wsgi, asgi = FRAMEWORKS["diota-wsgi"], FRAMEWORKS["diota-asgi"]
    assert wsgi.load() is asgi.load()
    assert (wsgi.interface, asgi.interface) == ("wsgi", "asgi")
    assert not wsgi.unsupported and not asgi.unsupported
