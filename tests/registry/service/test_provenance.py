"""Provenance: merging the records of duplicates, and a stored version back as a spec."""

from __future__ import annotations

from registry.models import ToolVersion
from registry.service.provenance import merge_provenance, provenance_adds, spec_of_version
from tests.registry.factories import make_spec


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


def test_spec_of_version_round_trips_a_stored_version() -> None:
    spec = make_spec()
    version = ToolVersion(tool_id="t", semver="1.0.0", major=1, minor=0, patch=0, content_hash="c", ast_hash="a",
                          entrypoint=spec.entrypoint, description=spec.description, source=spec.source,
                          input_schema=spec.input_schema, output_schema=spec.output_schema,
                          tests=[t.model_dump(mode="json") for t in spec.tests])
    again = spec_of_version(version, "default", "add")
    assert again.model_dump(exclude={"provenance"}) == spec.model_dump(exclude={"provenance"})
