"""Read side of the registry: listings, details, version refs and the served toolbox.

``list_tools`` pages by an opaque cursor over the stable order ``(namespace, name)``;
``served_tools`` resolves the serving rule (see ``registry.service.refs``) for every tool in a
fixed number of bulk queries, whatever the registry's size (MCP ``tools/list`` calls it).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple
from typing import cast as typed

from sqlalchemy import ColumnElement, and_, cast, false, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer, load_only
from sqlmodel import Session, col, select

from registry.db import is_postgres, read_session
from registry.errors import InvalidRequest
from registry.models import Tool, ToolAlias, ToolPin, ToolVersion, VersionLink, VersionStatus
from registry.schemas import (
    LinkSummary,
    Page,
    ResolvedTool,
    ToolDetail,
    ToolSummary,
    VersionDetail,
    VersionSummary,
)
from registry.service.refs import (
    SERVABLE,
    STABLE,
    choose_served,
    load_tool,
    resolve_ref,
    semver_key,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "decode_cursor",
    "encode_cursor",
    "get_tool",
    "get_version",
    "list_tools",
    "list_versions",
    "resolve_tool",
    "served_tools",
]

MAX_PAGE_SIZE = 500
_CHUNK = 500  # ids per IN (...) list; far below SQLite's and PostgreSQL's parameter limits
_SUMMARY_FIELDS = ("id", "tool_id", "semver", "major", "minor", "patch", "status", "content_hash", "description",
                   "flagged", "created_at", "created_by", "tags")
_SUMMARY_COLUMNS = load_only(*(getattr(ToolVersion, field) for field in _SUMMARY_FIELDS))
_NO_EMBEDDING = defer(*(getattr(ToolVersion, field) for field in ("embedding",)))


class _Light(NamedTuple):
    """The columns the serving rule reads."""

    id: str
    tool_id: str
    status: VersionStatus
    major: int
    minor: int
    patch: int


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start:start + _CHUNK])


def encode_cursor(namespace: str, name: str) -> str:
    """The opaque cursor that continues a listing after ``namespace.name``."""
    raw = json.dumps({"v": 1, "ns": namespace, "name": name}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The ``(namespace, name)`` a cursor continues after; InvalidRequest if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("unknown cursor version")
        namespace, name = data["ns"], data["name"]
        if not isinstance(namespace, str) or not isinstance(name, str):
            raise ValueError("cursor fields are not strings")
    except (ValueError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous page "
                             "unchanged, or omit it to start from the first page") from exc
    return namespace, name


def _status(status: str | VersionStatus | None) -> VersionStatus | None:
    if status is None:
        return None
    try:
        return VersionStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in VersionStatus)
        raise InvalidRequest(f"unknown status {status!r}; use one of: {allowed}") from None


def _has_tag(engine: Engine, tag: str) -> ColumnElement[bool]:
    """SQL: the tool has a non-yanked version tagged ``tag`` (JSON containment per dialect)."""
    if is_postgres(engine):
        tagged: ColumnElement[bool] = cast(ToolVersion.tags, JSONB).contains([tag])
    else:
        each = func.json_each(ToolVersion.tags).table_valued("value")
        tagged = select(each.c.value).where(each.c.value == tag).exists()
    return (select(ToolVersion.id)
            .where(ToolVersion.tool_id == Tool.id, ToolVersion.status != VersionStatus.yanked, tagged)
            .exists())


def list_tools(engine: Engine, *, namespace: str | None = None, visible_namespaces: Sequence[str] | None = None,
               status: str | VersionStatus | None = None, tag: str | None = None, cursor: str | None = None,
               limit: int = 50) -> Page[ToolSummary]:
    """One page of tools ordered by ``(namespace, name)``.

    ``namespace`` keeps one namespace; ``visible_namespaces`` keeps those a caller may see (None: all,
    an empty sequence: none); ``status`` keeps tools with a version in that status; ``tag`` keeps tools
    with a non-yanked version carrying that tag. Pass ``next_cursor`` back for the next page.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    wanted = _status(status)
    stmt = select(Tool)
    if namespace is not None:
        stmt = stmt.where(Tool.namespace == namespace)
    if visible_namespaces is not None:
        visible = list(visible_namespaces)
        stmt = stmt.where(col(Tool.namespace).in_(visible) if visible else false())
    if wanted is not None:
        stmt = stmt.where(select(ToolVersion.id).where(ToolVersion.tool_id == Tool.id,
                                                       ToolVersion.status == wanted).exists())
    if tag is not None:
        stmt = stmt.where(_has_tag(engine, tag))
    if cursor:
        after_ns, after_name = decode_cursor(cursor)
        stmt = stmt.where(or_(col(Tool.namespace) > after_ns,
                              and_(col(Tool.namespace) == after_ns, col(Tool.name) > after_name)))
    stmt = stmt.order_by(col(Tool.namespace), col(Tool.name)).limit(limit + 1)
    with read_session(engine) as session:
        tools = list(session.exec(stmt).all())
        more = len(tools) > limit
        tools = tools[:limit]
        items = _summaries(session, tools)
    next_cursor = encode_cursor(tools[-1].namespace, tools[-1].name) if more else None
    return Page[ToolSummary](items=items, next_cursor=next_cursor)


