"""Version references and the serving rule, shared by queries, curation and diff.

A *ref* names one version of a tool and is one of:

- ``"latest"`` — the version the tool serves by default (the serving rule without a scope), so
  ``get_version(..., "latest")`` always equals ``ToolSummary.latest``;
- a semver ``"1.2.0"``;
- a version id (32 hex characters) of a version of this tool;
- an alias (``"stable"``, ``"candidate"``, ...).

Serving rule: pin for the caller's scope > alias ``stable`` > highest-semver active >
highest-semver deprecated. A caller can have two scopes, most specific first: its API key id and
the toolset whose endpoint it calls (``/mcp/<toolset>``), so a key's pin wins over the toolset's.
Draft and yanked versions are never served: a pin or alias that points at one is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol, TypeVar, cast

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from registry.errors import InvalidRequest, NotFound
from registry.models import Tool, ToolAlias, ToolPin, ToolVersion, VersionStatus

__all__ = [
    "ALIAS_PATTERN",
    "LATEST",
    "SERVABLE",
    "STABLE",
    "VersionLike",
    "choose_served",
    "describe_versions",
    "load_tool",
    "qualified",
    "resolve_ref",
    "semver_key",
    "served_version",
    "split_target",
]

LATEST = "latest"
STABLE = "stable"
SERVABLE = frozenset({VersionStatus.active, VersionStatus.deprecated})
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_VERSION_ID = re.compile(r"^[0-9a-f]{32}$")
_TARGET = re.compile(r"^(?P<ns>[a-z][a-z0-9_]{0,63})\.(?P<name>[a-z][a-z0-9_]{0,63})(?:@(?P<ref>[^@\s]+))?$")


class VersionLike(Protocol):
    """What the serving rule needs to know about a version."""

    @property
    def id(self) -> str:
        ...

    @property
    def status(self) -> VersionStatus:
        ...

    @property
    def major(self) -> int:
        ...

    @property
    def minor(self) -> int:
        ...

    @property
    def patch(self) -> int:
        ...


V = TypeVar("V", bound=VersionLike)


def semver_key(version: VersionLike) -> tuple[int, int, int]:
    """Sort key of a version: ``(major, minor, patch)`` as integers (so 1.10.0 > 1.9.0)."""
    return version.major, version.minor, version.patch


def choose_served(versions: Iterable[V], *, stable_id: str | None = None,
                  pin_ids: Sequence[str | None] = ()) -> V | None:
    """The version served among ``versions`` of one tool (see the module docstring), or None.

    ``pin_ids`` are the caller's pins, most specific first (an API key's, then its toolset's); a
    pin at a version that cannot be served is skipped like a missing one.
    """
    servable = {v.id: v for v in versions if v.status in SERVABLE}
    for pointer in (*pin_ids, stable_id):
        if pointer is not None and pointer in servable:
            return servable[pointer]
    for status in (VersionStatus.active, VersionStatus.deprecated):
        candidates = [v for v in servable.values() if v.status == status]
        if candidates:
            return max(candidates, key=semver_key)
    return None


def qualified(tool: Tool, version: ToolVersion | None = None) -> str:
    """``namespace.name`` or ``namespace.name@semver``."""
    name = f"{tool.namespace}.{tool.name}"
    return f"{name}@{version.semver}" if version is not None else name


def split_target(target: str) -> tuple[str, str, str]:
    """``"ns.name@ref"`` → ``(ns, name, ref)``; a missing ``@ref`` means ``"latest"``."""
    match = _TARGET.match(target.strip())
    if match is None:
        raise InvalidRequest(f"not a version reference: {target!r}; expected namespace.name@ref, "
                             "e.g. math.add@1.2.0, math.add@stable or math.add@latest")
    return match["ns"], match["name"], match["ref"] or LATEST


def load_tool(session: Session, namespace: str, name: str) -> Tool:
    """The tool ``namespace.name``; NotFound says which tools the namespace has."""
    tool = session.exec(select(Tool).where(Tool.namespace == namespace, Tool.name == name)).first()
    if tool is not None:
        return tool
    names = session.exec(select(Tool.name).where(Tool.namespace == namespace).order_by(col(Tool.name))
                         .limit(21)).all()
    if not names:
        raise NotFound(f"no tool {namespace}.{name}: namespace {namespace!r} has no tools")
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise NotFound(f"no tool {namespace}.{name}; tools in {namespace!r}: {listed}")


def describe_versions(session: Session, tool: Tool) -> str:
    """``"versions: 1.0.0, 1.1.0 (draft); aliases: stable → 1.0.0"`` for error messages."""
    rows = sorted(_light_versions(session, tool.id), key=semver_key)
    by_id = {v.id: v.semver for v in rows}
    parts = [v.semver if v.status == VersionStatus.active else f"{v.semver} ({v.status.value})" for v in rows]
    text = "versions: " + (", ".join(parts) if parts else "none")
    aliases = session.exec(select(ToolAlias).where(ToolAlias.tool_id == tool.id)
                           .order_by(col(ToolAlias.alias))).all()
    if aliases:
        text += "; aliases: " + ", ".join(f"{a.alias} → {by_id.get(a.version_id, '?')}" for a in aliases)
    return text


class _Light(NamedTuple):
    id: str
    semver: str
    status: VersionStatus
    major: int
    minor: int
    patch: int


def _light_versions(session: Session, tool_id: str) -> list[_Light]:
    """The versions of a tool without their content (no source, schemas or embedding)."""
    rows = session.execute(sa_select(col(ToolVersion.id), col(ToolVersion.semver), col(ToolVersion.status),
                                     col(ToolVersion.major), col(ToolVersion.minor), col(ToolVersion.patch))
                           .where(col(ToolVersion.tool_id) == tool_id)).all()
    typed = cast("list[tuple[str, str, str, int, int, int]]", rows)
    return [_Light(vid, semver, VersionStatus(status), major, minor, patch)
            for vid, semver, status, major, minor, patch in typed]


def served_version(session: Session, tool: Tool, *, scope: str | None = None) -> ToolVersion | None:
    """The version ``tool`` serves to ``scope`` (None: the default), by the serving rule."""
    stable = session.get(ToolAlias, (tool.id, STABLE))
    pin = session.get(ToolPin, (scope, tool.id)) if scope is not None else None
    pick = choose_served(_light_versions(session, tool.id), stable_id=stable.version_id if stable else None,
                         pin_ids=[pin.version_id if pin else None])
    return session.get(ToolVersion, pick.id) if pick is not None else None


def resolve_ref(session: Session, tool: Tool, ref: str) -> ToolVersion:
    """The version of ``tool`` that ``ref`` names; NotFound says which versions and aliases exist."""
    ref = ref.strip()
    if ref == LATEST:
        version = served_version(session, tool)
        if version is None:
            raise NotFound(f"{qualified(tool)} serves no version yet, so 'latest' names nothing (approve a draft "
                           f"or name a semver); {describe_versions(session, tool)}")
        return version
    if _SEMVER.match(ref):
        found = session.exec(select(ToolVersion).where(ToolVersion.tool_id == tool.id,
                                                       ToolVersion.semver == ref)).first()
        if found is None:
            raise NotFound(f"{qualified(tool)} has no version {ref}; {describe_versions(session, tool)}")
        return found
    if _VERSION_ID.match(ref):
        by_id = session.get(ToolVersion, ref)
        if by_id is not None:
            if by_id.tool_id == tool.id:
                return by_id
            owner = session.get(Tool, by_id.tool_id)
            where = qualified(owner, by_id) if owner else "another tool"
            raise NotFound(f"version id {ref} belongs to {where}, not to {qualified(tool)}")
    alias = session.get(ToolAlias, (tool.id, ref))
    if alias is not None:
        target = session.get(ToolVersion, alias.version_id)
        if target is not None:
            return target
    raise NotFound(f"{qualified(tool)} has no version, alias or version id {ref!r}; "
                   f"{describe_versions(session, tool)}")
