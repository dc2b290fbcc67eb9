"""Clustering: group a batch's new tools with the box's tools that do closely related things.

Two tools are linked when their embeddings (name, description, parameters) are at least
``threshold`` similar, or when their behavioural fingerprints are equal (whatever the embedder
says). Only links that touch a new tool count, so old box tools are never regrouped on their own.
A group is worth consolidating when it holds behaviourally different members; members with equal
fingerprints are equivalent, and only the first of them stays in the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from registry.service.vectors import embedding_text
from teacher.publishing import BoxTool
from toolbox.embeddings import Embedder
from toolbox.errors import ToolboxError
from toolbox.fingerprint import Fingerprint, fingerprint
from toolbox.logging import get_logger
from toolbox.sandbox.base import Limits, Sandbox

__all__ = ["DEFAULT_THRESHOLD", "MAX_GROUP", "Member", "cluster_tools"]

log = get_logger("teacher.cluster")
DEFAULT_THRESHOLD = 0.8
MAX_GROUP = 5


@dataclass(frozen=True)
class Member:
    """One tool in a cluster, with its fingerprint (None when it could not be taken)."""

    tool: BoxTool
    fingerprint: Fingerprint | None
    new: bool


def _fingerprint(sandbox: Sandbox, tool: BoxTool, limits: Limits | None) -> Fingerprint | None:
    try:
        return fingerprint(sandbox, tool.spec, limits)
    except ToolboxError as exc:
        log.warning("no fingerprint for %s: %s", tool.spec.qualified_name, exc)
        return None


def _same_behaviour(a: Member, b: Member) -> bool:
    return (a.fingerprint is not None and b.fingerprint is not None and a.fingerprint.matchable
            and a.fingerprint.digest == b.fingerprint.digest)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def cluster_tools(sandbox: Sandbox, embedder: Embedder, new: Sequence[BoxTool], box: Sequence[BoxTool], *,
                  limits: Limits | None = None, threshold: float = DEFAULT_THRESHOLD) -> list[list[Member]]:
    """Groups of at least two behaviourally different tools, each holding at least one new tool."""
    new_ids = {tool.version_id for tool in new}
    tools = list({tool.version_id: tool for tool in [*new, *box]}.values())
    if len(tools) < 2:
        return []
    members = [Member(tool, _fingerprint(sandbox, tool, limits), tool.version_id in new_ids) for tool in tools]
    vectors = embedder.embed([embedding_text(tool.spec) for tool in tools])
    similarity = np.asarray(vectors @ vectors.T)
    parent = list(range(len(members)))
    for i, a in enumerate(members):
        for j in range(i + 1, len(members)):
            b = members[j]
            if (a.new or b.new) and (similarity[i, j] >= threshold or _same_behaviour(a, b)):
                parent[_find(parent, i)] = _find(parent, j)
    groups: dict[int, list[Member]] = {}
    for index, member in enumerate(members):
        groups.setdefault(_find(parent, index), []).append(member)
    clusters = []
    for group in groups.values():
        distinct: list[Member] = []
        for member in group:
            if not any(_same_behaviour(member, kept) for kept in distinct):
                distinct.append(member)
        if len(distinct) >= 2 and any(m.new for m in distinct):
            clusters.append(distinct[:MAX_GROUP])
    return clusters
