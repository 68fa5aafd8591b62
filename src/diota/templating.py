"""Jinja integration: the app's environment, the loader that searches the app
and its blueprints, and the render and stream functions views call.
"""

from __future__ import annotations

import types
import typing as t
from collections import ChainMap

import jinja2.environment
from jinja2 import BaseLoader
from jinja2 import Environment as BaseEnvironment
from jinja2 import Template
from jinja2 import TemplateNotFound
from jinja2.runtime import new_context

from .globals import _cv_app
from .globals import _cv_request
from .globals import current_app
from .globals import request
from .helpers import stream_with_context
from .signals import before_render_template
from .signals import template_rendered

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask
    from .sansio.app import App
    from .sansio.scaffold import Scaffold

#: What a Jinja loader's ``get_source`` returns: source, filename, uptodate.
_SourceTriple = tuple[str, str | None, t.Callable[[], bool] | None]


def _default_template_ctx_processor() -> dict[str, t.Any]:
    """Add ``g`` and ``request`` to every template context when their
    contexts are active.

    The concrete objects are injected instead of the proxies because lookups
    through a proxy are slower. ``session`` is left to the global proxy:
    reading it through the request context is what marks the session as
    accessed, which decides the ``Vary: Cookie`` header.
    """
    app_ctx = _cv_app.get(None)
    req_ctx = _cv_request.get(None)
    rv: dict[str, t.Any] = {}

    if app_ctx is not None:
        rv["g"] = app_ctx.g

    if req_ctx is not None:
        rv["request"] = req_ctx.request

    return rv


class Environment(BaseEnvironment):
    """A Jinja environment tied to an application. Unless a ``loader`` option
    is given, it loads templates through the app's
    :meth:`~diota.Flask.create_global_jinja_loader`, which searches the app
    and then its blueprints.

    :param app: The application this environment belongs to.
    :param options: Passed to :class:`jinja2.Environment`.
    """

    def __init__(self, app: App, **options: t.Any) -> None:
        if "loader" not in options:
            options["loader"] = app.create_global_jinja_loader()

        BaseEnvironment.__init__(self, **options)
        self.app = app


class DispatchingJinjaLoader(BaseLoader):
    """Look a template up in the application's loader, then in each
    blueprint's loader in registration order; the first match wins.

    With the ``EXPLAIN_TEMPLATE_LOADING`` config set, every loader is tried
    and the attempts are logged by
    :func:`~diota.debughelpers.explain_template_loading_attempts`.

    :param app: The application whose loaders to search.
    """

    def __init__(self, app: App) -> None:
        self.app = app

    def get_source(self, environment: BaseEnvironment, template: str) -> _SourceTriple:
        if self.app.config["EXPLAIN_TEMPLATE_LOADING"]:
            return self._get_source_explained(environment, template)

        return self._get_source_fast(environment, template)

    def _get_source_explained(
        self, environment: BaseEnvironment, template: str
    ) -> _SourceTriple:
        attempts: list[tuple[BaseLoader, Scaffold, _SourceTriple | None]] = []
        first: _SourceTriple | None = None

        for owner, loader in self._iter_loaders(template):
            result: _SourceTriple | None

            try:
                result = loader.get_source(environment, template)
            except TemplateNotFound:
                result = None
            else:
                if first is None:
                    first = result

            attempts.append((loader, owner, result))

        # Imported here: debughelpers imports the app and blueprint modules,
        # which import this one.
        from .debughelpers import explain_template_loading_attempts

        explain_template_loading_attempts(self.app, template, attempts)

        if first is None:
            raise TemplateNotFound(template)

        return first

    def _get_source_fast(
        self, environment: BaseEnvironment, template: str
    ) -> _SourceTriple:
        for _owner, loader in self._iter_loaders(template):
            try:
                return loader.get_source(environment, template)
            except TemplateNotFound:
                continue

        raise TemplateNotFound(template)

    def _iter_loaders(self, template: str) -> t.Iterator[tuple[Scaffold, BaseLoader]]:
        """Yield ``(owner, loader)`` for the app and each blueprint that has a
        template loader, in lookup order.
        """
        loader = self.app.jinja_loader

        if loader is not None:
            yield self.app, loader

        for blueprint in self.app.iter_blueprints():
            loader = blueprint.jinja_loader

            if loader is not None:
                yield blueprint, loader

    def list_templates(self) -> list[str]:
        names: set[str] = set()

        for _owner, loader in self._iter_loaders(""):
            names.update(loader.list_templates())

        return list(names)


