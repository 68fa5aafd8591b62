"""Session objects and the interface that loads and stores them."""

from __future__ import annotations

import collections.abc as c
import hashlib
import typing as t
from collections.abc import MutableMapping
from datetime import datetime
from datetime import timezone

from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from werkzeug.datastructures import CallbackDict
from werkzeug.datastructures import Headers

from ._cookies import set_cookie
from ._signing import SessionSerializer
from .json.tag import TaggedJSONSerializer

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask
    from .wrappers import Request
    from .wrappers import Response


class SessionMixin(MutableMapping[str, t.Any]):
    """Session attributes added on top of a mutable mapping."""

    @property
    def permanent(self) -> bool:
        """Whether the session outlives the browser session. Stored as the
        ``"_permanent"`` key."""
        return self.get("_permanent", False)  # type: ignore[no-any-return]

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    #: Whether the session was just created. Not every backend can tell, so
    #: this defaults to ``False``; do not rely on it.
    new = False

    #: Whether the session data changed. Backends that cannot tell leave this
    #: ``True`` so the session is always saved.
    modified = True

    accessed = False
    """Whether the session was used during the request, even if only read.
    The request context sets it when its ``session`` is looked up (which
    includes every use of the :data:`~diota.session` proxy). The cookie
    interface adds ``Vary: Cookie`` to the response when it is set."""


class SecureCookieSession(CallbackDict[str, t.Any], SessionMixin):
    """Session data kept in a signed cookie.

    Any change made through the dict methods sets :attr:`modified`. Changes
    inside mutable values (say, appending to a stored list) are not seen;
    set ``modified = True`` yourself after such a change. :attr:`new` is
    always ``False`` because an empty session cannot be told apart from a
    new one.
    """

    #: Set to ``True`` when the dict is changed. Only then is the cookie
    #: written (unless the session is permanent and refreshed each request).
    modified = False

    def __init__(
        self,
        initial: c.Mapping[str, t.Any] | None = None,
    ) -> None:
        super().__init__(initial, _mark_modified)


