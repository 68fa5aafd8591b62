"""The extension matrix: Flask extensions' own test suites against diota.

Each suite in ``suites.toml`` is an extension's own test suite, taken from
its sdist at a pinned version and run unmodified, with pytest in a child
process, in a virtual environment of its own where ``import flask`` is diota
(the ``DIOTA_FLASK_ALIAS`` import alias): once with the test client driving
diota's WSGI interface and once its ASGI one (``DIOTA_TEST_CLIENT=asgi``).

The denominator is what passes on real Flask 3.1.3. ``--baseline`` runs
every suite against Flask in throw-away environments and writes
``baseline/<name>.json``: the tests that passed there, and the exact set of
packages pip resolved. The diota environments install that same set (Flask
left out), so both sides run the same versions of everything else; CI reads
the committed baseline files and never needs real Flask.

Command line (from the repository root)::

    python tests/extensions/matrix.py                  # run, print a summary
    python tests/extensions/matrix.py --suite flask-cors --mode asgi
    python tests/extensions/matrix.py --docs           # + docs/_generated/extensions.md
    python tests/extensions/matrix.py --update-gate    # raise gate.toml (ratchet)
    python tests/extensions/matrix.py --baseline       # re-run the Flask baseline

Environment:

``DIOTA_EXTENSIONS_CACHE``
    Cache directory (default ``.cache/extensions`` in the repository): the
    sdists, the unpacked test directories, the diota venvs, the results.
"""

from __future__ import annotations

import argparse
import collections.abc as cabc
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import heapq
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import typing as t
import zipfile
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
TESTS_DIR = HERE.parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:  # run as a script: find the sibling helpers
    sys.path.insert(0, str(TESTS_DIR))

from flask_suite import harness  # noqa: E402

SUITES_FILE = HERE / "suites.toml"
GATE_FILE = HERE / "gate.toml"
BASELINE_DIR = HERE / "baseline"
DOCS_FILE = REPO_ROOT / "docs" / "_generated" / "extensions.md"
PLUGIN_DIR = TESTS_DIR / "flask_suite"  # diota_suite_plugin, the events recorder
FLASK_VERSION = "3.1.3"
MODES = ("wsgi", "asgi")
#: Bumped when the way venvs are built changes, so that old ones are rebuilt.
VENV_SCHEME = 3
#: Root files of an sdist that configure pytest, unpacked next to the tests
#: unless the spec names its own list.
CONFIG_FILES = ("pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py")
SERVICES = frozenset({"redis"})
PASSING = harness.PASSING


class MatrixError(RuntimeError):
    """A suite could not be fetched, installed or run at all."""


# -- specs ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Spec:
    """One extension's suite, as pinned in ``suites.toml``."""

    name: str
    version: str
    category: str
    #: The test directory inside the unpacked sdist.
    tests: str = "tests"
    #: Test-time requirements besides Flask/diota and the extension, pinned.
    requires: tuple[str, ...] = ()
    #: Those of ``requires`` that depend on Flask. Informational: the diota
    #: venv installs the baseline's whole resolved set with ``--no-deps``.
    no_deps: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()
    #: pytest plugins the suite needs, loaded with ``-p`` (autoload stays off);
    #: ``cacheprovider`` keeps pytest's cache on.
    plugins: tuple[str, ...] = ()
    #: Extra environment; ``{redis_url}``, ``{redis_host}``, ``{redis_port}``
    #: and ``{suite_dir}`` are filled in.
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    services: tuple[str, ...] = ()
    #: Root files of the sdist to unpack besides the tests; ``None``: those of
    #: :data:`CONFIG_FILES` that it has.
    files: tuple[str, ...] | None = None
    #: Rough seconds for one run, from the survey: orders and bounds the runs.
    seconds: float = 10.0
    #: Seconds one test may take before it counts as hung.
    test_timeout: float = 60.0
    #: The tests ship inside the package and import themselves from it
    #: (``flask_admin.tests``): ``tests`` is then a directory of the
    #: *installed* distribution, run in place; only the config is unpacked.
    installed: bool = False
    #: Its runs must not overlap (the suite uses fixed ports, say): the two
    #: modes run one after the other.
    serial: bool = False
    counts: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        """``name-version``, the name of its cache directories."""
        return f"{self.name}-{self.version}"

    @property
    def run_timeout(self) -> float:
        """Seconds one run of the suite may take, restarts included."""
        return max(120.0, 6 * self.seconds)

    def as_dict(self) -> dict[str, t.Any]:
        """The spec as plain data (for the venv's marker)."""
        return dataclasses.asdict(self)


_TUPLE_FIELDS = ("requires", "no_deps", "pytest_args", "plugins", "services", "files")


def parse_specs(text: str) -> list[Spec]:
    """Parse the ``[[suite]]`` tables of ``suites.toml``.

    :raises MatrixError: On an unknown key, a missing one, a duplicate
        suite or an unknown service, so that a typo never silently changes
        what runs.
    """
    data = tomllib.loads(text)
    known = {f.name for f in dataclasses.fields(Spec)}
    specs: list[Spec] = []
    for entry in data.get("suite", []):
        unknown = set(entry) - known
        if unknown:
            raise MatrixError(f"suite {entry.get('name')!r}: unknown keys {unknown}")
        missing = {"name", "version", "category"} - set(entry)
        if missing:
            raise MatrixError(f"suite {entry.get('name')!r}: missing {missing}")
        values = dict(entry)
        for name in _TUPLE_FIELDS:
            if values.get(name) is not None:
                values[name] = tuple(str(v) for v in values[name])
        values["env"] = {str(k): str(v) for k, v in values.get("env", {}).items()}
        spec = Spec(**values)
        if {service.partition(":")[0] for service in spec.services} - SERVICES:
            raise MatrixError(f"{spec.name}: unknown services {spec.services}")
        if any(s.name == spec.name for s in specs):
            raise MatrixError(f"suite {spec.name!r} is listed twice")
        specs.append(spec)
    return specs


