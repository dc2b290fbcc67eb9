"""Registry benchmarks: search latency and index build by registry size, and publish throughput.

Run: ``.venv/bin/python benchmarks/registry.py [--sizes 1000,10000,100000] [--publish-sizes 10000,100000]``.
Prints one JSON object. Synthetic tools are inserted directly in bulk into a temporary SQLite
database (one transaction, one revision) with precomputed hashing embeddings; to keep the 100k
setup fast a vector is the normalised sum of the pre-embedded name words and description template
(the index reads them as stored vectors, exactly as publisher-written ones). Publishing uses
``registry.service.publishing.Publisher`` with ``sandbox=None`` (no test execution); its one-off
load of the stored embeddings (``Publisher.warm``) is reported as ``publisher_setup_s``, not in the rate.
Targets (not asserted): search p95 <= 20 ms at 100k tools; >= 200 publishes/s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:  # this file is named like the registry package
    sys.path.pop(0)
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from registry.db import create_schema, make_engine, write_transaction  # noqa: E402
from registry.models import Tool, ToolVersion, new_id  # noqa: E402
from registry.service.search import SearchIndex  # noqa: E402
from registry.service.vectors import embedding_text, encode_vector  # noqa: E402
from toolbox.embeddings import Embedder, HashingEmbedder  # noqa: E402

__all__ = ["bulk_insert", "synthetic_tools"]

VERBS = ["compute", "convert", "parse", "format", "validate", "estimate", "count", "sort", "merge", "filter",
         "normalize", "encode", "decode", "round", "scale", "summarize", "rank", "split", "join", "search"]
NOUNS = ["temperature", "distance", "date", "interval", "matrix", "vector", "polynomial", "fraction", "angle",
         "currency", "string", "word", "sentence", "prime", "factor", "average", "variance", "histogram",
         "coordinate", "polygon", "timestamp", "duration", "percentage", "ratio", "sequence", "graph", "path",
         "tree", "set", "interest"]
QUALIFIERS = ["weighted", "cumulative", "rolling", "integer", "decimal", "binary", "signed", "relative",
              "absolute", "geometric", "harmonic", "modular", "sorted", "unique", "nested", "sparse"]
TEMPLATES = [
    "{Verb} the {qual} {noun} of a list of values.",
    "{Verb} a {noun} given in one unit into another unit, handling {qual} inputs.",
    "Return the {qual} {noun} computed from the inputs, or None when undefined.",
    "{Verb} {noun} records and report the {qual} result.",
    "Helper that can {verb} a {qual} {noun} for Game-of-24 style arithmetic puzzles.",
    "{Verb} two {noun}s and return the {qual} difference between them.",
]
PARAMS = [("values", "the input numbers"), ("unit", "target unit"), ("precision", "decimal places"),
          ("text", "the input text"), ("start", "first date"), ("end", "last date"), ("k", "how many")]


def synthetic_tools(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` tool descriptions: name, description, input_schema, namespace (deterministic)."""
    rng = random.Random(seed)
    tools = []
    for i in range(count):
        verb, noun, qual = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(QUALIFIERS)
        template = rng.choice(TEMPLATES)
        description = template.format(Verb=verb.capitalize(), verb=verb, noun=noun, qual=qual)
        params = rng.sample(PARAMS, rng.randint(1, 3))
        schema = {"type": "object", "properties": {p: {"type": "number", "description": d} for p, d in params},
                  "required": [p for p, _ in params]}
        tools.append({"namespace": f"ns{i % 20}", "name": f"{verb}_{qual}_{noun}_{i}", "description": description,
                      "input_schema": schema})
    return tools


def _vectors(tools: list[dict[str, Any]], embedder: Embedder) -> np.ndarray:
    """Vectors composed from pre-embedded parts (fast); exact ``embed`` for small inputs."""
    if len(tools) <= 2000:
        return embedder.embed([embedding_text(t["name"], t["description"], t["input_schema"]) for t in tools])
    parts: dict[str, np.ndarray] = {}
    pieces = []
    for t in tools:
        stem = t["name"].rsplit("_", 1)[0]
        params = embedding_text("", "", t["input_schema"])
        pieces.append((stem, t["description"], params))
    distinct = sorted({p for triple in pieces for p in triple})
    for text, vector in zip(distinct, embedder.embed(distinct), strict=True):
        parts[text] = vector
    out = np.stack([parts[a] + parts[b] + 0.5 * parts[c] for a, b, c in pieces])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def bulk_insert(engine: Engine, tools: list[dict[str, Any]], embedder: Embedder, *, chunk: int = 5000) -> None:
    """Insert one active 1.0.0 version per tool, with stored embeddings, in one write transaction."""
    vectors = _vectors(tools, embedder)
    with write_transaction(engine) as (session, revision):
        connection = session.connection()
        for start in range(0, len(tools), chunk):
            tool_rows, version_rows = [], []
            for t, vector in zip(tools[start : start + chunk], vectors[start : start + chunk], strict=True):
                tool_id = new_id()
                tool_rows.append({"id": tool_id, "namespace": t["namespace"], "name": t["name"],
                                  "changed_revision": revision})
                version_rows.append({
                    "id": new_id(), "tool_id": tool_id, "semver": "1.0.0", "major": 1, "minor": 0, "patch": 0,
                    "content_hash": new_id() * 2, "ast_hash": new_id() * 2, "entrypoint": t["name"],
                    "description": t["description"], "source": f"def {t['name']}(values):\n    return values\n",
                    "input_schema": t["input_schema"], "output_schema": {"type": "number"}, "tests": [],
                    "tags": t.get("tags", []), "provenance": {}, "validation_report": {}, "changelog": "",
                    "flagged": False, "status": "active", "embedder": embedder.name,
                    "embedding": encode_vector(vector), "created_by": "benchmark", "changed_revision": revision,
                })
            connection.execute(insert(Tool), tool_rows)
            connection.execute(insert(ToolVersion), version_rows)


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


