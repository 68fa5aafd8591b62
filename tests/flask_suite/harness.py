"""Run Flask's own test suite against diota through the ``flask`` alias.

At test time (never committed) Flask's sdist is downloaded with pip into a
cache directory, only its ``tests/`` and ``pyproject.toml`` are unpacked (so
no copy of Flask's package is ever importable), and its tests run with
pytest in a child process where ``import flask`` is diota. Results are
collected by :mod:`diota_suite_plugin` as JSON lines, summarised in
Markdown and JSON files, and compared with the gate in ``gate.toml``.

Command line (from the repository root)::

    python tests/flask_suite/harness.py [--mode wsgi] [--docs] [--update-gate]

Environment:

``DIOTA_TEST_CLIENT``
    Client mode passed through to the suite (``wsgi`` or ``asgi``).
``DIOTA_FLASK_SUITE_CACHE``
    Cache directory (default ``.cache/flask-suite`` in the repository).
``DIOTA_FLASK_SUITE_SRC``
    A Flask sdist (``.tar.gz``) or unpacked sdist directory to use instead
    of downloading one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import typing as t
from pathlib import Path

FLASK_VERSION = "3.1.3"
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
GATE_FILE = HERE / "gate.toml"
DOCS_RESULTS = REPO_ROOT / "docs" / "_generated" / "flask_suite_{mode}.md"
MODES = ("wsgi", "asgi")

#: Outcomes that count as passing. ``xfailed`` is Flask's own expectation.
PASSING = frozenset({"passed", "xfailed"})


class HarnessError(RuntimeError):
    """The suite could not be fetched or run at all."""


# -- fetching -------------------------------------------------------------


def cache_dir() -> Path:
    """Return the cache directory for sdists, unpacked tests and results."""
    return Path(
        os.environ.get("DIOTA_FLASK_SUITE_CACHE")
        or REPO_ROOT / ".cache" / "flask-suite"
    )


def _unpack(archive: Path, dest: Path) -> None:
    prefix = f"flask-{FLASK_VERSION}/"
    wanted = (prefix + "tests/", prefix + "pyproject.toml")
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(wanted)]
            if not members:
                raise HarnessError(f"{archive} has no {prefix}tests/")
            for member in members:
                member.name = member.name[len(prefix) :]
            tar.extractall(tmp, members=members, filter="data")
        # Rename last so that an interrupted unpack is never mistaken for a
        # complete one on the next run.
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_tree(source: Path, dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".copy-", dir=dest.parent))
    try:
        shutil.copytree(source / "tests", tmp / "tests")
        shutil.copy2(source / "pyproject.toml", tmp / "pyproject.toml")
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_suite(cache: Path | None = None, python: str = sys.executable) -> Path:
    """Return a directory holding Flask's ``tests/`` and ``pyproject.toml``.

    Reuses a previous unpack. Otherwise uses ``$DIOTA_FLASK_SUITE_SRC`` or
    downloads the sdist with ``pip download`` (sdist only, no dependencies).

    :param cache: The cache directory, :func:`cache_dir` by default.
    :param python: The interpreter whose pip downloads the sdist.
    """
    cache = cache or cache_dir()
    dest = cache / f"flask-{FLASK_VERSION}"
    if (dest / "tests" / "conftest.py").is_file() and (
        dest / "pyproject.toml"
    ).is_file():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)

    source = os.environ.get("DIOTA_FLASK_SUITE_SRC")
    if source and Path(source).is_dir():
        _copy_tree(Path(source), dest)
        return dest
    if source:
        _unpack(Path(source), dest)
        return dest

    _unpack(fetch_sdist(cache, python), dest)
    return dest


def fetch_sdist(cache: Path | None = None, python: str = sys.executable) -> Path:
    """Return the path of Flask's sdist archive, downloading it once.

    ``$DIOTA_FLASK_SUITE_SRC``, when it names an archive, is used instead.

    :param cache: The cache directory, :func:`cache_dir` by default.
    :param python: The interpreter whose pip downloads the sdist.
    """
    source = os.environ.get("DIOTA_FLASK_SUITE_SRC")
    if source and Path(source).is_file():
        return Path(source)
    cache = cache or cache_dir()
    sdist_dir = cache / "sdist"
    archive = sdist_dir / f"flask-{FLASK_VERSION}.tar.gz"
    if not archive.is_file():
        cmd = [
            python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--disable-pip-version-check", "--quiet",
            f"flask=={FLASK_VERSION}", "--dest", str(sdist_dir),
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0 or not archive.is_file():
            raise HarnessError(
                f"could not download Flask {FLASK_VERSION}'s sdist:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
    return archive


# -- running --------------------------------------------------------------


@dataclasses.dataclass
class SuiteResult:
    """Outcome of one run of Flask's suite."""

    mode: str
    #: Every node id collected, in collection order.
    collected: list[str] = dataclasses.field(default_factory=list)
    #: node id -> {"outcome", "message", ["longrepr", "when"]}
    results: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    #: Modules that failed to import: node id -> message.
    collect_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Floor for the denominator, so a module that fails to import counts
    #: its tests as not passed instead of making them vanish.
    expected_total: int = 0
    runs: int = 0
    #: The child finished its tests but did not exit (and was killed).
    exit_hang: bool = False
    duration: float = 0.0
    logs: list[str] = dataclasses.field(default_factory=list)

    def count(self, *outcomes: str) -> int:
        """Count the tests whose outcome is one of ``outcomes``."""
        return sum(1 for r in self.results.values() if r["outcome"] in outcomes)

    @property
    def passed(self) -> int:
        return self.count(*PASSING)

    @property
    def failed(self) -> int:
        return self.count("failed", "xpassed")

    @property
    def errors(self) -> int:
        return self.count("error", "hung")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def not_run(self) -> list[str]:
        return [n for n in self.collected if n not in self.results]

    @property
    def total(self) -> int:
        return max(len(self.collected), self.expected_total)

    @property
    def ratio(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def not_passed(self) -> dict[str, dict[str, t.Any]]:
        """Every collected test that did not pass, with outcome and reason."""
        out: dict[str, dict[str, t.Any]] = {}
        for nodeid in self.collected:
            r = self.results.get(nodeid)
            if r is None:
                out[nodeid] = {"outcome": "not run", "message": "the run ended first"}
            elif r["outcome"] not in PASSING:
                out[nodeid] = r
        for nodeid, message in self.collect_errors.items():
            out[nodeid] = {"outcome": "collection error", "message": message}
        return out

    def headline(self) -> str:
        text = (
            f"{self.passed}/{self.total} passed ({self.ratio:.1%}); "
            f"{self.failed} failed, {self.errors} errors, {self.skipped} skipped, "
            f"{len(self.not_run)} not run, {len(self.collect_errors)} collection errors"
        )
        if self.exit_hang:
            text += "; the test process did not exit after the run (threads left)"
        return text


def _child_env(
    mode: str, events: Path, deselect: Path, test_timeout: float
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_CORE_", "FLASK_"))
    }
    pythonpath = [str(HERE)]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    env.update(
        DIOTA_FLASK_ALIAS="1",
        DIOTA_TEST_CLIENT=mode,
        DIOTA_SUITE_EVENTS=str(events),
        DIOTA_SUITE_DESELECT=str(deselect),
        DIOTA_SUITE_TEST_TIMEOUT=str(test_timeout),
        PYTHONPATH=os.pathsep.join(pythonpath),
        # Only the plugin we pass: the suite needs no others, and plugins
        # installed for diota's own tests must not change Flask's run.
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONFAULTHANDLER="1",
    )
    return env


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _read_events(path: Path) -> list[dict[str, t.Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            # The process died mid-write: everything before is still good.
            break
    return events


def run_suite(
    mode: str | None = None,
    *,
    suite_dir: Path | None = None,
    out_dir: Path | None = None,
    python: str = sys.executable,
    test_timeout: float = 30.0,
    total_timeout: float = 600.0,
    max_runs: int = 6,
    exit_grace: float = 10.0,
    pytest_args: t.Sequence[str] = (),
) -> SuiteResult:
    """Run Flask's suite against diota and return its results.

    A test that hangs past ``test_timeout`` (or crashes the interpreter) is
    recorded as ``hung`` and the run restarts without the tests already
    done, at most ``max_runs`` times in all.

    :param mode: ``wsgi`` or ``asgi``; ``$DIOTA_TEST_CLIENT`` or ``wsgi``.
    :param suite_dir: A directory with ``tests/`` and ``pyproject.toml``;
        :func:`fetch_suite` (Flask's suite) by default.
    :param out_dir: Where logs and event files go.
    :param python: The interpreter to run pytest with.
    :param test_timeout: Seconds one test may take.
    :param total_timeout: Seconds for all runs together.
    :param max_runs: Runs at most (the first plus restarts).
    :param exit_grace: Seconds the child may take to exit after its run.
    :param pytest_args: Extra arguments for pytest (e.g. ``-k``).
    """
    mode = mode or os.environ.get("DIOTA_TEST_CLIENT") or "wsgi"
    if mode not in MODES:
        raise HarnessError(f"unknown mode {mode!r}; expected one of {MODES}")
    # The gate's expected total describes Flask's suite, not another one.
    expected_total = load_gate().expected_total if suite_dir is None else 0
    suite_dir = suite_dir or fetch_suite(python=python)
    out_dir = out_dir or cache_dir() / "results" / mode
    out_dir.mkdir(parents=True, exist_ok=True)

    result = SuiteResult(mode=mode, expected_total=expected_total)
    events_path = out_dir / "events.jsonl"
    deselect_path = out_dir / "deselect.txt"
    for stale in (events_path, deselect_path):
        stale.unlink(missing_ok=True)

    start = time.monotonic()
    cmd = [
        python, "-m", "pytest", "tests",
        "-p", "diota_suite_plugin", "-p", "no:cacheprovider",
        "-q", "-rN", "--color=no", "--continue-on-collection-errors",
        f"--basetemp={out_dir / 'tmp'}",
        *pytest_args,
    ]  # fmt: skip
    run_child(
        cmd,
        cwd=suite_dir,
        env=_child_env(mode, events_path, deselect_path, test_timeout),
        out_dir=out_dir,
        result=result,
        timeout=total_timeout,
        test_timeout=test_timeout,
        max_runs=max_runs,
        exit_grace=exit_grace,
    )
    result.duration = time.monotonic() - start
    return result


def run_child(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    out_dir: Path,
    result: SuiteResult,
    timeout: float,
    test_timeout: float,
    max_runs: int = 6,
    exit_grace: float = 10.0,
    watch: t.Callable[[subprocess.Popen[bytes]], t.ContextManager[t.Any]] = (
        lambda proc: contextlib.nullcontext()
    ),
    interrupted: t.Callable[[], bool] = lambda: False,
) -> int | None:
    """Run the pytest command ``cmd`` (with :mod:`diota_suite_plugin`, which
    writes ``out_dir/events.jsonl`` and reads ``out_dir/deselect.txt``)
    until every collected test has an outcome, into ``result``.

    A test that hangs past ``test_timeout`` (or crashes the interpreter) is
    recorded as ``hung`` and the run restarts without the tests already
    done, at most ``max_runs`` times, within ``timeout`` seconds in all.

    :param watch: Wraps each child while it runs (the matrix tracks its
        children to stop them on an interrupt).
    :param interrupted: Checked before each run; true stops the runs.
    :return: The exit status of the last run, ``None`` if it was killed.
    :raises HarnessError: The suite did not run at all.
    """
    events_path = out_dir / "events.jsonl"
    deselect_path = out_dir / "deselect.txt"
    start = time.monotonic()
    returncode: int | None = None
    while result.runs < max_runs:
        if interrupted():
            raise HarnessError("the run was interrupted")
        result.runs += 1
        log_path = out_dir / f"pytest-{result.runs}.log"
        result.logs.append(str(log_path))
        remaining = timeout - (time.monotonic() - start)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            with watch(proc):
                try:
                    returncode = _wait(
                        proc, events_path, max(remaining, 1), result, exit_grace
                    )
                except BaseException:
                    # Interrupted (Ctrl-C, a per-test timeout of the outer
                    # run): never leave the child running.
                    _kill(proc)
                    raise

        finished = _absorb(result, _read_events(events_path), test_timeout)
        if returncode == 3 or not result.collected:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise HarnessError(f"the suite did not run (exit {returncode}):\n{tail}")
        if finished or returncode is None or not result.not_run:
            break
        # Restart without what is done (the hung test included).
        deselect_path.write_text("\n".join(result.results) + "\n", encoding="utf-8")
        events_path.unlink(missing_ok=True)
    return returncode


def _wait(
    proc: subprocess.Popen[bytes],
    events: Path,
    timeout: float,
    result: SuiteResult,
    exit_grace: float,
) -> int | None:
    """Wait for the child; ``None`` if it had to be killed.

    A child that finished its run but does not exit (threads left running
    keep the interpreter alive) is killed after ``exit_grace`` seconds; its
    results stand, and the hang is reported.
    """
    deadline = time.monotonic() + timeout
    finished_at: float | None = None
    while True:
        try:
            return proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if finished_at is None and _has_finished(events):
            finished_at = now
        if finished_at is not None and now - finished_at > exit_grace:
            result.exit_hang = True
            _kill(proc)
            return None
        if now > deadline:
            _kill(proc)
            return None


def _has_finished(events: Path) -> bool:
    try:
        with open(events, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 200, 0))
            return b'"event": "finished"' in f.read()
    except FileNotFoundError:
        return False


def _absorb(
    result: SuiteResult, events: list[dict[str, t.Any]], test_timeout: float
) -> bool:
    started: str | None = None
    finished = False
    for event in events:
        kind = event["event"]
        if kind == "collected" and not result.collected:
            result.collected = list(event["nodeids"])
        elif kind == "collect_error":
            result.collect_errors[event["nodeid"]] = event["message"]
        elif kind == "start":
            started = event["nodeid"]
        elif kind == "result":
            data = {k: v for k, v in event.items() if k not in ("event", "nodeid")}
            result.results[event["nodeid"]] = data
            started = None
        elif kind == "finished":
            finished = True
    if started is not None and not finished:
        result.results[started] = {
            "outcome": "hung",
            "message": f"hung past {test_timeout:g}s or crashed the interpreter",
        }
    return finished


# -- gate -----------------------------------------------------------------


@dataclasses.dataclass
class Gate:
    """The ratchet: the least share of the suite that must pass, per mode."""

    expected_total: int
    min_ratio: dict[str, float]
    passed: dict[str, int]

    def floor(self, mode: str) -> float:
        return self.min_ratio.get(mode, 0.0)


def _parse_toml(text: str) -> dict[str, t.Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the gate's flat subset suffices
        data: dict[str, t.Any] = {}
        table = data
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("["):
                table = data.setdefault(line.strip("[]").strip(), {})
            elif "=" in line:
                key, value = (part.strip() for part in line.split("=", 1))
                table[key] = float(value) if "." in value else int(value)
        return data
    return tomllib.loads(text)


def load_gate(path: Path = GATE_FILE) -> Gate:
    """Read ``gate.toml``."""
    data = _parse_toml(path.read_text(encoding="utf-8"))
    return Gate(
        expected_total=int(data.get("expected_total", 0)),
        min_ratio={m: float(data.get(m, {}).get("min_ratio", 0.0)) for m in MODES},
        passed={m: int(data.get(m, {}).get("passed", 0)) for m in MODES},
    )


_GATE_TEMPLATE = """\
# The Flask-suite gate: the least share of Flask {version}'s own test suite
# that must pass against diota, per client mode (DIOTA_TEST_CLIENT).
# tests/test_flask_suite.py fails below it.
#
# A ratchet: only ever raised, and only to a figure a run has reached.
# Update it with `python tests/flask_suite/harness.py --update-gate`.

# Tests the suite collects when every module imports; the denominator never
# drops below it, so a module that fails to import cannot raise the ratio.
expected_total = {expected_total}
{tables}"""


def dump_gate(gate: Gate) -> str:
    tables = "".join(
        f"\n[{m}]\npassed = {gate.passed[m]}\nmin_ratio = {gate.min_ratio[m]:.4f}\n"
        for m in MODES
    )
    return _GATE_TEMPLATE.format(
        version=FLASK_VERSION, expected_total=gate.expected_total, tables=tables
    )


def ratchet(gate: Gate, result: SuiteResult) -> Gate:
    """Return the gate raised to what ``result`` reached (never lowered).

    The ratio is rounded down to four places, so the stored figure never
    exceeds the one reached.
    """
    reached = int(result.ratio * 10_000) / 10_000
    min_ratio = dict(gate.min_ratio)
    passed = dict(gate.passed)
    if reached > min_ratio.get(result.mode, 0.0):
        min_ratio[result.mode] = reached
        passed[result.mode] = result.passed
    expected_total = gate.expected_total
    if not result.collect_errors:
        expected_total = max(expected_total, len(result.collected))
    return Gate(expected_total, min_ratio, passed)


# -- summaries ------------------------------------------------------------


def _cause(message: str) -> str:
    text = (message or "").strip()
    line = text.splitlines()[0] if text else "(no message)"
    line = re.sub(r"0x[0-9a-fA-F]+", "0x…", line)
    return line if len(line) <= 160 else line[:157] + "…"


def causes(result: SuiteResult) -> list[tuple[str, list[str]]]:
    """Group the tests that did not pass by the first line of their error."""
    groups: dict[str, list[str]] = {}
    for nodeid, r in result.not_passed().items():
        # Quoted values (names, hosts, reprs) vary between tests that fail
        # for one reason; leave them out of the key.
        key = re.sub(r"(?<!\w)'[^']*'", "'…'", _cause(r["message"]))
        groups.setdefault(f"{r['outcome']}: {key}", []).append(nodeid)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def render_markdown(result: SuiteResult, heading: str = "#") -> str:
    """Render the summary as Markdown (``heading`` is the top level)."""
    sub = heading + "#"
    lines = [
        f"{heading} Flask {FLASK_VERSION}'s test suite against diota ({result.mode})",
        "",
        f"**{result.headline()}.**",
        "",
        f"{sub} Not passing, by cause",
        "",
    ]
    grouped = causes(result)
    if not grouped:
        lines.append("Every collected test passes.")
    for cause, nodeids in grouped:
        lines.append(f"- {len(nodeids)} × `{_md_escape(cause)}`")
    lines += ["", f"{sub} Every test that does not pass", ""]
    if grouped:
        lines += ["| test | outcome | reason |", "| --- | --- | --- |"]
        for nodeid, r in result.not_passed().items():
            reason = _md_escape(_cause(r["message"]))
            lines.append(f"| `{nodeid}` | {r['outcome']} | {reason} |")
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def write_summary(result: SuiteResult, out_dir: Path | None = None) -> Path:
    """Write ``summary.md`` and ``summary.json`` and return the Markdown path."""
    out_dir = out_dir or cache_dir() / "results" / result.mode
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "summary.md"
    md.write_text(render_markdown(result), encoding="utf-8")
    data = {
        "flask_version": FLASK_VERSION,
        "mode": result.mode,
        "passed": result.passed,
        "failed": result.failed,
        "errors": result.errors,
        "skipped": result.skipped,
        "collected": len(result.collected),
        "total": result.total,
        "ratio": result.ratio,
        "runs": result.runs,
        "exit_hang": result.exit_hang,
        "duration": round(result.duration, 2),
        "not_passed": result.not_passed(),
        "logs": result.logs,
    }
    (out_dir / "summary.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return md


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default=os.environ.get("DIOTA_TEST_CLIENT") or "wsgi")
    parser.add_argument(
        "--docs", action="store_true", help="write docs/_generated/flask_suite_MODE.md"
    )
    parser.add_argument(
        "--update-gate",
        action="store_true",
        help="raise gate.toml to the figure reached",
    )
    parser.add_argument(
        "pytest_args", nargs="*", help="extra pytest arguments (after --)"
    )
    args = parser.parse_args(argv)

    result = run_suite(args.mode, pytest_args=args.pytest_args)
    summary = write_summary(result)
    print(result.headline())
    print(f"summary: {summary}")
    for cause, nodeids in causes(result):
        print(f"{len(nodeids):4d}  {cause}")
    if args.docs:
        path = Path(str(DOCS_RESULTS).format(mode=result.mode))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_markdown(result, heading="###"), encoding="utf-8")
        print(f"docs: {path}")
    if args.update_gate:
        if args.pytest_args:
            parser.error("--update-gate needs a full run (no extra pytest arguments)")
        gate = load_gate()
        GATE_FILE.write_text(dump_gate(ratchet(gate, result)), encoding="utf-8")
        print(f"gate: {GATE_FILE}")
    return 0 if result.ratio >= load_gate().floor(result.mode) else 1


if __name__ == "__main__":
    sys.exit(main())