def _summaries(session: Session, tools: Sequence[Tool]) -> list[ToolSummary]:
    """ToolSummary of each tool, in order, from two bulk queries."""
    ids = [t.id for t in tools]
    versions: dict[str, list[ToolVersion]] = defaultdict(list)
    aliases: dict[str, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for v in session.exec(select(ToolVersion).options(_SUMMARY_COLUMNS)
                              .where(col(ToolVersion.tool_id).in_(chunk))).all():
            versions[v.tool_id].append(v)
        for a in session.exec(select(ToolAlias).where(col(ToolAlias.tool_id).in_(chunk))).all():
            aliases[a.tool_id][a.alias] = a.version_id
    return [_summary(tool, versions[tool.id], aliases[tool.id]) for tool in tools]


def _summary(tool: Tool, versions: list[ToolVersion], aliases: dict[str, str]) -> ToolSummary:
    ordered = sorted(versions, key=semver_key)
    semvers = {v.id: v.semver for v in ordered}
    served = choose_served(ordered, stable_id=aliases.get(STABLE))
    described = served or (ordered[-1] if ordered else None)
    tags = sorted({t for v in ordered if v.status != VersionStatus.yanked for t in v.tags})
    return ToolSummary(
        id=tool.id, namespace=tool.namespace, name=tool.name,
        description=described.description if described else "",
        latest=VersionSummary.of(served, tool.namespace, tool.name) if served else None,
        version_count=len(ordered),
        aliases={alias: semvers[vid] for alias, vid in sorted(aliases.items()) if vid in semvers},
        tags=tags,
    )


def get_tool(engine: Engine, namespace: str, name: str) -> ToolDetail:
    """A tool with its served version, aliases, all versions (ascending semver) and pins."""
    with read_session(engine) as session:
        tool = load_tool(session, namespace, name)
        summary = _summaries(session, [tool])[0]
        versions = sorted(session.exec(select(ToolVersion).options(_SUMMARY_COLUMNS)
                                       .where(ToolVersion.tool_id == tool.id)).all(), key=semver_key)
        pins = session.exec(select(ToolPin).where(ToolPin.tool_id == tool.id).order_by(col(ToolPin.scope))).all()
    semvers = {v.id: v.semver for v in versions}
    return ToolDetail(**summary.model_dump(),
                      versions=[VersionSummary.of(v, namespace, name) for v in versions],
                      pins={p.scope: semvers[p.version_id] for p in pins if p.version_id in semvers})


def list_versions(engine: Engine, namespace: str, name: str) -> list[VersionSummary]:
    """Every version of ``namespace.name``, ascending by semver."""
    with read_session(engine) as session:
        tool = load_tool(session, namespace, name)
        versions = session.exec(select(ToolVersion).options(_SUMMARY_COLUMNS)
                                .where(ToolVersion.tool_id == tool.id)).all()
    return [VersionSummary.of(v, namespace, name) for v in sorted(versions, key=semver_key)]


def get_version(engine: Engine, namespace: str, name: str, ref: str) -> VersionDetail:
    """The version ``ref`` (id, semver, alias or ``latest``) names, with its links."""
    with read_session(engine) as session:
        tool = load_tool(session, namespace, name)
        version = resolve_ref(session, tool, ref)
        links = _links(session, [version.id])
    return VersionDetail.of_version(version, namespace, name, links.get(version.id, []))


def _names(session: Session, version_ids: Iterable[str]) -> dict[str, tuple[str, VersionStatus]]:
    """``version id -> ("ns.name@semver", status)`` in bulk."""
    out: dict[str, tuple[str, VersionStatus]] = {}
    for chunk in _chunks(sorted(set(version_ids))):
        rows = session.execute(sa_select(col(ToolVersion.id), col(ToolVersion.semver), col(ToolVersion.status),
                                         col(Tool.namespace), col(Tool.name))
                               .join(Tool, col(Tool.id) == col(ToolVersion.tool_id))
                               .where(col(ToolVersion.id).in_(chunk))).all()
        for vid, semver, status, ns, name in rows:
            out[str(vid)] = (f"{ns}.{name}@{semver}", VersionStatus(str(status)))
    return out


def _links(session: Session, version_ids: Sequence[str]) -> dict[str, list[LinkSummary]]:
    """Links touching each version: its own, and others' pointing at it (``detail.direction = incoming``)."""
    wanted = set(version_ids)
    found: list[tuple[str, VersionLink, str, dict[str, Any]]] = []
    seen: set[str] = set()
    for chunk in _chunks(sorted(wanted)):
        rows = session.exec(select(VersionLink).where(or_(col(VersionLink.version_id).in_(chunk),
                                                          col(VersionLink.other_id).in_(chunk)))
                            .order_by(col(VersionLink.created_at), col(VersionLink.id))).all()
        for link in rows:
            if link.id in seen:
                continue
            seen.add(link.id)
            if link.version_id in wanted:
                found.append((link.version_id, link, link.other_id, dict(link.detail)))
            if link.other_id in wanted and link.other_id != link.version_id:
                found.append((link.other_id, link, link.version_id, {**link.detail, "direction": "incoming"}))
    names = _names(session, (other for _, _, other, _ in found))
    out: dict[str, list[LinkSummary]] = defaultdict(list)
    for owner, link, other, detail in found:
        out[owner].append(LinkSummary(kind=link.kind, other_id=other, other=names.get(other, ("?", None))[0],
                                      detail=detail))
    return dict(out)


def resolve_tool(engine: Engine, namespace: str, name: str, *, scope: str | None = None,
                 scopes: Sequence[str] = ()) -> ResolvedTool | None:
    """The version ``namespace.name`` serves to ``scope`` or ``scopes`` (serving rule); None if it serves none.

    ``scopes`` are pin scopes, most specific first (see ``served_tools``); ``scope`` is one scope.
    Raises NotFound when there is no such tool.
    """
    with read_session(engine) as session:
        tool = load_tool(session, namespace, name)
        resolved = _resolve_many(session, [tool], scopes=_scopes(scope, scopes), all_tools=False)
    return resolved[0] if resolved else None


def served_tools(engine: Engine, *, namespaces: Sequence[str] | None = None, scope: str | None = None,
                 scopes: Sequence[str] = ()) -> list[ResolvedTool]:
    """Every tool that serves a version, one entry each, ordered by ``(namespace, name)``.

    ``namespaces`` None means all (an empty sequence: none). ``scopes`` are the pin scopes that
    apply, most specific first (an API key id, then a toolset name): the first servable pin wins;
    ``scope`` is the one-scope form. The query count does not grow with the number of tools beyond
    one query per 500 served versions.
    """
    stmt = select(Tool).order_by(col(Tool.namespace), col(Tool.name))
    if namespaces is not None:
        if not namespaces:
            return []
        stmt = stmt.where(col(Tool.namespace).in_(list(namespaces)))
    with read_session(engine) as session:
        tools = session.exec(stmt).all()
        return _resolve_many(session, tools, scopes=_scopes(scope, scopes), all_tools=namespaces is None)


def _scopes(scope: str | None, scopes: Sequence[str]) -> tuple[str, ...]:
    """``scope`` and ``scopes`` as one priority-ordered tuple without repeats."""
    return tuple(dict.fromkeys([*([scope] if scope is not None else []), *scopes]))


def _resolve_many(session: Session, tools: Sequence[Tool], *, scopes: tuple[str, ...],
                  all_tools: bool) -> list[ResolvedTool]:
    """Apply the serving rule to ``tools`` with bulk loads (``all_tools``: no id filter needed)."""
    ids = [t.id for t in tools]
    light: dict[str, list[_Light]] = defaultdict(list)
    stable: dict[str, str] = {}
    pins: dict[str, dict[str, str]] = defaultdict(dict)  # tool id -> scope -> version id
    light_q = (sa_select(col(ToolVersion.id), col(ToolVersion.tool_id), col(ToolVersion.status),
                         col(ToolVersion.major), col(ToolVersion.minor), col(ToolVersion.patch))
               .where(col(ToolVersion.status).in_(list(SERVABLE))))
    stable_q = select(ToolAlias.tool_id, ToolAlias.version_id).where(ToolAlias.alias == STABLE)
    pin_q = select(ToolPin.tool_id, ToolPin.scope, ToolPin.version_id).where(col(ToolPin.scope).in_(list(scopes)))
    batches = [None] if all_tools else list(_chunks(ids))
    for chunk in batches:
        lq, sq, pq = light_q, stable_q, pin_q
        if chunk is not None:
            lq = lq.where(col(ToolVersion.tool_id).in_(chunk))
            sq = sq.where(col(ToolAlias.tool_id).in_(chunk))
            pq = pq.where(col(ToolPin.tool_id).in_(chunk))
        rows = typed("list[tuple[str, str, str, int, int, int]]", session.execute(lq).all())
        for vid, tid, status, major, minor, patch in rows:
            light[tid].append(_Light(vid, tid, VersionStatus(status), major, minor, patch))
        stable.update(dict(session.exec(sq).all()))
        if scopes:
            for tid, pin_scope, vid in session.exec(pq).all():
                pins[tid][pin_scope] = vid
    chosen: dict[str, str] = {}
    for tool in tools:
        tool_pins = pins.get(tool.id, {})
        pick = choose_served(light.get(tool.id, []), stable_id=stable.get(tool.id),
                             pin_ids=[tool_pins.get(s) for s in scopes])
        if pick is not None:
            chosen[tool.id] = pick.id
    full: dict[str, ToolVersion] = {}
    for chunk in _chunks(list(chosen.values())):
        for v in session.exec(select(ToolVersion).options(_NO_EMBEDDING)
                              .where(col(ToolVersion.id).in_(chunk))).all():
            full[v.id] = v
    links = _links(session, list(full))
    replacements = _names(session, (v.replacement_id for v in full.values() if v.replacement_id))
    out: list[ResolvedTool] = []
    for tool in tools:
        if tool.id not in chosen:
            continue
        version = full[chosen[tool.id]]
        deprecated = version.status == VersionStatus.deprecated
        replacement = replacements.get(version.replacement_id or "")
        out.append(ResolvedTool(
            tool_id=tool.id, namespace=tool.namespace, name=tool.name,
            version=VersionDetail.of_version(version, tool.namespace, tool.name, links.get(version.id, [])),
            deprecated=deprecated,
            replacement=replacement[0] if replacement and replacement[1] != VersionStatus.yanked else None,
        ))
    return out
