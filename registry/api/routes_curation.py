"""Curation routes: lifecycle actions, aliases and pins (curator keys, within their namespaces)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from registry.api.deps import (
    REF_PATTERN,
    ContextDep,
    CuratorKey,
    NameParam,
    NamespaceParam,
    RefParam,
    actor_of,
    check_write,
)
from registry.api.problems import PROBLEM_RESPONSES
from registry.schemas import VersionSummary
from registry.service.curation import Action

__all__ = ["AliasRequest", "DeprecateRequest", "PinOut", "ReasonRequest", "router"]

ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
SCOPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
REPLACEMENT_PATTERN = r"^[a-z][a-z0-9_]{0,63}\.[a-z][a-z0-9_]{0,63}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,63})?$"

router = APIRouter(tags=["curation"], responses={
    **{code: PROBLEM_RESPONSES[code] for code in (401, 403, 404, 422)},
    409: {**PROBLEM_RESPONSES[422], "description": "The action does not fit the version's current state."},
})


class ReasonRequest(BaseModel):
    """Why the action is taken (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)


class DeprecateRequest(ReasonRequest):
    """Deprecate, optionally naming the version to use instead."""

    replacement: str | None = Field(default=None, pattern=REPLACEMENT_PATTERN,
                                    description="namespace.name@ref of the version to use instead.")


class AliasRequest(BaseModel):
    """Point an alias at a version."""

    model_config = ConfigDict(extra="forbid")

    ref: str = Field(pattern=REF_PATTERN, description="A version id, semver, another alias or 'latest'.")
    reason: str = Field(default="", max_length=1000)


class PinOut(BaseModel):
    """A scope's pin of a tool."""

    scope: str
    namespace: str
    name: str
    version: VersionSummary


AliasParam = Annotated[str, Path(pattern=ALIAS_PATTERN, description="e.g. 'stable' or 'candidate'.")]
ScopeParam = Annotated[str, Path(pattern=SCOPE_PATTERN, description="An API key id or a toolset name.")]
Reason = Annotated[ReasonRequest | None, Body()]


async def _lifecycle(context: ContextDep, principal: CuratorKey, action: Action, namespace: str, name: str,
                     ref: str, reason: str, **extra: str | None) -> VersionSummary:
    """Run one ``Curator`` lifecycle action for ``principal`` after the namespace check."""
    check_write(principal, namespace)
    return await run_in_threadpool(getattr(context.services.curator, action), namespace, name, ref,
                                   actor=actor_of(principal), reason=reason, **extra)


@router.post("/tools/{namespace}/{name}/versions/{ref}/approve", summary="Approve a version")
async def approve_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam, name: NameParam,
                        ref: RefParam, body: Reason = None) -> VersionSummary:
    """draft → active."""
    return await _lifecycle(context, principal, "approve", namespace, name, ref, (body or ReasonRequest()).reason)


@router.post("/tools/{namespace}/{name}/versions/{ref}/deprecate", summary="Deprecate a version")
async def deprecate_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam, name: NameParam,
                          ref: RefParam, body: Annotated[DeprecateRequest | None, Body()] = None) -> VersionSummary:
    """active → deprecated, optionally pointing at a replacement."""
    check_write(principal, namespace)
    body = body or DeprecateRequest()
    if body.replacement is not None:
        check_write(principal, body.replacement.split(".", 1)[0])
    return await _lifecycle(context, principal, "deprecate", namespace, name, ref, body.reason,
                            replacement=body.replacement)


@router.post("/tools/{namespace}/{name}/versions/{ref}/yank", summary="Yank a version")
async def yank_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam, name: NameParam,
                     ref: RefParam, body: Reason = None) -> VersionSummary:
    """Withdraw a version: it is never served again (restore undoes this)."""
    return await _lifecycle(context, principal, "yank", namespace, name, ref, (body or ReasonRequest()).reason)


@router.post("/tools/{namespace}/{name}/versions/{ref}/restore", summary="Restore a version")
async def restore_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam, name: NameParam,
                        ref: RefParam, body: Reason = None) -> VersionSummary:
    """deprecated or yanked → active."""
    return await _lifecycle(context, principal, "restore", namespace, name, ref, (body or ReasonRequest()).reason)


@router.put("/tools/{namespace}/{name}/aliases/{alias}", summary="Set an alias")
async def set_alias_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam, name: NameParam,
                          alias: AliasParam, body: AliasRequest) -> VersionSummary:
    """Point ``alias`` at a version; answers with the version it now names."""
    check_write(principal, namespace)
    return await run_in_threadpool(lambda: context.services.curator.set_alias(
        namespace, name, alias, body.ref, actor=actor_of(principal), reason=body.reason))


@router.delete("/tools/{namespace}/{name}/aliases/{alias}", status_code=204, summary="Delete an alias")
async def delete_alias_route(context: ContextDep, principal: CuratorKey, namespace: NamespaceParam,
                             name: NameParam, alias: AliasParam) -> Response:
    """Remove an alias."""
    check_write(principal, namespace)
    await run_in_threadpool(context.services.curator.delete_alias, namespace, name, alias,
                            actor=actor_of(principal))
    return Response(status_code=204)


@router.put("/pins/{scope}/{namespace}/{name}", summary="Pin a tool for a scope")
async def pin_route(context: ContextDep, principal: CuratorKey, scope: ScopeParam, namespace: NamespaceParam,
                    name: NameParam, body: AliasRequest) -> PinOut:
    """Serve this version of the tool to ``scope`` whatever the aliases say."""
    check_write(principal, namespace)
    version = await run_in_threadpool(lambda: context.services.curator.pin(
        scope, namespace, name, body.ref, actor=actor_of(principal), reason=body.reason))
    return PinOut(scope=scope, namespace=namespace, name=name, version=version)


@router.delete("/pins/{scope}/{namespace}/{name}", status_code=204, summary="Unpin a tool for a scope")
async def unpin_route(context: ContextDep, principal: CuratorKey, scope: ScopeParam, namespace: NamespaceParam,
                      name: NameParam) -> Response:
    """Remove a pin."""
    check_write(principal, namespace)
    await run_in_threadpool(context.services.curator.unpin, scope, namespace, name, actor=actor_of(principal))
    return Response(status_code=204)
