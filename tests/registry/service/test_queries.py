"""Catalog reads: listings with filters and cursors, refs, the serving rule, bulk served_tools."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from registry.errors import InvalidRequest, NotFound
from registry.models import LinkKind, VersionStatus
from registry.service.queries import (
    encode_cursor,
    get_tool,
    get_version,
    list_tools,
    list_versions,
    resolve_tool,
    served_tools,
)
from tests.registry.service.rows import add_link, add_version, add_versions, set_alias, set_pin


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every SQL statement ``engine`` executes inside the block."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def all_pages(engine: Engine, **filters: Any) -> list[str]:
    names: list[str] = []
    cursor = None
    while True:
        page = list_tools(engine, cursor=cursor, **filters)
        names += [f"{t.namespace}.{t.name}" for t in page.items]
        if page.next_cursor is None:
            return names
        cursor = page.next_cursor


def test_pagination_is_stable_and_complete(engine: Engine) -> None:
    specs = [(ns, f"tool{i:02d}", "1.0.0", "active") for ns in ("beta", "alpha") for i in range(7)]
    add_versions(engine, specs)
    names = all_pages(engine, limit=3)
    assert names == sorted(f"{ns}.{name}" for ns, name, _, _ in specs)
    first = list_tools(engine, limit=14)
    assert first.next_cursor is None and len(first.items) == 14


def test_cursor_continues_after_the_last_key_even_if_rows_are_added(engine: Engine) -> None:
    add_versions(engine, [("m", n, "1.0.0", "active") for n in ("a", "c", "e")])
    page = list_tools(engine, limit=2)
    assert [t.name for t in page.items] == ["a", "c"]
    add_version(engine, "m", "b")  # sorts before the cursor: not repeated, not shifting the next page
    add_version(engine, "m", "d")
    rest = list_tools(engine, limit=10, cursor=page.next_cursor)
    assert [t.name for t in rest.items] == ["d", "e"]
    assert list_tools(engine, cursor=encode_cursor("m", "e")).items == []


@pytest.mark.parametrize("cursor", ["!!!", "e30", "bm90IGpzb24", "eyJ2IjoyLCJucyI6ImEiLCJuYW1lIjoiYiJ9"])
def test_bad_cursor_is_an_invalid_request(sqlite_engine: Engine, cursor: str) -> None:
    with pytest.raises(InvalidRequest, match="next_cursor"):
        list_tools(sqlite_engine, cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_limit_out_of_range(sqlite_engine: Engine, limit: int) -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        list_tools(sqlite_engine, limit=limit)


def test_filters_namespace_visibility_status_and_tag(engine: Engine) -> None:
    add_version(engine, "math", "add", tags=["arith", "int_ops"])
    add_version(engine, "math", "mul", status="draft", tags=["arith"])
    add_version(engine, "text", "upper", tags=["strings"])
    add_version(engine, "text", "gone", status="yanked", tags=["arith"])
    add_version(engine, "geo", "dist", status="deprecated", tags=["int%ops"])
    assert all_pages(engine, namespace="math") == ["math.add", "math.mul"]
    assert all_pages(engine, visible_namespaces=["text", "geo"]) == ["geo.dist", "text.gone", "text.upper"]
    assert all_pages(engine, visible_namespaces=[]) == []
    assert all_pages(engine, status="draft") == ["math.mul"]
    assert all_pages(engine, status=VersionStatus.deprecated) == ["geo.dist"]
    assert all_pages(engine, tag="arith") == ["math.add", "math.mul"]  # the yanked version's tag does not count
    assert all_pages(engine, tag="int_ops") == ["math.add"]  # no LIKE wildcards
    assert all_pages(engine, tag="arith", namespace="math", status="active", limit=1) == ["math.add"]
    with pytest.raises(InvalidRequest, match="draft, active"):
        list_tools(engine, status="retired")


def test_summary_shows_served_version_aliases_and_tags(engine: Engine) -> None:
    add_version(engine, "math", "add", semver="1.9.0", tags=["a"])
    add_version(engine, "math", "add", semver="1.10.0", tags=["b"], description="newest")
    add_version(engine, "math", "add", semver="2.0.0", status="draft")
    set_alias(engine, "math", "add", "candidate", "2.0.0")
    add_version(engine, "math", "only_draft", status="draft", description="not served")
    items = {t.name: t for t in list_tools(engine).items}
    add = items["add"]
    assert add.latest is not None and add.latest.semver == "1.10.0"  # integer ordering, not string
    assert add.description == "newest" and add.version_count == 3
    assert add.aliases == {"candidate": "2.0.0"} and add.tags == ["a", "b"]
    assert items["only_draft"].latest is None and items["only_draft"].description == "not served"


def test_serving_rule_precedence(engine: Engine) -> None:
    add_version(engine, "m", "t", semver="1.0.0", status="deprecated")
    assert resolve_tool(engine, "m", "t") is not None
    resolved = resolve_tool(engine, "m", "t")
    assert resolved is not None and resolved.version.semver == "1.0.0" and resolved.deprecated
    add_version(engine, "m", "t", semver="1.1.0", status="active")
    add_version(engine, "m", "t", semver="1.2.0", status="active")
    add_version(engine, "m", "t", semver="3.0.0", status="draft")
    add_version(engine, "m", "t", semver="4.0.0", status="yanked")
    assert _served(engine) == "1.2.0"
    set_alias(engine, "m", "t", "stable", "1.1.0")
    assert _served(engine) == "1.1.0"
    set_pin(engine, "key1", "m", "t", "1.0.0")
    assert _served(engine, scope="key1") == "1.0.0" and _served(engine, scope="other") == "1.1.0"
    set_alias(engine, "m", "t", "stable", "3.0.0")  # a draft is never served: fall through
    assert _served(engine) == "1.2.0"
    set_pin(engine, "key1", "m", "t", "4.0.0")  # nor is a yanked version
    assert _served(engine, scope="key1") == "1.2.0"


def _served(engine: Engine, scope: str | None = None) -> str | None:
    resolved = resolve_tool(engine, "m", "t", scope=scope)
    return resolved.version.semver if resolved else None


def test_pin_scopes_apply_most_specific_first(engine: Engine) -> None:
    """A key's pin wins over its toolset's, the toolset's over ``stable``; an unservable pin is skipped."""
    for semver, status in (("1.0.0", "active"), ("1.1.0", "active"), ("1.2.0", "active"), ("2.0.0", "yanked")):
        add_version(engine, "m", "t", semver=semver, status=status)
    set_alias(engine, "m", "t", "stable", "1.2.0")
    set_pin(engine, "mathset", "m", "t", "1.1.0")
    set_pin(engine, "key1", "m", "t", "1.0.0")

    def served(*scopes: str) -> str:
        [resolved] = served_tools(engine, scopes=scopes)
        single = resolve_tool(engine, "m", "t", scopes=scopes)
        assert single is not None and single.version.semver == resolved.version.semver
        return resolved.version.semver

    assert served() == "1.2.0"
    assert served("mathset") == "1.1.0"
    assert served("key1", "mathset") == "1.0.0"
    assert served("other", "mathset") == "1.1.0"
    assert served("mathset", "key1") == "1.1.0"  # the order given is the priority
    set_pin(engine, "key1", "m", "t", "2.0.0")  # a yanked pin falls through to the toolset's
    assert served("key1", "mathset") == "1.1.0"


