"""FastAPI dependencies of the REST API: the services, the caller, and role and namespace checks.

``Authorization: Bearer <key>`` identifies the caller. A missing key is anonymous (allowed for
reads only when ``settings.auth.reads_open(host)``); a wrong key is always a 401. Writes need a key
with role curator or above; a key's namespaces (empty = all) limit both reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from registry.api.middleware import RequestMetrics
from registry.container import RegistryServices
from registry.errors import Forbidden, NotFound, Unauthorized
from registry.models import Role
from registry.schemas import Principal
from registry.service.keys import has_role, verify_key
from toolbox.settings import Settings
from toolbox.spec import NAME_PATTERN

__all__ = [
    "REF_PATTERN",
    "Admin",
    "ApiContext",
    "ContextDep",
    "CuratorKey",
    "InvalidKey",
    "NameParam",
    "NamespaceParam",
    "Reader",
    "RefParam",
    "actor_of",
    "check_read",
    "check_write",
    "get_context",
    "get_principal",
    "require_reader",
    "require_role",
    "visible_namespaces",
]


REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
NamespaceParam = Annotated[str, Path(pattern=NAME_PATTERN, description="The tool's namespace.")]
NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="The tool's name.")]
RefParam = Annotated[str, Path(pattern=REF_PATTERN,
                               description="A version id, a semver ('1.2.0'), an alias ('stable') or 'latest'.")]


@dataclass(frozen=True)
class ApiContext:
    """What the routes share: the services, the settings, the read policy and request metrics."""

    services: RegistryServices
    settings: Settings
    reads_open: bool
    metrics: RequestMetrics


class InvalidKey(Unauthorized):
    """A bearer key that is malformed, unknown or revoked."""

    www_authenticate = 'Bearer realm="distillery", error="invalid_token"'


def get_context(request: Request) -> ApiContext:
    """The API context stored on the app by ``include_registry_routes``."""
    context: ApiContext = request.app.state.distillery_api
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]
_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                     description="An API key made with `distillery keys create`: `Authorization: Bearer dst_...`.")


def get_principal(request: Request, context: ContextDep,
                  _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal | None:
    """The caller's key, or None without an Authorization header; a bad key is a 401."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidKey("send the API key as 'Authorization: Bearer <key>'")
    principal = verify_key(context.services.engine, secret.strip())
    if principal is None:
        raise InvalidKey("the API key is unknown or revoked; create one with 'distillery keys create'")
    return principal


PrincipalDep = Annotated[Principal | None, Depends(get_principal)]


def require_reader(context: ContextDep, principal: PrincipalDep) -> Principal | None:
    """The caller of a read: any valid key, or anonymous when reads are open."""
    if principal is None and not context.reads_open:
        raise Unauthorized("this registry needs an API key for reads: send 'Authorization: Bearer <key>'")
    return principal


def require_role(minimum: Role) -> Callable[[Principal | None], Principal]:
    """A dependency that demands a key with role ``minimum`` or above."""

    def dependency(principal: PrincipalDep) -> Principal:
        if principal is None:
            raise Unauthorized(f"this needs an API key with role {minimum.value} or above: "
                               "send 'Authorization: Bearer <key>'")
        if not has_role(principal.role, minimum):
            raise Forbidden(f"key {principal.name!r} has role {principal.role.value}; this needs {minimum.value} "
                            "or above")
        return principal

    return dependency


Reader = Annotated[Principal | None, Depends(require_reader)]
CuratorKey = Annotated[Principal, Depends(require_role(Role.curator))]
Admin = Annotated[Principal, Depends(require_role(Role.admin))]


def visible_namespaces(principal: Principal | None) -> list[str] | None:
    """The namespaces the caller may see (None = all)."""
    return list(principal.namespaces) if principal is not None and principal.namespaces else None


def check_read(principal: Principal | None, namespace: str, name: str) -> None:
    """A tool outside the caller's namespaces does not exist for them (404, nothing leaks)."""
    if principal is not None and not principal.can_see(namespace):
        raise NotFound(f"no tool {namespace}.{name}")


def check_write(principal: Principal, namespace: str) -> None:
    """Refuse a write into a namespace the key is not for (403)."""
    if not principal.can_see(namespace):
        raise Forbidden(f"key {principal.name!r} may only write to namespaces {principal.namespaces}, "
                        f"not {namespace!r}")


def actor_of(principal: Principal) -> str:
    """The audit-log actor of a key: its name and the start of its id."""
    return f"{principal.name[:54]}#{principal.key_id[:8]}"
