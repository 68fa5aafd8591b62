"""The application logger and its default handler."""

from __future__ import annotations

import logging
import sys
import typing as t

from werkzeug.local import LocalProxy

from .globals import request

if t.TYPE_CHECKING:  # pragma: no cover
    from .sansio.app import App


@LocalProxy
def wsgi_errors_stream() -> t.TextIO:
    """The stream the default handler writes to: the request's
    ``wsgi.errors`` stream while a request is active, else
    :data:`sys.stderr`.

    It is a proxy, resolved on every write, so it can be given to your own
    :class:`logging.StreamHandler`. From file or dict logging configuration
    refer to it as ``ext://diota.logging.wsgi_errors_stream``.
    """
    if request:
        return request.environ["wsgi.errors"]  # type: ignore[no-any-return]

    return sys.stderr


def has_level_handler(logger: logging.Logger) -> bool:
    """Return whether some handler that ``logger``'s records reach (on the
    logger or, following propagation, its ancestors) accepts the logger's
    effective level.

    :param logger: The logger to check.
    """
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger

    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return True

        if not current.propagate:
            break

        current = current.parent

    return False


#: Handler added to an app's logger when nothing else would show its
#: messages. Writes to :data:`wsgi_errors_stream` with the format
#: ``[%(asctime)s] %(levelname)s in %(module)s: %(message)s``.
default_handler = logging.StreamHandler(t.cast(t.TextIO, wsgi_errors_stream))
default_handler.setFormatter(
    logging.Formatter("[%(asctime)s] %(levelname)s in %(module)s: %(message)s")
)


def create_logger(app: App) -> logging.Logger:
    """Return the logger for ``app``, configured if needed.

    The logger is named :attr:`app.name <diota.Flask.name>`. If the app is
    in debug mode and the logger has no level of its own, its level is set
    to :data:`logging.DEBUG`. If no handler would receive records at the
    logger's effective level, :data:`default_handler` is added.

    :param app: The application.
    """
    logger = logging.getLogger(app.name)

    if app.debug and not logger.level:
        logger.setLevel(logging.DEBUG)

    if not has_level_handler(logger):
        logger.addHandler(default_handler)

    return logger
