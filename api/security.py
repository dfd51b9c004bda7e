"""Who may change things: loopback binding by default, a bearer token for anything wider."""
from __future__ import annotations

import hmac
import ipaddress


class InsecureBind(RuntimeError):
    """Refusing to serve on a non-loopback address without an API token."""


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


def check_bind(host: str, token: str | None) -> None:
    """Raise InsecureBind when ``host`` is reachable from other machines and no token is set.

    >>> check_bind("127.0.0.1", None)
    >>> check_bind("0.0.0.0", None)
    Traceback (most recent call last):
    ...
    api.security.InsecureBind: refusing to listen on '0.0.0.0' without an API token: set HLS_API_TOKEN (POST endpoints then need 'Authorization: Bearer <token>') or bind HOST=127.0.0.1
    """
    if not is_loopback(host) and not token:
        raise InsecureBind(
            f"refusing to listen on {host!r} without an API token: set HLS_API_TOKEN (POST endpoints then "
            "need 'Authorization: Bearer <token>') or bind HOST=127.0.0.1")


def bearer_ok(header: str | None, token: str) -> bool:
    """Does an ``Authorization`` header carry ``token``? (constant-time comparison)"""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
