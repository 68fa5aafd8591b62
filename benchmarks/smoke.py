"""Smoke mode for the peer frameworks, run in a virtualenv of their own.

Real Flask must never be importable in the environment that runs diota's
tests: diota ships a ``flask`` import alias and a ``flask`` console script.
So the test suite builds a separate virtualenv holding only the peers (and
diota with its dependencies), once, and smoke-tests each peer in a
subprocess of that virtualenv's interpreter.

Build (or reuse) the virtualenv, then smoke one framework::

    python -m benchmarks.smoke --build            # prints the interpreter path
    .cache/bench-smoke-venv/bin/python -m benchmarks.smoke flask

The second command prints ``{scenario: "ok" | "n/a"}`` as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = ROOT / ".cache" / "bench-smoke-venv"
#: Written last: a virtualenv without it (an interrupted build) is rebuilt.
MARKER = "diota-smoke-requirements.json"

#: What the smoke runs need from the ``benchmarks`` extra. The servers, the
#: load generator and the charts (uvicorn, gunicorn, matplotlib) serve only
#: the timed runs. asgiref runs Flask's ``async def`` view.
PEER_DISTRIBUTIONS = (
    "flask",
    "quart",
    "starlette",
    "falcon",
    "fastapi",
    "python-multipart",
    "asgiref",
)
#: Peers' own dependencies that diota's dependency list pins too.
SHARED_DISTRIBUTIONS = ("jinja2", "itsdangerous")

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class SmokeError(RuntimeError):
    """The virtualenv could not be built, or a smoke run did not finish."""


def _dist_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _declared(pyproject: Path) -> tuple[list[str], list[str]]:
    """diota's dependencies and its ``benchmarks`` extra, as written."""
    if sys.version_info < (3, 11):  # no tomllib: read the installed metadata
        import importlib.metadata

        base: list[str] = []
        extra: list[str] = []
        for req in importlib.metadata.requires("diota") or []:
            spec, _, marker = req.partition(";")
            if not marker.strip():
                base.append(spec.strip())
            elif re.search(r"""extra\s*==\s*['"]benchmarks['"]""", marker):
                extra.append(spec.strip())
        return base, extra
    else:
        import tomllib

        with pyproject.open("rb") as f:
            project = tomllib.load(f)["project"]
        return (
            list(project["dependencies"]),
            list(project["optional-dependencies"]["benchmarks"]),
        )


def peer_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirements the smoke virtualenv installs next to diota, with the
    versions or ranges ``pyproject.toml`` gives them."""
    dependencies, benchmarks = _declared(pyproject)
    wanted = [
        *((benchmarks, name) for name in PEER_DISTRIBUTIONS),
        *((dependencies, name) for name in SHARED_DISTRIBUTIONS),
    ]
    found: list[str] = []
    for source, name in wanted:
        matches = [req for req in source if _dist_name(req) == name]
        if not matches:
            raise SmokeError(f"pyproject.toml does not declare {name!r}")
        found.extend(matches)
    return found


def venv_python(venv: Path) -> Path:
    """The interpreter of ``venv``."""
    if os.name == "nt":  # pragma: no cover - CI runs on Linux
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _fingerprint(requirements: list[str], pyproject: Path) -> dict[str, t.Any]:
    # diota's own dependencies come with the editable install, so a change to
    # them (or to the interpreter) rebuilds the virtualenv too.
    return {
        "python": sys.version,
        "requirements": requirements,
        "diota": _declared(pyproject)[0],
    }


@contextlib.contextmanager
def _locked(path: Path) -> t.Iterator[None]:
    """Hold an exclusive lock on ``path`` (where ``fcntl`` exists), so two
    test runs started together do not build the same virtualenv at once."""
    if os.name == "nt":  # pragma: no cover - CI runs on Linux
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=max(timeout, 1.0),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeError(
            f"{what} did not finish within {exc.timeout:.0f} s: {' '.join(cmd)}"
        ) from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise SmokeError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}"
        )


def ensure_venv(venv: Path = DEFAULT_VENV, timeout: float = 600.0) -> Path:
    """Return the interpreter of a virtualenv holding the peer frameworks and
    diota (editable, with its dependencies), building it if needed.

    A virtualenv whose marker file records the same requirements, diota
    dependencies and Python version is reused as it is.

    :param venv: Where the virtualenv lives.
    :param timeout: Seconds the whole build may take.
    :raises SmokeError: If the build fails or runs out of time.
    """
    pyproject = ROOT / "pyproject.toml"
    requirements = peer_requirements(pyproject)
    expected = _fingerprint(requirements, pyproject)
    python = venv_python(venv)
    marker = venv / MARKER
    with _locked(venv.with_name(venv.name + ".lock")):
        with contextlib.suppress(OSError, ValueError):
            if python.is_file() and json.loads(marker.read_text()) == expected:
                return python
        deadline = time.monotonic() + timeout
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], timeout, "python -m venv")
        install = [
            str(python), "-m", "pip", "install",
            "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
            "-e", str(ROOT), *requirements,
        ]  # fmt: skip
        _run(install, deadline - time.monotonic(), "pip install")
        marker.write_text(json.dumps(expected, indent=2))
    return python


def child_env() -> dict[str, str]:
    """The environment of a smoke subprocess: real Flask must be Flask, and
    nothing from the test environment may leak onto ``sys.path``."""
    env = dict(os.environ)
    env.pop("DIOTA_FLASK_ALIAS", None)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def run_in(python: Path, name: str, timeout: float = 120.0) -> dict[str, str]:
    """Smoke-test framework ``name`` in a subprocess of ``python``; return
    its ``{scenario: outcome}``.

    :raises SmokeError: If the subprocess fails or runs out of time.
    """
    cmd = [str(python), "-m", "benchmarks.smoke", name]
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,  # ``-m`` puts the repository root on sys.path
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SmokeError(f"{name}: no answer within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise SmokeError(f"{name}: exit {proc.returncode}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise SmokeError(f"{name}: printed nothing\n{proc.stderr}")
    outcome: dict[str, str] = json.loads(lines[-1])
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("framework", nargs="?", help="smoke this framework here")
    parser.add_argument(
        "--build", action="store_true", help="build or reuse the smoke virtualenv"
    )
    args = parser.parse_args(argv)
    if args.build:
        print(ensure_venv())
        return 0
    if not args.framework:
        parser.error("name a framework, or pass --build")

    from .apps import FRAMEWORKS
    from .driver import smoke

    framework = FRAMEWORKS[args.framework]
    outcome = smoke(framework, framework.load(), repeat=3)
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
