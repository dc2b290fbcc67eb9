"""Diff two versions of a tool: a unified source diff plus the classified schema changes."""

from __future__ import annotations

import difflib

from sqlalchemy.engine import Engine

from registry.db import read_session
from registry.models import ToolVersion
from registry.schemas import VersionDiff, VersionSummary
from registry.service.refs import load_tool, resolve_ref
from registry.service.semver import classify_change

__all__ = ["diff_versions", "source_diff"]


def source_diff(base: str, head: str, *, base_label: str, head_label: str) -> str:
    """A unified diff of two sources ("" when equal); a missing final newline is marked like git does."""
    def lines(text: str) -> list[str]:
        out = text.splitlines(keepends=True)
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
        return out

    return "".join(difflib.unified_diff(lines(base), lines(head), fromfile=base_label, tofile=head_label))


def _code_changed(base: ToolVersion, head: ToolVersion) -> bool:
    return base.ast_hash != head.ast_hash or base.entrypoint != head.entrypoint


def diff_versions(engine: Engine, namespace: str, name: str, base_ref: str, head_ref: str) -> VersionDiff:
    """How ``head_ref`` differs from ``base_ref`` (refs: id, semver, alias or ``latest``).

    The classification is what ``registry.service.semver.classify_change`` says of going from base to
    head; ``code_changed`` means the normalised-AST hash (or the entry point) differs, so edits to
    comments, docstrings or formatting show in the source diff but classify as ``none``.
    """
    with read_session(engine) as session:
        tool = load_tool(session, namespace, name)
        base = resolve_ref(session, tool, base_ref)
        head = resolve_ref(session, tool, head_ref)
    qualified = f"{namespace}.{name}"
    kind, changes = classify_change(base.input_schema, base.output_schema, head.input_schema, head.output_schema,
                                    code_changed=_code_changed(base, head))
    return VersionDiff(
        base=VersionSummary.of(base, namespace, name),
        head=VersionSummary.of(head, namespace, name),
        source_diff=source_diff(base.source, head.source, base_label=f"{qualified}@{base.semver}",
                                head_label=f"{qualified}@{head.semver}"),
        schema_changes=changes,
        classification=kind,
    )
