"""Reading the ``Cookie`` header and writing ``Set-Cookie`` for the common case.

PERF: werkzeug parses a ``Cookie`` header with a regular expression that
also handles quoted values, and builds a ``Set-Cookie`` header through a
function that quotes and validates every part. Most cookies need none of
that: unquoted values of URL-safe characters, a plain path. Those are read
and written here directly, with exactly werkzeug's results; anything else
goes to werkzeug.
"""

from __future__ import annotations

import re
import typing as t
from datetime import datetime

from werkzeug.datastructures import Headers
from werkzeug.http import http_date
from werkzeug.sansio.http import parse_cookie

if t.TYPE_CHECKING:  # pragma: no cover
    from werkzeug.sansio.response import Response


def parse_cookie_header(header: str, cls: type[t.Any]) -> t.Any:
    """``werkzeug.sansio.http.parse_cookie(header, cls=cls)``.

    A header without quotes is read part by part (between semicolons) as
    werkzeug's pattern reads it: a name and an optional ``=value``, neither
    containing spaces or tabs, which may surround them; a part of another
    shape is skipped.
    """
    if not header or '"' in header:
        return parse_cookie(header, cls=cls)
    pairs = []
    for part in header.split(";"):
        name, _, value = part.strip(" \t").partition("=")
        name = name.rstrip(" \t")
        value = value.lstrip(" \t")
        if (
            name
            and " " not in name
            and "\t" not in name
            and " " not in value
            and "\t" not in value
        ):
            pairs.append((name, value))
    return cls(pairs)


# Values werkzeug sends unquoted, names it sends as they are, and paths its
# quoting leaves unchanged.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9!#$%&'()*+\-./:<=>?@\[\]^_`{|}~]*").fullmatch
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+").fullmatch
_PLAIN_PATH = re.compile(r"[A-Za-z0-9%!$&'()*+,/:=@\-._~]*").fullmatch
_SAMESITE = frozenset({"Strict", "Lax", "None"})
# Domain setting -> the Domain attribute werkzeug sends for it.
_domains: dict[str, str] = {}


def set_cookie(response: Response, key: str, value: str, **options: t.Any) -> None:
    """``response.set_cookie(key, value, **options)``, for the options the
    session interface passes (``expires``, ``path``, ``domain``, ``secure``,
    ``httponly``, ``samesite``, ``partitioned``).

    The header is built directly when every part is one werkzeug would
    send as given (see the patterns above) and it fits
    ``max_cookie_size``; werkzeug builds it (and warns, or raises for a bad
    ``SameSite``) otherwise.
    """
    header = _plain_header(key, value, **options)
    if header is not None and type(response.headers) is Headers:
        max_size = response.max_cookie_size
        if not max_size or len(header) <= max_size:
            response.headers._list.append(("Set-Cookie", header))
            return
    response.set_cookie(key, value, **options)


def _plain_header(
    key: str,
    value: str,
    *,
    # werkzeug's defaults
    expires: datetime | str | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = None,
    partitioned: bool = False,
) -> str | None:
    """The ``Set-Cookie`` value werkzeug would send, in its order (Domain,
    Expires, Max-Age, Secure, HttpOnly, Path, SameSite, Partitioned), or
    ``None`` when a part is not plain."""
    if (
        not _PLAIN_NAME(key)
        or not _PLAIN_VALUE(value)
        or (path is not None and not _PLAIN_PATH(path))
    ):
        return None
    parts = [f"{key}={value}"]
    if domain:
        sent = _domains.get(domain)
        if sent is None:
            try:
                # werkzeug drops a port and leading dots, and sends IDNA.
                sent = domain.partition(":")[0].lstrip(".").encode("idna").decode()
            except UnicodeError:
                return None  # werkzeug raises the error
            if len(_domains) < 64:
                _domains[domain] = sent
        parts.append(f"Domain={sent}")
    if isinstance(expires, str):
        parts.append(f"Expires={expires}")
    elif expires is not None:
        parts.append(f"Expires={http_date(expires)}")
    if secure or partitioned:  # werkzeug makes a partitioned cookie secure
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if path is not None:
        parts.append(f"Path={path}")
    if samesite is not None:
        title = samesite.title()
        if title not in _SAMESITE:
            return None  # werkzeug raises the error
        parts.append(f"SameSite={title}")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)
