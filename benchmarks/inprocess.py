"""In-process benchmark: every app called directly, no server, no sockets.

Run from the repository root with the benchmarks extra installed::

    .venv-bench/bin/python -m benchmarks.inprocess

Each framework runs in a subprocess of its own (so its peak RSS is its own):
each scenario is checked once, calibrated, then timed for several rounds;
the median requests/s is reported. WSGI apps are called in a plain loop,
ASGI apps sequentially inside one asyncio event loop. See ``driver.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import typing as t

from . import report
from .apps import FRAMEWORKS
from .apps.common import BY_NAME
from .apps.common import SCENARIO_NAMES
from .driver import ASGIDriver
from .driver import time_asgi
from .driver import time_wsgi
from .driver import WSGIDriver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "benchmarks", "results")


def _peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def worker(
    name: str, scenarios: list[str], rounds: int, round_time: float
) -> dict[str, t.Any]:
    """Time one framework in this process; return its row."""
    framework = FRAMEWORKS[name]
    app = framework.load()
    rps: dict[str, float | None] = {}
    all_rounds: dict[str, list[float]] = {}
    wanted = [BY_NAME[s] for s in scenarios if s not in framework.unsupported]
    for s in scenarios:
        if s in framework.unsupported:
            rps[s] = None

    if framework.interface == "wsgi":
        driver = WSGIDriver(app, name)
        for scenario in wanted:
            all_rounds[scenario.name] = time_wsgi(
                driver.prepare(scenario), rounds, round_time
            )
    else:

        async def main() -> None:
            async with ASGIDriver(app, name) as driver:
                for scenario in wanted:
                    run = await driver.prepare(scenario)
                    all_rounds[scenario.name] = await time_asgi(run, rounds, round_time)

        asyncio.run(main())
    for scenario_name, values in all_rounds.items():
        rps[scenario_name] = statistics.median(values)
    return {
        "interface": framework.interface,
        "status": "ok",
        "rps": rps,
        "rounds": all_rounds,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DIOTA_FLASK_ALIAS", None)  # real Flask must be Flask
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return env


def _run_worker(
    name: str, scenarios: list[str], rounds: int, round_time: float, timeout: float
) -> dict[str, t.Any]:
    """One framework's worker subprocess; its row, or a row saying why not."""
    interface = FRAMEWORKS[name].interface
    command = [
        sys.executable,
        "-m",
        "benchmarks.inprocess",
        "--worker",
        name,
        "--scenarios",
        ",".join(scenarios),
        "--rounds",
        str(rounds),
        "--round-time",
        str(round_time),
    ]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        print(f"{name}: timed out after {timeout:.0f} s", file=sys.stderr)
        return {"interface": interface, "status": "timed out", "rps": {}}
    if done.returncode != 0:
        print(f"{name}: failed\n{done.stderr}", file=sys.stderr)
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"interface": interface, "status": f"error: {last}", "rps": {}}
    row: dict[str, t.Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def _merge(old: dict[str, t.Any], new: dict[str, t.Any]) -> dict[str, t.Any]:
    """Pool the rounds of two passes; the median is taken over all of them."""
    if old.get("status") != "ok":
        return old
    if new.get("status") != "ok":
        return new
    rounds = {
        s: old["rounds"].get(s, []) + new["rounds"].get(s, []) for s in old["rps"]
    }
    return {
        **old,
        "rounds": rounds,
        "rps": {s: statistics.median(v) if v else None for s, v in rounds.items()},
        "peak_rss_mib": max(old["peak_rss_mib"], new["peak_rss_mib"]),
    }


def run_all(
    names: list[str],
    scenarios: list[str],
    rounds: int,
    round_time: float,
    timeout: float,
    passes: int,
) -> dict[str, t.Any]:
    """Run each framework's worker in a subprocess, ``passes`` times over
    the whole list (so a burst of load elsewhere on the machine is spread
    over every framework instead of hitting one); collect the rows."""
    rows: dict[str, t.Any] = {}
    for name in names:
        framework = FRAMEWORKS[name]
        if not framework.installed():
            rows[name] = {
                "interface": framework.interface,
                "status": "not installed",
                "rps": {},
            }
            print(f"{name}: not installed, skipped", file=sys.stderr)
    for number in range(1, passes + 1):
        for name in names:
            if rows.get(name, {}).get("status", "ok") != "ok":
                continue
            start = time.perf_counter()
            row = _run_worker(name, scenarios, rounds, round_time, timeout)
            rows[name] = _merge(rows[name], row) if name in rows else row
            if row.get("status") != "ok":
                continue
            summary = ", ".join(
                f"{s} {v:,.0f}" for s, v in row["rps"].items() if v is not None
            )
            took = time.perf_counter() - start
            print(f"pass {number} {name} ({took:.0f} s): {summary}", file=sys.stderr)
    return rows


def _loadavg(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _split(value: str, known: t.Iterable[str]) -> list[str]:
    known = list(known)
    chosen = [v.strip() for v in value.split(",") if v.strip()] if value else known
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise SystemExit(
            f"unknown: {', '.join(unknown)} (choose from {', '.join(known)})"
        )
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.inprocess", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--frameworks", default="", help="comma-separated rows (default: all)"
    )
    parser.add_argument(
        "--scenarios", default="", help="comma-separated scenarios (default: all)"
    )
    parser.add_argument(
        "--passes", type=int, default=3, help="times over the framework list"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="timed rounds per scenario"
    )
    parser.add_argument(
        "--round-time", type=float, default=0.25, help="seconds per round"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds per framework"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scenarios = _split(args.scenarios, SCENARIO_NAMES)

    if args.worker:
        print(json.dumps(worker(args.worker, scenarios, args.rounds, args.round_time)))
        return

    names = _split(args.frameworks, FRAMEWORKS)
    load_before = os.getloadavg()
    rows = run_all(
        names, scenarios, args.rounds, args.round_time, args.timeout, args.passes
    )
    results = {
        "kind": "inprocess",
        "meta": {
            "title": "diota benchmarks: in-process",
            "how": (
                f"Each app called directly (prebuilt WSGI environ or ASGI scope, the"
                f" same driver for every framework), median of {args.passes} passes"
                f" x {args.rounds} rounds of ~{args.round_time} s per scenario; ASGI"
                " apps run sequentially in one asyncio loop. Peak RSS is the whole"
                " benchmark subprocess's (getrusage maxrss). Load average before and"
                f" after: {_loadavg(load_before)} / {_loadavg(os.getloadavg())}"
                " (other work on the machine makes the numbers noisier)."
            ),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "versions": report.versions(),
            "passes": args.passes,
            "rounds": args.rounds,
            "round_time": args.round_time,
            "notes": [
                "Flask's async view runs through asgiref (a new event loop per call).",
                "diota's rows run the Flask app verbatim (`def` views, one"
                " `async def`).",
                "Starlette and FastAPI mount the hook and session middleware on their"
                " own routes only; the bare floors use an unsigned session cookie.",
            ],
        },
        "frameworks": rows,
    }
    print(report.write(results, args.out, "inprocess"))
    print(
        f"\nwritten: {os.path.join(args.out, 'inprocess.{md,json,png}')}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