def load_specs(
    path: Path = SUITES_FILE, names: cabc.Collection[str] = ()
) -> list[Spec]:
    """Read ``suites.toml``, keeping only ``names`` when given."""
    specs = parse_specs(path.read_text(encoding="utf-8"))
    if names:
        unknown = set(names) - {s.name for s in specs}
        if unknown:
            raise MatrixError(f"no such suite: {sorted(unknown)}")
        specs = [s for s in specs if s.name in names]
    return specs


# -- processes ------------------------------------------------------------

#: Every child process alive, so that an interrupted run kills them all.
_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()
#: Set when the run is interrupted: workers start nothing new.
_stop = threading.Event()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    # Each child leads its own process group: pip's and pytest's own
    # children go with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _kill_all() -> None:
    _stop.set()
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _kill(proc)


@contextlib.contextmanager
def _tracked(proc: subprocess.Popen[bytes]) -> cabc.Iterator[None]:
    with _live_lock:
        _live.add(proc)
    try:
        yield
    finally:
        with _live_lock:
            _live.discard(proc)


def _run(
    cmd: t.Sequence[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion; return its output, raise if it failed."""
    if _stop.is_set():
        raise MatrixError("the run was interrupted")
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        with _tracked(proc):
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                code = None
            except BaseException:
                _kill(proc)
                raise
        out.seek(0)
        text = out.read().decode(errors="replace")
    if code != 0:
        status = "timed out" if code is None else f"exit {code}"
        raise MatrixError(f"{' '.join(cmd[:6])} ... {status}:\n{text[-4000:]}")
    return text


# -- fetching and unpacking -----------------------------------------------


def cache_dir() -> Path:
    """The cache: sdists, unpacked suites, venvs and results."""
    return Path(
        os.environ.get("DIOTA_EXTENSIONS_CACHE") or REPO_ROOT / ".cache" / "extensions"
    )


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _find_sdist(directory: Path, spec: Spec) -> Path | None:
    if not directory.is_dir():
        return None
    for path in sorted(directory.iterdir()):
        stem = path.name.removesuffix(".tar.gz").removesuffix(".zip")
        name, _, version = stem.rpartition("-")
        if stem != path.name and (_normalize(name), version) == (
            _normalize(spec.name),
            spec.version,
        ):
            return path
    return None


def fetch_sdist(spec: Spec, cache: Path) -> Path:
    """Return the suite's sdist, downloading it with pip the first time."""
    directory = cache / "sdists"
    found = _find_sdist(directory, spec)
    if found:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps",
            "--no-binary", ":all:", "--disable-pip-version-check", "--quiet",
            "--dest", str(directory), f"{spec.name}=={spec.version}",
        ],
        timeout=300,
    )  # fmt: skip
    found = _find_sdist(directory, spec)
    if not found:
        raise MatrixError(f"pip downloaded no sdist of {spec.key}")
    return found


def _read_archive(archive: Path) -> dict[str, bytes]:
    """Every file of an sdist (small: a few MB at most), by name."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    files = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                files[member.name] = f.read()
    return files


def unpack_suite(spec: Spec, archive: Path, cache: Path) -> Path:
    """Unpack the test directory and root config files of ``archive``.

    The extension's own package is never unpacked: the tests import the
    installed distribution, which is what the matrix tests. The directory
    is renamed into place last, so a partial unpack is never reused.
    """
    dest = cache / "suites" / spec.key
    if (dest / ".complete").is_file():
        return dest
    files = _read_archive(archive)
    names = list(files)
    top = names[0].split("/", 1)[0] + "/" if names else ""
    relative = [n[len(top) :] for n in names if n.startswith(top)]
    roots = spec.files if spec.files is not None else CONFIG_FILES
    prefix = spec.tests.rstrip("/") + "/"
    if not any(rel.startswith(prefix) for rel in relative):
        raise MatrixError(f"{archive.name} has no {spec.tests}/")
    wanted = [
        rel
        for rel in relative
        if rel in roots or (rel.startswith(prefix) and not spec.installed)
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        for rel in wanted:
            target = tmp / rel
            if ".." in Path(rel).parts:
                raise MatrixError(f"{archive.name}: unsafe path {rel}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[top + rel])
        _ensure_pytest_config(tmp)
        (tmp / ".complete").write_text(spec.key, encoding="utf-8")
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def pytest_config_file(suite_dir: Path) -> Path | None:
    """The file pytest would take as its configuration in ``suite_dir``.

    The same precedence as pytest's: a ``pytest.ini`` always counts, the
    others only when they have a pytest section.
    """
    checks: list[tuple[str, t.Callable[[str], bool]]] = [
        ("pytest.ini", lambda text: True),
        (".pytest.ini", lambda text: True),
        ("pyproject.toml", lambda text: "[tool.pytest.ini_options]" in text),
        ("tox.ini", lambda text: re.search(r"^\[pytest\]", text, re.M) is not None),
        ("setup.cfg", lambda text: "[tool:pytest]" in text),
    ]
    for name, has_section in checks:
        path = suite_dir / name
        if path.is_file() and has_section(path.read_text(errors="replace")):
            return path
    return None


def _ensure_pytest_config(suite_dir: Path) -> None:
    # Without a configuration file of its own pytest would search upwards and
    # find diota's pyproject.toml (the cache is inside the repository), with
    # its warnings-as-errors and markers; an empty one stops the search.
    if pytest_config_file(suite_dir) is None:
        (suite_dir / "pytest.ini").write_text(
            "# Written by the extension matrix: this suite has no pytest config.\n"
            "[pytest]\n",
            encoding="utf-8",
        )


# -- environments ---------------------------------------------------------


def _pip(python: Path, *args: str, timeout: float = 600) -> str:
    # The harness's own pip installs into the target (``--python``), so the
    # venvs are made without pip of their own: faster, and one pip version.
    # Installs are --no-compile: compiling every module of boto3 or
    # SQLAlchemy costs more than compiling, once, what the tests import (the
    # test processes write the bytecode to the venv).
    return _run(
        [
            sys.executable, "-m", "pip", "--python", str(python),
            "--disable-pip-version-check", *args,
        ],
        timeout=timeout,
    )  # fmt: skip


def _make_venv(path: Path) -> Path:
    _run(
        [sys.executable, "-m", "venv", "--clear", "--without-pip", str(path)],
        timeout=120,
    )
    return path / "bin" / "python"


_INSPECT = """
import importlib.metadata as md, importlib.util, json, sys
dists = sorted(
    {f"{d.metadata['Name']}=={d.version}" for d in md.distributions()},
    key=str.lower,
)
flask = None
try:
    flask = md.version("flask")
