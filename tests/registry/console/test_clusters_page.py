"""/ui/clusters from real publishing (near duplicates found and told apart in the sandbox), and usage on /ui."""

from __future__ import annotations

from fastapi.testclient import TestClient

from registry.container import RegistryServices
from registry.models import utcnow
from registry.service.queries import get_version
from tests.registry.factories import make_spec
from tests.registry.usage_factory import record_usage
from tests.server.support import publish


def test_clusters_empty_state_then_a_near_duplicate_published(client: TestClient, services: RegistryServices) -> None:
    empty = client.get("/ui/clusters").text
    assert "No clusters: no two tools were found alike" in empty and "distillery teach" in empty
    publish(services, make_spec("add", namespace="math", doc="Add two integers."))
    outcome = publish(services, make_spec("add_numbers", namespace="math", doc="Add two integers.",
                                          body="return a + b + 1", tests=[({"a": 1, "b": 2}, 4)]))
    near = get_version(services.engine, "math", "add_numbers", "1.0.0").validation_report["near_duplicates"]
    assert outcome.kind == "new_tool" and [entry["tool"] for entry in near] == ["math.add"]
    page = client.get("/ui/clusters").text
    assert '<a href="/ui/tools/math/add">math.add</a>' in page and '<a href="/ui/tools/math/add_numbers">' in page
    assert "<code>math.add</code> — similar — <code>math.add_numbers</code>" in page
    assert "differential test: outputs differ" in page and "To merge them" in page


def test_the_tool_list_shows_calls_and_error_rate(client: TestClient, services: RegistryServices) -> None:
    publish(services, make_spec("add", namespace="math"))
    publish(services, make_spec("mul", namespace="math", body="return a * b", doc="Multiply two integers.",
                                tests=[({"a": 2, "b": 3}, 6)]))
    add = get_version(services.engine, "math", "add", "1.0.0")
    record_usage(services.engine, add.id, day=utcnow(), latencies=[2.0] * 8, errors=2)
    page = client.get("/ui").text
    assert "Calls (30 d)" in page
    rows = {name: page.split(f">math.{name}</a>", 1)[1].split("</tr>", 1)[0] for name in ("add", "mul")}
    assert '<td class="calls">8</td>' in rows["add"] and '<span class="problem">25.0%</span>' in rows["add"]
    assert '<td class="calls">0</td>' in rows["mul"] and '<span class="muted">—</span>' in rows["mul"]
    found = client.get("/ui", params={"q": "add two integers"}).text
    assert '<td class="calls">8</td>' in found
