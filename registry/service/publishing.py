"""Publishing: static checks, tests in the sandbox, exact and behavioural dedup, semver, atomic insert.

``Publisher.publish`` answers with a ``PublishOutcome`` of one of five kinds:

- ``rejected``: static checks or tests failed (or the stated schemas disagree with the source);
  nothing is written.
- ``duplicate_of``: a version with the same normalised-AST hash exists (in any tool). No version
  is written; if the newcomer's provenance adds task ids, teachers, trajectories or parents, it is
  recorded as a self ``VersionLink(kind=equivalent, detail={"relation": "duplicate", ...})`` on
  the existing version (see ``registry.service.provenance``), otherwise nothing is written at all.
- ``equivalent_to``: a candidate version of *another* tool produced equal outputs on both tools'
  test inputs (the differential test, parameters aligned by position when only their names
  differ); the link records the provenance and the differential report. Candidates are the
  versions with the same behavioural fingerprint (``toolbox.fingerprint``: outputs on probe
  inputs derived from the input schema, so renaming a tool and its parameters does not hide it),
  whatever the embedder says, then the similar ones (embedding cosine ≥ ``near_threshold``).
  Other versions of the same tool are not near-dup candidates: they are that tool's history, and
  semver handles them.
- ``new_tool`` (1.0.0) / ``new_version`` (semver bumped by ``semver.classify_change`` against the
  latest version, recomputed inside the write transaction).

``supersedes`` (version ids) makes the new version a consolidation: in its write transaction each
named version gets a ``VersionLink(kind=consolidates)`` from the new one and is deprecated with the
new version as its replacement (audited like ``Curator.deprecate``); an unknown or yanked id
rejects the publish before anything runs. Superseded versions are never near-dup candidates.

The fingerprint costs one sandbox call per probe (at most ``toolbox.fingerprint.MAX_PROBES``,
under short limits) after the tests; it is stored on the version (``None`` when no probe answered).
Slow work happens before ``write_transaction``; inside it the exact duplicate and the latest
version are re-read, so concurrent publishers neither lose nor duplicate anything. A tool
without tests becomes a flagged draft, and so does one whose texts the poisoning scan
(``registry.service.poisoning``) finds suspicious: its findings are recorded in the validation
report (``review``) and the outcome's ``review_findings``, and ``activate`` is ignored, so it waits
in the review queue (``registry.service.review``) unserved until a curator approves it.
``before_commit`` is a test seam: called inside the transaction after the insert, before commit
(the crash-consistency test blocks there).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from registry.db import audit, read_session, write_transaction
from registry.errors import Conflict
from registry.models import LinkKind, Tool, ToolVersion, VersionLink, VersionStatus
from registry.schemas import ChangeKind, PublishOutcome, PublishTestReport, ReviewFinding, VersionSummary
from registry.service.embedding_index import EmbeddingIndex
from registry.service.poisoning import scan_spec
from registry.service.provenance import effective_provenance, provenance_adds, spec_of_version
from registry.service.refs import qualified
from registry.service.semver import bump, classify_change, describe_changes, parse_semver
from registry.service.vectors import embedding_text, encode_vector
from toolbox.analysis import check_source, normalized_hash, strip_schema_prose, version_hash
from toolbox.differential import differential_test
from toolbox.embeddings import Embedder
from toolbox.fingerprint import Fingerprint, fingerprint, probe_limits
from toolbox.logging import get_logger
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.settings import Settings
from toolbox.spec import ToolSpec
from toolbox.validate import run_tests

__all__ = ["Publisher"]

log = get_logger("registry.publish")
_DEFAULT_INPUT: dict[str, Any] = {"type": "object", "properties": {}}
_VERSION_ID = re.compile(r"^[0-9a-f]{32}$")
_LIVE = (VersionStatus.active, VersionStatus.draft)

# The per-publish queries, built once with bound parameters: constructing a statement costs more
# than SQLite takes to run it (publish throughput, issue 9).
_SAME_TOOL = (col(Tool.namespace) == bindparam("namespace"), col(Tool.name) == bindparam("name"))
_TOOL_ID = select(Tool.id).where(*_SAME_TOOL)
_TOOL = select(Tool).where(*_SAME_TOOL)
_NEIGHBOURS = select(Tool.name).where(
    col(Tool.namespace) == bindparam("namespace"), col(Tool.name) != bindparam("name"),
    select(ToolVersion.id).where(col(ToolVersion.tool_id) == Tool.id,
                                 col(ToolVersion.status) != VersionStatus.yanked).exists())
_EXACT = (select(ToolVersion.id).where(col(ToolVersion.ast_hash) == bindparam("ast_hash"))
          .order_by(col(ToolVersion.created_at)).limit(1))
_LATEST = (select(ToolVersion).where(col(ToolVersion.tool_id) == bindparam("tool_id"))
           .order_by(col(ToolVersion.major).desc(), col(ToolVersion.minor).desc(), col(ToolVersion.patch).desc())
           .limit(1))


class _Duplicate(Exception):
    """Raised inside the write transaction when another publisher stored the same code first."""

    def __init__(self, version_id: str) -> None:
        super().__init__(version_id)
        self.version_id = version_id


class _NothingToRecord(Exception):
    """Rolls back a duplicate's transaction when its provenance adds nothing."""