except md.PackageNotFoundError:
    pass
print(json.dumps({
    "packages": dists,
    "flask_distribution": flask,
    "flask_importable": importlib.util.find_spec("flask") is not None,
}))
"""


def inspect_venv(python: Path) -> dict[str, t.Any]:
    """The venv's distributions and whether ``flask`` exists there.

    Run without the alias, so that ``flask`` importable means real Flask.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOTA_")}
    out = _run([str(python), "-c", _INSPECT], timeout=60, env=env)
    return t.cast("dict[str, t.Any]", json.loads(out.strip().splitlines()[-1]))


def site_packages(python: Path) -> Path:
    """The venv's ``purelib`` directory, where distributions are installed."""
    out = _run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        timeout=60,
    )
    return Path(out.strip().splitlines()[-1])


def _without_flask(packages: cabc.Iterable[str]) -> list[str]:
    return [p for p in packages if _normalize(p.split("==")[0]) != "flask"]


_closure_lock = threading.Lock()
_closures: dict[str, list[str]] = {}


def diota_dependencies() -> list[str]:
    """diota's dependencies and theirs, pinned as pip resolves them now.

    Resolved once per process (``pip install --dry-run --report``, which
    needs no build), so that each venv then takes a single pip run without
    any resolution.
    """
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    with _closure_lock:
        if text not in _closures:
            requirements = tomllib.loads(text)["project"]["dependencies"]
            with tempfile.TemporaryDirectory() as tmp:
                report = Path(tmp) / "report.json"
                _run(
                    [
                        sys.executable, "-m", "pip", "install", "--dry-run",
                        "--ignore-installed", "--quiet", "--disable-pip-version-check",
                        "--report", str(report), *requirements,
                    ],
                    timeout=300,
                )  # fmt: skip
                data = json.loads(report.read_text(encoding="utf-8"))
            _closures[text] = [
                f"{item['metadata']['name']}=={item['metadata']['version']}"
                for item in data["install"]
            ]
        return list(_closures[text])


def _merge_pins(*groups: cabc.Iterable[str]) -> list[str]:
    """``name==version`` pins, later groups winning for the same name."""
    merged: dict[str, str] = {}
    for group in groups:
        for pin in group:
            merged[_normalize(pin.split("==")[0])] = pin
    return list(merged.values())


def build_diota_venv(spec: Spec, baseline: Baseline, cache: Path) -> Path:
    """Return the python of the suite's diota venv, built if need be.

    One pip run, without dependencies: diota in editable mode, with its
    dependencies as resolved by :func:`diota_dependencies`, and every
    package of the baseline's environment except Flask, at the baseline's
    versions (which win where both name a package: they are what the
    suite passed with on Flask). Nothing is resolved, so nothing can pull
    in Flask, though some of the packages depend on it. A marker records
    what the venv was built from; it is reused while the spec, the
    baseline's packages and diota's ``pyproject.toml`` are unchanged.
    """
    venv = cache / "venvs" / spec.key
    python = venv / "bin" / "python"
    marker = venv / "diota-matrix.json"
    wanted = {
        "scheme": VENV_SCHEME,
        "spec": spec.as_dict(),
        "packages": baseline.packages,
        "diota_pyproject": hashlib.sha256(
            (REPO_ROOT / "pyproject.toml").read_bytes()
        ).hexdigest(),
    }
    if python.exists() and marker.is_file():
        with contextlib.suppress(ValueError):
            if json.loads(marker.read_text(encoding="utf-8")) == wanted:
                return python
    marker.unlink(missing_ok=True)
    python = _make_venv(venv)
    pins = _merge_pins(diota_dependencies(), _without_flask(baseline.packages))
    _pip(
        python, "install", "--quiet", "--no-compile", "--no-deps",
        "-e", str(REPO_ROOT), *pins,
    )  # fmt: skip
    info = inspect_venv(python)
    if info["flask_distribution"] or info["flask_importable"]:
        raise MatrixError(
            f"{spec.key}: real Flask {info['flask_distribution']} got into the venv"
        )
    marker.write_text(json.dumps(wanted, indent=1), encoding="utf-8")
    return python


# -- running --------------------------------------------------------------


