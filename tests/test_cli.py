from __future__ import annotations

import code
import importlib.metadata
import os
import platform
import ssl
import subprocess
import sys
import types
import typing as t
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import diota.cli
from diota import Blueprint
from diota import current_app
from diota import Flask
from diota.cli import _path_is_ancestor
from diota.cli import _split_import_path
from diota.cli import AppGroup
from diota.cli import cli as diota_cli
from diota.cli import find_app_by_string
from diota.cli import find_best_app
from diota.cli import FlaskGroup
from diota.cli import load_dotenv
from diota.cli import locate_app
from diota.cli import NoAppException
from diota.cli import prepare_import
from diota.cli import run_command
from diota.cli import ScriptInfo
from diota.cli import show_server_banner
from diota.cli import with_appcontext

TEST_APPS = (Path(__file__).parent / "test_apps").resolve()
SRC = Path(__file__).parents[1] / "src"


@pytest.fixture(autouse=True)
def _isolate_process_state() -> t.Iterator[None]:
    """Undo what loading apps does to the process: env vars set by the CLI
    or dotenv files, sys.path entries, cwd and imported test modules.
    """
    environ = dict(os.environ)
    path = sys.path[:]
    cwd = os.getcwd()
    modules = set(sys.modules)
    yield
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    os.chdir(cwd)

    for name in set(sys.modules) - modules:
        del sys.modules[name]


