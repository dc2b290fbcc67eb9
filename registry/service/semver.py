"""Semantic versions from schema diffs: which change is major, minor or patch.

The rule table (``input`` schemas are what callers send, so *narrowing* them breaks callers;
``output`` schemas are what callers receive, so any change of the returned type breaks them):

=========================================================  =======
change                                                     kind
=========================================================  =======
input parameter removed                                    major
input parameter renamed (reported as removed + added)      major
new required input parameter                               major
optional input parameter became required                   major
input type narrowed (``number``→``integer``, dropped type)  major
input type changed to an unrelated type                    major
input enum member removed / enum added to a free value     major
input bound tightened or added (minimum, maxLength, ...)   major
input ``additionalProperties`` closed (true → false)       major
output type or schema changed / output schema removed      major
new optional input parameter                               minor
required input parameter became optional                   minor
input type widened (``integer``→``number``, added type)    minor
input enum member added / enum dropped                     minor
input bound loosened or removed                            minor
input ``additionalProperties`` opened                      minor
input default value changed                                minor
output schema added where there was none                   minor
code changed, schemas equal but for prose (see below)      patch
nothing changed                                            none
=========================================================  =======

The rules apply recursively to array ``items`` and nested object ``properties``. Types are
read from ``type`` (a string or a list) and from ``anyOf``/``oneOf`` branches (``Optional[int]``);
a schema with neither accepts anything. The overall kind is the most severe single change.

Prose is the keywords ``title``, ``description`` and ``examples`` where they are keywords of a
schema (``toolbox.analysis.prose``): changing them is never more than a patch. A *property* that
happens to be named ``title`` is a property like any other, and removing it is a change.
"""

from __future__ import annotations

import json
from typing import Any

from registry.schemas import ChangeKind, SchemaChange
from toolbox.analysis.prose import strip_schema_prose

__all__ = ["RANK", "bump", "classify_change", "describe_changes", "parse_semver"]

RANK: dict[ChangeKind, int] = {"none": 0, "patch": 1, "minor": 2, "major": 3}
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_ANY = frozenset({"*"})


def parse_semver(semver: str) -> tuple[int, int, int]:
    """``"1.2.3"`` → ``(1, 2, 3)``; raises ``ValueError`` for anything else."""
    parts = semver.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a semantic version (MAJOR.MINOR.PATCH): {semver!r}")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def bump(semver: str, change: ChangeKind) -> str:
    """The version after ``semver`` for a change of kind ``change`` (``none`` keeps it)."""
    major, minor, patch = parse_semver(semver)
    if change == "major":
        return f"{major + 1}.0.0"
    if change == "minor":
        return f"{major}.{minor + 1}.0"
    if change == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return semver


def classify_change(old_input: dict[str, Any], old_output: dict[str, Any] | None, new_input: dict[str, Any],
                    new_output: dict[str, Any] | None, *, code_changed: bool) -> tuple[ChangeKind, list[SchemaChange]]:
    """Classify the change from the old schemas to the new ones (see the module's rule table)."""
    changes: list[SchemaChange] = []
    _compare_input(old_input, new_input, "input", changes)
    _compare_output(old_output, new_output, changes)
    if not changes and code_changed:
        changes.append(SchemaChange(kind="patch", path="source", message="code changed; schemas are unchanged"))
    kind: ChangeKind = "none"
    for change in changes:
        if RANK[change.kind] > RANK[kind]:
            kind = change.kind
    return kind, changes


def describe_changes(changes: list[SchemaChange]) -> str:
    """A changelog paragraph: one line per change, most severe first."""
    ordered = sorted(changes, key=lambda c: -RANK[c.kind])
    return "\n".join(f"- {c.kind}: {c.message}" for c in ordered)


def _types(schema: dict[str, Any]) -> frozenset[str]:
    """The JSON types ``schema`` accepts; ``{"*"}`` when unconstrained."""
    found: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(str(t) for t in declared)
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            if isinstance(branch, dict):
                branch_types = _types(branch)
                if branch_types == _ANY:
                    return _ANY
                found.update(branch_types)
    return frozenset(found) if found else _ANY


def _accepts(wide: frozenset[str], narrow: frozenset[str]) -> bool:
    """Whether every value of the types ``narrow`` is a value of the types ``wide``."""
    if wide == _ANY:
        return True
    if narrow == _ANY:
        return False
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _fmt(types: frozenset[str]) -> str:
    return "any" if types == _ANY else "|".join(sorted(types))


def _compare_input(old: dict[str, Any], new: dict[str, Any], path: str, out: list[SchemaChange]) -> None:
    """Input rules: narrowing breaks callers (major), widening is compatible (minor)."""
    old_types, new_types = _types(old), _types(new)
    if old_types != new_types:
        if _accepts(new_types, old_types):
            out.append(SchemaChange(kind="minor", path=path,
                                    message=f"{path} type widened from {_fmt(old_types)} to {_fmt(new_types)}"))
        elif _accepts(old_types, new_types):
            out.append(SchemaChange(kind="major", path=path,
                                    message=f"{path} type narrowed from {_fmt(old_types)} to {_fmt(new_types)}"))
        else:
            out.append(SchemaChange(kind="major", path=path,
                                    message=f"{path} type changed from {_fmt(old_types)} to {_fmt(new_types)}"))
    _compare_enum(old, new, path, out)
    _compare_bounds(old, new, path, out)
    if "default" in old and "default" in new and old["default"] != new["default"]:
        out.append(SchemaChange(kind="minor", path=f"{path}.default",
                                message=f"{path} default changed from {old['default']!r} to {new['default']!r}"))
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        _compare_input(old["items"], new["items"], f"{path}.items", out)
    _compare_properties(old, new, path, out)


