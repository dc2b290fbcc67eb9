"""The health report: figures from recorded usage (percentiles from buckets), findings, and their suggestions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine

from registry.errors import InvalidRequest
from registry.models import ToolVersion
from registry.service.curation import Curator
from registry.service.health import health_report, usage_by_tool
from registry.service.health_actions import apply_suggestion
from registry.service.health_models import FindingKind, HealthReport, SuggestionKind
from registry.service.queries import get_tool, get_version
from tests.registry.service.rows import add_version, audit_entries, set_alias
from tests.registry.usage_factory import NOW, backdate_tool, days_ago, record_usage


@dataclass
class Box:
    add_1: ToolVersion
    add_2: ToolVersion
    mul_1: ToolVersion
    mul_2: ToolVersion
    old: ToolVersion


@pytest.fixture
def box(engine: Engine) -> Box:
    """math.add 1.0.0 (healthy) and 1.1.0 (fails half the time), math.mul 1.0.0 deprecated for 2.0.0,
    math.old unused for 40 days, math.fresh just published, other.secret outside a math key's view."""
    add_1 = add_version(engine, "math", "add", semver="1.0.0")
    add_2 = add_version(engine, "math", "add", semver="1.1.0")
    mul_2 = add_version(engine, "math", "mul", semver="2.0.0")
    mul_1 = add_version(engine, "math", "mul", semver="1.0.0", status="deprecated", replacement_id=mul_2.id)
    old = add_version(engine, "math", "old")
    add_version(engine, "math", "fresh")
    secret = add_version(engine, "other", "secret")
    for name in ("add", "mul", "old", "fresh"):
        backdate_tool(engine, "math", name, days_ago(90))
    backdate_tool(engine, "math", "fresh", NOW)
    record_usage(engine, add_1.id, day=days_ago(2), latencies=[3.0] * 10, errors=1, via_search=5)
    record_usage(engine, add_1.id, day=days_ago(1), latencies=[40.0] * 9 + [700.0])
    record_usage(engine, add_1.id, day=days_ago(45), latencies=[9000.0] * 5, errors=5)  # outside the window
    record_usage(engine, add_2.id, day=NOW, latencies=[7.0] * 20, errors=10, via_search=20)
    record_usage(engine, mul_1.id, day=days_ago(3), latencies=[1.0] * 3)
    record_usage(engine, mul_2.id, day=days_ago(3), latencies=[2.0] * 5)
    record_usage(engine, old.id, day=days_ago(40), latencies=[2.0])
    record_usage(engine, secret.id, day=NOW, latencies=[4.0] * 2, errors=2)
    return Box(add_1, add_2, mul_1, mul_2, old)


