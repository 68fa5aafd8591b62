"""The over-the-wire runner, driven briefly against real uvicorn servers.

Only the runner's own logic is checked here (servers started together,
every scenario loaded on each, results per row, servers gone afterwards),
with the fallback Python client for a fraction of a second; the timed runs
stay out of the tests. uvicorn is a runtime dependency, so the ASGI rows
that need nothing beyond diota run in the test environment.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import wire  # noqa: E402
from benchmarks.apps import FRAMEWORKS  # noqa: E402

ROWS = ["diota-asgi", "bare-asgi"]
SCENARIOS = ["plaintext", "session", "404"]


@pytest.mark.timeout(120)
def test_a_pass_loads_every_scenario_on_every_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[wire.Server] = []
    real_server = wire.Server

    def recording_server(*args: object) -> wire.Server:
        server = real_server(*args)  # type: ignore[arg-type]
        started.append(server)
        return server

    monkeypatch.setattr(wire, "Server", recording_server)
    frameworks = [FRAMEWORKS[name] for name in ROWS]

    runs = wire.bench_pass(
        frameworks,
        SCENARIOS,
        duration=0.2,
        connections=2,
        use_wrk=False,
        log_dir=str(tmp_path),
        rotate=1,
    )

    assert list(runs) == ROWS
    for name in ROWS:
        run = runs[name]
        assert run["status"] == "ok", run
        unsupported = FRAMEWORKS[name].unsupported
        for scenario in SCENARIOS:
            if scenario in unsupported:
                assert scenario not in run["rps"] or run["rps"][scenario] is None
            else:
                assert run["rps"][scenario] > 0, (name, scenario)
        assert run["notes"] == {}, run["notes"]  # no failed requests
        assert run["peak_rss_mib"] > 0
    # Every server was up at the same time and is gone afterwards.
    assert len(started) == len(ROWS)
    assert len({server.port for server in started}) == len(ROWS)
    assert all(server.proc.poll() is not None for server in started)


@pytest.mark.timeout(60)
def test_a_row_that_fails_to_start_is_reported_without_losing_the_others(
    tmp_path: Path,
) -> None:
    broken = dataclasses.replace(
        FRAMEWORKS["bare-asgi"], target="benchmarks.apps.nowhere:app"
    )

    runs = wire.bench_pass(
        [FRAMEWORKS["diota-asgi"], broken],
        ["plaintext"],
        duration=0.2,
        connections=2,
        use_wrk=False,
        log_dir=str(tmp_path),
    )

    assert runs["diota-asgi"]["status"] == "ok"
    assert runs["diota-asgi"]["rps"]["plaintext"] > 0
    assert runs["bare-asgi"]["status"].startswith("error: server exited")


def test_median_row_takes_each_scenario_over_the_passes() -> None:
    passes = [
        {
            "interface": "asgi",
            "status": "ok",
            "rps": {"plaintext": v, "json": None},
            "peak_rss_mib": rss,
            "notes": {},
        }
        for v, rss in ((100.0, 30.0), (300.0, 32.0), (200.0, 31.0))
    ]
    passes.append({"interface": "asgi", "status": "error: boom", "rps": {}})

    row = wire._median_row(passes)

    assert row["rps"] == {"plaintext": 200.0, "json": None}
    assert row["peak_rss_mib"] == 32.0
