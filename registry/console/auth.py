"""Who is using the console, and the guard on its forms.

The browser logs in by posting an API key to ``/ui/login``; the key is kept in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` over HTTPS) and checked on every request with the same
``verify_key`` the REST API uses. A cookie whose key is unknown or revoked is a 401, as a wrong
bearer key is over REST.

CSRF: every POST that acts on the registry carries a token that is an HMAC of the key under a fixed
label (so only a page rendered for that key knows it, and replicas need no shared secret), and a
POST whose ``Origin`` (or, failing that, ``Referer``) names another host is refused. The
``SameSite=Strict`` cookie is a third line: a cross-site form does not even send the key.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from registry.api.deps import ApiContext
from registry.errors import Forbidden, Unauthorized
from registry.schemas import Principal
from registry.service.keys import verify_key

__all__ = ["COOKIE", "CSRF_FIELD", "StaleKey", "check_csrf", "check_origin", "clear_key", "csrf_token",
           "principal_of", "remember_key"]

COOKIE = "distillery_console_key"
CSRF_FIELD = "csrf"
_CSRF_LABEL = b"distillery-console-csrf-v1"
_MAX_AGE_S = 8 * 3600


class StaleKey(Unauthorized):
    """The console cookie holds a key that is unknown or revoked."""


def principal_of(request: Request, context: ApiContext) -> Principal | None:
    """The key in the console cookie, or None when there is none; a bad key is a ``StaleKey`` (401)."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    principal = verify_key(context.services.engine, secret)
    if principal is None:
        raise StaleKey("the API key you logged in with is unknown or revoked: log in again with a valid key "
                       "(make one with 'distillery keys create')")
    return principal


def csrf_token(request: Request) -> str:
    """The form token for the key in the cookie ("" when logged out)."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return ""
    return hmac.new(secret.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_origin(request: Request) -> None:
    """Refuse a POST whose ``Origin`` or ``Referer`` names a host other than the one it was sent to."""
    origin = request.headers.get("origin")
    source = origin if origin is not None else request.headers.get("referer")
    if source is None:
        return
    host = request.headers.get("host", "")
    if source == "null" or urlsplit(source).netloc.lower() != host.lower():
        raise Forbidden("this form was posted from another site; open the console and submit it from there")


def check_csrf(request: Request, token: str) -> None:
    """The Origin check, then the form token must match the cookie's key (403 otherwise)."""
    check_origin(request)
    expected = csrf_token(request)
    if expected and not hmac.compare_digest(expected, token):
        raise Forbidden("the form has expired or did not come from this console; reload the page and try again")


def remember_key(request: Request, response: Response, secret: str) -> None:
    """Store ``secret`` in the console cookie."""
    response.set_cookie(COOKIE, secret, max_age=_MAX_AGE_S, path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_key(response: Response) -> None:
    """Forget the console cookie."""
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