def _child_env(
    *,
    mode: str,
    python: Path,
    suite_dir: Path,
    events: Path,
    deselect: Path,
    test_timeout: float,
    spec: Spec,
    services: dict[str, str],
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_CORE_", "FLASK_", "DIOTA_", "VIRTUAL_ENV"))
    }
    bin_dir = str(python.parent)
    env.update(
        # The suite's venv first: a test that runs `python` or a console
        # script gets the suite's.
        PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]),
        VIRTUAL_ENV=str(python.parent.parent),
        DIOTA_SUITE_EVENTS=str(events),
        DIOTA_SUITE_DESELECT=str(deselect),
        DIOTA_SUITE_TEST_TIMEOUT=str(test_timeout),
        PYTHONPATH=str(PLUGIN_DIR),
        # Plugins installed as test requirements must not change the run
        # unless the spec asks for them (then they are loaded with -p).
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONFAULTHANDLER="1",
    )
    if mode == "flask":
        env["DIOTA_SUITE_REAL_FLASK"] = "1"
    else:
        env.update(DIOTA_FLASK_ALIAS="1", DIOTA_TEST_CLIENT=mode)
    fill = {"{suite_dir}": str(suite_dir), **services}
    for key, value in spec.env.items():
        for placeholder, real in fill.items():
            value = value.replace(placeholder, real)
        env[key] = value
    return env


@contextlib.contextmanager
def _services(spec: Spec) -> cabc.Iterator[dict[str, str]]:
    """Start the services the suite needs; yield their placeholders."""
    with contextlib.ExitStack() as stack:
        values: dict[str, str] = {}
        for service in spec.services:
            # "redis" on a free port, or "redis:6360" where a suite expects it.
            name, _, port = service.partition(":")
            assert name == "redis"
            from redis_server import running_redis

            server = stack.enter_context(running_redis(int(port) if port else None))
            values.update(
                {
                    "{redis_url}": server.url,
                    "{redis_host}": "127.0.0.1",
                    "{redis_port}": str(server.port),
                }
            )
        yield values


def run_suite(
    spec: Spec,
    mode: str,
    python: Path,
    suite_dir: Path,
    out_dir: Path,
    *,
    max_runs: int = 6,
    exit_grace: float = 10.0,
    run_timeout: float | None = None,
) -> harness.SuiteResult:
    """Run one suite once in ``mode`` (``wsgi``, ``asgi`` or ``flask``).

    As in the Flask-suite harness, a test that hangs (or kills the
    interpreter) is recorded as ``hung`` and the run restarts without the
    tests already done.
    """
    result = harness.SuiteResult(mode=mode)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    # Each run gets a copy of the tests: some suites write next to them
    # (Flask-Migrate's a migrations/ directory and a database), and the
    # two modes of a suite may run at the same time.
    suite_dir = Path(shutil.copytree(suite_dir, out_dir / "suite", symlinks=True))
    events = out_dir / "events.jsonl"
    deselect = out_dir / "deselect.txt"
    config = pytest_config_file(suite_dir)
    timeout = run_timeout or spec.run_timeout
    # Node ids are relative to the root directory: the same on Flask and on
    # diota either way (site-packages/flask_admin/tests/x.py is
    # flask_admin/tests/x.py).
    rootdir = site_packages(python) if spec.installed else suite_dir
    tests = rootdir / spec.tests
    start = time.monotonic()
    with _services(spec) as services:
        env = _child_env(
            mode=mode,
            python=python,
            suite_dir=suite_dir,
            events=events,
            deselect=deselect,
            test_timeout=spec.test_timeout,
            spec=spec,
            services=services,
        )
        # "cacheprovider" among the plugins keeps pytest's cache on (it is
        # built in, off by default here: the suites' directories are copies).
        plugins = [
            arg for p in spec.plugins if p != "cacheprovider" for arg in ("-p", p)
        ]
        if "cacheprovider" not in spec.plugins:
            plugins += ["-p", "no:cacheprovider"]
        cmd = [
            str(python), "-m", "pytest", str(tests),
            "-p", "diota_suite_plugin", *plugins,
            "-q", "-rN", "--color=no", "--continue-on-collection-errors",
            f"--rootdir={rootdir}", f"--basetemp={out_dir / 'tmp'}",
            *([f"-c={config}"] if config is not None else []),
            *spec.pytest_args,
        ]  # fmt: skip
        try:
            harness.run_child(
                cmd,
                cwd=suite_dir,
                env=env,
                out_dir=out_dir,
                result=result,
                timeout=timeout,
                test_timeout=spec.test_timeout,
                max_runs=max_runs,
                exit_grace=exit_grace,
                watch=_tracked,
                interrupted=_stop.is_set,
            )
        except harness.HarnessError as e:
            raise MatrixError(f"{spec.name} ({mode}): {e}") from e
    result.duration = time.monotonic() - start
    return result


# -- baseline -------------------------------------------------------------


@dataclasses.dataclass
class Baseline:
    """A suite's run against real Flask: the denominator of its score."""

    name: str
    version: str
    flask: str
    #: Node ids that passed (or xfailed, as the suite expects) on Flask.
    passed: list[str]
    counts: dict[str, int]
    #: Every distribution of the baseline venv, ``name==version``.
    packages: list[str]
    python: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1) + "\n"


def baseline_path(name: str) -> Path:
    """Where the suite's committed baseline lives."""
    return BASELINE_DIR / f"{name}.json"


