"""Clusters of similar tools, from the dedup data the registry already stores (no new computation).

Three relations link two *tools* (never two versions of one tool, which are its history):

- ``similar``: publishing found the other tool's version among the near-duplicate candidates
  (embedding cosine at or above the publisher's threshold, or the same behavioural fingerprint) and
  the differential test did not show them equal (``validation_report.near_duplicates``);
- ``same_behaviour``: live versions with the same behavioural fingerprint;
- ``consolidated``: a version consolidates a version of the other tool (``VersionLink`` ``consolidates``).

Yanked versions take no part. Connected tools form a cluster; a cluster is ``consolidated`` when a
consolidation links it and at most one member still has an active version, else ``open``: the
curator (or ``distillery teach``, which consolidates clusters) has something to merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlalchemy.orm import load_only
from sqlmodel import col, select

from registry.db import read_session
from registry.models import LinkKind, Tool, ToolVersion, VersionLink, VersionStatus
from registry.service.refs import semver_key

__all__ = ["Cluster", "ClusterLink", "ClusterMember", "similar_tool_clusters"]

Relation = Literal["similar", "same_behaviour", "consolidated"]
_FIELDS = tuple(getattr(ToolVersion, name) for name in ("id", "tool_id", "semver", "major", "minor", "patch",
                                                         "status", "fingerprint", "validation_report",
                                                         "description"))


class ClusterMember(BaseModel):
    """One tool of a cluster, shown by its newest version that is not yanked."""

    namespace: str
    name: str
    semver: str
    status: VersionStatus
    description: str


class ClusterLink(BaseModel):
    """Why two tools are in one cluster."""

    a: str = Field(description="namespace.name")
    b: str
    relation: Relation
    detail: str


class Cluster(BaseModel):
    """Tools connected by similarity, equal behaviour or consolidation."""

    members: list[ClusterMember]
    links: list[ClusterLink]
    state: Literal["open", "consolidated"]


class _Groups:
    """Union-find over tool ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        self.parent[item] = root
        return root

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _similar_detail(entry: dict[str, object]) -> str:
    parts = []
    if entry.get("similarity") is not None:
        parts.append(f"embedding cosine {entry['similarity']} at publish")
    if entry.get("same_fingerprint"):
        parts.append("same behaviour fingerprint")
    differential = entry.get("differential")
    if isinstance(differential, dict) and differential.get("mismatches"):
        first = differential["mismatches"][0]
        why = first.get("reason", "outputs differ") if isinstance(first, dict) else first
        parts.append(f"differential test: {why}")
    elif not entry.get("verified"):
        parts.append("not checked in a sandbox")
    return "; ".join(parts) or "near-duplicate candidate at publish"


def similar_tool_clusters(engine: Engine, *, visible_namespaces: Sequence[str] | None = None) -> list[Cluster]:
    """Every cluster of two or more tools the caller may see, largest first."""
    with read_session(engine) as session:
        tool_query = select(Tool)
        if visible_namespaces is not None:
            tool_query = tool_query.where(col(Tool.namespace).in_(list(visible_namespaces)))
        tools = {tool.id: tool for tool in session.exec(tool_query).all()}
        versions = [v for v in session.exec(select(ToolVersion).options(load_only(*_FIELDS))
                                            .where(ToolVersion.status != VersionStatus.yanked)).all()
                    if v.tool_id in tools]
        consolidations = list(session.exec(select(VersionLink.version_id, VersionLink.other_id)
                                           .where(VersionLink.kind == LinkKind.consolidates)).all())
    by_id = {v.id: v for v in versions}
    names = {tool_id: f"{tool.namespace}.{tool.name}" for tool_id, tool in tools.items()}
    edges: dict[tuple[str, str], ClusterLink] = {}

    def link(a: str, b: str, relation: Relation, detail: str) -> None:
        if a == b:
            return
        key = (min(a, b), max(a, b))
        if key not in edges or relation == "consolidated":
            first, second = sorted((names[a], names[b]))
            edges[key] = ClusterLink(a=first, b=second, relation=relation, detail=detail)

    fingerprints: dict[str, str] = {}
    for version in versions:
        for entry in version.validation_report.get("near_duplicates") or []:
            other = by_id.get(str(entry.get("version_id"))) if isinstance(entry, dict) else None
            if other is not None:
                link(version.tool_id, other.tool_id, "similar", _similar_detail(entry))
        if version.fingerprint:
            first = fingerprints.setdefault(version.fingerprint, version.tool_id)
            link(first, version.tool_id, "same_behaviour", "the same outputs on the behavioural probe inputs")
    for child_id, parent_id in consolidations:
        child, parent = by_id.get(child_id), by_id.get(parent_id)
        if child is not None and parent is not None:
            link(child.tool_id, parent.tool_id, "consolidated",
                 f"{names[child.tool_id]}@{child.semver} consolidates {names[parent.tool_id]}@{parent.semver}")
    return _clusters(tools, versions, edges)


def _clusters(tools: dict[str, Tool], versions: Sequence[ToolVersion],
              edges: dict[tuple[str, str], ClusterLink]) -> list[Cluster]:
    groups = _Groups()
    for a, b in edges:
        groups.join(a, b)
    newest: dict[str, ToolVersion] = {}
    active: set[str] = set()
    for version in sorted(versions, key=semver_key):
        newest[version.tool_id] = version
        if version.status == VersionStatus.active:
            active.add(version.tool_id)
    members: dict[str, list[str]] = {}
    for tool_id in groups.parent:
        members.setdefault(groups.find(tool_id), []).append(tool_id)
    clusters = []
    for root, tool_ids in members.items():
        ordered = sorted(tool_ids, key=lambda t: (tools[t].namespace, tools[t].name))
        links = [edge for key, edge in sorted(edges.items()) if groups.find(key[0]) == root]
        consolidated = any(e.relation == "consolidated" for e in links) and len(active & set(tool_ids)) <= 1
        clusters.append(Cluster(
            members=[ClusterMember(namespace=tools[t].namespace, name=tools[t].name, semver=newest[t].semver,
                                   status=newest[t].status, description=newest[t].description) for t in ordered],
            links=links, state="consolidated" if consolidated else "open"))
    clusters.sort(key=lambda c: (c.state != "open", -len(c.members), c.members[0].namespace, c.members[0].name))
    return clusters
