"""pytest plugin loaded into Flask's own test run (``-p diota_suite_plugin``).

It runs inside the child pytest process that executes Flask's test suite,
never in diota's own test session. It:

- installs the ``flask`` -> ``diota`` import alias before Flask's
  ``conftest.py`` is imported, and stops the run if ``flask`` is not diota
  (with ``DIOTA_SUITE_REAL_FLASK=1``, the extension matrix's baseline run,
  the other way round: no alias, and ``flask`` must be real Flask);
- writes one JSON object per line to ``$DIOTA_SUITE_EVENTS``: the collected
  node ids, collection errors, and each test's start and final outcome, so
  the harness keeps every result even if the run hangs or crashes;
- deselects the node ids listed in ``$DIOTA_SUITE_DESELECT`` (tests already
  run before a restart);
- arms :mod:`faulthandler` for ``$DIOTA_SUITE_TEST_TIMEOUT`` seconds per test
  so that a test that hangs ends the process instead of the whole budget.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import typing as t

import pytest

#: The baseline run of tests/extensions/matrix.py: real Flask, no diota.
_REAL_FLASK = os.environ.get("DIOTA_SUITE_REAL_FLASK", "") not in ("", "0")

if not _REAL_FLASK:
    import diota.alias  # noqa: F401  (installs the alias before conftest runs)

_events: t.TextIO | None = None
_outcomes: dict[str, dict[str, t.Any]] = {}


def _emit(**data: t.Any) -> None:
    if _events is not None:
        _events.write(json.dumps(data) + "\n")
        _events.flush()


def _check_alias() -> None:
    import flask

    if _REAL_FLASK:
        if flask.__name__ != "flask" or "diota" in sys.modules:
            pytest.exit(f"'flask' is {flask!r}, not real Flask", returncode=3)
        return

    import diota

    if flask is not diota:
        pytest.exit(
            f"'flask' is {flask!r}, not diota: refusing to run Flask's suite",
            returncode=3,
        )


def pytest_configure(config: pytest.Config) -> None:
    global _events
    _check_alias()
    path = os.environ.get("DIOTA_SUITE_EVENTS")
    if path:
        _events = open(path, "a", encoding="utf-8")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _events
    faulthandler.cancel_dump_traceback_later()
    if _events is not None:
        _emit(event="finished")
        _events.close()
        _events = None


@pytest.hookimpl(trylast=True)  # after -k/-m: "collected" means selected
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    _emit(event="collected", nodeids=[item.nodeid for item in items])
    path = os.environ.get("DIOTA_SUITE_DESELECT")
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        done = {line.strip() for line in f if line.strip()}
    keep = [item for item in items if item.nodeid not in done]
    dropped = [item for item in items if item.nodeid in done]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _emit(event="collect_error", nodeid=report.nodeid, message=_message(report))


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _outcomes[nodeid] = {"outcome": "passed", "message": ""}
    _emit(event="start", nodeid=nodeid)
    timeout = float(os.environ.get("DIOTA_SUITE_TEST_TIMEOUT", "0") or 0)
    if timeout > 0:
        # Dumps every thread's stack to stderr and exits: the harness sees a
        # start without a result and records the test as hung.
        faulthandler.dump_traceback_later(timeout, exit=True, file=sys.stderr)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    wasxfail = hasattr(report, "wasxfail")
    if report.when == "call" and wasxfail:
        state["outcome"] = "xfailed" if report.skipped else "xpassed"
        state["message"] = str(getattr(report, "wasxfail", ""))
    elif report.failed:
        # A failing call is a failure; a failing setup or teardown is an
        # error, as pytest counts them. The first problem is the one kept.
        if state["outcome"] in ("passed", "xfailed", "xpassed"):
            state["outcome"] = "failed" if report.when == "call" else "error"
            state["message"] = _message(report)
            state["longrepr"] = report.longreprtext[-6000:]
            state["when"] = report.when
    elif report.skipped and state["outcome"] == "passed":
        state["outcome"] = "skipped"
        state["message"] = _message(report)


def pytest_runtest_logfinish(
    nodeid: str, location: tuple[str, int | None, str]
) -> None:
    faulthandler.cancel_dump_traceback_later()
    state = _outcomes.pop(nodeid, {"outcome": "passed", "message": ""})
    _emit(event="result", nodeid=nodeid, **state)


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skip: (path, lineno, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    text = str(longrepr or "").strip().splitlines()
    return text[-1] if text else ""