@pytest.fixture
def cli_apps(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the modules in tests/test_apps importable."""
    monkeypatch.syspath_prepend(str(TEST_APPS))
    return TEST_APPS


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def no_env_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ensure no app is configured through the environment."""
    for name in ("FLASK_APP", "DIOTA_APP", "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)


def make_module(name: str = "fake", /, **attrs: t.Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


# --- discovery -------------------------------------------------------------


def test_app_cli_group_is_named_after_app(cli_apps: Path) -> None:
    from cliapp.app import testapp  # type: ignore[import-not-found]

    assert isinstance(testapp.cli, AppGroup)
    assert testapp.cli.name == testapp.name


@pytest.mark.parametrize("attr", ["app", "application", "anything"])
def test_find_best_app_instance(attr: str) -> None:
    app = Flask("found")
    assert find_best_app(make_module(**{attr: app})) is app


def test_find_best_app_prefers_conventional_name() -> None:
    app = Flask("main")
    # "application" wins although a second instance exists.
    module = make_module(application=app, other=Flask("other"))
    assert find_best_app(module) is app


@pytest.mark.parametrize("factory_name", ["create_app", "make_app"])
def test_find_best_app_calls_factory(factory_name: str) -> None:
    module = make_module(**{factory_name: lambda: Flask("built")})
    assert find_best_app(module).name == "built"


def test_find_best_app_factory_with_only_optional_args() -> None:
    def create_app(**kwargs: t.Any) -> Flask:
        return Flask("kw")

    assert find_best_app(make_module(create_app=create_app)).name == "kw"


def test_find_best_app_instance_beats_factory() -> None:
    app = Flask("instance")
    module = make_module(myapp=app, create_app=lambda: Flask("factory"))
    assert find_best_app(module) is app


def test_find_best_app_nothing_found() -> None:
    with pytest.raises(NoAppException, match="Failed to find Flask application"):
        find_best_app(make_module("emptymod"))


def test_find_best_app_ambiguous() -> None:
    module = make_module("twoapps", a=Flask("a"), b=Flask("b"))

    with pytest.raises(NoAppException) as exc_info:
        find_best_app(module)

    assert "multiple Flask applications" in str(exc_info.value)
    assert "'twoapps:name'" in str(exc_info.value)


def test_find_best_app_factory_needs_args() -> None:
    def create_app(foo: str, bar: str) -> Flask:
        return Flask("x")

    with pytest.raises(NoAppException, match=r"'withargs:create_app\(args\)'"):
        find_best_app(make_module("withargs", create_app=create_app))


def test_find_best_app_factory_error_propagates(cli_apps: Path) -> None:
    import cliapp.brokenfactory  # type: ignore[import-not-found]

    with pytest.raises(TypeError, match="bad factory"):
        find_best_app(cliapp.brokenfactory)


@pytest.mark.parametrize(
    ("value", "parent", "result"),
    [
        ("test", Path.cwd(), "test"),
        ("test.py", Path.cwd(), "test"),
        ("a/test", Path.cwd() / "a", "test"),
        ("test/__init__.py", Path.cwd(), "test"),
        ("test/__init__", Path.cwd(), "test"),
        ("test.a.b", Path.cwd(), "test.a.b"),
        (TEST_APPS / "cliapp" / "inner1" / "__init__", TEST_APPS, "cliapp.inner1"),
        (TEST_APPS / "cliapp" / "inner1" / "inner2", TEST_APPS, "cliapp.inner1.inner2"),
        (
            TEST_APPS / "cliapp" / "inner1" / "inner2" / "wsgi.py",
            TEST_APPS,
            "cliapp.inner1.inner2.wsgi",
        ),
        (TEST_APPS / "cliapp.app", TEST_APPS, "cliapp.app"),
        # Not Python; the import reports it later.
        (TEST_APPS / "cliapp" / "message.txt", TEST_APPS, "cliapp.message.txt"),
    ],
)
def test_prepare_import(value: str | Path, parent: Path, result: str) -> None:
    assert prepare_import(str(value)) == result
    assert sys.path[0] == str(parent)


def test_prepare_import_does_not_duplicate_path() -> None:
    prepare_import(str(TEST_APPS / "cliapp" / "app.py"))
    before = sys.path[:]
    prepare_import(str(TEST_APPS / "cliapp" / "factory.py"))
    assert sys.path == before


@pytest.mark.parametrize(
    ("module", "name", "expect"),
    [
        ("cliapp.app", None, "testapp"),
        ("cliapp.app", "testapp", "testapp"),
        ("cliapp.factory", None, "app"),
        ("cliapp.factory", "create_app", "app"),
        ("cliapp.factory", "create_app()", "app"),
        ("cliapp.factory", 'create_app2("foo", "bar")', "app2_foo_bar"),
        ("cliapp.factory", 'create_app2("foo", "bar", )', "app2_foo_bar"),
        ("cliapp.factory", "create_app3(name='kw')", "kw"),
        ("cliapp.factory", "  create_app ()  ", "app"),
        ("cliapp.inner1", None, "cliapp.inner1"),
        ("cliapp.inner1.inner2.wsgi", None, "cliapp.inner1.inner2.wsgi"),
    ],
)
def test_locate_app(cli_apps: Path, module: str, name: str | None, expect: str) -> None:
    assert locate_app(module, name).name == expect


def test_factory_receives_literal_kwargs(cli_apps: Path) -> None:
    app = locate_app("cliapp.factory", "create_app3('x', debug=True)")
    assert app.name == "x"
    assert app.config["FACTORY_DEBUG"] is True


@pytest.mark.parametrize(
    ("module", "name", "message"),
    [
        ("notanapp", None, "Could not import 'notanapp'."),
        ("cliapp/app", None, "Could not import"),
        ("cliapp.noapp", None, "Failed to find Flask application or factory"),
        ("cliapp.multiapp", None, "multiple Flask applications"),
        ("cliapp.app", "notanapp", "Failed to find attribute 'notanapp'"),
        ("cliapp.factory", 'create_app2("foo")', "could not be called with"),
        ("cliapp.factory", "create_app(", "Failed to parse"),
        ("cliapp.factory", "holder.create", "as an attribute name or function call"),
        ("cliapp.factory", "holder.create()", "must be a simple name"),
        ("cliapp.factory", "create_app2(foo, bar)", "as literal values"),
        ("cliapp.factory", "no_app", "A valid Flask application was not obtained"),
        ("cliapp.factory", "Holder", "A valid Flask application was not obtained"),
        ("cliapp.importerrorapp", None, "While importing 'cliapp.importerrorapp'"),
        ("cliapp.message.txt", None, "Could not import"),
        ("cliapp.argfactory", None, "could not call it without arguments"),
    ],
)
def test_locate_app_errors(
    cli_apps: Path, module: str, name: str | None, message: str
) -> None:
    with pytest.raises(NoAppException) as exc_info:
        locate_app(module, name)

    assert message in exc_info.value.format_message()


def test_nested_import_error_shows_traceback(cli_apps: Path) -> None:
    with pytest.raises(NoAppException) as exc_info:
        locate_app("cliapp.importerrorapp", None)

    assert "diota_module_that_does_not_exist" in exc_info.value.format_message()


def test_locate_app_missing_module_can_return_none(cli_apps: Path) -> None:
    assert locate_app("notanapp", None, raise_if_not_found=False) is None

    # An import error inside an existing module is always reported.
    with pytest.raises(NoAppException):
        locate_app("cliapp.importerrorapp", None, raise_if_not_found=False)


def test_find_app_by_string_uses_attribute() -> None:
    app = Flask("attr")
    assert find_app_by_string(make_module(thing=app), "thing") is app


def test_split_import_path_keeps_drive_letters() -> None:
    assert _split_import_path("pkg.mod:app") == ("pkg.mod", "app")
    assert _split_import_path("pkg.mod") == ("pkg.mod", None)
    assert _split_import_path("C:\\proj\\app.py") == ("C:\\proj\\app.py", None)
    assert _split_import_path("C:/proj/app.py:create_app()") == (
        "C:/proj/app.py",
        "create_app()",
    )


# --- ScriptInfo ------------------------------------------------------------


def test_scriptinfo_import_paths(cli_apps: Path) -> None:
    app_file = str(cli_apps / "cliapp" / "app.py")

    for path in ("cliapp.app:testapp", app_file, f"{app_file}:testapp"):
        info = ScriptInfo(app_import_path=path)
        app = info.load_app()
        assert app.name == "testapp"
        # Loaded once, then cached.
        assert info.load_app() is app


def test_scriptinfo_create_app() -> None:
    calls: list[Flask] = []

    def create_app() -> Flask:
        calls.append(Flask("created"))
        return calls[-1]

    info = ScriptInfo(create_app=create_app)
    assert info.load_app().name == "created"
    assert info.load_app() is calls[0]
    assert len(calls) == 1


def test_scriptinfo_no_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(NoAppException) as exc_info:
        ScriptInfo().load_app()

    message = exc_info.value.format_message()
    assert "FLASK_APP" in message
    assert "'diota --app'" in message


@pytest.mark.parametrize(
    ("directory", "name"), [("helloworld", "hello"), ("cliapp", "testapp")]
)
def test_scriptinfo_finds_wsgi_or_app_file(
    cli_apps: Path, monkeypatch: pytest.MonkeyPatch, directory: str, name: str
) -> None:
    monkeypatch.chdir(cli_apps / directory)
    assert ScriptInfo().load_app().name == name


@pytest.mark.parametrize(
    ("env", "set_flag", "expect"),
    [("1", True, True), ("0", True, False), ("1", False, False)],
)
def test_scriptinfo_debug_flag(
    monkeypatch: pytest.MonkeyPatch, env: str, set_flag: bool, expect: bool
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", env)

    def create_app() -> Flask:
        app = Flask("dbg")
        app.debug = False
        return app

    # Without set_debug_flag, the factory's choice is kept.
    info = ScriptInfo(create_app=create_app, set_debug_flag=set_flag)
    assert info.load_app().debug is expect


def test_scriptinfo_data_and_dotenv_default(monkeypatch: pytest.MonkeyPatch) -> None:
    info = ScriptInfo()
    info.data["key"] = "value"
    assert info.data == {"key": "value"}
    assert info.load_dotenv_defaults is True
    assert ScriptInfo(load_dotenv_defaults=False).load_dotenv_defaults is False

    monkeypatch.setenv("FLASK_SKIP_DOTENV", "1")
    assert ScriptInfo().load_dotenv_defaults is False


# --- app context for commands ----------------------------------------------


def test_with_appcontext(runner: CliRunner) -> None:
    @click.command()
    @with_appcontext
    def cmd() -> None:
        click.echo(current_app.name)

    result = runner.invoke(cmd, obj=ScriptInfo(create_app=lambda: Flask("ctxapp")))
    assert result.exit_code == 0
    assert result.output == "ctxapp\n"


def test_appgroup_commands_and_subgroups(runner: CliRunner) -> None:
    @click.group(cls=AppGroup)
    def group() -> None:
        pass

    @group.command()
    def top() -> None:
        click.echo(current_app.name)

    @group.group()
    def sub() -> None:
        pass

    @sub.command()
    def inner() -> None:
        click.echo(current_app.name)

    @group.command(with_appcontext=False)
    def bare() -> None:
        click.echo(bool(current_app))

    obj = ScriptInfo(create_app=lambda: Flask("grouped"))
    assert isinstance(sub, AppGroup)
    assert runner.invoke(group, ["top"], obj=obj).output == "grouped\n"
    assert runner.invoke(group, ["sub", "inner"], obj=obj).output == "grouped\n"
    assert runner.invoke(group, ["bare"], obj=obj).output == "False\n"


def test_app_cli_commands_have_app_context(app: Flask, runner: CliRunner) -> None:
    def param_callback(
        ctx: click.Context, param: click.Parameter, value: t.Any
    ) -> bool:
        return bool(current_app)

    @app.cli.command()
    @click.argument("value", callback=param_callback)
    def check(value: bool) -> tuple[bool, bool]:
        loaded = click.get_current_context().obj.load_app()
        return current_app._get_current_object() is loaded, value  # type: ignore[attr-defined]

    cli = FlaskGroup(create_app=lambda: app)
    result = runner.invoke(cli, ["check", "x"], standalone_mode=False)
    assert result.return_value == (True, True)


def test_flaskgroup_create_app(runner: CliRunner) -> None:
    @click.group(cls=FlaskGroup, create_app=lambda: Flask("flaskgroup"))
    def cli(**params: t.Any) -> None:
        pass

    @cli.command()
    def name() -> None:
        click.echo(current_app.name)

    result = runner.invoke(cli, ["name"])
    assert result.exit_code == 0
    assert result.output == "flaskgroup\n"


@pytest.mark.parametrize("set_debug_flag", [True, False])
def test_flaskgroup_set_debug_flag(
    runner: CliRunner, no_env_app: None, set_debug_flag: bool
) -> None:
    def create_app() -> Flask:
        app = Flask("dbg")
        app.debug = True
        return app

    cli = FlaskGroup(create_app=create_app, set_debug_flag=set_debug_flag)

    @cli.command()
    def show() -> None:
        click.echo(current_app.debug)

    # With the flag set, the unset FLASK_DEBUG turns debug off.
    assert runner.invoke(cli, ["show"]).output == f"{not set_debug_flag}\n"


def test_flaskgroup_nested_in_click_group(app: Flask, runner: CliRunner) -> None:
    outer = click.Group("outer")
    inner = FlaskGroup(name="web", create_app=lambda: app)
    outer.add_command(inner)

    @inner.command()
    def show() -> None:
        click.echo(current_app.name)

    assert runner.invoke(outer, ["web", "show"]).output == f"{app.name}\n"


def test_flaskgroup_merges_app_commands(app: Flask, runner: CliRunner) -> None:
    @app.cli.command("hello")
    def hello() -> None:
        click.echo("hi")

    cli = FlaskGroup(create_app=lambda: app)
    help_output = runner.invoke(cli, ["--help"]).output
    assert "hello" in help_output
    for builtin in ("run", "shell", "routes"):
        assert builtin in help_output

    assert runner.invoke(cli, ["hello"]).output == "hi\n"


def test_flaskgroup_without_default_commands(app: Flask, runner: CliRunner) -> None:
    cli = FlaskGroup(create_app=lambda: app, add_default_commands=False)
    assert runner.invoke(cli, ["routes"]).exit_code == 2


def test_flaskgroup_marks_run_from_cli(
    app: Flask, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    cli = FlaskGroup(create_app=lambda: app)

    @cli.command()
    def env() -> None:
        click.echo(os.environ["FLASK_RUN_FROM_CLI"])

    assert runner.invoke(cli, ["env"]).output == "true\n"


def test_app_option_and_env_vars(
    cli_apps: Path, runner: CliRunner, no_env_app: None
) -> None:
    def loaded(args: list[str], env: dict[str, str] | None = None) -> str:
        cli = FlaskGroup()

        @cli.command()
        def name() -> None:
            click.echo(current_app.name)

        result = runner.invoke(cli, [*args, "name"], env=env)
        assert result.exit_code == 0, result.output
        return result.output.strip()

    assert loaded(["--app", "helloworld.hello"]) == "helloworld.hello"
    assert loaded(["-A", "helloworld.hello:app"]) == "helloworld.hello"
    assert loaded([], env={"FLASK_APP": "helloworld.hello"}) == "helloworld.hello"
    assert loaded([], env={"DIOTA_APP": "helloworld.hello"}) == "helloworld.hello"
    # FLASK_APP wins over its synonym, and --app over both.
    env = {"FLASK_APP": "helloworld.hello", "DIOTA_APP": "cliapp.app"}
    assert loaded([], env=env) == "helloworld.hello"
    assert loaded(["--app", "cliapp.app"], env=env) == "testapp"


def test_app_from_env_listed_in_bare_help(
    cli_apps: Path, runner: CliRunner, no_env_app: None
) -> None:
    result = runner.invoke(
        FlaskGroup(), ["--help"], env={"FLASK_APP": "helloworld.hello"}
    )
    assert "greet" in result.output


@pytest.mark.parametrize(
    ("args", "expect"), [(["--debug"], "1"), (["--no-debug"], "0"), ([], None)]
)
def test_debug_option_sets_env_before_factory(
    cli_apps: Path,
    runner: CliRunner,
    no_env_app: None,
    args: list[str],
    expect: str | None,
) -> None:
    cli = FlaskGroup()

    @cli.command(with_appcontext=False)
    @diota.cli.pass_script_info
    def show(info: ScriptInfo) -> None:
        app = info.load_app()
        click.echo(f"{app.config['DEBUG_AT_CREATE']} {app.debug}")

    result = runner.invoke(cli, ["--app", "factoryapp.app", *args, "show"])
    assert result.output == f"{expect} {expect == '1'}\n"


def test_run_command_accepts_debug_option() -> None:
    assert run_command.params[0].name == "debug"


def test_missing_command_reports_loading_error(no_env_app: None) -> None:
    result = CliRunner().invoke(diota_cli, ["missing"])
    assert result.exit_code == 2
    assert "FLASK_APP" in result.stderr
    assert "Usage:" in result.stderr


def test_help_reports_loading_error(no_env_app: None, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    result = CliRunner().invoke(diota_cli, ["--help"])
    assert result.exit_code == 0
    assert "FLASK_APP" in result.stderr
    assert "Usage: diota" in result.stdout


def test_help_reports_app_exception() -> None:
    def create_app() -> Flask:
        raise Exception("oh no")

    result = CliRunner().invoke(FlaskGroup(create_app=create_app), ["--help"])
    assert result.exit_code == 0
    assert "Exception: oh no" in result.stderr
    assert "Usage:" in result.stdout


def test_command_name_follows_invocation(no_env_app: None, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert "Usage: diota " in CliRunner().invoke(diota_cli, ["--help"]).stdout
    result = CliRunner().invoke(diota_cli, ["--help"], prog_name="flask")
    assert "Usage: flask " in result.stdout
    assert "'flask --app'" in result.stderr


def test_python_m_diota(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("FLASK_APP", None)
    result = subprocess.run(
        [sys.executable, "-m", "diota", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m diota" in result.stdout


def test_version_option(runner: CliRunner) -> None:
    result = runner.invoke(FlaskGroup(), ["--version"])
    assert result.exit_code == 0
    assert f"Python {platform.python_version()}" in result.output
    assert "Flask 3.1.3" in result.output
    assert f"Werkzeug {importlib.metadata.version('werkzeug')}" in result.output

    no_version = FlaskGroup(add_version_option=False)
    assert runner.invoke(no_version, ["--version"]).exit_code == 2


def test_plugin_commands(
    app: Flask, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    @click.command()
    def plugged() -> None:
        click.echo("from plugin")

    module = make_module("diota_test_plugin", plugged=plugged)
    monkeypatch.setitem(sys.modules, "diota_test_plugin", module)
    entry_point = importlib.metadata.EntryPoint(
        name="plug", value="diota_test_plugin:plugged", group="flask.commands"
    )

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        return [entry_point] if group == "flask.commands" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    cli = FlaskGroup(create_app=lambda: app)
    assert "plug" in runner.invoke(cli, ["--help"]).output
    assert runner.invoke(cli, ["plug"]).output == "from plugin\n"


def test_blueprint_commands(app: Flask) -> None:
    named = Blueprint("named", __name__, cli_group="grp")
    merged = Blueprint("merged", __name__, cli_group=None)

    @named.cli.command("one")
    def one() -> None:
        click.echo(current_app.name)

    @merged.cli.command("two")
    def two() -> None:
        click.echo("two")

    app.register_blueprint(named)
    app.register_blueprint(merged)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["grp", "one"]).output == f"{app.name}\n"
    assert runner.invoke(args=["two"]).output == "two\n"


# --- routes ----------------------------------------------------------------


class TestRoutes:
    @pytest.fixture
    def routes_app(self) -> Flask:
        app = Flask("routes_app")
        app.add_url_rule(
            "/get_post/<int:x>/<int:y>",
            methods=["GET", "POST"],
            endpoint="yyy_get_post",
        )
        app.add_url_rule("/zzz_post", methods=["POST"], endpoint="aaa_post")
        return app

    def invoke(self, app: Flask, *args: str) -> str:
        result = CliRunner().invoke(
            FlaskGroup(create_app=lambda: app), ["routes", *args]
        )
        assert result.exit_code == 0, result.output
        return result.output

    def endpoints(self, output: str) -> list[str]:
        return [line.split()[0] for line in output.splitlines()[2:]]

    def test_table(self, routes_app: Flask) -> None:
        lines = self.invoke(routes_app).splitlines()
        assert lines[0].split() == ["Endpoint", "Methods", "Rule"]
        assert set(lines[1]) == {"-", " "}
        assert self.endpoints("\n".join(lines)) == [
            "aaa_post",
            "static",
            "yyy_get_post",
        ]
        assert "GET, POST" in lines[4]
        assert lines[4].rstrip().endswith("/get_post/<int:x>/<int:y>")

    def test_sort(self, routes_app: Flask) -> None:
        assert self.invoke(routes_app) == self.invoke(routes_app, "-s", "endpoint")
        assert self.endpoints(self.invoke(routes_app, "--sort", "methods")) == [
            "static",
            "yyy_get_post",
            "aaa_post",
        ]
        assert self.endpoints(self.invoke(routes_app, "-s", "rule")) == [
            "yyy_get_post",
            "static",
            "aaa_post",
        ]
        match_order = [rule.endpoint for rule in routes_app.url_map.iter_rules()]
        assert self.endpoints(self.invoke(routes_app, "-s", "match")) == match_order

    def test_all_methods(self, routes_app: Flask) -> None:
        assert "GET, HEAD, OPTIONS, POST" not in self.invoke(routes_app)
        assert "GET, HEAD, OPTIONS, POST" in self.invoke(routes_app, "--all-methods")

    def test_no_routes(self) -> None:
        app = Flask("empty", static_folder=None)
        assert "No routes were registered." in self.invoke(app)

    def test_subdomain_column(self) -> None:
        app = Flask("sub", static_folder=None)
        app.add_url_rule("/a", subdomain="a", endpoint="a")
        app.add_url_rule("/b", subdomain="b", endpoint="b")
        output = self.invoke(app, "-s", "domain")
        assert output.splitlines()[0].split() == [
            "Endpoint",
            "Methods",
            "Subdomain",
            "Rule",
        ]
        assert output.splitlines()[2].split() == ["a", "GET", "a", "/a"]

    def test_host_column(self) -> None:
        app = Flask("host", static_folder=None, host_matching=True)
        app.add_url_rule("/a", host="a.test", endpoint="a")
        output = self.invoke(app)
        assert "Host" in output.splitlines()[0]
        assert "a.test" in output


# --- dotenv ----------------------------------------------------------------


def test_load_dotenv_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOO", "BAR", "SPAM", "HAM", "QUUX"):
        monkeypatch.delenv(name, raising=False)

    monkeypatch.setenv("EGGS", "3")
    monkeypatch.chdir(TEST_APPS)
    assert load_dotenv()
    assert Path.cwd() == TEST_APPS
    assert os.environ["FOO"] == "env"  # .env beats .flaskenv
    assert os.environ["BAR"] == "bar"  # only in .flaskenv
    assert os.environ["SPAM"] == "1"  # only in .env
    assert os.environ["EGGS"] == "3"  # the environment beats files
    assert os.environ["HAM"] == "jamón"  # read as UTF-8
    assert "QUUX" not in os.environ


def test_load_dotenv_explicit_path(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOO", "BAR", "EGGS", "SPAM", "HAM", "QUUX"):
        monkeypatch.delenv(name, raising=False)

    monkeypatch.chdir(TEST_APPS)
    assert load_dotenv(TEST_APPS / "custom.env")
    # The given file beats the default files.
    assert os.environ["FOO"] == "custom"
    assert os.environ["QUUX"] == "quux"
    assert os.environ["BAR"] == "bar"


def test_load_dotenv_without_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOO", "BAR", "QUUX"):
        monkeypatch.delenv(name, raising=False)

    monkeypatch.chdir(TEST_APPS)
    assert not load_dotenv("missing-file", load_defaults=False)
    assert "FOO" not in os.environ
    assert load_dotenv(TEST_APPS / "custom.env", load_defaults=False)
    assert "BAR" not in os.environ


def test_load_dotenv_without_python_dotenv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FOO", raising=False)
    monkeypatch.setitem(sys.modules, "dotenv", None)
    monkeypatch.chdir(TEST_APPS)
    assert load_dotenv() is False
    assert "FOO" not in os.environ
    assert "Install python-dotenv" in capsys.readouterr().err


def test_flaskgroup_loads_dotenv(
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    monkeypatch.delenv("FOO", raising=False)
    monkeypatch.chdir(TEST_APPS)
    cli = FlaskGroup(create_app=lambda: Flask("x"))

    @cli.command()
    def foo() -> None:
        click.echo(str(os.environ.get("FOO")))

    assert runner.invoke(cli, ["foo"]).output == "env\n"
    monkeypatch.delenv("FOO")
    assert runner.invoke(cli, ["-e", "custom.env", "foo"]).output == "custom\n"
    monkeypatch.delenv("FOO")
    monkeypatch.setenv("FLASK_SKIP_DOTENV", "1")
    assert runner.invoke(cli, ["foo"]).output == "None\n"
    # An explicit file is still loaded when defaults are skipped.
    assert runner.invoke(cli, ["-e", "custom.env", "foo"]).output == "custom\n"


def test_flaskgroup_load_dotenv_false(
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    monkeypatch.delenv("FOO", raising=False)
    monkeypatch.chdir(TEST_APPS)
    cli = FlaskGroup(create_app=lambda: Flask("x"), load_dotenv=False)

    @cli.command()
    def foo() -> None:
        click.echo(str(os.environ.get("FOO")))

    assert runner.invoke(cli, ["foo"]).output == "None\n"


def test_env_file_requires_python_dotenv(
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)
    monkeypatch.chdir(TEST_APPS)
    result = runner.invoke(FlaskGroup(), ["-e", "custom.env", "--help"])
    assert result.exit_code == 2
    assert "python-dotenv must be installed" in result.output


def test_path_is_ancestor() -> None:
    root = os.path.join(os.sep, "a", "b")
    assert _path_is_ancestor(root, os.path.join(root, "c", "d"))
    assert not _path_is_ancestor(os.path.join(root, "c"), os.path.join(root, "d"))


# --- run -------------------------------------------------------------------


def test_run_cert_file_needs_key() -> None:
    with pytest.raises(click.BadParameter, match="Required when using"):
        run_command.make_context("run", ["--cert", __file__])

    with pytest.raises(click.BadParameter, match="must also be specified"):
        run_command.make_context("run", ["--key", __file__])

    for args in (
        ["--cert", __file__, "--key", __file__],
        ["--key", __file__, "--cert", __file__],
    ):
        ctx = run_command.make_context("run", args)
        assert ctx.params["cert"] == (__file__, __file__)


def test_run_cert_adhoc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)

    with pytest.raises(click.BadParameter, match="cryptography"):
        run_command.make_context("run", ["--cert", "adhoc"])

    monkeypatch.setitem(sys.modules, "cryptography", types.ModuleType("cryptography"))
    assert (
        run_command.make_context("run", ["--cert", "adhoc"]).params["cert"] == "adhoc"
    )

    with pytest.raises(click.BadParameter, match="is not used"):
        run_command.make_context("run", ["--cert", "adhoc", "--key", __file__])


def test_run_cert_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "not_here", None)

    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--cert", "not_here"])

    # Importable, but not an SSLContext.
    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--cert", "diota"])

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    monkeypatch.setitem(sys.modules, "my_ssl_context", context)
    ctx = run_command.make_context("run", ["--cert", "my_ssl_context"])
    assert ctx.params["cert"] is context

    with pytest.raises(click.BadParameter, match="SSLContext"):
        run_command.make_context("run", ["--cert", "my_ssl_context", "--key", __file__])


def test_run_cert_without_ssl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ssl", None)

    with pytest.raises(click.BadParameter, match="SSL support"):
        run_command.make_context("run", ["--cert", "not_here"])


def test_run_separated_paths() -> None:
    joined = os.pathsep.join([__file__, str(TEST_APPS / ".env")])
    ctx = run_command.make_context(
        "run", ["--extra-files", joined, "--exclude-patterns", __file__]
    )
    assert ctx.params["extra_files"] == [__file__, str(TEST_APPS / ".env")]
    assert ctx.params["exclude_patterns"] == [__file__]


@pytest.fixture
def run_simple_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, t.Any]]:
    calls: list[dict[str, t.Any]] = []

    def fake_run_simple(host: str, port: int, app: t.Any, **kwargs: t.Any) -> None:
        calls.append({"host": host, "port": port, "app": app, **kwargs})

    monkeypatch.setattr(diota.cli, "run_simple", fake_run_simple)
    return calls


def test_run_starts_server(
    app: Flask,
    runner: CliRunner,
    no_env_app: None,
    run_simple_calls: list[dict[str, t.Any]],
) -> None:
    cli = FlaskGroup(create_app=lambda: app)
    result = runner.invoke(cli, ["run", "-h", "0.0.0.0", "-p", "8080"])
    assert result.exit_code == 0, result.output
    assert "Debug mode: off" in result.output
    (call,) = run_simple_calls
    assert call["host"] == "0.0.0.0"
    assert call["port"] == 8080
    assert call["app"] is app
    assert call["use_reloader"] is False
    assert call["use_debugger"] is False
    assert call["threaded"] is True
    assert call["ssl_context"] is None
    assert call["extra_files"] is None


def test_run_options_from_environment(
    app: Flask,
    runner: CliRunner,
    no_env_app: None,
    run_simple_calls: list[dict[str, t.Any]],
) -> None:
    env = {"FLASK_RUN_HOST": "0.0.0.0", "FLASK_RUN_PORT": "7000"}
    runner.invoke(FlaskGroup(create_app=lambda: app), ["run"], env=env)
    (call,) = run_simple_calls
    assert (call["host"], call["port"]) == ("0.0.0.0", 7000)


def test_env_file_from_environment(
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    monkeypatch.delenv("QUUX", raising=False)
    monkeypatch.chdir(TEST_APPS)
    cli = FlaskGroup(create_app=lambda: Flask("x"))

    @cli.command()
    def quux() -> None:
        click.echo(str(os.environ.get("QUUX")))

    result = runner.invoke(cli, ["quux"], env={"FLASK_ENV_FILE": "custom.env"})
    assert result.output == "quux\n"


def test_run_debug_enables_reloader_and_debugger(
    app: Flask,
    runner: CliRunner,
    no_env_app: None,
    run_simple_calls: list[dict[str, t.Any]],
) -> None:
    cli = FlaskGroup(create_app=lambda: app)
    runner.invoke(cli, ["run", "--debug"])
    runner.invoke(cli, ["--debug", "run", "--no-reload", "--without-threads"])
    first, second = run_simple_calls
    assert first["use_reloader"] is True and first["use_debugger"] is True
    assert second["use_reloader"] is False and second["use_debugger"] is True
    assert second["threaded"] is False


def test_run_shows_import_path(
    cli_apps: Path,
    runner: CliRunner,
    no_env_app: None,
    run_simple_calls: list[dict[str, t.Any]],
) -> None:
    result = runner.invoke(FlaskGroup(), ["--app", "helloworld.hello", "run"])
    assert " * Serving Flask app 'helloworld.hello'" in result.output


def test_run_load_error(
    runner: CliRunner, run_simple_calls: list[dict[str, t.Any]]
) -> None:
    def create_app() -> Flask:
        raise RuntimeError("broken app")

    result = runner.invoke(FlaskGroup(create_app=create_app), ["run"])
    assert isinstance(result.exception, RuntimeError)
    assert run_simple_calls == []


def test_run_load_error_in_reloader(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    run_simple_calls: list[dict[str, t.Any]],
) -> None:
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")

    def create_app() -> Flask:
        raise RuntimeError("broken app")

    runner.invoke(FlaskGroup(create_app=create_app), ["run"])
    (call,) = run_simple_calls

    # The server still starts; each request raises the load error.
    with pytest.raises(RuntimeError, match="broken app"):
        call["app"]({}, lambda *args: None)


def test_show_server_banner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    show_server_banner(True, "myapp")
    assert (
        capsys.readouterr().out == " * Serving Flask app 'myapp'\n * Debug mode: on\n"
    )
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    show_server_banner(True, "myapp")
    assert capsys.readouterr().out == ""


# --- shell -----------------------------------------------------------------


def test_shell_namespace(
    app: Flask,
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    startup = tmp_path / "startup.py"
    startup.write_text("from_startup = 42\n")
    monkeypatch.setenv("PYTHONSTARTUP", str(startup))
    monkeypatch.delattr(sys, "__interactivehook__", raising=False)
    seen: dict[str, t.Any] = {}

    def interact(banner: str, local: dict[str, t.Any]) -> None:
        seen.update(local, banner=banner, app_name=current_app.name)

    monkeypatch.setattr(code, "interact", interact)

    @app.shell_context_processor
    def extra() -> dict[str, t.Any]:
        return {"answer": 42}

    result = runner.invoke(FlaskGroup(create_app=lambda: app), ["shell"])
    assert result.exit_code == 0, result.output
    assert seen["app"] is app
    assert seen["answer"] == 42
    assert seen["from_startup"] == 42
    assert seen["app_name"] == app.name
    assert f"App: {app.import_name}" in seen["banner"]
    assert f"Instance: {app.instance_path}" in seen["banner"]
