"""What an import re-checks before it writes anything: a bundle is untrusted input.

The checksums only prove the file is the one that was written; anyone can write one. So every
version goes through what ``Publisher.publish`` checks before it stores one, except running code:

- the record is a valid ``ToolSpec`` (names, source size, tests, tags);
- static analysis of the source under *this* registry's import allowlist (plus the version's own
  ``allowed_imports``, as at publish) passes, and the stored schemas equal those derived from the
  signature (prose aside);
- the normalised-AST hash and the content hash, recomputed, equal the stored ones, and the semver
  string agrees with its parts;
- the poisoning scan of every text a model reads. A version it flags is not refused but comes in
  as a flagged draft, whatever status the bundle gives it, so it waits in this registry's review
  queue (the origin's approval is part of the untrusted file).

Trusted as recorded, because re-deriving them needs the sandbox and they decide nothing unsafe:
the test report at publish, the behavioural fingerprint and the embedding (tool code still runs
only in the sandbox when it is called). The bundle must also be consistent on its own: unique
ids and names, and every reference (a version's tool, a link's versions, an alias's or pin's
version, a replacement) pointing inside it. Every problem found is reported at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import ValidationError

from registry.schemas import ReviewFinding
from registry.service.bundle_format import BundleError
from registry.service.bundle_records import BundleContents, ToolRecord, VersionRecord
from registry.service.poisoning import scan_spec
from registry.service.semver import parse_semver
from toolbox.analysis import check_source, normalized_hash, strip_schema_prose, version_hash
from toolbox.errors import AnalysisError
from toolbox.settings import Settings
from toolbox.spec import ToolSpec, ToolTest

__all__ = ["check_bundle"]

_SHOWN = 5


def check_bundle(contents: BundleContents, settings: Settings) -> dict[str, list[ReviewFinding]]:
    """Check every record; returns the poisoning findings of each version that has some (by version id).

    Raises ``BundleError`` listing the problems when any record fails a check.
    """
    tools = {tool.id: tool for tool in contents.tools}
    problems = _consistency(contents, tools)
    if problems:
        raise _refused(problems)
    neighbours: dict[str, set[str]] = {}
    for version in contents.versions:
        if version.status != "yanked":
            tool = tools[version.tool_id]
            neighbours.setdefault(tool.namespace, set()).add(tool.name)
    findings: dict[str, list[ReviewFinding]] = {}
    for version in contents.versions:
        tool = tools[version.tool_id]
        where = f"{tool.namespace}.{tool.name}@{version.semver}"
        spec, spec_problems = _version_problems(version, tool, settings)
        problems += [f"{where}: {problem}" for problem in spec_problems]
        if spec is not None and not spec_problems:
            found = scan_spec(spec, neighbours=neighbours.get(tool.namespace, set()) - {tool.name})
            if found:
                findings[version.id] = found
    if problems:
        raise _refused(problems)
    return findings


def _refused(problems: list[str]) -> BundleError:
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    return BundleError(f"the bundle fails the checks a publish makes, so nothing was imported: "
                       f"{'; '.join(problems[:_SHOWN])}{more}")


def _repeats(values: Iterable[object]) -> list[str]:
    return sorted(str(value) for value, count in Counter(values).items() if count > 1)


def _consistency(contents: BundleContents, tools: dict[str, ToolRecord]) -> list[str]:
    """References that leave the bundle and ids or names it repeats."""
    versions = {version.id: version for version in contents.versions}
    problems = [f"tool id {value} appears twice" for value in _repeats(t.id for t in contents.tools)]
    problems += [f"tool {value} appears twice" for value in _repeats(f"{t.namespace}.{t.name}" for t in contents.tools)]
    problems += [f"version id {value} appears twice" for value in _repeats(v.id for v in contents.versions)]
    problems += [f"version {value} appears twice"
                 for value in _repeats((v.tool_id, v.semver) for v in contents.versions)]
    problems += [f"content hash {value} appears twice in one tool"
                 for value in _repeats((v.tool_id, v.content_hash) for v in contents.versions)]
    problems += [f"version {v.id} names tool {v.tool_id}, which the bundle lacks"
                 for v in contents.versions if v.tool_id not in tools]
    problems += [f"version {v.id} names replacement {v.replacement_id}, which the bundle lacks"
                 for v in contents.versions if v.replacement_id is not None and v.replacement_id not in versions]
    problems += [f"link {link.id} names a version the bundle lacks" for link in contents.links
                 if link.version_id not in versions or link.other_id not in versions]
    problems += [f"link id {value} appears twice" for value in _repeats(link.id for link in contents.links)]
    for kind, pointers in (("alias", contents.aliases), ("pin", contents.pins)):
        for pointer in pointers:
            target = versions.get(pointer.version_id)
            if target is None or target.tool_id != pointer.tool_id:
                problems.append(f"{kind} on tool {pointer.tool_id} names version {pointer.version_id}, which is not "
                                "a version of that tool in the bundle")
    problems += [f"alias {value} appears twice" for value in _repeats((a.tool_id, a.alias) for a in contents.aliases)]
    problems += [f"pin {value} appears twice" for value in _repeats((p.scope, p.tool_id) for p in contents.pins)]
    problems += [f"trajectory {value} appears twice" for value in _repeats(t.id for t in contents.trajectories)]
    return problems


def _version_problems(version: VersionRecord, tool: ToolRecord,
                      settings: Settings) -> tuple[ToolSpec | None, list[str]]:
    """The spec of ``version`` and what is wrong with it, checked as a publish would."""
    try:
        spec = ToolSpec(namespace=tool.namespace, name=tool.name, description=version.description,
                        source=version.source, entrypoint=version.entrypoint, input_schema=version.input_schema,
                        output_schema=version.output_schema, tests=[ToolTest.model_validate(t) for t in version.tests],
                        allowed_imports=version.allowed_imports, tags=version.tags)
    except ValidationError as exc:
        first = exc.errors()[0]
        return None, [f"not a valid tool ({'.'.join(str(p) for p in first['loc']) or 'spec'}: {first['msg']})"]
    problems: list[str] = []
    try:
        if parse_semver(version.semver) != (version.major, version.minor, version.patch):
            problems.append(f"semver {version.semver!r} disagrees with its parts")
    except ValueError as exc:
        problems.append(f"semver {version.semver!r} is not valid ({exc})")
    allowed = sorted({*settings.sandbox.allowed_imports, *(spec.allowed_imports or [])})
    analysis = check_source(spec.source, spec.entrypoint, allowed)
    if not analysis.ok or analysis.input_schema is None:
        shown = "; ".join(f"line {f.line}: [{f.code}] {f.message}" for f in analysis.findings[:3])
        return spec, [*problems, f"static analysis fails here ({shown or 'no findings'})"]
    if strip_schema_prose(spec.input_schema) != strip_schema_prose(analysis.input_schema):
        problems.append("input_schema disagrees with the source signature")
    if strip_schema_prose(spec.output_schema) != strip_schema_prose(analysis.output_schema):
        problems.append("output_schema disagrees with the return annotation")
    try:
        if normalized_hash(spec.source, spec.entrypoint) != version.ast_hash:
            problems.append("the normalised-AST hash of its source differs from the stored ast_hash")
        if version_hash(spec) != version.content_hash:
            problems.append("its content hash, recomputed, differs from the stored content_hash")
    except AnalysisError as exc:
        problems.append(f"its source cannot be hashed ({exc})")
    return spec, problems