def test_resolve_tool_none_and_not_found(engine: Engine) -> None:
    add_version(engine, "m", "draft_only", status="draft")
    assert resolve_tool(engine, "m", "draft_only") is None
    with pytest.raises(NotFound, match=r"no tool m\.missing; tools in 'm': draft_only"):
        resolve_tool(engine, "m", "missing")
    with pytest.raises(NotFound, match="namespace 'nope' has no tools"):
        resolve_tool(engine, "nope", "x")


def test_get_version_by_every_kind_of_ref(engine: Engine) -> None:
    v1 = add_version(engine, "math", "add", semver="1.0.0")
    v2 = add_version(engine, "math", "add", semver="1.1.0")
    add_version(engine, "math", "add", semver="2.0.0", status="draft")
    set_alias(engine, "math", "add", "candidate", "2.0.0")
    other = add_version(engine, "math", "mul")
    assert get_version(engine, "math", "add", "1.0.0").id == v1.id
    assert get_version(engine, "math", "add", v2.id).semver == "1.1.0"
    assert get_version(engine, "math", "add", "candidate").semver == "2.0.0"
    assert get_version(engine, "math", "add", "latest").id == v2.id
    detail = get_version(engine, "math", "add", "latest")
    assert detail.source.startswith("def add") and detail.input_schema["required"] == ["a", "b"]
    with pytest.raises(NotFound, match=r"math.add has no version 3.0.0; versions: 1.0.0, 1.1.0, 2.0.0 \(draft\)"):
        get_version(engine, "math", "add", "3.0.0")
    with pytest.raises(NotFound, match=r"aliases: candidate → 2\.0\.0"):
        get_version(engine, "math", "add", "beta")
    with pytest.raises(NotFound, match=r"belongs to math\.mul@1\.0\.0"):
        get_version(engine, "math", "add", other.id)


