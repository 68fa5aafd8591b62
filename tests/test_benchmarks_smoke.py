"""Smoke mode of the benchmark harness: a few checked requests per scenario.

The timed runs stay out of the test suite; this only keeps the benchmark
apps and the in-process driver from rotting. Every framework is checked.
diota's app (as WSGI and as ASGI) and the bare floors run here, in the test
environment. The peers (Flask, Quart, Starlette, Falcon, FastAPI) must never
be installed next to diota, whose ``flask`` alias real Flask would clash
with: they run in subprocesses of a virtualenv of their own, built once per
checkout under ``.cache/bench-smoke-venv`` (see ``benchmarks/smoke.py``).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import smoke as bench_smoke  # noqa: E402
from benchmarks.apps import FRAMEWORKS  # noqa: E402
from benchmarks.apps.common import SCENARIO_NAMES  # noqa: E402
from benchmarks.driver import smoke  # noqa: E402

#: Frameworks the test environment can run: they need nothing beyond diota
#: and its dependencies. Every other one is a peer.
_LOCAL_PACKAGES = {"diota", "jinja2"}
LOCAL = [n for n, f in FRAMEWORKS.items() if set(f.requires) <= _LOCAL_PACKAGES]
PEERS = [n for n in FRAMEWORKS if n not in LOCAL]

#: Bounds on building the peers' virtualenv (about a minute with a warm
#: network) and on one peer's smoke run.
BUILD_TIMEOUT = 600.0
RUN_TIMEOUT = 120.0


def _expected(name: str) -> dict[str, str]:
    unsupported = FRAMEWORKS[name].unsupported
    return {s: "n/a" if s in unsupported else "ok" for s in SCENARIO_NAMES}


@pytest.fixture(scope="session")
def peer_python() -> Path:
    """The interpreter of the peers' virtualenv, built on first use."""
    start = time.monotonic()
    try:
        python = bench_smoke.ensure_venv(timeout=BUILD_TIMEOUT)
    except bench_smoke.SmokeError as exc:
        pytest.fail(f"could not build the peers' virtualenv: {exc}", pytrace=False)
    print(f"peers' virtualenv ready in {time.monotonic() - start:.1f} s: {python}")
    return python


@pytest.mark.parametrize("name", LOCAL)
def test_local_app_answers_every_scenario(name: str) -> None:
    framework = FRAMEWORKS[name]

    outcome = smoke(framework, framework.load(), repeat=3)

    assert list(outcome) == list(SCENARIO_NAMES)
    assert outcome == _expected(name)


# The first peer builds the virtualenv inside its own setup.
@pytest.mark.timeout(BUILD_TIMEOUT + RUN_TIMEOUT + 60)
@pytest.mark.parametrize("name", PEERS)
def test_peer_app_answers_every_scenario(name: str, peer_python: Path) -> None:
    try:
        outcome = bench_smoke.run_in(peer_python, name, timeout=RUN_TIMEOUT)
    except bench_smoke.SmokeError as exc:
        pytest.fail(str(exc), pytrace=False)

    assert list(outcome) == list(SCENARIO_NAMES)
    assert outcome == _expected(name)


def test_every_framework_is_smoked() -> None:
    assert sorted(LOCAL + PEERS) == sorted(FRAMEWORKS)
    assert {"diota-wsgi", "diota-asgi", "diota-asgi-def"} <= set(LOCAL)
    assert {"flask", "quart", "starlette", "fastapi"} <= set(PEERS)


def test_peer_requirements_come_from_the_benchmarks_extra() -> None:
    requirements = bench_smoke.peer_requirements()
    names = {bench_smoke._dist_name(r) for r in requirements}

    assert names == {
        *bench_smoke.PEER_DISTRIBUTIONS,
        *bench_smoke.SHARED_DISTRIBUTIONS,
    }
    # Only what smoke mode needs: no servers, no charts.
    assert not names & {"uvicorn", "gunicorn", "matplotlib"}


@pytest.mark.parametrize("dist", ["flask", "quart"])
def test_peers_are_not_installed_in_the_test_environment(dist: str) -> None:
    # Their ``flask`` script and package would clash with diota's alias.
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution(dist)


def test_diota_serves_both_interfaces_from_one_object() -> None:
    wsgi, asgi = FRAMEWORKS["diota-wsgi"], FRAMEWORKS["diota-asgi-def"]
    assert wsgi.load() is asgi.load()
    assert (wsgi.interface, asgi.interface) == ("wsgi", "asgi")
    assert not wsgi.unsupported and not asgi.unsupported


def test_the_asgi_row_is_the_same_app_written_with_async_views() -> None:
    flask_style = FRAMEWORKS["diota-asgi-def"].load()
    asgi_style = FRAMEWORKS["diota-asgi"].load()
    assert flask_style is not asgi_style
    assert set(asgi_style.view_functions) == set(flask_style.view_functions)
    assert all(
        inspect.iscoroutinefunction(view)
        for endpoint, view in asgi_style.view_functions.items()
        if endpoint != "static"  # diota's own file-serving view
    )
    assert not inspect.iscoroutinefunction(flask_style.view_functions["plaintext"])
    hooks = [
        *asgi_style.before_request_funcs["hooks"],
        *asgi_style.after_request_funcs["hooks"],
    ]
    assert hooks and all(inspect.iscoroutinefunction(hook) for hook in hooks)