class _Rejected(Exception):
    """Rolls back an insert that cannot be made (a superseded version vanished or was yanked meanwhile)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _evidence(candidate: dict[str, Any]) -> str:
    """What made a near-duplicate candidate: an equal fingerprint, a similar embedding, or both."""
    parts = ["same behavioural fingerprint"] if candidate.get("same_fingerprint") else []
    if candidate.get("similarity") is not None:
        parts.append(f"similarity {candidate['similarity']}")
    return ", ".join(parts)


def _not_applied(outcome: PublishOutcome, superseded: list[str]) -> PublishOutcome:
    """``outcome`` (no new version stored) with a note that ``superseded`` was left alone."""
    if superseded:
        outcome.reasons.append(f"supersedes was not applied to {len(superseded)} version(s): no new version was "
                               "stored to replace them")
    return outcome


class Publisher:
    """Validates, deduplicates, versions and stores tool specs; thread-safe, one per process is enough."""

    def __init__(self, engine: Engine, *, sandbox: Sandbox | None, embedder: Embedder, settings: Settings,
                 near_threshold: float = 0.85, near_top_k: int = 5,
                 before_commit: Callable[[ToolVersion], None] | None = None) -> None:
        """``sandbox=None`` skips test runs and differential tests (throughput benchmarks only)."""
        self.engine = engine
        self.sandbox = sandbox
        self.embedder = embedder
        self.settings = settings
        self.near_threshold = near_threshold
        self.near_top_k = near_top_k
        self._before_commit = before_commit
        self._limits = Limits.from_settings(settings.sandbox)
        self._index = EmbeddingIndex(engine, embedder.name)

    def warm(self) -> None:
        """Load the near-duplicate index now (otherwise the first ``publish`` does it).

        The first load reads every stored embedding (a second or two at 100k versions); later
        publishes read only what changed since.
        """
        self._index.refresh()

    # -- the pipeline -------------------------------------------------------------------------

    def publish(self, spec: ToolSpec, *, actor: str = "system", activate: bool = False,
                changelog: str = "", supersedes: Sequence[str] = ()) -> PublishOutcome:
        """Check, test, deduplicate and store ``spec``; see the module docstring for the outcomes.

        ``supersedes`` names version ids the new version consolidates: once it is stored, each gets
        a ``consolidates`` link from it and is deprecated with it as the replacement.
        """
        superseded = list(dict.fromkeys(supersedes))
        unknown = self._check_supersedes(superseded)
        if unknown:
            return PublishOutcome(kind="rejected", reasons=unknown)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        checked = self._static_checks(spec)
        timings["static_ms"] = _ms(start)
        if isinstance(checked, PublishOutcome):
            return checked
        spec, static_report = checked

        start = time.perf_counter()
        tests_report, rejected = self._run_tests(spec)
        timings["tests_ms"] = _ms(start)
        if rejected is not None:
            return rejected

        start = time.perf_counter()
        ast_hash = normalized_hash(spec.source, spec.entrypoint)
        content_hash = version_hash(spec)
        with read_session(self.engine) as session:
            existing = self._exact(session, ast_hash)
            own_tool = session.exec(_TOOL_ID, params={"namespace": spec.namespace, "name": spec.name}).first()
            neighbours = self._neighbours(session, spec)
        timings["exact_ms"] = _ms(start)
        review = scan_spec(spec, neighbours=neighbours)
        flagged = not spec.tests or bool(review)
        if existing is not None:
            return _not_applied(self._duplicate(existing, spec, actor), superseded)

        start = time.perf_counter()
        behaviour = fingerprint(self.sandbox, spec, probe_limits(self._limits)) if self.sandbox is not None else None
        timings["fingerprint_ms"] = _ms(start)

        start = time.perf_counter()
        vector = self.embedder.embed([embedding_text(spec)])[0]
        near, equivalent = self._near_duplicates(spec, vector, own_tool, behaviour, set(superseded))
        timings["near_ms"] = _ms(start)
        if equivalent is not None:
            version_id, detail = equivalent
            return _not_applied(self._equivalent(version_id, spec, actor, detail), superseded)

        report: dict[str, Any] = {
            "static": static_report,
            "tests": tests_report,
            "fingerprint": None if behaviour is None else {**behaviour.model_dump(), "matchable": behaviour.matchable},
            "near_duplicates": near,
            "near_duplicate_check": {"embedder": self.embedder.name, "threshold": self.near_threshold,
                                     "top_k": self.near_top_k, "verified": self.sandbox is not None},
            "review": {"findings": [f.model_dump(mode="json") for f in review], "no_tests": not spec.tests},
            "timings_ms": timings,
        }
        return self._insert(spec, actor=actor, activate=activate, changelog=changelog, flagged=flagged,
                            ast_hash=ast_hash, content_hash=content_hash, embedding=encode_vector(vector),
                            fingerprint=behaviour.digest if behaviour is not None and behaviour.matchable else None,
                            supersedes=superseded, report=report, review=review)

    @staticmethod
    def _neighbours(session: Session, spec: ToolSpec) -> list[str]:
        """Names of the other tools in ``spec``'s namespace with a version that is not yanked."""
        return list(session.exec(_NEIGHBOURS, params={"namespace": spec.namespace, "name": spec.name}).all())

    def _check_supersedes(self, superseded: list[str]) -> list[str]:
        """Why ``superseded`` cannot be honoured (empty when every id is a stored, non-yanked version)."""
        reasons = [f"supersedes: {value!r} is not a version id (32 lowercase hex characters)"
                   for value in superseded if not _VERSION_ID.match(value)]
        if reasons or not superseded:
            return reasons
        with read_session(self.engine) as session:
            found = {v.id: v for v in session.exec(select(ToolVersion).where(col(ToolVersion.id).in_(superseded)))}
        for version_id in superseded:
            version = found.get(version_id)
            if version is None:
                reasons.append(f"supersedes: no version {version_id} is stored; name versions that exist "
                               "(GET /api/v1/tools/{namespace}/{name}/versions)")
            elif version.status == VersionStatus.yanked:
                reasons.append(f"supersedes: version {version_id} ({version.semver}) is yanked; restore it or "
                               "leave it out")
        return reasons

    def _static_checks(self, spec: ToolSpec) -> tuple[ToolSpec, dict[str, Any]] | PublishOutcome:
        allowed = sorted({*self.settings.sandbox.allowed_imports, *(spec.allowed_imports or [])})
        analysis = check_source(spec.source, spec.entrypoint, allowed)
        findings = [f.model_dump(mode="json") for f in analysis.findings]
        if not analysis.ok or analysis.input_schema is None:
            reasons = [f"line {f.line}, col {f.col}: [{f.code}] {f.message}" for f in analysis.findings]
            return PublishOutcome(kind="rejected", findings=analysis.findings,
                                  reasons=reasons or ["static analysis failed without findings"])
        reasons = []
        stated_in = strip_schema_prose(spec.input_schema)
        if stated_in != _DEFAULT_INPUT and stated_in != strip_schema_prose(analysis.input_schema):
            reasons.append(f"input_schema disagrees with the source signature: stated {spec.input_schema}, "
                           f"derived {analysis.input_schema}; drop it or let build_spec derive it")
        stated_out = strip_schema_prose(spec.output_schema)
        if spec.output_schema is not None and stated_out != strip_schema_prose(analysis.output_schema):
            reasons.append(f"output_schema disagrees with the return annotation: stated {spec.output_schema}, "
                           f"derived {analysis.output_schema}")
        if reasons:
            return PublishOutcome(kind="rejected", findings=analysis.findings, reasons=reasons)
        derived = spec.model_copy(update={"input_schema": analysis.input_schema,
                                          "output_schema": analysis.output_schema,
                                          "description": spec.description or analysis.description})
        return derived, {"ok": True, "findings": findings, "allowed_imports": allowed}

    def _run_tests(self, spec: ToolSpec) -> tuple[dict[str, Any], PublishOutcome | None]:
        if not spec.tests:
            return {"executed": False, "reason": "the tool has no tests: flagged draft until reviewed"}, None
        if self.sandbox is None:
            return {"executed": False, "reason": "no sandbox configured: tests were not executed"}, None
        report = PublishTestReport(isolation=self.sandbox.isolation,
                                   **run_tests(self.sandbox, spec, self._limits).model_dump())
        as_dict = report.model_dump(mode="json")
        if report.ok:
            return as_dict, None
        reasons = []
        for outcome in report.outcomes:
            if outcome.passed:
                continue
            got = (f"raised {outcome.error.type}: {outcome.error.message}" if outcome.error
                   else f"returned {outcome.actual!r}")
            reasons.append(f"test {outcome.index} failed: {spec.entrypoint}(**{outcome.args!r}) expected "
                           f"{outcome.expected!r}, {got}")
        return as_dict, PublishOutcome(kind="rejected", reasons=reasons, test_report=report)

    @staticmethod
    def _exact(session: Session, ast_hash: str) -> str | None:
        """The id of the oldest version with this normalised-AST hash (the id only: no entity to load)."""
        return session.exec(_EXACT, params={"ast_hash": ast_hash}).first()

    def _near_duplicates(self, spec: ToolSpec, vector: Any, own_tool: str | None, behaviour: Fingerprint | None,
                         superseded: set[str]) -> tuple[list[dict[str, Any]], tuple[str, dict[str, Any]] | None]:
        """Candidates of other tools (equal fingerprint first, then similar embeddings), each checked
        by the differential test; the first equivalent one ends the search."""
        similar = dict(self._index.nearest(vector, threshold=self.near_threshold, k=self.near_top_k,
                                           exclude_tool_id=own_tool))
        near: list[dict[str, Any]] = []
        with read_session(self.engine) as session:  # one session for every candidate, closed before any sandbox run
            same_behaviour = self._same_fingerprint(session, behaviour, own_tool)
            ordered = [v for v in dict.fromkeys([*same_behaviour, *similar]) if v not in superseded]
            loaded = [session.get(ToolVersion, version_id) for version_id in ordered]
            pairs = [(version, session.get(Tool, version.tool_id)) for version in loaded if version is not None]
        for version, tool in pairs:
            if tool is None:
                continue
            similarity = similar.get(version.id)
            entry: dict[str, Any] = {"version_id": version.id, "tool": f"{tool.namespace}.{tool.name}",
                                     "semver": version.semver,
                                     "similarity": None if similarity is None else round(similarity, 4),
                                     "same_fingerprint": version.id in same_behaviour}
            if self.sandbox is None:
                near.append({**entry, "verified": False})
                continue
            result = differential_test(self.sandbox, spec, spec_of_version(version, tool.namespace, tool.name),
                                       self._limits)
            if result.equivalent:
                return near, (version.id, {**entry, "differential": result.as_dict()})
            near.append({**entry, "verified": True, "differential": result.as_dict()})
        return near, None

    def _same_fingerprint(self, session: Session, behaviour: Fingerprint | None, own_tool: str | None) -> list[str]:
        """Live versions of other tools whose fingerprint equals ``behaviour``'s, oldest first."""
        if behaviour is None or not behaviour.matchable:
            return []
        query = select(ToolVersion.id).where(ToolVersion.fingerprint == behaviour.digest,
                                             col(ToolVersion.status).in_(_LIVE))
        if own_tool is not None:
            query = query.where(ToolVersion.tool_id != own_tool)
        return list(session.exec(query.order_by(col(ToolVersion.created_at)).limit(self.near_top_k)).all())

    # -- writes -------------------------------------------------------------------------------

    def _duplicate(self, version_id: str, spec: ToolSpec, actor: str) -> PublishOutcome:
        incoming = spec.provenance.model_dump(mode="json")
        try:
            with write_transaction(self.engine) as (session, revision):
                version, tool = self._load(session, version_id)
                if not provenance_adds(effective_provenance(session, version), incoming):
                    raise _NothingToRecord
                session.add(VersionLink(version_id=version.id, other_id=version.id, kind=LinkKind.equivalent,
                                        detail={"relation": "duplicate", "spec": spec.qualified_name,
                                                "actor": actor, "provenance": incoming}))
                audit(session, actor=actor, action="publish.duplicate", revision=revision,
                      target=f"{tool.namespace}.{tool.name}@{version.semver}", spec=spec.qualified_name)
            note = "its provenance was merged into the existing version"
        except _NothingToRecord:
            note = "its provenance was already recorded"
        with read_session(self.engine) as session:
            version, tool = self._load(session, version_id)
        reasons = [f"same normalised code as {tool.namespace}.{tool.name}@{version.semver} "
                   f"({version.status}); no new version was stored and {note}"]
        if version.status == VersionStatus.yanked:
            reasons.append("the existing version is yanked: restore it instead of republishing")
        return PublishOutcome(kind="duplicate_of", version=VersionSummary.of(version, tool.namespace, tool.name),
                              semver=version.semver, reasons=reasons)

    def _equivalent(self, version_id: str, spec: ToolSpec, actor: str, detail: dict[str, Any]) -> PublishOutcome:
        with write_transaction(self.engine) as (session, revision):
            version, tool = self._load(session, version_id)
            link = {"relation": "equivalent", "spec": spec.qualified_name, "actor": actor, "source": spec.source,
                    "provenance": spec.provenance.model_dump(mode="json"), "differential": detail["differential"]}
            session.add(VersionLink(version_id=version.id, other_id=version.id, kind=LinkKind.equivalent,
                                    detail=link))
            audit(session, actor=actor, action="publish.equivalent", revision=revision,
                  target=f"{tool.namespace}.{tool.name}@{version.semver}", spec=spec.qualified_name)
        inputs = detail["differential"]["inputs"]
        return PublishOutcome(
            kind="equivalent_to", version=VersionSummary.of(version, tool.namespace, tool.name), semver=version.semver,
            reasons=[f"behaves like {tool.namespace}.{tool.name}@{version.semver} ({_evidence(detail)}, equal outputs "
                     f"on {inputs} inputs); provenance merged, no new version"])

    @staticmethod
    def _load(session: Session, version_id: str) -> tuple[ToolVersion, Tool]:
        version = session.get(ToolVersion, version_id)
        tool = session.get(Tool, version.tool_id) if version else None
        if version is None or tool is None:
            raise Conflict(f"version {version_id} disappeared while publishing")
        return version, tool

    def _insert(self, spec: ToolSpec, *, actor: str, activate: bool, changelog: str, flagged: bool, ast_hash: str,
                content_hash: str, embedding: bytes, fingerprint: str | None, supersedes: list[str],
                report: dict[str, Any], review: list[ReviewFinding]) -> PublishOutcome:
        attempts = 3
        for attempt in range(1, attempts + 1):
            start = time.perf_counter()
            try:
                with write_transaction(self.engine) as (session, revision):
                    existing = self._exact(session, ast_hash)
                    if existing is not None:
                        raise _Duplicate(existing)
                    tool = session.exec(_TOOL, params={"namespace": spec.namespace, "name": spec.name}).first()
                    latest = self._latest(session, tool.id) if tool else None
                    if tool is None:
                        tool = Tool(namespace=spec.namespace, name=spec.name, changed_revision=revision)
                        session.add(tool)  # its id is assigned on construction: no flush needed here
                    semver, change, notes = self._semver(latest, spec, ast_hash)
                    status = VersionStatus.active if activate and not flagged else VersionStatus.draft
                    major, minor, patch = parse_semver(semver)
                    report["timings_ms"]["insert_ms"] = _ms(start)
                    version = ToolVersion(
                        tool_id=tool.id, semver=semver, major=major, minor=minor, patch=patch,
                        content_hash=content_hash, ast_hash=ast_hash, entrypoint=spec.entrypoint,
                        description=spec.description, source=spec.source, input_schema=spec.input_schema,
                        output_schema=spec.output_schema, tests=[t.model_dump(mode="json") for t in spec.tests],
                        allowed_imports=spec.allowed_imports, tags=spec.tags,
                        provenance=_with_parents(spec, supersedes), validation_report=report,
                        changelog=changelog or notes, flagged=flagged, status=status,
                        embedder=self.embedder.name, embedding=embedding, fingerprint=fingerprint,
                        created_by=actor, changed_revision=revision)
                    session.add(version)  # flushed with the commit (or now, for the before_commit seam)
                    audit(session, actor=actor, action="publish", revision=revision,
                          target=f"{spec.qualified_name}@{semver}", version_id=version.id,
                          kind="new_tool" if latest is None else "new_version", change=change,
                          status=str(status), flagged=flagged, supersedes=supersedes,
                          review_findings=sorted({f.kind for f in review}))
                    if supersedes:
                        _supersede(session, revision, version, f"{spec.qualified_name}@{semver}", supersedes, actor)
                    if self._before_commit is not None:
                        session.flush()
                        self._before_commit(version)
            except _Duplicate as dup:
                return _not_applied(self._duplicate(dup.version_id, spec, actor), supersedes)
            except _Rejected as rejected:
                return PublishOutcome(kind="rejected", reasons=rejected.reasons)
            except IntegrityError as exc:
                if attempt == attempts:
                    raise Conflict(f"could not store {spec.qualified_name}: {exc.orig}") from exc
                log.warning("publish of %s raced another writer (%s); retrying", spec.qualified_name, exc.orig)
                continue
            log.info("published %s@%s (%s)", spec.qualified_name, semver, change or "new tool")
            return PublishOutcome(kind="new_tool" if latest is None else "new_version",
                                  version=VersionSummary.of(version, spec.namespace, spec.name), semver=semver,
                                  change=change, reasons=_flag_reasons(not spec.tests, review, activate),
                                  review_findings=review,
                                  test_report=PublishTestReport.model_validate(report["tests"])
                                  if report["tests"].get("executed") else None)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _latest(session: Session, tool_id: str) -> ToolVersion | None:
        return session.exec(_LATEST, params={"tool_id": tool_id}).first()

    @staticmethod
    def _semver(latest: ToolVersion | None, spec: ToolSpec, ast_hash: str) -> tuple[str, ChangeKind | None, str]:
        if latest is None:
            return "1.0.0", None, "Initial version."
        code_changed = latest.ast_hash != ast_hash or latest.entrypoint != spec.entrypoint
        change, changes = classify_change(latest.input_schema, latest.output_schema, spec.input_schema,
                                          spec.output_schema, code_changed=code_changed)
        if change == "none":  # distinct content always gets a distinct version
            change = "patch"
        notes = f"{change.capitalize()} change from {latest.semver}"
        if changes:
            notes += f":\n{describe_changes(changes)}"
        return bump(latest.semver, change), change, notes


