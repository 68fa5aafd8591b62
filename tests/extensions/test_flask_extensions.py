"""Real Flask extensions on diota, through the alias, on both interfaces.

The extensions are installed without their Flask dependency into a venv of
their own (built once per test run under .cache/), so real Flask never
enters the test environment; the app imports them as a Flask app would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "extensions-venv"
# Extensions (installed without dependencies: they require Flask) and what
# they need besides Flask.
EXTENSIONS = (
    "flask-cors",
    "flask-login",
    "flask-wtf",
    "flask-sqlalchemy",
    "flask-restful",
    "flask-caching",
)
THEIR_DEPENDENCIES = (
    "wtforms",
    "sqlalchemy",
    "aniso8601",
    "pytz",
    "cachelib",
)
MARKER = VENV / "diota-extensions.json"


def _pip(python: Path, *args: str) -> None:
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, f"pip install {args} failed:\n{out.stderr[-3000:]}"


@pytest.fixture(scope="session")
def extensions_python() -> Path:
    python = VENV / "bin" / "python"
    wanted = {"extensions": EXTENSIONS, "dependencies": THEIR_DEPENDENCIES}
    if python.exists() and MARKER.exists() and json.loads(MARKER.read_text()) == wanted:
        return python
    subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120
    )
    _pip(python, "-e", str(ROOT))
    _pip(python, "--no-deps", *EXTENSIONS)
    _pip(python, *THEIR_DEPENDENCIES)
    MARKER.write_text(json.dumps(wanted))
    return python


def test_extensions_work_unchanged_on_both_interfaces(extensions_python: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOTA_")}
    out = subprocess.run(
        [
            str(extensions_python),
            str(Path(__file__).with_name("ext_app.py")),
            "wsgi",
            "asgi",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout)
    for interface in ("wsgi", "asgi"):
        got = results[interface]
        assert got["rest"] == [200, {"hello": "restful"}, "http://example.com"]
        assert got["me_anonymous"] == 401
        assert (got["login"], got["me"]) == ("logged in", "7")
        assert got["form"] == {"valid": True, "name": "ada"}
        assert got["form_invalid"] == {"valid": False, "name": None}
        assert got["items"]["names"][-1] == interface
        assert got["cached"][0] == got["cached"][1]
        assert got["missing"] == 404
    # One database and one cache behind both interfaces: the same app object.
    assert results["asgi"]["items"]["names"] == ["wsgi", "asgi"]
    assert results["asgi"]["cached"] == results["wsgi"]["cached"]


def test_real_flask_is_not_in_the_extensions_venv(extensions_python: Path) -> None:
    out = subprocess.run(
        [str(extensions_python), "-m", "pip", "show", "flask"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0, "real Flask must not be installed"