def test_latest_needs_a_served_version(engine: Engine) -> None:
    add_version(engine, "m", "t", status="draft")
    with pytest.raises(NotFound, match="serves no version"):
        get_version(engine, "m", "t", "latest")


def test_version_detail_includes_links_both_ways(engine: Engine) -> None:
    old = add_version(engine, "m", "old", status="deprecated")
    new = add_version(engine, "m", "new")
    add_link(engine, old, new, LinkKind.replaces, reason="faster")
    add_link(engine, new, new, LinkKind.equivalent, relation="duplicate")
    old_links = get_version(engine, "m", "old", "1.0.0").links
    assert [(x.kind, x.other, x.detail) for x in old_links] == [(LinkKind.replaces, "m.new@1.0.0",
                                                                 {"reason": "faster"})]
    new_links = get_version(engine, "m", "new", "1.0.0").links
    assert {(x.kind, x.other, x.detail.get("direction")) for x in new_links} == {
        (LinkKind.replaces, "m.old@1.0.0", "incoming"), (LinkKind.equivalent, "m.new@1.0.0", None)}


def test_tool_detail_and_versions_are_in_semver_order(engine: Engine) -> None:
    for semver in ("1.10.0", "1.2.0", "1.9.3"):
        add_version(engine, "m", "t", semver=semver)
    set_pin(engine, "toolset_a", "m", "t", "1.2.0")
    assert [v.semver for v in list_versions(engine, "m", "t")] == ["1.2.0", "1.9.3", "1.10.0"]
    detail = get_tool(engine, "m", "t")
    assert [v.semver for v in detail.versions] == ["1.2.0", "1.9.3", "1.10.0"]
    assert detail.pins == {"toolset_a": "1.2.0"} and detail.latest is not None and detail.latest.semver == "1.10.0"
    with pytest.raises(NotFound):
        get_tool(engine, "m", "nope")


def test_served_tools_marks_deprecation_and_replacement(engine: Engine) -> None:
    new = add_version(engine, "m", "new")
    add_version(engine, "m", "old", status="deprecated", replacement_id=new.id)
    add_version(engine, "m", "draft", status="draft")
    add_version(engine, "x", "other")
    served = served_tools(engine, namespaces=["m"])
    assert [(r.name, r.deprecated, r.replacement) for r in served] == [("new", False, None),
                                                                       ("old", True, "m.new@1.0.0")]
    assert [r.name for r in served_tools(engine)] == ["new", "old", "other"]
    assert served_tools(engine, namespaces=[]) == []


def test_served_tools_uses_bulk_queries_at_scale(engine: Engine) -> None:
    specs = [(f"ns{i % 4}", f"tool{i:04d}", semver, status) for i in range(1000)
             for semver, status in (("1.0.0", "active"), ("1.1.0", "active" if i % 3 else "draft"))]
    add_versions(engine, specs)
    set_alias(engine, "ns0", "tool0000", "stable", "1.0.0")
    set_pin(engine, "k", "ns1", "tool0001", "1.0.0")
    with count_statements(engine) as statements:
        served = served_tools(engine, scope="k")
    assert len(served) == 1000
    assert len(statements) <= 15, statements
    by_name = {r.name: r.version.semver for r in served}
    assert by_name["tool0000"] == "1.0.0" and by_name["tool0001"] == "1.0.0"  # alias, pin
    assert by_name["tool0002"] == "1.1.0" and by_name["tool0003"] == "1.0.0"  # highest active; draft skipped
    with count_statements(engine) as statements:
        page = list_tools(engine, limit=500)
    assert len(page.items) == 500 and len(statements) <= 6
