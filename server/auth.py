"""API keys as MCP bearer tokens, and the gate in front of the MCP endpoints.

The SDK's ``TokenVerifier`` (``ApiKeyVerifier``) turns a key into an ``AccessToken`` whose claims
carry the key's role and namespaces; ``McpAuthGate`` uses the SDK's ``BearerAuthBackend`` so
handlers read the caller through ``get_access_token()``. Unlike the SDK's own wrapper, the gate
lets anonymous callers through when reads are open, and refuses a *wrong* key either way.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend
from mcp.server.auth.provider import AccessToken
from sqlalchemy.engine import Engine
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.api.problems import send_problem
from registry.models import Role
from registry.schemas import Principal
from registry.service.keys import verify_key

__all__ = ["ApiKeyVerifier", "McpAuthGate", "caller_principal"]
_CHALLENGE = {"www-authenticate": 'Bearer error="invalid_token"'}
"""RFC 6750's challenge on every 401 of the MCP endpoints."""


class ApiKeyVerifier:
    """An SDK ``TokenVerifier`` backed by the registry's API keys."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def verify_token(self, token: str) -> AccessToken | None:
        """The access token for a valid, unrevoked key; None otherwise."""
        principal = await anyio.to_thread.run_sync(verify_key, self._engine, token)
        if principal is None:
            return None
        return AccessToken(
            token=token,
            client_id=principal.key_id,
            scopes=[principal.role.value],
            claims={"name": principal.name, "namespaces": list(principal.namespaces)},
        )


def caller_principal() -> Principal | None:
    """The API key behind the current MCP request, or None for an anonymous caller."""
    token = get_access_token()
    if token is None:
        return None
    claims: dict[str, Any] = dict(token.claims or {})
    return Principal(
        key_id=token.client_id,
        name=str(claims.get("name", token.client_id)),
        role=Role(token.scopes[0]) if token.scopes else Role.reader,
        namespaces=list(claims.get("namespaces", [])),
    )


class McpAuthGate:
    """ASGI wrapper: authenticate bearer keys, refuse bad ones, admit anonymous callers if allowed."""

    def __init__(self, app: ASGIApp, verifier: ApiKeyVerifier, *, anonymous_allowed: bool) -> None:
        self._app = app
        self._backend = BearerAuthBackend(verifier)
        self._anonymous_allowed = anonymous_allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        header = connection.headers.get("authorization")
        if header is None:
            if not self._anonymous_allowed:
                await send_problem(scope, receive, send, 401, headers=_CHALLENGE,
                                   detail="This server needs an API key: send 'Authorization: Bearer <key>'.")
                return
            await self._app(scope, receive, send)
            return
        result = await self._backend.authenticate(connection)
        if result is None:
            await send_problem(scope, receive, send, 401, headers=_CHALLENGE,
                               detail="The API key is unknown or revoked; create one with 'distillery keys create'.")
            return
        credentials, user = result
        scope = {**scope, "user": user, "auth": credentials}
        reset = auth_context_var.set(user)
        try:
            await self._app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)
