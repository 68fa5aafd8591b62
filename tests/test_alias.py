"""The opt-in ``flask`` -> ``diota`` import alias.

Every test runs Python in a subprocess (the venv's interpreter), so that
the alias, and the modules it registers, never leak into this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Every module of Flask 3.1.3's package, by its Flask name.
FLASK_MODULES = [
    "flask",
    "flask.app",
    "flask.blueprints",
    "flask.cli",
    "flask.config",
    "flask.ctx",
    "flask.debughelpers",
    "flask.globals",
    "flask.helpers",
    "flask.json",
    "flask.json.provider",
    "flask.json.tag",
    "flask.logging",
    "flask.sansio",
    "flask.sansio.app",
    "flask.sansio.blueprints",
    "flask.sansio.scaffold",
    "flask.sessions",
    "flask.signals",
    "flask.templating",
    "flask.testing",
    "flask.typing",
    "flask.views",
    "flask.wrappers",
]


def run_python(
    code: str = "",
    *args: str,
    alias_env: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the venv's Python on ``code`` (or ``args``) and return the result.

    :param alias_env: The value of ``DIOTA_FLASK_ALIAS``; unset if ``None``.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DIOTA_", "FLASK_"))
    }
    if alias_env is not None:
        env["DIOTA_FLASK_ALIAS"] = alias_env
    argv = [sys.executable, *(["-c", textwrap.dedent(code)] if code else []), *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def check(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# -- the mechanism, on a stand-in package pair -------------------------------


@pytest.fixture
def pkg_pair(tmp_path: Path) -> Path:
    """A package ``realpkg`` to be reached as ``fakepkg``."""
    files = {
        "realpkg/__init__.py": "from . import mod\nVALUE = 1\n",
        "realpkg/mod.py": "import logging\nlogger = logging.getLogger(__name__)\n",
        "realpkg/sub/__init__.py": "",
        "realpkg/sub/deep.py": "STATE = []\n",
        "realpkg/nsdir/leaf.py": "LEAF = True\n",
        "realpkg/broken.py": "raise ImportError('broken on purpose')\n",
        "realpkg/__main__.py": (
            "import sys\nprint('main', __name__, __spec__.name, sys.argv[1:])\n"
        ),
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


PAIR_SETUP = """
import sys
from diota.alias import AliasFinder
sys.meta_path.insert(0, AliasFinder("fakepkg", "realpkg", "9.8.7"))
"""


def pair(code: str) -> str:
    return PAIR_SETUP + textwrap.dedent(code)


def test_alias_names_are_the_target_modules(pkg_pair: Path) -> None:
    check(
        run_python(
            pair(
                """
            import fakepkg, realpkg
            import fakepkg.sub.deep
            from fakepkg.mod import logger
            from fakepkg.nsdir import leaf
            import realpkg.sub.deep, realpkg.nsdir.leaf

            assert fakepkg is realpkg
            assert fakepkg.sub.deep is realpkg.sub.deep
            assert sys.modules["fakepkg.sub.deep"] is sys.modules["realpkg.sub.deep"]
            assert leaf is realpkg.nsdir.leaf
            # one module, so one state
            fakepkg.sub.deep.STATE.append(1)
            assert realpkg.sub.deep.STATE == [1]
            """
            ),
            cwd=pkg_pair,
        )
    )


def test_aliased_module_keeps_its_own_identity(pkg_pair: Path) -> None:
    check(
        run_python(
            pair(
                """
            import importlib
            import fakepkg.mod

            assert fakepkg.__name__ == "realpkg"
            assert fakepkg.__spec__.name == "realpkg"
            assert fakepkg.mod.__spec__.name == "realpkg.mod"
            assert fakepkg.mod.logger.name == "realpkg.mod"
            # names derived from __name__ lead back to the same objects
            assert sys.modules[fakepkg.__name__] is fakepkg
            assert importlib.import_module(fakepkg.__name__ + ".mod") is fakepkg.mod
            assert importlib.reload(fakepkg) is fakepkg
            """
            ),
            cwd=pkg_pair,
        )
    )


def test_missing_and_broken_submodules(pkg_pair: Path) -> None:
    check(
        run_python(
            pair(
                """
            try:
                import fakepkg.nothere
            except ModuleNotFoundError as e:
                assert e.name == "fakepkg.nothere", e.name
            else:
                raise AssertionError("imported a module that does not exist")

            # an error inside the target is not hidden as "not found"
            try:
                import fakepkg.broken
            except ImportError as e:
                assert "broken on purpose" in str(e), e
            else:
                raise AssertionError("broken module imported")
            """
            ),
            cwd=pkg_pair,
        )
    )


def test_run_module_runs_target_main(pkg_pair: Path) -> None:
    out = check(
        run_python(
            pair(
                """
            import runpy
            sys.argv = ["prog", "--flag"]
            runpy.run_module("fakepkg", run_name="__main__", alter_sys=True)
            """
            ),
            cwd=pkg_pair,
        )
    )
    assert out.strip() == "main __main__ fakepkg.__main__ ['--flag']"


def test_metadata_version_only_by_name_on_default_path(pkg_pair: Path) -> None:
    check(
        run_python(
            pair(
                """
            import importlib.metadata as md

            assert md.version("fakepkg") == "9.8.7"
            assert md.version("FakePkg") == "9.8.7"
            assert md.distribution("fakepkg").metadata["Name"] == "fakepkg"
            # never listed, never found on an explicit path (as installers search)
            assert "fakepkg" not in {d.metadata["Name"] for d in md.distributions()}
            assert not list(md.distributions(name="fakepkg", path=list(sys.path)))
            """
            ),
            cwd=pkg_pair,
        )
    )


# -- the flask alias ----------------------------------------------------------


def test_import_diota_alone_provides_no_flask() -> None:
    check(
        run_python(
            """
            import sys
            import diota
            assert "flask" not in sys.modules
            try:
                import flask
            except ModuleNotFoundError:
                pass
            else:
                raise AssertionError(f"flask importable without the alias: {flask}")
            """
        )
    )


def test_import_diota_alias_maps_every_flask_module() -> None:
    check(
        run_python(
            f"""
            import importlib, sys
            import diota.alias

            for name in {FLASK_MODULES!r}:
                module = importlib.import_module(name)
                target = importlib.import_module("diota" + name[len("flask"):])
                assert module is target, (name, module, target)
                assert sys.modules[name] is target

            import flask
            from flask import Flask, request, current_app, g, session, Blueprint
            from flask.globals import _cv_app, _cv_request
            import diota, diota.globals
            assert Flask is diota.Flask and request is diota.request
            assert _cv_app is diota.globals._cv_app
            assert _cv_request is diota.globals._cv_request
            """
        )
    )


def test_extension_written_for_flask_works_on_a_diota_app(tmp_path: Path) -> None:
    (tmp_path / "flask_greeter.py").write_text(
        textwrap.dedent(
            """
            from flask import Blueprint, current_app, g, jsonify, request

            class Greeter:
                def __init__(self, app=None):
                    if app is not None:
                        self.init_app(app)

                def init_app(self, app):
                    app.extensions["greeter"] = self
                    app.config.setdefault("GREETING", "hello")
                    bp = Blueprint("greeter", __name__)

                    @bp.route("/greet")
                    def greet():
                        g.greeted = True
                        word = current_app.config["GREETING"]
                        return jsonify(text=f"{word} {request.args['name']}")

                    app.register_blueprint(bp)
            """
        )
    )
    out = check(
        run_python(
            """
            import diota.alias
            import diota
            from flask_greeter import Greeter

            app = diota.Flask("demo")
            Greeter(app)
            assert isinstance(app.extensions["greeter"], Greeter)
            response = app.test_client().get("/greet?name=ada")
            print(response.status_code, response.get_json()["text"])
            """,
            cwd=tmp_path,
        )
    )
    assert out.split() == ["200", "hello", "ada"]


def test_install_is_idempotent_and_uninstall_forgets_flask() -> None:
    check(
        run_python(
            """
            import sys
            import diota.alias as alias
            import flask.json

            assert alias.is_installed()
            assert alias.install() is alias.install()
            finders = [f for f in sys.meta_path if isinstance(f, alias.AliasFinder)]
            assert len(finders) == 1 and sys.meta_path[0] is finders[0]

            alias.uninstall()
            assert not alias.is_installed()
            assert not [n for n in sys.modules if n.split(".")[0] == "flask"]
            assert "diota.json" in sys.modules
            try:
                import flask
            except ModuleNotFoundError:
                pass
            else:
                raise AssertionError("flask still importable after uninstall")

            alias.install()
            import flask, diota
            assert flask is diota
            """
        )
    )


def test_flask_version_reports_the_api_level() -> None:
    out = check(
        run_python(
            """
            import importlib.metadata
            import diota.alias
            print(importlib.metadata.version("flask"), diota.alias.FLASK_API_VERSION)
            """
        )
    )
    version, api = out.split()
    assert version == api == "3.1.3"


def test_flask_distribution_and_version_attribute_under_the_alias() -> None:
    """What extensions read: ``flask.__version__`` (deprecated, as in Flask
    3.1), ``distribution("flask")`` and packaging-style version checks."""
    check(
        run_python(
            """
            import importlib.metadata, sys, warnings
            import diota, diota.alias
            import flask

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                version = flask.__version__
            assert [w.category for w in caught] == [DeprecationWarning], caught
            assert version == importlib.metadata.version("flask") == "3.1.3"
            dist = importlib.metadata.distribution("flask")
            assert dist.version == diota.alias.FLASK_API_VERSION
            assert dist.metadata["Name"] == "flask"
            assert tuple(int(p) for p in dist.version.split(".")) >= (3, 1)
            assert (dist.locate_file("diota") / "__init__.py").is_file()
            assert sys.modules["flask"] is diota
            """
        )
    )


def test_pth_hook_is_installed_in_this_environment() -> None:
    purelib = Path(sysconfig.get_paths()["purelib"])
    pth = purelib / "diota_flask_alias.pth"
    assert pth.is_file(), (
        f"{pth} is missing: install diota into this environment "
        "(pip install -e '.[test]')"
    )
    assert pth.read_text() == (REPO_ROOT / "src" / "diota_flask_alias.pth").read_text()


@pytest.mark.parametrize("value", ["1", "true", "ON"])
def test_environment_variable_enables_alias_process_wide(value: str) -> None:
    out = check(
        run_python(
            """
            import sys
            # Installed at start-up, lazily: nothing of diota is imported
            # until flask is looked up.
            assert "diota_flask_alias" in sys.modules
            assert "diota" not in sys.modules and "anyio" not in sys.modules
            import flask, flask.json.provider, diota
            assert flask is diota
            print(flask.json.provider.__name__)
            """,
            alias_env=value,
        )
    )
    assert out.strip() == "diota.json.provider"


def test_environment_variable_answers_metadata_before_any_import() -> None:
    out = check(
        run_python(
            """
            import importlib.metadata, sys
            print(importlib.metadata.version("Flask"))
            assert "diota.alias" in sys.modules
            import flask, diota
            assert flask is diota
            """,
            alias_env="1",
        )
    )
    assert out.strip() == "3.1.3"


def test_environment_variable_keeps_pytest_warning_free(tmp_path: Path) -> None:
    """A suite run with ``filterwarnings = error`` (Flask's, many
    extensions') starts: the start-up hook imports none of the pytest
    plugins diota depends on (anyio's) before pytest registers them."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "test_it.py").write_text(
        "import flask\n\n\n"
        "def test_it():\n    assert flask.Flask.__module__ == 'diota.app'\n"
    )
    result = run_python(
        "", "-m", "pytest", "-q", "-p", "no:cacheprovider", alias_env="1", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.parametrize("value", ["", "0", "false", "off", "no"])
def test_environment_variable_off_values(value: str) -> None:
    check(
        run_python(
            """
            import sys
            assert "diota" not in sys.modules  # nothing imported at start-up
            try:
                import flask
            except ModuleNotFoundError:
                pass
            else:
                raise AssertionError("alias enabled")
            """,
            alias_env=value,
        )
    )


def test_python_m_flask_runs_diota_cli() -> None:
    proc = run_python("", "-m", "flask", "--help", alias_env="1")
    out = check(proc)
    for command in ("run", "routes", "shell"):
        assert command in out

    missing = run_python("", "-m", "flask", "--help")
    assert missing.returncode != 0
    assert "No module named flask" in missing.stderr


def test_python_m_flask_finds_app_and_lists_routes(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask

            app = Flask(__name__)

            @app.route("/hi")
            def hi():
                return "hi"
            """
        )
    )
    out = check(
        run_python(
            "", "-m", "flask", "--app", "hello", "routes", alias_env="1", cwd=tmp_path
        )
    )
    assert "/hi" in out


def test_wheel_ships_the_pth_hook(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(tmp_path),
            str(REPO_ROOT),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=110,  # under the per-test timeout of the run
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("diota-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "diota_flask_alias.pth" in names  # at the root: site reads it
        assert "diota_flask_alias.py" in names  # what it imports
        assert "diota/alias.py" in names
        pth = zf.read("diota_flask_alias.pth").decode()
    assert pth.startswith("import ")
    assert "DIOTA_FLASK_ALIAS" in pth


def test_flask_script_runs_diota_cli_with_the_alias(tmp_path: Path) -> None:
    """The installed ``flask`` command serves an unchanged Flask app's CLI."""
    scripts = Path(sysconfig.get_path("scripts"))
    flask_script = scripts / "flask"
    assert flask_script.exists(), "diota installs a 'flask' script"
    (tmp_path / "legacy.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask
            import flask

            app = Flask(__name__)

            @app.route("/framework")
            def framework():
                return flask.__name__
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "DIOTA_FLASK_ALIAS"}
    out = subprocess.run(
        [str(flask_script), "--app", "legacy", "routes"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "/framework" in out.stdout
    version = subprocess.run(
        [str(flask_script), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "Diota" in version.stdout