def _app() -> Flask:
    """The current app. PERF: read from the context variable; without a
    context, the proxy raises its explanation."""
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
    return app_ctx.app


def _is_jinjas(method: t.Any) -> bool:
    """Whether ``method`` is Jinja's own, neither replaced by a subclass nor
    patched on :class:`~jinja2.Template` (as tracing instrumentation does),
    so that skipping it skips nothing of anyone's."""
    return (
        type(method) is types.FunctionType
        and method.__code__.co_filename == _JINJA_ENVIRONMENT_FILE
    )


_JINJA_ENVIRONMENT_FILE = jinja2.environment.__file__


def _render_template(template: Template, context: dict[str, t.Any]) -> str:
    """``template.render(context)``.

    PERF: Jinja builds each render's variables by iterating the template's
    globals, a :class:`~collections.ChainMap` of its own globals over the
    environment's, key by key in Python; two dict merges give the same
    dict. Async environments, and template classes that render or make
    contexts their own way, go through ``render``.
    """
    environment = template.environment
    chain = template.globals
    cls = type(template)
    if (
        environment.is_async
        or type(chain) is not ChainMap
        or len(chain.maps) != 2
        or not _is_jinjas(cls.render)
        or not _is_jinjas(cls.new_context)
    ):
        return template.render(context)
    own, shared = chain.maps
    variables = {**shared, **own, **context}
    ctx = new_context(
        environment, template.name, template.blocks, variables, True, chain
    )
    try:
        return environment.concat(template.root_render_func(ctx))
    except Exception:
        environment.handle_exception()


def _render(app: Flask, template: Template, context: dict[str, t.Any]) -> str:
    app.update_template_context(context)
    if before_render_template.receivers:  # PERF: no send for no receiver
        before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    rv = _render_template(template, context)
    if template_rendered.receivers:
        template_rendered.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    return rv


def render_template(
    template_name_or_list: str | Template | list[str | Template],
    **context: t.Any,
) -> str:
    """Render a template from the app's environment.

    The context is completed by the app's context processors (see
    :meth:`~diota.Flask.update_template_context`); variables passed here win
    over injected ones. :data:`~diota.before_render_template` is sent before
    rendering and :data:`~diota.template_rendered` after.

    :param template_name_or_list: A template name, a
        :class:`~jinja2.Template`, or a list of those, in which case the
        first that exists is used.
    :param context: Variables for the template.
    """
    app = _app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _render(app, template, context)


def render_template_string(source: str, **context: t.Any) -> str:
    """Render template source code, as :func:`render_template` does for a
    named template.

    :param source: The template's source code.
    :param context: Variables for the template.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.from_string(source)
    return _render(app, template, context)


def _stream(
    app: Flask, template: Template, context: dict[str, t.Any]
) -> t.Iterator[str]:
    app.update_template_context(context)
    before_render_template.send(
        app, _async_wrapper=app.ensure_sync, template=template, context=context
    )

    def generate() -> t.Iterator[str]:
        yield from template.generate(context)
        # Only sent once the whole template has been consumed.
        template_rendered.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )

    rv = generate()

    # The response body is consumed after the view returns; keep the request
    # context so the template can still use request, session and g.
    if request:
        rv = stream_with_context(rv)

    return rv


def stream_template(
    template_name_or_list: str | Template | list[str | Template],
    **context: t.Any,
) -> t.Iterator[str]:
    """Render a template piece by piece, returning an iterator of strings to
    use as a streaming response body. In a request, the request context is
    kept for the stream with :func:`~diota.stream_with_context`.

    :data:`~diota.before_render_template` is sent now, and
    :data:`~diota.template_rendered` once the stream is exhausted.

    :param template_name_or_list: A template name, a
        :class:`~jinja2.Template`, or a list of those, in which case the
        first that exists is used.
    :param context: Variables for the template.
    """
    app = _app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _stream(app, template, context)


def stream_template_string(source: str, **context: t.Any) -> t.Iterator[str]:
    """Stream template source code, as :func:`stream_template` does for a
    named template.

    :param source: The template's source code.
    :param context: Variables for the template.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.from_string(source)
    return _stream(app, template, context)
