from __future__ import annotations

import logging
import sys
import typing as t
from io import StringIO

import pytest

import diota
from diota.logging import create_logger
from diota.logging import default_handler
from diota.logging import has_level_handler
from diota.logging import wsgi_errors_stream


@pytest.fixture(autouse=True)
def clean_logging(pytestconfig: pytest.Config) -> t.Iterator[None]:
    # pytest's logging plugin installs root handlers that would count as
    # "a handler for this level"; take it and any root handlers out.
    root_handlers = logging.root.handlers[:]
    root_level = logging.root.level
    logging.root.handlers = []
    names = ("diota_test", "diota.logging.test")

    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True

    plugin = pytestconfig.pluginmanager.unregister(name="logging-plugin")
    yield
    logging.root.handlers[:] = root_handlers
    logging.root.setLevel(root_level)

    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True

    if plugin is not None:
        pytestconfig.pluginmanager.register(plugin, "logging-plugin")


def test_app_logger_gets_default_handler(app: diota.Flask) -> None:
    assert app.logger.name == app.name == "diota_test"
    assert app.logger.level == logging.NOTSET
    assert app.logger.handlers == [default_handler]


def test_debug_sets_level(app: diota.Flask) -> None:
    app.debug = True
    assert app.logger.level == logging.DEBUG
    assert app.logger.handlers == [default_handler]


def test_debug_keeps_explicit_level(app: diota.Flask) -> None:
    logging.getLogger("diota_test").setLevel(logging.WARNING)
    app.debug = True
    assert app.logger.level == logging.WARNING


def test_existing_root_handler_is_respected(app: diota.Flask) -> None:
    logging.root.addHandler(logging.StreamHandler())
    assert app.logger.level == logging.NOTSET
    assert app.logger.handlers == []


def test_create_logger_is_idempotent(app: diota.Flask) -> None:
    first = create_logger(app)
    second = create_logger(app)
    assert first is second is logging.getLogger("diota_test")
    assert second.handlers == [default_handler]


def test_has_level_handler() -> None:
    logger = logging.getLogger("diota.logging.test")
    assert not has_level_handler(logger)

    handler = logging.StreamHandler()
    logging.root.addHandler(handler)
    assert has_level_handler(logger)

    # Records would not reach the root handler.
    logger.propagate = False
    assert not has_level_handler(logger)
    logger.propagate = True

    # The handler would drop records of the effective level (WARNING).
    handler.setLevel(logging.ERROR)
    assert not has_level_handler(logger)
    logger.setLevel(logging.ERROR)
    assert has_level_handler(logger)


def test_default_handler_format() -> None:
    assert isinstance(default_handler, logging.StreamHandler)
    assert default_handler.formatter is not None
    assert default_handler.formatter._fmt == (
        "[%(asctime)s] %(levelname)s in %(module)s: %(message)s"
    )


def test_wsgi_errors_stream(app: diota.Flask, client: t.Any) -> None:
    @app.route("/")
    def index() -> str:
        app.logger.error("from the view")
        return ""

    stream = StringIO()
    client.get("/", errors_stream=stream)
    assert "ERROR in test_logging: from the view" in stream.getvalue()

    assert wsgi_errors_stream._get_current_object() is sys.stderr

    with app.test_request_context(errors_stream=stream):
        assert wsgi_errors_stream._get_current_object() is stream


def test_unhandled_exception_is_logged(app: diota.Flask, client: t.Any) -> None:
    app.testing = False

    @app.route("/")
    def index() -> str:
        raise Exception("it broke")

    stream = StringIO()
    rv = client.get("/", errors_stream=stream)
    assert rv.status_code == 500
    output = stream.getvalue()
    assert "Exception on / [GET]" in output
    assert "Exception: it broke" in output