def load_baseline(spec: Spec, directory: Path = BASELINE_DIR) -> Baseline:
    """Read the suite's committed baseline, which must match its version."""
    path = directory / f"{spec.name}.json"
    if not path.is_file():
        raise MatrixError(
            f"no baseline for {spec.name}: run `python tests/extensions/matrix.py"
            f" --baseline --suite {spec.name}`"
        )
    baseline = Baseline(**json.loads(path.read_text(encoding="utf-8")))
    if baseline.version != spec.version:
        raise MatrixError(
            f"{spec.name}'s baseline is for {baseline.version}, not {spec.version}"
        )
    return baseline


def _counts(result: harness.SuiteResult) -> dict[str, int]:
    return {
        "collected": len(result.collected),
        "passed": result.passed,
        "failed": result.failed,
        "errors": result.errors,
        "skipped": result.skipped,
        "not_run": len(result.not_run),
        "collection_errors": len(result.collect_errors),
    }


def run_baseline(spec: Spec, cache: Path, log: t.Callable[[str], None]) -> Baseline:
    """Run the suite against real Flask in a throw-away venv."""
    archive = fetch_sdist(spec, cache)
    suite_dir = unpack_suite(spec, archive, cache)
    with tempfile.TemporaryDirectory(prefix=f"flask-baseline-{spec.name}-") as tmp:
        python = _make_venv(Path(tmp) / "venv")
        _pip(
            python, "install", "--quiet", "--no-compile",
            f"flask=={FLASK_VERSION}", f"{spec.name}=={spec.version}", *spec.requires,
        )  # fmt: skip
        info = inspect_venv(python)
        if info["flask_distribution"] != FLASK_VERSION:
            raise MatrixError(
                f"{spec.key}: the baseline venv has Flask"
                f" {info['flask_distribution']}, not {FLASK_VERSION}"
            )
        out_dir = cache / "results" / spec.name / "flask"
        result = run_suite(spec, "flask", python, suite_dir, out_dir)
        log(f"{spec.name}: on Flask {result.headline()}")
        passed = sorted(n for n, r in result.results.items() if r["outcome"] in PASSING)
        return Baseline(
            name=spec.name,
            version=spec.version,
            flask=FLASK_VERSION,
            passed=passed,
            counts=_counts(result),
            packages=[p for p in info["packages"]],
            python=".".join(map(str, sys.version_info[:3])),
        )


# -- scoring --------------------------------------------------------------


@dataclasses.dataclass
class Score:
    """One suite in one mode, scored against its baseline."""

    suite: str
    mode: str
    #: Baseline-passing tests that pass on diota.
    passed: int
    #: Tests that pass on Flask: the denominator.
    total: int
    #: Baseline-passing node id -> {"outcome", "message"} for the others.
    not_passed: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    #: Why the suite did not run at all, if it did not.
    error: str = ""
    headline: str = ""
    duration: float = 0.0

    @property
    def ratio(self) -> float:
        return self.passed / self.total if self.total else 1.0


def score(
    baseline: Baseline,
    result: harness.SuiteResult | None,
    error: str = "",
    *,
    mode: str = "",
) -> Score:
    """Score a diota run: how many of the tests passing on Flask pass too.

    A baseline test that diota's run did not collect (its module failed to
    import, say) counts as not passed. Without a ``result`` (the suite did
    not run, for ``error``), none passes.
    """
    mode = result.mode if result else mode
    out = Score(baseline.name, mode, 0, len(baseline.passed), error=error)
    if result is None:
        reason = {"outcome": "suite error", "message": _first_line(error)}
        out.not_passed = {n: dict(reason) for n in baseline.passed}
        return out
    out.headline = result.headline()
    out.duration = result.duration
    module_errors = result.collect_errors
    for nodeid in baseline.passed:
        r = result.results.get(nodeid)
        if r is not None and r["outcome"] in PASSING:
            out.passed += 1
            continue
        if r is not None:
            reason = {"outcome": r["outcome"], "message": r.get("message", "")}
        elif nodeid in result.collected:
            reason = {"outcome": "not run", "message": "the run ended first"}
        else:
            module = nodeid.split("::", 1)[0]
            message = module_errors.get(module, "")
            reason = {
                "outcome": "collection error" if message else "not collected",
                "message": message or "not collected on diota",
            }
        out.not_passed[nodeid] = reason
    return out


def aggregate(scores: cabc.Iterable[Score], mode: str) -> tuple[int, int]:
    """Passed and total over every suite scored in ``mode``."""
    chosen = [s for s in scores if s.mode == mode]
    return sum(s.passed for s in chosen), sum(s.total for s in chosen)


# -- gate -----------------------------------------------------------------


@dataclasses.dataclass
class Gate:
    """The ratchet in ``gate.toml``."""

    #: suite -> mode -> least number of baseline tests that must pass.
    passed: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: mode -> least aggregate ratio over all suites.
    min_ratio: dict[str, float] = dataclasses.field(default_factory=dict)
    #: suite -> node id -> why it does not pass in ASGI mode only (it reads
    #: the request context after the request ended). Kept by hand.
    asgi_exceptions: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    #: The suites ``min_ratio`` was reached over.
    aggregate_suites: list[str] = dataclasses.field(default_factory=list)

    def floor(self, suite: str, mode: str) -> int:
        """The least passed count for ``suite`` in ``mode`` (0 if none)."""
        return self.passed.get(suite, {}).get(mode, 0)


def parse_gate(text: str) -> Gate:
    """Parse the text of ``gate.toml``."""
    data = tomllib.loads(text)
    gate = Gate()
    table = data.get("aggregate", {})
    gate.min_ratio = {m: float(table[m]) for m in MODES if m in table}
    gate.aggregate_suites = [str(name) for name in table.get("suites", [])]
    for suite, table in data.get("suite", {}).items():
        gate.passed[suite] = {m: int(table[m]) for m in MODES if m in table}
        exceptions = table.get("asgi_exceptions", {})
        if exceptions:
            gate.asgi_exceptions[suite] = {
                str(k): str(v) for k, v in exceptions.items()
            }
    return gate


