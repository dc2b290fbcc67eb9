"""``distillery export`` / ``import`` through the console script, on SQLite databases in the test's directory."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from registry.db import current_revision, make_engine
from tests.registry.test_registry_cli import as_json, run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tools"
SERVER_SCHEMA = Path(__file__).parent / "schemas" / "server.schema.json"  # source: schemas/SOURCE.md


def publish_examples() -> None:
    """Publish and activate ``examples/tools/*.py`` (with their ``.tests.json``) into namespace ``math``."""
    for module in sorted(EXAMPLES.glob("*.py")):
        outcome = as_json(run("tools", "publish", str(module), "--tests", str(module.with_suffix(".tests.json")),
                              "--namespace", "math", "--activate"))
        assert outcome["kind"] == "new_tool", outcome


def use_database(monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    """Point the CLI at the SQLite database ``path``; returns its URL."""
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DISTILLERY_DATABASE_URL", url)
    return url


def test_export_then_import_into_another_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_database(monkeypatch, tmp_path / "origin.db")
    publish_examples()
    exported = as_json(run("export", "-o", str(tmp_path / "box.distillery")))
    assert exported["counts"]["versions"] == 2 and exported["format_version"] == 1
    use_database(monkeypatch, tmp_path / "target.db")
    report = as_json(run("import", str(tmp_path / "box.distillery")))
    assert report["versions_added"] == ["math.add_numbers@1.0.0", "math.solve24@1.0.0"]
    assert report["payload_sha256"] == exported["payload_sha256"]
    assert {t["name"] for t in as_json(run("tools", "list"))["items"]} == {"add_numbers", "solve24"}
    again = as_json(run("import", str(tmp_path / "box.distillery")))
    assert again["versions_added"] == [] and len(again["versions_kept"]) == 2


def test_a_corrupt_bundle_is_one_red_line_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_database(monkeypatch, tmp_path / "origin.db")
    publish_examples()
    run("export", "-o", str(tmp_path / "box.distillery"))
    data = (tmp_path / "box.distillery").read_bytes()
    (tmp_path / "bad.distillery").write_bytes(data[: len(data) - 40])
    url = use_database(monkeypatch, tmp_path / "target.db")
    failed = run("import", str(tmp_path / "bad.distillery"), code=1)
    assert failed.stderr.startswith("error: ") and "Traceback" not in failed.stderr
    assert current_revision(make_engine(url)) == 0
    missing = run("import", str(tmp_path / "nope.distillery"), code=1)
    assert "cannot read bundle" in missing.stderr


def test_server_json_validates_against_the_mcp_registry_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_database(monkeypatch, tmp_path / "origin.db")
    publish_examples()
    bundle = tmp_path / "box.distillery"
    exported = as_json(run("export", "-o", str(bundle)))
    run("export", "--format", "server-json", "-o", str(tmp_path / "server.json"), "--bundle-file", str(bundle),
        "--server-name", "io.github.someone/math-box")
    document = json.loads((tmp_path / "server.json").read_text())
    schema = json.loads(SERVER_SCHEMA.read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(document)
    [package] = document["packages"]
    assert (package["registryType"], package["identifier"], package["transport"]) == ("pypi", "distillery",
                                                                                      {"type": "stdio"})
    assert [a.get("value") or a.get("name") for a in package["packageArguments"]] == ["mcp", "--bundle"]
    assert package["packageArguments"][1]["default"] == str(bundle)
    meta = document["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]
    assert meta["tools"] == ["math.add_numbers", "math.solve24"]
    assert meta["bundle_payload_sha256"] == exported["payload_sha256"]
    bad = run("export", "--format", "server-json", "-o", str(tmp_path / "x.json"), "--server-name", "no-slash",
              code=1)
    assert "reverse-DNS" in bad.stderr
    with pytest.raises(jsonschema.ValidationError):  # the vendored schema does reject what the registry rejects
        jsonschema.validate({**document, "name": "no-slash"}, schema)
