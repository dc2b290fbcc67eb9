"""Publisher.publish: every outcome kind, with real static checks, a real sandbox and a real database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from registry.db import current_revision
from registry.models import AuditEntry, Tool, ToolVersion, VersionLink, VersionStatus
from registry.service.provenance import effective_provenance
from registry.service.publishing import Publisher
from tests.registry.factories import make_spec, raw_spec, tool_source
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox
from toolbox.settings import Settings
from toolbox.spec import CompareMode, ToolTest

SUM_DOC = "Sum a list of numbers.\n\n    Args:\n        xs: the numbers to add up."


def publisher(engine: Engine, sandbox: Sandbox | None, **kwargs: Any) -> Publisher:
    """A publisher with the hashing embedder and default settings."""
    return Publisher(engine, sandbox=sandbox, embedder=HashingEmbedder(), settings=Settings(), **kwargs)


def count(engine: Engine, model: type[Any]) -> int:
    """Rows in ``model``'s table."""
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def stored(engine: Engine) -> list[ToolVersion]:
    """Every stored version, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(ToolVersion).order_by(col(ToolVersion.changed_revision))).all())


def assert_nothing_written(engine: Engine) -> None:
    """No tool, version, link or audit entry, and the revision never moved."""
    assert current_revision(engine) == 0
    for model in (Tool, ToolVersion, VersionLink, AuditEntry):
        assert count(engine, model) == 0


def test_new_tool_is_stored_with_hashes_embedding_report_and_audit(engine: Engine, sandbox: Sandbox) -> None:
    outcome = publisher(engine, sandbox).publish(make_spec(task_ids=["t1"], teacher="gpt"), actor="alice",
                                                 activate=True)
    assert outcome.kind == "new_tool", outcome
    assert outcome.semver == "1.0.0" and outcome.change is None
    assert outcome.test_report is not None and outcome.test_report.passed == 2
    [version] = stored(engine)
    assert outcome.version is not None and outcome.version.id == version.id
    assert version.status == VersionStatus.active and not version.flagged
    assert len(version.content_hash) == 64 and len(version.ast_hash) == 64
    assert version.embedder == "hashing-384" and version.embedding
    assert version.input_schema["required"] == ["a", "b"]
    assert version.provenance["task_ids"] == ["t1"] and version.created_by == "alice"
    assert version.validation_report["tests"]["executed"] is True
    assert version.validation_report["static"]["ok"] is True
    assert set(version.validation_report["timings_ms"]) >= {"static_ms", "tests_ms", "exact_ms", "near_ms"}
    assert version.changelog == "Initial version."
    assert current_revision(engine) == 1 == version.changed_revision
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.target, entry.revision) == ("alice", "publish", "default.add@1.0.0", 1)


def test_publish_without_activate_is_a_draft(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    outcome = publisher(sqlite_engine, sandbox).publish(make_spec())
    assert outcome.version is not None and outcome.version.status == VersionStatus.draft


@pytest.mark.parametrize(("source", "expected"), [
    ("def add(a: int, b: int) -> int:\n    return a +\n", "syntax"),
    (tool_source(imports=["socket"]), "socket"),
], ids=["syntax-error", "disallowed-import"])
def test_static_failures_are_rejected_and_write_nothing(sqlite_engine: Engine, sandbox: Sandbox, source: str,
                                                         expected: str) -> None:
    outcome = publisher(sqlite_engine, sandbox).publish(raw_spec(source), activate=True)
    assert outcome.kind == "rejected"
    assert outcome.findings and outcome.version is None
    assert any(expected in reason.lower() for reason in outcome.reasons), outcome.reasons
    assert all(reason.startswith("line ") for reason in outcome.reasons)
    assert_nothing_written(sqlite_engine)


def test_extra_allowed_import_of_the_spec_is_honoured(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    source = tool_source("quote", "text: str", "return shlex.quote(text)", "str", "Quote for a shell.", ["shlex"])
    spec = raw_spec(source, name="quote", tests=[({"text": "a b"}, "'a b'")])
    assert publisher(sqlite_engine, sandbox).publish(spec).kind == "rejected"
    outcome = publisher(sqlite_engine, sandbox).publish(spec.model_copy(update={"allowed_imports": ["shlex"]}))
    assert outcome.kind == "new_tool", outcome.reasons


def test_failing_test_is_rejected_listing_each_failure(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    spec = make_spec(body="return a - b", tests=[({"a": 1, "b": 2}, 3), ({"a": 2, "b": 0}, 2), ({"a": 5, "b": 1}, 6)])
    outcome = publisher(sqlite_engine, sandbox).publish(spec)
    assert outcome.kind == "rejected"
    assert len(outcome.reasons) == 2
    assert "test 0 failed: add(**{'a': 1, 'b': 2}) expected 3, returned -1" in outcome.reasons
    assert outcome.test_report is not None and outcome.test_report.failed == 2
    assert_nothing_written(sqlite_engine)


def test_raising_tool_is_rejected_with_the_error(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    spec = make_spec(body="raise ValueError('nope')")
    outcome = publisher(sqlite_engine, sandbox).publish(spec)
    assert outcome.kind == "rejected"
    assert all("raised ValueError: nope" in reason for reason in outcome.reasons)
    assert_nothing_written(sqlite_engine)


def test_stated_schema_that_disagrees_with_the_source_is_rejected(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    spec = make_spec()
    wrong = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    outcome = publisher(sqlite_engine, sandbox).publish(spec.model_copy(update={"input_schema": wrong}))
    assert outcome.kind == "rejected"
    assert "input_schema disagrees with the source signature" in outcome.reasons[0]
    assert_nothing_written(sqlite_engine)


@pytest.mark.parametrize("name", ["title", "description", "examples"])
def test_stated_schema_missing_a_property_named_like_prose_is_rejected(sqlite_engine: Engine, sandbox: Sandbox,
                                                                       name: str) -> None:
    spec = make_spec(params=f"a: int, {name}: str = ''", body="return a", tests=[({"a": 1}, 1)])
    assert name in spec.input_schema["properties"]
    missing = {**spec.input_schema, "properties": {"a": spec.input_schema["properties"]["a"]}}
    outcome = publisher(sqlite_engine, sandbox).publish(spec.model_copy(update={"input_schema": missing}))
    assert outcome.kind == "rejected"
    assert "input_schema disagrees with the source signature" in outcome.reasons[0]
    assert_nothing_written(sqlite_engine)


def test_stated_schema_that_differs_only_in_prose_is_accepted(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    spec = make_spec()
    worded = {**spec.input_schema, "title": "Add", "description": "other words",
              "properties": {k: {**v, "examples": [1]} for k, v in spec.input_schema["properties"].items()}}
    outcome = publisher(sqlite_engine, sandbox).publish(spec.model_copy(update={"input_schema": worded}))
    assert outcome.kind == "new_tool", outcome


def test_tool_without_tests_is_a_flagged_draft_even_when_activated(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    outcome = publisher(sqlite_engine, sandbox).publish(make_spec(tests=()), activate=True)
    assert outcome.kind == "new_tool"
    assert outcome.version is not None
    assert outcome.version.flagged and outcome.version.status == VersionStatus.draft
    assert "no tests" in outcome.reasons[0] and "activate was ignored" in outcome.reasons[0]
    assert stored(sqlite_engine)[0].validation_report["tests"]["executed"] is False


def test_reformatted_renamed_source_is_a_duplicate_and_merges_provenance(engine: Engine, sandbox: Sandbox) -> None:
    pub = publisher(engine, sandbox)
    first = pub.publish(make_spec(body="total = a + b\nreturn total", task_ids=["t1"]))
    twin_source = ("def add(a: int, b: int) -> int:\n    '''Another docstring.'''\n"
                   "    # the sum\n    s   =   a+b\n    return s\n")
    twin = make_spec("plus", entrypoint="add", source=twin_source, task_ids=["t2"], teacher="other-model")
    outcome = pub.publish(twin)
    assert outcome.kind == "duplicate_of"
    assert outcome.version is not None and first.version is not None
    assert outcome.version.id == first.version.id and outcome.semver == "1.0.0"
    assert "default.add@1.0.0" in outcome.reasons[0] and "merged" in outcome.reasons[0]
    assert count(engine, ToolVersion) == 1 and count(engine, Tool) == 1
    with Session(engine) as session:
        version = session.exec(select(ToolVersion)).one()
        merged = effective_provenance(session, version)
        link = session.exec(select(VersionLink)).one()
    assert version.provenance["task_ids"] == ["t1"]  # the version itself is immutable
    assert merged["task_ids"] == ["t1", "t2"] and merged["teacher_models"] == ["other-model"]
    assert link.detail["relation"] == "duplicate" and link.detail["spec"] == "default.plus"
    revision = current_revision(engine)
    again = pub.publish(twin)
    assert again.kind == "duplicate_of" and "already recorded" in again.reasons[0]
    assert current_revision(engine) == revision and count(engine, VersionLink) == 1


def test_loser_of_a_race_gets_duplicate_of_from_inside_the_transaction(sqlite_engine: Engine, sandbox: Sandbox,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    winner = publisher(sqlite_engine, sandbox).publish(make_spec())
    loser = publisher(sqlite_engine, sandbox)
    real_exact = Publisher._exact
    calls: list[int] = []

    def blind_first_check(session: Session, ast_hash: str) -> str | None:
        calls.append(1)
        return None if len(calls) == 1 else real_exact(session, ast_hash)  # the race: the winner was not seen yet

    monkeypatch.setattr(Publisher, "_exact", staticmethod(blind_first_check))
    outcome = loser.publish(make_spec())
    assert outcome.kind == "duplicate_of" and len(calls) == 2
    assert outcome.version is not None and winner.version is not None and outcome.version.id == winner.version.id
    assert count(sqlite_engine, ToolVersion) == 1 and current_revision(sqlite_engine) == 1


def sum_spec(name: str, body: str, *, tests: list[Any] | None = None) -> Any:
    """A list-summing tool named ``name`` with the shared description."""
    return make_spec(name, params="xs: list[float]", body=body, returns="float", doc=SUM_DOC,
                     tests=tests if tests is not None else [({"xs": [1.0, 2.5]}, 3.5), ({"xs": []}, 0.0)])


def test_equal_behaviour_written_differently_is_equivalent_to(engine: Engine, sandbox: Sandbox) -> None:
    pub = publisher(engine, sandbox)
    first = pub.publish(sum_spec("sum_numbers", "return float(sum(xs))"))
    loop = "total = 0.0\nfor x in xs:\n    total += x\nreturn total"
    approx = ToolTest(args={"xs": [0.1, 0.2, 0.3]}, expected=0.6, compare=CompareMode.approx)
    outcome = pub.publish(sum_spec("add_up_numbers", loop, tests=[approx]))
    assert outcome.kind == "equivalent_to", outcome
    assert first.version is not None and outcome.version is not None
    assert outcome.version.id == first.version.id
    assert "default.sum_numbers@1.0.0" in outcome.reasons[0] and "3 inputs" in outcome.reasons[0]
    assert count(engine, ToolVersion) == 1 and count(engine, Tool) == 1
    with Session(engine) as session:
        link = session.exec(select(VersionLink)).one()
    assert link.detail["relation"] == "equivalent" and link.detail["differential"]["equivalent"] is True


def test_similar_but_different_tool_is_new_and_records_the_near_duplicate(sqlite_engine: Engine,
                                                                          sandbox: Sandbox) -> None:
    pub = publisher(sqlite_engine, sandbox)
    first = pub.publish(sum_spec("sum_numbers", "return float(sum(xs))"))
    outcome = pub.publish(sum_spec("add_up_numbers", "return float(sum(abs(x) for x in xs))",
                                   tests=[({"xs": [-1.0, 2.0]}, 3.0)]))
    assert outcome.kind == "new_tool"
    report = stored(sqlite_engine)[-1].validation_report
    [near] = report["near_duplicates"]
    assert first.version is not None and near["version_id"] == first.version.id
    assert near["verified"] is True and near["differential"]["equivalent"] is False
    assert near["differential"]["mismatches"][0]["reason"] == "outputs differ"


def test_parameters_of_another_shape_are_not_equivalent(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    pub = publisher(sqlite_engine, sandbox, near_threshold=0.3)
    pub.publish(sum_spec("sum_numbers", "return float(sum(xs))"))
    other = make_spec("sum_values", params="values: list[float], scale: float = 1.0",
                      body="return float(sum(values)) * scale", returns="float",
                      doc=SUM_DOC.replace("xs:", "values:"), tests=[({"values": [1.0]}, 1.0)])
    outcome = pub.publish(other)
    assert outcome.kind == "new_tool"
    [near] = stored(sqlite_engine)[-1].validation_report["near_duplicates"]
    assert near["same_fingerprint"] is False
    assert "failed" in near["differential"]["mismatches"][0]["reason"]


def test_new_versions_get_semver_from_the_schema_diff(engine: Engine, sandbox: Sandbox) -> None:
    pub = publisher(engine, sandbox)
    assert pub.publish(make_spec()).semver == "1.0.0"
    minor = pub.publish(make_spec(params="a: int, b: int, c: int = 0", body="return a + b + c"))
    assert (minor.kind, minor.semver, minor.change) == ("new_version", "1.1.0", "minor")
    patch = pub.publish(make_spec(params="a: int, b: int, c: int = 0", body="return c + b + a"))
    assert (patch.semver, patch.change) == ("1.1.1", "patch")
    major = pub.publish(make_spec(params="a: int", body="return a + a", tests=[({"a": 2}, 4)]))
    assert (major.semver, major.change) == ("2.0.0", "major")
    explicit = pub.publish(make_spec(params="a: int", body="return 2 * a", tests=[({"a": 2}, 4)]),
                           changelog="Multiply instead.")
    versions = stored(engine)
    assert [v.semver for v in versions] == ["1.0.0", "1.1.0", "1.1.1", "2.0.0", "2.0.1"]
    assert explicit.semver == "2.0.1" and versions[-1].changelog == "Multiply instead."
    assert "new optional parameter 'c'" in versions[1].changelog
    assert "parameter 'b' removed" in versions[3].changelog
    assert count(engine, Tool) == 1 and current_revision(engine) == 5


def test_without_a_sandbox_tests_are_not_executed_and_the_report_says_so(sqlite_engine: Engine) -> None:
    outcome = publisher(sqlite_engine, None).publish(make_spec(body="return a - b"))
    assert outcome.kind == "new_tool" and outcome.test_report is None
    assert "no sandbox" in stored(sqlite_engine)[0].validation_report["tests"]["reason"]
