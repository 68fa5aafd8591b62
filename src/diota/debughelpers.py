"""Exceptions and helpers that give developers clearer errors in debug mode.

Nothing here runs in production: the app and request wrappers only reach for
these helpers when ``app.debug`` is on or ``EXPLAIN_TEMPLATE_LOADING`` is set.
"""

from __future__ import annotations

import typing as t

from jinja2.loaders import BaseLoader
from werkzeug.routing import RequestRedirect

from .blueprints import Blueprint
from .globals import request_ctx
from .sansio.app import App

if t.TYPE_CHECKING:  # pragma: no cover
    from .sansio.scaffold import Scaffold
    from .wrappers import Request

#: What a Jinja loader's ``get_source`` returns: source, filename, uptodate.
_SourceTriple = tuple[str, str | None, t.Callable[[], bool] | None]


class UnexpectedUnicodeError(AssertionError, UnicodeError):
    """Raised where text or binary data shows up unexpectedly, so the
    developer gets a clearer report than a bare :exc:`UnicodeError`.
    """


class DebugFilesKeyError(KeyError, AssertionError):
    """Raised by ``request.files[key]`` in debug mode when the key is missing
    but a form field of that name was sent, which almost always means the
    HTML form lacks ``enctype="multipart/form-data"``.

    :param request: The request whose ``files`` lookup failed.
    :param key: The key that was looked up.
    """

    def __init__(self, request: Request, key: str) -> None:
        submitted = request.form.getlist(key)
        parts = [
            f"You tried to access the file {key!r} in the request.files"
            " dictionary but it does not exist. The mimetype for the"
            f" request is {request.mimetype!r} instead of"
            " 'multipart/form-data' which means that no file contents"
            " were transmitted. To fix this error you should provide"
            ' enctype="multipart/form-data" in your form.'
        ]

        if submitted:
            names = ", ".join(repr(name) for name in submitted)
            parts.append(
                "\n\nThe browser instead transmitted some file names. "
                f"This was submitted: {names}"
            )

        self.msg = "".join(parts)

    def __str__(self) -> str:
        return self.msg


class FormDataRoutingRedirect(AssertionError):
    """Raised in debug mode when routing would redirect a request whose
    method carries a body (not GET, HEAD or OPTIONS) with a 301 or 302,
    because browsers drop the method and body on such redirects.

    :param request: The request that was routed to a redirect. Its
        ``routing_exception`` must be a :exc:`~werkzeug.routing.RequestRedirect`.
    """

    def __init__(self, request: Request) -> None:
        exc = request.routing_exception
        assert isinstance(exc, RequestRedirect)
        parts = [
            f"A request was sent to '{request.url}', but routing issued"
            f" a redirect to the canonical URL '{exc.new_url}'."
        ]

        # The most common cause is a rule defined with a trailing slash that
        # was requested without one; say so explicitly.
        if exc.new_url.partition("?")[0] == f"{request.base_url}/":
            parts.append(
                " The URL was defined with a trailing slash. Flask"
                " will redirect to the URL with a trailing slash if it"
                " was accessed without one."
            )

        parts.append(
            " Send requests to the canonical URL, or use 307 or 308 for"
            " routing redirects. Otherwise, browsers will drop form"
            " data.\n\n"
            "This exception is only raised in debug mode."
        )
        super().__init__("".join(parts))


def attach_enctype_error_multidict(request: Request) -> None:
    """Make ``request.files[key]`` raise :exc:`DebugFilesKeyError` instead of
    a plain :exc:`KeyError` when ``key`` was sent as a form field.

    The class of this request's ``files`` object is swapped for a subclass,
    so other requests are not affected.

    :param request: The request to patch.
    :meta private:
    """
    original_cls = request.files.__class__

    class PatchedFiles(original_cls):  # type: ignore[valid-type, misc]
        def __getitem__(self, key: str) -> t.Any:
            try:
                return super().__getitem__(key)
            except KeyError as e:
                if key not in request.form:
                    raise

                raise DebugFilesKeyError(request, key).with_traceback(
                    e.__traceback__
                ) from None

    # Keep the visible identity of the original class for reprs and
    # tracebacks.
    PatchedFiles.__name__ = original_cls.__name__
    PatchedFiles.__qualname__ = original_cls.__qualname__
    PatchedFiles.__module__ = original_cls.__module__
    request.files.__class__ = PatchedFiles


def _dump_loader_info(loader: BaseLoader) -> t.Iterator[str]:
    """Describe a loader's public, simply-typed attributes, one per line."""
    yield f"class: {type(loader).__module__}.{type(loader).__name__}"

    for key, value in sorted(loader.__dict__.items()):
        if key.startswith("_"):
            continue

        if isinstance(value, (tuple, list)):
            # Lists of paths (e.g. FileSystemLoader.searchpath) are useful;
            # lists of other objects are noise.
            if not all(isinstance(item, str) for item in value):
                continue

            yield f"{key}:"
            yield from (f"  - {item}" for item in value)
        elif isinstance(value, (str, int, float, bool)):
            yield f"{key}: {value!r}"


def explain_template_loading_attempts(
    app: App,
    template: str,
    attempts: list[tuple[BaseLoader, Scaffold, _SourceTriple | None]],
) -> None:
    """Log, at info level on ``app.logger``, every loader that was tried for
    ``template`` and whether it matched, to help find why a template was not
    found or which of several matches won.

    :param app: The application whose loaders were tried.
    :param template: The template name that was looked up.
    :param attempts: One ``(loader, owner, result)`` tuple per loader, where
        ``owner`` is the app or blueprint the loader belongs to and
        ``result`` is the loader's source triple, or ``None`` if it had no
        match.
    """
    lines = [f"Locating template {template!r}:"]
    found = 0
    blueprint = None

    if request_ctx and request_ctx.request.blueprint is not None:
        blueprint = request_ctx.request.blueprint

    for number, (loader, owner, result) in enumerate(attempts, start=1):
        if isinstance(owner, App):
            owner_info = f"application {owner.import_name!r}"
        elif isinstance(owner, Blueprint):
            owner_info = f"blueprint {owner.name!r} ({owner.import_name})"
        else:
            owner_info = repr(owner)

        lines.append(f"{number:5}: trying loader of {owner_info}")
        lines.extend(f"       {line}" for line in _dump_loader_info(loader))

        if result is None:
            lines.append("       -> no match")
        else:
            found += 1
            lines.append(f"       -> found ({result[1] or '<string>'!r})")

    suspicious = False

    if found == 0:
        lines.append("Error: the template could not be found.")
        suspicious = True
    elif found > 1:
        lines.append("Warning: multiple loaders returned a match for the template.")
        suspicious = True

    if blueprint is not None and suspicious:
        lines.append(
            "  The template was looked up from an endpoint that belongs"
            f" to the blueprint {blueprint!r}."
        )
        lines.append("  Maybe you did not place a template in the right folder?")
        lines.append("  See https://flask.palletsprojects.com/blueprints/#templates")

    app.logger.info("\n".join(lines))
