"""Version diffs: labelled unified source diff and classified schema changes."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from registry.errors import NotFound
from registry.service.diff import diff_versions, source_diff
from tests.registry.service.rows import INT_PAIR, add_version, source_for

WITH_C = {**INT_PAIR, "properties": {**INT_PAIR["properties"], "c": {"type": "integer", "default": 0}}}
NUMBERS = {**INT_PAIR, "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}


def test_code_only_change_is_patch_with_labelled_diff(sqlite_engine: Engine) -> None:
    add_version(sqlite_engine, "math", "add", semver="1.0.0")
    add_version(sqlite_engine, "math", "add", semver="1.0.1", source=source_for("add", "return b + a"))
    diff = diff_versions(sqlite_engine, "math", "add", "1.0.0", "latest")
    assert diff.classification == "patch" and [c.path for c in diff.schema_changes] == ["source"]
    assert (diff.base.semver, diff.head.semver) == ("1.0.0", "1.0.1")
    lines = diff.source_diff.splitlines()
    assert lines[:2] == ["--- math.add@1.0.0", "+++ math.add@1.0.1"]
    assert "-    return a + b" in lines and "+    return b + a" in lines


@pytest.mark.parametrize(("base_schema", "head_schema", "kind", "path"), [
    (INT_PAIR, WITH_C, "minor", "input.properties.c"),
    (WITH_C, INT_PAIR, "major", "input.properties.c"),
    (INT_PAIR, NUMBERS, "minor", "input.properties.a"),
    (NUMBERS, INT_PAIR, "major", "input.properties.a"),
])
def test_schema_changes_are_classified(sqlite_engine: Engine, base_schema: dict[str, object],
                                       head_schema: dict[str, object], kind: str, path: str) -> None:
    add_version(sqlite_engine, "m", "t", semver="1.0.0", input_schema=base_schema)
    add_version(sqlite_engine, "m", "t", semver="2.0.0", input_schema=head_schema,
                source=source_for("t", "return a - b"))
    diff = diff_versions(sqlite_engine, "m", "t", "1.0.0", "2.0.0")
    assert diff.classification == kind
    assert path in {c.path for c in diff.schema_changes if c.kind == kind}


def test_output_change_is_major(sqlite_engine: Engine) -> None:
    add_version(sqlite_engine, "m", "t", semver="1.0.0")
    add_version(sqlite_engine, "m", "t", semver="2.0.0", output_schema={"type": "string"})
    diff = diff_versions(sqlite_engine, "m", "t", "1.0.0", "2.0.0")
    assert diff.classification == "major" and diff.schema_changes[0].path == "output"


def test_identical_code_diffs_to_nothing(engine: Engine) -> None:
    same = source_for("t")
    add_version(engine, "m", "t", semver="1.0.0", source=same, ast_hash="h")
    add_version(engine, "m", "t", semver="1.0.1", source=same + "# comment\n", ast_hash="h")
    diff = diff_versions(engine, "m", "t", "1.0.0", "1.0.1")
    assert diff.classification == "none" and diff.schema_changes == []
    assert "+# comment" in diff.source_diff  # the text changed, the behaviour did not
    assert diff_versions(engine, "m", "t", "1.0.0", "1.0.0").source_diff == ""


def test_missing_final_newline_is_marked() -> None:
    text = source_diff("a\nb", "a\nc\n", base_label="x@1", head_label="x@2")
    assert "\\ No newline at end of file" in text and "+c" in text


def test_unknown_ref_lists_versions(sqlite_engine: Engine) -> None:
    add_version(sqlite_engine, "m", "t")
    with pytest.raises(NotFound, match=r"versions: 1\.0\.0"):
        diff_versions(sqlite_engine, "m", "t", "1.0.0", "candidate")
