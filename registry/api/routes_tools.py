"""Read routes: tools, versions, diff, search, usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from registry.api.deps import (
    REF_PATTERN,
    ContextDep,
    NameParam,
    NamespaceParam,
    Reader,
    RefParam,
    check_read,
    visible_namespaces,
)
from registry.api.problems import PROBLEM_RESPONSES
from registry.models import VersionStatus
from registry.schemas import (
    Page,
    SearchHit,
    ToolDetail,
    ToolSummary,
    VersionDetail,
    VersionDiff,
    VersionSummary,
    VersionUsage,
)
from registry.service.diff import diff_versions
from registry.service.queries import get_tool, get_version, list_tools, list_versions
from registry.service.usage import usage_for_tool
from toolbox.spec import NAME_PATTERN

__all__ = ["MAX_PAGE", "MAX_SEARCH_K", "SearchResults", "router"]

MAX_PAGE = 200
MAX_SEARCH_K = 100

router = APIRouter(tags=["tools"], responses={401: PROBLEM_RESPONSES[401], 404: PROBLEM_RESPONSES[404],
                                              422: PROBLEM_RESPONSES[422]})


class SearchResults(BaseModel):
    """Search hits, best first."""

    query: str
    items: list[SearchHit]


@router.get("/tools", summary="List tools")
def list_tools_route(
    context: ContextDep,
    principal: Reader,
    namespace: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    status: Annotated[VersionStatus | None, Query(description="Only tools with a version in this status.")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Page[ToolSummary]:
    """One page of the tools the caller may see; pass ``next_cursor`` back as ``cursor`` for the next."""
    return list_tools(context.services.engine, namespace=namespace, visible_namespaces=visible_namespaces(principal),
                      status=status, tag=tag, cursor=cursor, limit=limit)


@router.get("/tools/{namespace}/{name}", summary="Show a tool")
def get_tool_route(context: ContextDep, principal: Reader, namespace: NamespaceParam, name: NameParam) -> ToolDetail:
    """A tool with its versions, aliases and pins."""
    check_read(principal, namespace, name)
    return get_tool(context.services.engine, namespace, name)


@router.get("/tools/{namespace}/{name}/versions", summary="List a tool's versions")
def list_versions_route(context: ContextDep, principal: Reader, namespace: NamespaceParam,
                        name: NameParam) -> list[VersionSummary]:
    """Every version of a tool, ascending by semver."""
    check_read(principal, namespace, name)
    return list_versions(context.services.engine, namespace, name)


@router.get("/tools/{namespace}/{name}/versions/{ref}", summary="Show a version")
def get_version_route(context: ContextDep, principal: Reader, namespace: NamespaceParam, name: NameParam,
                      ref: RefParam) -> VersionDetail:
    """One version with its source, schemas, tests, provenance and validation report."""
    check_read(principal, namespace, name)
    return get_version(context.services.engine, namespace, name, ref)


@router.get("/tools/{namespace}/{name}/diff", summary="Diff two versions")
def diff_route(
    context: ContextDep,
    principal: Reader,
    namespace: NamespaceParam,
    name: NameParam,
    base: Annotated[str, Query(pattern=REF_PATTERN, description="The older version (any ref).")],
    head: Annotated[str, Query(pattern=REF_PATTERN, description="The newer version (any ref).")],
) -> VersionDiff:
    """Source diff, schema changes and their semver classification."""
    check_read(principal, namespace, name)
    return diff_versions(context.services.engine, namespace, name, base, head)


@router.get("/tools/{namespace}/{name}/usage", summary="Usage of a tool")
def usage_route(context: ContextDep, principal: Reader, namespace: NamespaceParam,
                name: NameParam) -> list[VersionUsage]:
    """Calls, errors and latency per version."""
    check_read(principal, namespace, name)
    return usage_for_tool(context.services.engine, namespace, name)


@router.get("/search", summary="Search tools")
def search_route(
    context: ContextDep,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What the tool should do.")],
    k: Annotated[int, Query(ge=1, le=MAX_SEARCH_K)] = 10,
    namespace: Annotated[list[str] | None, Query(description="Limit to these namespaces.")] = None,
    status: Annotated[list[VersionStatus] | None, Query(description="Default: active and deprecated.")] = None,
    tag: Annotated[list[str] | None, Query(description="Only versions with one of these tags.")] = None,
) -> SearchResults:
    """Hybrid (BM25 + embedding) search over the versions the caller may see."""
    namespaces = visible_namespaces(principal)
    if namespace:
        namespaces = [ns for ns in namespace if namespaces is None or ns in namespaces]
        if not namespaces:
            return SearchResults(query=q, items=[])
    statuses = tuple(status) if status else (VersionStatus.active, VersionStatus.deprecated)
    hits = context.services.index.search(q, k=k, namespaces=namespaces, statuses=statuses, tags=tag or None)
    return SearchResults(query=q, items=hits)
