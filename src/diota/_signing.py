"""The session cookie's signing serializer: itsdangerous's format and
algorithms, with the work that repeats on every request done once.

itsdangerous builds a new signer for every ``dumps``/``loads``, derives the
signing key from the secret again each time, and, given Flask's lazy SHA-1
function as digest, computes each HMAC in pure Python. Here the signer is
made once per salt, each derived key is kept, and the HMACs of the standard
hashes go through :func:`hmac.digest` (OpenSSL, one call). The bytes
produced are the same: cookies signed by Flask load here and the other way
round.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import struct
import typing as t
import zlib

from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes
from itsdangerous.signer import HMACAlgorithm
from itsdangerous.signer import Signer

# Digest callables known to compute the hash named here. Flask's and
# itsdangerous's lazy SHA-1 functions are matched by name and module, since
# they only exist to defer the lookup of ``hashlib.sha1``.
_HASHLIB_NAMES = {
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "md5": "md5",
}
_LAZY_SHA1_MODULES = frozenset({"itsdangerous.signer", "diota.sessions"})


def _hash_name(digest_method: t.Any) -> str | None:
    """The :mod:`hashlib` name of ``digest_method`` if it is a standard
    hash constructor (or a lazy SHA-1 wrapper), else ``None``."""
    name = getattr(digest_method, "__name__", "")
    if name == "_lazy_sha1" and digest_method.__module__ in _LAZY_SHA1_MODULES:
        return "sha1"
    if name.startswith("openssl_"):
        name = name[len("openssl_") :]
    hash_name = _HASHLIB_NAMES.get(name)
    if hash_name is not None and getattr(hashlib, hash_name, None) is digest_method:
        return hash_name
    return None


class _OpenSSLHMAC(HMACAlgorithm):
    """HMAC with a standard hash, computed in one OpenSSL call."""

    def __init__(self, digest_method: t.Any, hash_name: str) -> None:
        super().__init__(digest_method)
        self._hash_name = hash_name

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, self._hash_name)


class SessionSigner(TimestampSigner):
    """A :class:`~itsdangerous.TimestampSigner` that keeps its derived keys
    and signs standard HMACs through OpenSSL."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._hash_name = _hash_name(self.digest_method)
        if self._hash_name is not None and type(self.algorithm) is HMACAlgorithm:
            self.algorithm = _OpenSSLHMAC(self.digest_method, self._hash_name)
        self._derived_keys: dict[bytes, bytes] = {}
        # Derived key -> an HMAC keyed with it, copied for each signature.
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def _sign(self, key: bytes, value: bytes) -> bytes:
        """``hmac.digest(key, value, hash)``. PERF: copying an HMAC already
        keyed skips OpenSSL's hash lookup and key setup (half the cost)."""
        keyed = self._keyed.get(key)
        if keyed is None:
            # Only the one-pass path signs here, for a standard hash.
            assert self._hash_name is not None
            if len(self._keyed) >= 64:
                self._keyed.clear()
            keyed = self._keyed[key] = hmac.new(key, digestmod=self._hash_name)
        mac = keyed.copy()
        mac.update(value)
        return mac.digest()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The key derived from ``secret_key`` (the newest by default),
        computed once per secret key."""
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        try:
            return self._derived_keys[key]
        except KeyError:
            pass
        if self.key_derivation == "hmac" and self._hash_name is not None:
            # What itsdangerous computes: an HMAC of the salt keyed by the secret.
            derived = hmac.digest(key, self.salt, self._hash_name)
        else:
            derived = super().derive_key(key)
        self._derived_keys[key] = derived
        return derived


class SessionSerializer(URLSafeTimedSerializer):
    """:class:`~itsdangerous.URLSafeTimedSerializer` signing with
    :class:`SessionSigner`, one signer per salt for its whole life."""

    default_signer = SessionSigner

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._signers: dict[bytes | None, Signer] = {}
        self._fast_hashes: dict[Signer, str | None] = {}

    def dumps(self, obj: t.Any, salt: str | bytes | None = None) -> str:
        """Serialize and sign ``obj`` (itsdangerous's ``dumps``).

        PERF: with the standard signing setup, the same bytes are made in one
        pass, without itsdangerous's layers of calls.
        """
        signer = self.make_signer(salt)
        hash_name = _fast_hash(self, signer)
        if hash_name is None:
            return super().dumps(obj, salt)
        data = self.serializer.dumps(obj).encode("utf-8")
        # itsdangerous compresses every payload and keeps the result if it
        # is shorter. PERF: zlib sets up about 256 KiB of state per call
        # (tens of microseconds), which a short payload cannot repay: below
        # _COMPRESS_FROM bytes it is sent as is, which any reader accepts.
        if (
            len(data) >= _COMPRESS_FROM
            and len(compressed := zlib.compress(data)) < len(data) - 1
        ):
            payload = b"." + _b64encode(compressed)
        else:
            payload = _b64encode(data)
        signed_at = t.cast(SessionSigner, signer).get_timestamp()
        timestamp = _b64encode(_pack_int(signed_at).lstrip(b"\x00"))
        value = payload + b"." + timestamp
        signature = t.cast(SessionSigner, signer)._sign(signer.derive_key(), value)
        return (value + b"." + _b64encode(signature)).decode("utf-8")

    def loads(  # type: ignore[override]
        self,
        s: str | bytes,
        max_age: int | None = None,
        return_timestamp: bool = False,
        salt: str | bytes | None = None,
    ) -> t.Any:
        """Verify and load a signed value (itsdangerous's ``loads``).

        PERF: a valid, unexpired value signed the standard way is checked
        and loaded in one pass; anything else goes through itsdangerous,
        which raises the precise error.
        """
        signer = self.make_signer(salt)
        hash_name = _fast_hash(self, signer)
        if hash_name is not None and not return_timestamp:
            obj = _fast_loads(
                self, t.cast(SessionSigner, signer), hash_name, s, max_age
            )
            if obj is not _INVALID:
                return obj
        return super().loads(s, max_age, return_timestamp, salt)

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        """The signer for ``salt`` (the serializer's own by default), made
        on first use."""
        key = None if salt is None else want_bytes(salt)
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = super().make_signer(salt)
        return signer


_pack_int = struct.Struct(">Q").pack
# Session payloads shorter than this are not compressed (see dumps).
_COMPRESS_FROM = 256
_unpack_int = struct.Struct(">Q").unpack
# What _fast_loads returns for a value it leaves to itsdangerous.
_INVALID: t.Any = object()


# PERF: base64's URL-safe helpers, without their argument checks.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64encode(data: bytes) -> bytes:
    """``base64.urlsafe_b64encode(data)`` without its padding."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    """``base64.urlsafe_b64decode`` of ``data`` with its padding restored."""
    return binascii.a2b_base64(data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4))


def _fast_hash(serializer: SessionSerializer, signer: Signer) -> str | None:
    """The hash the one-pass path signs with, or ``None`` when the setup is
    not the standard one it reproduces (a timestamp signer keeping its
    derived keys, HMAC through OpenSSL, "." separators, no fallback
    signers, no serializer options). Worked out once per signer."""
    known = serializer._fast_hashes.get(signer, _INVALID)
    if known is _INVALID:
        known = serializer._fast_hashes[signer] = _standard_hash(serializer, signer)
    return known  # type: ignore[no-any-return]


def _standard_hash(serializer: SessionSerializer, signer: Signer) -> str | None:
    if (
        type(signer) is not SessionSigner
        or type(signer.algorithm) is not _OpenSSLHMAC
        or signer.sep != b"."
        or signer.key_derivation != "hmac"
        or serializer.fallback_signers
        or serializer.serializer_kwargs
        or type(serializer).load_payload is not URLSafeTimedSerializer.load_payload
        or type(serializer).dump_payload is not URLSafeTimedSerializer.dump_payload
    ):
        return None
    return signer._hash_name


def _fast_loads(
    serializer: SessionSerializer,
    signer: SessionSigner,
    hash_name: str,
    s: str | bytes,
    max_age: int | None,
) -> t.Any:
    try:
        data = s.encode("utf-8") if isinstance(s, str) else s
        value, _, signature = data.rpartition(b".")
        payload, _, timestamp = value.rpartition(b".")
        if not payload or not timestamp:
            return _INVALID
        expected = _b64decode(signature)
        for secret_key in reversed(signer.secret_keys):
            key = signer.derive_key(secret_key)
            if hmac.compare_digest(expected, signer._sign(key, value)):
                break
        else:
            return _INVALID
        signed_at = _unpack_int(_b64decode(timestamp).rjust(8, b"\x00"))[0]
        if max_age is not None:
            age = signer.get_timestamp() - signed_at
            if age > max_age or age < 0:
                return _INVALID
        if payload[:1] == b".":
            raw = zlib.decompress(_b64decode(payload[1:]))
        else:
            raw = _b64decode(payload)
        return serializer.serializer.loads(raw.decode("utf-8"))
    except Exception:  # itsdangerous tells what is wrong with it
        return _INVALID
