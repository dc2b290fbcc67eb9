"""``distillery corpus add|list`` through the console script's root app, on SQLite in the test's data directory."""

from __future__ import annotations

import json
from pathlib import Path

from tests.registry.test_registry_cli import as_json, run


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_corpus_add_then_list(tmp_path: Path) -> None:
    docs = _write(tmp_path / "docs.jsonl", [json.dumps({"id": "a", "title": "A", "text": "Alpha text."}),
                                             json.dumps({"text": "Beta text without an id."})])
    assert as_json(run("corpus", "add", str(docs))) == {"corpus": "default", "added": 2}
    assert as_json(run("corpus", "add", str(docs), "--corpus", "wiki")) == {"corpus": "wiki", "added": 2}
    assert as_json(run("corpus", "add", str(docs))) == {"corpus": "default", "added": 2}  # replaced, not doubled
    listing = as_json(run("corpus", "list"))
    assert [(c["corpus"], c["documents"]) for c in listing] == [("default", 2), ("wiki", 2)]


def test_corpus_add_bad_line_fails_with_its_number_and_adds_nothing(tmp_path: Path) -> None:
    docs = _write(tmp_path / "bad.jsonl", [json.dumps({"id": "a", "text": "fine"}), json.dumps({"id": "b"})])
    result = run("corpus", "add", str(docs), code=1)
    assert "line 2: 'text' must be a non-empty string" in result.stderr
    assert as_json(run("corpus", "list")) == []


def test_corpus_add_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    run("corpus", "add", str(tmp_path / "absent.jsonl"), code=2)
