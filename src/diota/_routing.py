"""Binding the URL map to a request, and remembering what paths match.

PERF: werkzeug works out a request's host and matches its path from scratch
for every request. Both depend only on a few values that repeat from one
request to the next (the ``Host`` header; the path and method), so the
results are kept, in bounded tables, for the common case diota binds
itself: no ``SERVER_NAME``, no host or subdomain matching, werkzeug's own
``Map``.
"""

from __future__ import annotations

import typing as t

from werkzeug.exceptions import BadHost
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map
from werkzeug.routing import MapAdapter
from werkzeug.routing import Rule
from werkzeug.sansio.utils import get_host

# werkzeug's converters: pure functions of the path. A rule using only these
# matches a path to the same arguments every time; a custom converter may
# not (one that loads a database row, say), so its matches are not kept.
_PURE_CONVERTERS = frozenset(Map.default_converters.values())

# Bounds of the tables: what fills them comes from clients.
_MAX_HOSTS = 512
_MAX_MATCHES = 1024

# (scheme, Host header, server) -> the request's host.
_hosts: dict[tuple[str, str | None, t.Any], str] = {}
# Host -> the server name Map.bind would compute (lowered, IDNA).
_server_names: dict[str, str] = {}


def request_host(
    scheme: str,
    host_header: str | None,
    server: tuple[str, int | None] | None,
    trusted_hosts: list[str] | None,
) -> str:
    """werkzeug's ``get_host``: the request's host, ``""`` if invalid;
    raises :exc:`~werkzeug.exceptions.SecurityError` for an untrusted one."""
    if trusted_hosts is not None:
        return get_host(scheme, host_header, server, trusted_hosts)
    key = (scheme, host_header, server)
    host = _hosts.get(key)
    if host is None:
        host = get_host(scheme, host_header, server)
        if len(_hosts) >= _MAX_HOSTS:
            _hosts.clear()
        _hosts[key] = host
    return host


def check_host_header(scheme: str, raw_host: str) -> None:
    """Reject a ``Host`` header that is no host name at all with a 400.

    werkzeug turns a Host with invalid characters into ``""``, which then
    routes as a 404. An internationalized name (valid once IDNA-encoded) is
    accepted as werkzeug leaves it; anything else is malformed input.
    """
    try:
        ascii_host = raw_host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    if not ascii_host or not get_host(scheme, ascii_host):
        raise BadRequest("The 'Host' header is not a valid host name.")


def routing_host(
    scheme: str, host_header: str | None, server: tuple[str, int | None] | None
) -> str:
    """The request's host, checked as binding the URL map checks it (no
    ``TRUSTED_HOSTS``): a 400 for a malformed ``Host`` header, and for one
    that is no IDNA name."""
    key = (scheme, host_header, server)
    host = _routable_hosts.get(key)
    if host is None:
        host = request_host(scheme, host_header, server, None)
        if not host and host_header:
            check_host_header(scheme, host_header)
        _server_name(host)
        if len(_routable_hosts) >= _MAX_HOSTS:
            _routable_hosts.clear()
        _routable_hosts[key] = host
    return host


# (scheme, Host header, server) -> a host that binds.
_routable_hosts: dict[tuple[str, str | None, t.Any], str] = {}


def _server_name(host: str) -> str:
    """The server name ``Map.bind`` computes for ``host`` (lowered, IDNA)."""
    server_name = _server_names.get(host)
    if server_name is None:
        name, port_sep, port = host.lower().partition(":")
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise BadHost() from e
        if len(_server_names) >= _MAX_HOSTS:
            _server_names.clear()
        server_name = _server_names[host] = f"{name}{port_sep}{port}"
    return server_name