def _report(engine: Engine, **kwargs: object) -> HealthReport:
    return health_report(engine, days=30, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_figures_per_version_come_from_the_window_and_the_buckets(engine: Engine, box: Box) -> None:
    report = _report(engine)
    by = {item.qualified: item for item in report.versions}
    add_1 = by["math.add@1.0.0"]
    assert (add_1.calls, add_1.errors, add_1.search_calls) == (20, 1, 5)
    assert (add_1.error_rate, add_1.search_share) == (0.05, 0.25)
    assert (add_1.p50_ms, add_1.p95_ms, add_1.max_latency_ms) == (5.0, 50.0, 700.0)
    assert add_1.daily_calls[-3:] == [10, 10, 0] and sum(add_1.daily_calls) == 20 and len(add_1.daily_calls) == 30
    assert add_1.daily_errors[-3] == 1
    assert add_1.last_called_at == days_ago(1)
    add_2 = by["math.add@1.1.0"]
    assert (add_2.calls, add_2.error_rate, add_2.search_share, add_2.p50_ms, add_2.p95_ms) == (20, 0.5, 1.0, 7.0, 7.0)
    old = by["math.old@1.0.0"]
    assert (old.calls, old.p50_ms, old.error_rate, old.last_called_at) == (0, None, None, days_ago(40))
    assert [item.qualified for item in report.versions][:2] == ["math.add@1.0.0", "math.add@1.1.0"]
    totals = report.totals
    figures = (totals.calls, totals.errors, totals.search_calls, totals.versions_called, totals.tools)
    assert figures == (50, 13, 25, 5, 5)
    assert report.window[0] == "2026-03-02" and report.window[-1] == "2026-03-31"


def test_findings_error_rate_jump_superseded_and_unused(engine: Engine, box: Box) -> None:
    found = [(f.kind, f"{f.namespace}.{f.name}@{f.semver}", f.suggestion.kind if f.suggestion else None,
              f.suggestion.replacement if f.suggestion else None) for f in _report(engine).findings]
    assert found == [
        (FindingKind.error_rate_jump, "math.add@1.1.0", SuggestionKind.roll_back, "math.add@1.0.0"),
        (FindingKind.superseded_still_called, "math.add@1.0.0", SuggestionKind.deprecate_superseded,
         "math.add@1.1.0"),
        (FindingKind.superseded_still_called, "math.mul@1.0.0", None, None),
        (FindingKind.unused, "math.old@1.0.0", SuggestionKind.deprecate_unused, None),
    ]
    jump = _report(engine).findings[0]
    assert "from 5.0% on 1.0.0 (20 calls) to 50.0% on 1.1.0 (20 calls)" in jump.message
    assert "deprecated in favour of math.mul@2.0.0" in _report(engine).findings[2].message


def test_thresholds_and_the_window_decide_what_is_found(engine: Engine, box: Box) -> None:
    from registry.service.health_models import HealthThresholds

    strict = _report(engine, thresholds=HealthThresholds(min_calls=21))
    assert FindingKind.error_rate_jump not in {f.kind for f in strict.findings}
    wide = health_report(engine, days=60, now=NOW)
    assert {f.kind for f in wide.findings} == {FindingKind.superseded_still_called, FindingKind.error_rate_jump}
    assert next(v for v in wide.versions if v.qualified == "math.add@1.0.0").error_rate == 6 / 25
    with pytest.raises(InvalidRequest, match="days must be from 1 to 366, got 0"):
        health_report(engine, days=0, now=NOW)


def test_a_key_limited_to_a_namespace_sees_only_its_tools(engine: Engine, box: Box) -> None:
    everything = _report(engine)
    assert "other.secret@1.0.0" in {v.qualified for v in everything.versions} and everything.totals.calls == 50
    mine = _report(engine, visible_namespaces=["other"])
    assert [v.qualified for v in mine.versions] == ["other.secret@1.0.0"] and mine.totals.error_rate == 1.0
    assert usage_by_tool(engine, [("math", "add"), ("math", "fresh")], days=30, now=NOW) == {
        ("math", "add"): (40, 11 / 40), ("math", "fresh"): (0, None)}


def test_roll_back_restores_moves_aliases_and_deprecates_each_step_audited(engine: Engine, box: Box) -> None:
    curator = Curator(engine)
    curator.deprecate("math", "add", "1.0.0", actor="t")
    set_alias(engine, "math", "add", "stable", "1.1.0")
    steps = apply_suggestion(curator, SuggestionKind.roll_back, "math", "add", "1.1.0", replacement="math.add@1.0.0",
                             actor="curator#1", reason="health report: errors")
    assert [(s.action, s.target) for s in steps] == [("restore", "math.add@1.0.0"), ("alias stable", "math.add@1.0.0"),
                                                     ("deprecate", "math.add@1.1.0")]
    tool = get_tool(engine, "math", "add")
    assert tool.latest is not None and tool.latest.semver == "1.0.0" and tool.aliases == {"stable": "1.0.0"}
    newer = get_version(engine, "math", "add", "1.1.0")
    assert newer.status.value == "deprecated" and newer.replacement_id == box.add_1.id
    entries = audit_entries(engine, ["restore", "alias.set", "deprecate"])[1:]
    assert [(e.action, e.actor, e.detail["reason"]) for e in entries] == [
        ("restore", "curator#1", "health report: errors"), ("alias.set", "curator#1", "health report: errors"),
        ("deprecate", "curator#1", "health report: errors")]


def test_deprecations_and_bad_suggestions(engine: Engine, box: Box) -> None:
    curator = Curator(engine)
    apply_suggestion(curator, SuggestionKind.deprecate_unused, "math", "old", "1.0.0", replacement=None,
                     actor="c", reason="unused")
    apply_suggestion(curator, SuggestionKind.deprecate_superseded, "math", "add", "1.0.0",
                     replacement="math.add@1.1.0", actor="c", reason="superseded")
    assert get_version(engine, "math", "old", "1.0.0").status.value == "deprecated"
    assert get_version(engine, "math", "add", "1.0.0").replacement_id == box.add_2.id
    with pytest.raises(InvalidRequest, match="needs the replacement"):
        apply_suggestion(curator, SuggestionKind.roll_back, "math", "add", "1.1.0", replacement=None, actor="c",
                         reason="")
    with pytest.raises(InvalidRequest, match=r"another version of math\.add, not to math\.mul@1\.0\.0"):
        apply_suggestion(curator, SuggestionKind.roll_back, "math", "add", "1.1.0", replacement="math.mul@1.0.0",
                         actor="c", reason="")
    after = [(f.kind, f"{f.name}@{f.semver}", f.suggestion is None) for f in _report(engine).findings]
    assert after == [(FindingKind.error_rate_jump, "add@1.1.0", False),
                     (FindingKind.superseded_still_called, "add@1.0.0", True),
                     (FindingKind.superseded_still_called, "mul@1.0.0", True)]
