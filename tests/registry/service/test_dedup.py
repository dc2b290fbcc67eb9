"""Dedup helpers: provenance merging, the incremental embedding index, the differential test."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine

import registry.service.dedup as dedup_module
from registry.db import read_session, write_transaction
from registry.models import Tool, ToolVersion, VersionStatus
from registry.service.dedup import (
    EmbeddingIndex,
    differential_test,
    merge_provenance,
    provenance_adds,
    spec_of_version,
)
from registry.service.vectors import encode_vector
from tests.registry.factories import make_spec
from toolbox.sandbox import Sandbox


def test_merge_provenance_unions_everything_without_repeats() -> None:
    base = {"teacher_model": "big", "task_ids": ["t1", "t2"], "trajectory_id": "r1", "parent_version_ids": []}
    extra = {"teacher_model": "other", "task_ids": ["t2", "t3"], "trajectory_id": "r2", "parent_version_ids": ["v9"]}
    merged = merge_provenance(base, extra)
    assert merged["teacher_model"] == "big" and merged["trajectory_id"] == "r1"
    assert merged["task_ids"] == ["t1", "t2", "t3"]
    assert merged["teacher_models"] == ["big", "other"]
    assert merged["trajectory_ids"] == ["r1", "r2"]
    assert merged["parent_version_ids"] == ["v9"]
    assert merge_provenance(merged, extra) == merged


def test_provenance_adds_only_for_something_new() -> None:
    base = {"teacher_model": "big", "task_ids": ["t1"]}
    assert not provenance_adds(base, {"task_ids": ["t1"]})
    assert not provenance_adds(base, {"teacher_model": "big", "task_ids": []})
    assert provenance_adds(base, {"task_ids": ["t2"]})
    assert provenance_adds(base, {"teacher_model": "small"})
    assert provenance_adds(base, {"trajectory_id": "r"})


def insert(engine: Engine, name: str, vector: list[float], *, status: VersionStatus = VersionStatus.active,
           embedder: str = "test") -> str:
    """Store a version of tool ``name`` with ``vector`` as its embedding; returns the version id."""
    spec = make_spec()
    with write_transaction(engine) as (session, revision):
        tool = Tool(namespace="default", name=name, changed_revision=revision)
        session.add(tool)
        session.flush()
        array = np.asarray(vector, dtype=np.float32)
        version = ToolVersion(tool_id=tool.id, semver="1.0.0", major=1, minor=0, patch=0, content_hash=name,
                              ast_hash=name, entrypoint="add", source=spec.source, input_schema=spec.input_schema,
                              status=status, embedder=embedder, embedding=encode_vector(array / np.linalg.norm(array)),
                              changed_revision=revision)
        session.add(version)
    return version.id


def test_embedding_index_finds_neighbours_above_threshold_and_follows_changes(sqlite_engine: Engine) -> None:
    index = EmbeddingIndex(sqlite_engine, "test")
    near = insert(sqlite_engine, "near", [1.0, 0.1, 0.0])
    insert(sqlite_engine, "far", [0.0, 0.0, 1.0])
    insert(sqlite_engine, "yanked", [1.0, 0.0, 0.0], status=VersionStatus.yanked)
    insert(sqlite_engine, "other_embedder", [1.0, 0.0, 0.0], embedder="else")
    query = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
    hits = index.nearest(query, threshold=0.9, k=5)
    assert [h[0] for h in hits] == [near] and 0.99 < hits[0][1] <= 1.0
    later = insert(sqlite_engine, "later", [1.0, 0.0, 0.0], status=VersionStatus.draft)
    assert [h[0] for h in index.nearest(query, threshold=0.9, k=5)] == [later, near]
    assert [h[0] for h in index.nearest(query, threshold=0.9, k=1)] == [later]
    with write_transaction(sqlite_engine) as (session, revision):
        row = session.get(ToolVersion, later)
        assert row is not None
        row.status, row.changed_revision = VersionStatus.deprecated, revision
    assert [h[0] for h in index.nearest(query, threshold=0.9, k=5)] == [near]
    tool_id = spec_tool_id(sqlite_engine, near)
    assert index.nearest(query, threshold=0.9, k=5, exclude_tool_id=tool_id) == []


def spec_tool_id(engine: Engine, version_id: str) -> str:
    """The tool id of a stored version."""
    with read_session(engine) as session:
        version = session.get(ToolVersion, version_id)
        assert version is not None
        return version.tool_id


def sums(name: str, body: str, tests: list[Any]) -> Any:
    """A list-summing spec."""
    return make_spec(name, params="xs: list[int]", body=body, returns="int", doc="Sum.", tests=tests)


def test_differential_test_runs_both_on_the_union_of_inputs(sandbox: Sandbox) -> None:
    builtin = sums("a", "return sum(xs)", [({"xs": [1, 2]}, 3)])
    loop = sums("b", "t = 0\nfor x in xs:\n    t += x\nreturn t", [({"xs": []}, 0), ({"xs": [1, 2]}, 3)])
    result = differential_test(sandbox, loop, builtin)
    assert result.equivalent and result.inputs == 2 and result.mismatches == []
    clipped = sums("c", "return sum(xs) if len(xs) < 3 else 0", [({"xs": [5]}, 5)])
    different = differential_test(sandbox, clipped, sums("d", "return sum(xs)", [({"xs": [1, 2, 3]}, 6)]))
    assert not different.equivalent
    assert different.mismatches == [{"args": {"xs": [1, 2, 3]}, "new": 0, "existing": 6, "reason": "outputs differ"}]


def test_differential_test_without_inputs_or_with_errors_is_not_equivalent(sandbox: Sandbox) -> None:
    empty = differential_test(sandbox, sums("a", "return sum(xs)", []), sums("b", "return sum(xs)", []))
    assert not empty.equivalent and empty.inputs == 0
    other_shape = make_spec("e", params="values: list[int], start: int", body="return sum(values) + start",
                            doc="Sum.", tests=[({"values": [1], "start": 0}, 1)])
    result = differential_test(sandbox, other_shape, sums("f", "return sum(xs)", [({"xs": [1]}, 1)]))
    assert not result.equivalent and "tool failed" in result.mismatches[0]["reason"]


def test_differential_test_aligns_renamed_parameters_by_position(sandbox: Sandbox) -> None:
    renamed = make_spec("e", params="values: list[int]", body="return sum(values)", doc="Sum.",
                        tests=[({"values": [1]}, 1)])
    result = differential_test(sandbox, renamed, sums("f", "return sum(xs)", [({"xs": [4, 5]}, 9)]))
    assert result.equivalent and result.inputs == 2
    wrong = make_spec("g", params="values: list[int]", body="return max(values)", doc="Largest.",
                      tests=[({"values": [1]}, 1)])
    different = differential_test(sandbox, wrong, sums("h", "return sum(xs)", [({"xs": [4, 5]}, 9)]))
    assert different.mismatches == [{"args": {"values": [4, 5]}, "new": 5, "existing": 9, "reason": "outputs differ"}]


def test_spec_of_version_round_trips_a_stored_version() -> None:
    spec = make_spec()
    version = ToolVersion(tool_id="t", semver="1.0.0", major=1, minor=0, patch=0, content_hash="c", ast_hash="a",
                          entrypoint=spec.entrypoint, description=spec.description, source=spec.source,
                          input_schema=spec.input_schema, output_schema=spec.output_schema,
                          tests=[t.model_dump(mode="json") for t in spec.tests])
    again = spec_of_version(version, "default", "add")
    assert again.model_dump(exclude={"provenance"}) == spec.model_dump(exclude={"provenance"})


def test_pruned_nearest_equals_scoring_every_vector(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup_module, "_PRUNE_MIN", 64)  # prune from 64 vectors on, not thousands
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((6, 48))
    vectors = centres[rng.integers(0, 6, 300)] + 0.4 * rng.standard_normal((300, 48))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = []
    with write_transaction(sqlite_engine) as (session, revision):
        for i, vector in enumerate(vectors.astype(np.float32)):
            tool = Tool(namespace="default", name=f"t{i}", changed_revision=revision)
            version = ToolVersion(tool_id=tool.id, semver="1.0.0", major=1, minor=0, patch=0, content_hash=f"c{i}",
                                  ast_hash=f"a{i}", entrypoint="add", source="", input_schema={},
                                  status=VersionStatus.active, embedder="test", embedding=encode_vector(vector),
                                  changed_revision=revision)
            session.add_all([tool, version])
            ids.append(version.id)
    index = EmbeddingIndex(sqlite_engine, "test")
    for query in (centres[0] + 0.3 * rng.standard_normal(48), vectors[7], rng.standard_normal(48)):
        query = (query / np.linalg.norm(query)).astype(np.float32)
        scores = vectors.astype(np.float32) @ query
        for threshold in (0.5, 0.8, 0.95):
            expected = [ids[i] for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold][:5]
            assert [h[0] for h in index.nearest(query, threshold=threshold, k=5)] == expected
    assert len(index) == 300