def bind_to_host(
    url_map: Map,
    host: str,
    script_name: str | None,
    subdomain: str,
    url_scheme: str,
    method: str,
    path_info: str | None,
    query_args: str | None,
) -> MapAdapter:
    """What ``url_map.bind(host, ...)`` returns, for a host already
    validated; its matches are remembered (see :class:`CachingMapAdapter`)."""
    return CachingMapAdapter(
        url_map,
        _server_name(host),
        script_name if script_name is not None else "/",
        subdomain,
        url_scheme,
        path_info if path_info is not None else "/",
        method,
        query_args,
    )


def remembered_match(url_map: Map, subdomain: str, path: str, method: str) -> t.Any:
    """What an HTTP request for ``path`` and ``method`` matched before
    (see :class:`CachingMapAdapter`): ``(rule, arguments)``, ``(None,
    None)`` for a 404, ``(None, allowed methods)`` for a 405; ``None`` when
    not known."""
    # PERF: _matches inlined (once per request).
    cache = None if url_map._remap else url_map.__dict__.get("_diota_matches")
    if cache is None:
        return None
    return cache.get((subdomain, path, method, False))


def _matches(url_map: Map) -> dict[tuple[t.Any, ...], _Match] | None:
    """The remembered matches of ``url_map``, while they still hold: not
    after a rule was added (see :func:`forget_matches`)."""
    if url_map._remap:
        return None
    return url_map.__dict__.get("_diota_matches")


def forget_matches(url_map: Map) -> None:
    """Forget what requests to ``url_map`` matched: a rule was added.

    (``_remap`` alone does not tell: building a URL updates the map and
    clears it, with matches remembered from before the rule still kept.)
    """
    url_map.__dict__.pop("_diota_matches", None)


# What a path and method matched: (rule, arguments), or the error to raise
# (NotFound, or MethodNotAllowed with its allowed methods).
_Match = tuple[Rule, dict[str, t.Any]] | tuple[None, list[str] | None]


class CachingMapAdapter(MapAdapter):
    """A :class:`~werkzeug.routing.MapAdapter` whose matches of the bound
    path are remembered per map, path, method and kind (HTTP or WebSocket).

    Only outcomes that depend on nothing else are kept: a rule whose
    converters are werkzeug's own (its arguments are copied out each time),
    a 404 and a 405. Redirects are worked out each time. Adding a rule to
    the map forgets everything.
    """

    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: t.Mapping[str, t.Any] | str | None = None,
        websocket: bool | None = None,
    ) -> tuple[t.Any, t.Mapping[str, t.Any]]:
        if path_info is not None or method is not None or websocket is not None:
            return super().match(  # type: ignore[call-overload,no-any-return]
                path_info, method, return_rule, query_args, websocket
            )
        url_map = self.map
        cache = _matches(url_map)
        if cache is None:
            cache = url_map.__dict__["_diota_matches"] = {}
        key = (self.subdomain, self.path_info, self.default_method, self.websocket)
        found = cache.get(key)
        if found is None:
            found = self._match_and_keep(cache, key, query_args)
        rule, values = found
        if rule is None:
            if values is None:
                raise NotFound()
            raise MethodNotAllowed(valid_methods=list(values))
        arguments: dict[str, t.Any] = dict(values)  # type: ignore[arg-type]
        if return_rule:
            return rule, arguments
        return rule.endpoint, arguments

    def _match_and_keep(
        self,
        cache: dict[tuple[t.Any, ...], _Match],
        key: tuple[t.Any, ...],
        query_args: t.Mapping[str, t.Any] | str | None,
    ) -> _Match:
        found: _Match
        try:
            rule, values = super().match(return_rule=True, query_args=query_args)
        except NotFound:
            found = (None, None)
        except MethodNotAllowed as e:
            found = (None, list(e.valid_methods or ()))
        else:
            found = (rule, dict(values))
            if not all(
                type(converter) in _PURE_CONVERTERS
                for converter in rule._converters.values()
            ):
                return found
        if len(cache) >= _MAX_MATCHES:
            cache.clear()
        cache[key] = found
        return found