def _compare_enum(old: dict[str, Any], new: dict[str, Any], path: str, out: list[SchemaChange]) -> None:
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if old_enum is None and new_enum is None:
        return
    if old_enum is None:
        out.append(SchemaChange(kind="major", path=f"{path}.enum", message=f"{path} restricted to {new_enum!r}"))
        return
    if new_enum is None:
        out.append(SchemaChange(kind="minor", path=f"{path}.enum", message=f"{path} no longer restricted to an enum"))
        return
    old_keys = {json.dumps(v, sort_keys=True) for v in old_enum}
    new_keys = {json.dumps(v, sort_keys=True) for v in new_enum}
    if old_keys - new_keys:
        out.append(SchemaChange(kind="major", path=f"{path}.enum",
                                message=f"{path} enum members removed: {sorted(old_keys - new_keys)}"))
    if new_keys - old_keys:
        out.append(SchemaChange(kind="minor", path=f"{path}.enum",
                                message=f"{path} enum members added: {sorted(new_keys - old_keys)}"))


def _compare_bounds(old: dict[str, Any], new: dict[str, Any], path: str, out: list[SchemaChange]) -> None:
    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        lower = key in _LOWER_BOUNDS
        if before is None:
            tightened = True
        elif after is None:
            tightened = False
        else:
            tightened = after > before if lower else after < before
        out.append(SchemaChange(kind="major" if tightened else "minor", path=f"{path}.{key}",
                                message=f"{path} {key} {'tightened' if tightened else 'loosened'}: "
                                        f"{before!r} -> {after!r}"))
    before_ap, after_ap = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if before_ap is not False and after_ap is False:
        out.append(SchemaChange(kind="major", path=f"{path}.additionalProperties",
                                message=f"{path} no longer accepts additional properties"))
    elif before_ap is False and after_ap is not False:
        out.append(SchemaChange(kind="minor", path=f"{path}.additionalProperties",
                                message=f"{path} now accepts additional properties"))


def _compare_properties(old: dict[str, Any], new: dict[str, Any], path: str, out: list[SchemaChange]) -> None:
    old_props: dict[str, Any] = old.get("properties") or {}
    new_props: dict[str, Any] = new.get("properties") or {}
    old_req, new_req = set(old.get("required") or []), set(new.get("required") or [])
    removed = [n for n in old_props if n not in new_props]
    added = [n for n in new_props if n not in old_props]
    renamed: dict[str, str] = {}
    for gone in removed:  # one removed + one added with the same schema reads as a rename
        gone_schema = strip_schema_prose(old_props[gone])
        match = [a for a in added if a not in renamed.values() and gone_schema == strip_schema_prose(new_props[a])]
        if len(match) == 1:
            renamed[gone] = match[0]
    for gone in removed:
        if gone in renamed:
            out.append(SchemaChange(kind="major", path=f"{path}.properties.{gone}",
                                    message=f"parameter {gone!r} renamed to {renamed[gone]!r}"))
        else:
            out.append(SchemaChange(kind="major", path=f"{path}.properties.{gone}",
                                    message=f"parameter {gone!r} removed"))
    for name in added:
        if name in renamed.values():
            continue
        required = name in new_req
        out.append(SchemaChange(kind="major" if required else "minor", path=f"{path}.properties.{name}",
                                message=f"new {'required' if required else 'optional'} parameter {name!r}"))
    for name in old_props:
        if name not in new_props:
            continue
        sub = f"{path}.properties.{name}"
        if name in new_req and name not in old_req:
            out.append(SchemaChange(kind="major", path=sub, message=f"parameter {name!r} is now required"))
        elif name in old_req and name not in new_req:
            out.append(SchemaChange(kind="minor", path=sub, message=f"parameter {name!r} is now optional"))
        if isinstance(old_props[name], dict) and isinstance(new_props[name], dict):
            _compare_input(old_props[name], new_props[name], sub, out)


def _compare_output(old: dict[str, Any] | None, new: dict[str, Any] | None, out: list[SchemaChange]) -> None:
    """Output rules: any change of what callers receive is major; declaring one is minor."""
    if old is None and new is None:
        return
    if old is None:
        out.append(SchemaChange(kind="minor", path="output", message="output schema declared"))
        return
    if new is None:
        out.append(SchemaChange(kind="major", path="output", message="output schema removed"))
        return
    if strip_schema_prose(old) != strip_schema_prose(new):
        before, after = _describe(old), _describe(new)
        message = (f"output type changed from {before} to {after}" if before != after
                   else f"output schema changed (still {before}): properties, bounds or constraints differ")
        out.append(SchemaChange(kind="major", path="output", message=message))


def _describe(schema: dict[str, Any]) -> str:
    types = _types(schema)
    if types == {"array"} and isinstance(schema.get("items"), dict):
        return f"array of {_describe(schema['items'])}"
    return _fmt(types)
