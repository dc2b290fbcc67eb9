"""Curation: the transition matrix, replacements, aliases, pins, audit entries and revisions."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine

from registry.db import current_revision
from registry.errors import Conflict, InvalidRequest, NotFound, RegistryError
from registry.models import LinkKind, ToolVersion, VersionStatus
from registry.service.curation import Curator
from registry.service.queries import get_tool, get_version, resolve_tool
from tests.registry.service.rows import add_version, audit_entries, get_row, set_alias, set_pin

# (action, from status) -> the status after, or None when the transition is refused
MATRIX: dict[tuple[str, str], str | None] = {
    ("approve", "draft"): "active",
    ("approve", "active"): None,
    ("approve", "deprecated"): None,
    ("approve", "yanked"): None,
    ("deprecate", "draft"): None,
    ("deprecate", "active"): "deprecated",
    ("deprecate", "deprecated"): None,
    ("deprecate", "yanked"): None,
    ("yank", "draft"): "yanked",
    ("yank", "active"): "yanked",
    ("yank", "deprecated"): "yanked",
    ("yank", "yanked"): None,
    ("restore", "draft"): None,
    ("restore", "active"): None,
    ("restore", "deprecated"): "active",
    ("restore", "yanked"): "active",
    ("reject", "draft"): "yanked",
    ("reject", "active"): None,
    ("reject", "deprecated"): None,
    ("reject", "yanked"): None,
}
ALLOWED = {"draft": "approve, yank", "active": "deprecate, yank", "deprecated": "yank, restore",
           "yanked": "restore"}


@pytest.mark.parametrize(("action", "start"), list(MATRIX))
def test_transition_matrix(engine: Engine, action: str, start: str) -> None:
    version = add_version(engine, "m", "t", status=start)
    curator = Curator(engine)
    before = current_revision(engine)
    expected = MATRIX[(action, start)]
    if expected is None:
        with pytest.raises(Conflict) as caught:
            getattr(curator, action)("m", "t", "1.0.0", actor="alice", reason="because")
        assert f"m.t@1.0.0 is {start}" in str(caught.value)
        assert f"allowed actions: {ALLOWED[start]}" in str(caught.value)
        assert current_revision(engine) == before and audit_entries(engine) == []
        assert get_row(engine, version.id).status == start
        return
    summary = getattr(curator, action)("m", "t", "1.0.0", actor="alice", reason="because")
    assert summary.status == expected and summary.id == version.id
    revision = current_revision(engine)
    assert revision == before + 1
    row = get_row(engine, version.id)
    assert row.status == expected and row.changed_revision == revision
    assert get_tool(engine, "m", "t").versions[0].status == expected
    [entry] = audit_entries(engine)
    assert (entry.actor, entry.action, entry.target, entry.revision) == ("alice", action, "m.t@1.0.0", revision)
    assert entry.detail["reason"] == "because" and entry.detail["from"] == start and entry.detail["to"] == expected


def test_approve_flagged_draft_is_recorded(engine: Engine) -> None:
    add_version(engine, "m", "t", status="draft", flagged=True)
    summary = Curator(engine).approve("m", "t", "1.0.0", actor="bob")
    assert summary.status == VersionStatus.active and summary.flagged
    [entry] = audit_entries(engine, ["approve"])
    assert entry.detail["flagged"] is True and "without tests" in entry.detail["note"]


def test_deprecate_with_replacement_links_and_is_served_marked(engine: Engine) -> None:
    old = add_version(engine, "m", "old")
    new = add_version(engine, "m", "new", semver="2.1.0")
    Curator(engine).deprecate("m", "old", "latest", actor="carol", reason="slow", replacement="m.new@2.1.0")
    row = get_row(engine, old.id)
    assert row.status == VersionStatus.deprecated and row.replacement_id == new.id
    [link] = get_version(engine, "m", "old", "1.0.0").links
    assert (link.kind, link.other_id, link.other) == (LinkKind.replaces, new.id, "m.new@2.1.0")
    resolved = resolve_tool(engine, "m", "old")
    assert resolved is not None and resolved.deprecated and resolved.replacement == "m.new@2.1.0"
    [entry] = audit_entries(engine, ["deprecate"])
    assert entry.detail["replacement"] == "m.new@2.1.0" and entry.detail["reason"] == "slow"
    Curator(engine).restore("m", "old", "1.0.0", actor="carol")  # restore clears the pointer and the link
    assert get_row(engine, old.id).replacement_id is None
    assert get_version(engine, "m", "old", "1.0.0").links == []


@pytest.mark.parametrize(("replacement", "error", "message"), [
    ("m.gone@1.0.0", Conflict, "is yanked"),
    ("m.t@1.0.0", InvalidRequest, "cannot replace itself"),
    ("m.missing@1.0.0", InvalidRequest, "does not resolve: no tool m.missing"),
    ("m.other@9.9.9", InvalidRequest, "has no version 9.9.9"),
    ("not a ref", InvalidRequest, "expected namespace.name@ref"),
])
def test_deprecate_rejects_bad_replacements(engine: Engine, replacement: str, error: type[RegistryError],
                                            message: str) -> None:
    version = add_version(engine, "m", "t")
    add_version(engine, "m", "gone", status="yanked")
    add_version(engine, "m", "other")
    before = current_revision(engine)
    with pytest.raises(error, match=message):
        Curator(engine).deprecate("m", "t", "1.0.0", actor="a", replacement=replacement)
    assert get_row(engine, version.id).status == VersionStatus.active and current_revision(engine) == before


def test_replacement_in_same_tool_without_ref_means_latest(engine: Engine) -> None:
    add_version(engine, "m", "t", semver="1.0.0")
    newer = add_version(engine, "m", "t", semver="1.1.0")
    Curator(engine).deprecate("m", "t", "1.0.0", actor="a", replacement="m.t")
    assert get_version(engine, "m", "t", "1.0.0").replacement_id == newer.id


def test_yank_removes_aliases_and_pins_pointing_at_it(engine: Engine) -> None:
    add_version(engine, "m", "t", semver="1.0.0")
    add_version(engine, "m", "t", semver="1.1.0")
    set_alias(engine, "m", "t", "stable", "1.1.0")
    set_alias(engine, "m", "t", "candidate", "1.1.0")
    set_alias(engine, "m", "t", "old", "1.0.0")
    set_pin(engine, "key1", "m", "t", "1.1.0")
    Curator(engine).yank("m", "t", "stable", actor="a", reason="security")
    detail = get_tool(engine, "m", "t")
    assert detail.aliases == {"old": "1.0.0"} and detail.pins == {}
    assert detail.latest is not None and detail.latest.semver == "1.0.0"
    [entry] = audit_entries(engine, ["yank"])
    assert entry.detail["removed_aliases"] == ["candidate", "stable"] and entry.detail["removed_pins"] == ["key1"]


def test_aliases_set_move_and_delete(engine: Engine) -> None:
    v1 = add_version(engine, "m", "t", semver="1.0.0")
    add_version(engine, "m", "t", semver="2.0.0", status="draft")
    curator = Curator(engine)
    assert curator.set_alias("m", "t", "candidate", "2.0.0", actor="a").semver == "2.0.0"
    assert curator.set_alias("m", "t", "stable", "candidate", actor="a").semver == "2.0.0"  # ref by alias
    assert curator.set_alias("m", "t", "stable", v1.id, actor="a").semver == "1.0.0"  # moves
    assert get_tool(engine, "m", "t").aliases == {"candidate": "2.0.0", "stable": "1.0.0"}
    moved = audit_entries(engine, ["alias.set"])[-1]
    assert moved.target == "m.t@1.0.0" and moved.detail == {"alias": "stable", "previous": "2.0.0", "reason": ""}
    assert get_row(engine, v1.id).changed_revision == current_revision(engine)
    assert curator.delete_alias("m", "t", "candidate", actor="a").semver == "2.0.0"
    assert get_tool(engine, "m", "t").aliases == {"stable": "1.0.0"}
    with pytest.raises(NotFound, match="aliases: stable"):
        curator.delete_alias("m", "t", "candidate", actor="a")


@pytest.mark.parametrize("alias", ["", "Stable", "1st", "has space", "latest", "x" * 65, "a.b"])
def test_invalid_alias_names(sqlite_engine: Engine, alias: str) -> None:
    add_version(sqlite_engine, "m", "t")
    with pytest.raises(InvalidRequest, match="invalid alias"):
        Curator(sqlite_engine).set_alias("m", "t", alias, "1.0.0", actor="a")


def test_alias_cannot_point_at_a_yanked_version(engine: Engine) -> None:
    add_version(engine, "m", "t", status="yanked")
    with pytest.raises(Conflict, match="yanked"):
        Curator(engine).set_alias("m", "t", "stable", "1.0.0", actor="a")
    assert audit_entries(engine) == []


def test_pins_per_scope(engine: Engine) -> None:
    add_version(engine, "m", "t", semver="1.0.0")
    add_version(engine, "m", "t", semver="1.1.0")
    add_version(engine, "m", "t", semver="2.0.0", status="draft")
    curator = Curator(engine)
    curator.pin("key_1", "m", "t", "1.0.0", actor="a")
    curator.pin("toolset-math", "m", "t", "1.1.0", actor="a")
    served = {scope: resolve_tool(engine, "m", "t", scope=scope) for scope in ("key_1", "toolset-math", None)}
    assert {s: r.version.semver for s, r in served.items() if r} == {"key_1": "1.0.0", "toolset-math": "1.1.0",
                                                                     None: "1.1.0"}
    with pytest.raises(Conflict, match="can never be served"):
        curator.pin("key_1", "m", "t", "2.0.0", actor="a")
    assert curator.unpin("key_1", "m", "t", actor="a").semver == "1.0.0"
    assert get_tool(engine, "m", "t").pins == {"toolset-math": "1.1.0"}
    with pytest.raises(NotFound, match="no pin"):
        curator.unpin("key_1", "m", "t", actor="a")
    with pytest.raises(InvalidRequest, match="invalid scope"):
        curator.pin("", "m", "t", "1.0.0", actor="a")
    assert [e.action for e in audit_entries(engine)] == ["pin.set", "pin.set", "pin.delete"]


def test_unknown_refs_are_not_found(engine: Engine) -> None:
    add_version(engine, "m", "t")
    with pytest.raises(NotFound, match=r"versions: 1\.0\.0"):
        Curator(engine).yank("m", "t", "4.0.0", actor="a")
    with pytest.raises(NotFound, match="no tool"):
        Curator(engine).approve("m", "nope", "1.0.0", actor="a")


def test_concurrent_approvals_serialise(engine: Engine) -> None:
    version: ToolVersion = add_version(engine, "m", "t", status="draft")
    curator = Curator(engine)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def approve() -> None:
        barrier.wait()
        try:
            curator.approve("m", "t", version.id, actor="racer")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert len(audit_entries(engine, ["approve"])) == 1