def load_gate(path: Path = GATE_FILE) -> Gate:
    """Read ``gate.toml``; an empty gate if there is none yet."""
    return parse_gate(path.read_text(encoding="utf-8")) if path.is_file() else Gate()


_GATE_HEADER = """\
# The extension-matrix gate: per suite and client mode, the least number of
# the tests that pass on Flask {flask} (baseline/<name>.json) that must pass
# on diota; and the least aggregate share over all suites.
# tests/test_extension_matrix.py fails below it.
#
# A ratchet: only ever raised, and only to a figure a run reached. Update
# it with `python tests/extensions/matrix.py --update-gate`.
#
# [suite.<name>.asgi_exceptions] lists, by hand, tests that fail in ASGI mode
# only because they read the request context after the request ended (the
# ASGI interface runs the request elsewhere and pops its context at the end);
# each with the reason, checked in the test's code.
"""


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def dump_gate(gate: Gate) -> str:
    """The text of ``gate.toml`` for ``gate``, header comment included."""
    lines = [_GATE_HEADER.format(flask=FLASK_VERSION), "[aggregate]"]
    lines += [f"{m} = {gate.min_ratio[m]:.4f}" for m in MODES if m in gate.min_ratio]
    lines += ["# over these suites:", "suites = ["]
    lines += [f"    {_toml_str(name)}," for name in gate.aggregate_suites] + ["]"]
    for suite in sorted(set(gate.passed) | set(gate.asgi_exceptions)):
        lines += ["", f"[suite.{suite}]"]
        modes = gate.passed.get(suite, {})
        lines += [f"{m} = {modes[m]}" for m in MODES if m in modes]
        exceptions = gate.asgi_exceptions.get(suite)
        if exceptions:
            lines += ["", f"[suite.{suite}.asgi_exceptions]"]
            lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in exceptions.items()]
    return "\n".join(lines) + "\n"


def ratchet(gate: Gate, scores: cabc.Iterable[Score], *, full: bool) -> Gate:
    """Return the gate raised to what ``scores`` reached; never lowered.

    The aggregate is only raised by a ``full`` run (every suite), and is
    rounded down to four places so the stored figure never exceeds it.
    """
    scores = list(scores)
    passed = {s: dict(m) for s, m in gate.passed.items()}
    for sc in scores:
        if sc.error:
            continue
        modes = passed.setdefault(sc.suite, {})
        modes[sc.mode] = max(modes.get(sc.mode, 0), sc.passed)
    min_ratio = dict(gate.min_ratio)
    suites = list(gate.aggregate_suites)
    if full:
        # Another set of suites (one added, one dropped) changes what the
        # aggregate is taken over: it starts again from the figure reached.
        scored = sorted({sc.suite for sc in scores})
        if scored != sorted(suites):
            min_ratio, suites = {}, scored
        for mode in {sc.mode for sc in scores}:
            got, total = aggregate(scores, mode)
            if total:
                reached = int(got / total * 10_000) / 10_000
                min_ratio[mode] = max(min_ratio.get(mode, 0.0), reached)
    return Gate(
        passed,
        min_ratio,
        {k: dict(v) for k, v in gate.asgi_exceptions.items()},
        suites,
    )


# -- the matrix -----------------------------------------------------------


@dataclasses.dataclass
class MatrixResult:
    """Every score of one run of the matrix, and how long it took."""

    scores: list[Score]
    specs: list[Spec]
    duration: float = 0.0

    def get(self, suite: str, mode: str) -> Score | None:
        for sc in self.scores:
            if sc.suite == suite and sc.mode == mode:
                return sc
        return None


def _first_line(text: str) -> str:
    return harness._cause(text)


def _prepare(
    spec: Spec, cache: Path, log: t.Callable[[str], None]
) -> tuple[Path, Path, Baseline]:
    start = time.monotonic()
    baseline = load_baseline(spec)
    suite_dir = unpack_suite(spec, fetch_sdist(spec, cache), cache)
    python = build_diota_venv(spec, baseline, cache)
    log(f"{spec.name}: ready in {time.monotonic() - start:.1f}s")
    return python, suite_dir, baseline


