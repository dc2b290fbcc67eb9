"""``distillery report health`` on SQLite in the test's data directory: JSON and the table."""

from __future__ import annotations

from registry.db import engine_from_settings
from registry.models import utcnow
from tests.registry.service.rows import add_version
from tests.registry.test_registry_cli import as_json, run
from tests.registry.usage_factory import record_usage
from toolbox.settings import Settings


def test_report_health_json_and_text() -> None:
    assert "No tools yet" in run("report", "health").stdout
    run("db", "upgrade")
    engine = engine_from_settings(Settings())
    try:
        old = add_version(engine, "math", "add", semver="1.0.0")
        new = add_version(engine, "math", "add", semver="1.1.0")
        record_usage(engine, old.id, day=utcnow(), latencies=[3.0] * 10)
        record_usage(engine, new.id, day=utcnow(), latencies=[40.0] * 10, errors=5, via_search=10)
    finally:
        engine.dispose()
    report = as_json(run("report", "health", "--json", "--days", "7"))
    assert report["days"] == 7 and report["totals"]["calls"] == 20 and report["totals"]["search_share"] == 0.5
    assert [(v["semver"], v["calls"], v["error_rate"], v["p50_ms"]) for v in report["versions"]] == [
        ("1.0.0", 10, 0.0, 3.0), ("1.1.0", 10, 0.5, 35.0)]
    assert [(f["kind"], f["semver"], f["suggestion"]["kind"]) for f in report["findings"]] == [
        ("error_rate_jump", "1.1.0", "roll_back"), ("superseded_still_called", "1.0.0", "deprecate_superseded")]
    text = run("report", "health", "--days", "7").stdout
    assert "20 calls, 25.0% errors" in text and "math.add@1.1.0" in text
    assert "distillery tools deprecate math.add 1.1.0 --replacement math.add@1.0.0" in text
    assert "Findings: 2" in text and "- [unused]" not in text
    assert "--days" in run("report", "health", "--days", "0", code=2).stderr