def _flag_reasons(no_tests: bool, review: list[ReviewFinding], activate: bool) -> list[str]:
    """Why a stored version is a flagged draft (empty for a clean one)."""
    reasons = ["the tool has no tests: stored as a flagged draft"] if no_tests else []
    if review:
        kinds = ", ".join(sorted({f.kind for f in review}))
        first = review[0]
        reasons.append(f"flagged for review: {len(review)} poisoning finding(s) ({kinds}), e.g. {first.where}: "
                       f"{first.message} ({first.excerpt!r}); stored as a draft that is not served until a curator "
                       "approves it ('distillery review approve')")
    if reasons and activate:
        reasons[-1] += "; activate was ignored"
    return reasons


def _with_parents(spec: ToolSpec, supersedes: list[str]) -> dict[str, Any]:
    """``spec``'s provenance with the superseded versions added to its parents."""
    provenance = spec.provenance.model_dump(mode="json")
    provenance["parent_version_ids"] = list(dict.fromkeys([*provenance["parent_version_ids"], *supersedes]))
    return provenance


def _supersede(session: Session, revision: int, new: ToolVersion, new_ref: str, supersedes: list[str],
               actor: str) -> None:
    """Link ``new`` to each superseded version and deprecate it with ``new`` as its replacement.

    Follows ``registry.service.curation``'s deprecate: a ``replaces`` link from the old version
    to its replacement (an older one is replaced), ``replacement_id``, stamped rows and a
    ``deprecate`` audit entry. Drafts are deprecated too (a consolidated draft must not be approved
    later); an already deprecated version only gets the new replacement.
    """
    for old_id in supersedes:
        old = session.get(ToolVersion, old_id)
        old_tool = session.get(Tool, old.tool_id) if old is not None else None
        if old is None or old_tool is None:
            raise _Rejected([f"supersedes: version {old_id} disappeared while publishing; nothing was stored"])
        if old.status == VersionStatus.yanked:
            raise _Rejected([f"supersedes: {qualified(old_tool, old)} was yanked while publishing; nothing was stored"])
        reason = f"consolidated into {new_ref}"
        session.add(VersionLink(version_id=new.id, other_id=old.id, kind=LinkKind.consolidates,
                                detail={"relation": "consolidates", "actor": actor}))
        session.execute(delete(VersionLink).where(col(VersionLink.version_id) == old.id,
                                                  col(VersionLink.kind) == LinkKind.replaces))
        session.add(VersionLink(version_id=old.id, other_id=new.id, kind=LinkKind.replaces,
                                detail={"relation": "replaced_by", "reason": reason, "actor": actor}))
        previous = old.status
        old.status, old.replacement_id, old.changed_revision = VersionStatus.deprecated, new.id, revision
        old_tool.changed_revision = revision
        session.add_all([old, old_tool])
        audit(session, actor=actor, action="deprecate", target=qualified(old_tool, old), revision=revision,
              reason=reason, version_id=old.id, replacement=new_ref, **{"from": previous.value, "to": "deprecated"})