def run_matrix(
    specs: cabc.Sequence[Spec],
    modes: cabc.Sequence[str] = MODES,
    *,
    cache: Path | None = None,
    workers: int = 2,
    budget: float | None = None,
    log: t.Callable[[str], None] = print,
) -> MatrixResult:
    """Run every suite in every mode against diota and score them.

    Venvs are built two at a time while suites already built run, two at a
    time, longest first; a suite that cannot be built or run scores zero
    with the reason, and the others go on.

    :param budget: Seconds for the whole matrix. A run is cut short at the
        end of it, and runs not started by then score zero, with the
        reason: the caller's own timeout never has to kill the harness.
    """
    cache = cache or cache_dir()
    start = time.monotonic()
    deadline = start + budget if budget else float("inf")
    _stop.clear()
    scores: list[Score] = []
    lock = threading.Lock()
    ordered = sorted(specs, key=lambda s: -s.seconds)

    def run_one(spec: Spec, mode: str, prepared: tuple[Path, Path, Baseline]) -> None:
        python, suite_dir, baseline = prepared
        out_dir = cache / "results" / spec.name / mode
        remaining = deadline - time.monotonic()
        try:
            if remaining < 5:
                raise MatrixError(f"not run: the matrix's {budget:g}s were spent")
            run_timeout = min(spec.run_timeout, remaining)
            result = run_suite(
                spec, mode, python, suite_dir, out_dir, run_timeout=run_timeout
            )
            sc = score(baseline, result)
        except MatrixError as exc:
            sc = score(baseline, None, str(exc), mode=mode)
        write_suite_report(spec, sc, out_dir)
        with lock:
            scores.append(sc)
        log(
            f"{spec.name} [{mode}]: {sc.passed}/{sc.total} ({sc.ratio:.1%})"
            f" in {sc.duration:.1f}s"
        )

    # Runs ready to start, longest first. Each task submitted to the run pool
    # takes the longest one pending when a worker frees (not the one it was
    # submitted for): a long suite whose venv is ready late still starts
    # before the short ones, and the two workers finish close together.
    pending: list[tuple[float, int, t.Callable[[], None]]] = []
    sequence = itertools.count()  # ties: first ready, first run

    def run_longest() -> None:
        with lock:
            job = heapq.heappop(pending)[2]
        job()

    def queue_runs(spec: Spec, prepared: tuple[Path, Path, Baseline]) -> int:
        if spec.serial:  # one job: its modes one after the other
            jobs = [(spec.seconds * len(modes), modes)]
        else:
            jobs = [(spec.seconds, [mode]) for mode in modes]
        with lock:
            for seconds, job_modes in jobs:
                job = functools.partial(run_modes, spec, job_modes, prepared)
                heapq.heappush(pending, (-seconds, next(sequence), job))
        return len(jobs)

    def run_modes(
        spec: Spec, job_modes: cabc.Sequence[str], prepared: tuple[Path, Path, Baseline]
    ) -> None:
        for mode in job_modes:
            run_one(spec, mode, prepared)

    build_pool = concurrent.futures.ThreadPoolExecutor(workers, "matrix-build")
    run_pool = concurrent.futures.ThreadPoolExecutor(workers, "matrix-run")
    try:
        builds = {
            build_pool.submit(_prepare, spec, cache, log): spec for spec in ordered
        }
        runs: list[concurrent.futures.Future[None]] = []
        for future in concurrent.futures.as_completed(builds):
            spec = builds[future]
            try:
                prepared = future.result()
            except MatrixError as exc:
                log(f"{spec.name}: not run: {_first_line(str(exc))}")
                with lock:
                    for mode in modes:
                        try:
                            baseline = load_baseline(spec)
                        except MatrixError:
                            baseline = Baseline(spec.name, spec.version, "", [], {}, [])
                        scores.append(score(baseline, None, str(exc), mode=mode))
                continue
            for _ in range(queue_runs(spec, prepared)):
                runs.append(run_pool.submit(run_longest))
        for run in runs:
            run.result()
    except BaseException:
        _kill_all()
        raise
    finally:
        build_pool.shutdown(wait=True, cancel_futures=True)
        run_pool.shutdown(wait=True, cancel_futures=True)
    order = {s.name: i for i, s in enumerate(specs)}
    scores.sort(key=lambda sc: (order.get(sc.suite, 0), MODES.index(sc.mode)))
    result = MatrixResult(scores, list(specs), time.monotonic() - start)
    write_summary(result, cache)
    return result


# -- reports --------------------------------------------------------------


def _md(text: str) -> str:
    return harness._md_escape(text)


