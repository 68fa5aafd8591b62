"""Installing an extension the usual way keeps a diota app on diota.

In a scratch venv (never the test environment): diota is installed, made the
environment's ``flask`` distribution with ``diota provide-flask``, and a real
extension is installed with its dependencies, as users install extensions.
pip must not bring real Flask; the extension's app runs on diota under both
interfaces and through the ``flask`` command. Then the other way: real Flask
installed next to diota is reported, never silently used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import diota.provide_flask

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = "flask-cors==6.0.5"

APP = """
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app)


@app.get("/")
def index():
    return jsonify(framework=type(app).__module__)
"""

CHECK = """
import os
import flask, diota

assert flask is diota, flask
from app import app

client = app.test_client()
assert client.interface == os.environ["DIOTA_TEST_CLIENT"], client.interface
response = client.get("/", headers={"Origin": "https://example.com"})
assert response.status_code == 200, response.status
assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
assert response.json == {"framework": "diota.app"}, response.json
print("ok", client.interface)
"""

pytestmark = pytest.mark.timeout(600)


def _run(
    argv: list[str | Path], cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("DIOTA_", "FLASK_"))
    }
    environ.update(env)
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("provide-flask") / "venv"
    _ok(_run([sys.executable, "-m", "venv", path]))
    _ok(_run([path / "bin" / "pip", "install", "-q", "-e", ROOT]))
    return path


def test_extension_installs_and_runs_on_diota(venv: Path, tmp_path: Path) -> None:
    bin_ = venv / "bin"
    out = _ok(_run([bin_ / "diota", "provide-flask"]))
    assert "diota now provides flask 3.1.3" in out
    # As users install extensions: with their dependencies.
    _ok(_run([bin_ / "pip", "install", "-q", EXTENSION]))
    show = _ok(_run([bin_ / "pip", "show", "flask"]))
    assert "Version: 3.1.3" in show and "provided by diota" in show
    no_real_flask = (
        "import importlib.machinery as m; print(m.PathFinder.find_spec('flask'))"
    )
    assert _ok(_run([bin_ / "python", "-c", no_real_flask])).strip() == "None"

    (tmp_path / "app.py").write_text(APP)
    for interface in ("wsgi", "asgi"):
        out = _run(
            [bin_ / "python", "-c", CHECK], tmp_path, DIOTA_TEST_CLIENT=interface
        )
        assert _ok(out).strip() == f"ok {interface}"

    assert "Diota" in _ok(_run([bin_ / "flask", "--version"]))
    routes = _ok(_run([bin_ / "flask", "--app", "app", "routes"], tmp_path))
    assert "index" in routes and "GET" in routes
    check = _ok(_run([bin_ / "diota", "provide-flask", "--check"]))
    assert "provided by diota" in check

    # pip undoes it: the distribution, the start-up hook and the script.
    _ok(_run([bin_ / "pip", "uninstall", "-y", "flask"]))
    purelib = Path(
        _ok(
            _run(
                [
                    bin_ / "python",
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                ]
            )
        ).strip()
    )
    assert not list(purelib.glob("flask-*.dist-info"))
    assert not (purelib / "diota_provides_flask.pth").exists()
    assert not (bin_ / "flask").exists()


def test_real_flask_next_to_diota_is_reported(venv: Path, tmp_path: Path) -> None:
    bin_ = venv / "bin"
    _ok(_run([bin_ / "pip", "install", "-q", "flask==3.1.3", EXTENSION]))
    try:
        refused = _run([bin_ / "diota", "provide-flask"])
        assert refused.returncode != 0
        assert "pip uninstall flask" in refused.stderr
        check = _run([bin_ / "diota", "provide-flask", "--check"])
        assert check.returncode == 1 and "Real Flask" in check.stdout

        # The alias still wins, and says what is wrong.
        aliased = _run(
            [bin_ / "python", "-c", "import flask, diota; print(flask is diota)"],
            DIOTA_FLASK_ALIAS="1",
        )
        assert _ok(aliased).strip() == "True"
        assert "RealFlaskWarning" in aliased.stderr
        assert "pip uninstall -y flask && diota provide-flask" in aliased.stderr
        # Without it, an app made next to an extension that imported real
        # Flask is warned about.
        unaliased = _run(
            [bin_ / "python", "-c", "import flask_cors, diota; diota.Flask('x')"]
        )
        assert _ok(unaliased) == ""
        assert "Real Flask was imported" in unaliased.stderr
    finally:
        _ok(_run([bin_ / "pip", "uninstall", "-y", "flask"]))


def test_describe_says_what_to_do() -> None:
    status = diota.provide_flask.FlaskStatus(
        provided_by_diota=False, real_flask="/x/flask", distribution_version="3.1.3"
    )
    text = diota.provide_flask.describe(status)
    assert (
        "/x/flask" in text and "pip uninstall -y flask && diota provide-flask" in text
    )


def test_provide_writes_a_distribution_pip_can_remove(tmp_path: Path) -> None:
    site, scripts = tmp_path / "site", tmp_path / "bin"
    info = diota.provide_flask.provide(site, scripts, python="/usr/bin/python3")
    metadata = (info / "METADATA").read_text()
    assert "Name: flask\n" in metadata and "Version: 3.1.3\n" in metadata
    record = (info / "RECORD").read_text().splitlines()
    assert sorted(line.split(",")[0] for line in record) == sorted(
        [
            "flask-3.1.3.dist-info/METADATA",
            "flask-3.1.3.dist-info/INSTALLER",
            "flask-3.1.3.dist-info/RECORD",
            "diota_provides_flask.pth",
            "../bin/flask",
        ]
    )
    assert (scripts / "flask").read_text().startswith("#!/usr/bin/python3\n")
    assert os.access(scripts / "flask", os.X_OK)
    status = diota.provide_flask.check(site)
    assert status.provided_by_diota and status.distribution_version == "3.1.3"
    # Made again when asked again, not refused.
    diota.provide_flask.provide(site, scripts)
    assert textwrap.dedent((site / "diota_provides_flask.pth").read_text()).startswith(
        "import diota_flask_alias"
    )
