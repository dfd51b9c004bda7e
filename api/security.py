"""Credentials and addresses: loopback needs none; anything wider needs an API token and a session secret.

The Flask guard that applies them to every route is server.auth.
"""
from __future__ import annotations

import hmac
import ipaddress

MIN_TOKEN_CHARS = 16
MIN_SECRET_CHARS = 32
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class InsecureBind(RuntimeError):
    """Refusing to serve on a non-loopback address without the credentials that guard it."""


def is_loopback(host: str | None) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1; False for 0.0.0.0, '' (all interfaces) and real addresses."""
    if not host:
        return False
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, secret_key: str | None = None) -> None:
    """Raise InsecureBind, naming the variable to set, when ``host`` is reachable from other machines and the
    API token (HLS_API_TOKEN, >= 16 characters) or the session secret (HLS_SECRET_KEY, >= 32) is missing.

    >>> check_bind("127.0.0.1", None)
    >>> check_bind("0.0.0.0", "t" * 16, "s" * 32)
    >>> check_bind("0.0.0.0", None)
    Traceback (most recent call last):
    ...
    api.security.InsecureBind: refusing to listen on '0.0.0.0' without HLS_API_TOKEN (at least 16 characters; every request then needs it: the login page or 'Authorization: Bearer <token>'); generate one with python -c 'import secrets; print(secrets.token_urlsafe(32))', or bind HOST=127.0.0.1
    """
    if is_loopback(host):
        return
    for variable, value, minimum, role in (
            ("HLS_API_TOKEN", token, MIN_TOKEN_CHARS,
             "every request then needs it: the login page or 'Authorization: Bearer <token>'"),
            ("HLS_SECRET_KEY", secret_key, MIN_SECRET_CHARS,
             "it signs the login session cookie; the same value on every worker and server")):
        if not value or len(value) < minimum:
            raise InsecureBind(f"refusing to listen on {host!r} without {variable} (at least {minimum} characters; "
                               f"{role}); generate one with {GENERATE}, or bind HOST=127.0.0.1")


def bearer_ok(header: str | None, token: str) -> bool:
    """Does an ``Authorization`` header carry ``token``? (constant-time comparison)"""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