def write_suite_report(spec: Spec, sc: Score, out_dir: Path) -> None:
    """Write ``result.json`` and ``result.md`` for one suite and mode."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(sc) | {"version": spec.version, "ratio": sc.ratio}
    (out_dir / "result.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    lines = [
        f"# {spec.name} {spec.version} on diota ({sc.mode})",
        "",
        f"**{sc.passed}/{sc.total} of the tests passing on Flask pass"
        f" ({sc.ratio:.1%}).**",
        "",
    ]
    if sc.headline:
        lines += [f"Whole run: {sc.headline}.", ""]
    if sc.error:
        lines += ["The suite did not run:", "", "```", sc.error[-3000:], "```", ""]
    lines += _not_passing_table(sc)
    (out_dir / "result.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _not_passing_table(
    sc: Score, exceptions: dict[str, str] | None = None
) -> list[str]:
    if not sc.not_passed:
        return ["Every test that passes on Flask passes."]
    lines = ["| test | outcome | reason |", "| --- | --- | --- |"]
    for nodeid, r in sorted(sc.not_passed.items()):
        reason = _first_line(r["message"])
        if exceptions and nodeid in exceptions:
            reason = f"known ASGI exception: {exceptions[nodeid]} ({reason})"
        lines.append(f"| `{_md(nodeid)}` | {r['outcome']} | {_md(reason)} |")
    return lines


def write_summary(result: MatrixResult, cache: Path) -> Path:
    """Write the run's ``summary.json`` and ``summary.md`` under the cache."""
    out = cache / "results"
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "duration": round(result.duration, 1),
        "scores": [dataclasses.asdict(s) | {"ratio": s.ratio} for s in result.scores],
    }
    (out / "summary.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    path = out / "summary.md"
    path.write_text(render_markdown(result, load_gate()), encoding="utf-8")
    return path


def _cell(sc: Score | None) -> str:
    if sc is None:
        return "not run"
    text = f"{sc.passed} ({sc.ratio:.1%})"
    return text + " (did not run)" if sc.error else text


def render_markdown(result: MatrixResult, gate: Gate, heading: str = "#") -> str:
    """The table of every suite and, per suite, the tests not passing."""
    sub = heading + "#"
    lines = [
        f"{heading} Extensions' own test suites on diota",
        "",
        f"Each suite's tests that pass on Flask {FLASK_VERSION} are its"
        " denominator; diota's figures are how many of those pass on it.",
        "",
        "| suite | version | category | passing on Flask | diota WSGI | diota ASGI |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in result.specs:
        wsgi, asgi = result.get(spec.name, "wsgi"), result.get(spec.name, "asgi")
        total = (wsgi or asgi).total if (wsgi or asgi) else 0
        lines.append(
            f"| {spec.name} | {spec.version} | {spec.category} | {total}"
            f" | {_cell(wsgi)} | {_cell(asgi)} |"
        )
    for mode in MODES:
        got, total = aggregate(result.scores, mode)
        if total:
            lines.append(
                f"\nAll suites, {mode.upper()}: **{got}/{total}"
                f" ({got / total:.2%})** of the tests passing on Flask."
            )
    lines += ["", f"{sub} Tests that pass on Flask but not on diota", ""]
    any_failures = False
    for spec in result.specs:
        for mode in MODES:
            sc = result.get(spec.name, mode)
            if sc is None or not sc.not_passed:
                continue
            any_failures = True
            exceptions = gate.asgi_exceptions.get(spec.name) if mode == "asgi" else None
            lines += [f"{sub}# {spec.name} ({mode.upper()})", ""]
            if sc.error:
                lines += [f"The suite did not run: {_md(_first_line(sc.error))}", ""]
            else:
                lines += _not_passing_table(sc, exceptions) + [""]
    if not any_failures:
        lines.append("None: every test that passes on Flask passes on diota.")
    known = [
        (suite, nodeid, reason)
        for suite, exceptions in sorted(gate.asgi_exceptions.items())
        for nodeid, reason in exceptions.items()
    ]
    if known:
        lines += ["", f"{sub} Known ASGI-only exceptions", ""]
        lines += [f"- `{_md(n)}` ({s}): {_md(r)}" for s, n, r in known]
    return "\n".join(lines).rstrip() + "\n"


def print_summary(result: MatrixResult) -> None:
    """Print each score, its first failures and the aggregates."""
    for sc in result.scores:
        figures = f"{sc.passed:5d}/{sc.total:<5d} {sc.ratio:7.1%}"
        print(f"{sc.suite:36s} {sc.mode:5s} {figures}")
        for nodeid, r in sorted(sc.not_passed.items())[:20]:
            print(f"    {r['outcome']}: {nodeid}: {_first_line(r['message'])}")
        if len(sc.not_passed) > 20:
            print(f"    ... and {len(sc.not_passed) - 20} more")
    for mode in MODES:
        got, total = aggregate(result.scores, mode)
        if total:
            print(f"aggregate {mode}: {got}/{total} ({got / total:.2%})")
    print(f"matrix took {result.duration:.0f}s")


def check_gate(result: MatrixResult, gate: Gate, *, full: bool) -> list[str]:
    """Every way ``result`` falls below ``gate``, as messages."""
    problems = []
    for sc in result.scores:
        floor = gate.floor(sc.suite, sc.mode)
        if sc.passed < floor:
            problems.append(f"{sc.suite} [{sc.mode}]: {sc.passed} < gate {floor}")
    if full:
        for mode, floor in gate.min_ratio.items():
            got, total = aggregate(result.scores, mode)
            if total and got / total < floor:
                problems.append(f"aggregate [{mode}]: {got / total:.4f} < {floor}")
    return problems


def main(argv: t.Sequence[str] | None = None) -> int:
    """The command line; exits non-zero below the gate or on a failed baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", default=[], help="only this suite")
    parser.add_argument("--mode", choices=MODES, action="append", default=[])
    parser.add_argument("--baseline", action="store_true", help="run against Flask")
    parser.add_argument("--docs", action="store_true", help=f"write {DOCS_FILE.name}")
    parser.add_argument("--update-gate", action="store_true", help="raise gate.toml")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        specs = load_specs(names=args.suite)
    except MatrixError as exc:
        parser.error(str(exc))
    cache = cache_dir()

    if args.baseline:
        BASELINE_DIR.mkdir(exist_ok=True)
        with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
            futures = {pool.submit(run_baseline, s, cache, print): s for s in specs}
            failed = 0
            for future in concurrent.futures.as_completed(futures):
                spec = futures[future]
                try:
                    baseline = future.result()
                except MatrixError as exc:
                    failed += 1
                    print(f"{spec.name}: baseline failed:\n{exc}")
                    continue
                baseline_path(spec.name).write_text(
                    baseline.to_json(), encoding="utf-8"
                )
                print(f"{spec.name}: {len(baseline.passed)} pass on Flask")
        return 1 if failed else 0

    modes = args.mode or list(MODES)
    full = not args.suite and len(modes) == len(MODES)
    result = run_matrix(specs, modes, cache=cache, workers=args.workers)
    print_summary(result)
    gate = load_gate()
    if args.docs:
        if not full:
            parser.error("--docs needs a full run (no --suite or --mode)")
        DOCS_FILE.parent.mkdir(parents=True, exist_ok=True)
        DOCS_FILE.write_text(render_markdown(result, gate, "###"), encoding="utf-8")
        print(f"docs: {DOCS_FILE}")
    if args.update_gate:
        gate = ratchet(gate, result.scores, full=full)
        GATE_FILE.write_text(dump_gate(gate), encoding="utf-8")
        print(f"gate: {GATE_FILE}")
    problems = check_gate(result, gate, full=full)
    for problem in problems:
        print(f"below the gate: {problem}")
    print(f"summary: {cache / 'results' / 'summary.md'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
