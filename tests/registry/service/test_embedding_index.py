"""The embedding index: neighbours above a threshold, following registry changes, exact under pruning."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.engine import Engine

import registry.service.embedding_index as index_module
from registry.db import read_session, write_transaction
from registry.models import Tool, ToolVersion, VersionStatus
from registry.service.embedding_index import EmbeddingIndex
from registry.service.vectors import encode_vector
from tests.registry.factories import make_spec


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


def test_pruned_nearest_equals_scoring_every_vector(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "_PRUNE_MIN", 64)  # prune from 64 vectors on, not thousands
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
