"""Over-the-wire benchmark on 127.0.0.1: real servers, wrk as the client.

Run from the repository root with the benchmarks extra installed (and
``wrk``, e.g. ``apt-get install -y wrk``)::

    .venv-bench/bin/python -m benchmarks.wire

WSGI rows are served by gunicorn with one sync worker, ASGI rows by uvicorn
with one worker. A pass starts every server at once and checks every
scenario once over HTTP on each; then, scenario by scenario, each server is
loaded in turn for a fixed time (``--duration``, 3 s by default, after a 1 s
warm-up), so the rows a ratio compares are measured seconds apart. There
are ``--passes`` passes (3 by default), each with fresh servers and the
servers' order rotated, and the median of the passes is reported. The server's peak RSS
(``VmHWM`` of the serving process) is read before it is killed; servers are
always killed, also on errors and Ctrl-C. Without wrk a bounded Python
load generator is used instead (and said so in the report): it is likely the
bottleneck, so its ratios understate the differences.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import importlib.util
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

from . import report
from .apps import Framework
from .apps import FRAMEWORKS
from .apps.common import BY_NAME
from .apps.common import Scenario
from .apps.common import SCENARIO_NAMES
from .driver import check
from .driver import cookie_from
from .driver import Response
from .inprocess import _child_env
from .inprocess import _loadavg
from .inprocess import _split
from .inprocess import DEFAULT_OUT
from .inprocess import ROOT

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(framework: Framework, port: int) -> list[str]:
    """The command serving ``framework`` on ``port``."""
    if framework.interface == "wsgi":
        return [
            sys.executable, "-m", "gunicorn",
            "--workers", "1", "--worker-class", "sync",
            "--bind", f"{HOST}:{port}",
            "--log-level", "warning",
            "--chdir", ROOT,
            framework.target,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", framework.target,
        "--host", HOST, "--port", str(port),
        "--workers", "1", "--interface", "asgi3",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def _read_status(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])  # kB
    except OSError:
        pass
    return None


def _serving_pid(proc: subprocess.Popen[bytes]) -> int:
    """gunicorn serves from its worker (the master's child); uvicorn with
    one worker serves from the process it started in."""
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        children = []
    return children[0] if children else proc.pid


class Server:
    """A server process for one framework, killed on exit whatever happens."""

    def __init__(self, framework: Framework, log: t.IO[bytes]) -> None:
        self.framework = framework
        self.port = _free_port()
        self.proc = subprocess.Popen(
            server_command(framework, self.port),
            cwd=ROOT,
            env=_child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            time.sleep(0.1)
        raise RuntimeError("server did not start listening")

    def peak_rss_mib(self) -> float | None:
        kib = _read_status(_serving_pid(self.proc), "VmHWM")
        return None if kib is None else kib / 1024

    def kill(self) -> None:
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _headers(scenario: Scenario, cookie: str | None) -> dict[str, str]:
    headers = {}
    if scenario.content_type:
        headers["Content-Type"] = scenario.content_type
    if cookie:
        headers["Cookie"] = cookie
    return headers


def http_request(port: int, scenario: Scenario, cookie: str | None = None) -> Response:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(
            scenario.method,
            scenario.path,
            body=scenario.body or None,
            headers=_headers(scenario, cookie),
        )
        got = conn.getresponse()
        return Response(got.status, list(got.getheaders()), got.read())
    finally:
        conn.close()


def _wrk_script(scenario: Scenario, cookie: str | None, directory: str) -> str:
    lines = [f'wrk.method = "{scenario.method}"']
    if scenario.body:
        lines.append(f'wrk.body = "{scenario.body.decode()}"')
    for name, value in _headers(scenario, cookie).items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    path = os.path.join(directory, f"{scenario.name}.lua")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_wrk(
    port: int,
    scenario: Scenario,
    cookie: str | None,
    duration: float,
    connections: int,
    tmp: str,
) -> tuple[float, str]:
    """Requests/s from wrk, and a note on errors it reported (or "")."""
    script = _wrk_script(scenario, cookie, tmp)
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "5s", "-s", script, f"http://{HOST}:{port}{scenario.path}",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if not found:
        raise RuntimeError(f"no Requests/sec in wrk output: {done.stdout}")
    notes = []
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if non2xx and scenario.status < 400:
        notes.append(f"{non2xx.group(1)} non-2xx responses")
    errors = re.search(r"Socket errors: (.*)", done.stdout)
    if errors:
        notes.append(f"socket errors: {errors.group(1)}")
    return float(found.group(1)), "; ".join(notes)


def run_python_load(
    port: int, scenario: Scenario, cookie: str | None, duration: float, connections: int
) -> tuple[float, str]:
    """The fallback client: ``connections`` threads, each with one
    keep-alive connection (reopened when the server closes it), for
    ``duration`` seconds."""
    deadline = time.perf_counter() + duration
    counts = [0] * connections
    failures = [0] * connections
    headers = _headers(scenario, cookie)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        while time.perf_counter() < deadline:
            try:
                conn.request(
                    scenario.method,
                    scenario.path,
                    body=scenario.body or None,
                    headers=headers,
                )
                got = conn.getresponse()
                got.read()
                if got.status != scenario.status:
                    failures[i] += 1
                counts[i] += 1
                if got.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                failures[i] += 1
                conn.close()
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    failed = sum(failures)
    return sum(counts) / elapsed, f"{failed} failed requests" if failed else ""


def _skip_reason(framework: Framework) -> str | None:
    server_pkg = "gunicorn" if framework.interface == "wsgi" else "uvicorn"
    if not framework.installed() or importlib.util.find_spec(server_pkg) is None:
        return "not installed"
    return None


class _Row:
    """One framework's server in one pass, and what was measured on it."""

    def __init__(self, framework: Framework, server: Server) -> None:
        self.framework = framework
        self.server = server
        self.rps: dict[str, float | None] = {}
        self.notes: dict[str, str] = {}
        self.cookies: dict[str, str | None] = {}
        self.error: str | None = None

    def result(self) -> dict[str, t.Any]:
        if self.error is not None:
            return {
                "interface": self.framework.interface,
                "status": f"error: {self.error}",
                "rps": {},
            }
        return {
            "interface": self.framework.interface,
            "status": "ok",
            "rps": self.rps,
            "peak_rss_mib": self.server.peak_rss_mib(),
            "notes": self.notes,
        }


def _prepare(row: _Row, scenarios: list[str]) -> None:
    """Wait for the server, then check every scenario once over HTTP
    (fetching the session cookie the session scenario sends)."""
    row.server.wait_ready()
    for name in scenarios:
        if name in row.framework.unsupported:
            continue
        scenario = BY_NAME[name]
        cookie = None
        if scenario.session:
            cookie = cookie_from(http_request(row.server.port, scenario))
        check(
            scenario,
            http_request(row.server.port, scenario, cookie),
            row.framework.name,
        )
        row.cookies[name] = cookie


def _load(
    row: _Row,
    name: str,
    duration: float,
    connections: int,
    use_wrk: bool,
    tmp: str,
) -> None:
    scenario = BY_NAME[name]
    port, cookie = row.server.port, row.cookies[name]
    if use_wrk:
        run_wrk(port, scenario, cookie, 1, connections, tmp)  # warm-up
        value, note = run_wrk(port, scenario, cookie, duration, connections, tmp)
    else:
        value, note = run_python_load(port, scenario, cookie, duration, connections)
    row.rps[name] = value
    if note:
        row.notes[name] = note
    print(f"  {row.framework.name} {name}: {value:,.0f} req/s {note}", file=sys.stderr)


def bench_pass(
    frameworks: list[Framework],
    scenarios: list[str],
    duration: float,
    connections: int,
    use_wrk: bool,
    log_dir: str,
    rotate: int = 0,
) -> dict[str, dict[str, t.Any]]:
    """One pass: every framework's server up at once, then scenario by
    scenario, each server loaded in turn.

    The rows a ratio compares are measured seconds apart, not a whole pass
    apart, so the machine's drift over minutes does not decide a ratio. The
    order of the servers within a scenario is rotated by ``rotate`` so no
    row is always the first one loaded after an idle spell.
    """
    with contextlib.ExitStack() as stack:
        rows: list[_Row] = []
        for framework in frameworks:
            log_path = os.path.join(log_dir, f"wire-{framework.name}.log")
            log = stack.enter_context(open(log_path, "wb"))
            server = stack.enter_context(Server(framework, log))
            rows.append(_Row(framework, server))
        live = []
        for row in rows:
            try:
                _prepare(row, scenarios)
                live.append(row)
            except Exception as e:  # one broken row must not lose the others
                row.error = str(e)
                print(f"{row.framework.name}: failed: {e}", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            for name in scenarios:
                order = (
                    live[rotate % len(live) :] + live[: rotate % len(live)]
                    if live
                    else []
                )
                for row in order:
                    if row.error is not None:
                        continue
                    if name in row.framework.unsupported:
                        row.rps[name] = None
                        continue
                    try:
                        _load(row, name, duration, connections, use_wrk, tmp)
                    except Exception as e:
                        row.error = str(e)
                        print(f"{row.framework.name}: failed: {e}", file=sys.stderr)
        return {row.framework.name: row.result() for row in rows}


def _median_row(row_runs: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """One row from its passes: the median requests/s of each scenario over
    the passes that measured it, the highest peak RSS, the first error."""
    done = [run for run in row_runs if run["status"] == "ok"]
    if not done:
        return row_runs[-1]
    rps: dict[str, float | None] = {}
    for scenario in done[0]["rps"]:
        values = [v for run in done if (v := run["rps"].get(scenario)) is not None]
        rps[scenario] = statistics.median(values) if values else None
    peaks = [run["peak_rss_mib"] for run in done if run["peak_rss_mib"] is not None]
    notes: dict[str, str] = {}
    for run in done:
        notes.update(run["notes"])
    return {
        "interface": done[0]["interface"],
        "status": "ok",
        "rps": rps,
        "peak_rss_mib": max(peaks) if peaks else None,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.wire", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--frameworks", default="", help="comma-separated rows (default: all)"
    )
    parser.add_argument(
        "--scenarios", default="", help="comma-separated scenarios (default: all)"
    )
    parser.add_argument(
        "--duration", type=float, default=3, help="seconds of load per scenario"
    )
    parser.add_argument("--connections", type=int, default=16, help="open connections")
    parser.add_argument(
        "--passes",
        type=int,
        default=3,
        help="passes (fresh servers each); the median is reported",
    )
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="use the fallback client even if wrk exists",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="results directory")
    args = parser.parse_args(argv)
    scenarios = _split(args.scenarios, SCENARIO_NAMES)
    names = _split(args.frameworks, FRAMEWORKS)
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not use_wrk:
        print("wrk not found: using the bounded Python load generator", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)

    runs: dict[str, list[dict[str, t.Any]]] = {name: [] for name in names}
    measured: list[Framework] = []
    for name in names:
        reason = _skip_reason(FRAMEWORKS[name])
        if reason is None:
            measured.append(FRAMEWORKS[name])
        else:
            runs[name] = [
                {"interface": FRAMEWORKS[name].interface, "status": reason, "rps": {}}
            ]
            print(f"{name}: {reason}, skipped", file=sys.stderr)
    load_before = os.getloadavg()
    for pass_number in range(args.passes):
        print(f"pass {pass_number + 1}:", file=sys.stderr)
        pass_runs = bench_pass(
            measured,
            scenarios,
            args.duration,
            args.connections,
            use_wrk,
            args.out,
            rotate=pass_number,
        )
        for name, run in pass_runs.items():
            runs[name].append(run)
    rows = {name: _median_row(row_runs) for name, row_runs in runs.items()}

    client = (
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s (after a 1 s warm-up),"
        f" median of {args.passes} passes; in a pass every server is up and"
        " each scenario loads the servers one after another"
        if use_wrk
        else f"the fallback Python client ({args.connections} threads,"
        f" {args.duration:g} s): wrk was not found, so the client is likely the"
        " bottleneck"
    )
    uvicorn_impl = ", ".join(
        f"{pkg} {'installed' if importlib.util.find_spec(pkg) else 'not installed'}"
        for pkg in ("uvloop", "httptools")
    )
    row_notes = [
        f"{name} {scenario}: {note}"
        for name, row in rows.items()
        for scenario, note in row.get("notes", {}).items()
    ]
    results = {
        "kind": "wire",
        "meta": {
            "title": "diota benchmarks: over the wire (127.0.0.1)",
            "how": (
                f"WSGI rows: gunicorn, 1 sync worker. ASGI rows: uvicorn, 1 worker."
                f" Load: {client}. Peak RSS is the serving process's VmHWM. Load"
                f" average before and after: {_loadavg(load_before)} /"
                f" {_loadavg(os.getloadavg())}."
            ),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "versions": report.versions(),
            "notes": [
                "gunicorn's sync worker closes the connection after each response;"
                " uvicorn keeps it alive. Compare rows within an interface.",
                f"uvicorn runs with whatever it finds: {uvicorn_impl}.",
                *row_notes,
            ],
        },
        "frameworks": rows,
    }
    print(report.write(results, args.out, "wire"))
    print(f"\nwritten: {os.path.join(args.out, 'wire.{md,json,png}')}", file=sys.stderr)


if __name__ == "__main__":
    main()
