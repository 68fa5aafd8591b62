from __future__ import annotations

import json
import os
import sys
import textwrap
import typing as t
from datetime import timedelta
from pathlib import Path

import pytest

from diota.config import Config
from diota.config import ConfigAttribute

# Upper case names here are picked up by ``from_object(__name__)``.
SITE_NAME = "diota-site"
PAGE_SIZE = 25
lower_case_helper = "never loaded"


class Settings:
    SITE_NAME = "from-class"
    PAGE_SIZE = 10
    helper = "ignored"


class ChildSettings(Settings):
    EXTRA = True


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(textwrap.dedent(text), encoding=encoding)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(tmp_path)


def test_behaves_like_dict_with_defaults(tmp_path: Path) -> None:
    cfg = Config(tmp_path, {"A": 1})
    assert isinstance(cfg, dict)
    assert cfg == {"A": 1}
    assert cfg.root_path == tmp_path
    assert Config(tmp_path) == {}


def test_repr_names_the_class(config: Config) -> None:
    config["X"] = 1

    class MyConfig(Config):
        pass

    assert repr(config) == "<Config {'X': 1}>"
    assert repr(MyConfig(".", {"Y": 2})) == "<MyConfig {'Y': 2}>"


def test_from_object_module_by_name(config: Config) -> None:
    config.from_object(__name__)
    assert config["SITE_NAME"] == "diota-site"
    assert config["PAGE_SIZE"] == 25
    assert "lower_case_helper" not in config
    # Classes defined in the module are not upper case, so not loaded.
    assert "Settings" not in config


def test_from_object_class_and_inheritance(config: Config) -> None:
    config.from_object(ChildSettings)
    assert config == {"SITE_NAME": "from-class", "PAGE_SIZE": 10, "EXTRA": True}


def test_from_object_import_string_with_colon(config: Config) -> None:
    config.from_object(f"{__name__}:Settings")
    assert config["SITE_NAME"] == "from-class"


def test_from_object_instance_evaluates_properties(config: Config) -> None:
    class WithProperty:
        @property
        def DATABASE_URI(self) -> str:
            return "sqlite://"

    config.from_object(WithProperty())
    assert config["DATABASE_URI"] == "sqlite://"


def test_from_pyfile_relative_to_root(config: Config, tmp_path: Path) -> None:
    write(
        tmp_path / "settings.cfg",
        """
        SECRET_KEY = "abc"
        DEBUG = True
        helper = 1
        PORT = helper + 1
        """,
    )
    assert config.from_pyfile("settings.cfg") is True
    assert config == {"SECRET_KEY": "abc", "DEBUG": True, "PORT": 2}


