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

import hashlib
import hmac
import typing as t

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

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        """The signer for ``salt`` (the serializer's own by default), made
        on first use."""
        key = None if salt is None else want_bytes(salt)
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = super().make_signer(salt)
        return signer