class NullSession(SecureCookieSession):
    """Stand-in session used when sessions cannot work (no secret key).
    Reading works and finds nothing; any change raises an error that
    explains the problem.
    """

    def _fail(self, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise RuntimeError(
            "The session is unavailable because no secret "
            "key was set.  Set the secret_key on the "
            "application to something unique and secret."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail
    del _fail


class SessionInterface:
    """How an application opens and saves sessions. Subclass it and assign
    an instance to :attr:`app.session_interface <diota.Flask.session_interface>`
    to store sessions elsewhere.

    Only :meth:`open_session` and :meth:`save_session` must be implemented;
    the other methods provide defaults read from the app config.

    The session returned by :meth:`open_session` must be a mutable mapping
    that also provides :class:`SessionMixin`'s attributes, for example::

        class Session(dict, SessionMixin):
            pass

    Returning ``None`` from :meth:`open_session` makes the request use
    :meth:`make_null_session` instead.

    Requests sharing one session can run concurrently, and sessions are
    opened and saved in whatever order requests start and finish. A backend
    must do its own synchronization if its store needs it.
    """

    #: Class instantiated by :meth:`make_null_session` and checked by
    #: :meth:`is_null_session`.
    null_session_class = NullSession

    #: Whether the interface pickles session data. Extensions may look at
    #: this to decide what they can store in the session.
    pickle_based = False

    def make_null_session(self, app: Flask) -> NullSession:
        """Create the stand-in session used when a real one cannot be
        opened. It allows reads and fails on writes with a helpful message.

        :param app: The application.
        """
        return self.null_session_class()

    def is_null_session(self, obj: object) -> bool:
        """Return whether ``obj`` is a null session. Null sessions are never
        saved.

        :param obj: The session to check.
        """
        return isinstance(obj, self.null_session_class)

    def get_cookie_name(self, app: Flask) -> str:
        """Name of the session cookie, from :data:`SESSION_COOKIE_NAME`."""
        return app.config["SESSION_COOKIE_NAME"]  # type: ignore[no-any-return]

    def get_cookie_domain(self, app: Flask) -> str | None:
        """``Domain`` of the session cookie, from :data:`SESSION_COOKIE_DOMAIN`.
        ``None`` (the default) means the browser sends the cookie only to
        the exact host that set it; a domain also includes its subdomains.
        """
        return app.config["SESSION_COOKIE_DOMAIN"]  # type: ignore[no-any-return]

    def get_cookie_path(self, app: Flask) -> str:
        """``Path`` of the session cookie: :data:`SESSION_COOKIE_PATH` if set,
        else :data:`APPLICATION_ROOT`."""
        return app.config["SESSION_COOKIE_PATH"] or app.config["APPLICATION_ROOT"]  # type: ignore[no-any-return]

    def get_cookie_httponly(self, app: Flask) -> bool:
        """Whether the cookie is ``HttpOnly``, from
        :data:`SESSION_COOKIE_HTTPONLY`."""
        return app.config["SESSION_COOKIE_HTTPONLY"]  # type: ignore[no-any-return]

    def get_cookie_secure(self, app: Flask) -> bool:
        """Whether the cookie is ``Secure``, from :data:`SESSION_COOKIE_SECURE`."""
        return app.config["SESSION_COOKIE_SECURE"]  # type: ignore[no-any-return]

    def get_cookie_samesite(self, app: Flask) -> str | None:
        """``SameSite`` value of the cookie (``"Strict"``, ``"Lax"`` or
        ``None``), from :data:`SESSION_COOKIE_SAMESITE`."""
        return app.config["SESSION_COOKIE_SAMESITE"]  # type: ignore[no-any-return]

    def get_cookie_partitioned(self, app: Flask) -> bool:
        """Whether the cookie is ``Partitioned``, from
        :data:`SESSION_COOKIE_PARTITIONED`."""
        return app.config["SESSION_COOKIE_PARTITIONED"]  # type: ignore[no-any-return]

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        """When the session cookie expires: now plus
        :attr:`~diota.Flask.permanent_session_lifetime` for a permanent
        session, ``None`` (end of the browser session) otherwise.

        :param app: The application.
        :param session: The session being saved.
        """
        if session.permanent:
            return datetime.now(timezone.utc) + app.permanent_session_lifetime

        return None

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        """Whether :meth:`save_session` should write the cookie: when the
        session was modified, or when it is permanent and
        :data:`SESSION_REFRESH_EACH_REQUEST` is on (to push the expiry
        forward). Not consulted when the session was emptied.

        :param app: The application.
        :param session: The session being saved.
        """
        return session.modified or (
            session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]
        )

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        """Load the session for a request. Called when the request context
        is pushed, before URL matching.

        :param app: The application.
        :param request: The incoming request.
        :return: A mapping with :class:`SessionMixin`'s attributes, or
            ``None`` to fall back to :meth:`make_null_session`.
        """
        raise NotImplementedError()

    def save_session(
        self, app: Flask, session: SessionMixin, response: Response
    ) -> None:
        """Store the session, typically by setting a cookie on ``response``.
        Called after the response is made, before the request context is
        popped. Not called for null sessions.

        :param app: The application.
        :param session: The session to save.
        :param response: The outgoing response.
        """
        raise NotImplementedError()


#: The serializer shared by every :class:`SecureCookieSessionInterface` by
#: default. Registering a tag on it affects all of them.
session_json_serializer = TaggedJSONSerializer()


def _lazy_sha1(string: bytes = b"") -> t.Any:
    """Stand in for :func:`hashlib.sha1`, looked up only when called. Builds
    without SHA-1 (FIPS) can then still import this module and configure
    another digest."""
    return hashlib.sha1(string)


class SecureCookieSessionInterface(SessionInterface):
    """The default session interface: the whole session is stored in a
    cookie, signed (not encrypted) with :mod:`itsdangerous` using the app's
    :data:`SECRET_KEY`.
    """

    #: Salt mixed with the secret key, so session signatures cannot be
    #: reused for other signed values of the app.
    salt = "cookie-session"
    #: Hash function for the signature. SHA-1 by default.
    digest_method = staticmethod(_lazy_sha1)
    #: The :mod:`itsdangerous` key derivation name.
    key_derivation = "hmac"
    #: Serializer for the session data: compact tagged JSON that also
    #: round-trips tuples, bytes, datetimes and a few other types.
    serializer = session_json_serializer
    #: Class of the sessions :meth:`open_session` returns.
    session_class = SecureCookieSession

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Build the signing serializer for the app, or return ``None`` if
        no secret key is set.

        Cookies are signed with :data:`SECRET_KEY`; cookies signed with any
        key in :data:`SECRET_KEY_FALLBACKS` are still accepted.

        :param app: The application.
        """
        secret_key = app.secret_key
        if not secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        last = self.__dict__.get("_diota_last_serializer")
        if (
            last is not None
            and not fallbacks
            and last[0] is secret_key
            and last[1]
            == (
                self.salt,
                self.serializer,
                self.key_derivation,
                self.digest_method,
            )
        ):
            # PERF: the settings of the last call, without a cache key.
            return last[2]  # type: ignore[no-any-return]

        # itsdangerous signs with the last key and verifies with all of
        # them, so the current key goes after the fallbacks.
        keys: list[str | bytes] = []

        if fallbacks:
            keys.extend(fallbacks)

        keys.append(secret_key)
        # PERF: building a serializer costs more than the rest of a small
        # request (itsdangerous even serializes {} to sniff its type), so one
        # is kept per distinct configuration.
        cache_key = (
            tuple(keys),
            self.salt,
            self.serializer,
            self.key_derivation,
            self.digest_method,
        )
        cache: dict[t.Any, URLSafeTimedSerializer]
        cache = self.__dict__.setdefault("_diota_serializers", {})
        try:
            serializer = cache.get(cache_key)
            if serializer is None:
                serializer = self._make_signing_serializer(keys)
                if len(cache) > 32:
                    cache.clear()
                cache[cache_key] = serializer
        except TypeError:  # an unhashable custom setting: no caching
            return self._make_signing_serializer(keys)
        if not fallbacks:
            self.__dict__["_diota_last_serializer"] = (
                secret_key,
                cache_key[1:],
                serializer,
            )
        return serializer

    def _make_signing_serializer(
        self, keys: list[str | bytes]
    ) -> URLSafeTimedSerializer:
        return SessionSerializer(
            keys,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Load the session from the request's cookie. A missing, badly
        signed or expired cookie gives an empty session; a missing secret
        key gives ``None``.

        :param app: The application.
        :param request: The incoming request.
        """
        if not app.secret_key:
            return None

        # PERF: a request with no cookies at all needs no parsing, and one
        # without the session cookie no serializer.
        standard = _default_serializer(self)
        if standard and not request_has_cookies(request):
            return self.session_class()

        cookies = request.cookies
        name = self.get_cookie_name(app)
        # MultiDict.get raises and catches internally for a missing key.
        val = cookies.get(name) if name in cookies else None

        if not val and standard:
            return self.session_class()

        s = self.get_signing_serializer(app)

        if s is None:
            return None

        if not val:
            return self.session_class()

        max_age = int(app.permanent_session_lifetime.total_seconds())

        try:
            data = s.loads(val, max_age=max_age)
        except BadSignature:
            # Tampered, signed with an unknown key, or expired
            # (``SignatureExpired`` is a subclass): start over.
            return self.session_class()

        return self.session_class(data)

    def save_session(
        self, app: Flask, session: SessionMixin, response: Response
    ) -> None:
        """Write the session cookie on ``response`` when needed.

        -   ``Vary: Cookie`` is added if the session was accessed.
        -   An empty session that was modified (it was cleared) deletes the
            cookie; an empty untouched session sets nothing.
        -   Otherwise the cookie is set if :meth:`should_set_cookie` says so.

        :param app: The application.
        :param session: The session to save.
        :param response: The outgoing response.
        """
        # Responses that depend on the session differ per cookie, so caches
        # must key on it.
        if session.accessed:
            _vary_on_cookie(response)

        if not session and not session.modified:
            return  # PERF: nothing to set or delete; no cookie settings read

        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        secure = self.get_cookie_secure(app)
        partitioned = self.get_cookie_partitioned(app)
        samesite = self.get_cookie_samesite(app)
        httponly = self.get_cookie_httponly(app)

        if not session:
            if session.modified:
                # The session was emptied: remove the cookie. The deletion
                # must use the same attributes as the cookie that was set.
                response.delete_cookie(
                    name,
                    domain=domain,
                    path=path,
                    secure=secure,
                    partitioned=partitioned,
                    samesite=samesite,
                    httponly=httponly,
                )
                _vary_on_cookie(response)

            return

        if not self.should_set_cookie(app, session):
            return

        expires = self.get_expiration_time(app, session)
        serializer = self.get_signing_serializer(app)
        # save_session is only called for real sessions, which exist only
        # when a secret key (and so a serializer) is available.
        assert serializer is not None
        val = serializer.dumps(dict(session))
        # PERF: response.set_cookie's header, built directly when plain.
        set_cookie(
            response,
            name,
            val,
            expires=expires,
            httponly=httponly,
            domain=domain,
            path=path,
            secure=secure,
            partitioned=partitioned,
            samesite=samesite,
        )
        if not session.accessed:  # else added above
            _vary_on_cookie(response)


def _vary_on_cookie(response: Response) -> None:
    """Add ``Cookie`` to the response's ``Vary`` header."""
    # PERF: found by a scan (a missing key costs werkzeug an exception).
    vary = None
    for name, value in response.headers:
        if name.lower() == "vary":
            vary = value
            break
    if vary is None:
        # PERF: what the header set would write, without parsing it.
        if type(response.headers) is Headers:
            response.headers._list.append(("Vary", "Cookie"))
        else:
            response.headers["Vary"] = "Cookie"
    elif vary != "Cookie":  # PERF: already there (the second call) as is
        response.vary.add("Cookie")


def request_has_cookies(request: Request) -> bool:
    """Whether ``request`` sent any cookie (PERF: without parsing them)."""
    has_cookies = getattr(request, "_has_cookies", None)
    if has_cookies is not None:
        return has_cookies()  # type: ignore[no-any-return]
    return bool(request.environ.get("HTTP_COOKIE"))


def _mark_modified(session: SecureCookieSession) -> None:
    # The CallbackDict update hook of every session (one function, rather
    # than a closure made per request).
    session.modified = True


def _default_serializer(interface: SessionInterface) -> bool:
    """Whether ``interface`` signs cookies the standard way (so a request
    without the cookie can skip building a serializer)."""
    return (
        getattr(type(interface), "get_signing_serializer", None)
        is SecureCookieSessionInterface.get_signing_serializer
    )