def test_from_pyfile_sets_dunder_file(config: Config, tmp_path: Path) -> None:
    path = write(tmp_path / "conf.py", "FILE = __file__\n")
    config.from_pyfile(path)
    assert config["FILE"] == os.path.join(tmp_path, path)


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-15", "latin-1"])
def test_from_pyfile_honours_coding_cookie(
    config: Config, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "enc.py"
    path.write_text(f'# -*- coding: {encoding} -*-\nNAME = "Grüße"\n', encoding)
    config.from_pyfile(os.fspath(path))
    assert config["NAME"] == "Grüße"


def test_from_pyfile_missing(config: Config) -> None:
    with pytest.raises(OSError) as exc_info:
        config.from_pyfile("missing.cfg")

    message = str(exc_info.value)
    assert message.startswith(
        "[Errno 2] Unable to load configuration file (No such file or directory):"
    )
    assert message.endswith("missing.cfg'")
    assert config.from_pyfile("missing.cfg", silent=True) is False


def test_from_pyfile_silent_for_directory_and_not_a_directory(
    config: Config, tmp_path: Path
) -> None:
    (tmp_path / "adir").mkdir()
    write(tmp_path / "afile", "X = 1\n")
    assert config.from_pyfile("adir", silent=True) is False
    assert config.from_pyfile("afile/below", silent=True) is False

    with pytest.raises(OSError, match="Unable to load configuration file"):
        config.from_pyfile("adir")


def test_from_pyfile_syntax_error_not_silenced(config: Config, tmp_path: Path) -> None:
    write(tmp_path / "bad.py", "X = (\n")

    with pytest.raises(SyntaxError):
        config.from_pyfile("bad.py", silent=True)


def test_from_envvar(config: Config, tmp_path: Path, monkeypatch: t.Any) -> None:
    monkeypatch.delenv("DIOTA_TEST_SETTINGS", raising=False)

    with pytest.raises(RuntimeError) as exc_info:
        config.from_envvar("DIOTA_TEST_SETTINGS")

    assert str(exc_info.value) == (
        "The environment variable 'DIOTA_TEST_SETTINGS' is not set and as such"
        " configuration could not be loaded. Set this variable and make it point"
        " to a configuration file"
    )
    assert config.from_envvar("DIOTA_TEST_SETTINGS", silent=True) is False

    # An empty value counts as unset.
    monkeypatch.setenv("DIOTA_TEST_SETTINGS", "")
    assert config.from_envvar("DIOTA_TEST_SETTINGS", silent=True) is False

    path = write(tmp_path / "env.cfg", "FROM_ENV = 'yes'\n")
    monkeypatch.setenv("DIOTA_TEST_SETTINGS", os.fspath(path))
    assert config.from_envvar("DIOTA_TEST_SETTINGS") is True
    assert config["FROM_ENV"] == "yes"


def test_from_envvar_missing_file(config: Config, monkeypatch: t.Any) -> None:
    monkeypatch.setenv("DIOTA_TEST_SETTINGS", "missing.cfg")

    with pytest.raises(OSError) as exc_info:
        config.from_envvar("DIOTA_TEST_SETTINGS")

    assert "Unable to load configuration file (No such file or directory)" in str(
        exc_info.value
    )
    assert config.from_envvar("DIOTA_TEST_SETTINGS", silent=True) is False


def test_from_file_json(config: Config, tmp_path: Path) -> None:
    write(tmp_path / "c.json", '{"SECRET_KEY": "k", "lower": 1, "N": [1, 2]}')
    assert config.from_file("c.json", load=json.load) is True
    assert config == {"SECRET_KEY": "k", "N": [1, 2]}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
def test_from_file_toml_binary(config: Config, tmp_path: Path) -> None:
    import tomllib

    write(tmp_path / "c.toml", 'SECRET_KEY = "t"\nPORT = 8000\n')
    assert config.from_file("c.toml", load=tomllib.load, text=False) is True
    assert config == {"SECRET_KEY": "t", "PORT": 8000}


def test_from_file_missing(config: Config, tmp_path: Path) -> None:
    with pytest.raises(OSError) as exc_info:
        config.from_file("missing.json", load=json.load)

    message = str(exc_info.value)
    assert message.startswith(
        "[Errno 2] Unable to load configuration file (No such file or directory):"
    )
    assert message.endswith("missing.json'")
    assert config.from_file("missing.json", load=json.load, silent=True) is False
    (tmp_path / "d").mkdir()
    assert config.from_file("d", load=json.load, silent=True) is False


def test_from_mapping(config: Config) -> None:
    assert config.from_mapping({"A": 1, "b": 2}) is True
    assert config.from_mapping([("C", 3)]) is True  # type: ignore[arg-type]
    assert config.from_mapping(D=4, e=5) is True
    # Keyword arguments win over the mapping.
    assert config.from_mapping({"F": 1}, F=2) is True
    assert config.from_mapping() is True
    assert config == {"A": 1, "C": 3, "D": 4, "F": 2}

    with pytest.raises(TypeError):
        config.from_mapping({}, {})  # type: ignore[misc]


def test_from_prefixed_env(config: Config, monkeypatch: t.Any) -> None:
    for key in list(os.environ):
        if key.startswith("FLASK_"):
            monkeypatch.delenv(key)

    monkeypatch.setenv("FLASK_STRING", "value")
    monkeypatch.setenv("FLASK_BOOL", "true")
    monkeypatch.setenv("FLASK_INT", "1")
    monkeypatch.setenv("FLASK_FLOAT", "1.5")
    monkeypatch.setenv("FLASK_LIST", "[1, 2]")
    monkeypatch.setenv("FLASK_DICT", '{"k": "v"}')
    monkeypatch.setenv("FLASK_NULL", "null")
    monkeypatch.setenv("OTHER_FLASK_X", "no")
    assert config.from_prefixed_env() is True
    assert config == {
        "STRING": "value",
        "BOOL": True,
        "INT": 1,
        "FLOAT": 1.5,
        "LIST": [1, 2],
        "DICT": {"k": "v"},
        "NULL": None,
    }


def test_from_prefixed_env_custom_prefix_and_loads(
    config: Config, monkeypatch: t.Any
) -> None:
    monkeypatch.setenv("MYAPP_A", "1")
    monkeypatch.setenv("MYAPP_B", "boom")
    monkeypatch.setenv("FLASK_A", "no")

    def loads(value: str) -> t.Any:
        if value == "boom":
            raise ValueError(value)
        return int(value) * 10

    config.from_prefixed_env("MYAPP", loads=loads)
    # A failing loader keeps the raw string.
    assert config == {"A": 10, "B": "boom"}


@pytest.mark.skipif(os.name == "nt", reason="Windows upper cases env var names")
def test_from_prefixed_env_nested(config: Config, monkeypatch: t.Any) -> None:
    monkeypatch.setenv("DIOTANEST_EXIST__ok", "other")
    monkeypatch.setenv("DIOTANEST_EXIST__inner__ik", "2")
    monkeypatch.setenv("DIOTANEST_EXIST__new__more", '{"k": false}')
    monkeypatch.setenv("DIOTANEST_NEW__K", "v")
    config["EXIST"] = {"ok": "value", "flag": True, "inner": {"ik": 1}}
    config.from_prefixed_env("DIOTANEST")
    assert config["EXIST"] == {
        "ok": "other",
        "flag": True,
        "inner": {"ik": 2},
        "new": {"more": {"k": False}},
    }
    assert config["NEW"] == {"K": "v"}


def test_from_prefixed_env_sorted_order(config: Config, monkeypatch: t.Any) -> None:
    # "SUB" sorts before "SUB__X": the dict is created first, then filled.
    monkeypatch.setenv("DIOTAORD_SUB__X", "1")
    monkeypatch.setenv("DIOTAORD_SUB", "{}")
    config.from_prefixed_env("DIOTAORD")
    assert config["SUB"] == {"X": 1}


def test_get_namespace(config: Config) -> None:
    config.update(
        IMAGE_STORE_TYPE="fs",
        IMAGE_STORE_PATH="/var/images",
        OTHER="x",
    )
    assert config.get_namespace("IMAGE_STORE_") == {"type": "fs", "path": "/var/images"}
    assert config.get_namespace("IMAGE_STORE_", lowercase=False) == {
        "TYPE": "fs",
        "PATH": "/var/images",
    }
    assert config.get_namespace("IMAGE_STORE_", trim_namespace=False) == {
        "image_store_type": "fs",
        "image_store_path": "/var/images",
    }
    assert config.get_namespace(
        "IMAGE_STORE_", lowercase=False, trim_namespace=False
    ) == {"IMAGE_STORE_TYPE": "fs", "IMAGE_STORE_PATH": "/var/images"}
    assert config.get_namespace("NOPE_") == {}


class _Owner:
    """Stands in for an application: anything with a ``config`` mapping."""

    debug = ConfigAttribute[bool]("DEBUG")
    lifetime = ConfigAttribute[timedelta](
        "LIFETIME", get_converter=lambda v: timedelta(seconds=v)
    )

    def __init__(self) -> None:
        self.config = Config(".", {"DEBUG": False, "LIFETIME": 30})


def test_config_attribute_reads_and_writes() -> None:
    owner = _Owner()
    assert owner.debug is False
    owner.debug = True
    assert owner.config["DEBUG"] is True
    owner.config["DEBUG"] = False
    assert owner.debug is False


def test_config_attribute_converter_only_on_read() -> None:
    owner = _Owner()
    assert owner.lifetime == timedelta(seconds=30)
    owner.lifetime = 60  # type: ignore[assignment]
    assert owner.config["LIFETIME"] == 60
    assert owner.lifetime == timedelta(seconds=60)


def test_config_attribute_on_class() -> None:
    attr = _Owner.__dict__["debug"]
    assert isinstance(attr, ConfigAttribute)
    assert attr.__name__ == "DEBUG"
    assert _Owner.debug is attr
    assert attr.get_converter is None


def test_app_config(app: t.Any) -> None:
    assert isinstance(app.config, Config)
    assert app.config.root_path == app.root_path
    app.config["PERMANENT_SESSION_LIFETIME"] = 42
    assert app.permanent_session_lifetime == timedelta(seconds=42)
    app.testing = False
    assert app.config["TESTING"] is False


def test_custom_config_class() -> None:
    import diota

    class MyConfig(Config):
        pass

    class MyFlask(diota.Flask):
        config_class = MyConfig

    app = MyFlask(__name__)
    assert isinstance(app.config, MyConfig)
    app.config.from_object(__name__)
    assert app.config["SITE_NAME"] == "diota-site"
