"""One guard for the whole server: a Flask ``before_request`` that every route passes through.

Bound to loopback (``api.security.is_loopback``): no login, as before; the Host header must name a
loopback address too (a DNS-rebinding page cannot drive the app). Bound to anything else: a request needs
``Authorization: Bearer <HLS_API_TOKEN>`` (API clients, Prometheus) or the session cookie the login page
sets once given the same token. The cookie is Flask's session signed with HLS_SECRET_KEY (shared by every
worker and server of an instance), HttpOnly, SameSite=Strict, Secure when the request came over https
(directly or via a proxy's X-Forwarded-Proto, which gunicorn trusts from ``forwarded_allow_ips``), expires
SESSION_HOURS after the last request, and ends at logout (its id is revoked in the instance's SQLite, so a
copied cookie stops working on every worker too) or when the token changes. Without credentials a page GET
is redirected to /login, a Dash request (``/_dash-*``) is refused 403, anything else 401.

Always, loopback included: a state-changing request (POST, PUT, PATCH, DELETE; Dash's callbacks are POSTs)
that a browser marks as coming from another site (``Sec-Fetch-Site`` other than same-origin/none, or an
``Origin`` that is not this server) is refused 403 before it reaches any view: no cross-site request forgery.

Public without login: /login and the Bootstrap stylesheet it uses (the unmodified public file).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode, urlsplit

from flask import Flask, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from api.security import bearer_ok, check_bind, is_loopback

LOGIN_PATH, LOGOUT_PATH = "/login", "/logout"
STYLESHEET = "/vendor/bootstrap.min.css"
PUBLIC = {LOGIN_PATH, STYLESHEET}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SESSION_HOURS = 12
COOKIE_NAME = "hls_session"
MIGRATIONS = ["CREATE TABLE auth_revoked_sessions (sid TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)"]


@dataclass(frozen=True)
class Access:
    """Who may use a server bound to ``host``: everyone on loopback, else holders of ``token``."""
    host: str
    token: str | None = None
    secret_key: str | None = None

    @property
    def open(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Raise api.security.InsecureBind, naming the variable, when an open address lacks a credential."""
        check_bind(self.host, self.token, self.secret_key)

    def fingerprint(self) -> str:
        """What a session stores to prove the login: changes with the token (logging everyone out)."""
        return hmac.new((self.secret_key or "").encode(), (self.token or "").encode(), hashlib.sha256).hexdigest()


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever the request itself came over https."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def cross_site(req) -> str | None:
    """Why a browser request comes from another site, or None (non-browser clients send neither header)."""
    site = req.headers.get("Sec-Fetch-Site")
    if site and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site!r}"
    origin = req.headers.get("Origin")
    if origin is not None and origin != f"{req.scheme}://{req.host}":
        return f"Origin {origin!r} is not this server"
    return None


def _refuse(status: int, field: str, message: str):
    response = jsonify({"error": f"{field}: {message}", "field": field, "message": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hybrid-learning"'
    return response, status


def _safe_next(target: str | None) -> str:
    """A local path to return to after login (never another site)."""
    target = target or "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(error: str | None = None, next_path: str = "/") -> str:
    alert = f'<div class="alert alert-danger py-2" role="alert">{html.escape(error)}</div>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Hybrid Learning</title><link rel="stylesheet" href="{STYLESHEET}"></head>
<body class="bg-light"><main class="container" style="max-width: 26rem; margin-top: 12vh">
<div class="card shadow-sm"><div class="card-body p-4">
<h1 class="h4 mb-1">Hybrid Learning</h1><p class="text-muted mb-4">Sign in to the dashboard</p>{alert}
<form method="post" action="{LOGIN_PATH}">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<label class="form-label" for="token">Access token</label>
<input class="form-control mb-2" id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<div class="form-text mb-3">The server's <code>HLS_API_TOKEN</code>.</div>
<button class="btn btn-primary w-100" type="submit">Sign in</button>
</form></div></div></main></body></html>"""


class Revocations:
    """Session ids ended by a logout (until they would have expired anyway), in the instance's database."""

    def __init__(self, get_db: Callable):
        self.get_db = get_db
        self._migrated: set[int] = set()

    def _db(self):
        db = self.get_db()
        if id(db) not in self._migrated:
            db.migrate("auth", MIGRATIONS)
            self._migrated.add(id(db))
        return db

    def revoke(self, sid: str) -> None:
        now = int(time.time())
        with self._db().transaction() as conn:
            conn.execute("DELETE FROM auth_revoked_sessions WHERE expires_at < ?", (now,))
            conn.execute("INSERT OR REPLACE INTO auth_revoked_sessions(sid, expires_at) VALUES(?, ?)",
                         (sid, now + SESSION_HOURS * 3600))

    def revoked(self, sid: str) -> bool:
        return bool(self._db().query("SELECT 1 FROM auth_revoked_sessions WHERE sid=?", (sid,)))


def install(server: Flask, access: Access, get_db: Callable) -> None:
    """Put the guard, /login and /logout on ``server`` (the Dash app's Flask server); ``get_db()`` is this
    process's engine.db.Database of the instance (for logged-out sessions)."""
    access.check()
    revocations = Revocations(get_db)
    if not access.open:
        server.secret_key = access.secret_key
        server.session_interface = _SessionInterface()
        server.config.update(SESSION_COOKIE_NAME=COOKIE_NAME, SESSION_COOKIE_HTTPONLY=True,
                             SESSION_COOKIE_SAMESITE="Strict",
                             PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS))

    def authenticated() -> bool:
        if access.open or (access.token and bearer_ok(request.headers.get("Authorization"), access.token)):
            return True
        return (hmac.compare_digest(str(session.get("login", "")), access.fingerprint())
                and not revocations.revoked(str(session.get("sid"))))

    @server.before_request
    def guard():
        if request.method in UNSAFE_METHODS:
            reason = cross_site(request)
            if reason:
                return _refuse(403, "Origin", f"cross-site request refused ({reason})")
        if access.open:
            if not is_loopback(urlsplit(f"//{request.host}").hostname):
                return _refuse(403, "Host", f"{request.host!r} is not a loopback name; this server is bound to loopback")
            return None
        if request.path in PUBLIC or authenticated():
            return None
        if request.path.startswith("/_dash-"):
            return _refuse(403, "session", "log in first (the session is missing or has expired)")
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            return redirect(f"{LOGIN_PATH}?{urlencode({'next': request.full_path.rstrip('?')})}")
        return _refuse(401, "Authorization", "log in, or send 'Authorization: Bearer <token>'")

    def login():
        next_path = _safe_next(request.values.get("next"))
        if access.open:
            return redirect(next_path)
        if request.method == "GET":
            return login_page(next_path=next_path)
        if not access.token or not hmac.compare_digest(request.form.get("token", "").encode(), access.token.encode()):
            return login_page("Wrong token.", next_path), 401
        session.clear()
        session.update(login=access.fingerprint(), sid=secrets.token_urlsafe(16))
        session.permanent = True
        return redirect(next_path)

    def logout():
        if session.get("sid"):
            revocations.revoke(str(session["sid"]))
        session.clear()
        return redirect(LOGIN_PATH)

    server.add_url_rule(LOGIN_PATH, "login", login, methods=["GET", "POST"])
    server.add_url_rule(LOGOUT_PATH, "logout", logout, methods=["POST"])