QUERIES = [
    "average of a list of numbers", "convert temperature units", "how many days between two dates",
    "sort words alphabetically", "parse a timestamp string", "normalize a vector", "prime factors of a number",
    "geometric mean of values", "rolling sum over a sequence", "percentage change between two values",
    "solve the game of 24", "distance between coordinates", "encode text in binary", "rank items by score",
    "merge two sorted sequences", "estimate compound interest", "area of a polygon", "split a sentence into words",
]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_search(size: int, embedder: Embedder, queries: int) -> dict[str, Any]:
    """Setup, index build, search latency and incremental refresh at ``size`` tools."""
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'bench.db'}")
        create_schema(engine)
        tools = synthetic_tools(size)
        start = time.perf_counter()
        bulk_insert(engine, tools, embedder)
        insert_s = time.perf_counter() - start
        gc.collect()
        rss_before = _rss_mb()
        index = SearchIndex(engine, embedder)
        start = time.perf_counter()
        index.refresh()
        build_s = time.perf_counter() - start
        gc.collect()
        memory_mb = _rss_mb() - rss_before
        latencies, filtered = [], []
        for i in range(queries):
            query = QUERIES[i % len(QUERIES)]
            start = time.perf_counter()
            index.search(query, k=10)
            latencies.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            index.search(query, k=10, namespaces=["ns1", "ns2"])
            filtered.append((time.perf_counter() - start) * 1000)
        bulk_insert(engine, synthetic_tools(10, seed=size + 1), embedder)
        start = time.perf_counter()
        index.refresh()
        incremental_ms = (time.perf_counter() - start) * 1000
        engine.dispose()
    return {
        "tools": size, "insert_s": round(insert_s, 2), "index_build_s": round(build_s, 3),
        "index_memory_mb": round(memory_mb, 1),
        "search_ms": {"p50": round(statistics.median(latencies), 3), "p95": round(_percentile(latencies, 95), 3),
                      "max": round(max(latencies), 3)},
        "search_filtered_ms": {"p50": round(statistics.median(filtered), 3),
                               "p95": round(_percentile(filtered, 95), 3)},
        "incremental_refresh_10_rows_ms": round(incremental_ms, 2),
        "full_loads": index.stats.full_loads, "incremental_loads": index.stats.incremental_loads,
    }


def bench_publish(size: int, embedder: Embedder, publishes: int) -> dict[str, Any]:
    """Publishes per second (no test execution) into a registry already holding ``size`` tools."""
    try:
        from registry.service.publishing import Publisher
    except ImportError as error:  # R1's module not there yet
        raise NotImplementedError(f"registry.service.publishing.Publisher is not available: {error}") from error
    from toolbox.analysis import build_spec
    from toolbox.settings import Settings

    settings = Settings()
    specs = []
    for i in range(publishes):
        verb, noun = VERBS[i % len(VERBS)], NOUNS[(i // len(VERBS)) % len(NOUNS)]
        name = f"{verb}_{noun}_p{i}"
        doc = f"{verb.capitalize()} the {noun} of x and y."
        source = f'def {name}(x: float, y: float) -> float:\n    """{doc}"""\n    return x * {i + 2} + y - {i}\n'
        specs.append(build_spec(source, entrypoint=name, name=name, namespace="bench",
                                tests=[{"args": {"x": 1.0, "y": 2.0}, "expected": 1.0 * (i + 2) + 2.0 - i}],
                                allowed_imports=settings.sandbox.allowed_imports))
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'bench.db'}")
        create_schema(engine)
        bulk_insert(engine, synthetic_tools(size), embedder)
        start = time.perf_counter()
        publisher = Publisher(engine, sandbox=None, embedder=embedder, settings=settings)
        publisher.warm()  # the one-off load of every stored embedding for the near-duplicate check
        setup_s = time.perf_counter() - start
        kinds: dict[str, int] = {}
        start = time.perf_counter()
        for spec in specs:
            outcome = publisher.publish(spec, activate=True)
            kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        elapsed = time.perf_counter() - start
        engine.dispose()
    return {"registry_tools": size, "publishes": publishes, "publishes_per_s": round(publishes / elapsed, 1),
            "publisher_setup_s": round(setup_s, 2), "outcomes": kinds}


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="registry sizes for search")
    parser.add_argument("--publish-sizes", default="10000,100000", help="registry sizes for publishing ('' skips)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--publishes", type=int, default=300)
    args = parser.parse_args()
    embedder = HashingEmbedder()
    result: dict[str, Any] = {"embedder": embedder.name, "cpu_count": os.cpu_count(), "search": [], "publish": []}
    for size in (int(s) for s in args.sizes.split(",") if s):
        result["search"].append(bench_search(size, embedder, args.queries))
    for size in (int(s) for s in args.publish_sizes.split(",") if s):
        try:
            result["publish"].append(bench_publish(size, embedder, args.publishes))
        except NotImplementedError as error:
            result["publish"].append({"registry_tools": size, "error": str(error)})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
